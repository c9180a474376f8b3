package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/pcx/publicservice/pcx"
)

// --json: every command that reads and prints (output printsRead in the command table) takes it
// and then prints one JSON document on stdout and nothing else: a list command a JSON array of
// the items it would show as rows (at most --limit, [] for none; pcxctl pages by itself, so there
// is no cursor to hand back), a show command or a check one object. Errors stay on stderr with
// the same exit codes; a check that finds problems prints its document and exits 4.
//
// The documents are built from the view structs below, never by marshalling the store's or the
// services' types: what a script sees is chosen here, named as the public API names it
// (snake_case, the same timestamps), and holds no secret — no key, key hash, pepper or signing
// secret has a field to land in.

// jsonFlag declares --json on a read command's flags.
func jsonFlag(fs fsFlags) *bool {
	return fs.Bool("json", false, "print one JSON document on stdout instead of text (a list: a JSON array)")
}

// writeJSON prints v as the one JSON document of a command's output.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // URLs with & and < stay as they are
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// collect pages through a store listing as listAll does and returns each item's view; never nil,
// so an empty list is [] and not null.
func collect[T, V any](limit int, page func(n int, after string) ([]T, string, error), view func(T) V) ([]V, error) {
	out := []V{}
	err := listAll(limit, page, func(it T) { out = append(out, view(it)) })
	return out, err
}

// printList prints a list command's items: with --json one array of their views, otherwise a
// table of header and one row per item. Either is written only once every page is read.
func printList[T, V any](c *cli, asJSON bool, limit int, page func(n int, after string) ([]T, string, error),
	view func(T) V, header string, row func(w io.Writer, it T)) error {
	if asJSON {
		items, err := collect(limit, page, view)
		if err != nil {
			return err
		}
		return writeJSON(c.stdout, items)
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, header)
	if err := listAll(limit, page, func(it T) { row(w, it) }); err != nil {
		return err
	}
	return w.Flush()
}

// stamp is a time as the API writes it: UTC, RFC 3339 with milliseconds.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// stampOrNull is stamp for a time that may be absent (null).
func stampOrNull(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := stamp(*t)
	return &s
}

// orNull is s, or null when empty, as the API shows absent strings and status codes.
func orNull[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}

// keyView is an API key's metadata (GET /public/api-keys): never the key, never its hash or
// pepper version.
type keyView struct {
	APIKeyID   string   `json:"api_key_id"`
	Prefix     string   `json:"prefix"`
	Name       string   `json:"name"`
	OrgID      string   `json:"org_id"`
	UserID     string   `json:"user_id"`
	Status     string   `json:"status"`
	Scopes     []string `json:"scopes"`
	CreatedBy  *string  `json:"created_by"`
	CreatedAt  string   `json:"created_at"`
	ExpiresAt  *string  `json:"expires_at"`
	LastUsedAt *string  `json:"last_used_at"`
	RevokedAt  *string  `json:"revoked_at"`
}

func newKeyView(k *pcx.APIKey) keyView {
	return keyView{
		APIKeyID: k.ID, Prefix: k.Prefix, Name: k.Name, OrgID: k.OrgID, UserID: k.UserID, Status: string(k.Status),
		Scopes: pcx.ScopeNames(k.Scopes), CreatedBy: orNull(k.CreatedBy), CreatedAt: stamp(k.CreatedAt),
		ExpiresAt: stampOrNull(k.ExpiresAt), LastUsedAt: stampOrNull(k.LastUsedAt), RevokedAt: stampOrNull(k.RevokedAt),
	}
}

// endpointView is a webhook endpoint (GET /public/webhooks/{id}): never its signing secrets.
type endpointView struct {
	WebhookID      string     `json:"webhook_id"`
	OrgID          string     `json:"org_id"`
	EndpointURL    string     `json:"endpoint_url"`
	Description    string     `json:"description"`
	Status         string     `json:"status"`
	DisabledReason *string    `json:"disabled_reason"` // null while active
	DisabledAt     *string    `json:"disabled_at"`
	EventTypes     []string   `json:"event_types"` // [] for every type but the reserved ones
	PayloadFormat  string     `json:"payload_format"`
	Health         healthView `json:"health"`
	CreatedAt      string     `json:"created_at"`
	UpdatedAt      string     `json:"updated_at"`
}

// healthView is an endpoint's health (contract §10) and, as the table shows, since when it fails.
type healthView struct {
	State               string  `json:"state"` // "healthy" | "failing"
	ConsecutiveFailures int     `json:"consecutive_failures"`
	LastSuccessAt       *string `json:"last_success_at"`
	LastFailureAt       *string `json:"last_failure_at"`
	FailingSince        *string `json:"failing_since"`
}

func newEndpointView(w *pcx.Webhook) endpointView {
	h := w.Health
	v := endpointView{
		WebhookID: w.ID, OrgID: w.OrgID, EndpointURL: w.URL, Description: w.Description, Status: string(w.Status),
		EventTypes: append([]string{}, w.EventTypes...), PayloadFormat: string(w.PayloadFormat),
		Health: healthView{State: "healthy", ConsecutiveFailures: h.ConsecutiveFailures, LastSuccessAt: stampOrNull(h.LastSuccessAt),
			LastFailureAt: stampOrNull(h.LastFailureAt), FailingSince: stampOrNull(h.FailingSince)},
		CreatedAt: stamp(w.CreatedAt), UpdatedAt: stamp(w.UpdatedAt),
	}
	if h.Failing() {
		v.Health.State = "failing"
	}
	if v.PayloadFormat == "" {
		v.PayloadFormat = string(pcx.PayloadRaw)
	}
	if w.Status == pcx.WebhookDisabled {
		v.DisabledReason, v.DisabledAt = orNull(pcx.DisabledReasonName(w.DisabledReason)), stampOrNull(w.DisabledAt)
	}
	return v
}

// auditView is an audit record (GET /public/audit-events); its actor has the fields of exactly
// one of its forms: the key's, the operator's or the service's.
type auditView struct {
	AuditID  string  `json:"audit_id"`
	OrgID    string  `json:"org_id"`
	Action   string  `json:"action"`
	TargetID *string `json:"target_id"`
	Actor    struct {
		APIKeyID string `json:"api_key_id,omitempty"`
		Prefix   string `json:"prefix,omitempty"`
		UserID   string `json:"user_id,omitempty"`
		Operator string `json:"operator,omitempty"`
		Service  string `json:"service,omitempty"`
	} `json:"actor"`
	At        string  `json:"at"`
	RequestID *string `json:"request_id"`
	ClientIP  *string `json:"client_ip"`
}

func newAuditView(r *pcx.AuditRecord) auditView {
	v := auditView{AuditID: r.ID, OrgID: r.OrgID, Action: r.Action, TargetID: orNull(r.TargetID), At: stamp(r.At),
		RequestID: orNull(r.RequestID), ClientIP: orNull(r.ClientIP)}
	v.Actor.APIKeyID, v.Actor.Prefix, v.Actor.UserID = r.Actor.APIKeyID, r.Actor.Prefix, r.Actor.UserID
	v.Actor.Operator, v.Actor.Service = r.Actor.Operator, r.Actor.Service
	return v
}

// eventView is an event as the event list shows it (GET /public/webhooks/events).
type eventView struct {
	EventID       string `json:"event_id"`
	EventType     string `json:"event_type"`
	WorkflowID    string `json:"workflow_id"`
	CreatedAt     string `json:"created_at"`
	EndpointCount int    `json:"endpoint_count"`
}

func newEventView(ev *pcx.Event) eventView {
	return eventView{EventID: ev.ID, EventType: ev.EventType(), WorkflowID: ev.WorkflowID, CreatedAt: stamp(ev.CreatedAt), EndpointCount: ev.EndpointCount}
}

// eventDetailView is what events show prints: the event (its payload's size, as the table says,
// not the payload) and the state of each of its deliveries.
type eventDetailView struct {
	EventID      string         `json:"event_id"`
	OrgID        string         `json:"org_id"`
	EventType    string         `json:"event_type"`
	Source       string         `json:"source"`
	WorkflowID   string         `json:"workflow_id"`
	CreatedAt    string         `json:"created_at"`
	PayloadBytes int            `json:"payload_bytes"`
	Deliveries   []deliveryView `json:"deliveries"`
}

// deliveryState is where a delivery stands, in the event's view and the endpoint's list alike.
type deliveryState struct {
	Status         string  `json:"status"`
	Attempts       int     `json:"attempts"`
	LastStatusCode *int    `json:"last_status_code"`
	LastError      *string `json:"last_error"`
	LastAttemptAt  *string `json:"last_attempt_at"`
	DeliveredAt    *string `json:"delivered_at"`
}

func newDeliveryState(d *pcx.Delivery) deliveryState {
	return deliveryState{Status: string(d.Status), Attempts: d.Attempts, LastStatusCode: orNull(d.LastStatusCode), LastError: orNull(d.LastError),
		LastAttemptAt: stampOrNull(d.LastAttemptAt), DeliveredAt: stampOrNull(d.DeliveredAt)}
}

// deliveryView is one endpoint's delivery of an event (GET /public/webhooks/events/{id}).
type deliveryView struct {
	WebhookID   string `json:"webhook_id"`
	EndpointURL string `json:"endpoint_url"`
	deliveryState
}

func newDeliveryView(d *pcx.Delivery) deliveryView {
	return deliveryView{WebhookID: d.WebhookID, EndpointURL: d.EndpointURL, deliveryState: newDeliveryState(d)}
}

// endpointDeliveryView is one event's delivery to an endpoint (GET /public/webhooks/{id}/deliveries).
type endpointDeliveryView struct {
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	deliveryState
	CreatedAt string `json:"created_at"` // the event's
}

func newEndpointDeliveryView(d *pcx.Delivery) endpointDeliveryView {
	return endpointDeliveryView{EventID: d.EventID, EventType: d.EventType, deliveryState: newDeliveryState(d), CreatedAt: stamp(d.EventCreatedAt)}
}

// versionView is what version prints; version and go_version as pcx_build_info labels them.
type versionView struct {
	Version   string `json:"version"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

// pepperVersionsView is what keys pepper-versions finds: how many keys each pepper version
// hashes (counts only: it reads no hash), and how many are left under the versions to retire.
type pepperVersionsView struct {
	Versions []pepperVersionView `json:"versions"`
	Retiring []int               `json:"retiring"`
	// LeftToRetire counts the keys under a version to retire: 0 means those versions may go.
	LeftToRetire int `json:"left_to_retire"`
}

type pepperVersionView struct {
	PepperVersion int  `json:"pepper_version"`
	Keys          int  `json:"keys"`
	Newest        bool `json:"newest"`
	Configured    bool `json:"configured"` // in APIKEY_PEPPERS: false means these keys do not authenticate
	Retiring      bool `json:"retiring"`
}

// checkSecretsView is what webhooks check-secrets finds: the endpoints with a secret under a
// missing key version (their versions, never their secrets) and the secrets per version.
type checkSecretsView struct {
	Endpoints         []sealedEndpointView `json:"endpoints"`
	SecretsPerVersion []keyVersionCount    `json:"secrets_per_key_version"`
	Scanned           int                  `json:"scanned"`
	Found             int                  `json:"found"`
}

type sealedEndpointView struct {
	OrgID           string `json:"org_id"`
	WebhookID       string `json:"webhook_id"`
	Status          string `json:"status"`
	KeyVersions     []int  `json:"key_versions"`
	MissingVersions []int  `json:"missing_key_versions"`
}

type keyVersionCount struct {
	KeyVersion int `json:"key_version"`
	Secrets    int `json:"secrets"`
}
