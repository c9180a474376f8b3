package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

// RecoveryStore is what a recovery's activities need from storage besides Store.
type RecoveryStore interface {
	ListEvents(ctx context.Context, org string, f store.EventFilter, limit int, after string) ([]*pcx.Event, string, error)
	DeliveryStatusesTo(ctx context.Context, webhookID string, eventIDs []string) (map[string]pcx.DeliveryStatus, error)
	RecordRecoveryProgress(ctx context.Context, webhookID, id string, found, sent int, done bool) error
}

// RecoveryPageInput asks for the next page of a recovery's window.
type RecoveryPageInput struct {
	OrgID, WebhookID, RecoveryID string
	// Since and Until are the window, Since included, Until excluded.
	Since, Until time.Time
	// After is the last event ID of the window already looked at; "" from the start.
	After string
	Limit int
	// Found and Sent are the recovery's totals so far, written as its progress.
	Found, Sent int
}

// RecoveryPage is one page of a recovery's window.
type RecoveryPage struct {
	// EventIDs are the page's events the endpoint is subscribed to and has not received (no
	// record, or one pending, failed or cancelled), oldest first.
	EventIDs []string `json:",omitempty"`
	// Next is the position after this page; "" once the window is done, or the endpoint is gone
	// or no longer active (Stopped says which).
	Next    string `json:",omitempty"`
	Stopped string `json:",omitempty"`
}

// RecoveryPage lists the next page of a recovery's window, oldest first, and keeps what the
// endpoint needs. It costs one query of the organisation's event list (entries of a few hundred
// bytes), one read of the endpoint and one consistent read per event of the endpoint's delivery
// records; it writes the progress so far, with this page's events counted as found.
func (a *Activities) RecoveryPage(ctx context.Context, in RecoveryPageInput) (RecoveryPage, error) {
	w, err := a.Store.Webhook(ctx, in.OrgID, in.WebhookID)
	switch {
	case pcx.ErrorCode(err) == pcx.ENotFound:
		return RecoveryPage{Stopped: "endpoint deleted"}, nil
	case err != nil:
		return RecoveryPage{}, err
	case w.Status != pcx.WebhookActive:
		return RecoveryPage{Stopped: "endpoint disabled"}, nil
	}
	evs, next, err := a.Recoveries.ListEvents(ctx, in.OrgID, store.EventFilter{Since: in.Since, Until: in.Until, OldestFirst: true}, in.Limit, in.After)
	if err != nil {
		return RecoveryPage{}, err
	}
	var candidates []string
	for _, ev := range evs {
		// An event from before the endpoint existed was never its to receive.
		if !ev.CreatedAt.Before(w.CreatedAt) && pcx.NewTypeMatcher(ev.EventType()).Subscribed(w.EventTypes) {
			candidates = append(candidates, ev.ID)
		}
	}
	statuses, err := a.Recoveries.DeliveryStatusesTo(ctx, in.WebhookID, candidates)
	if err != nil {
		return RecoveryPage{}, err
	}
	page := RecoveryPage{Next: next}
	for _, id := range candidates {
		if statuses[id] != pcx.DeliveryDelivered {
			page.EventIDs = append(page.EventIDs, id)
		}
	}
	if err := a.Recoveries.RecordRecoveryProgress(ctx, in.WebhookID, in.RecoveryID, in.Found+len(page.EventIDs), in.Sent, false); err != nil {
		return RecoveryPage{}, err
	}
	return page, nil
}

// RecoveryProgressInput is a recovery's totals.
type RecoveryProgressInput struct {
	WebhookID, RecoveryID string
	Found, Sent           int
	Done                  bool
}

// RecordRecoveryProgress writes a recovery's totals (completed when Done).
func (a *Activities) RecordRecoveryProgress(ctx context.Context, in RecoveryProgressInput) error {
	err := a.Recoveries.RecordRecoveryProgress(ctx, in.WebhookID, in.RecoveryID, in.Found, in.Sent, in.Done)
	if pcx.ErrorCode(err) == pcx.ENotFound {
		return temporal.NewNonRetryableApplicationError("the recovery's record is gone", "RecoveryNotFound", err)
	}
	return err
}
