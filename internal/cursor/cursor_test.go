package cursor

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSealOpen(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	s := NewSigner(DeriveKey([]byte("server secret")), time.Hour)
	s.Now = func() time.Time { return now }
	tok := s.Seal("org-a", "api-keys", "key_01abc|pcx_abcdef1234")
	if strings.ContainsAny(tok, "+/=") {
		t.Fatalf("cursor %q is not URL-safe", tok)
	}
	got, err := s.Open("org-a", "api-keys", tok)
	if err != nil || got != "key_01abc|pcx_abcdef1234" {
		t.Fatalf("Open = %q, %v; want the sealed position", got, err)
	}

	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	flipped := append([]byte(nil), raw...)
	flipped[12] ^= 1
	other := NewSigner(DeriveKey([]byte("another secret")), time.Hour)
	other.Now = s.Now

	for name, open := range map[string]func() (string, error){
		"tampered position": func() (string, error) {
			return s.Open("org-a", "api-keys", base64.RawURLEncoding.EncodeToString(flipped))
		},
		"foreign org":   func() (string, error) { return s.Open("org-b", "api-keys", tok) },
		"other list":    func() (string, error) { return s.Open("org-a", "webhooks", tok) },
		"other key":     func() (string, error) { return other.Open("org-a", "api-keys", tok) },
		"not base64":    func() (string, error) { return s.Open("org-a", "api-keys", "!!!") },
		"empty":         func() (string, error) { return s.Open("org-a", "api-keys", "") },
		"truncated":     func() (string, error) { return s.Open("org-a", "api-keys", tok[:10]) },
		"huge":          func() (string, error) { return s.Open("org-a", "api-keys", strings.Repeat("A", 10000)) },
		"padded base64": func() (string, error) { return s.Open("org-a", "api-keys", tok+"==") },
		"expired": func() (string, error) {
			later := NewSigner(DeriveKey([]byte("server secret")), time.Hour)
			later.Now = func() time.Time { return now.Add(time.Hour) }
			return later.Open("org-a", "api-keys", tok)
		},
	} {
		if pos, err := open(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Open = %q, %v; want ErrInvalid", name, pos, err)
		}
	}
	// Org and list are length-delimited in the MAC: "ab"+"c" is not "a"+"bc".
	tok2 := s.Seal("ab", "c", "p")
	if _, err := s.Open("a", "bc", tok2); !errors.Is(err, ErrInvalid) {
		t.Fatalf("boundary-shifted org/list accepted: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	s := NewSigner(DeriveKey([]byte("k")), time.Hour)
	f.Add(s.Seal("org", "list", "key_1|pcx_abcdef"))
	f.Add("")
	f.Add("AAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		// The only position ever sealed is the seed's: anything else that opens is a forgery.
		pos, err := s.Open("org", "list", tok)
		if err == nil && pos != "key_1|pcx_abcdef" {
			t.Fatalf("opened %q to unsealed position %q", tok, pos)
		}
	})
}
