// Package keyformat implements the pcx_<id>_<secret> key format: generation from crypto/rand, a
// parser that rejects malformed and mistyped keys without any storage read (the last six
// characters of the secret are a CRC-32 checksum), and the peppered HMAC that is all the store
// ever keeps of a key.
package keyformat

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"math/big"
	"strings"
	"sync"

	"github.com/pcx/publicservice/internal/keyring"
	"github.com/pcx/publicservice/pcx"
)

const (
	// Scheme starts every key, so secret scanners can recognise one.
	Scheme = pcx.KeyScheme
	// IDLen is the length of generated IDs; parsing accepts MinIDLen..MaxIDLen, the lengths of a
	// valid prefix (pcx.ValidKeyPrefix).
	IDLen    = 10
	MinIDLen = pcx.MinKeyIDLen
	MaxIDLen = pcx.MaxKeyIDLen
	// SecretLen is the secret's length: RandomLen random base62 characters then ChecksumLen of
	// checksum. 26 base62 characters carry 154 bits of entropy.
	SecretLen   = 32
	ChecksumLen = 6
	RandomLen   = SecretLen - ChecksumLen
	// MaxLen bounds any string worth parsing.
	MaxLen = len(Scheme) + MaxIDLen + 1 + SecretLen
)

const (
	idAlphabet     = "abcdefghijklmnopqrstuvwxyz0123456789"
	base62Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// ErrMalformed is returned for anything that is not a well-formed key with a valid checksum.
var ErrMalformed = errors.New("apikey: malformed key")

// Key is a parsed or generated key.
type Key struct {
	ID     string // the <id> part
	Secret string // the <secret> part, checksum included
}

// Prefix returns "pcx_<id>", the public, unique handle of the key.
func (k Key) Prefix() string { return Scheme + k.ID }

// String returns the full key. Never log it.
func (k Key) String() string { return Scheme + k.ID + "_" + k.Secret }

// Generate returns a new key whose random parts come from r (crypto/rand.Reader in production).
func Generate(r io.Reader) (Key, error) {
	id, err := randomString(r, idAlphabet, IDLen)
	if err != nil {
		return Key{}, err
	}
	return WithID(r, id)
}

// WithID returns a well-formed key with the given ID and a fresh random secret. Tests use it to
// present the right prefix with the wrong secret.
func WithID(r io.Reader, id string) (Key, error) {
	random, err := randomString(r, base62Alphabet, RandomLen)
	if err != nil {
		return Key{}, err
	}
	k := Key{ID: id}
	k.Secret = random + checksum(k.Prefix()+"_"+random)
	return k, nil
}

// New returns a new key from crypto/rand.
func New() (Key, error) { return Generate(rand.Reader) }

// randomString draws n characters uniformly from alphabet (rejection sampling, no modulo bias).
func randomString(r io.Reader, alphabet string, n int) (string, error) {
	limit := big.NewInt(int64(len(alphabet)))
	out := make([]byte, n)
	for i := range out {
		v, err := rand.Int(r, limit)
		if err != nil {
			return "", err
		}
		out[i] = alphabet[v.Int64()]
	}
	return string(out), nil
}

// checksum is the CRC-32 (IEEE) of s as six base62 digits, most significant first. 62^6 > 2^32,
// so every checksum fits.
func checksum(s string) string {
	v := crc32.ChecksumIEEE([]byte(s))
	var out [ChecksumLen]byte
	for i := ChecksumLen - 1; i >= 0; i-- {
		out[i] = base62Alphabet[v%62]
		v /= 62
	}
	return string(out[:])
}

// Parse checks s is a well-formed key with a valid checksum. It reads no storage, so a mistyped
// or invented key costs nothing but this call.
func Parse(s string) (Key, error) {
	if len(s) > MaxLen || len(s) < len(Scheme)+MinIDLen+1+SecretLen || s[:len(Scheme)] != Scheme {
		return Key{}, ErrMalformed
	}
	rest := s[len(Scheme):]
	idLen := len(rest) - 1 - SecretLen
	if rest[idLen] != '_' || !pcx.ValidKeyPrefix(s[:len(Scheme)+idLen]) {
		return Key{}, ErrMalformed
	}
	k := Key{ID: rest[:idLen], Secret: rest[idLen+1:]}
	if !only(k.Secret, isBase62) {
		return Key{}, ErrMalformed
	}
	random := k.Secret[:RandomLen]
	if !hmac.Equal([]byte(checksum(k.Prefix()+"_"+random)), []byte(k.Secret[RandomLen:])) {
		return Key{}, ErrMalformed
	}
	return k, nil
}

func only(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isBase62(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// Hasher computes the stored form of keys: HMAC-SHA256 of the full key under a server-side pepper
// that never reaches the database. A database dump alone cannot test guesses, and a write to
// the database cannot plant a key the attacker knows. Peppers are versioned for rotation: new
// keys use the newest, old keys keep verifying under theirs.
type Hasher struct {
	peppers *keyring.Keyring
	dummy   []byte // verified against when a key is unknown, to keep timing uniform
	// macs pools keyed HMAC states per pepper version: keying an HMAC hashes the pepper into
	// its inner and outer pads, half the work of a MAC over a key, so every request that
	// authenticates reuses a keyed state (Reset) instead of keying a new one.
	macs sync.Map // int -> *sync.Pool of hash.Hash
}

// MinPepperLen is the shortest pepper accepted.
const MinPepperLen = 32

// NewHasher returns a Hasher over the peppers.
func NewHasher(peppers *keyring.Keyring) *Hasher {
	_, cur := peppers.Current()
	m := hmac.New(sha256.New, cur)
	m.Write([]byte("pcx dummy key for unknown prefixes"))
	return &Hasher{peppers: peppers, dummy: m.Sum(nil)}
}

// mac returns HMAC-SHA256(pepper, s), pepper being version's.
func (h *Hasher) mac(version int, pepper []byte, s string) []byte {
	p, ok := h.macs.Load(version)
	if !ok {
		p, _ = h.macs.LoadOrStore(version, &sync.Pool{New: func() any { return hmac.New(sha256.New, pepper) }})
	}
	pool := p.(*sync.Pool)
	m := pool.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(s))
	sum := m.Sum(make([]byte, 0, sha256.Size))
	pool.Put(m)
	return sum
}

// ParsePeppers parses APIKEY_PEPPERS.
func ParsePeppers(s string) (*keyring.Keyring, error) { return keyring.Parse(s, MinPepperLen, 0) }

// MAC returns the stored form of k under the current pepper, and that pepper's version.
func (h *Hasher) MAC(k Key) (mac []byte, version int) {
	version, pepper := h.peppers.Current()
	return h.mac(version, pepper, k.String()), version
}

// CurrentVersion is the version of the newest pepper, the one MAC uses: a key stored under an
// older one is re-hashed under it when it next authenticates, so the older can be retired.
func (h *Hasher) CurrentVersion() int {
	v, _ := h.peppers.Current()
	return v
}

// Verify reports whether k matches mac stored under pepper version. It takes the same time
// whether or not the version is known and whether or not the key matches.
func (h *Hasher) Verify(k Key, version int, mac []byte) bool {
	pepper, ok := h.peppers.Key(version)
	if !ok {
		version, pepper = h.peppers.Current()
		mac = h.dummy
	}
	return hmac.Equal(h.mac(version, pepper, k.String()), mac) && ok
}

// VerifyNothing does the work of a Verify that must fail, for a key whose prefix is unknown, so
// "no such key" and "wrong secret" cost the same.
func (h *Hasher) VerifyNothing(k Key) {
	version, pepper := h.peppers.Current()
	hmac.Equal(h.mac(version, pepper, k.String()), h.dummy)
}

// Redacted replaces what it redacts of a key: a full key keeps its prefix (pcx_<id>_[REDACTED]).
const Redacted = "[REDACTED]"

// Redact returns s with anything shaped like a key's secret replaced by Redacted: every run of
// exactly SecretLen base62 characters (delimited by anything else) that follows pcx_<id>_ (kept:
// pcx_<id>_[REDACTED]), checksum or not, since a mistyped key is still most of a key, or that
// stands alone and looks like a secret. For logs of outside input (paths) that may carry a
// pasted key.
func Redact(s string) string {
	if !HasSecret(s) {
		return s
	}
	var b []byte
	last := 0
	forEachSecret(s, func(start, end int) {
		b = append(b, s[last:start]...)
		b = append(b, Redacted...)
		last = end
	})
	return string(append(b, s[last:]...))
}

// HasSecret reports whether s holds anything Redact would redact.
func HasSecret(s string) bool {
	found := false
	forEachSecret(s, func(int, int) { found = true })
	return found
}

// forEachSecret calls f with the bounds of each secret-shaped run of s, in order.
func forEachSecret(s string, f func(start, end int)) {
	for i := 0; i < len(s); {
		if !isBase62(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isBase62(s[j]) {
			j++
		}
		if j-i == SecretLen && (afterPrefix(s[:i]) || looksLikeSecret(s[i:j])) {
			f(i, j)
		}
		i = j
	}
}

// afterPrefix reports whether head ends in pcx_<id>_.
func afterPrefix(head string) bool {
	if len(head) == 0 || head[len(head)-1] != '_' {
		return false
	}
	head = head[:len(head)-1]
	n := 0
	for n < len(head) && n <= MaxIDLen && isIDChar(head[len(head)-1-n]) {
		n++
	}
	return n >= MinIDLen && n <= MaxIDLen && strings.HasSuffix(head[:len(head)-n], Scheme)
}

func isIDChar(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// looksLikeSecret reports whether a lone run of SecretLen base62 characters could be a secret.
// Its checksum covers the prefix, which a lone secret lacks, so it is recognised by shape: it
// mixes upper case, lower case and digits as generated secrets do (all but about 1 in 10^4),
// unlike hex digests and UUIDs without dashes.
func looksLikeSecret(secret string) bool {
	var lower, upper, digit bool
	for i := 0; i < len(secret); i++ {
		c := secret[i]
		lower = lower || c >= 'a' && c <= 'z'
		upper = upper || c >= 'A' && c <= 'Z'
		digit = digit || c >= '0' && c <= '9'
	}
	return lower && upper && digit
}
