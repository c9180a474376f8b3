package webhooks

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pcx/publicservice/pcx"
)

// fakeRecoveries is an in-memory RecoveryStore: one claim per endpoint, a progress item per
// recovery.
type fakeRecoveries struct {
	mu      sync.Mutex
	claims  map[string]string // webhook → workflow
	created map[string]*pcx.Recovery
}

func (f *fakeRecoveries) ClaimRecovery(_ context.Context, webhookID, workflowID string, at time.Time, over string, _ time.Time) (string, time.Time, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.claims == nil {
		f.claims = map[string]string{}
	}
	if h, ok := f.claims[webhookID]; ok && h != over {
		return h, at.Add(-time.Hour), true, nil
	}
	f.claims[webhookID] = workflowID
	return "", time.Time{}, false, nil
}

func (f *fakeRecoveries) ReleaseRecovery(_ context.Context, webhookID, workflowID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.claims[webhookID] == workflowID {
		delete(f.claims, webhookID)
	}
	return nil
}

func (f *fakeRecoveries) CreateRecovery(_ context.Context, r *pcx.Recovery, _ time.Time, _ *pcx.AuditRecord) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.created == nil {
		f.created = map[string]*pcx.Recovery{}
	}
	f.created[r.ID] = r
	return nil
}

func (f *fakeRecoveries) RecoveryOf(_ context.Context, org, _, id string) (*pcx.Recovery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.created[id]
	if !ok || r.OrgID != org {
		return nil, pcx.Errorf(pcx.ENotFound, "Recovery not found")
	}
	return r, nil
}

// Recover checks its window (since required, within the retention, before until), that the
// endpoint is the caller's (404) and active (409), and lets one recovery of an endpoint run at a
// time (409 while it runs, free once it has finished).
func TestRecover(t *testing.T) {
	s, _, sr := newService()
	rs := &fakeRecoveries{}
	s.Recoveries = rs
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	s.Now = func() time.Time { return now }
	ctx := opCtx
	w, err := s.CreateEndpoint(ctx, "o", NewEndpoint{URL: "https://x/hook"})
	if err != nil {
		t.Fatal(err)
	}
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	tp := func(t time.Time) *time.Time { return &t }
	for _, c := range []struct {
		name  string
		since time.Time
		until *time.Time
		field string
	}{
		{"no since", time.Time{}, nil, "since"},
		{"before the retention", ago(2 * time.Hour), nil, "since"},
		{"in the future", now.Add(time.Minute), nil, "since"},
		{"until before since", ago(time.Minute), tp(ago(2 * time.Minute)), "until"},
		{"until equal to since", ago(time.Minute), tp(ago(time.Minute)), "until"},
	} {
		_, err := s.Recover(ctx, "o", w.ID, c.since, c.until)
		var perr *pcx.Error
		if !errors.As(err, &perr) || perr.Code != pcx.EInvalid || perr.Fields[c.field] == "" {
			t.Fatalf("%s: %v, want 400 on %s", c.name, err, c.field)
		}
	}
	if _, err := s.Recover(ctx, "other", w.ID, ago(time.Minute), nil); code(err) != pcx.ENotFound {
		t.Fatalf("another organisation's endpoint: %v, want 404", err)
	}

	r, err := s.Recover(ctx, "o", w.ID, ago(time.Minute), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.WorkflowID != "webhook-recovery-"+w.ID+"-"+r.ID || r.Until == nil || !r.Until.Equal(now) {
		t.Fatalf("recovery = %+v; want its workflow ID and until now", r)
	}
	if _, ok := sr.started[r.WorkflowID]; !ok {
		t.Fatalf("workflow %s not started", r.WorkflowID)
	}
	if got, err := s.Recovery(ctx, "o", w.ID, r.ID); err != nil || got.ID != r.ID {
		t.Fatalf("Recovery = %+v, %v", got, err)
	}
	if _, err := s.Recover(ctx, "o", w.ID, ago(time.Minute), nil); code(err) != pcx.EConflict {
		t.Fatalf("a second recovery while one runs: %v, want 409", err)
	}
	sr.finish(r.WorkflowID)
	if _, err := s.Recover(ctx, "o", w.ID, ago(time.Minute), nil); err != nil {
		t.Fatalf("a recovery after the first finished: %v", err)
	}

	disabled := pcx.WebhookDisabled
	if _, err := s.UpdateEndpoint(ctx, "o", w.ID, Patch{Status: &disabled}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Recover(ctx, "o", w.ID, ago(time.Minute), nil); code(err) != pcx.EConflict {
		t.Fatalf("a disabled endpoint: %v, want 409", err)
	}
}
