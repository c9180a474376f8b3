package apikeys

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/internal/keyformat"
)

func (f *fakeStore) RehashAPIKey(_ context.Context, prefix string, oldVersion int, mac []byte, newVersion int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k, ok := f.keys[prefix]; ok && k.PepperVersion == oldVersion {
		k.SecretMAC, k.PepperVersion = mac, newVersion
	}
	return nil
}

// hasherOf is a Hasher over peppers "version:pepper" given as plain text.
func hasherOf(t *testing.T, peppers ...string) *keyformat.Hasher {
	t.Helper()
	entries := make([]string, len(peppers))
	for i, p := range peppers {
		v, pepper, _ := strings.Cut(p, ":")
		entries[i] = v + ":" + base64.StdEncoding.EncodeToString([]byte(pepper))
	}
	ring, err := keyformat.ParsePeppers(strings.Join(entries, ","))
	if err != nil {
		t.Fatal(err)
	}
	return keyformat.NewHasher(ring)
}

// A key stored under an older pepper is re-hashed under the newest when it authenticates, in the
// background (the request neither waits nor fails for it), so the older pepper can be retired:
// the key then works with it gone.
func TestAuthenticateRehashesUnderTheNewestPepper(t *testing.T) {
	const p1, p2 = "1:" + "the first pepper, 32 bytes long!", "2:" + "the second pepper, also 32 bytes"
	st := newFake()
	s := &Service{Store: st, Hasher: hasherOf(t, p1)}
	full, rec, err := s.Create(opCtx, CreateInput{OrgID: "org-1", UserID: "user-1", Name: "n"})
	if err != nil || rec.PepperVersion != 1 {
		t.Fatalf("Create = %+v, %v; want a key under pepper 1", rec, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	both := NewAuthenticator(st, hasherOf(t, p1, p2), time.Minute, zerolog.Nop())
	go both.Run(ctx)
	for range 3 { // cached or not, one re-hash
		if _, err := both.Authenticate(ctx, full); err != nil {
			t.Fatalf("Authenticate under peppers 1,2: %v", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		k, _ := st.APIKeyByPrefix(ctx, rec.Prefix)
		if k.PepperVersion == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the key is still under pepper %d, want 2", k.PepperVersion)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The cache entry held the old MAC: it is dropped, so this instance reads the new one.
	if _, err := both.Authenticate(ctx, full); err != nil {
		t.Fatalf("Authenticate after the re-hash: %v", err)
	}
	only2 := NewAuthenticator(st, hasherOf(t, p2), 0, zerolog.Nop())
	if _, err := only2.Authenticate(ctx, full); err != nil {
		t.Fatalf("Authenticate with pepper 1 retired: %v", err)
	}
	if _, err := NewAuthenticator(st, hasherOf(t, p1), 0, zerolog.Nop()).Authenticate(ctx, full); err == nil {
		t.Fatal("the key still verifies under pepper 1 alone after its re-hash")
	}
}
