package activities

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/pcx/publicservice/internal/config"
	"github.com/pcx/publicservice/internal/metrics"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

// BatchInput names the first attempts of a chunk of one event's deliveries.
type BatchInput struct {
	EventID    string
	OrgID      string
	WebhookIDs []string
}

// Outcome is how a delivery's first attempt ended.
type Outcome struct {
	WebhookID string
	// Status is final (delivered, failed, cancelled) or pending: the delivery is retried after
	// RetryDelay by the durable Deliver activity.
	Status     pcx.DeliveryStatus
	RetryDelay time.Duration `json:",omitempty"`
	// Unsent marks a pending delivery the batch did not send at all (no send slot came free in
	// time): its retry is its first send.
	Unsent bool `json:",omitempty"`
}

// BatchResult is the outcome of a batch of first attempts.
type BatchResult struct {
	Outcomes []Outcome
	// Unrecorded holds the records the store did not take; the workflow writes them with
	// RecordOutcomes, so nothing is sent twice just to record it.
	// They carry IDs and attempt data only, never secrets.
	Unrecorded []pcx.Delivery `json:",omitempty"`
}

// DeliverBatch makes the first attempt of a chunk of deliveries at once: it reads the event and
// the endpoints in one batched read, sends every POST concurrently, and records every outcome
// with conditional writes that never overwrite a newer record. The workflow runs it as a local
// activity, so a first attempt costs no round trip through Temporal's task queues; only failed
// deliveries continue as durable activities on the retry schedule.
//
// A batch of a workflow task that never completed (its worker was killed, or the task timed out)
// runs again in the same run: what that earlier batch recorded is returned as recorded, not sent
// again (recordedOutcome). A replay or a reset is a new run and sends to every endpoint.
//
// It returns an error only when nothing was sent (the store did not answer); once anything was
// sent it returns the outcomes before its deadline, with the records it could not write
// (Unrecorded). A batch that ends otherwise (it timed out, its worker died) may have sent: the
// workflow reads the chunk's records (ReadOutcomes) and continues durably only what has no
// outcome. It is never retried locally.
func (a *Activities) DeliverBatch(ctx context.Context, in BatchInput) (BatchResult, error) {
	ev, err := a.eventOf(ctx, in.EventID, in.OrgID)
	if err != nil {
		return BatchResult{}, err
	}
	run := runOf(ctx)
	recorded, err := a.Store.RecordedByRun(ctx, ev.ID, run, in.WebhookIDs)
	if err != nil {
		return BatchResult{}, err
	}
	hooks, ok := a.handoff.take(in.EventID, in.WebhookIDs)
	if !ok {
		if hooks, err = a.Store.WebhooksWithSecrets(ctx, in.OrgID, in.WebhookIDs); err != nil {
			return BatchResult{}, err
		}
	}
	res := BatchResult{Outcomes: make([]Outcome, len(in.WebhookIDs))}
	recs := make([]pcx.Delivery, len(in.WebhookIDs))
	// Waiting for a send slot counts against the local activity's timeout; past this budget a
	// delivery is handed to the durable path unsent rather than risk the whole batch timing out
	// after some of its POSTs went out.
	slotCtx, cancel := context.WithTimeout(ctx, slotBudget)
	defer cancel()
	// Sends end in time for the record write, which ends in time to return: once anything was
	// sent, the batch returns its outcomes rather than time out (and be sent again).
	sendCtx, cancelSends := beforeDeadline(ctx, recordReserve)
	defer cancelSends()
	var wg sync.WaitGroup
	for i, id := range in.WebhookIDs {
		w := hooks[id]
		switch {
		case recorded[id] != nil:
			res.Outcomes[i] = a.recordedOutcome(recorded[id])
		case w == nil:
			res.Outcomes[i], recs[i] = a.cancelled(id, "", pcx.CancelledEndpointDeleted)
		case w.Status != pcx.WebhookActive:
			res.Outcomes[i], recs[i] = a.cancelled(id, w.URL, pcx.CancelledEndpointDisabled)
		case w.Undeliverable != "":
			recs[i] = undeliverable(w)
			res.Outcomes[i] = Outcome{WebhookID: id, Status: pcx.DeliveryFailed}
			a.noteUndeliverable(ev.ID, in.OrgID, w)
		default:
			wg.Go(func() { res.Outcomes[i], recs[i] = a.firstAttempt(sendCtx, slotCtx, ev, w) })
		}
	}
	wg.Wait()
	if len(recorded) > 0 {
		a.logger(ctx).Info().Str("event_id", ev.ID).Int("deliveries", len(recorded)).Msg("first attempts this run recorded already; not sent again")
	}
	// Every outcome that has a record to write: not the unsent, whose retry is their first send,
	// nor those recorded already.
	done := make([]pcx.Delivery, 0, len(recs))
	for _, r := range recs {
		if r.WebhookID != "" {
			r.Run = run
			done = append(done, r)
		}
	}
	recCtx, cancelRecord := beforeDeadline(ctx, returnMargin)
	defer cancelRecord()
	if err := a.Store.RecordFirstAttempts(recCtx, ev, done, a.expires(ev)); err != nil {
		a.logger(ctx).Warn().Err(err).Str("event_id", ev.ID).Int("deliveries", len(recs)).Msg("recording first attempts failed; the workflow will retry it")
		res.Unrecorded = done
	}
	return res, nil
}

// The budget of an attempt (DeliverBatch, Deliver) against its deadline, config.AttemptTimeout
// (90s): the wait for a send slot (slotBudget, 30s), the send (WEBHOOK_TIMEOUT, at most 45s) and
// the store's work (config.StoreMargin, 15s), each store call bounded by store.CallTimeout (5s).
// Once anything was sent the attempt must return its outcomes, recorded or not, before the
// deadline: an attempt that times out is run again and sends again.
const (
	// returnMargin is kept between the end of the record write and the deadline, to return.
	returnMargin = 2 * time.Second
	// recordReserve is kept between the end of the sends and the deadline: one round of record
	// writes and the return.
	recordReserve = store.CallTimeout + returnMargin
)

// beforeDeadline returns ctx ending margin before ctx's deadline. A deadline too close for the
// margin (only tests set one) is left as it is, and so is a ctx without one.
func beforeDeadline(ctx context.Context, margin time.Duration) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) > 2*margin {
		return context.WithDeadline(ctx, dl.Add(-margin))
	}
	return context.WithCancel(ctx)
}

// runOf is the run ID of the workflow whose batch this is; "" outside an activity (no run: nothing
// is skipped and no run recorded).
func runOf(ctx context.Context) string {
	if !activity.IsActivity(ctx) {
		return ""
	}
	return activity.GetInfo(ctx).WorkflowExecution.RunID
}

// recordedOutcome is the outcome of a first attempt that an earlier batch of this run recorded.
// A final status is final. A failed attempt is retried as that batch asked: the retry is send 2
// (the workflow counts the recorded send), due the schedule's first delay after the attempt (a
// receiver's Retry-After is not recorded, so the schedule's delay stands in for it).
func (a *Activities) recordedOutcome(d *pcx.Delivery) Outcome {
	out := Outcome{WebhookID: d.WebhookID, Status: d.Status}
	if d.Status != pcx.DeliveryPending {
		return out
	}
	out.RetryDelay = NextDelay(a.Schedule[0], 0, a.Jitter())
	if d.LastAttemptAt != nil {
		out.RetryDelay = max(out.RetryDelay-a.Now().Sub(*d.LastAttemptAt), 0)
	}
	return out
}

// slotBudget is how long a delivery may wait for a send slot (MaxInFlight): the configuration's
// own figure, so the WEBHOOK_TIMEOUT it accepts fits in an attempt with it.
const slotBudget = config.SlotWait

func (a *Activities) cancelled(id, url, reason string) (Outcome, pcx.Delivery) {
	a.Metrics.Deliveries.WithLabelValues(string(pcx.DeliveryCancelled)).Inc()
	return Outcome{WebhookID: id, Status: pcx.DeliveryCancelled},
		pcx.Delivery{WebhookID: id, EndpointURL: url, Status: pcx.DeliveryCancelled, Reason: reason}
}

// firstAttempt sends to one endpoint and decides what comes next, as Deliver does for send 1.
// slotCtx bounds the wait for a send slot.
func (a *Activities) firstAttempt(ctx, slotCtx context.Context, ev *pcx.Event, w *pcx.Webhook) (Outcome, pcx.Delivery) {
	// Held behind a failing endpoint's probe: its durable Deliver makes the first send.
	if err := a.breaker(ctx, w); err != nil {
		a.stillPending(ctx, ev, w.ID, heldDelay(err), unsentCause(err))
		return Outcome{WebhookID: w.ID, Status: pcx.DeliveryPending, RetryDelay: heldDelay(err), Unsent: true}, pcx.Delivery{}
	}
	release, ok := a.acquire(slotCtx, ev.OrgID, w, false)
	if !ok {
		a.stillPending(ctx, ev, w.ID, time.Second, metrics.PendingWorker)
		return Outcome{WebhookID: w.ID, Status: pcx.DeliveryPending, RetryDelay: time.Second, Unsent: true}, pcx.Delivery{}
	}
	att, retryAfter := a.send(ctx, ev, w, 1)
	release()
	a.observe(att)
	a.paced(w, att)
	status, retry := a.decide(ctx, w, att, 1)
	a.noteHealth(ctx, w, att)
	if status == pcx.DeliveryFailed {
		a.exhausted(ctx, ev, w, att, 1)
	}
	out := Outcome{WebhookID: w.ID, Status: status}
	if retry {
		out.RetryDelay = NextDelay(a.Schedule[0], retryAfter, a.Jitter())
		a.Metrics.RetriesScheduled.Inc()
		a.stillPending(ctx, ev, w.ID, out.RetryDelay, metrics.PendingEndpoint)
	} else {
		a.Metrics.Deliveries.WithLabelValues(string(status)).Inc()
		if status == pcx.DeliveryDelivered {
			a.delivered(ctx, ev, att, 1)
		}
	}
	return out, pcx.Delivery{WebhookID: w.ID, EndpointURL: w.URL, Status: status, Attempt: &att}
}

// RecordOutcomes writes records that DeliverBatch could not; retried until it succeeds. It
// refuses an event of another organisation than its input names, as every activity does. Inputs
// scheduled by workflows that started before OrgID was added name none; those records come from
// a DeliverBatch of the same event that checked the organisation already, and are written as
// before.
func (a *Activities) RecordOutcomes(ctx context.Context, in RecordOutcomesInput) error {
	var ev *pcx.Event
	var err error
	if in.OrgID == "" {
		ev, err = a.event(ctx, in.EventID)
	} else {
		ev, err = a.eventOf(ctx, in.EventID, in.OrgID)
	}
	if err != nil {
		return err
	}
	return a.Store.RecordFirstAttempts(ctx, ev, in.Records, a.expires(ev))
}

// RecordOutcomesInput carries the records to write. OrgID is the workflow input's organisation;
// it is part of the activity's input only (a replay matches a scheduled activity by its ID and
// type), so adding it changed no workflow's commands.
type RecordOutcomesInput struct {
	EventID string
	OrgID   string `json:",omitempty"`
	Records []pcx.Delivery
}
