package pcx

import (
	"regexp"
	"strings"
)

// Event types (contract §8). An event's type says what happened; an endpoint subscribes to the
// types it wants, by name or by prefix wildcard.
const (
	// DefaultEventType is the type of an event that names none, and of every event stored
	// before events had types.
	DefaultEventType = "transaction.updated"
	// ReservedPrefix begins the types the service itself emits: no caller may send one, and an
	// endpoint receives one only when it names it (or a wildcard over it).
	ReservedPrefix = "pcx."
	// MaxEventTypes is how many entries an endpoint's event_types may hold.
	MaxEventTypes = 50
)

// The operational types the service emits (ReservedPrefix).
const (
	EventEndpointDisabled  = "pcx.endpoint.disabled"
	EventDeliveryExhausted = "pcx.delivery.exhausted"
	EventTest              = "pcx.test"
)

// eventTypeRE is the grammar of a type: lower-case dot-separated words, at least two.
var eventTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)

// wildcardPrefixRE is what may stand before the ".*" of a prefix wildcard: one or more words.
var wildcardPrefixRE = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`)

// CheckEventType returns what is wrong with an event type a caller sends, or "". A reserved
// type is wrong here: only the service emits those.
func CheckEventType(t string) string {
	if msg := checkTypeSyntax(t); msg != "" {
		return msg
	}
	if strings.HasPrefix(t, ReservedPrefix) {
		return `types beginning with "pcx." are reserved for the service`
	}
	return ""
}

// IsOperationalType reports whether t is a well-formed type of the service's own (ReservedPrefix).
func IsOperationalType(t string) bool {
	return strings.HasPrefix(t, ReservedPrefix) && checkTypeSyntax(t) == ""
}

func checkTypeSyntax(t string) string {
	if len(t) < 3 || len(t) > 100 || !eventTypeRE.MatchString(t) {
		return "must be 3-100 characters of lower-case dot-separated words (a-z, 0-9, _), e.g. transaction.updated"
	}
	return ""
}

// CheckSubscription returns what is wrong with an endpoint's event_types, or "": at most
// MaxEventTypes entries, each a type or a prefix wildcard ("transaction.*"), no duplicates.
// Reserved types may be named: that is how an endpoint subscribes to them.
func CheckSubscription(patterns []string) string {
	if len(patterns) > MaxEventTypes {
		return "must list at most 50 event types"
	}
	seen := make(map[string]bool, len(patterns))
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, ".*"); ok {
			if len(p) > 100 || !wildcardPrefixRE.MatchString(prefix) {
				return `"` + clip(p) + `" is not a type or a prefix wildcard such as transaction.*`
			}
		} else if checkTypeSyntax(p) != "" {
			return `"` + clip(p) + `" is not a type or a prefix wildcard such as transaction.*`
		}
		if seen[p] {
			return `"` + clip(p) + `" is listed twice`
		}
		seen[p] = true
	}
	return ""
}

// clip keeps an echoed entry short.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// TypeMatcher decides which subscriptions an event type reaches. It is built once per event, so
// matching an endpoint costs a look-up per entry of its event_types, however many endpoints
// there are (BenchmarkTypeMatcher).
type TypeMatcher struct {
	reserved bool
	// accepts are the entries that reach the type: the type itself and each wildcard over one of
	// its prefixes ("a.b.c": "a.b.c", "a.b.*", "a.*").
	accepts map[string]struct{}
}

// NewTypeMatcher returns the matcher of an event type.
func NewTypeMatcher(eventType string) TypeMatcher {
	m := TypeMatcher{reserved: strings.HasPrefix(eventType, ReservedPrefix), accepts: map[string]struct{}{eventType: {}}}
	for i := strings.LastIndexByte(eventType, '.'); i > 0; i = strings.LastIndexByte(eventType[:i], '.') {
		m.accepts[eventType[:i]+".*"] = struct{}{}
	}
	return m
}

// Subscribed reports whether an endpoint with these event_types receives the type. An endpoint
// that lists none receives every type but the reserved ones.
func (m TypeMatcher) Subscribed(patterns []string) bool {
	if len(patterns) == 0 {
		return !m.reserved
	}
	for _, p := range patterns {
		if _, ok := m.accepts[p]; ok {
			return true
		}
	}
	return false
}

// PayloadFormat is the body an endpoint receives.
type PayloadFormat string

// Payload formats. An endpoint stored before formats existed is PayloadRaw.
const (
	// PayloadRaw: transaction_data exactly as received.
	PayloadRaw PayloadFormat = "raw"
	// PayloadStandard: the Standard Webhooks envelope {"type","timestamp","data"}, data the
	// received bytes.
	PayloadStandard PayloadFormat = "standard"
)

// CheckPayloadFormat returns what is wrong with a payload_format, or "".
func CheckPayloadFormat(f string) string {
	if f != string(PayloadRaw) && f != string(PayloadStandard) {
		return `must be "raw" or "standard"`
	}
	return ""
}

// TimestampLayout is how the service writes times in JSON: RFC 3339, UTC, milliseconds.
const TimestampLayout = "2006-01-02T15:04:05.000Z07:00"

// Body returns the bytes an endpoint of format f receives for the event, the same on every
// attempt and replay: the payload as received, or (PayloadStandard) the Standard Webhooks
// envelope {"type":…,"timestamp":<created_at>,"data":<the payload as received>}.
func (ev *Event) Body(f PayloadFormat) []byte {
	if f != PayloadStandard {
		return ev.Payload
	}
	// The type's grammar and the timestamp's layout need no JSON escaping.
	head := `{"type":"` + ev.EventType() + `","timestamp":"` + ev.CreatedAt.UTC().Format(TimestampLayout) + `","data":`
	b := make([]byte, 0, len(head)+len(ev.Payload)+1)
	b = append(b, head...)
	b = append(b, ev.Payload...)
	return append(b, '}')
}

// EventType returns the event's type: DefaultEventType when it has none (stored before types).
func (ev *Event) EventType() string {
	if ev.Type == "" {
		return DefaultEventType
	}
	return ev.Type
}
