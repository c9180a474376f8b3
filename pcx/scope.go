package pcx

import (
	"slices"
	"strings"
)

// Scope is one permission an API key may hold (contract §6). A route needs at most one.
type Scope string

// The scopes, in the contract's order.
const (
	ScopeKeysRead      Scope = "keys:read"
	ScopeKeysWrite     Scope = "keys:write"
	ScopeWebhooksRead  Scope = "webhooks:read"
	ScopeWebhooksWrite Scope = "webhooks:write"
	ScopeEventsRead    Scope = "events:read"
	ScopeEventsWrite   Scope = "events:write"
	ScopeAuditRead     Scope = "audit:read"
)

// AllScopes is every scope, in the contract's order: what a bootstrap key holds unless narrowed,
// and what a key stored before scopes existed is read as having.
var AllScopes = []Scope{ScopeKeysRead, ScopeKeysWrite, ScopeWebhooksRead, ScopeWebhooksWrite,
	ScopeEventsRead, ScopeEventsWrite, ScopeAuditRead}

// ValidScope reports whether s names a scope.
func ValidScope(s string) bool { return slices.Contains(AllScopes, Scope(s)) }

// ParseScopes checks a list of scope names: non-empty, each one known, none twice. It returns the
// scopes in the contract's order, so a key's scopes read the same however they were asked for,
// or a problem to show beside the field.
func ParseScopes(names []string) ([]Scope, string) {
	if len(names) == 0 {
		return nil, "must name at least one scope"
	}
	seen := map[string]bool{}
	for _, n := range names {
		if !ValidScope(n) {
			return nil, "unknown scope " + quoteShort(n) + "; the scopes are " + scopeList(AllScopes)
		}
		if seen[n] {
			return nil, "names " + n + " twice"
		}
		seen[n] = true
	}
	var out []Scope
	for _, s := range AllScopes {
		if seen[string(s)] {
			out = append(out, s)
		}
	}
	return out, ""
}

// OrderedScopes returns scopes in the contract's order, each once; unknown ones are dropped.
func OrderedScopes(scopes []Scope) []Scope {
	out := []Scope{}
	for _, s := range AllScopes {
		if slices.Contains(scopes, s) {
			out = append(out, s)
		}
	}
	return out
}

// HasScope reports whether scopes hold s.
func HasScope(scopes []Scope, s Scope) bool { return slices.Contains(scopes, s) }

// ScopesWithin reports whether every scope of inner is in outer, and the first that is not.
func ScopesWithin(inner, outer []Scope) (Scope, bool) {
	for _, s := range inner {
		if !slices.Contains(outer, s) {
			return s, false
		}
	}
	return "", true
}

// ScopeNames returns scopes as strings, for the API and the store.
func ScopeNames(scopes []Scope) []string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = string(s)
	}
	return out
}

func scopeList(scopes []Scope) string { return strings.Join(ScopeNames(scopes), ", ") }

// quoteShort quotes a caller's value for an error message, cut so a long one cannot fill it.
func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return `"` + strings.ToValidUTF8(s, "?") + `"`
}
