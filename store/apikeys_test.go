package store_test

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
)

var keySeq atomic.Int64

func newKey(org string, created time.Time) *pcx.APIKey {
	return &pcx.APIKey{
		ID:     pcx.NewID("key", created),
		Prefix: fmt.Sprintf("pcx_t%09d", keySeq.Add(1)),
		OrgID:  org, UserID: "user-1", Name: "test key", Status: pcx.KeyActive,
		CreatedAt: created.UTC().Truncate(time.Millisecond), SecretMAC: []byte("0123456789abcdef0123456789abcdef"),
		PepperVersion: 1,
	}
}

func wantCode(t *testing.T, err error, code pcx.Code) {
	t.Helper()
	if got := pcx.ErrorCode(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

func TestAPIKeyLifecycle(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	now := time.Now().UTC().Truncate(time.Millisecond)
	s.Now = func() time.Time { return now }

	k := newKey("org-a", now)
	exp := now.Add(time.Hour)
	k.ExpiresAt = &exp
	if err := s.CreateAPIKey(ctx, k, nil); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	got, err := s.APIKeyByPrefix(ctx, k.Prefix)
	if err != nil {
		t.Fatalf("APIKeyByPrefix: %v", err)
	}
	if got.ID != k.ID || got.OrgID != "org-a" || string(got.SecretMAC) != string(k.SecretMAC) ||
		got.PepperVersion != 1 || !got.CreatedAt.Equal(k.CreatedAt) || got.ExpiresAt == nil || !got.ExpiresAt.Equal(exp) {
		t.Fatalf("APIKeyByPrefix = %+v, want %+v", got, k)
	}
	if _, err := s.APIKeyByID(ctx, "org-a", k.ID); err != nil {
		t.Fatalf("APIKeyByID own org: %v", err)
	}
	_, err = s.APIKeyByID(ctx, "org-b", k.ID)
	wantCode(t, err, pcx.ENotFound)

	// Revoke: another org cannot, the owner can, twice.
	_, _, err = s.RevokeAPIKey(ctx, "org-b", k.Prefix, nil)
	wantCode(t, err, pcx.ENotFound)
	if got, _ := s.APIKeyByPrefix(ctx, k.Prefix); got.Status != pcx.KeyActive {
		t.Fatalf("status after a foreign revoke = %s, want active", got.Status)
	}
	rev, changed, err := s.RevokeAPIKey(ctx, "org-a", k.Prefix, nil)
	if err != nil || !changed || rev.Status != pcx.KeyRevoked || rev.RevokedAt == nil || !rev.RevokedAt.Equal(now) {
		t.Fatalf("RevokeAPIKey = %+v, %v; want revoked at %v", rev, err, now)
	}
	s.Now = func() time.Time { return now.Add(time.Minute) }
	rev2, changed, err := s.RevokeAPIKey(ctx, "org-a", k.Prefix, nil)
	if err != nil || changed || !rev2.RevokedAt.Equal(now) {
		t.Fatalf("second revoke = %+v, %v; want revoked_at unchanged %v", rev2, err, now)
	}

	// Activate: a foreign org cannot; the owner can while unexpired.
	_, err = s.ActivateAPIKey(ctx, "org-b", k.Prefix, nil)
	wantCode(t, err, pcx.ENotFound)
	act, err := s.ActivateAPIKey(ctx, "org-a", k.Prefix, nil)
	if err != nil || act.Status != pcx.KeyActive || act.RevokedAt != nil {
		t.Fatalf("ActivateAPIKey = %+v, %v; want active without revoked_at", act, err)
	}
	s.Now = func() time.Time { return now.Add(2 * time.Hour) }
	if _, _, err := s.RevokeAPIKey(ctx, "org-a", k.Prefix, nil); err != nil {
		t.Fatal(err)
	}
	_, err = s.ActivateAPIKey(ctx, "org-a", k.Prefix, nil)
	wantCode(t, err, pcx.EConflict)

	// Delete: a foreign org cannot; afterwards both lookups miss.
	wantCode(t, s.DeleteAPIKey(ctx, "org-b", k.Prefix, nil), pcx.ENotFound)
	if err := s.DeleteAPIKey(ctx, "org-a", k.Prefix, nil); err != nil {
		t.Fatalf("DeleteAPIKey: %v", err)
	}
	_, err = s.APIKeyByPrefix(ctx, k.Prefix)
	wantCode(t, err, pcx.ENotFound)
	_, err = s.APIKeyByID(ctx, "org-a", k.ID)
	wantCode(t, err, pcx.ENotFound)
	wantCode(t, s.DeleteAPIKey(ctx, "org-a", k.Prefix, nil), pcx.ENotFound)
	_, _, err = s.RevokeAPIKey(ctx, "org-a", k.Prefix, nil)
	wantCode(t, err, pcx.ENotFound)
}

func TestCreateAPIKeyNeverOverwrites(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	first := newKey("org-a", time.Now())
	if err := s.CreateAPIKey(ctx, first, nil); err != nil {
		t.Fatal(err)
	}
	clash := newKey("org-b", time.Now())
	clash.Prefix = first.Prefix
	if err := s.CreateAPIKey(ctx, clash, nil); !errors.Is(err, pcx.ErrPrefixTaken) {
		t.Fatalf("CreateAPIKey with a taken prefix = %v, want ErrPrefixTaken", err)
	}
	got, err := s.APIKeyByPrefix(ctx, first.Prefix)
	if err != nil || got.OrgID != "org-a" || got.ID != first.ID {
		t.Fatalf("after the clash the key is %+v, %v; want the first one unchanged", got, err)
	}
	// The clashing key's id index must not have been written either (the write is atomic).
	_, err = s.APIKeyByID(ctx, "org-b", clash.ID)
	wantCode(t, err, pcx.ENotFound)
}

func TestListAPIKeysPaginates(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	base := time.Now().Add(-time.Hour)
	var want []string // newest first
	for i := range 7 {
		k := newKey("org-a", base.Add(time.Duration(i)*time.Second))
		if err := s.CreateAPIKey(ctx, k, nil); err != nil {
			t.Fatal(err)
		}
		want = append([]string{k.ID}, want...)
	}
	if err := s.CreateAPIKey(ctx, newKey("org-b", base), nil); err != nil {
		t.Fatal(err)
	}
	listed, pages := allPages(t, 3, func(after string) ([]*pcx.APIKey, string, error) {
		return s.ListAPIKeys(ctx, "org-a", 3, after)
	})
	var got []string
	for _, k := range listed {
		if len(k.SecretMAC) != 0 {
			t.Fatalf("listed key %s carries its HMAC", k.ID)
		}
		got = append(got, k.ID)
	}
	if pages != 3 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("listed %v in %d pages, want %v in 3", got, pages, want)
	}
	// An exactly full last page says so: no empty page after it.
	keys, next, err := s.ListAPIKeys(ctx, "org-a", 7, "")
	if err != nil || len(keys) != 7 || next != "" {
		t.Fatalf("ListAPIKeys(limit 7) = %d keys, next %q, %v; want 7, \"\", nil", len(keys), next, err)
	}
	_, _, err = s.ListAPIKeys(ctx, "org-a", 3, "garbage")
	wantCode(t, err, pcx.EInvalid)
}

func TestTouchAPIKeyThrottles(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	k := newKey("org-a", time.Now())
	if err := s.CreateAPIKey(ctx, k, nil); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	for _, tc := range []struct {
		at   time.Time
		want time.Time
	}{
		{t0, t0},
		{t0.Add(30 * time.Second), t0}, // within the interval: no write
		{t0.Add(61 * time.Second), t0.Add(61 * time.Second)}, // past it: written
	} {
		if err := s.TouchAPIKey(ctx, k.Prefix, tc.at, time.Minute); err != nil {
			t.Fatalf("TouchAPIKey: %v", err)
		}
		got, _ := s.APIKeyByPrefix(ctx, k.Prefix)
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(tc.want) {
			t.Fatalf("after touch at %v last_used_at = %v, want %v", tc.at, got.LastUsedAt, tc.want)
		}
	}
	if err := s.TouchAPIKey(ctx, "pcx_missing000", t0, time.Minute); err != nil {
		t.Fatalf("TouchAPIKey of a deleted key = %v, want nil (nothing to record)", err)
	}
}
