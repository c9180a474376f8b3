package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// fakeResolver maps names to fixed answers so that tests never touch real
// DNS. Unknown names fail like NXDOMAIN.
type fakeResolver struct {
	mu    sync.Mutex
	hosts map[string][]netip.Addr
	calls []string
}

func newFakeResolver(hosts map[string][]string) *fakeResolver {
	f := &fakeResolver{hosts: map[string][]netip.Addr{}}
	for name, addrs := range hosts {
		ips := []netip.Addr{}
		for _, a := range addrs {
			ips = append(ips, netip.MustParseAddr(a))
		}
		f.hosts[name] = ips
	}
	return f
}

func (f *fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, host)
	if network != "ip" {
		return nil, errors.New("fake resolver: want network ip, got " + network)
	}
	ips, ok := f.hosts[strings.TrimSuffix(host, ".")]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return ips, nil
}

func (f *fakeResolver) lookups() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// testHosts is the fake DNS used by the URL tables.
var testHosts = map[string][]string{
	"loopback.example.test":      {"127.0.0.1"},
	"mixed.example.test":         {"93.184.216.34", "10.0.0.5"},
	"metadata.google.internal":   {"169.254.169.254"},
	"private6.example.test":      {"fd00::1"},
	"mapped.example.test":        {"::ffff:10.0.0.1"},
	"empty.example.test":         {},
	"public.example.test":        {"93.184.216.34"},
	"public6.example.test":       {"2606:4700::1111"},
	"dual.example.test":          {"93.184.216.34", "2606:4700::1111"},
	"mappedpublic.example.test":  {"::ffff:93.184.216.34"},
	"xn--bcher-kva.example.test": {"93.184.216.35"},
	"under_score.example.test":   {"93.184.216.36"},
}

func newTestPolicy(allowed ...string) (*Policy, *fakeResolver) {
	res := newFakeResolver(testHosts)
	var prefixes []netip.Prefix
	for _, a := range allowed {
		prefixes = append(prefixes, netip.MustParsePrefix(a))
	}
	return NewPolicy(prefixes, res), res
}

// isURLRule reports whether rule belongs to URLError (else BlockedError).
func isURLRule(rule string) bool {
	_, ok := urlMessages[rule]
	return ok
}

// ruleOf extracts the rule from a *URLError or *BlockedError anywhere in
// err's chain, with a kind prefix so that tests also check the type.
func ruleOf(err error) string {
	var ue *URLError
	if errors.As(err, &ue) {
		return "url:" + ue.Rule
	}
	var be *BlockedError
	if errors.As(err, &be) {
		return "blocked:" + be.Rule
	}
	if err == nil {
		return "<nil>"
	}
	return "other:" + err.Error()
}

func wantRule(rule string) string {
	if isURLRule(rule) {
		return "url:" + rule
	}
	return "blocked:" + rule
}

func requireRule(t *testing.T, err error, rule string) {
	t.Helper()
	if got, want := ruleOf(err), wantRule(rule); got != want {
		t.Fatalf("got error %v (%s), want %s", err, got, want)
	}
}
