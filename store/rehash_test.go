package store_test

import (
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/testenv"
)

// A re-hash stores the new MAC and pepper version only while the key is still under the old
// version: a second instance's re-hash that lost the race changes nothing, and a deleted key is
// not an error. The operator count sees every key under its version.
func TestRehashAPIKeyIsConditional(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	a, b := newKey("org-a", time.Now()), newKey("org-b", time.Now())
	if err := s.CreateAPIKey(ctx, a, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAPIKey(ctx, b, nil); err != nil {
		t.Fatal(err)
	}
	old := a.PepperVersion
	if err := s.RehashAPIKey(ctx, a.Prefix, old, []byte("mac under pepper 9"), 9); err != nil {
		t.Fatal(err)
	}
	// The loser of a race: it read the old version too, and must not overwrite the winner.
	if err := s.RehashAPIKey(ctx, a.Prefix, old, []byte("a stale re-hash"), 8); err != nil {
		t.Fatal(err)
	}
	got, err := s.APIKeyByPrefix(ctx, a.Prefix)
	if err != nil || got.PepperVersion != 9 || string(got.SecretMAC) != "mac under pepper 9" || got.Name != a.Name || got.Status != a.Status {
		t.Fatalf("after the re-hashes: %+v, %v; want pepper 9 with its MAC, nothing else changed", got, err)
	}
	if err := s.RehashAPIKey(ctx, "pcx_missing000", 1, []byte("x"), 2); err != nil {
		t.Fatalf("re-hash of a deleted key = %v, want nil", err)
	}
	counts, err := s.APIKeyPepperVersions(ctx, 1)
	if err != nil || len(counts) != 2 || counts[9] != 1 || counts[b.PepperVersion] != 1 {
		t.Fatalf("APIKeyPepperVersions = %v, %v; want one key under 9 and one under %d", counts, err, b.PepperVersion)
	}
}
