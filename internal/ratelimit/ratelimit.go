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

	mu sync.Mutex
	m  map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// MaxTracked bounds the keys remembered; when full, full buckets (keys that have not spent
// lately) are forgotten first, then all: forgetting a key only ever gives it a full bucket.
const MaxTracked = 100_000

// New returns buckets that refill at perSecond tokens a second up to burst. perSecond <= 0
// returns nil, which limits nothing.
func New(perSecond, burst float64) *Buckets {
	if perSecond <= 0 {
		return nil
	}
	return &Buckets{perSecond: perSecond, burst: max(burst, 1), Now: time.Now, m: map[string]*bucket{}}
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

func (b *Buckets) wait(k *bucket) time.Duration {
	if k == nil || k.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - k.tokens) / b.perSecond * float64(time.Second))
}

func (b *Buckets) spend(key string, k *bucket) {
	if k == nil {
		if len(b.m) >= MaxTracked {
			b.prune()
		}
		k = &bucket{tokens: b.burst, last: b.Now()}
		b.m[key] = k
	}
	k.tokens = max(k.tokens-1, 0)
}

// refill brings key's bucket up to date; nil if key is not tracked (a full bucket).
func (b *Buckets) refill(key string) *bucket {
	k := b.m[key]
	if k == nil {
		return nil
	}
	now := b.Now()
	k.tokens = min(b.burst, k.tokens+now.Sub(k.last).Seconds()*b.perSecond)
	k.last = now
	return k
}

func (b *Buckets) prune() {
	now := b.Now()
	for key, k := range b.m {
		if k.tokens+now.Sub(k.last).Seconds()*b.perSecond >= b.burst {
			delete(b.m, key)
		}
	}
	if len(b.m) >= MaxTracked {
		clear(b.m)
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
