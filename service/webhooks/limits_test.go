package webhooks

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/httpx"
	"github.com/pcx/publicservice/internal/ratelimit"
	"github.com/pcx/publicservice/pcx"
)

// clockAt sets the clock of the service and of its limits to a time the test moves.
func clockAt(s *Service, now *time.Time) {
	s.Now = func() time.Time { return *now }
	for _, b := range []*ratelimit.Buckets{s.NotifyLimit, s.ReplayLimit} {
		if b != nil {
			b.Now = s.Now
		}
	}
}

func retryAfter(t *testing.T, err error) int {
	t.Helper()
	var ra httpx.RetryAfter
	if code(err) != pcx.ERateLimited || !errors.As(err, &ra) {
		t.Fatalf("got %v, want a rate-limited error with a Retry-After", err)
	}
	return ra.RetryAfterSeconds()
}

// Past its burst an organisation's notify is refused before anything is stored or started;
// another organisation, and the service's own operational events, are not charged.
func TestNotifyIsRateLimitedPerOrganisation(t *testing.T) {
	s, st, sr := newService()
	s.NotifyLimit = ratelimit.New(1, 2)
	now := time.Unix(1_700_000_000, 0)
	clockAt(s, &now)
	ctx := opCtx
	for i := range 2 {
		if _, err := s.Notify(ctx, NotifyInput{OrgID: "org", Payload: []byte(`{}`)}); err != nil {
			t.Fatalf("notify %d of the burst: %v", i+1, err)
		}
	}
	_, err := s.Notify(ctx, NotifyInput{OrgID: "org", Payload: []byte(`{}`), IdempotencyKey: "k"})
	if secs := retryAfter(t, err); secs != 1 {
		t.Fatalf("Retry-After %d, want 1 (a token a second)", secs)
	}
	if len(st.events) != 2 || len(sr.started) != 2 || len(st.idem) != 0 {
		t.Fatalf("after a refused notify: %d events, %d workflows, %d idempotency records; want 2, 2, 0", len(st.events), len(sr.started), len(st.idem))
	}
	if _, err := s.Notify(ctx, NotifyInput{OrgID: "org-other", Payload: []byte(`{}`)}); err != nil {
		t.Fatalf("another organisation was limited: %v", err)
	}
	if _, err := s.Emit(ctx, "org", pcx.EventEndpointDisabled, []byte(`{}`)); err != nil {
		t.Fatalf("an operational event was limited: %v", err)
	}
	now = now.Add(time.Second)
	if _, err := s.Notify(ctx, NotifyInput{OrgID: "org", Payload: []byte(`{}`)}); err != nil {
		t.Fatalf("a second later a token is back: %v", err)
	}
}

// One replay of an event runs at a time: a second is a conflict while the first runs, and
// allowed once Temporal says it has closed.
func TestReplayOneRunningPerEvent(t *testing.T) {
	s, st, sr := newService()
	now := time.Unix(1_700_000_000, 0)
	clockAt(s, &now)
	ctx := opCtx
	st.active = 1
	acc, _ := s.Notify(ctx, NotifyInput{OrgID: "org", Payload: []byte(`{}`)})
	other, _ := s.Notify(ctx, NotifyInput{OrgID: "org", Payload: []byte(`{}`)})

	first, err := s.Replay(ctx, "org", acc.EventID, nil)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Millisecond)
	started := len(sr.started)
	if _, err := s.Replay(ctx, "org", acc.EventID, nil); code(err) != pcx.EConflict {
		t.Fatalf("replay while one runs = %v, want EConflict", err)
	}
	if len(sr.started) != started {
		t.Fatal("a refused replay started a workflow")
	}
	if _, err := s.Replay(ctx, "org", other.EventID, nil); err != nil {
		t.Fatalf("a replay of another event: %v", err)
	}
	sr.finish(first.WorkflowID)
	now = now.Add(time.Millisecond)
	second, err := s.Replay(ctx, "org", acc.EventID, nil)
	if err != nil || second.WorkflowID == first.WorkflowID {
		t.Fatalf("replay after the first closed = %+v, %v; want a new one", second, err)
	}
	if st.replays[acc.EventID].WorkflowID != second.WorkflowID {
		t.Fatalf("claim %+v, want it moved to %s", st.replays[acc.EventID], second.WorkflowID)
	}
}

// A claim whose workflow Temporal does not know is a replay still starting for
// ReplayStartGrace, then one that died before it started; a start that fails releases its claim.
func TestReplayClaimOfAReplayThatNeverStarted(t *testing.T) {
	s, st, sr := newService()
	now := time.Unix(1_700_000_000, 0)
	clockAt(s, &now)
	ctx := opCtx
	acc, _ := s.Notify(ctx, NotifyInput{OrgID: "org", Payload: []byte(`{}`)})
	st.replays = map[string]pcx.ReplayClaim{acc.EventID: {EventID: acc.EventID, WorkflowID: "webhook-event-x-replay-lost", ClaimedAt: now}}
	now = now.Add(ReplayStartGrace - time.Second)
	if _, err := s.Replay(ctx, "org", acc.EventID, nil); code(err) != pcx.EConflict {
		t.Fatalf("replay beside a claim still starting = %v, want EConflict", err)
	}
	now = now.Add(2 * time.Second)
	rep, err := s.Replay(ctx, "org", acc.EventID, nil)
	if err != nil {
		t.Fatalf("replay beside a claim older than the grace: %v", err)
	}

	sr.finish(rep.WorkflowID)
	sr.err = pcx.Errorf(pcx.EUnavailable, "temporal down")
	if _, err := s.Replay(ctx, "org", acc.EventID, nil); code(err) != pcx.EUnavailable {
		t.Fatalf("replay with Temporal down = %v, want EUnavailable", err)
	}
	if _, held := st.replays[acc.EventID]; held {
		t.Fatalf("a replay that did not start kept its claim %+v", st.replays[acc.EventID])
	}
	sr.err = nil
	if _, err := s.Replay(ctx, "org", acc.EventID, nil); err != nil {
		t.Fatalf("replay once Temporal is back: %v", err)
	}
}

// Of concurrent replays of one event exactly one is accepted.
func TestConcurrentReplaysOneWins(t *testing.T) {
	s, _, sr := newService()
	ctx := opCtx
	acc, _ := s.Notify(ctx, NotifyInput{OrgID: "org", Payload: []byte(`{}`)})
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.Replay(ctx, "org", acc.EventID, nil) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch code(err) {
		case "":
			ok++
		case pcx.EConflict:
		default:
			t.Errorf("replay: %v", err)
		}
	}
	if ok != 1 || len(sr.started) != 2 {
		t.Fatalf("%d replays accepted, %d workflows started; want 1 and 2 (the event's and one replay)", ok, len(sr.started))
	}
}

// ORG_REPLAYS_PER_HOUR: past the burst, 429 until a token is back.
func TestReplayIsRateLimitedPerOrganisation(t *testing.T) {
	s, _, sr := newService()
	s.ReplayLimit = ratelimit.New(2.0/3600, 2)
	now := time.Unix(1_700_000_000, 0)
	clockAt(s, &now)
	ctx := opCtx
	acc, _ := s.Notify(ctx, NotifyInput{OrgID: "org", Payload: []byte(`{}`)})
	for i := range 2 {
		rep, err := s.Replay(ctx, "org", acc.EventID, nil)
		if err != nil {
			t.Fatalf("replay %d: %v", i+1, err)
		}
		sr.finish(rep.WorkflowID)
		now = now.Add(time.Millisecond)
	}
	_, err := s.Replay(ctx, "org", acc.EventID, nil)
	if secs := retryAfter(t, err); secs < 1790 || secs > 1800 {
		t.Fatalf("Retry-After %d, want about 1800 (2 an hour)", secs)
	}
}
