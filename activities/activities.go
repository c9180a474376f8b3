// Package activities holds the side effects of webhook delivery: planning an event's fan-out from
// the store, and delivering one event to one endpoint (load, sign, POST with the hardened client,
// record the attempt). Activities take IDs, never payloads, so workflow histories stay small.
//
// Retries belong to Temporal: a failed attempt returns a retryable error carrying the delay the
// schedule (with jitter, and the receiver's Retry-After) asks for, so retries survive worker and
// server restarts without growing the history per attempt. Final outcomes (delivered, failed,
// cancelled) are results, not errors.
package activities

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/trace"

	"github.com/pcx/publicservice/internal/metrics"
	"github.com/pcx/publicservice/internal/slots"
	"github.com/pcx/publicservice/internal/tracing"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

// Store is what the activities need from storage.
type Store interface {
	Event(ctx context.Context, id string) (*pcx.Event, error)
	Webhook(ctx context.Context, org, id string) (*pcx.Webhook, error)
	WebhookWithSecrets(ctx context.Context, org, id string) (*pcx.Webhook, error)
	WebhooksWithSecrets(ctx context.Context, org string, ids []string) (map[string]*pcx.Webhook, error)
	ActiveWebhooks(ctx context.Context, org string, limit int, after string) ([]*pcx.Webhook, string, error)
	RecordFirstAttempts(ctx context.Context, ev *pcx.Event, recs []pcx.Delivery, expires time.Time) error
	RecordedByRun(ctx context.Context, eventID, run string, ids []string) (map[string]*pcx.Delivery, error)
	RecordDelivery(ctx context.Context, ev *pcx.Event, d pcx.Delivery, expires time.Time) error
	DeliveriesOf(ctx context.Context, eventID string, ids []string) (map[string]*pcx.Delivery, error)
	// Endpoint health (health.go).
	RecordEndpointFailure(ctx context.Context, org, id string, f store.EndpointFailure) (pcx.EndpointHealth, error)
	RecordEndpointSuccess(ctx context.Context, org, id string, at time.Time) error
	ClaimProbe(ctx context.Context, org, id string, now, until time.Time) (bool, error)
	// DisableWebhook writes rec, the disable's audit record, with the change.
	DisableWebhook(ctx context.Context, org, id, reason string, rec *pcx.AuditRecord) (at time.Time, ok bool, err error)
}

// Activities are the delivery activities with their dependencies. Register a pointer on the
// worker; workflows call its methods through a nil *Activities.
type Activities struct {
	Store Store
	// Recoveries serves the recovery activities (recovery.go); nil where none run.
	Recoveries RecoveryStore
	Client     *http.Client // the hardened delivery client (netguard.NewHTTPClient)
	Log        zerolog.Logger
	// Schedule is the delay before each retry (WEBHOOK_RETRY_SCHEDULE); a delivery makes at most
	// len(Schedule)+1 attempts.
	Schedule  []time.Duration
	Retention time.Duration // how long delivery records are kept (EVENT_RETENTION)
	// AuditRetention is how long the audit records of the changes the worker makes itself (an
	// endpoint disabled) are kept (AUDIT_RETENTION).
	AuditRetention time.Duration
	UserAgent      string
	Metrics        *metrics.Metrics
	// MaxInFlight bounds the POSTs in flight in this process, batches and retries together
	// (WORKER_CONCURRENCY); 0 means 200. EndpointConcurrency and HostConcurrency bound them per
	// endpoint and per destination host (WEBHOOK_ENDPOINT_CONCURRENCY, WEBHOOK_HOST_CONCURRENCY;
	// 0 means 20 and 50); the slots are shared fairly between organisations (internal/slots).
	MaxInFlight         int
	EndpointConcurrency int
	HostConcurrency     int
	// BreakerFailures is WEBHOOK_BREAKER_FAILURES: this many consecutive failed attempts make an
	// endpoint failing; 0 keeps no breaker. DisableAfter is WEBHOOK_DISABLE_AFTER: an endpoint
	// failing with no success that long is disabled; 0 never.
	BreakerFailures int
	DisableAfter    time.Duration
	// Emitter accepts the operational events (pcx.endpoint.disabled, pcx.delivery.exhausted);
	// nil emits none.
	Emitter Emitter
	// Now and Jitter are replaceable in tests. Jitter returns a factor in [0.8, 1.2).
	Now    func() time.Time
	Jitter func() float64

	payloads *payloadCache
	handoff  *handoff
	slots    *slots.Pool
}

// New returns Activities with production defaults for the clock, jitter and payload cache.
func New(a Activities) *Activities {
	if a.Now == nil {
		a.Now = time.Now
	}
	if a.Jitter == nil {
		a.Jitter = func() float64 { return 0.8 + 0.4*rand.Float64() }
	}
	if a.Metrics == nil {
		a.Metrics = metrics.New()
	}
	a.payloads = newPayloadCache(64 << 20)
	a.handoff = newHandoff(handoffTTL, 50_000)
	if a.MaxInFlight <= 0 {
		a.MaxInFlight = 200
	}
	if a.EndpointConcurrency <= 0 {
		a.EndpointConcurrency = 20
	}
	if a.HostConcurrency <= 0 {
		a.HostConcurrency = 50
	}
	a.slots = slots.New(slots.Limits{Total: a.MaxInFlight, PerEndpoint: a.EndpointConcurrency, PerHost: a.HostConcurrency})
	a.Metrics.SlotsLimit.Set(float64(a.MaxInFlight))
	return &a
}

// PlanInput asks for one page of an event's fan-out.
type PlanInput struct {
	EventID string
	OrgID   string
	// WebhookIDs restricts a replay to these endpoints; empty means all active endpoints.
	WebhookIDs []string `json:",omitempty"`
	After      string   `json:",omitempty"` // position returned by the previous page
	Limit      int
}

// Plan is one page of targets.
type Plan struct {
	WebhookIDs []string
	Next       string `json:",omitempty"` // "" on the last page
}

// PlanDeliveries lists a page of the organisation's active endpoints subscribed to the event's
// type, or the replay's chosen ones that still are. It reads only: a delivery's record is
// written once, after its first attempt. The type is matched here, once per endpoint per event;
// the deliveries do not match again. A page may come back short, even empty, with a Next: its
// endpoints were not subscribed.
func (a *Activities) PlanDeliveries(ctx context.Context, in PlanInput) (Plan, error) {
	ev, err := a.eventOf(ctx, in.EventID, in.OrgID)
	if err != nil {
		return Plan{}, err
	}
	m := pcx.NewTypeMatcher(ev.EventType())
	// A test send (POST /public/webhooks/{id}/test, and its replays) goes to the endpoints it
	// names, subscribed to pcx.test or not.
	test := ev.EventType() == pcx.EventTest
	if len(in.WebhookIDs) > 0 {
		hooks, err := a.Store.WebhooksWithSecrets(ctx, in.OrgID, in.WebhookIDs)
		if err != nil {
			return Plan{}, err
		}
		p := Plan{}
		var active []*pcx.Webhook
		for _, id := range in.WebhookIDs {
			if w := hooks[id]; w != nil && w.Status == pcx.WebhookActive && (test || m.Subscribed(w.EventTypes)) {
				p.WebhookIDs = append(p.WebhookIDs, id)
				active = append(active, w)
			}
		}
		a.handoff.put(in.EventID, active)
		return p, nil
	}
	targets, next, err := a.Store.ActiveWebhooks(ctx, in.OrgID, in.Limit, in.After)
	if err != nil {
		return Plan{}, err
	}
	subscribed := targets[:0]
	for _, t := range targets {
		if m.Subscribed(t.EventTypes) {
			subscribed = append(subscribed, t)
		}
	}
	a.handoff.put(in.EventID, subscribed)
	p := Plan{WebhookIDs: make([]string, len(subscribed)), Next: next}
	for i, t := range subscribed {
		p.WebhookIDs[i] = t.ID
	}
	return p, nil
}

func (a *Activities) expires(ev *pcx.Event) time.Time { return ev.CreatedAt.Add(a.Retention) }

// event returns the event, from the in-process cache when another delivery of it loaded it:
// an event to 100 endpoints is read once, not 100 times. Payloads never change.
func (a *Activities) event(ctx context.Context, id string) (*pcx.Event, error) {
	if ev, ok := a.payloads.get(id); ok {
		return ev, nil
	}
	ev, err := a.Store.Event(ctx, id)
	if err != nil {
		if pcx.ErrorCode(err) == pcx.ENotFound {
			return nil, nonRetryable("EventMissing", errors.New("event not found (expired past retention?)"))
		}
		return nil, err
	}
	a.payloads.put(ev)
	return ev, nil
}

// logger is the activities' logger, its lines carrying the trace_id and span_id of ctx's span
// (the activity's) when it has one, so a line leads to its trace.
func (a *Activities) logger(ctx context.Context) *zerolog.Logger {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return &a.Log
	}
	l := tracing.LogFields(ctx, a.Log.With()).Logger()
	return &l
}

// eventOf returns the event if it belongs to org, the organisation the workflow's input names.
// The input is not to be trusted for that: anyone who can start a workflow on Temporal can name
// any event beside any organisation, and the endpoints are read by the input's organisation. An
// event of another organisation is refused for good (and logged, never its payload), so no
// activity sends one organisation's transaction data to another's endpoints.
func (a *Activities) eventOf(ctx context.Context, id, org string) (*pcx.Event, error) {
	ev, err := a.event(ctx, id)
	if err != nil {
		return nil, err
	}
	if ev.OrgID != org {
		a.Metrics.OrgMismatches.Inc()
		a.logger(ctx).Warn().Str("event_id", ev.ID).Str("event_org_id", ev.OrgID).Str("input_org_id", org).
			Msg("refused an event of another organisation than the workflow input's")
		// The error lands in the workflow's history, where its starter reads it: it does not
		// name the event's organisation.
		return nil, nonRetryable(EventOfAnotherOrg, fmt.Errorf("event %s does not belong to organisation %q", ev.ID, org))
	}
	return ev, nil
}

// EventOfAnotherOrg is the type of the non-retryable error an activity returns for an event
// that does not belong to the organisation its input names.
const EventOfAnotherOrg = "EventOfAnotherOrg"
