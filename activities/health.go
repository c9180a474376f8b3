package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/pcx/publicservice/internal/config"
	"github.com/pcx/publicservice/internal/tracing"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

// Endpoint health and its circuit breaker (contract §10). Every attempt's result goes into the
// endpoint's health (noteHealth); once WEBHOOK_BREAKER_FAILURES attempts in a row failed, the
// endpoint is failing and a delivery to it is sent only as its probe (breaker): one delivery at a
// time claims the probe lease, the others wait unsent, polling, without using up their schedules.
// The first success closes the breaker, and the waiting deliveries go out on their next poll.

// Emitter accepts an operational event of org (service/webhooks.Service.Emit, wired in app/worker:
// activities may not import the services that start their workflows).
type Emitter interface {
	Emit(ctx context.Context, org, eventType string, data []byte) error
}

const (
	// probeLease is how long a claimed probe keeps others from probing: the longest attempt, so a
	// probe whose worker died frees the endpoint within one attempt's time. A probe that fails
	// sets the next one on the retry schedule instead.
	probeLease = config.AttemptTimeout
	// maxPoll bounds how long a delivery held behind a failing endpoint waits before it looks
	// again (±20% jitter): the breaker's first success reaches the held deliveries within it.
	// Each look is one read of the endpoint.
	maxPoll = 45 * time.Second
	// successEvery is how stale a healthy endpoint's last_success_at may grow before a success
	// writes it again: its deliveries do not cost a write each.
	successEvery = time.Minute
)

// breaker returns nil when a delivery to w may be sent now: w is not failing, or this delivery
// claimed its probe. Otherwise it returns the retryable error of a delivery held unsent, whose
// NextRetryDelay is when to look again, or the store's error. An endpoint failing for longer
// than WEBHOOK_DISABLE_AFTER is disabled here, so one that is probed rarely (the schedule's last
// delays are long) is disabled on time; its deliveries' next look cancels them.
func (a *Activities) breaker(ctx context.Context, w *pcx.Webhook) error {
	h := w.Health
	if a.BreakerFailures <= 0 || !h.Failing() {
		return nil
	}
	now := a.Now()
	if a.overdue(h, now) {
		if _, err := a.disable(ctx, w, pcx.DisabledFailing); err != nil {
			return err
		}
		return held(fmt.Sprintf("endpoint failing since %s: disabled", h.FailingSince.Format(time.RFC3339)), time.Second)
	}
	if h.ProbeAt == nil || !h.ProbeAt.After(now) {
		ok, err := a.Store.ClaimProbe(ctx, w.OrgID, w.ID, now, now.Add(probeLease))
		if err != nil {
			return err
		}
		if ok {
			a.Metrics.BreakerProbes.Inc()
			return nil
		}
	}
	a.Metrics.BreakerHeld.Inc()
	wait := maxPoll
	if h.ProbeAt != nil && h.ProbeAt.After(now) {
		wait = min(h.ProbeAt.Sub(now), maxPoll)
	}
	return held(fmt.Sprintf("endpoint failing (%d consecutive failures): waiting behind its probe", h.ConsecutiveFailures), NextDelay(wait, 0, a.Jitter()))
}

// DeliveryHeld is the type of the retryable error of a delivery that was not sent because its
// endpoint is failing.
const DeliveryHeld = "DeliveryHeld"

func held(msg string, delay time.Duration) error {
	return temporal.NewApplicationErrorWithOptions(msg, DeliveryHeld,
		temporal.ApplicationErrorOptions{NextRetryDelay: delay, Category: temporal.ApplicationErrorCategoryBenign})
}

// heldDelay is when a delivery that breaker did not let through looks again: the held error's
// delay, or a second after a store error.
func heldDelay(err error) time.Duration {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.NextRetryDelay() > 0 {
		return appErr.NextRetryDelay()
	}
	return time.Second
}

// overdue reports whether an endpoint with health h has failed with no success for
// WEBHOOK_DISABLE_AFTER at now.
func (a *Activities) overdue(h pcx.EndpointHealth, now time.Time) bool {
	return a.DisableAfter > 0 && h.FailingSince != nil && now.Sub(*h.FailingSince) >= a.DisableAfter
}

// noteHealth records an attempt's result in its endpoint's health, as read before the attempt (w).
// A failure costs one write; a success writes only when it closes a streak of failures or the
// last success is over successEvery old. A 410 writes nothing: it disabled the endpoint, and
// re-enabling resets health. Health is advice, not a record: a write that fails is logged and
// the delivery goes on.
func (a *Activities) noteHealth(ctx context.Context, w *pcx.Webhook, att pcx.Attempt) {
	h, now := w.Health, a.Now()
	log := tracing.LogFields(ctx, a.Log.With()).Str("webhook_id", w.ID).Str("org_id", w.OrgID).Logger()
	switch att.ErrorClass {
	case classGone:
		return
	case "":
		if h.ConsecutiveFailures == 0 && h.LastSuccessAt != nil && now.Sub(*h.LastSuccessAt) < successEvery {
			return
		}
		if err := a.Store.RecordEndpointSuccess(ctx, w.OrgID, w.ID, now); err != nil && pcx.ErrorCode(err) != pcx.ENotFound {
			log.Warn().Err(err).Msg("recording an endpoint's success failed")
			return
		}
		if h.Failing() {
			log.Info().Int("failures", h.ConsecutiveFailures).Msg("endpoint answered again: breaker closed")
		}
		return
	}
	// The next probe follows the retry schedule by how long the streak has gone past the
	// threshold.
	step := a.Schedule[min(max(h.ConsecutiveFailures+1-a.BreakerFailures, 0), len(a.Schedule)-1)]
	nh, err := a.Store.RecordEndpointFailure(ctx, w.OrgID, w.ID, store.EndpointFailure{
		At: now, Threshold: a.BreakerFailures, Known: h.ConsecutiveFailures, NextProbe: now.Add(step),
	})
	if err != nil {
		if pcx.ErrorCode(err) != pcx.ENotFound {
			log.Warn().Err(err).Msg("recording an endpoint's failure failed")
		}
		return
	}
	if nh.Failing() && !h.Failing() {
		a.Metrics.BreakersOpened.Inc()
		log.Warn().Int("failures", nh.ConsecutiveFailures).Msg("endpoint failing: its deliveries wait behind one probe at a time")
	}
	if a.overdue(nh, now) {
		_, _ = a.disable(ctx, w, pcx.DisabledFailing)
	}
}

// disable disables w for reason and, when this call disabled it (not already disabled), counts,
// logs and emits pcx.endpoint.disabled.
func (a *Activities) disable(ctx context.Context, w *pcx.Webhook, reason string) (bool, error) {
	name := pcx.DisabledReasonName(reason)
	// The service disables it itself: its audit record's actor is {"service": <reason>}.
	octx := pcx.WithOrigin(ctx, pcx.Origin{Actor: pcx.Actor{Service: name}})
	rec, err := pcx.NewAuditRecord(octx, w.OrgID, pcx.AuditWebhookDisabled, w.ID, a.Now(), a.AuditRetention)
	if err != nil {
		return false, err
	}
	at, ok, err := a.Store.DisableWebhook(ctx, w.OrgID, w.ID, reason, rec)
	if err != nil {
		a.logger(ctx).Warn().Err(err).Str("webhook_id", w.ID).Str("reason", reason).Msg("disabling an endpoint failed")
		return false, err
	}
	if !ok {
		return false, nil
	}
	a.Metrics.EndpointsDisabled.Inc()
	a.logger(ctx).Warn().Str("webhook_id", w.ID).Str("org_id", w.OrgID).Str("reason", name).Msg("endpoint disabled")
	a.emit(ctx, w.OrgID, pcx.EventEndpointDisabled, endpointDisabled{
		WebhookID: w.ID, EndpointURL: w.URL, Reason: name, DisabledAt: at.UTC().Format(pcx.TimestampLayout),
	})
	return true, nil
}

// endpointDisabled is the data of pcx.endpoint.disabled (contract §8).
type endpointDisabled struct {
	WebhookID   string `json:"webhook_id"`
	EndpointURL string `json:"endpoint_url"`
	Reason      string `json:"reason"`
	DisabledAt  string `json:"disabled_at"`
}

// deliveryExhausted is the data of pcx.delivery.exhausted (contract §8).
type deliveryExhausted struct {
	EventID        string `json:"event_id"`
	EventType      string `json:"event_type"`
	WebhookID      string `json:"webhook_id"`
	Attempts       int    `json:"attempts"`
	LastStatusCode int    `json:"last_status_code"`
	LastError      string `json:"last_error"`
}

// exhausted emits pcx.delivery.exhausted for a delivery that ended failed after sends attempts,
// the last one att. Not for a delivery of an operational event: an endpoint that fails those
// would otherwise be told of its failures without end.
func (a *Activities) exhausted(ctx context.Context, ev *pcx.Event, w *pcx.Webhook, att pcx.Attempt, sends int) {
	if pcx.IsOperationalType(ev.EventType()) {
		return
	}
	a.emit(ctx, ev.OrgID, pcx.EventDeliveryExhausted, deliveryExhausted{
		EventID: ev.ID, EventType: ev.EventType(), WebhookID: w.ID, Attempts: sends,
		LastStatusCode: att.StatusCode, LastError: att.ErrorClass,
	})
}

// emit accepts an operational event. It never fails the delivery that caused it: a failure is
// logged and counted.
func (a *Activities) emit(ctx context.Context, org, eventType string, data any) {
	if a.Emitter == nil {
		return
	}
	b, err := json.Marshal(data)
	if err == nil {
		err = a.Emitter.Emit(ctx, org, eventType, b)
	}
	if err != nil {
		a.Metrics.OperationalEvents.WithLabelValues(eventType, "failed").Inc()
		a.logger(ctx).Warn().Err(err).Str("org_id", org).Str("event_type", eventType).Msg("emitting an operational event failed")
		return
	}
	a.Metrics.OperationalEvents.WithLabelValues(eventType, "emitted").Inc()
}
