package netguard

// URL rules: the static checks applied to an endpoint URL before any
// address is looked at. They are the values of URLError.Rule.
const (
	RuleParse       = "parse"
	RuleAbsolute    = "absolute"
	RuleScheme      = "scheme"
	RuleUserInfo    = "userinfo"
	RuleLength      = "length"
	RuleFragment    = "fragment"
	RuleHost        = "host"
	RuleNumericHost = "numeric-host"
	RuleHostname    = "hostname"
	RuleZone        = "zone"
	RulePort        = "port"
	RuleResolve     = "resolve"
)

// Address rules: the reasons an address may not be dialled. They are the
// values of BlockedError.Rule.
const (
	RuleInvalid        = "invalid"
	RuleUnspecified    = "unspecified"
	RuleLoopback       = "loopback"
	RulePrivate        = "private"
	RuleLinkLocal      = "link-local"
	RuleCGNAT          = "cgnat"
	RuleIETFProtocol   = "ietf-protocol"
	RuleDocumentation  = "documentation"
	Rule6to4Relay      = "6to4-relay"
	RuleBenchmarking   = "benchmarking"
	RuleMulticast      = "multicast"
	RuleReserved       = "reserved"
	RuleBroadcast      = "broadcast"
	RuleIPv4Compatible = "ipv4-compatible"
	RuleNAT64          = "nat64"
	RuleDiscard        = "discard"
	RuleUniqueLocal    = "unique-local"
	RuleSiteLocal      = "site-local"
	RuleTeredo         = "teredo"
	Rule6to4           = "6to4"
	RuleNonGlobal      = "non-global"
)

var urlMessages = map[string]string{
	RuleParse:       "endpoint_url is not a valid URL",
	RuleAbsolute:    "endpoint_url must be an absolute https URL",
	RuleScheme:      "endpoint_url must use https",
	RuleUserInfo:    "endpoint_url must not contain user info",
	RuleLength:      "endpoint_url must be at most 2048 characters",
	RuleFragment:    "endpoint_url must not contain a fragment",
	RuleHost:        "endpoint_url must have a host",
	RuleNumericHost: "endpoint_url host is not a valid IP address spelling",
	RuleHostname:    "endpoint_url host is not a valid hostname",
	RuleZone:        "endpoint_url host must not contain an IPv6 zone",
	RulePort:        "endpoint_url port is not valid",
	RuleResolve:     "endpoint_url host does not resolve",
}

var blockedNouns = map[string]string{
	RuleInvalid:        "an invalid address",
	RuleUnspecified:    "an unspecified address",
	RuleLoopback:       "a loopback address",
	RulePrivate:        "a private address",
	RuleLinkLocal:      "a link-local address",
	RuleCGNAT:          "a carrier-grade NAT address",
	RuleIETFProtocol:   "an IETF protocol assignment address",
	RuleDocumentation:  "a documentation address",
	Rule6to4Relay:      "a 6to4 relay address",
	RuleBenchmarking:   "a benchmarking address",
	RuleMulticast:      "a multicast address",
	RuleReserved:       "a reserved address",
	RuleBroadcast:      "a broadcast address",
	RuleIPv4Compatible: "an IPv4-compatible IPv6 address",
	RuleNAT64:          "a NAT64 address",
	RuleDiscard:        "a discard-only address",
	RuleUniqueLocal:    "a unique local address",
	RuleSiteLocal:      "a site-local address",
	RuleTeredo:         "a Teredo address",
	Rule6to4:           "a 6to4 address",
	RuleNonGlobal:      "a non-global IPv6 address",
}

// URLError reports an endpoint URL refused by a static rule or because its
// host does not resolve. Its message is safe to return to API users.
type URLError struct {
	Rule string // one of the Rule* URL constants
	err  error  // underlying cause (e.g. a resolver error), never shown
}

func (e *URLError) Error() string {
	if msg, ok := urlMessages[e.Rule]; ok {
		return msg
	}
	return "endpoint_url is not allowed"
}

// Unwrap exposes the underlying cause (such as context.DeadlineExceeded
// from the resolver) to errors.Is without putting it in the message.
func (e *URLError) Unwrap() error { return e.err }

// BlockedError reports that a destination address is not allowed. It names
// the rule, never the address, so it is safe to return to API users.
type BlockedError struct {
	Rule string // one of the address Rule* constants
}

func (e *BlockedError) Error() string {
	if noun, ok := blockedNouns[e.Rule]; ok {
		return "endpoint_url resolves to " + noun
	}
	return "endpoint_url resolves to a blocked address"
}

func urlErr(rule string) error { return &URLError{Rule: rule} }
