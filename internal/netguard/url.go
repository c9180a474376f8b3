package netguard

import (
	"context"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MaxURLLength is the longest endpoint URL accepted, in bytes.
const MaxURLLength = 2048

// resolveTimeout bounds a single host resolution even when the caller's
// context has no deadline, so a slow or hostile DNS server cannot hold an
// API request or a delivery worker indefinitely.
const resolveTimeout = 5 * time.Second

// ValidateURL applies the static URL rules, then resolves the host
// (bounded by ctx and resolveTimeout) and checks EVERY resolved address: all
// must pass, because a client may connect to any of them and an attacker
// controls the order. It returns the parsed URL.
//
// Static rules: https only (case-insensitive scheme), no user info, no
// fragment (it is never sent to the receiver, so it is meaningless in an
// endpoint and only serves to confuse URL parsers, as in
// https://good.example#@127.0.0.1), at most MaxURLLength bytes, a host, an
// optional port in 1..65535, and a canonically spelt host (see classifyHost).
func (p *Policy) ValidateURL(ctx context.Context, raw string) (*url.URL, error) {
	u, err := parseStatic(raw)
	if err != nil {
		return nil, err
	}
	ips, err := p.resolveHost(ctx, u.Hostname(), strings.HasPrefix(u.Host, "["))
	if err != nil {
		return nil, err
	}
	if err := p.checkAll(ips); err != nil {
		return nil, err
	}
	return u, nil
}

// parseStatic applies every rule that needs no DNS.
func parseStatic(raw string) (*url.URL, error) {
	if len(raw) > MaxURLLength {
		return nil, urlErr(RuleLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, &URLError{Rule: RuleParse, err: err}
	}
	if err := checkShape(u, raw); err != nil {
		return nil, err
	}
	return u, nil
}

func checkShape(u *url.URL, raw string) error {
	switch {
	case u.Scheme == "":
		return urlErr(RuleAbsolute)
	case !strings.EqualFold(u.Scheme, "https"):
		return urlErr(RuleScheme)
	case u.Opaque != "":
		return urlErr(RuleAbsolute)
	case u.User != nil:
		return urlErr(RuleUserInfo)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return urlErr(RuleFragment)
	case u.Hostname() == "":
		return urlErr(RuleHost)
	}
	return checkPort(u.Port())
}

func checkPort(port string) error {
	if port == "" {
		return nil
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return urlErr(RulePort)
	}
	return nil
}

// resolveHost turns a host into the addresses a connection could reach.
// IP literals are returned as they are, localhost names map statically to
// the loopback addresses (RFC 6761: they must never be sent to DNS, and
// refusing them must not depend on the resolver), and other names go to
// the policy's resolver with network "ip".
func (p *Policy) resolveHost(ctx context.Context, host string, bracketed bool) ([]netip.Addr, error) {
	ip, name, err := classifyHost(host, bracketed)
	if err != nil {
		return nil, err
	}
	if ip.IsValid() {
		return []netip.Addr{ip}, nil
	}
	if isLocalhost(name) {
		return []netip.Addr{netip.IPv6Loopback(), netip.AddrFrom4([4]byte{127, 0, 0, 1})}, nil
	}
	return p.lookup(ctx, name)
}

func (p *Policy) lookup(ctx context.Context, name string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	ips, err := p.resolver.LookupNetIP(ctx, "ip", name)
	if err != nil {
		return nil, &URLError{Rule: RuleResolve, err: err}
	}
	if len(ips) == 0 {
		return nil, urlErr(RuleResolve)
	}
	return ips, nil
}

// checkAll returns the first address refusal, if any: every address must
// pass, not just one.
func (p *Policy) checkAll(ips []netip.Addr) error {
	for _, ip := range ips {
		if err := p.CheckAddr(ip); err != nil {
			return err
		}
	}
	return nil
}

// classifyHost returns either a parsed IP literal or a lower-cased host
// name (trailing dot kept).
//
// Numeric hosts must be canonical: a dotted quad as netip spells it, or an
// IPv6 literal in brackets. Anything else that looks numeric — 2130706433,
// 0x7f000001, 0177.0.0.1, 127.1, 127.0.0.1. — is refused BEFORE any DNS
// lookup, because resolvers built on getaddrinfo/inet_aton would quietly
// turn these spellings into addresses (often 127.0.0.1), while URL
// validators that only recognise dotted quads would treat them as names.
// That disagreement is the classic SSRF filter bypass. A host whose last
// label is numeric is treated as numeric, as the WHATWG URL standard does;
// no real top-level domain is numeric.
func classifyHost(host string, bracketed bool) (netip.Addr, string, error) {
	if host == "" {
		return netip.Addr{}, "", urlErr(RuleHost)
	}
	if bracketed || strings.Contains(host, ":") {
		return parseIPv6Literal(host)
	}
	name := strings.ToLower(host)
	if ip, err := netip.ParseAddr(name); err == nil && ip.Is4() {
		return ip, "", nil
	}
	if looksNumeric(name) {
		return netip.Addr{}, "", urlErr(RuleNumericHost)
	}
	if !validHostname(name) {
		return netip.Addr{}, "", urlErr(RuleHostname)
	}
	return netip.Addr{}, name, nil
}

func parseIPv6Literal(host string) (netip.Addr, string, error) {
	if strings.Contains(host, "%") {
		return netip.Addr{}, "", urlErr(RuleZone)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Is6() {
		// Brackets hold IPv6 only; [127.0.0.1] is not a canonical spelling.
		return netip.Addr{}, "", urlErr(RuleNumericHost)
	}
	return ip, "", nil
}

// looksNumeric reports whether the last label of name (ignoring one
// trailing dot) is a decimal, octal or 0x-hex number, i.e. whether some
// parser could read the host as an IPv4 address.
func looksNumeric(name string) bool {
	name = strings.TrimSuffix(name, ".")
	last := name[strings.LastIndexByte(name, '.')+1:]
	if last == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(last, "0x"); ok {
		return isAll(rest, isHexDigit)
	}
	return isAll(last, isDigit)
}

func isAll(s string, pred func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !pred(s[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHexDigit(c byte) bool { return isDigit(c) || ('a' <= c && c <= 'f') }

// validHostname accepts ASCII DNS names: labels of letters, digits, '-' and
// '_' (no leading or trailing '-'), 1..63 bytes each, 253 bytes in all, and
// one optional trailing dot. Non-ASCII hosts must be sent as punycode:
// IDNA mapping would otherwise turn look-alikes such as fullwidth digits
// into an address the static checks never saw.
func validHostname(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for _, label := range strings.Split(name, ".") {
		if !validLabel(label) {
			return false
		}
	}
	return true
}

func validLabel(label string) bool {
	if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
		return false
	}
	return isAll(label, func(c byte) bool {
		return isDigit(c) || ('a' <= c && c <= 'z') || c == '-' || c == '_'
	})
}

// isLocalhost reports whether name is localhost or a subdomain of it
// (RFC 6761 §6.3), with or without a trailing dot.
func isLocalhost(name string) bool {
	name = strings.TrimSuffix(name, ".")
	return name == "localhost" || strings.HasSuffix(name, ".localhost")
}
