// Package secretbox encrypts webhook signing secrets at rest with AES-256-GCM. Secrets must be
// recoverable (deliveries are signed with them), so they cannot be hashed like API keys; a dump of
// the table without WEBHOOK_SECRETS_KEYS reveals none of them.
//
// A sealed value is: 2-byte key version, 12-byte random nonce, ciphertext and tag. The key version
// lets operators rotate WEBHOOK_SECRETS_KEYS without downtime: new secrets use the newest key,
// older ones keep opening under theirs. The caller's context (the webhook ID) is authenticated
// data, so a ciphertext copied onto another endpoint's item does not open.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pcx/publicservice/internal/keyring"
)

const (
	versionLen = 2
	nonceLen   = 12
)

// ErrOpen is returned for a value that does not decrypt: tampered, moved, or under an unknown key.
var ErrOpen = errors.New("secretbox: value does not open")

// Box seals and opens values.
type Box struct {
	aeads   map[int]cipher.AEAD
	current int
}

// New returns a Box over AES-256 keys (each exactly 32 bytes).
func New(keys *keyring.Keyring) (*Box, error) {
	b := &Box{aeads: map[int]cipher.AEAD{}}
	for _, v := range keys.Versions() {
		if v > 0xffff {
			return nil, fmt.Errorf("secretbox: key version %d is above 65535", v)
		}
		k, _ := keys.Key(v)
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("secretbox: key version %d: %w", v, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		b.aeads[v] = aead
	}
	b.current, _ = keys.Current()
	return b, nil
}

// Seal encrypts plaintext under the newest key, bound to context.
func (b *Box) Seal(plaintext []byte, context string) []byte {
	out := make([]byte, versionLen+nonceLen, versionLen+nonceLen+len(plaintext)+16)
	binary.BigEndian.PutUint16(out, uint16(b.current))
	if _, err := rand.Read(out[versionLen:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return b.aeads[b.current].Seal(out, out[versionLen:], plaintext, []byte(context))
}

// Open decrypts a sealed value bound to context.
func (b *Box) Open(sealed []byte, context string) ([]byte, error) {
	if len(sealed) < versionLen+nonceLen {
		return nil, ErrOpen
	}
	aead, ok := b.aeads[int(binary.BigEndian.Uint16(sealed))]
	if !ok {
		return nil, ErrOpen
	}
	pt, err := aead.Open(nil, sealed[versionLen:versionLen+nonceLen], sealed[versionLen+nonceLen:], []byte(context))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// Version returns the key version a sealed value was made under (0 if it is too short), so an
// operator tool can re-seal values still under an old key.
func Version(sealed []byte) int {
	if len(sealed) < versionLen {
		return 0
	}
	return int(binary.BigEndian.Uint16(sealed))
}
