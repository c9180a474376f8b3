package ratelimit

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/httpx"
	"github.com/pcx/publicservice/pcx"
)

func TestTakeRefillsAtTheRateUpToTheBurst(t *testing.T) {
	now := time.Unix(1000, 0)
	b := New(2, 4) // a token every 500ms, bursts of 4
	b.Now = func() time.Time { return now }
	for i := range 4 {
		if w := b.Take("org-a"); w != 0 {
			t.Fatalf("take %d of the burst: wait %v, want none", i+1, w)
		}
	}
	if w := b.Take("org-a"); w != 500*time.Millisecond {
		t.Fatalf("take past the burst: wait %v, want 500ms", w)
	}
	if w := b.Take("org-b"); w != 0 {
		t.Fatalf("another key waited %v", w)
	}
	now = now.Add(250 * time.Millisecond)
	if w := b.Wait("org-a"); w != 250*time.Millisecond {
		t.Fatalf("after 250ms: wait %v, want 250ms", w)
	}
	now = now.Add(250 * time.Millisecond)
	if w := b.Take("org-a"); w != 0 {
		t.Fatalf("after 500ms a token is back, got wait %v", w)
	}
	if w := b.Take("org-a"); w == 0 {
		t.Fatal("the refilled token was taken twice")
	}
	now = now.Add(time.Hour)
	for i := range 4 {
		if w := b.Take("org-a"); w != 0 {
			t.Fatalf("after an hour, take %d: wait %v; the bucket holds the burst at most, and at least it", i+1, w)
		}
	}
	if w := b.Take("org-a"); w == 0 {
		t.Fatal("an hour's rest filled the bucket past its burst")
	}
}

func TestNilLimitsNothing(t *testing.T) {
	b := New(0, 10)
	if b != nil {
		t.Fatal("a rate of 0 must switch the limit off (nil)")
	}
	b.Spend("x")
	if b.Take("x") != 0 || b.Wait("x") != 0 {
		t.Fatal("nil buckets limited")
	}
}

func TestMemoryIsBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	b := New(1, 1)
	b.Now = func() time.Time { return now }
	b.Take("busy")
	now = now.Add(time.Hour) // "busy" is full again: forgettable
	for i := range MaxTracked + 10 {
		b.Spend(fmt.Sprint("k", i))
	}
	if n := b.Tracked(); n > MaxTracked {
		t.Fatalf("%d keys tracked, want at most %d", n, MaxTracked)
	}
}

func TestErrorIsA429WithWholeSeconds(t *testing.T) {
	for _, tc := range []struct {
		wait time.Duration
		want int
	}{{5 * time.Millisecond, 1}, {time.Second, 1}, {1001 * time.Millisecond, 2}, {90 * time.Second, 90}} {
		err := Limited(tc.wait, "slow down")
		var ra httpx.RetryAfter
		if !errors.As(err, &ra) || ra.RetryAfterSeconds() != tc.want {
			t.Errorf("wait %v: Retry-After %v, want %d", tc.wait, ra, tc.want)
		}
		if pcx.ErrorCode(err) != pcx.ERateLimited || httpx.StatusOf(pcx.ErrorCode(err)) != 429 || pcx.ErrorMessage(err) != "slow down" {
			t.Errorf("wait %v: code %s message %q, want rate_limited (429) with the message", tc.wait, pcx.ErrorCode(err), pcx.ErrorMessage(err))
		}
	}
}

// Filling the table with new keys must not forget a key that is still out of tokens (it would
// come back with a full burst), and the new keys beyond the table are limited together.
func TestAFullTableForgetsNoDepletedBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	b := New(1, 1)
	b.Now = func() time.Time { return now }
	b.Spend("attacker") // depleted: a token back in 1s
	for i := range MaxTracked - 1 {
		b.Spend(fmt.Sprint("k", i))
	}
	for i := range 10 {
		b.Spend(fmt.Sprint("new", i))
	}
	if w := b.Wait("attacker"); w == 0 {
		t.Fatal("a depleted bucket was forgotten when the table filled: its key has a full burst again")
	}
	if w := b.Take("fresh"); w == 0 {
		t.Fatal("with the table full of depleted buckets, a new key got a token of its own; want the shared overflow bucket, spent by the new keys before it")
	}
	if n := b.Tracked(); n > MaxTracked {
		t.Fatalf("%d keys tracked, want at most %d", n, MaxTracked)
	}
	now = now.Add(2 * time.Second) // every bucket refilled: forgettable, room again
	if w := b.Take("fresh"); w != 0 {
		t.Fatalf("after the buckets refilled, a new key waits %v, want a token of its own", w)
	}
	if n := b.Tracked(); n != 1 {
		t.Fatalf("%d keys tracked after the refilled ones were forgotten, want 1", n)
	}
}

func TestRefundGivesATokenBackUpToTheBurst(t *testing.T) {
	now := time.Unix(1000, 0)
	b := New(1, 2)
	b.Now = func() time.Time { return now }
	b.Take("k")
	b.Take("k")
	if b.Wait("k") == 0 {
		t.Fatal("two takes of a burst of 2 left a token")
	}
	b.Refund("k")
	if w := b.Take("k"); w != 0 {
		t.Fatalf("after a refund, wait %v, want a token", w)
	}
	b.Refund("k")
	b.Refund("k")
	b.Refund("k")
	b.Take("k")
	b.Take("k")
	if b.Wait("k") == 0 {
		t.Fatal("refunds filled the bucket past its burst")
	}
}
