// Package cursor turns a store's list position into the opaque last_evaluated_key handed to API
// callers, and back. A cursor is HMAC-signed, bound to the organisation and the list it came
// from, and expires; anything else is refused. It carries the store's position (the IDs of the
// last item returned, which the caller has already seen), never DynamoDB's raw key.
package cursor

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"

	"github.com/pcx/publicservice/pcx"
)

const (
	version = 1
	macLen  = 16 // 128 bits of HMAC-SHA256 is ample for a token that also expires
	// MaxLen bounds a cursor worth decoding.
	MaxLen = 512
	// DefaultTTL is how long a cursor stays valid.
	DefaultTTL = time.Hour
)

// ErrInvalid is the answer to any cursor that is tampered, foreign, expired or garbage.
var ErrInvalid = pcx.Invalid("Invalid last_evaluated_key", map[string]string{
	"last_evaluated_key": "is not a valid cursor for this list (tampered, expired or from another list)",
})

// Signer seals and opens cursors.
type Signer struct {
	key   []byte
	older [][]byte // keys that still open cursors, so a new key can come in without downtime
	ttl   time.Duration
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// NewSigner returns a Signer that seals under key and opens under key or any of older. Every
// instance of the service must share the keys, so a cursor from one works on another.
func NewSigner(key []byte, ttl time.Duration, older ...[]byte) *Signer {
	return &Signer{key: key, older: older, ttl: ttl, Now: time.Now}
}

// DeriveKey derives a cursor key from a server secret (an API-key pepper), for deployments that
// configure no cursor key of their own (CURSOR_KEYS).
func DeriveKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("pcx cursor signing key v1"))
	return m.Sum(nil)
}

// Seal returns the cursor for position in org's list.
func (s *Signer) Seal(org, list, position string) string {
	payload := make([]byte, 9, 9+len(position)+macLen)
	payload[0] = version
	binary.BigEndian.PutUint64(payload[1:9], uint64(s.Now().Add(s.ttl).Unix()))
	payload = append(payload, position...)
	payload = append(payload, s.mac(org, list, payload)...)
	return base64.RawURLEncoding.EncodeToString(payload)
}

// Open returns the position sealed in token, if token was sealed for org's list and has not
// expired.
func (s *Signer) Open(org, list, token string) (string, error) {
	if len(token) > MaxLen {
		return "", ErrInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) < 9+macLen || raw[0] != version {
		return "", ErrInvalid
	}
	payload, mac := raw[:len(raw)-macLen], raw[len(raw)-macLen:]
	if !s.signed(org, list, payload, mac) {
		return "", ErrInvalid
	}
	if exp := int64(binary.BigEndian.Uint64(payload[1:9])); s.Now().Unix() >= exp {
		return "", ErrInvalid
	}
	return string(payload[9:]), nil
}

// signed reports whether mac is payload's under the key or one of the older keys.
func (s *Signer) signed(org, list string, payload, mac []byte) bool {
	ok := hmac.Equal(mac, s.macUnder(s.key, org, list, payload))
	for _, k := range s.older {
		ok = hmac.Equal(mac, s.macUnder(k, org, list, payload)) || ok
	}
	return ok
}

func (s *Signer) mac(org, list string, payload []byte) []byte {
	return s.macUnder(s.key, org, list, payload)
}

func (s *Signer) macUnder(key []byte, org, list string, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	for _, part := range []string{org, list} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(part)))
		m.Write(n[:])
		m.Write([]byte(part))
	}
	m.Write(payload)
	return m.Sum(nil)[:macLen]
}
