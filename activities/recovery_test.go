package activities_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

// fakeWindow is a RecoveryStore over a list of events: it lists them oldest first (the window
// and the type filter are the real store's, tested there), answers the endpoint's delivery
// statuses, and records the progress written.
type fakeWindow struct {
	events   []*pcx.Event
	statuses map[string]pcx.DeliveryStatus
	asked    [][]string
	progress [][2]int
}

func (f *fakeWindow) ListEvents(_ context.Context, _ string, fl store.EventFilter, limit int, after string) ([]*pcx.Event, string, error) {
	if !fl.OldestFirst {
		panic("a recovery lists oldest first")
	}
	i := 0
	for i < len(f.events) && after != "" && f.events[i].ID <= after {
		i++
	}
	page := f.events[i:min(i+limit, len(f.events))]
	next := ""
	if i+limit < len(f.events) {
		next = page[len(page)-1].ID
	}
	return page, next, nil
}

func (f *fakeWindow) DeliveryStatusesTo(_ context.Context, _ string, ids []string) (map[string]pcx.DeliveryStatus, error) {
	f.asked = append(f.asked, ids)
	out := map[string]pcx.DeliveryStatus{}
	for _, id := range ids {
		if s, ok := f.statuses[id]; ok {
			out[id] = s
		}
	}
	return out, nil
}

func (f *fakeWindow) RecordRecoveryProgress(_ context.Context, _, _ string, found, sent int, _ bool) error {
	f.progress = append(f.progress, [2]int{found, sent})
	return nil
}

// A recovery's page keeps the events the endpoint is subscribed to and has not received (no
// record, or one pending, failed or cancelled), oldest first; it skips those it received, those
// of other types and those from before the endpoint existed, and writes the progress so far.
func TestRecoveryPageKeepsWhatTheEndpointLacks(t *testing.T) {
	st := newFakeStore()
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	w := &pcx.Webhook{ID: "wh_1", OrgID: "org", Status: pcx.WebhookActive, EventTypes: []string{"order.*"}, CreatedAt: t0}
	st.addWebhook(w)
	ev := func(i int, typ string, at time.Time) *pcx.Event {
		return &pcx.Event{ID: pcx.NewID("evt", at.Add(time.Duration(i)*time.Millisecond)), OrgID: "org", Type: typ, CreatedAt: at.Add(time.Duration(i) * time.Millisecond)}
	}
	evs := []*pcx.Event{
		ev(0, "order.paid", t0.Add(-time.Hour)), // before the endpoint
		ev(1, "order.paid", t0),                 // delivered
		ev(2, "order.paid", t0),                 // failed
		ev(3, "refund.made", t0),                // not subscribed
		ev(4, "order.paid", t0),                 // no record
		ev(5, "order.shipped", t0),              // cancelled
		ev(6, "order.paid", t0),                 // pending
	}
	win := &fakeWindow{events: evs, statuses: map[string]pcx.DeliveryStatus{
		evs[1].ID: pcx.DeliveryDelivered, evs[2].ID: pcx.DeliveryFailed, evs[5].ID: pcx.DeliveryCancelled, evs[6].ID: pcx.DeliveryPending,
	}}
	acts := newActivities(st, nil)
	acts.Recoveries = win
	in := activities.RecoveryPageInput{OrgID: "org", WebhookID: w.ID, RecoveryID: "rcv_1", Limit: 4, Found: 10, Sent: 7}
	p, err := acts.RecoveryPage(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{evs[2].ID}; !slices.Equal(p.EventIDs, want) || p.Next != evs[3].ID {
		t.Fatalf("first page = %+v, want %v and next %s", p, want, evs[3].ID)
	}
	if want := []string{evs[1].ID, evs[2].ID}; !slices.Equal(win.asked[0], want) {
		t.Fatalf("records read %v, want only the subscribed events since the endpoint %v", win.asked[0], want)
	}
	in.After, in.Found = p.Next, 11
	if p, err = acts.RecoveryPage(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if want := []string{evs[4].ID, evs[5].ID, evs[6].ID}; !slices.Equal(p.EventIDs, want) || p.Next != "" {
		t.Fatalf("last page = %+v, want %v and no next", p, want)
	}
	if want := [][2]int{{11, 7}, {14, 7}}; !slices.Equal(win.progress, want) {
		t.Fatalf("progress written %v, want %v", win.progress, want)
	}

	// A disabled endpoint stops the recovery.
	w.Status = pcx.WebhookDisabled
	st.addWebhook(w)
	if p, err := acts.RecoveryPage(context.Background(), in); err != nil || p.Stopped == "" || p.Next != "" || len(p.EventIDs) > 0 {
		t.Fatalf("page of a disabled endpoint = %+v, %v; want stopped", p, err)
	}
}
