package api

import (
	"net"
	"net/http"

	"github.com/pcx/publicservice/internal/ratelimit"
)

// FailureLimiter rate-limits failed authentication per client address with a token bucket:
// each failure takes a token, tokens come back at a steady rate, and an address with none left
// gets 429 with Retry-After before its key is even looked at. Guessing keys, or flooding the
// store with invented prefixes, stays slow; a client that authenticates is never charged.
type FailureLimiter struct {
	buckets *ratelimit.Buckets
}

// NewFailureLimiter allows perMinute failed authentications per address per minute, in bursts of
// up to perMinute. perMinute <= 0 returns nil, which limits nothing.
func NewFailureLimiter(perMinute int) *FailureLimiter {
	if perMinute <= 0 {
		return nil
	}
	return &FailureLimiter{buckets: ratelimit.New(float64(perMinute)/60, float64(perMinute))}
}

// check returns a 429 error if addr has no token left.
func (l *FailureLimiter) check(addr string) error {
	if l == nil {
		return nil
	}
	if wait := l.buckets.Wait(addr); wait > 0 {
		return ratelimit.Limited(wait, "Too many failed authentication attempts; retry later")
	}
	return nil
}

// fail takes a token from addr.
func (l *FailureLimiter) fail(addr string) {
	if l != nil {
		l.buckets.Spend(addr)
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
