package netguard

import (
	"context"
	"hash/fnv"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

// fuzzPool is what the fuzz resolver answers with: a mix of public and
// blocked addresses, so accepting a URL is only correct if every answer
// was checked.
var fuzzPool = []netip.Addr{
	netip.MustParseAddr("93.184.216.34"),
	netip.MustParseAddr("2606:4700::1111"),
	netip.MustParseAddr("127.0.0.1"),
	netip.MustParseAddr("10.0.0.1"),
	netip.MustParseAddr("::ffff:10.0.0.1"),
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("fd00::1"),
	netip.MustParseAddr("8.8.8.8"),
}

// fuzzResolver answers deterministically from a hash of the name (or from
// testHosts), never touching real DNS, and flags lookups of numeric hosts.
type fuzzResolver struct {
	fixed         *fakeResolver
	numericLookup atomic.Bool
}

func (r *fuzzResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if looksNumeric(host) {
		r.numericLookup.Store(true)
	}
	return fuzzAnswer(ctx, r.fixed, network, host)
}

func fuzzAnswer(ctx context.Context, fixed *fakeResolver, network, host string) ([]netip.Addr, error) {
	if ips, err := fixed.LookupNetIP(ctx, network, host); err == nil {
		return ips, nil
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(host))
	sum := h.Sum32()
	if sum%7 == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	n := 1 + int(sum>>8)%2
	out := make([]netip.Addr, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, fuzzPool[int(sum>>(12+4*i))%len(fuzzPool)])
	}
	return out, nil
}

func FuzzValidateURL(f *testing.F) {
	for _, tc := range blockedURLs {
		f.Add(tc.url)
	}
	for _, raw := range acceptedURLs {
		f.Add(raw)
	}
	for _, raw := range []string{"https://a.example.test/", "https://b.example.test:8443/x", "https://[::ffff:8.8.8.8]/"} {
		f.Add(raw)
	}
	res := &fuzzResolver{fixed: newFakeResolver(testHosts)}
	p := NewPolicy(nil, res)
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := p.ValidateURL(context.Background(), raw)
		if res.numericLookup.Load() {
			t.Fatalf("ValidateURL(%q) sent a numeric host to DNS", raw)
		}
		if err != nil {
			if u != nil {
				t.Fatalf("ValidateURL(%q): got URL %v with error %v, want nil URL", raw, u, err)
			}
			if strings.HasPrefix(ruleOf(err), "other:") {
				t.Fatalf("ValidateURL(%q): got untyped error %v, want *URLError or *BlockedError", raw, err)
			}
			return
		}
		checkAccepted(t, p, res.fixed, raw, u)
	})
}

// checkAccepted asserts the properties every accepted URL must have.
func checkAccepted(t *testing.T, p *Policy, fixed *fakeResolver, raw string, u *url.URL) {
	t.Helper()
	if !strings.EqualFold(u.Scheme, "https") || u.User != nil || len(raw) > MaxURLLength {
		t.Fatalf("ValidateURL(%q) accepted: scheme %q, user info %v, length %d", raw, u.Scheme, u.User != nil, len(raw))
	}
	ip, name, err := classifyHost(u.Hostname(), strings.HasPrefix(u.Host, "["))
	if err != nil {
		t.Fatalf("ValidateURL(%q) accepted a host classifyHost refuses: %v", raw, err)
	}
	ips := []netip.Addr{ip}
	if !ip.IsValid() {
		if isLocalhost(name) {
			t.Fatalf("ValidateURL(%q) accepted a localhost name", raw)
		}
		ips, err = fuzzAnswer(context.Background(), fixed, "ip", name)
		if err != nil {
			t.Fatalf("ValidateURL(%q) accepted a name that does not resolve", raw)
		}
	}
	for _, a := range ips {
		if err := p.CheckAddr(a); err != nil {
			t.Fatalf("ValidateURL(%q) accepted, but %v is refused: %v", raw, a, err)
		}
	}
}
