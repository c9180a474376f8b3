package netguard

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Resolver is what the policy needs from DNS; *net.Resolver satisfies it.
// Tests inject a fake so that no real DNS is used.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// dialFunc dials one already-checked address. It is a field so tests can
// prove that refused destinations never reach the network.
type dialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Policy decides which destination addresses webhook deliveries may reach.
// It is immutable after NewPolicy and safe for concurrent use.
type Policy struct {
	allowed  []netip.Prefix
	resolver Resolver
	dial     dialFunc
}

// NewPolicy returns a policy that allows only public unicast addresses,
// plus the operator-exempted ranges in allowed (WEBHOOK_ALLOWED_CIDRS; may be
// nil). A nil resolver means net.DefaultResolver.
func NewPolicy(allowed []netip.Prefix, resolver Resolver) *Policy {
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	p := &Policy{
		allowed:  make([]netip.Prefix, 0, len(allowed)),
		resolver: resolver,
	}
	for _, pfx := range allowed {
		p.allowed = append(p.allowed, pfx.Masked())
	}
	p.dial = p.netDialer().DialContext
	return p
}

// ParseCIDRs parses the comma-separated WEBHOOK_ALLOWED_CIDRS value. An empty
// value gives nil; entries are trimmed and empty entries (a trailing comma)
// are skipped; a bare IP address means a single-address prefix (/32 or /128).
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		pfx, err := parseCIDR(entry)
		if err != nil {
			return nil, err
		}
		out = append(out, pfx)
	}
	return out, nil
}

func parseCIDR(entry string) (netip.Prefix, error) {
	if strings.Contains(entry, "/") {
		pfx, err := netip.ParsePrefix(entry)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid allowed CIDR %q: want a CIDR such as 10.0.0.0/8 or an IP address", entry)
		}
		return pfx.Masked(), nil
	}
	ip, err := netip.ParseAddr(entry)
	if err != nil || ip.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("invalid allowed CIDR %q: want a CIDR such as 10.0.0.0/8 or an IP address", entry)
	}
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

// CheckAddr returns nil if ip may be dialled, else a *BlockedError naming the
// rule that refuses it. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are
// judged by the IPv4 rules for the embedded address, because that is where
// a connection to them actually goes.
func (p *Policy) CheckAddr(ip netip.Addr) error {
	if !ip.IsValid() {
		return &BlockedError{Rule: RuleInvalid}
	}
	ip = ip.WithZone("")
	if p.isAllowed(ip) {
		return nil
	}
	if rule := blockedRule(ip.Unmap()); rule != "" {
		return &BlockedError{Rule: rule}
	}
	return nil
}

func (p *Policy) isAllowed(ip netip.Addr) bool {
	unmapped := ip.Unmap()
	for _, pfx := range p.allowed {
		if pfx.Contains(unmapped) || pfx.Contains(ip) {
			return true
		}
	}
	return false
}

type addrRule struct {
	prefix netip.Prefix
	rule   string
}

func rules(pairs ...string) []addrRule {
	out := make([]addrRule, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, addrRule{netip.MustParsePrefix(pairs[i]), pairs[i+1]})
	}
	return out
}

// ipv4Rules lists every IPv4 range that is not public unicast (IANA IPv4
// Special-Purpose Address Registry plus multicast and class E). More
// specific prefixes come first so that the most precise rule is reported.
var ipv4Rules = rules(
	"255.255.255.255/32", RuleBroadcast,
	"0.0.0.0/8", RuleUnspecified,
	"10.0.0.0/8", RulePrivate,
	"100.64.0.0/10", RuleCGNAT,
	"127.0.0.0/8", RuleLoopback,
	"169.254.0.0/16", RuleLinkLocal,
	"172.16.0.0/12", RulePrivate,
	"192.0.0.0/24", RuleIETFProtocol,
	"192.0.2.0/24", RuleDocumentation,
	"192.88.99.0/24", Rule6to4Relay,
	"192.168.0.0/16", RulePrivate,
	"198.18.0.0/15", RuleBenchmarking,
	"198.51.100.0/24", RuleDocumentation,
	"203.0.113.0/24", RuleDocumentation,
	"224.0.0.0/4", RuleMulticast,
	"240.0.0.0/4", RuleReserved,
)

// ipv6Rules lists the IPv6 ranges refused by name. Anything not matched
// here and outside 2000::/3 is refused as non-global: only global unicast
// can ever be dialled. IPv4-mapped addresses never get here (they are
// unmapped first). Order matters: ::/128 and ::1/128 before ::/96.
var ipv6Rules = rules(
	"::/128", RuleUnspecified,
	"::1/128", RuleLoopback,
	"::/96", RuleIPv4Compatible,
	"64:ff9b::/96", RuleNAT64,
	"64:ff9b:1::/48", RuleNAT64,
	"100::/64", RuleDiscard,
	"fc00::/7", RuleUniqueLocal,
	"fe80::/10", RuleLinkLocal,
	"fec0::/10", RuleSiteLocal,
	"ff00::/8", RuleMulticast,
	"2001::/32", RuleTeredo,
	"2001:2::/48", RuleBenchmarking,
	"2001::/23", RuleIETFProtocol,
	"2001:db8::/32", RuleDocumentation,
	"3fff::/20", RuleDocumentation,
	"2002::/16", Rule6to4,
)

var globalUnicast = netip.MustParsePrefix("2000::/3")

// blockedRule returns the rule refusing ip (already unmapped and
// zone-less), or "" if ip is public unicast.
func blockedRule(ip netip.Addr) string {
	table := ipv6Rules
	if ip.Is4() {
		table = ipv4Rules
	}
	for _, r := range table {
		if r.prefix.Contains(ip) {
			return r.rule
		}
	}
	if ip.Is6() && !globalUnicast.Contains(ip) {
		return RuleNonGlobal
	}
	return ""
}
