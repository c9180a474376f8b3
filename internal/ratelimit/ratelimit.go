// Package ratelimit is token buckets by key (a client address, an organisation) in bounded
// memory: each request takes a token, tokens come back at a steady rate up to a burst, and a key
// with none left is told how long to wait. The buckets live in the process: N processes allow N
// times the rate.
package ratelimit

import (
	"math"
	"sync"
	"time"

	"github.com/pcx/publicservice/pcx"
)

// Buckets are the token buckets of one limit. A nil *Buckets limits nothing, so a limit that is
// switched off needs no branch at its call sites.
type Buckets struct {
	perSecond float64
	burst     float64
	// Now is the clock; tests replace it.
	Now func() time.Time

	mu        sync.Mutex
	m         map[string]*bucket
	overflow  bucket    // shared by every key that finds the table full of depleted buckets
	lastPrune time.Time // pruning a full table is a scan: at most once per pruneEvery
}

type bucket struct {
	tokens float64
	last   time.Time
}

// MaxTracked bounds the keys remembered. A bucket is forgotten only once it is full again (the
// key has not spent lately): forgetting it then changes nothing. A bucket that is still depleted
// is never forgotten, or filling the table with new keys would give every old one a fresh burst.
// When the table is full of depleted buckets, every key not in it shares one overflow bucket:
// new keys are treated as one busy key, conservatively, until buckets refill and make room.
// Memory stays at MaxTracked buckets plus the overflow.
const MaxTracked = 100_000

// pruneEvery bounds how often a full table is scanned for refilled buckets, so a flood of new
// keys against a table of depleted ones costs a map lookup each, not a scan each.
const pruneEvery = time.Second

// New returns buckets that refill at perSecond tokens a second up to burst. perSecond <= 0
// returns nil, which limits nothing.
func New(perSecond, burst float64) *Buckets {
	if perSecond <= 0 {
		return nil
	}
	b := &Buckets{perSecond: perSecond, burst: max(burst, 1), Now: time.Now, m: map[string]*bucket{}}
	b.overflow.tokens = b.burst
	return b
}

// Wait returns how long until key has a token, 0 if it has one now. It takes nothing.
func (b *Buckets) Wait(key string) time.Duration {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.wait(b.refill(key))
}

// Take takes a token from key and returns 0, or, when key has none, takes nothing and returns how
// long until it will have one.
func (b *Buckets) Take(key string) time.Duration {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.refill(key)
	if w := b.wait(k); w > 0 {
		return w
	}
	b.spend(key, k)
	return 0
}

// Spend takes a token from key after the fact, down to none: for a limit that charges only what
// turned out to be a failure.
func (b *Buckets) Spend(key string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.spend(key, b.refill(key))
}

// Refund gives back a token taken from key (up to the burst): for a limit that charges ahead
// of work and forgives what turned out not to count.
func (b *Buckets) Refund(key string) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if k := b.refill(key); k != nil {
		k.tokens = min(b.burst, k.tokens+1)
	}
}

func (b *Buckets) wait(k *bucket) time.Duration {
	if k == nil || k.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - k.tokens) / b.perSecond * float64(time.Second))
}

func (b *Buckets) spend(key string, k *bucket) {
	if k == nil {
		k = b.track(key)
	}
	k.tokens = max(k.tokens-1, 0)
}

// track starts a bucket for key, full, or returns the overflow bucket when the table is full of
// depleted buckets.
func (b *Buckets) track(key string) *bucket {
	if len(b.m) >= MaxTracked { // refill has pruned what it could
		return &b.overflow
	}
	k := &bucket{tokens: b.burst, last: b.Now()}
	b.m[key] = k
	return k
}

// refill brings key's bucket up to date; nil if key is not tracked and has a full bucket. A key
// not tracked while the table is full has the overflow bucket.
func (b *Buckets) refill(key string) *bucket {
	k := b.m[key]
	if k == nil {
		if len(b.m) >= MaxTracked {
			b.prune()
		}
		if len(b.m) < MaxTracked {
			return nil
		}
		k = &b.overflow
	}
	now := b.Now()
	if k.last.IsZero() {
		k.last = now
	}
	k.tokens = min(b.burst, k.tokens+now.Sub(k.last).Seconds()*b.perSecond)
	k.last = now
	return k
}

// prune forgets the buckets that are full again, and only those.
func (b *Buckets) prune() {
	now := b.Now()
	if now.Sub(b.lastPrune) < pruneEvery {
		return
	}
	b.lastPrune = now
	for key, k := range b.m {
		if k.tokens+now.Sub(k.last).Seconds()*b.perSecond >= b.burst {
			delete(b.m, key)
		}
	}
}

// Tracked is how many keys are remembered (for tests of the memory bound).
func (b *Buckets) Tracked() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// Error is the 429 of a key out of tokens: it carries the wait as the response's Retry-After.
type Error struct {
	Err  *pcx.Error
	Wait time.Duration
}

// Limited returns the rate-limited error with a caller-safe message and the wait until a token.
func Limited(wait time.Duration, message string) error {
	return Error{Err: pcx.Errorf(pcx.ERateLimited, "%s", message), Wait: wait}
}

func (e Error) Error() string { return e.Err.Error() }
func (e Error) Unwrap() error { return e.Err }

// RetryAfterSeconds is the wait in whole seconds, at least 1 (Retry-After has no fractions).
func (e Error) RetryAfterSeconds() int { return max(1, int(math.Ceil(e.Wait.Seconds()))) }
