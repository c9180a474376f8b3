package apikeys

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pcx/publicservice/pcx"
)

// mintAs creates a key for org-1 as creator (nil: bootstrap) and returns it as a principal.
func mintAs(t *testing.T, s *Service, creator *pcx.Principal, scopes []pcx.Scope, exp *time.Time) pcx.Principal {
	t.Helper()
	_, k, err := s.Create(opCtx, CreateInput{OrgID: "org-1", UserID: "user-1", Name: "k", Scopes: scopes, ExpiresAt: exp, Creator: creator})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return k.Principal()
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var pe *pcx.Error
	if pcx.ErrorCode(err) != pcx.EInvalid || !asError(err, &pe) || pe.Fields[field] == "" {
		t.Fatalf("err = %v; want 400 naming %s", err, field)
	}
}

func asError(err error, pe **pcx.Error) bool {
	e, ok := err.(*pcx.Error)
	*pe = e
	return ok
}

func TestLineageBoundsAMintedKey(t *testing.T) {
	st := newFake()
	s := newService(t, st)
	root := mintAs(t, s, nil, nil, nil)
	if !slices.Equal(root.Scopes, pcx.AllScopes) {
		t.Fatalf("bootstrap key scopes = %v, want all", root.Scopes)
	}
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	ci := mintAs(t, s, &root, []pcx.Scope{pcx.ScopeEventsWrite, pcx.ScopeKeysWrite}, &exp)

	// Scopes default to the creator's; a wider set is refused, naming the field.
	child := mintAs(t, s, &ci, nil, nil)
	if !slices.Equal(child.Scopes, []pcx.Scope{pcx.ScopeKeysWrite, pcx.ScopeEventsWrite}) {
		t.Fatalf("default scopes = %v, want the creator's", child.Scopes)
	}
	_, _, err := s.Create(opCtx, CreateInput{OrgID: "org-1", UserID: "u", Name: "n", Scopes: []pcx.Scope{pcx.ScopeKeysRead}, Creator: &ci})
	wantField(t, err, "scopes")

	// Expiry defaults to the creator's, and may not be later.
	if child.ExpiresAt == nil || !child.ExpiresAt.Equal(exp) {
		t.Fatalf("default expiry = %v, want the creator's %v", child.ExpiresAt, exp)
	}
	later := exp.Add(time.Minute)
	_, _, err = s.Create(opCtx, CreateInput{OrgID: "org-1", UserID: "u", Name: "n", ExpiresAt: &later, Creator: &ci})
	wantField(t, err, "expires_at")

	k, _ := st.APIKeyOf(opCtx, "org-1", child.Prefix)
	if k.CreatedBy != ci.APIKeyID {
		t.Fatalf("created_by = %q, want %q", k.CreatedBy, ci.APIKeyID)
	}
}

func TestCascadeRevokeCountsEveryDescendantOnce(t *testing.T) {
	st := newFake()
	s := newService(t, st)
	root := mintAs(t, s, nil, nil, nil)
	a := mintAs(t, s, &root, nil, nil)
	b := mintAs(t, s, &a, nil, nil)
	mintAs(t, s, &b, nil, nil)
	other := mintAs(t, s, nil, nil, nil) // not in the lineage

	if _, n, err := s.Revoke(opCtx, "org-1", b.Prefix, false); err != nil || n != 1 {
		t.Fatalf("plain revoke = %d, %v; want 1", n, err)
	}
	k, n, err := s.Revoke(opCtx, "org-1", a.Prefix, true)
	if err != nil || n != 2 || k.Status != pcx.KeyRevoked {
		t.Fatalf("cascade revoke = %d, %v; want 2 (a and b's child; b was revoked before)", n, err)
	}
	for p, key := range st.keys {
		wantRevoked := p != root.Prefix && p != other.Prefix
		if (key.Status == pcx.KeyRevoked) != wantRevoked {
			t.Errorf("%s: status %s, revoked wanted %v", p, key.Status, wantRevoked)
		}
	}
	if _, n, err := s.Revoke(opCtx, "org-1", a.Prefix, true); err != nil || n != 0 {
		t.Fatalf("repeated cascade = %d, %v; want 0", n, err)
	}
	revokes := 0
	for _, r := range st.audits {
		if r.Action == pcx.AuditKeyRevoked {
			revokes++
		}
	}
	if revokes != 3 {
		t.Fatalf("%d api_key.revoked records, want 3 (one per key that changed)", revokes)
	}
}

func TestRollAndActivateStayWithinTheCaller(t *testing.T) {
	st := newFake()
	now := time.Now().UTC().Truncate(time.Millisecond)
	s := newService(t, st)
	s.Now = func() time.Time { return now }
	root := mintAs(t, s, nil, nil, nil)
	narrow := mintAs(t, s, &root, []pcx.Scope{pcx.ScopeKeysWrite, pcx.ScopeKeysRead}, nil)

	// A narrow key cannot roll or activate the wider root.
	if _, _, err := s.Roll(opCtx, &narrow, "org-1", root.Prefix, time.Hour); pcx.ErrorCode(err) != pcx.EForbidden {
		t.Fatalf("roll of a wider key = %v, want forbidden", err)
	}
	if _, _, err := s.Revoke(opCtx, "org-1", root.Prefix, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Activate(opCtx, &narrow, "org-1", root.Prefix); pcx.ErrorCode(err) != pcx.EForbidden {
		t.Fatalf("activate of a wider key = %v, want forbidden", err)
	}

	// Rolling itself: same name and scopes, created by the caller, the old key ends after the overlap.
	full, next, err := s.Roll(opCtx, &narrow, "org-1", narrow.Prefix, time.Hour)
	if err != nil || full == "" {
		t.Fatalf("Roll = %v", err)
	}
	if !slices.Equal(next.Scopes, narrow.Scopes) || next.CreatedBy != narrow.APIKeyID || next.Prefix == narrow.Prefix {
		t.Fatalf("rolled key = %+v", next)
	}
	old, _ := st.APIKeyOf(opCtx, "org-1", narrow.Prefix)
	if old.ExpiresAt == nil || !old.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("old key expires %v, want %v", old.ExpiresAt, now.Add(time.Hour))
	}
	if _, _, err := s.Roll(opCtx, &narrow, "org-1", narrow.Prefix, 8*24*time.Hour); pcx.ErrorCode(err) != pcx.EInvalid {
		t.Fatalf("overlap over 7 days = %v, want 400", err)
	}
}

func TestAChangeWithNoActorIsNotMade(t *testing.T) {
	st := newFake()
	s := newService(t, st)
	_, _, err := s.Create(context.Background(), CreateInput{OrgID: "org-1", UserID: "u", Name: "n"})
	if pcx.ErrorCode(err) != pcx.EInternal || len(st.keys) != 0 {
		t.Fatalf("Create with no actor = %v, %d keys; want an internal error and nothing stored", err, len(st.keys))
	}
	k := mintAs(t, s, nil, nil, nil)
	if _, _, err := s.Revoke(context.Background(), "org-1", k.Prefix, false); pcx.ErrorCode(err) != pcx.EInternal {
		t.Fatalf("Revoke with no actor = %v", err)
	}
	if got, _ := st.APIKeyOf(opCtx, "org-1", k.Prefix); got.Status != pcx.KeyActive {
		t.Fatalf("status after an unaudited revoke = %s, want active", got.Status)
	}
	if len(st.audits) != 1 || st.audits[0].Action != pcx.AuditKeyCreated || st.audits[0].Actor.Operator != "test" {
		t.Fatalf("audits = %+v; want the one create, by the operator", st.audits)
	}
}

func TestUpdateBoundsTheExpiry(t *testing.T) {
	st := newFake()
	s := newService(t, st)
	root := mintAs(t, s, nil, nil, nil)
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	ci := mintAs(t, s, &root, nil, &exp)
	child := mintAs(t, s, &ci, nil, nil)
	later := exp.Add(time.Hour)
	_, err := s.Update(opCtx, &ci, "org-1", child.Prefix, Patch{ExpiresAt: &later})
	wantField(t, err, "expires_at")
	name := "renamed"
	sooner := exp.Add(-time.Minute)
	k, err := s.Update(opCtx, &ci, "org-1", child.Prefix, Patch{Name: &name, ExpiresAt: &sooner})
	if err != nil || k.Name != name || !k.ExpiresAt.Equal(sooner) {
		t.Fatalf("Update = %+v, %v", k, err)
	}
}
