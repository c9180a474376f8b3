package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

var opCtx = pcx.WithOrigin(context.Background(), pcx.Origin{Actor: pcx.Actor{Operator: "test"}, RequestID: "req-1", ClientIP: "192.0.2.1"})

func rec(t *testing.T, org, action, target string) *pcx.AuditRecord {
	t.Helper()
	r, err := pcx.NewAuditRecord(opCtx, org, action, target, time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func actions(recs []*pcx.AuditRecord) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Action+" "+r.TargetID)
	}
	return out
}

// The record is written with its change, and only when the change is: a change refused by its
// condition (another organisation's key, a key already revoked, a URL already taken) leaves none.
func TestAuditRecordsGoWithTheirChange(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	k := newKey("org-a", time.Now())
	if err := s.CreateAPIKey(ctx, k, rec(t, "org-a", pcx.AuditKeyCreated, k.ID)); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.RevokeAPIKey(ctx, "org-b", k.Prefix, rec(t, "org-b", pcx.AuditKeyRevoked, k.ID))
	wantCode(t, err, pcx.ENotFound)
	if _, changed, err := s.RevokeAPIKey(ctx, "org-a", k.Prefix, rec(t, "org-a", pcx.AuditKeyRevoked, k.ID)); err != nil || !changed {
		t.Fatalf("revoke = %v, %v", changed, err)
	}
	if _, changed, err := s.RevokeAPIKey(ctx, "org-a", k.Prefix, rec(t, "org-a", pcx.AuditKeyRevoked, k.ID)); err != nil || changed {
		t.Fatalf("second revoke = %v, %v; want no change", changed, err)
	}
	w := newHook(t, "org-a", time.Now())
	if err := s.CreateWebhook(ctx, w, 10, rec(t, "org-a", pcx.AuditWebhookCreated, w.ID)); err != nil {
		t.Fatal(err)
	}
	dup := newHook(t, "org-a", time.Now())
	dup.URL = w.URL
	wantCode(t, s.CreateWebhook(ctx, dup, 10, rec(t, "org-a", pcx.AuditWebhookCreated, dup.ID)), pcx.EConflict)
	_, err = s.UpdateWebhook(ctx, "org-a", "wh_01aaaaaaaaaaaaaaaaaaaaaaaa", store.WebhookPatch{}.WithStatus(pcx.WebhookDisabled, pcx.DisabledByOwner),
		rec(t, "org-a", pcx.AuditWebhookDisabled, "wh_01aaaaaaaaaaaaaaaaaaaaaaaa"))
	wantCode(t, err, pcx.ENotFound)

	got, next, err := s.ListAuditEvents(ctx, "org-a", store.AuditFilter{}, 100, "")
	want := []string{"webhook.created " + w.ID, "api_key.revoked " + k.ID, "api_key.created " + k.ID}
	if err != nil || next != "" || !slices.Equal(actions(got), want) {
		t.Fatalf("org-a's log = %v, %q, %v; want %v", actions(got), next, err, want)
	}
	r := got[0]
	if r.Actor.Operator != "test" || r.RequestID != "req-1" || r.ClientIP != "192.0.2.1" || r.OrgID != "org-a" || r.At.IsZero() {
		t.Fatalf("record read back = %+v", r)
	}
	if got, _, _ := s.ListAuditEvents(ctx, "org-b", store.AuditFilter{}, 100, ""); len(got) != 0 {
		t.Fatalf("org-b's log = %v, want nothing (its revoke failed)", actions(got))
	}
}

// Filters by action, by target, by both, by time, and pages that walk them.
func TestListAuditEventsFilters(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	var keys []*pcx.APIKey
	for range 3 {
		k := newKey("org-f", time.Now())
		keys = append(keys, k)
		if err := s.CreateAPIKey(ctx, k, rec(t, "org-f", pcx.AuditKeyCreated, k.ID)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.RevokeAPIKey(ctx, "org-f", k.Prefix, rec(t, "org-f", pcx.AuditKeyRevoked, k.ID)); err != nil {
			t.Fatal(err)
		}
	}
	list := func(f store.AuditFilter, limit int) []string {
		t.Helper()
		var all []*pcx.AuditRecord
		after := ""
		for range 20 {
			page, next, err := s.ListAuditEvents(ctx, "org-f", f, limit, after)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			if next == "" {
				return actions(all)
			}
			after = next
		}
		t.Fatal("pages do not end")
		return nil
	}
	if got := list(store.AuditFilter{Action: pcx.AuditKeyRevoked}, 1); !slices.Equal(got, []string{
		"api_key.revoked " + keys[2].ID, "api_key.revoked " + keys[1].ID, "api_key.revoked " + keys[0].ID}) {
		t.Errorf("by action, pages of 1: %v", got)
	}
	if got := list(store.AuditFilter{TargetID: keys[1].ID}, 1); !slices.Equal(got, []string{"api_key.revoked " + keys[1].ID, "api_key.created " + keys[1].ID}) {
		t.Errorf("by target: %v", got)
	}
	if got := list(store.AuditFilter{TargetID: keys[1].ID, Action: pcx.AuditKeyCreated}, 1); !slices.Equal(got, []string{"api_key.created " + keys[1].ID}) {
		t.Errorf("by target and action: %v", got)
	}
	if got := list(store.AuditFilter{}, 4); len(got) != 6 {
		t.Errorf("all, pages of 4: %v", got)
	}
	future := pcx.FirstAuditID(time.Now().Add(time.Hour))
	if got := list(store.AuditFilter{SinceID: future}, 10); len(got) != 0 {
		t.Errorf("since an hour ahead: %v", got)
	}
	if got := list(store.AuditFilter{UntilID: pcx.LastAuditID(time.Now().Add(-time.Hour)), Action: pcx.AuditKeyCreated}, 10); len(got) != 0 {
		t.Errorf("until an hour ago: %v", got)
	}
	_, _, err := s.ListAuditEvents(ctx, "org-f", store.AuditFilter{}, 10, "not-an-id")
	wantCode(t, err, pcx.EInvalid)
}

// A key stored before scopes and lineage existed reads with every scope and no creator, by prefix
// and in its organisation's list; a minted key is found among its creator's children.
func TestKeysBeforeScopesAndLineage(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	old := newKey("org-l", time.Now()) // Scopes nil: written as before scopes existed
	if err := s.CreateAPIKey(ctx, old, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.APIKeyByPrefix(ctx, old.Prefix)
	if err != nil || !slices.Equal(got.Scopes, pcx.AllScopes) || got.CreatedBy != "" {
		t.Fatalf("pre-scope key = %+v, %v", got, err)
	}
	child := newKey("org-l", time.Now())
	child.Scopes, child.CreatedBy = []pcx.Scope{pcx.ScopeAuditRead}, old.ID
	if err := s.CreateAPIKey(ctx, child, nil); err != nil {
		t.Fatal(err)
	}
	listed, _, err := s.ListAPIKeys(ctx, "org-l", 10, "")
	if err != nil || len(listed) != 2 {
		t.Fatalf("list = %v, %v", listed, err)
	}
	for _, k := range listed {
		want := pcx.AllScopes
		if k.ID == child.ID {
			want = child.Scopes
		}
		if !slices.Equal(k.Scopes, want) {
			t.Errorf("listed %s scopes %v, want %v", k.ID, k.Scopes, want)
		}
	}
	kids, err := s.KeyChildren(ctx, old.ID)
	if err != nil || !slices.Equal(kids, []string{child.Prefix}) {
		t.Fatalf("children = %v, %v", kids, err)
	}
}

// A roll is one transaction: the new key, the old key's new expiry and both records; a roll of a
// key revoked since it was read changes nothing.
func TestRollAPIKeyIsAtomic(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	old := newKey("org-r", time.Now())
	if err := s.CreateAPIKey(ctx, old, nil); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	next := newKey("org-r", time.Now())
	if err := s.RollAPIKey(ctx, old, until, next, rec(t, "org-r", pcx.AuditKeyCreated, next.ID), rec(t, "org-r", pcx.AuditKeyRolled, old.ID)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.APIKeyByPrefix(ctx, old.Prefix); got.ExpiresAt == nil || !got.ExpiresAt.Equal(until) {
		t.Fatalf("old key expires %v, want %v", got.ExpiresAt, until)
	}
	if _, err := s.APIKeyByPrefix(ctx, next.Prefix); err != nil {
		t.Fatalf("new key: %v", err)
	}
	// Revoked since it was read: nothing is written.
	if _, _, err := s.RevokeAPIKey(ctx, "org-r", next.Prefix, nil); err != nil {
		t.Fatal(err)
	}
	third := newKey("org-r", time.Now())
	wantCode(t, s.RollAPIKey(ctx, next, until, third, rec(t, "org-r", pcx.AuditKeyCreated, third.ID), rec(t, "org-r", pcx.AuditKeyRolled, next.ID)), pcx.EConflict)
	_, err := s.APIKeyByPrefix(ctx, third.Prefix)
	wantCode(t, err, pcx.ENotFound)
	got, _, _ := s.ListAuditEvents(ctx, "org-r", store.AuditFilter{}, 10, "")
	// Both records are made in one millisecond: their order is their IDs' random bits.
	if want := []string{"api_key.created " + next.ID, "api_key.rolled " + old.ID}; !slices.Equal(slices.Sorted(slices.Values(actions(got))), want) {
		t.Fatalf("log = %v, want %v", actions(got), want)
	}
}
