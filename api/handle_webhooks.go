package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/internal/cursor"
	"github.com/pcx/publicservice/internal/httpx"
	"github.com/pcx/publicservice/internal/metrics"
	"github.com/pcx/publicservice/internal/signing"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/service/webhooks"
	"github.com/pcx/publicservice/store"
)

// Webhooks is the webhook use cases the routes call (service/webhooks).
type Webhooks interface {
	CreateEndpoint(ctx context.Context, org string, in webhooks.NewEndpoint) (*pcx.Webhook, error)
	Endpoint(ctx context.Context, org, id string) (*pcx.Webhook, error)
	ListEndpoints(ctx context.Context, org string, limit int, after string) ([]*pcx.Webhook, string, error)
	UpdateEndpoint(ctx context.Context, org, id string, p webhooks.Patch) (*pcx.Webhook, error)
	RotateSecret(ctx context.Context, org, id string, grace *time.Duration) (*pcx.Webhook, error)
	Notify(ctx context.Context, in webhooks.NotifyInput) (webhooks.Accepted, error)
	ListEvents(ctx context.Context, org string, f store.EventFilter, limit int, after string) ([]*pcx.Event, string, error)
	EventStatus(ctx context.Context, org, id string, limit int, after string) (webhooks.EventStatus, error)
	EndpointDeliveries(ctx context.Context, org, id string, f store.DeliveryFilter, limit int, after string) ([]*pcx.Delivery, string, error)
	Replay(ctx context.Context, org, eventID string, webhookIDs []string) (webhooks.Accepted, error)
	SendTest(ctx context.Context, org, id string) (webhooks.Accepted, error)
	DeleteEndpoint(ctx context.Context, org, id string) error
	Recoveries
}

// webhookData is an endpoint as callers see it. Secret is set only in the replies that create or
// rotate it.
type webhookData struct {
	WebhookID      string `json:"webhook_id"`
	OrgID          string `json:"org_id"`
	EndpointURL    string `json:"endpoint_url"`
	Description    string `json:"description"`
	Status         string `json:"status"`
	DisabledReason string `json:"disabled_reason,omitempty"`
	// DisabledAt is null while active, and for an endpoint disabled before it was kept.
	DisabledAt *Timestamp `json:"disabled_at"`
	Health     healthData `json:"health"`
	// EventTypes is [] for an endpoint that receives every type but the reserved ones.
	EventTypes    []string  `json:"event_types"`
	PayloadFormat string    `json:"payload_format"`
	Secret        string    `json:"secret,omitempty"`
	CreatedAt     Timestamp `json:"created_at"`
	UpdatedAt     Timestamp `json:"updated_at"`
}

func newWebhookData(w *pcx.Webhook, withSecret bool) webhookData {
	d := webhookData{
		WebhookID: w.ID, OrgID: w.OrgID, EndpointURL: w.URL, Description: w.Description,
		Status: string(w.Status), CreatedAt: ts(w.CreatedAt), UpdatedAt: ts(w.UpdatedAt),
		EventTypes: w.EventTypes, PayloadFormat: string(w.PayloadFormat), Health: newHealthData(w.Health),
	}
	if d.EventTypes == nil {
		d.EventTypes = []string{}
	}
	if d.PayloadFormat == "" {
		d.PayloadFormat = string(pcx.PayloadRaw)
	}
	if w.Status == pcx.WebhookDisabled {
		d.DisabledReason = pcx.DisabledReasonName(w.DisabledReason)
		d.DisabledAt = tsp(w.DisabledAt)
	}
	if withSecret && len(w.Secrets) > 0 {
		d.Secret = signing.FormatSecret(w.Secrets[0].Key)
	}
	return d
}

// healthData is an endpoint's health as callers see it (contract §10); an endpoint stored before
// health was kept is healthy, with no failures and null times.
type healthData struct {
	State               string     `json:"state"` // "healthy" | "failing"
	ConsecutiveFailures int        `json:"consecutive_failures"`
	LastSuccessAt       *Timestamp `json:"last_success_at"`
	LastFailureAt       *Timestamp `json:"last_failure_at"`
}

func newHealthData(h pcx.EndpointHealth) healthData {
	d := healthData{State: "healthy", ConsecutiveFailures: h.ConsecutiveFailures, LastSuccessAt: tsp(h.LastSuccessAt), LastFailureAt: tsp(h.LastFailureAt)}
	if h.Failing() {
		d.State = "failing"
	}
	return d
}

// listedWebhook is an endpoint as lists show it: never its secret.
func listedWebhook(w *pcx.Webhook) webhookData { return newWebhookData(w, false) }

var errWebhookNotFound = pcx.Errorf(pcx.ENotFound, "Webhook not found")

// webhookID reads and sanity-checks the {webhook_id} route parameter; anything that cannot be an
// ID is simply not found.
func webhookID(r *http.Request) (string, error) {
	id := chi.URLParam(r, "webhook_id")
	if !pcx.ValidID("wh", id) {
		return "", errWebhookNotFound
	}
	return id, nil
}

func handleWebhookCreate(svc Webhooks) http.Handler {
	type request struct {
		EndpointURL   *string  `json:"endpoint_url"`
		Description   string   `json:"description"`
		OrgID         *string  `json:"org_id"`
		EventTypes    []string `json:"event_types"`
		PayloadFormat *string  `json:"payload_format"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p := principalFrom(r.Context())
		var req request
		if err := decodeBody(r, &req, false); err != nil {
			return err
		}
		if err := checkOrg(p, req.OrgID); err != nil {
			return err
		}
		if req.EndpointURL == nil || *req.EndpointURL == "" {
			return pcx.Invalid("Invalid request body", map[string]string{"endpoint_url": "is required"})
		}
		in := webhooks.NewEndpoint{URL: *req.EndpointURL, Description: req.Description, EventTypes: req.EventTypes, PayloadFormat: string(pcx.PayloadRaw)}
		if req.PayloadFormat != nil {
			if *req.PayloadFormat == "" { // as a PATCH refuses it; leave it out for raw
				return pcx.Invalid("Invalid request body", map[string]string{"payload_format": pcx.CheckPayloadFormat("")})
			}
			in.PayloadFormat = *req.PayloadFormat
		}
		hook, err := svc.CreateEndpoint(r.Context(), p.OrgID, in)
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Location", "/public/webhooks/"+hook.ID)
		httpx.Respond(w, http.StatusCreated, "Webhook created; store its secret now, it will not be shown again", newWebhookData(hook, true), nil)
		return nil
	})
}

func handleWebhookGet(svc Webhooks) http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id, err := webhookID(r)
		if err != nil {
			return err
		}
		hook, err := svc.Endpoint(r.Context(), principalFrom(r.Context()).OrgID, id)
		if err != nil {
			return err
		}
		httpx.Respond(w, http.StatusOK, "Webhook", newWebhookData(hook, false), nil)
		return nil
	})
}

func handleWebhookUpdate(svc Webhooks) http.Handler {
	type request struct {
		EndpointURL   *string   `json:"endpoint_url"`
		Description   *string   `json:"description"`
		Status        *string   `json:"status"`
		EventTypes    *[]string `json:"event_types"`
		PayloadFormat *string   `json:"payload_format"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id, err := webhookID(r)
		if err != nil {
			return err
		}
		var req request
		if err := decodeBody(r, &req, false); err != nil {
			return err
		}
		patch := webhooks.Patch{URL: req.EndpointURL, Description: req.Description, EventTypes: req.EventTypes, PayloadFormat: req.PayloadFormat}
		if req.EventTypes != nil && *req.EventTypes == nil {
			// "event_types": null is the empty subscription: every non-reserved type.
			patch.EventTypes = &[]string{}
		}
		if req.Status != nil {
			st := pcx.WebhookStatus(*req.Status)
			patch.Status = &st
		}
		hook, err := svc.UpdateEndpoint(r.Context(), principalFrom(r.Context()).OrgID, id, patch)
		if err != nil {
			return err
		}
		httpx.Respond(w, http.StatusOK, "Webhook updated", newWebhookData(hook, false), nil)
		return nil
	})
}

func handleWebhookDelete(svc Webhooks) http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id, err := webhookID(r)
		if err != nil {
			return err
		}
		if err := svc.DeleteEndpoint(r.Context(), principalFrom(r.Context()).OrgID, id); err != nil {
			return err
		}
		httpx.Respond(w, http.StatusOK, "Webhook deleted", nil, nil)
		return nil
	})
}

func handleWebhookRotate(svc Webhooks) http.Handler {
	type request struct {
		GracePeriodSeconds *int64 `json:"grace_period_seconds"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id, err := webhookID(r)
		if err != nil {
			return err
		}
		var req request
		if err := decodeBody(r, &req, true); err != nil {
			return err
		}
		var grace *time.Duration
		if req.GracePeriodSeconds != nil {
			if *req.GracePeriodSeconds < 0 || *req.GracePeriodSeconds > int64(webhooks.MaxGrace/time.Second) {
				return pcx.Invalid("Invalid request body", map[string]string{"grace_period_seconds": "must be from 0 to 604800 (7 days)"})
			}
			g := time.Duration(*req.GracePeriodSeconds) * time.Second
			grace = &g
		}
		hook, err := svc.RotateSecret(r.Context(), principalFrom(r.Context()).OrgID, id, grace)
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		httpx.Respond(w, http.StatusOK, "Secret rotated; store the new secret now, it will not be shown again", newWebhookData(hook, true), nil)
		return nil
	})
}

// notifyRequest is the body of notify and of internal transaction updates.
type notifyRequest struct {
	OrgID           *string         `json:"org_id"`
	EventType       *string         `json:"event_type"`
	TransactionData json.RawMessage `json:"transaction_data"`
}

type acceptedData struct {
	EventID       string `json:"event_id"`
	WorkflowID    string `json:"workflow_id"`
	RunID         string `json:"run_id"`
	EndpointCount int    `json:"endpoint_count"`
}

// acceptEvent decodes a notify body and hands it to the use case. allowOrg decides whether the
// body's org_id may be used (the caller's own for the public API; any for the internal listener).
func acceptEvent(w http.ResponseWriter, r *http.Request, svc Webhooks, m *metrics.Metrics, source string, allowOrg func(org string) error) error {
	var req notifyRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	if req.OrgID == nil || *req.OrgID == "" {
		return pcx.Invalid("Invalid request body", map[string]string{"org_id": "is required"})
	}
	if err := allowOrg(*req.OrgID); err != nil {
		return err
	}
	if string(req.TransactionData) == "null" {
		req.TransactionData = nil
	}
	eventType := pcx.DefaultEventType
	if req.EventType != nil {
		if eventType = *req.EventType; eventType == "" {
			return pcx.Invalid("Invalid request body", map[string]string{"event_type": "must not be empty; leave it out for " + pcx.DefaultEventType})
		}
	}
	acc, err := svc.Notify(r.Context(), webhooks.NotifyInput{
		OrgID: *req.OrgID, Payload: req.TransactionData, Source: source, EventType: eventType,
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
	})
	if err != nil {
		return err
	}
	m.Events.WithLabelValues(source).Inc()
	zerolog.Ctx(r.Context()).UpdateContext(func(c zerolog.Context) zerolog.Context {
		return c.Str("event_id", acc.EventID).Str("workflow_id", acc.WorkflowID)
	})
	httpx.Respond(w, http.StatusAccepted, "Event accepted for delivery", acceptedData{
		EventID: acc.EventID, WorkflowID: acc.WorkflowID, RunID: acc.RunID, EndpointCount: acc.EndpointCount,
	}, nil)
	return nil
}

func handleNotify(svc Webhooks, m *metrics.Metrics) http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p := principalFrom(r.Context())
		return acceptEvent(w, r, svc, m, "notify", func(org string) error { return checkOrg(p, &org) })
	})
}

type deliveryData struct {
	WebhookID   string `json:"webhook_id"`
	EndpointURL string `json:"endpoint_url"`
	deliveryState
	AttemptLog []attemptData `json:"attempt_log"`
}

// deliveryState is where a delivery stands, as the event status and an endpoint's delivery list
// show it.
type deliveryState struct {
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastStatusCode *int       `json:"last_status_code"`
	LastError      *string    `json:"last_error"`
	LastAttemptAt  *Timestamp `json:"last_attempt_at"`
	DeliveredAt    *Timestamp `json:"delivered_at"`
}

func newDeliveryState(d *pcx.Delivery) deliveryState {
	return deliveryState{
		Status: string(d.Status), Attempts: d.Attempts, LastStatusCode: optInt(d.LastStatusCode), LastError: optStr(d.LastError),
		LastAttemptAt: tsp(d.LastAttemptAt), DeliveredAt: tsp(d.DeliveredAt),
	}
}

type attemptData struct {
	At         Timestamp `json:"at"`
	StatusCode *int      `json:"status_code"`
	Error      *string   `json:"error"`
	DurationMS int64     `json:"duration_ms"`
	// ResponseBody is "" without a response, and for an attempt recorded before bodies were kept.
	ResponseBody      string `json:"response_body"`
	ResponseTruncated bool   `json:"response_truncated"`
}

func optInt(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

func optStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func newDeliveryData(d *pcx.Delivery) deliveryData {
	out := deliveryData{
		WebhookID: d.WebhookID, EndpointURL: d.EndpointURL, deliveryState: newDeliveryState(d),
		AttemptLog: make([]attemptData, len(d.Log)),
	}
	for i, a := range d.Log {
		out.AttemptLog[i] = attemptData{At: ts(a.At), StatusCode: optInt(a.StatusCode), Error: optStr(a.ErrorClass), DurationMS: a.Duration.Milliseconds(),
			ResponseBody: a.ResponseBody, ResponseTruncated: a.ResponseTruncated}
	}
	return out
}

// listedEvent is an event as the event list shows it.
type listedEvent struct {
	EventID       string    `json:"event_id"`
	EventType     string    `json:"event_type"`
	WorkflowID    string    `json:"workflow_id"`
	CreatedAt     Timestamp `json:"created_at"`
	EndpointCount int       `json:"endpoint_count"`
}

func newListedEvent(ev *pcx.Event) listedEvent {
	return listedEvent{EventID: ev.ID, EventType: ev.EventType(), WorkflowID: ev.WorkflowID, CreatedAt: ts(ev.CreatedAt), EndpointCount: ev.EndpointCount}
}

func handleEventList(svc Webhooks, cursors *cursor.Signer) http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		since, until, err := readWindow(r)
		if err != nil {
			return err
		}
		f := store.EventFilter{Type: r.URL.Query().Get("event_type"), Since: since, Until: until}
		fetch := func(ctx context.Context, org string, limit int, after string) ([]*pcx.Event, string, error) {
			return svc.ListEvents(ctx, org, f, limit, after)
		}
		return serveList(w, r, cursors, "events", "Events", fetch, newListedEvent)
	})
}

// endpointDelivery is a delivery as an endpoint's delivery list shows it: the event's type and
// creation beside the delivery's state, without the attempt log (the event status has it).
type endpointDelivery struct {
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	deliveryState
	CreatedAt Timestamp `json:"created_at"`
}

func newEndpointDelivery(d *pcx.Delivery) endpointDelivery {
	return endpointDelivery{EventID: d.EventID, EventType: d.EventType, deliveryState: newDeliveryState(d), CreatedAt: ts(d.EventCreatedAt)}
}

func handleEndpointDeliveries(svc Webhooks, cursors *cursor.Signer) http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id, err := webhookID(r)
		if err != nil {
			return err
		}
		since, until, err := readWindow(r)
		if err != nil {
			return err
		}
		f := store.DeliveryFilter{Status: pcx.DeliveryStatus(r.URL.Query().Get("status")), Since: since, Until: until}
		fetch := func(ctx context.Context, org string, limit int, after string) ([]*pcx.Delivery, string, error) {
			return svc.EndpointDeliveries(ctx, org, id, f, limit, after)
		}
		return serveList(w, r, cursors, "endpoint-deliveries:"+id, "Deliveries", fetch, newEndpointDelivery)
	})
}

func handleEventGet(svc Webhooks, cursors *cursor.Signer) http.Handler {
	type response struct {
		EventID    string         `json:"event_id"`
		OrgID      string         `json:"org_id"`
		WorkflowID string         `json:"workflow_id"`
		Source     string         `json:"source"`
		EventType  string         `json:"event_type"`
		CreatedAt  Timestamp      `json:"created_at"`
		Deliveries []deliveryData `json:"deliveries"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p := principalFrom(r.Context())
		id := chi.URLParam(r, "event_id")
		if !pcx.ValidID("evt", id) {
			return pcx.Errorf(pcx.ENotFound, "Event not found")
		}
		list := "deliveries:" + id
		page, err := readPage(r, cursors, list)
		if err != nil {
			return err
		}
		st, err := svc.EventStatus(r.Context(), p.OrgID, id, page.limit, page.after)
		if err != nil {
			return err
		}
		ev := st.Event
		resp := response{EventID: ev.ID, OrgID: ev.OrgID, WorkflowID: ev.WorkflowID, Source: ev.Source, EventType: ev.EventType(), CreatedAt: ts(ev.CreatedAt), Deliveries: make([]deliveryData, len(st.Deliveries))}
		for i, d := range st.Deliveries {
			resp.Deliveries[i] = newDeliveryData(d)
		}
		// transaction_data is the payload as received: its bytes, not a re-encoding.
		data, err := httpx.WithRawField(resp, "transaction_data", ev.Payload)
		if err != nil {
			return err
		}
		httpx.RespondRaw(w, http.StatusOK, "Event", data, newPageMeta(r, cursors, list, st.Next, len(st.Deliveries)))
		return nil
	})
}

func handleEventReplay(svc Webhooks, m *metrics.Metrics) http.Handler {
	type request struct {
		WebhookIDs []string `json:"webhook_ids"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p := principalFrom(r.Context())
		id := chi.URLParam(r, "event_id")
		if !pcx.ValidID("evt", id) {
			return pcx.Errorf(pcx.ENotFound, "Event not found")
		}
		var req request
		if err := decodeBody(r, &req, true); err != nil {
			return err
		}
		acc, err := svc.Replay(r.Context(), p.OrgID, id, req.WebhookIDs)
		if err != nil {
			return err
		}
		m.Events.WithLabelValues("replay").Inc()
		httpx.Respond(w, http.StatusAccepted, "Replay accepted", acceptedData{
			EventID: acc.EventID, WorkflowID: acc.WorkflowID, RunID: acc.RunID, EndpointCount: acc.EndpointCount,
		}, nil)
		return nil
	})
}

// handleWebhookTest sends one pcx.test event to the endpoint: a way to check a receiver and its
// signature verification without a real event.
func handleWebhookTest(svc Webhooks, m *metrics.Metrics) http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id, err := webhookID(r)
		if err != nil {
			return err
		}
		acc, err := svc.SendTest(r.Context(), principalFrom(r.Context()).OrgID, id)
		if err != nil {
			return err
		}
		m.Events.WithLabelValues("test").Inc()
		httpx.Respond(w, http.StatusAccepted, "Test event accepted for delivery", acceptedData{
			EventID: acc.EventID, WorkflowID: acc.WorkflowID, RunID: acc.RunID, EndpointCount: acc.EndpointCount,
		}, nil)
		return nil
	})
}
