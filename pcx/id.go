package pcx

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"time"
)

// crockford is Crockford's base32 alphabet in lower case: no i, l, o or u, so IDs survive being
// read aloud or retyped, and it sorts in the same order as the values it encodes.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// NewID returns a new identifier "<kind>_<26 chars>": a 48-bit millisecond timestamp followed by
// 80 random bits, ULID-style. IDs of one kind sort by creation time, which lets lists return
// newest first straight from a DynamoDB sort key without a second index.
func NewID(kind string, now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		// crypto/rand.Read never fails on supported platforms (it panics itself from Go 1.24).
		panic(err)
	}
	return kind + "_" + encodeULID(b)
}

// FirstID is the least ID of kind that NewID gives at t's millisecond, and LastID the greatest:
// the IDs of kind created in [a, b] (by the millisecond) are those from FirstID(a) to LastID(b).
func FirstID(kind string, t time.Time) string { return boundID(kind, t, 0) }

// LastID: see FirstID.
func LastID(kind string, t time.Time) string { return boundID(kind, t, 0xff) }

func boundID(kind string, t time.Time, fill byte) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16)
	for i := 6; i < len(b); i++ {
		b[i] = fill // where NewID's random bits are
	}
	return kind + "_" + encodeULID(b)
}

// encodeULID encodes 128 bits as 26 base32 characters, most significant first.
func encodeULID(b [16]byte) string {
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// idLen is the length of what follows "<kind>_" in every ID NewID returns.
const idLen = 26

// ValidID reports whether s has the shape of the IDs NewID returns for kind: "<kind>_" and 26
// characters of the lower-case Crockford alphabet. NewID has had this format since the first ID
// was issued, so every stored ID passes; a string of any other shape cannot name a stored item,
// and is refused before it costs a read (or becomes part of a DynamoDB key).
func ValidID(kind, s string) bool {
	if len(s) != len(kind)+1+idLen || s[:len(kind)] != kind || s[len(kind)] != '_' {
		return false
	}
	for i := len(kind) + 1; i < len(s); i++ {
		if strings.IndexByte(crockford, s[i]) < 0 {
			return false
		}
	}
	return true
}

// The prefix "pcx_<id>" of an API key: <id> is MinKeyIDLen to MaxKeyIDLen characters [a-z0-9]. It
// is not secret: it names a key in routes, logs and the store, so its shape is the domain's, and
// internal/keyformat builds and parses full keys around it.
const (
	KeyScheme   = "pcx_"
	MinKeyIDLen = 6
	MaxKeyIDLen = 12
)

// ValidKeyPrefix reports whether p has the form pcx_<id>.
func ValidKeyPrefix(p string) bool {
	if len(p) < len(KeyScheme)+MinKeyIDLen || len(p) > len(KeyScheme)+MaxKeyIDLen || p[:len(KeyScheme)] != KeyScheme {
		return false
	}
	for i := len(KeyScheme); i < len(p); i++ {
		if c := p[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
