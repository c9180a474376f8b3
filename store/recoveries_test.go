package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

// A recovery's access: the window listed oldest first, the endpoint's delivery statuses of a set
// of events (absent where it has no record), its progress item (another organisation's is not
// found), and its claim, one per endpoint.
func TestRecoveryAccess(t *testing.T) {
	t.Parallel()
	s, _ := newTableStore(t)
	ctx := testenv.Context(t, time.Minute)
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	var evs []*pcx.Event
	for i := range 5 {
		ev := newEvent("org-a", t0.Add(time.Duration(i)*time.Second), []byte(`{}`))
		if err := s.CreateEvent(ctx, ev, retention, nil); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	pages := listAll(t, ctx, s, "org-a", store.EventFilter{Since: t0.Add(time.Second), OldestFirst: true}, 3)
	want := [][]string{{evs[1].ID, evs[2].ID, evs[3].ID}, {evs[4].ID}}
	if !slices.EqualFunc(pages, want, slices.Equal) {
		t.Fatalf("oldest first = %v, want %v", pages, want)
	}

	ts := targets(1, t0)
	for i, ev := range evs[:4] {
		recs := firstAttempts(ts, t0)
		recs[0] = firstAttempts(targets(4, t0), t0)[i] // delivered, pending, failed, cancelled
		recs[0].WebhookID, recs[0].EndpointURL = ts[0].ID, ts[0].URL
		if err := s.RecordFirstAttempts(ctx, ev, recs, t0.Add(retention)); err != nil {
			t.Fatal(err)
		}
	}
	ids := []string{evs[0].ID, evs[1].ID, evs[2].ID, evs[3].ID, evs[4].ID}
	got, err := s.DeliveryStatusesTo(ctx, ts[0].ID, ids)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus := map[string]pcx.DeliveryStatus{evs[0].ID: pcx.DeliveryDelivered, evs[1].ID: pcx.DeliveryPending, evs[2].ID: pcx.DeliveryFailed, evs[3].ID: pcx.DeliveryCancelled}
	if len(got) != len(wantStatus) {
		t.Fatalf("statuses = %v, want %v", got, wantStatus)
	}
	for id, st := range wantStatus {
		if got[id] != st {
			t.Fatalf("status of %s = %q, want %q", id, got[id], st)
		}
	}

	until := t0.Add(time.Hour)
	r := &pcx.Recovery{ID: pcx.NewID("rcv", t0), OrgID: "org-a", WebhookID: ts[0].ID, WorkflowID: "wf-r", Since: t0, Until: &until, CreatedAt: t0}
	if err := s.CreateRecovery(ctx, r, time.Now().Add(time.Hour), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordRecoveryProgress(ctx, r.WebhookID, r.ID, 4, 3, true); err != nil {
		t.Fatal(err)
	}
	rec, err := s.RecoveryOf(ctx, "org-a", r.WebhookID, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Status != pcx.RecoveryCompleted || rec.EventsFound != 4 || rec.EventsSent != 3 || !rec.Since.Equal(t0) || rec.Until == nil || !rec.Until.Equal(until) || rec.WorkflowID != "wf-r" {
		t.Fatalf("recovery = %+v", rec)
	}
	if _, err := s.RecoveryOf(ctx, "org-b", r.WebhookID, r.ID); pcx.ErrorCode(err) != pcx.ENotFound {
		t.Fatalf("another organisation's recovery: %v, want not found", err)
	}
	if err := s.RecordRecoveryProgress(ctx, r.WebhookID, "rcv_missing", 1, 1, false); pcx.ErrorCode(err) != pcx.ENotFound {
		t.Fatalf("progress of a missing recovery: %v, want not found", err)
	}

	now := time.Now().UTC().Truncate(time.Millisecond)
	if _, _, held, err := s.ClaimRecovery(ctx, r.WebhookID, "wf-1", now, "", now.Add(time.Hour)); held || err != nil {
		t.Fatalf("first claim: held %v, %v", held, err)
	}
	holder, at, held, err := s.ClaimRecovery(ctx, r.WebhookID, "wf-2", now, "", now.Add(time.Hour))
	if !held || err != nil || holder != "wf-1" || !at.Equal(now) {
		t.Fatalf("second claim = %q %s %v %v; want held by wf-1", holder, at, held, err)
	}
	if _, _, held, err := s.ClaimRecovery(ctx, "wh_other", "wf-3", now, "", now.Add(time.Hour)); held || err != nil {
		t.Fatalf("another endpoint's claim: held %v, %v", held, err)
	}
	if _, _, held, err := s.ClaimRecovery(ctx, r.WebhookID, "wf-2", now, "wf-1", now.Add(time.Hour)); held || err != nil {
		t.Fatalf("claim over a finished holder: held %v, %v", held, err)
	}
	if err := s.ReleaseRecovery(ctx, r.WebhookID, "wf-2"); err != nil {
		t.Fatal(err)
	}
	if _, _, held, err := s.ClaimRecovery(ctx, r.WebhookID, "wf-4", now, "", now.Add(time.Hour)); held || err != nil {
		t.Fatalf("claim after release: held %v, %v", held, err)
	}
}
