package store_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
)

const idemTTL = 24 * time.Hour

// newClaim returns the record a notify with this key and body would claim at created.
func newClaim(org, key, body string, created time.Time) *pcx.Idempotency {
	created = created.UTC().Truncate(time.Millisecond)
	kh, bh := sha256.Sum256([]byte(key)), sha256.Sum256([]byte(body))
	id := pcx.NewID("evt", created)
	return &pcx.Idempotency{OrgID: org, KeyHash: kh[:], BodyHash: bh[:], EventID: id, WorkflowID: "event-" + id, CreatedAt: created}
}

// idemDiff describes how a returned record differs from the stored one, "" if it does not. The
// key hash is the caller's and is not compared.
func idemDiff(got, want *pcx.Idempotency) string {
	if got == nil {
		return fmt.Sprintf("got nil, want the record of event %s", want.EventID)
	}
	if got.OrgID != want.OrgID || !bytes.Equal(got.BodyHash, want.BodyHash) || got.EventID != want.EventID ||
		got.WorkflowID != want.WorkflowID || got.RunID != want.RunID || got.EndpointCount != want.EndpointCount ||
		!got.CreatedAt.Equal(want.CreatedAt) {
		return fmt.Sprintf("got {org %s body %x event %s workflow %s run %q endpoints %d created %v}, "+
			"want {org %s body %x event %s workflow %s run %q endpoints %d created %v}",
			got.OrgID, got.BodyHash[:min(4, len(got.BodyHash))], got.EventID, got.WorkflowID, got.RunID, got.EndpointCount, got.CreatedAt,
			want.OrgID, want.BodyHash[:4], want.EventID, want.WorkflowID, want.RunID, want.EndpointCount, want.CreatedAt)
	}
	return ""
}

func TestClaimIdempotency(t *testing.T) {
	t.Parallel()
	s, tb := newTableStore(t)
	ctx := testenv.Context(t, time.Minute)
	now := time.Now().UTC().Truncate(time.Millisecond)
	s.Now = func() time.Time { return now }

	first := newClaim("org-a", "key-1", "body", now)
	if got, err := s.ClaimIdempotency(ctx, first, idemTTL); got != nil || err != nil {
		t.Fatalf("first claim = %+v, %v; want nil, nil", got, err)
	}
	raw := tb.item(t, ctx, "IDEM#org-a#"+hex.EncodeToString(first.KeyHash), "IDEM")
	if got, want := ttlOf(t, raw), unix(first.CreatedAt.Add(idemTTL)); got != want {
		t.Fatalf("record ttl = %s, want created_at + ttl = %s", got, want)
	}

	// The same key again, even with another body, returns the first record and stores nothing.
	second := newClaim("org-a", "key-1", "another body", now.Add(time.Second))
	got, err := s.ClaimIdempotency(ctx, second, idemTTL)
	if err != nil {
		t.Fatalf("second claim: %v", err)
	}
	if d := idemDiff(got, first); d != "" {
		t.Fatalf("second claim: %s", d)
	}

	// Another org's key of the same text is its own.
	otherOrg := newClaim("org-b", "key-1", "body", now)
	if got, err := s.ClaimIdempotency(ctx, otherOrg, idemTTL); got != nil || err != nil {
		t.Fatalf("claim of the same key by org-b = %+v, %v; want nil, nil", got, err)
	}
	// So is another key of the same org.
	if got, err := s.ClaimIdempotency(ctx, newClaim("org-a", "key-2", "body", now), idemTTL); got != nil || err != nil {
		t.Fatalf("claim of another key = %+v, %v; want nil, nil", got, err)
	}

	// Completing records the reply; the next claim sees it. org-b's record is untouched.
	done := *first
	done.RunID, done.EndpointCount = "run-1", 7
	if err := s.CompleteIdempotency(ctx, &done); err != nil {
		t.Fatalf("CompleteIdempotency: %v", err)
	}
	got, err = s.ClaimIdempotency(ctx, second, idemTTL)
	if err != nil {
		t.Fatal(err)
	}
	if d := idemDiff(got, &done); d != "" {
		t.Fatalf("claim after completion: %s", d)
	}
	got, err = s.ClaimIdempotency(ctx, newClaim("org-b", "key-1", "body", now), idemTTL)
	if err != nil {
		t.Fatal(err)
	}
	if d := idemDiff(got, otherOrg); d != "" {
		t.Fatalf("org-b's record after org-a's completion: %s", d)
	}
}

func TestClaimIdempotencyAfterExpiry(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	t0 := time.Now().UTC().Truncate(time.Second).Add(500 * time.Millisecond)
	s.Now = func() time.Time { return t0 }
	first := newClaim("org-a", "key-1", "body", t0)
	if got, err := s.ClaimIdempotency(ctx, first, idemTTL); got != nil || err != nil {
		t.Fatalf("first claim = %+v, %v; want nil, nil", got, err)
	}
	done := *first
	done.RunID, done.EndpointCount = "run-1", 2
	if err := s.CompleteIdempotency(ctx, &done); err != nil {
		t.Fatal(err)
	}

	// Until its TTL the record holds; once past it, the key is free (DynamoDB deletes expired
	// items only some time later) and a new claim replaces it.
	for _, tc := range []struct {
		name     string
		at       time.Duration
		replaced bool
	}{
		{"an hour before", idemTTL - time.Hour, false},
		{"at the TTL", idemTTL, false},
		{"past the TTL", idemTTL + 2*time.Second, true},
	} {
		at := t0.Add(tc.at)
		s.Now = func() time.Time { return at }
		rec := newClaim("org-a", "key-1", "new body", at)
		got, err := s.ClaimIdempotency(ctx, rec, idemTTL)
		if err != nil {
			t.Fatalf("%s: claim: %v", tc.name, err)
		}
		if tc.replaced {
			if got != nil {
				t.Fatalf("%s: claim returned %+v, want nil (the expired record is absent)", tc.name, got)
			}
			again, err := s.ClaimIdempotency(ctx, newClaim("org-a", "key-1", "body", at), idemTTL)
			if err != nil {
				t.Fatal(err)
			}
			if d := idemDiff(again, rec); d != "" {
				t.Fatalf("%s: the claim after the replacement: %s", tc.name, d)
			}
			continue
		}
		if d := idemDiff(got, &done); d != "" {
			t.Fatalf("%s: claim: %s", tc.name, d)
		}
	}
}

func TestClaimIdempotencyConcurrently(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	now := time.Now()
	const workers = 10
	claims := make([]*pcx.Idempotency, workers)
	got := make([]*pcx.Idempotency, workers)
	errs := make([]error, workers)
	for i := range claims {
		claims[i] = newClaim("org-a", "the-key", "body", now)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range workers {
		wg.Go(func() {
			<-start
			got[i], errs[i] = s.ClaimIdempotency(ctx, claims[i], idemTTL)
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i := range workers {
		if errs[i] != nil {
			t.Fatalf("claim %d: %v", i, errs[i])
		}
		if got[i] == nil {
			if winner >= 0 {
				t.Fatalf("claims %d and %d both won the key", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no claim of %d won the key", workers)
	}
	for i := range workers {
		if i == winner {
			continue
		}
		if d := idemDiff(got[i], claims[winner]); d != "" {
			t.Fatalf("claim %d lost to claim %d but returned: %s", i, winner, d)
		}
	}
}
