package store_test

import (
	"sync"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
)

// The replay claim is one item per event: the first claim takes it, a second learns the holder and
// writes nothing, a claim over the holder replaces it only while it still holds, a release frees
// it, and a claim past its TTL counts as absent.
func TestClaimReplay(t *testing.T) {
	t.Parallel()
	s, tb := newTableStore(t)
	ctx := testenv.Context(t, time.Minute)
	now := time.Now().UTC().Truncate(time.Millisecond)
	s.Now = func() time.Time { return now }
	evt := pcx.NewID("evt", now)
	claim := func(wf string) pcx.ReplayClaim { return pcx.ReplayClaim{EventID: evt, WorkflowID: wf, ClaimedAt: now} }
	expires := now.Add(time.Hour)

	if h, err := s.ClaimReplay(ctx, claim("wf-1"), "", expires, nil); h != nil || err != nil {
		t.Fatalf("first claim = %+v, %v; want nil, nil", h, err)
	}
	raw := tb.item(t, ctx, "EVT#"+evt, "REPLAY")
	if got, want := ttlOf(t, raw), unix(expires); got != want {
		t.Fatalf("claim ttl = %s, want %s", got, want)
	}
	h, err := s.ClaimReplay(ctx, claim("wf-2"), "", expires, nil)
	if err != nil || h == nil || h.WorkflowID != "wf-1" || !h.ClaimedAt.Equal(now) {
		t.Fatalf("second claim = %+v, %v; want the holder wf-1 claimed at %v", h, err, now)
	}
	// Over a holder that is not the holder: refused, and the real holder named.
	if h, err := s.ClaimReplay(ctx, claim("wf-3"), "wf-0", expires, nil); err != nil || h == nil || h.WorkflowID != "wf-1" {
		t.Fatalf("claim over a stale holder = %+v, %v; want the holder wf-1", h, err)
	}
	if h, err := s.ClaimReplay(ctx, claim("wf-3"), "wf-1", expires, nil); h != nil || err != nil {
		t.Fatalf("claim over wf-1 = %+v, %v; want it taken", h, err)
	}
	// Releasing another workflow's claim does nothing; releasing its own frees the event.
	if err := s.ReleaseReplay(ctx, evt, "wf-1"); err != nil {
		t.Fatal(err)
	}
	if h, _ := s.ClaimReplay(ctx, claim("wf-4"), "", expires, nil); h == nil || h.WorkflowID != "wf-3" {
		t.Fatalf("after wf-1's release the holder = %+v, want still wf-3", h)
	}
	if err := s.ReleaseReplay(ctx, evt, "wf-3"); err != nil {
		t.Fatal(err)
	}
	if tb.item(t, ctx, "EVT#"+evt, "REPLAY") != nil {
		t.Fatal("the released claim is still stored")
	}
	if h, err := s.ClaimReplay(ctx, claim("wf-5"), "", now.Add(time.Second), nil); h != nil || err != nil {
		t.Fatalf("claim after release = %+v, %v", h, err)
	}
	now = now.Add(2 * time.Second)
	if h, err := s.ClaimReplay(ctx, claim("wf-6"), "", expires, nil); h != nil || err != nil {
		t.Fatalf("claim over an expired one = %+v, %v; want it taken", h, err)
	}
	// The event and its deliveries do not see the claim in their partition.
	if _, _, err := s.ListDeliveries(ctx, evt, 10, ""); err != nil {
		t.Fatal(err)
	}
}

// Of concurrent claims of a free event, or over the same finished holder, exactly one wins.
func TestClaimReplayConcurrent(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	now := time.Now().UTC().Truncate(time.Millisecond)
	evt := pcx.NewID("evt", now)
	race := func(over string) (winners int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				h, err := s.ClaimReplay(ctx, pcx.ReplayClaim{EventID: evt, WorkflowID: over + "-next-" + string(rune('a'+i)), ClaimedAt: now}, over, now.Add(time.Hour), nil)
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if h == nil {
					winners++
				}
			})
		}
		wg.Wait()
		return winners
	}
	if n := race(""); n != 1 {
		t.Fatalf("%d of 8 concurrent claims of a free event won, want 1", n)
	}
	h, _ := s.ClaimReplay(ctx, pcx.ReplayClaim{EventID: evt, WorkflowID: "probe", ClaimedAt: now}, "", now.Add(time.Hour), nil)
	if n := race(h.WorkflowID); n != 1 {
		t.Fatalf("%d of 8 concurrent claims over one finished holder won, want 1", n)
	}
}
