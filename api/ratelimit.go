package api

import (
	"net"
	"net/http"
	"net/netip"

	"github.com/pcx/publicservice/internal/ratelimit"
)

// FailureLimiter rate-limits failed authentication per client address with a token bucket:
// each failure takes a token and tokens come back at a steady rate. It never refuses a request
// whose key is valid: the key is checked first and only a failure is charged, so one client
// guessing behind a NAT or a load balancer cannot lock out the working clients that share its
// address. A failure from an address with no token left is answered 429 with Retry-After instead
// of 401, which tells a guesser to slow down and a working client that its address is abused.
// What a guess costs the store is bounded apart from this, globally (AUTH_UNKNOWN_READS_PER_SECOND
// in service/apikeys), since the key has to be looked up before it is known to fail.
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

// fail charges a failed authentication to addr: nil while addr had a token for it (the caller
// answers 401), a 429 error once it has none.
func (l *FailureLimiter) fail(addr string) error {
	if l == nil {
		return nil
	}
	if wait := l.buckets.Take(addr); wait > 0 {
		return ratelimit.Limited(wait, "Too many failed authentication attempts; retry later")
	}
	return nil
}

// clientAddr is the address failures are counted against: the connection's peer IP, an IPv6
// peer by its /64 (one subscriber's allocation, which an attacker can spray at will), an
// IPv4-mapped IPv6 peer as the IPv4 address it is. Behind a proxy that is the proxy's, which then
// shares one budget: its working clients are unaffected (valid keys are never refused), but
// deployments behind a load balancer should rate-limit at the edge as well.
func clientAddr(r *http.Request) string {
	ip, ok := peerIP(r)
	if !ok || ip.Is4() {
		return peerHost(r)
	}
	return netip.PrefixFrom(ip, 64).Masked().String()
}

// peerHost is the connection's peer address as a string: the IP (IPv4-mapped shown as IPv4, no
// zone), or RemoteAddr's host as it is when it is not one. The audit log records it.
func peerHost(r *http.Request) string {
	if ip, ok := peerIP(r); ok {
		return ip.String()
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func peerIP(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap().WithZone(""), true
}
