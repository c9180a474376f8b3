package api

import (
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/pcx/publicservice/pcx"
)

// FailureLimiter rate-limits failed authentication per client address with a token bucket:
// each failure takes a token, tokens come back at a steady rate, and an address with none left
// gets 429 with Retry-After before its key is even looked at. Guessing keys, or flooding the
// store with invented prefixes, stays slow; a client that authenticates is never charged.
type FailureLimiter struct {
	perSecond float64
	burst     float64
	now       func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxTracked bounds the addresses remembered; when full, full buckets (clients that have not
// failed lately) are forgotten first, then all.
const maxTracked = 100_000

// NewFailureLimiter allows perMinute failed authentications per address per minute, in bursts of
// up to perMinute. perMinute <= 0 returns nil, which limits nothing.
func NewFailureLimiter(perMinute int) *FailureLimiter {
	if perMinute <= 0 {
		return nil
	}
	return &FailureLimiter{perSecond: float64(perMinute) / 60, burst: float64(perMinute), now: time.Now, buckets: map[string]*bucket{}}
}

// rateLimited is the 429 of an address out of tokens.
type rateLimited struct {
	err  *pcx.Error
	wait time.Duration
}

func (e rateLimited) Error() string          { return e.err.Error() }
func (e rateLimited) Unwrap() error          { return e.err }
func (e rateLimited) RetryAfterSeconds() int { return max(1, int(math.Ceil(e.wait.Seconds()))) }

// check returns a 429 error if addr has no token left.
func (l *FailureLimiter) check(addr string) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(addr)
	if b == nil || b.tokens >= 1 {
		return nil
	}
	wait := time.Duration((1 - b.tokens) / l.perSecond * float64(time.Second))
	return rateLimited{err: pcx.Errorf(pcx.ERateLimited, "Too many failed authentication attempts; retry later"), wait: wait}
}

// fail takes a token from addr.
func (l *FailureLimiter) fail(addr string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.refill(addr)
	if b == nil {
		if len(l.buckets) >= maxTracked {
			l.prune()
		}
		b = &bucket{tokens: l.burst, last: l.now()}
		l.buckets[addr] = b
	}
	b.tokens = max(b.tokens-1, 0)
}

// refill brings addr's bucket up to date; nil if addr is not tracked.
func (l *FailureLimiter) refill(addr string) *bucket {
	b := l.buckets[addr]
	if b == nil {
		return nil
	}
	now := l.now()
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.perSecond)
	b.last = now
	return b
}

func (l *FailureLimiter) prune() {
	now := l.now()
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.perSecond >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxTracked {
		clear(l.buckets)
	}
}

// clientAddr is the address failures are counted against: the connection's peer IP. Behind a
// proxy that is the proxy's, which then shares one budget; deployments behind a load balancer
// should rate-limit at the edge as well.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
