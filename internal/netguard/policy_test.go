package netguard

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

type blockedCase struct {
	name string
	url  string
	rule string
}

// blockedURLs must all be refused by ValidateURL with the given rule, using
// a policy with no allowed ranges and the fake resolver over testHosts.
var blockedURLs = []blockedCase{
	// IPv4 special-purpose ranges.
	{"v4 unspecified", "https://0.0.0.0/", RuleUnspecified},
	{"v4 this network", "https://0.1.2.3/", RuleUnspecified},
	{"v4 10/8 low", "https://10.0.0.1/", RulePrivate},
	{"v4 10/8 high", "https://10.255.255.255/", RulePrivate},
	{"v4 172.16/12 low", "https://172.16.0.1/", RulePrivate},
	{"v4 172.16/12 high", "https://172.31.255.254/", RulePrivate},
	{"v4 192.168/16", "https://192.168.0.1/", RulePrivate},
	{"v4 192.168/16 with port", "https://192.168.255.255:8443/", RulePrivate},
	{"v4 cgnat low", "https://100.64.0.1/", RuleCGNAT},
	{"v4 cgnat high", "https://100.127.255.254/", RuleCGNAT},
	{"v4 loopback", "https://127.0.0.1/", RuleLoopback},
	{"v4 loopback high", "https://127.255.255.254:9000/", RuleLoopback},
	{"v4 metadata", "https://169.254.169.254/latest/meta-data/", RuleLinkLocal},
	{"v4 link-local", "https://169.254.0.1/", RuleLinkLocal},
	{"v4 ietf protocol", "https://192.0.0.8/", RuleIETFProtocol},
	{"v4 test-net-1", "https://192.0.2.1/", RuleDocumentation},
	{"v4 test-net-2", "https://198.51.100.7/", RuleDocumentation},
	{"v4 test-net-3", "https://203.0.113.9/", RuleDocumentation},
	{"v4 6to4 relay", "https://192.88.99.1/", Rule6to4Relay},
	{"v4 benchmarking low", "https://198.18.0.1/", RuleBenchmarking},
	{"v4 benchmarking high", "https://198.19.255.254/", RuleBenchmarking},
	{"v4 multicast low", "https://224.0.0.1/", RuleMulticast},
	{"v4 multicast ssdp", "https://239.255.255.250/", RuleMulticast},
	{"v4 reserved low", "https://240.0.0.1/", RuleReserved},
	{"v4 reserved high", "https://255.255.255.254/", RuleReserved},
	{"v4 broadcast", "https://255.255.255.255/", RuleBroadcast},

	// IPv6 literals.
	{"v6 loopback", "https://[::1]/", RuleLoopback},
	{"v6 unspecified", "https://[::]/", RuleUnspecified},
	{"v6 link-local", "https://[fe80::1]/", RuleLinkLocal},
	{"v6 ula fc", "https://[fc00::1]/", RuleUniqueLocal},
	{"v6 ula fd", "https://[fd12::1]/", RuleUniqueLocal},
	{"v6 multicast", "https://[ff02::1]/", RuleMulticast},
	{"v6 nat64 well-known", "https://[64:ff9b::7f00:1]/", RuleNAT64},
	{"v6 nat64 local-use", "https://[64:ff9b:1::a00:1]/", RuleNAT64},
	{"v6 6to4", "https://[2002:7f00:1::]/", Rule6to4},
	{"v6 documentation", "https://[2001:db8::1]/", RuleDocumentation},
	{"v6 documentation 3fff", "https://[3fff::1]/", RuleDocumentation},
	{"v6 teredo", "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", RuleTeredo},
	{"v6 benchmarking", "https://[2001:2::1]/", RuleBenchmarking},
	{"v6 ietf protocol", "https://[2001:100::1]/", RuleIETFProtocol},
	{"v6 discard", "https://[100::1]/", RuleDiscard},
	{"v6 site-local", "https://[fec0::1]/", RuleSiteLocal},
	{"v6 outside 2000::/3", "https://[4000::1]/", RuleNonGlobal},
	{"v6 mapped loopback", "https://[::ffff:127.0.0.1]/", RuleLoopback},
	{"v6 mapped private", "https://[::ffff:10.0.0.1]/", RulePrivate},
	{"v6 mapped metadata", "https://[::ffff:169.254.169.254]/", RuleLinkLocal},
	{"v6 mapped loopback hex", "https://[0:0:0:0:0:ffff:7f00:1]/", RuleLoopback},
	{"v6 mapped unspecified", "https://[::ffff:0.0.0.0]/", RuleUnspecified},
	{"v6 ipv4-compatible", "https://[::127.0.0.1]/", RuleIPv4Compatible},
	{"v6 zone", "https://[fe80::1%25eth0]/", RuleZone},

	// Non-canonical numeric spellings: refused before DNS.
	{"decimal", "https://2130706433/", RuleNumericHost},
	{"octal dotted", "https://0177.0.0.1/", RuleNumericHost},
	{"hex dotted", "https://0x7f.0.0.1/", RuleNumericHost},
	{"hex", "https://0x7f000001/", RuleNumericHost},
	{"hex upper", "https://0X7F000001/", RuleNumericHost},
	{"short form", "https://127.1/", RuleNumericHost},
	{"octal", "https://017700000001/", RuleNumericHost},
	{"zero padded", "https://127.000.000.001/", RuleNumericHost},
	{"trailing dot quad", "https://127.0.0.1./", RuleNumericHost},
	{"five parts", "https://1.2.3.4.5/", RuleNumericHost},
	{"numeric tld", "https://example.123/", RuleNumericHost},

	// Static URL rules.
	{"http", "http://example.com/", RuleScheme},
	{"http loopback", "http://127.0.0.1/", RuleScheme},
	{"ftp", "ftp://example.com/", RuleScheme},
	{"gopher", "gopher://127.0.0.1:6379/_INFO", RuleScheme},
	{"file", "file:///etc/passwd", RuleScheme},
	{"javascript", "javascript:alert(1)", RuleScheme},
	{"scheme-relative", "//example.com/", RuleAbsolute},
	{"relative", "example.com/hook", RuleAbsolute},
	{"empty", "", RuleAbsolute},
	{"opaque", "https:example.com", RuleAbsolute},
	{"user and password", "https://user:pw@example.com/", RuleUserInfo},
	{"user only", "https://user@example.com/", RuleUserInfo},
	{"userinfo host confusion", "https://public.example.test@127.0.0.1/", RuleUserInfo},
	{"too long", "https://public.example.test/" + strings.Repeat("a", MaxURLLength), RuleLength},
	{"empty host", "https:///hook", RuleHost},
	{"port only", "https://:443/", RuleHost},
	{"fragment", "https://public.example.test/#frag", RuleFragment},
	{"fragment host confusion", "https://public.example.test#@127.0.0.1/", RuleFragment},
	{"port zero", "https://public.example.test:0/", RulePort},
	{"port too big", "https://public.example.test:99999/", RulePort},
	{"empty label", "https://public..example.test/", RuleHostname},
	{"fullwidth digits", "https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", RuleHostname},
	{"control char", "https://exa\x00mple.com/", RuleParse},
	{"bracketed v4", "https://[127.0.0.1]/", RuleParse},

	// Names.
	{"localhost", "https://localhost/", RuleLoopback},
	{"localhost upper fqdn", "https://LOCALHOST./", RuleLoopback},
	{"localhost subdomain", "https://api.localhost:8443/", RuleLoopback},
	{"name to loopback", "https://loopback.example.test/", RuleLoopback},
	{"upper-case scheme and host", "HTTPS://LOOPBACK.EXAMPLE.TEST/", RuleLoopback},
	{"one private answer", "https://mixed.example.test/", RulePrivate},
	{"metadata name", "https://metadata.google.internal/computeMetadata/v1/", RuleLinkLocal},
	{"name to ula", "https://private6.example.test/", RuleUniqueLocal},
	{"name to mapped private", "https://mapped.example.test/", RulePrivate},
	{"nxdomain", "https://nx.example.test/", RuleResolve},
	{"empty answer", "https://empty.example.test/", RuleResolve},
}

// acceptedURLs must all pass ValidateURL with no allowed ranges.
var acceptedURLs = []string{
	"https://93.184.216.34/x",
	"https://8.8.8.8:443/",
	"https://[2606:4700::1111]/",
	"https://[2001:4860:4860::8888]:8443/hook",
	"https://[::ffff:93.184.216.34]/",
	"https://public.example.test/hook",
	"https://public.example.test:8443/hook?x=1",
	"HTTPS://Public.Example.Test/Hook",
	"https://public.example.test./",
	"https://public6.example.test/",
	"https://dual.example.test/",
	"https://mappedpublic.example.test/",
	"https://xn--bcher-kva.example.test/",
	"https://under_score.example.test/",
	// Neighbours of blocked ranges.
	"https://11.0.0.1/",
	"https://100.128.0.1/",
	"https://172.32.0.1/",
	"https://192.88.98.255/",
	"https://198.20.0.1/",
	"https://223.255.255.254/",
	"https://[2001:200::1]/",
	"https://[2003::1]/",
	"https://[3fff:1000::1]/",
}

func TestValidateURLBlocked(t *testing.T) {
	if len(blockedURLs) < 40 {
		t.Fatalf("got %d blocked cases, want at least 40", len(blockedURLs))
	}
	p, _ := newTestPolicy()
	for _, tc := range blockedURLs {
		t.Run(tc.name, func(t *testing.T) {
			u, err := p.ValidateURL(context.Background(), tc.url)
			if u != nil {
				t.Errorf("got URL %v, want nil", u)
			}
			requireRule(t, err, tc.rule)
		})
	}
}

// TestErrorMessagesHideHost checks that no refusal echoes the host or an
// address: messages go back to API users.
func TestErrorMessagesHideHost(t *testing.T) {
	p, _ := newTestPolicy()
	for _, tc := range blockedURLs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.ValidateURL(context.Background(), tc.url)
			if err == nil {
				t.Fatal("got nil error, want a refusal")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "endpoint_url ") {
				t.Errorf("got message %q, want it to start with %q", msg, "endpoint_url ")
			}
			for _, leak := range []string{"127.0", "10.0", "169.254", "::", "example", "localhost", "0x"} {
				if strings.Contains(msg, leak) {
					t.Errorf("got message %q, want no %q in it", msg, leak)
				}
			}
		})
	}
}

func TestValidateURLAccepted(t *testing.T) {
	p, _ := newTestPolicy()
	for _, raw := range acceptedURLs {
		t.Run(raw, func(t *testing.T) {
			u, err := p.ValidateURL(context.Background(), raw)
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if u == nil || !strings.EqualFold(u.Scheme, "https") {
				t.Fatalf("got URL %v, want a parsed https URL", u)
			}
		})
	}
}

func TestValidateURLNumericHostsSkipDNS(t *testing.T) {
	p, res := newTestPolicy()
	for _, tc := range blockedURLs {
		if tc.rule != RuleNumericHost {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			_, _ = p.ValidateURL(context.Background(), tc.url)
		})
	}
	if got := res.lookups(); len(got) != 0 {
		t.Errorf("got DNS lookups %q, want none for numeric hosts", got)
	}
}

func TestValidateURLLiteralsSkipDNS(t *testing.T) {
	p, res := newTestPolicy()
	for _, raw := range []string{"https://93.184.216.34/", "https://[2606:4700::1111]/", "https://localhost/"} {
		_, _ = p.ValidateURL(context.Background(), raw)
	}
	if got := res.lookups(); len(got) != 0 {
		t.Errorf("got DNS lookups %q, want none for literals and localhost", got)
	}
}

func TestValidateURLLengthBoundary(t *testing.T) {
	p, _ := newTestPolicy()
	base := "https://public.example.test/"
	atLimit := base + strings.Repeat("a", MaxURLLength-len(base))
	if _, err := p.ValidateURL(context.Background(), atLimit); err != nil {
		t.Errorf("got error %v for a %d-byte URL, want nil", err, len(atLimit))
	}
	_, err := p.ValidateURL(context.Background(), atLimit+"a")
	requireRule(t, err, RuleLength)
}

func TestValidateURLAllowedRanges(t *testing.T) {
	p, _ := newTestPolicy("127.0.0.0/8", "::1/128", "10.0.0.0/8")
	tests := []struct {
		url  string
		rule string // "" means accepted
	}{
		{"https://127.0.0.1:8443/hook", ""},
		{"https://[::1]/", ""},
		{"https://localhost/", ""},
		{"https://loopback.example.test/", ""},
		{"https://mixed.example.test/", ""},
		{"https://[::ffff:10.1.2.3]/", ""},
		{"http://127.0.0.1/", RuleScheme},
		{"https://user@127.0.0.1/", RuleUserInfo},
		{"https://2130706433/", RuleNumericHost},
		{"https://192.168.1.1/", RulePrivate},
		{"https://169.254.169.254/", RuleLinkLocal},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			_, err := p.ValidateURL(context.Background(), tc.url)
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("got error %v, want nil", err)
				}
				return
			}
			requireRule(t, err, tc.rule)
		})
	}
}

type errResolver struct{ err error }

func (r errResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return nil, r.err
}

func TestValidateURLResolverErrorUnwraps(t *testing.T) {
	p := NewPolicy(nil, errResolver{context.DeadlineExceeded})
	_, err := p.ValidateURL(context.Background(), "https://slow.example.test/")
	requireRule(t, err, RuleResolve)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want it to wrap context.DeadlineExceeded", err)
	}
	if got, want := err.Error(), "endpoint_url host does not resolve"; got != want {
		t.Errorf("got message %q, want %q", got, want)
	}
}

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		addr    string
		rule    string // "" means allowed
	}{
		{"public v4", nil, "93.184.216.34", ""},
		{"public v6", nil, "2606:4700::1111", ""},
		{"mapped public", nil, "::ffff:1.1.1.1", ""},
		{"loopback", nil, "127.0.0.1", RuleLoopback},
		{"mapped private", nil, "::ffff:192.168.1.1", RulePrivate},
		{"zoned link-local", nil, "fe80::1%eth0", RuleLinkLocal},
		{"cgnat edge", nil, "100.127.255.255", RuleCGNAT},
		{"invalid", nil, "", RuleInvalid},
		{"allowed loopback", []string{"127.0.0.0/8"}, "127.0.0.1", ""},
		{"allowed covers mapped", []string{"127.0.0.0/8"}, "::ffff:127.0.0.1", ""},
		{"allowed v4 not v6", []string{"127.0.0.0/8"}, "::1", RuleLoopback},
		{"allowed other range", []string{"10.0.0.0/8"}, "127.0.0.1", RuleLoopback},
		{"allowed ula", []string{"fd00::/8"}, "fd00::1", ""},
		{"allowed zoned", []string{"fe80::/10"}, "fe80::1%eth0", ""},
		{"allowed single", []string{"192.168.1.10/32"}, "192.168.1.11", RulePrivate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var prefixes []netip.Prefix
			for _, a := range tc.allowed {
				prefixes = append(prefixes, netip.MustParsePrefix(a))
			}
			p := NewPolicy(prefixes, newFakeResolver(nil))
			var ip netip.Addr
			if tc.addr != "" {
				ip = netip.MustParseAddr(tc.addr)
			}
			err := p.CheckAddr(ip)
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("got error %v, want nil", err)
				}
				return
			}
			requireRule(t, err, tc.rule)
		})
	}
}

func TestErrorMessages(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&URLError{Rule: RuleScheme}, "endpoint_url must use https"},
		{&URLError{Rule: RuleAbsolute}, "endpoint_url must be an absolute https URL"},
		{&URLError{Rule: RuleUserInfo}, "endpoint_url must not contain user info"},
		{&URLError{Rule: RuleLength}, "endpoint_url must be at most 2048 characters"},
		{&URLError{Rule: RuleHost}, "endpoint_url must have a host"},
		{&URLError{Rule: RuleNumericHost}, "endpoint_url host is not a valid IP address spelling"},
		{&URLError{Rule: RuleResolve}, "endpoint_url host does not resolve"},
		{&URLError{Rule: RuleFragment}, "endpoint_url must not contain a fragment"},
		{&URLError{Rule: "bogus"}, "endpoint_url is not allowed"},
		{&BlockedError{Rule: RuleLoopback}, "endpoint_url resolves to a loopback address"},
		{&BlockedError{Rule: RulePrivate}, "endpoint_url resolves to a private address"},
		{&BlockedError{Rule: RuleCGNAT}, "endpoint_url resolves to a carrier-grade NAT address"},
		{&BlockedError{Rule: RuleUniqueLocal}, "endpoint_url resolves to a unique local address"},
		{&BlockedError{Rule: RuleNonGlobal}, "endpoint_url resolves to a non-global IPv6 address"},
		{&BlockedError{Rule: "bogus"}, "endpoint_url resolves to a blocked address"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	for _, r := range append(ipv4Rules, ipv6Rules...) {
		if _, ok := blockedNouns[r.rule]; !ok {
			t.Errorf("rule %q for %v has no message", r.rule, r.prefix)
		}
	}
}

func TestParseCIDRs(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string // substring of the error; "" means no error
	}{
		{"empty", "", nil, ""},
		{"only spaces", "   ", nil, ""},
		{"one cidr", "10.0.0.0/8", []string{"10.0.0.0/8"}, ""},
		{"spaces and trailing comma", " 127.0.0.0/8 , ::1/128 ,", []string{"127.0.0.0/8", "::1/128"}, ""},
		{"bare v4", "192.168.1.10", []string{"192.168.1.10/32"}, ""},
		{"bare v6", "fd00::1", []string{"fd00::1/128"}, ""},
		{"host bits masked", "10.1.2.3/8", []string{"10.0.0.0/8"}, ""},
		{"bad entry", "10.0.0.0/8, nope", nil, `"nope"`},
		{"bad bits", "10.0.0.0/33", nil, `"10.0.0.0/33"`},
		{"zone", "fe80::1%eth0", nil, `"fe80::1%eth0"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCIDRs(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one mentioning %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i, w := range tc.want {
				if got[i] != netip.MustParsePrefix(w) {
					t.Errorf("got [%d] = %v, want %v", i, got[i], w)
				}
			}
		})
	}
}
