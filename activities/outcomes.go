package activities

import (
	"context"
	"time"

	"github.com/pcx/publicservice/pcx"
)

// ReadOutcomesInput names the deliveries of a chunk whose DeliverBatch ended without returning
// its outcomes (it timed out, its worker died): it may have sent some or all of them.
type ReadOutcomesInput struct {
	EventID    string
	OrgID      string
	WebhookIDs []string
	// Since is when the workflow's run began: only attempts from then on are this run's. A
	// replay's endpoints have records of the event's earlier runs.
	Since time.Time
}

// RecordedOutcome is where a delivery stands by its record, for this run.
type RecordedOutcome struct {
	WebhookID string
	// Status is final (delivered, failed, cancelled) or pending: the delivery continues as a
	// durable Deliver after RetryDelay, with Sent sends of the schedule used.
	Status     pcx.DeliveryStatus
	Sent       int           `json:",omitempty"`
	RetryDelay time.Duration `json:",omitempty"`
}

// ReadOutcomesResult lists the chunk's deliveries in the order of the input's IDs.
type ReadOutcomesResult struct {
	Outcomes []RecordedOutcome
}

// ReadOutcomes reads the records of a chunk's deliveries after its batch ended without returning,
// so the workflow continues durably only what has no outcome, with the sends already made
// counted: a batch never re-sends what it sent and recorded. A delivery with no attempt of this
// run recorded is pending with no send used (its next send is its first). An attempt whose
// worker clock ran behind the run's start counts as another run's: it is sent again, the safe
// side of at least once.
func (a *Activities) ReadOutcomes(ctx context.Context, in ReadOutcomesInput) (ReadOutcomesResult, error) {
	if _, err := a.eventOf(ctx, in.EventID, in.OrgID); err != nil {
		return ReadOutcomesResult{}, err
	}
	recs, err := a.Store.DeliveriesOf(ctx, in.EventID, in.WebhookIDs)
	if err != nil {
		return ReadOutcomesResult{}, err
	}
	res := ReadOutcomesResult{Outcomes: make([]RecordedOutcome, len(in.WebhookIDs))}
	for i, id := range in.WebhookIDs {
		o := RecordedOutcome{WebhookID: id, Status: pcx.DeliveryPending}
		d := recs[id]
		if d != nil {
			o.Sent = sentSince(d, in.Since)
		}
		switch {
		case o.Sent == 0:
		case d.Status != pcx.DeliveryPending:
			o.Status = d.Status
		default:
			o.RetryDelay = a.retryDelay(o.Sent)
		}
		res.Outcomes[i] = o
	}
	return res, nil
}

// sentSince counts the attempts of d's log made at or after since.
func sentSince(d *pcx.Delivery, since time.Time) int {
	n := 0
	for _, att := range d.Log {
		if !att.At.Before(since) {
			n++
		}
	}
	return n
}

// retryDelay is the wait before the send after the sent-th, as the schedule has it (with jitter).
func (a *Activities) retryDelay(sent int) time.Duration {
	if len(a.Schedule) == 0 {
		return time.Second
	}
	return NextDelay(a.Schedule[min(sent, len(a.Schedule))-1], 0, a.Jitter())
}
