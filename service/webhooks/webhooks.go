// Package webhooks is the webhook use cases the HTTP API (public and internal) calls: registering,
// reading, listing and changing endpoints, rotating their secrets, accepting events (notify and
// transaction updates alike), reporting their deliveries and replaying them. An event is accepted only once its workflow has durably
// started: from then on Temporal owns its delivery.
package webhooks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/internal/ratelimit"
	"github.com/pcx/publicservice/internal/signing"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
	"github.com/pcx/publicservice/workflows"
)

// Store is what the use cases need from storage.
type Store interface {
	CreateWebhook(ctx context.Context, w *pcx.Webhook, maxPerOrg int, rec *pcx.AuditRecord) error
	Webhook(ctx context.Context, org, id string) (*pcx.Webhook, error)
	ListWebhooks(ctx context.Context, org string, limit int, after string) ([]*pcx.Webhook, string, error)
	UpdateWebhook(ctx context.Context, org, id string, p store.WebhookPatch, rec *pcx.AuditRecord) (*pcx.Webhook, error)
	RotateWebhookSecret(ctx context.Context, org, id string, key []byte, grace time.Duration, rec *pcx.AuditRecord) (*pcx.Webhook, error)
	ActiveSubscriptions(ctx context.Context, org string) ([][]string, error)
	DeleteWebhook(ctx context.Context, org, id string, rec *pcx.AuditRecord) error
	CreateEvent(ctx context.Context, ev *pcx.Event, retention time.Duration, rec *pcx.AuditRecord) error
	EventOf(ctx context.Context, org, id string) (*pcx.Event, error)
	EventWithPayloadOf(ctx context.Context, org, id string) (*pcx.Event, error)
	ListEvents(ctx context.Context, org string, f store.EventFilter, limit int, after string) ([]*pcx.Event, string, error)
	ListDeliveries(ctx context.Context, eventID string, limit int, after string) ([]*pcx.Delivery, string, error)
	ListEndpointDeliveries(ctx context.Context, webhookID string, f store.DeliveryFilter, limit int, after string) ([]*pcx.Delivery, string, error)
	ClaimIdempotency(ctx context.Context, rec *pcx.Idempotency, ttl time.Duration) (*pcx.Idempotency, error)
	CompleteIdempotency(ctx context.Context, rec *pcx.Idempotency) error
	ClaimReplay(ctx context.Context, c pcx.ReplayClaim, over string, expires time.Time, rec *pcx.AuditRecord) (*pcx.ReplayClaim, error)
	ReleaseReplay(ctx context.Context, eventID, workflowID string) error
}

// RecoveryStore is what recoveries need from storage (store/recoveries.go).
type RecoveryStore interface {
	ClaimRecovery(ctx context.Context, webhookID, workflowID string, claimedAt time.Time, over string, expires time.Time) (holder string, holderAt time.Time, held bool, err error)
	ReleaseRecovery(ctx context.Context, webhookID, workflowID string) error
	CreateRecovery(ctx context.Context, r *pcx.Recovery, expires time.Time, rec *pcx.AuditRecord) error
	RecoveryOf(ctx context.Context, org, webhookID, id string) (*pcx.Recovery, error)
}

// Starter starts an event's workflow, or finds the one already started with that ID, and
// returns its run ID. It returns only once Temporal has durably recorded the start. Running
// reports, from Temporal's own record and not an eventually consistent list, whether a workflow
// runs and whether it exists at all.
type Starter interface {
	Start(ctx context.Context, workflowID string, in workflows.EventInput) (runID string, err error)
	Running(ctx context.Context, workflowID string) (running, exists bool, err error)
	StartRecovery(ctx context.Context, workflowID string, in workflows.RecoveryInput) (runID string, err error)
}

// URLChecker applies the endpoint URL rules (internal/netguard).
type URLChecker interface {
	ValidateURL(ctx context.Context, raw string) (*url.URL, error)
}

// Service holds the webhook use cases.
type Service struct {
	Store        Store
	Recoveries   RecoveryStore // nil: no recoveries (Recover is unavailable)
	Starter      Starter
	URLs         URLChecker
	Log          zerolog.Logger
	MaxEndpoints int           // per organisation (WEBHOOK_MAX_ENDPOINTS_PER_ORG)
	SecretGrace  time.Duration // default rotation grace (WEBHOOK_SECRET_GRACE)
	Retention    time.Duration // how long events are kept (EVENT_RETENTION)
	// AuditRetention is how long the audit records of changes are kept (AUDIT_RETENTION).
	AuditRetention time.Duration
	Now            func() time.Time
	// NotifyLimit is each organisation's budget of notifies and transaction updates
	// (ORG_NOTIFY_PER_SECOND); ReplayLimit its budget of replays (ORG_REPLAYS_PER_HOUR). Both
	// are this process's: nil limits nothing.
	NotifyLimit *ratelimit.Buckets
	ReplayLimit *ratelimit.Buckets

	counts countCache
}

// countTTL is how old the endpoint_count of a 202 may be. Counting an organisation's subscribed
// endpoints reads every active one; one read per organisation per second serves any rate of
// notifies, of any types. This instance's own endpoint changes reset it at once.
const countTTL = time.Second

type countCache struct {
	mu sync.Mutex
	m  map[string]countEntry
}

type countEntry struct {
	subs    [][]string // each active endpoint's event_types
	expires time.Time
}

func (c *countCache) get(org string, now time.Time) ([][]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[org]
	return e.subs, ok && now.Before(e.expires)
}

func (c *countCache) set(org string, subs [][]string, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= 100_000 {
		c.m = map[string]countEntry{}
	}
	c.m[org] = countEntry{subs: subs, expires: expires}
}

func (c *countCache) forget(org string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, org)
}

// subscribedCount returns how many of org's active endpoints are subscribed to eventType, from
// subscriptions at most countTTL old.
func (s *Service) subscribedCount(ctx context.Context, org, eventType string) (int, error) {
	now := s.now()
	subs, ok := s.counts.get(org, now)
	if !ok {
		var err error
		if subs, err = s.Store.ActiveSubscriptions(ctx, org); err != nil {
			return 0, err
		}
		s.counts.set(org, subs, now.Add(countTTL))
	}
	m := pcx.NewTypeMatcher(eventType)
	n := 0
	for _, p := range subs {
		if m.Subscribed(p) {
			n++
		}
	}
	return n, nil
}

// Limits on inputs.
const (
	MaxDescription      = 500
	MaxPayloadBytes     = 256 << 10
	MaxIdempotencyKey   = 255
	MaxReplayWebhookIDs = 100
	MaxGrace            = 7 * 24 * time.Hour
	IdempotencyTTL      = 24 * time.Hour
)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// checkURL applies the URL rules and returns the URL as given (the receiver sees exactly what the
// owner registered) or a validation error naming the rule.
func (s *Service) checkURL(ctx context.Context, raw string) error {
	if _, err := s.URLs.ValidateURL(ctx, raw); err != nil {
		if pcx.ErrorCode(err) == pcx.EUnavailable || ctx.Err() != nil {
			return pcx.Wrap(pcx.EUnavailable, err, "Could not check endpoint_url now; retry later")
		}
		return pcx.Invalid("Invalid endpoint_url", map[string]string{"endpoint_url": err.Error()})
	}
	return nil
}

// CheckDescription returns a problem with a description, or "".
func CheckDescription(d string) string {
	switch {
	case utf8.RuneCountInString(d) > MaxDescription:
		return "must be at most 500 characters"
	case strings.IndexFunc(d, func(r rune) bool { return unicode.IsControl(r) && r != '\n' && r != '\t' }) >= 0:
		return "must not contain control characters"
	}
	return ""
}

// NewEndpoint is an endpoint to register.
type NewEndpoint struct {
	URL         string
	Description string
	// EventTypes subscribes it to these types and prefix wildcards; empty: every non-reserved
	// type.
	EventTypes []string
	// PayloadFormat is the body it receives; "" is raw.
	PayloadFormat string
}

// checkSubscription validates event_types and payload_format into problems.
func checkSubscription(types *[]string, format *string, problems map[string]string) {
	if types != nil {
		if msg := pcx.CheckSubscription(*types); msg != "" {
			problems["event_types"] = msg
		}
	}
	if format != nil {
		if msg := pcx.CheckPayloadFormat(*format); msg != "" {
			problems["payload_format"] = msg
		}
	}
}

// CreateEndpoint registers an HTTPS endpoint for org. The returned endpoint carries its new
// signing secret: the only time it is shown.
func (s *Service) CreateEndpoint(ctx context.Context, org string, in NewEndpoint) (*pcx.Webhook, error) {
	problems := map[string]string{}
	if msg := CheckDescription(in.Description); msg != "" {
		problems["description"] = msg
	}
	if in.PayloadFormat == "" {
		in.PayloadFormat = string(pcx.PayloadRaw)
	}
	checkSubscription(&in.EventTypes, &in.PayloadFormat, problems)
	if len(problems) > 0 {
		return nil, pcx.Invalid("Invalid request body", problems)
	}
	if err := s.checkURL(ctx, in.URL); err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Millisecond)
	w := &pcx.Webhook{
		ID: pcx.NewID("wh", now), OrgID: org, URL: in.URL, Description: in.Description,
		Status: pcx.WebhookActive, CreatedAt: now, UpdatedAt: now,
		EventTypes: in.EventTypes, PayloadFormat: pcx.PayloadFormat(in.PayloadFormat),
		Secrets: []pcx.WebhookSecret{{Key: signing.NewSecret()}},
	}
	rec, err := s.record(ctx, org, pcx.AuditWebhookCreated, w.ID)
	if err != nil {
		return nil, err
	}
	if err := s.Store.CreateWebhook(ctx, w, s.MaxEndpoints, rec); err != nil {
		return nil, err
	}
	s.counts.forget(org)
	return w, nil
}

// Endpoint returns org's endpoint.
func (s *Service) Endpoint(ctx context.Context, org, id string) (*pcx.Webhook, error) {
	return s.Store.Webhook(ctx, org, id)
}

// ListEndpoints returns up to limit of org's endpoints after the store's position after; next is
// the position after this page, "" on the last.
func (s *Service) ListEndpoints(ctx context.Context, org string, limit int, after string) (hooks []*pcx.Webhook, next string, err error) {
	return s.Store.ListWebhooks(ctx, org, limit, after)
}

// DeleteEndpoint removes org's endpoint; no new deliveries go to it.
func (s *Service) DeleteEndpoint(ctx context.Context, org, id string) error {
	rec, err := s.record(ctx, org, pcx.AuditWebhookDeleted, id)
	if err != nil {
		return err
	}
	defer s.counts.forget(org)
	return s.Store.DeleteWebhook(ctx, org, id, rec)
}

// record returns the audit record of org's action on target, made now by ctx's actor.
func (s *Service) record(ctx context.Context, org, action, target string) (*pcx.AuditRecord, error) {
	return pcx.NewAuditRecord(ctx, org, action, target, s.now(), s.AuditRetention)
}

// Patch is a change to an endpoint; nil fields stay.
type Patch struct {
	URL         *string
	Description *string
	Status      *pcx.WebhookStatus
	// EventTypes replaces the subscription; an empty list subscribes to every non-reserved type.
	EventTypes    *[]string
	PayloadFormat *string
}

// UpdateEndpoint changes org's endpoint: re-enable or disable it, change its description or URL
// (checked like a new one).
func (s *Service) UpdateEndpoint(ctx context.Context, org, id string, p Patch) (*pcx.Webhook, error) {
	problems := map[string]string{}
	if p.Description != nil {
		if msg := CheckDescription(*p.Description); msg != "" {
			problems["description"] = msg
		}
	}
	if p.Status != nil && *p.Status != pcx.WebhookActive && *p.Status != pcx.WebhookDisabled {
		problems["status"] = `must be "active" or "disabled"`
	}
	checkSubscription(p.EventTypes, p.PayloadFormat, problems)
	if len(problems) > 0 {
		return nil, pcx.Invalid("Invalid request body", problems)
	}
	if p.URL == nil && p.Description == nil && p.Status == nil && p.EventTypes == nil && p.PayloadFormat == nil {
		return nil, pcx.Invalid("Invalid request body", map[string]string{"status": "give at least one of status, description, endpoint_url, event_types, payload_format"})
	}
	if p.URL != nil {
		if err := s.checkURL(ctx, *p.URL); err != nil {
			return nil, err
		}
	}
	patch := store.WebhookPatch{URL: p.URL, Description: p.Description, EventTypes: p.EventTypes}
	if p.PayloadFormat != nil {
		f := pcx.PayloadFormat(*p.PayloadFormat)
		patch.PayloadFormat = &f
	}
	action := pcx.AuditWebhookUpdated
	if p.Status != nil {
		patch = patch.WithStatus(*p.Status, pcx.DisabledByOwner)
		action = pcx.AuditWebhookEnabled
		if *p.Status == pcx.WebhookDisabled {
			action = pcx.AuditWebhookDisabled
		}
	}
	rec, err := s.record(ctx, org, action, id)
	if err != nil {
		return nil, err
	}
	defer s.counts.forget(org)
	return s.Store.UpdateWebhook(ctx, org, id, patch, rec)
}

// RotateSecret gives org's endpoint a new signing secret; the old one keeps signing for grace
// (nil: the configured default; 0: stop at once, e.g. after a leak).
func (s *Service) RotateSecret(ctx context.Context, org, id string, grace *time.Duration) (*pcx.Webhook, error) {
	g := s.SecretGrace
	if grace != nil {
		if *grace < 0 || *grace > MaxGrace {
			return nil, pcx.Invalid("Invalid request body", map[string]string{"grace_period_seconds": "must be from 0 to 604800 (7 days)"})
		}
		g = *grace
	}
	rec, err := s.record(ctx, org, pcx.AuditWebhookRotated, id)
	if err != nil {
		return nil, err
	}
	return s.Store.RotateWebhookSecret(ctx, org, id, signing.NewSecret(), g, rec)
}

// NotifyInput is one event to deliver.
type NotifyInput struct {
	OrgID          string
	Payload        []byte // transaction_data exactly as received
	Source         string // "notify" or "transaction-update"
	EventType      string // optional: pcx.DefaultEventType
	IdempotencyKey string // optional
	// webhookIDs sends the event to these endpoints only (a test send); set only here.
	webhookIDs []string
	// audit is the record written with the event (a test send's); set only here.
	audit *pcx.AuditRecord
}

// Accepted is the 202 reply to an accepted event.
type Accepted struct {
	EventID       string
	WorkflowID    string
	RunID         string
	EndpointCount int
}

// CheckPayload validates transaction_data: present, a JSON object, at most 256 KiB.
func CheckPayload(p []byte) error {
	p = bytes.TrimSpace(p)
	switch {
	case len(p) == 0:
		return pcx.Invalid("Invalid request body", map[string]string{"transaction_data": "is required"})
	case p[0] != '{':
		return pcx.Invalid("Invalid request body", map[string]string{"transaction_data": "must be a JSON object"})
	case len(p) > MaxPayloadBytes:
		return pcx.Errorf(pcx.ETooLarge, "transaction_data must be at most 256 KiB")
	}
	return nil
}

// CheckIdempotencyKey returns a problem with an Idempotency-Key, or "".
func CheckIdempotencyKey(k string) string {
	if len(k) > MaxIdempotencyKey {
		return "must be at most 255 characters"
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return "must be printable ASCII without spaces"
		}
	}
	return ""
}

// Notify accepts an event: it stores the payload, and returns once the event's workflow has
// durably started. With an idempotency key, a repeat within 24 hours returns the first reply and
// starts nothing new; the same key with another payload is a conflict.
func (s *Service) Notify(ctx context.Context, in NotifyInput) (Accepted, error) {
	if err := CheckPayload(in.Payload); err != nil {
		return Accepted{}, err
	}
	if in.EventType == "" {
		in.EventType = pcx.DefaultEventType
	}
	if msg := pcx.CheckEventType(in.EventType); msg != "" {
		return Accepted{}, pcx.Invalid("Invalid request body", map[string]string{"event_type": msg})
	}
	if msg := CheckIdempotencyKey(in.IdempotencyKey); msg != "" {
		return Accepted{}, pcx.Invalid("Invalid Idempotency-Key header", map[string]string{"Idempotency-Key": msg})
	}
	// Charged before anything is stored: a refused event leaves no trace to deliver.
	if wait := s.NotifyLimit.Take(in.OrgID); wait > 0 {
		return Accepted{}, ratelimit.Limited(wait, "Too many events for this organisation; retry after the Retry-After delay")
	}
	return s.accept(ctx, in)
}

// Emit accepts an operational event (a pcx.* type, contract §8) of org, data its payload: it is
// delivered like any event, to the organisation's active endpoints that name its type. When none
// does, nothing is stored or started (EndpointCount 0, no EventID): most organisations subscribe
// to no operational event, and the worker emits them on every disable and exhausted delivery.
func (s *Service) Emit(ctx context.Context, org, eventType string, data []byte) (Accepted, error) {
	if !pcx.IsOperationalType(eventType) {
		return Accepted{}, pcx.Errorf(pcx.EInternal, "not an operational event type: %q", eventType)
	}
	if err := CheckPayload(data); err != nil {
		return Accepted{}, err
	}
	// accept counts again from the same cached subscriptions: no second read.
	if n, err := s.subscribedCount(ctx, org, eventType); err != nil || n == 0 {
		return Accepted{}, err
	}
	return s.accept(ctx, NotifyInput{OrgID: org, Payload: data, Source: pcx.SourceService, EventType: eventType})
}

// SendTest sends one pcx.test event to org's endpoint id only, whatever its subscription:
// {"type":"pcx.test","webhook_id":…,"sent_at":…}, signed and recorded like any event. The
// endpoint must be active; a test counts against the organisation's notify budget, as it is a
// POST to a third party like any other.
func (s *Service) SendTest(ctx context.Context, org, id string) (Accepted, error) {
	w, err := s.Store.Webhook(ctx, org, id)
	if err != nil {
		return Accepted{}, err
	}
	if w.Status != pcx.WebhookActive {
		return Accepted{}, pcx.Errorf(pcx.EConflict, "The webhook is disabled; enable it (PATCH status active) before sending a test")
	}
	if wait := s.NotifyLimit.Take(org); wait > 0 {
		return Accepted{}, ratelimit.Limited(wait, "Too many events for this organisation; retry after the Retry-After delay")
	}
	data, err := json.Marshal(struct {
		Type      string `json:"type"`
		WebhookID string `json:"webhook_id"`
		SentAt    string `json:"sent_at"`
	}{pcx.EventTest, id, s.now().UTC().Format(pcx.TimestampLayout)})
	if err != nil {
		return Accepted{}, pcx.Wrap(pcx.EInternal, err, "")
	}
	rec, err := s.record(ctx, org, pcx.AuditWebhookTestSent, id)
	if err != nil {
		return Accepted{}, err
	}
	return s.accept(ctx, NotifyInput{OrgID: org, Payload: data, Source: pcx.SourceService, EventType: pcx.EventTest, webhookIDs: []string{id}, audit: rec})
}

// accept stores a checked event and starts its workflow.
func (s *Service) accept(ctx context.Context, in NotifyInput) (Accepted, error) {
	now := s.now().UTC().Truncate(time.Millisecond)
	ev := &pcx.Event{ID: pcx.NewID("evt", now), OrgID: in.OrgID, Source: in.Source, Type: in.EventType, CreatedAt: now, Payload: in.Payload}
	ev.WorkflowID = workflows.EventWorkflowID(ev.ID)

	var rec *pcx.Idempotency
	if in.IdempotencyKey != "" {
		keyHash := sha256.Sum256([]byte(in.IdempotencyKey))
		// The type joins the hash only when it is not the default, so a key used before events
		// had types still matches its repeat.
		head := in.Source + "\x00"
		if in.EventType != pcx.DefaultEventType {
			head += in.EventType + "\x00"
		}
		bodyHash := sha256.Sum256(append([]byte(head), in.Payload...))
		rec = &pcx.Idempotency{OrgID: in.OrgID, KeyHash: keyHash[:], BodyHash: bodyHash[:], EventID: ev.ID, WorkflowID: ev.WorkflowID, CreatedAt: now}
		existing, err := s.Store.ClaimIdempotency(ctx, rec, IdempotencyTTL)
		if err != nil {
			return Accepted{}, err
		}
		if existing != nil {
			if !bytes.Equal(existing.BodyHash, rec.BodyHash) {
				return Accepted{}, &pcx.Error{Code: pcx.EConflict, Reason: "idempotency_conflict",
					Message: "This Idempotency-Key was already used with a different request"}
			}
			if existing.RunID != "" {
				return Accepted{EventID: existing.EventID, WorkflowID: existing.WorkflowID, RunID: existing.RunID, EndpointCount: existing.EndpointCount}, nil
			}
			// The first request claimed the key but has not finished (or died before starting the
			// workflow): finish its work with its IDs; Temporal deduplicates the start.
			existing.KeyHash = rec.KeyHash
			rec = existing
			ev.ID, ev.WorkflowID, ev.CreatedAt = existing.EventID, existing.WorkflowID, existing.CreatedAt
		}
	}
	// Counted before the event is stored, so its list entry shows the count the reply gives.
	count := len(in.webhookIDs)
	if count == 0 {
		var err error
		if count, err = s.subscribedCount(ctx, in.OrgID, ev.Type); err != nil {
			return Accepted{}, err
		}
	}
	ev.EndpointCount = count
	if err := s.Store.CreateEvent(ctx, ev, s.Retention, in.audit); err != nil {
		return Accepted{}, err
	}
	runID, err := s.Starter.Start(ctx, ev.WorkflowID, workflows.EventInput{EventID: ev.ID, OrgID: in.OrgID, EventType: ev.Type, WebhookIDs: in.webhookIDs})
	if err != nil {
		return Accepted{}, err
	}
	acc := Accepted{EventID: ev.ID, WorkflowID: ev.WorkflowID, RunID: runID, EndpointCount: count}
	if rec != nil {
		rec.RunID, rec.EndpointCount = runID, count
		if err := s.Store.CompleteIdempotency(ctx, rec); err != nil {
			// The event is accepted; a repeat finds the claim without a run ID and gets the
			// same workflow from Temporal.
			s.Log.Warn().Err(err).Str("event_id", ev.ID).Msg("recording the idempotent reply failed")
		}
	}
	return acc, nil
}

// ListEvents returns up to limit of org's events, newest first, narrowed by f, after the store's
// position after; next is the position after this page, "" on the last. An event type to filter
// by is a notify's or an operational one.
func (s *Service) ListEvents(ctx context.Context, org string, f store.EventFilter, limit int, after string) (evs []*pcx.Event, next string, err error) {
	if f.Type != "" && !pcx.IsOperationalType(f.Type) {
		if msg := pcx.CheckEventType(f.Type); msg != "" {
			return nil, "", pcx.Invalid("Invalid query", map[string]string{"event_type": msg})
		}
	}
	if err := checkWindow(f.Since, f.Until); err != nil {
		return nil, "", err
	}
	return s.Store.ListEvents(ctx, org, f, limit, after)
}

func checkWindow(since, until time.Time) error {
	if !since.IsZero() && !until.IsZero() && !since.Before(until) {
		return pcx.Invalid("Invalid query", map[string]string{"until": "must be after since"})
	}
	return nil
}

// EndpointDeliveries returns up to limit of the deliveries to org's endpoint id, newest event
// first, narrowed by f, after the store's position after. They are read only once the endpoint
// is known to be org's: another organisation's is not found.
func (s *Service) EndpointDeliveries(ctx context.Context, org, id string, f store.DeliveryFilter, limit int, after string) (dels []*pcx.Delivery, next string, err error) {
	switch f.Status {
	case "", pcx.DeliveryPending, pcx.DeliveryDelivered, pcx.DeliveryFailed, pcx.DeliveryCancelled:
	default:
		return nil, "", pcx.Invalid("Invalid query", map[string]string{"status": "must be pending, delivered, failed or cancelled"})
	}
	if err := checkWindow(f.Since, f.Until); err != nil {
		return nil, "", err
	}
	if _, err := s.Store.Webhook(ctx, org, id); err != nil {
		return nil, "", err
	}
	return s.Store.ListEndpointDeliveries(ctx, id, f, limit, after)
}

// EventStatus is an event, with its payload, and one page of its deliveries.
type EventStatus struct {
	Event      *pcx.Event
	Deliveries []*pcx.Delivery
	Next       string // the store's position after this page; "" on the last
}

// EventStatus returns org's event and up to limit of its deliveries after the store's position
// after. The deliveries are read only once the event is known to be org's: they are stored
// under the event alone.
func (s *Service) EventStatus(ctx context.Context, org, id string, limit int, after string) (EventStatus, error) {
	ev, err := s.Store.EventWithPayloadOf(ctx, org, id)
	if err != nil {
		return EventStatus{}, err
	}
	dels, next, err := s.Store.ListDeliveries(ctx, ev.ID, limit, after)
	if err != nil {
		return EventStatus{}, err
	}
	return EventStatus{Event: ev, Deliveries: dels, Next: next}, nil
}

// Replay delivers org's event again, with the same webhook-id, to the given endpoints or to every
// active one. Each replay is a workflow of its own, findable under the event's search attribute.
// One replay of an event runs at a time (claimReplay), and each organisation has a budget of
// replays (ReplayLimit): a replay is a POST to every endpoint, so an unbounded stream of them
// turns one event into any number of requests at a third party.
func (s *Service) Replay(ctx context.Context, org, eventID string, webhookIDs []string) (Accepted, error) {
	if err := checkReplayWebhookIDs(webhookIDs); err != nil {
		return Accepted{}, err
	}
	ev, err := s.Store.EventOf(ctx, org, eventID)
	if err != nil {
		return Accepted{}, err
	}
	ids := make([]string, 0, len(webhookIDs))
	count := 0
	m := pcx.NewTypeMatcher(ev.EventType())
	for _, id := range webhookIDs {
		w, err := s.Store.Webhook(ctx, org, id)
		if pcx.ErrorCode(err) == pcx.ENotFound {
			return Accepted{}, pcx.Invalid("Invalid request body", map[string]string{"webhook_ids": "no webhook " + id + " in your organisation"})
		}
		if err != nil {
			return Accepted{}, err
		}
		ids = append(ids, id)
		if w.Status == pcx.WebhookActive && (ev.EventType() == pcx.EventTest || m.Subscribed(w.EventTypes)) {
			count++
		}
	}
	if len(webhookIDs) == 0 {
		if count, err = s.subscribedCount(ctx, org, ev.EventType()); err != nil {
			return Accepted{}, err
		}
	}
	if wait := s.ReplayLimit.Take(org); wait > 0 {
		return Accepted{}, ratelimit.Limited(wait, "Too many replays for your organisation; retry after the Retry-After delay")
	}
	now := s.now()
	wfID := workflows.ReplayWorkflowID(ev.ID, pcx.NewID("rpl", now))
	rec, err := s.record(ctx, org, pcx.AuditEventReplayed, ev.ID)
	if err != nil {
		return Accepted{}, err
	}
	if err := s.claimReplay(ctx, pcx.ReplayClaim{EventID: ev.ID, WorkflowID: wfID, ClaimedAt: now}, rec); err != nil {
		return Accepted{}, err
	}
	runID, err := s.Starter.Start(ctx, wfID, workflows.EventInput{EventID: ev.ID, OrgID: org, WebhookIDs: ids, EventType: ev.EventType()})
	if err != nil {
		if rerr := s.Store.ReleaseReplay(context.WithoutCancel(ctx), ev.ID, wfID); rerr != nil {
			// The claim is freed anyway once ReplayStartGrace has passed with no such workflow.
			s.Log.Warn().Err(rerr).Str("event_id", ev.ID).Msg("releasing the claim of a replay that did not start failed")
		}
		return Accepted{}, err
	}
	return Accepted{EventID: ev.ID, WorkflowID: wfID, RunID: runID, EndpointCount: count}, nil
}

// checkReplayWebhookIDs refuses a replay's list of endpoints before anything is read: at most
// MaxReplayWebhookIDs entries, each the shape of a webhook ID (an empty or oversized string would
// otherwise reach DynamoDB as a key and come back as a 500), none twice (a caller who names an
// endpoint twice has made a mistake we should not guess about).
func checkReplayWebhookIDs(ids []string) error {
	problem := ""
	seen := make(map[string]bool, len(ids))
	if len(ids) > MaxReplayWebhookIDs {
		problem = fmt.Sprintf("must list at most %d webhooks", MaxReplayWebhookIDs)
	}
	for i := 0; problem == "" && i < len(ids); i++ {
		switch id := ids[i]; {
		case !pcx.ValidID("wh", id):
			problem = fmt.Sprintf("entry %d is not a webhook ID (wh_ and 26 characters)", i)
		case seen[id]:
			problem = fmt.Sprintf("entry %d repeats %s", i, id)
		default:
			seen[id] = true
		}
	}
	if problem != "" {
		return pcx.Invalid("Invalid request body", map[string]string{"webhook_ids": problem})
	}
	return nil
}

// ReplayStartGrace is how long a claim whose workflow Temporal does not know is taken to be a
// replay still starting, not one that died before it started: longer than any request's
// REQUEST_TIMEOUT, within which the claiming request starts the workflow or gives up.
const ReplayStartGrace = time.Minute

// claimReplay makes c the event's one running replay, or returns a conflict naming the replay that
// runs (claimRun).
// rec, the replay's audit record, is written only with a claim won.
func (s *Service) claimReplay(ctx context.Context, c pcx.ReplayClaim, rec *pcx.AuditRecord) error {
	try := func(over string) (string, time.Time, bool, error) {
		holder, err := s.Store.ClaimReplay(ctx, c, over, c.ClaimedAt.Add(s.Retention), rec)
		if err != nil || holder == nil {
			return "", time.Time{}, false, err
		}
		return holder.WorkflowID, holder.ClaimedAt, true, nil
	}
	return s.claimRun(ctx, c.ClaimedAt, try, "A replay of this event is running (workflow %s); retry once it has finished",
		"Another replay of this event is starting; retry once it has finished")
}

// claimRun takes a claim for a workflow that must run alone, or returns a conflict (busy, with
// the holder's workflow ID) naming the one that runs. try writes the claim (replacing over, a
// holder found finished), returning the holder when another holds it. The claim is a
// conditional write in DynamoDB, so of concurrent claims on any number of api instances exactly
// one gets it; whether the holder still runs is asked of Temporal, which knows when a workflow
// ends (no workflow has to clear the claim, and one that died with its api before starting
// frees the claim after ReplayStartGrace).
func (s *Service) claimRun(ctx context.Context, claimedAt time.Time, try func(over string) (holder string, holderAt time.Time, held bool, err error),
	busy, starting string) error {
	over := ""
	for range 3 {
		holder, holderAt, held, err := try(over)
		if err != nil || !held {
			return err
		}
		if holder == "" { // released in between: claim afresh
			over = ""
			continue
		}
		running, exists, err := s.Starter.Running(ctx, holder)
		if err != nil {
			return err
		}
		if running || !exists && claimedAt.Sub(holderAt) < ReplayStartGrace {
			return pcx.Errorf(pcx.EConflict, busy, holder)
		}
		over = holder
	}
	return pcx.Errorf(pcx.EConflict, "%s", starting)
}
