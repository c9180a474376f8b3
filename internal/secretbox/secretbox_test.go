package secretbox

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/pcx/publicservice/internal/keyring"
)

func ring(t *testing.T, spec string) *keyring.Keyring {
	t.Helper()
	r, err := keyring.Parse(spec, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func key(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

func TestSealOpen(t *testing.T) {
	b1, err := New(ring(t, "1:"+key(1)))
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("0123456789abcdef0123456789abcdef")
	sealed := b1.Seal(secret, "wh_1")
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed value contains the plaintext")
	}
	if again := b1.Seal(secret, "wh_1"); bytes.Equal(again, sealed) {
		t.Fatal("two seals of the same value are equal: the nonce is not random")
	}
	got, err := b1.Open(sealed, "wh_1")
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	for name, open := range map[string]func() ([]byte, error){
		"other context": func() ([]byte, error) { return b1.Open(sealed, "wh_2") },
		"tampered": func() ([]byte, error) {
			c := append([]byte(nil), sealed...)
			c[len(c)-1] ^= 1
			return b1.Open(c, "wh_1")
		},
		"short":       func() ([]byte, error) { return b1.Open(sealed[:5], "wh_1") },
		"unknown key": func() ([]byte, error) { b, _ := New(ring(t, "2:"+key(2))); return b.Open(sealed, "wh_1") },
		"wrong key":   func() ([]byte, error) { b, _ := New(ring(t, "1:"+key(3))); return b.Open(sealed, "wh_1") },
	} {
		if _, err := open(); !errors.Is(err, ErrOpen) {
			t.Errorf("%s: Open error = %v, want ErrOpen", name, err)
		}
	}

	// Rotation: with key 2 added, new values use it and old ones still open.
	b12, _ := New(ring(t, "1:"+key(1)+",2:"+key(2)))
	if got, err := b12.Open(sealed, "wh_1"); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("old value under the rotated box: %q, %v", got, err)
	}
	if v := Version(b12.Seal(secret, "x")); v != 2 {
		t.Fatalf("new seal uses key version %d, want 2", v)
	}
	if v := Version(sealed); v != 1 {
		t.Fatalf("Version(old) = %d, want 1", v)
	}
}
