package e2e

import (
	"context"
	"crypto/rand"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/keyformat"
	"github.com/pcx/publicservice/pcx"
)

// scopedKey is a key as the lineage tests read it back.
type scopedKey struct {
	keyData
	Scopes       []string `json:"scopes"`
	CreatedBy    *string  `json:"created_by"`
	RevokedCount *int     `json:"revoked_count"`
}

// mint creates a key with the caller key and the body, and wants 201.
func mint(t *testing.T, base, caller string, body map[string]any) scopedKey {
	t.Helper()
	r := call(t, "POST", base+"/public/api-keys/create", caller, body)
	wantStatus(t, r, 201)
	var k scopedKey
	r.decode(t, &k, nil)
	return k
}

// allBut returns every scope but s.
func allBut(s pcx.Scope) []string {
	var out []string
	for _, x := range pcx.AllScopes {
		if x != s {
			out = append(out, string(x))
		}
	}
	return out
}

// TestEveryRouteNeedsItsScope calls every public operation with a key that has every scope but
// the one the contract's table gives the operation, and wants the exact 403 missing_scope before
// anything is read or changed; a key with only that scope gets past the check. Every operation
// of the OpenAPI description has a case, so a new route cannot ship without its scope.
func TestEveryRouteNeedsItsScope(t *testing.T) {
	t.Parallel()
	rc, env, e := deliveryStack(t, "")
	root := env.bootstrapKey("org-sc", "root")
	hook := register(t, e.base, root, rc.url("/scopes"))
	ev := notify(t, e.base, root, "org-sc", `{"tx":"scopes"}`).EventID
	other := mint(t, e.base, root, map[string]any{"name": "target"})

	type op struct {
		route, method, path string
		body                any
		scope               pcx.Scope
	}
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	ops := []op{
		{"POST /public/api-keys/create", "POST", "/public/api-keys/create", map[string]any{"name": "x"}, pcx.ScopeKeysWrite},
		{"GET /public/api-keys", "GET", "/public/api-keys", nil, pcx.ScopeKeysRead},
		{"GET /public/api-keys/{key}", "GET", "/public/api-keys/" + other.APIKeyID, nil, pcx.ScopeKeysRead},
		{"PATCH /public/api-keys/{key}", "PATCH", "/public/api-keys/" + other.Prefix, map[string]any{"name": "y"}, pcx.ScopeKeysWrite},
		{"DELETE /public/api-keys/{key}", "DELETE", "/public/api-keys/" + other.Prefix, nil, pcx.ScopeKeysWrite},
		{"PATCH /public/api-keys/{prefix}/revoke", "PATCH", "/public/api-keys/" + other.Prefix + "/revoke", nil, pcx.ScopeKeysWrite},
		{"PATCH /public/api-keys/{prefix}/activate", "PATCH", "/public/api-keys/" + other.Prefix + "/activate", nil, pcx.ScopeKeysWrite},
		{"POST /public/api-keys/{prefix}/roll", "POST", "/public/api-keys/" + other.Prefix + "/roll", nil, pcx.ScopeKeysWrite},
		{"POST /public/webhooks", "POST", "/public/webhooks", map[string]any{"endpoint_url": rc.url("/x")}, pcx.ScopeWebhooksWrite},
		{"GET /public/webhooks", "GET", "/public/webhooks", nil, pcx.ScopeWebhooksRead},
		{"GET /public/webhooks/{webhook_id}", "GET", "/public/webhooks/" + hook.WebhookID, nil, pcx.ScopeWebhooksRead},
		{"PATCH /public/webhooks/{webhook_id}", "PATCH", "/public/webhooks/" + hook.WebhookID, map[string]any{"description": "d"}, pcx.ScopeWebhooksWrite},
		{"DELETE /public/webhooks/{webhook_id}", "DELETE", "/public/webhooks/" + hook.WebhookID, nil, pcx.ScopeWebhooksWrite},
		{"POST /public/webhooks/{webhook_id}/rotate-secret", "POST", "/public/webhooks/" + hook.WebhookID + "/rotate-secret", nil, pcx.ScopeWebhooksWrite},
		{"POST /public/webhooks/{webhook_id}/test", "POST", "/public/webhooks/" + hook.WebhookID + "/test", nil, pcx.ScopeWebhooksWrite},
		{"POST /public/webhooks/{webhook_id}/recover", "POST", "/public/webhooks/" + hook.WebhookID + "/recover", map[string]any{"since": since}, pcx.ScopeWebhooksWrite},
		{"GET /public/webhooks/{webhook_id}/deliveries", "GET", "/public/webhooks/" + hook.WebhookID + "/deliveries", nil, pcx.ScopeWebhooksRead},
		{"GET /public/webhooks/{webhook_id}/recoveries/{recovery_id}", "GET", "/public/webhooks/" + hook.WebhookID + "/recoveries/rcv_01aaaaaaaaaaaaaaaaaaaaaaaa", nil, pcx.ScopeWebhooksRead},
		{"POST /public/webhooks/notify", "POST", "/public/webhooks/notify", map[string]any{"org_id": "org-sc", "transaction_data": map[string]any{"a": 1}}, pcx.ScopeEventsWrite},
		{"GET /public/webhooks/events", "GET", "/public/webhooks/events", nil, pcx.ScopeEventsRead},
		{"GET /public/webhooks/events/{event_id}", "GET", "/public/webhooks/events/" + ev, nil, pcx.ScopeEventsRead},
		{"POST /public/webhooks/events/{event_id}/replay", "POST", "/public/webhooks/events/" + ev + "/replay", nil, pcx.ScopeEventsWrite},
		{"GET /public/audit-events", "GET", "/public/audit-events", nil, pcx.ScopeAuditRead},
	}
	lacking := map[pcx.Scope]string{}
	for _, s := range pcx.AllScopes {
		lacking[s] = mint(t, e.base, root, map[string]any{"name": "all but " + string(s), "scopes": allBut(s)}).APIKey
	}
	auditBefore := auditCount(t, e.base, root)
	covered := map[string]bool{"GET /public/me": true}
	for _, o := range ops {
		covered[o.route] = true
		r := call(t, o.method, e.base+o.path, lacking[o.scope], o.body)
		want := `{"code":"missing_scope","message":"This API key lacks the scope ` + string(o.scope) + `","status":"error"}`
		if r.status != 403 || string(r.body) != want {
			t.Errorf("%s without %s: %s, want 403 %s", o.route, o.scope, r, want)
		}
	}
	// Nothing was changed or sent by the refused calls.
	if n := auditCount(t, e.base, root); n != auditBefore {
		t.Errorf("audit records went from %d to %d under refused calls", auditBefore, n)
	}
	wantStatus(t, call(t, "GET", e.base+"/public/api-keys/"+other.APIKeyID, root, nil), 200)
	wantStatus(t, call(t, "GET", e.base+"/public/webhooks/"+hook.WebhookID, root, nil), 200)

	// A key holding only the scope gets past the check (reads only: the writes would change
	// what the other cases use).
	for _, o := range ops {
		if o.method != "GET" {
			continue
		}
		only := mint(t, e.base, root, map[string]any{"name": "only " + string(o.scope), "scopes": []string{string(o.scope)}}).APIKey
		if r := call(t, o.method, e.base+o.path, only, o.body); r.status == 403 {
			t.Errorf("%s with only %s: %s", o.route, o.scope, r)
		}
	}
	// Authentication still comes first: a bad key is the one 401, whatever the route.
	wantUnauthorized(t, call(t, "GET", e.base+"/public/audit-events", "pcx_nosuchkey_"+strings.Repeat("A", 32), nil))

	missing := uncoveredOperations(t, covered)
	if len(missing) > 0 {
		t.Errorf("operations without a scope case: %v", missing)
	}
}

// auditCount is how many audit records the caller's organisation has.
func auditCount(t *testing.T, base, key string) int {
	t.Helper()
	n := 0
	next := ""
	for {
		r := call(t, "GET", base+"/public/audit-events?limit=100"+next, key, nil)
		wantStatus(t, r, 200)
		var recs []auditData
		var m pageMeta
		r.decode(t, &recs, &m)
		n += len(recs)
		if m.LastEvaluatedKey == nil {
			return n
		}
		next = "&last_evaluated_key=" + url.QueryEscape(*m.LastEvaluatedKey)
	}
}

// TestKeyLineageOverHTTP: a key minted by another never exceeds it (scopes, expiry), records who
// made it, cannot act on keys beyond it, rolls with an overlap, and a cascading revoke takes its
// whole lineage, counted.
func TestKeyLineageOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.startAPI()
	base := api.base
	root := e.bootstrapKey("org-ln", "root")

	var me struct {
		Scopes    []string `json:"scopes"`
		ExpiresAt *string  `json:"expires_at"`
	}
	call(t, "GET", base+"/public/me", root, nil).decode(t, &me, nil)
	if !slices.Equal(me.Scopes, pcx.ScopeNames(pcx.AllScopes)) || me.ExpiresAt != nil {
		t.Fatalf("bootstrap key's /me = %+v; want every scope, no expiry", me)
	}

	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	ci := mint(t, base, root, map[string]any{"name": "ci", "scopes": []string{"keys:write", "events:write", "keys:read"}, "expires_at": exp.Format(time.RFC3339)})
	if !slices.Equal(ci.Scopes, []string{"keys:read", "keys:write", "events:write"}) {
		t.Fatalf("ci scopes = %v, want them in the contract's order", ci.Scopes)
	}
	rootID := ""
	call(t, "GET", base+"/public/me", root, nil).decode(t, &struct {
		ID *string `json:"api_key_id"`
	}{&rootID}, nil)
	if ci.CreatedBy == nil || *ci.CreatedBy != rootID {
		t.Fatalf("ci created_by = %v, want the root key %s", ci.CreatedBy, rootID)
	}

	// The CI key mints within itself only.
	child := mint(t, base, ci.APIKey, map[string]any{"name": "child"})
	if !slices.Equal(child.Scopes, ci.Scopes) || child.ExpiresAt == nil || *child.ExpiresAt != *ci.ExpiresAt || *child.CreatedBy != ci.APIKeyID {
		t.Fatalf("child = %+v; want ci's scopes and expiry, created by ci", child)
	}
	wantError(t, "wider scopes", call(t, "POST", base+"/public/api-keys/create", ci.APIKey, map[string]any{"name": "x", "scopes": []string{"webhooks:write"}}), 400, "scopes")
	wantError(t, "later expiry", call(t, "POST", base+"/public/api-keys/create", ci.APIKey, map[string]any{"name": "x", "expires_at": exp.Add(time.Hour).Format(time.RFC3339)}), 400, "expires_at")
	wantError(t, "unknown scope", call(t, "POST", base+"/public/api-keys/create", root, map[string]any{"name": "x", "scopes": []string{"admin"}}), 400, "scopes")
	wantError(t, "no scope", call(t, "POST", base+"/public/api-keys/create", root, map[string]any{"name": "x", "scopes": []string{}}), 400, "scopes")

	// It cannot revive or roll a key wider than itself, nor extend one past its own expiry.
	admin := mint(t, base, root, map[string]any{"name": "admin"})
	wantStatus(t, call(t, "PATCH", base+"/public/api-keys/"+admin.Prefix+"/revoke", root, nil), 200)
	wantError(t, "activate a wider key", call(t, "PATCH", base+"/public/api-keys/"+admin.Prefix+"/activate", ci.APIKey, nil), 403, "")
	wantError(t, "roll a wider key", call(t, "POST", base+"/public/api-keys/"+admin.Prefix+"/roll", ci.APIKey, nil), 403, "")
	wantError(t, "extend past the caller", call(t, "PATCH", base+"/public/api-keys/"+child.Prefix, ci.APIKey, map[string]any{"expires_at": exp.Add(time.Hour).Format(time.RFC3339)}), 400, "expires_at")
	wantUnauthorized(t, call(t, "GET", base+"/public/me", admin.APIKey, nil))

	// PATCH renames and shortens.
	sooner := exp.Add(-30 * time.Minute).Format(time.RFC3339)
	r := call(t, "PATCH", base+"/public/api-keys/"+child.Prefix, ci.APIKey, map[string]any{"name": "child (renamed)", "expires_at": sooner})
	wantStatus(t, r, 200)
	var patched scopedKey
	r.decode(t, &patched, nil)
	if patched.Name != "child (renamed)" || patched.ExpiresAt == nil || !sameInstant(*patched.ExpiresAt, sooner) {
		t.Fatalf("patched = %+v", patched)
	}

	// Roll with no overlap: the old key ends at once, the new one works with the same scopes.
	r = call(t, "POST", base+"/public/api-keys/"+child.Prefix+"/roll", ci.APIKey, map[string]any{"expires_in_seconds": 0})
	wantStatus(t, r, 201)
	var rolled scopedKey
	r.decode(t, &rolled, nil)
	if rolled.APIKey == "" || rolled.Prefix == child.Prefix || rolled.Name != "child (renamed)" || !slices.Equal(rolled.Scopes, child.Scopes) || *rolled.CreatedBy != ci.APIKeyID {
		t.Fatalf("rolled = %+v", rolled)
	}
	wantUnauthorized(t, call(t, "GET", base+"/public/me", child.APIKey, nil))
	wantStatus(t, call(t, "GET", base+"/public/me", rolled.APIKey, nil), 200)
	wantError(t, "overlap too long", call(t, "POST", base+"/public/api-keys/"+rolled.Prefix+"/roll", ci.APIKey, map[string]any{"expires_in_seconds": 604801}), 400, "expires_in_seconds")
	wantError(t, "roll an expired key", call(t, "POST", base+"/public/api-keys/"+child.Prefix+"/roll", ci.APIKey, nil), 409, "")

	// Roll with the default overlap: both work for now.
	r = call(t, "POST", base+"/public/api-keys/"+rolled.Prefix+"/roll", ci.APIKey, nil)
	wantStatus(t, r, 201)
	var rolled2 scopedKey
	r.decode(t, &rolled2, nil)
	wantStatus(t, call(t, "GET", base+"/public/me", rolled.APIKey, nil), 200)
	wantStatus(t, call(t, "GET", base+"/public/me", rolled2.APIKey, nil), 200)

	// Cascade: revoking ci revokes its whole lineage, counted; revoking again counts none.
	r = call(t, "PATCH", base+"/public/api-keys/"+ci.Prefix+"/revoke", root, map[string]any{"cascade": true})
	wantStatus(t, r, 200)
	var rev scopedKey
	r.decode(t, &rev, nil)
	if rev.RevokedCount == nil || *rev.RevokedCount != 4 || rev.Status != "revoked" {
		t.Fatalf("cascade revoke = %+v; want 4 (ci, child, rolled, rolled2)", rev)
	}
	for _, k := range []string{ci.APIKey, rolled.APIKey, rolled2.APIKey} {
		wantUnauthorized(t, call(t, "GET", base+"/public/me", k, nil))
	}
	wantStatus(t, call(t, "GET", base+"/public/me", root, nil), 200)
	r = call(t, "PATCH", base+"/public/api-keys/"+ci.Prefix+"/revoke", root, map[string]any{"cascade": true})
	r.decode(t, &rev, nil)
	if *rev.RevokedCount != 0 {
		t.Fatalf("repeated cascade counted %d", *rev.RevokedCount)
	}
	wantError(t, "cascade not a boolean", call(t, "PATCH", base+"/public/api-keys/"+ci.Prefix+"/revoke", root, map[string]any{"cascade": "yes"}), 400, "")
}

// TestKeysStoredBeforeScopesKeepEveryScope writes a key as the service did before scopes and
// lineage existed (no scopes, no created_by) and uses it: it has every scope, is listed with
// them, and can mint keys.
func TestKeysStoredBeforeScopesKeepEveryScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.startAPI()
	cfg := e.config()
	peppers, err := cfg.Peppers()
	if err != nil {
		t.Fatal(err)
	}
	k, err := keyformat.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mac, v := keyformat.NewHasher(peppers).MAC(k)
	now := time.Now().UTC().Truncate(time.Millisecond)
	old := &pcx.APIKey{ID: pcx.NewID("key", now), Prefix: k.Prefix(), OrgID: "org-old", UserID: "u", Name: "from before scopes",
		Status: pcx.KeyActive, CreatedAt: now, SecretMAC: mac, PepperVersion: v}
	if err := e.store.CreateAPIKey(context.Background(), old, nil); err != nil {
		t.Fatal(err)
	}
	var me struct {
		Scopes []string `json:"scopes"`
	}
	call(t, "GET", api.base+"/public/me", k.String(), nil).decode(t, &me, nil)
	if !slices.Equal(me.Scopes, pcx.ScopeNames(pcx.AllScopes)) {
		t.Fatalf("/me scopes of a pre-scope key = %v, want all", me.Scopes)
	}
	var list []scopedKey
	call(t, "GET", api.base+"/public/api-keys", k.String(), nil).decode(t, &list, nil)
	if len(list) != 1 || !slices.Equal(list[0].Scopes, pcx.ScopeNames(pcx.AllScopes)) || list[0].CreatedBy != nil {
		t.Fatalf("listed pre-scope key = %+v", list)
	}
	child := mint(t, api.base, k.String(), map[string]any{"name": "new", "scopes": []string{"audit:read"}})
	if *child.CreatedBy != old.ID {
		t.Fatalf("child created_by = %v", child.CreatedBy)
	}
	wantStatus(t, call(t, "GET", api.base+"/public/audit-events", child.APIKey, nil), 200)
}

func sameInstant(a, b string) bool {
	ta, err1 := time.Parse(time.RFC3339Nano, a)
	tb, err2 := time.Parse(time.RFC3339Nano, b)
	return err1 == nil && err2 == nil && ta.Equal(tb)
}
