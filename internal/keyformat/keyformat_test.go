package keyformat

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/pcx/publicservice/internal/keyring"
	"github.com/pcx/publicservice/pcx"
)

var keyPattern = regexp.MustCompile(`^pcx_[a-z0-9]{10}_[A-Za-z0-9]{32}$`)

func TestGenerateFormat(t *testing.T) {
	seen := map[string]bool{}
	for range 500 {
		k, err := New()
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		s := k.String()
		if !keyPattern.MatchString(s) {
			t.Fatalf("key %q does not match %s", s, keyPattern)
		}
		if k.Prefix() != s[:len("pcx_")+IDLen] {
			t.Fatalf("Prefix() = %q, want the first %d characters of %q", k.Prefix(), len("pcx_")+IDLen, s)
		}
		if seen[s] || seen[k.Prefix()] {
			t.Fatalf("duplicate key or prefix after %d keys", len(seen))
		}
		seen[s], seen[k.Prefix()] = true, true
		got, err := Parse(s)
		if err != nil || got != k {
			t.Fatalf("Parse(%q) = %+v, %v; want %+v", s, got, err, k)
		}
	}
}

// The random parts come from the reader given, and only from it: the same bytes give the same key,
// and a failing reader is an error, never a weak key.
func TestGenerateEntropySource(t *testing.T) {
	seed := bytes.Repeat([]byte{0x5a, 0x17, 0xc3, 0x88}, 256)
	a, err := Generate(bytes.NewReader(seed))
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	b, _ := Generate(bytes.NewReader(seed))
	if a != b {
		t.Fatalf("same entropy gave %q and %q", a, b)
	}
	if _, err := Generate(io.LimitReader(rand.Reader, 8)); err == nil {
		t.Fatal("Generate with an exhausted reader succeeded, want an error")
	}
	// 26 base62 characters: log2(62^26) ≈ 154.8 bits ≥ 128.
	if RandomLen < 22 {
		t.Fatalf("RandomLen = %d carries under 128 bits", RandomLen)
	}
}

func TestParseRejectsTypos(t *testing.T) {
	k, _ := New()
	s := k.String()
	alphabet := base62Alphabet
	for i := len(Scheme); i < len(s); i++ {
		if s[i] == '_' {
			continue
		}
		for j := 0; j < len(alphabet); j += 7 { // a spread of substitutions at every position
			c := alphabet[j]
			if c == s[i] {
				continue
			}
			typo := s[:i] + string(c) + s[i+1:]
			if _, err := Parse(typo); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) (position %d changed) = %v, want ErrMalformed", typo, i, err)
			}
		}
	}
	// Adjacent transpositions within the secret.
	sec := len(s) - SecretLen
	for i := sec; i < len(s)-1; i++ {
		if s[i] == s[i+1] {
			continue
		}
		typo := s[:i] + string(s[i+1]) + string(s[i]) + s[i+2:]
		if _, err := Parse(typo); !errors.Is(err, ErrMalformed) {
			t.Fatalf("Parse(%q) (swap at %d) = %v, want ErrMalformed", typo, i, err)
		}
	}
}

func TestParseMalformed(t *testing.T) {
	k, _ := New()
	s := k.String()
	for name, in := range map[string]string{
		"empty":          "",
		"scheme only":    "pcx_",
		"other scheme":   "sk_" + s[4:],
		"upper scheme":   "PCX_" + s[4:],
		"no separator":   strings.Replace(s, "_", "", 2),
		"short secret":   s[:len(s)-1],
		"long secret":    s + "a",
		"id too short":   "pcx_abc12_" + k.Secret,
		"id too long":    "pcx_abcdefghijklm_" + k.Secret,
		"upper in id":    "pcx_" + strings.ToUpper(k.ID) + "_" + k.Secret,
		"symbol":         s[:len(s)-3] + "-" + s[len(s)-2:],
		"space":          " " + s,
		"trailing nl":    s + "\n",
		"non-ascii":      s[:len(s)-2] + "é",
		"huge":           strings.Repeat("a", 10000),
		"underscore end": s[:len(s)-1] + "_",
	} {
		if _, err := Parse(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: Parse(%q) = %v, want ErrMalformed", name, in, err)
		}
	}
}

func pepper(b byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32))
}

func TestHasher(t *testing.T) {
	ring1, err := ParsePeppers("1:" + pepper(1))
	if err != nil {
		t.Fatal(err)
	}
	h1 := NewHasher(ring1)
	k, _ := New()
	mac, v := h1.MAC(k)
	if v != 1 || len(mac) != 32 {
		t.Fatalf("MAC version %d length %d, want 1 and 32", v, len(mac))
	}
	if bytes.Contains(mac, []byte(k.Secret)) {
		t.Fatal("MAC contains the secret")
	}
	if !h1.Verify(k, 1, mac) {
		t.Fatal("Verify of the right key failed")
	}
	other, _ := New()
	if h1.Verify(other, 1, mac) {
		t.Fatal("Verify of another key succeeded")
	}
	if h1.Verify(k, 2, mac) {
		t.Fatal("Verify under an unknown pepper version succeeded")
	}

	// Rotation: a new pepper version becomes current; keys made under v1 still verify.
	ring2, _ := keyring.Parse("1:"+pepper(1)+",2:"+pepper(2), MinPepperLen, 0)
	h2 := NewHasher(ring2)
	if !h2.Verify(k, 1, mac) {
		t.Fatal("key under pepper 1 no longer verifies after adding pepper 2")
	}
	mac2, v2 := h2.MAC(k)
	if v2 != 2 || bytes.Equal(mac2, mac) {
		t.Fatalf("MAC after rotation: version %d, same bytes %v; want version 2, different bytes", v2, bytes.Equal(mac2, mac))
	}
	// A different pepper under the same version number rejects the key: the pepper is the secret.
	ringX, _ := ParsePeppers("1:" + pepper(9))
	if NewHasher(ringX).Verify(k, 1, mac) {
		t.Fatal("Verify succeeded with a different pepper")
	}
	h1.VerifyNothing(k) // must not panic

	// The MAC is HMAC-SHA256(pepper, full key), also when pooled keyed states are reused from many
	// goroutines at once.
	raw, _ := base64.StdEncoding.DecodeString(pepper(1))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				k, _ := New()
				m := hmac.New(sha256.New, raw)
				m.Write([]byte(k.String()))
				if got, _ := h1.MAC(k); !bytes.Equal(got, m.Sum(nil)) || !h1.Verify(k, 1, got) {
					t.Errorf("MAC of %s is not HMAC-SHA256(pepper, key)", k.Prefix())
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestParsePeppersRejectsShort(t *testing.T) {
	if _, err := ParsePeppers("1:" + base64.StdEncoding.EncodeToString([]byte("short"))); err == nil {
		t.Fatal("a 5-byte pepper was accepted")
	}
}

func FuzzParse(f *testing.F) {
	k, _ := New()
	f.Add(k.String())
	f.Add("pcx_abc123_" + strings.Repeat("A", 32))
	f.Add("")
	f.Add("pcx_")
	f.Add("pcx_abcdef_")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse(%q) error %v is not ErrMalformed", s, err)
			}
			return
		}
		if got.String() != s {
			t.Fatalf("Parse(%q) round-trips to %q", s, got.String())
		}
		if !pcx.ValidKeyPrefix(got.Prefix()) || len(got.Secret) != SecretLen {
			t.Fatalf("Parse(%q) accepted a key with prefix %q and secret length %d", s, got.Prefix(), len(got.Secret))
		}
	})
}

// BenchmarkVerify is the per-request cost of checking a key's secret (every authenticated request
// pays it, cache or not): go test ./internal/keyformat -run '^$' -bench Verify
func BenchmarkVerify(b *testing.B) {
	ring, err := ParsePeppers("1:" + pepper(1))
	if err != nil {
		b.Fatal(err)
	}
	h := NewHasher(ring)
	k, _ := New()
	mac, v := h.MAC(k)
	b.ReportAllocs()
	for b.Loop() {
		if !h.Verify(k, v, mac) {
			b.Fatal("the right key did not verify")
		}
	}
}
