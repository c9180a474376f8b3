package e2e

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

// auditData is an audit record as the API shows it.
type auditData struct {
	AuditID  string  `json:"audit_id"`
	OrgID    string  `json:"org_id"`
	Action   string  `json:"action"`
	TargetID *string `json:"target_id"`
	Actor    struct {
		APIKeyID string `json:"api_key_id"`
		Prefix   string `json:"prefix"`
		UserID   string `json:"user_id"`
		Operator string `json:"operator"`
		Service  string `json:"service"`
	} `json:"actor"`
	At        string  `json:"at"`
	RequestID *string `json:"request_id"`
	ClientIP  *string `json:"client_ip"`
}

func auditList(t *testing.T, base, key, query string) []auditData {
	t.Helper()
	r := call(t, "GET", base+"/public/audit-events?limit=100"+query, key, nil)
	wantStatus(t, r, 200)
	var recs []auditData
	r.decode(t, &recs, nil)
	return recs
}

// TestAuditLogRecordsEveryChange makes every audited change over HTTP, and finds each in the
// audit log with its actor, target, request ID and address, newest first; failed changes leave
// no record; no record holds a secret; the filters and the organisation boundary hold; the
// service's own disable (after a 410) is recorded as the service's.
func TestAuditLogRecordsEveryChange(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "")
	base := api.base
	key := e.bootstrapKey("org-au", "auditor")
	other := e.bootstrapKey("org-au2", "someone")
	var me struct {
		ID     string `json:"api_key_id"`
		Prefix string `json:"prefix"`
	}
	call(t, "GET", base+"/public/me", key, nil).decode(t, &me, nil)

	type change struct {
		action, method, path string
		body                 any
		status               int
	}
	k := mint(t, base, key, map[string]any{"name": "audited"})
	hook := register(t, base, key, rc.url("/au"))
	ev := notify(t, base, key, "org-au", `{"tx":"audit"}`).EventID
	waitDeliveries(t, base, key, ev, 1, "delivered", 30*time.Second)
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	changes := []change{
		{"api_key.updated", "PATCH", "/public/api-keys/" + k.Prefix, map[string]any{"name": "renamed"}, 200},
		{"api_key.revoked", "PATCH", "/public/api-keys/" + k.Prefix + "/revoke", nil, 200},
		{"api_key.activated", "PATCH", "/public/api-keys/" + k.Prefix + "/activate", nil, 200},
		{"webhook.updated", "PATCH", "/public/webhooks/" + hook.WebhookID, map[string]any{"description": "d"}, 200},
		{"webhook.secret_rotated", "POST", "/public/webhooks/" + hook.WebhookID + "/rotate-secret", nil, 200},
		{"webhook.test_sent", "POST", "/public/webhooks/" + hook.WebhookID + "/test", nil, 202},
		{"event.replayed", "POST", "/public/webhooks/events/" + ev + "/replay", nil, 202},
		{"webhook.recovery_started", "POST", "/public/webhooks/" + hook.WebhookID + "/recover", map[string]any{"since": since}, 202},
		{"webhook.disabled", "PATCH", "/public/webhooks/" + hook.WebhookID, map[string]any{"status": "disabled"}, 200},
		{"webhook.enabled", "PATCH", "/public/webhooks/" + hook.WebhookID, map[string]any{"status": "active"}, 200},
	}
	// Changes that fail write nothing.
	failed := []change{
		{"", "PATCH", "/public/webhooks/" + hook.WebhookID, map[string]any{"endpoint_url": "http://insecure.example"}, 400},
		{"", "PATCH", "/public/api-keys/pcx_nosuchkey/revoke", nil, 404},
		{"", "POST", "/public/webhooks/events/" + ev + "/replay", map[string]any{"webhook_ids": []string{"wh_01aaaaaaaaaaaaaaaaaaaaaaaa"}}, 400},
		{"", "POST", "/public/api-keys/create", map[string]any{"name": ""}, 400},
	}
	before := auditCount(t, base, key)
	for _, c := range failed {
		wantStatus(t, call(t, c.method, base+c.path, key, c.body), c.status)
	}
	if n := auditCount(t, base, key); n != before {
		t.Fatalf("failed changes wrote %d audit records", n-before)
	}
	requestIDs := map[string]string{}
	for i, c := range changes {
		id := "audit-req-" + string(rune('a'+i))
		requestIDs[c.action] = id
		if c.action == "event.replayed" {
			waitDeliveries(t, base, key, ev, 1, "delivered", 30*time.Second)
		}
		wantStatus(t, call(t, c.method, base+c.path, key, c.body, "X-Request-ID", id), c.status)
	}
	// A roll and a delete, and a key made and an endpoint removed.
	r := call(t, "POST", base+"/public/api-keys/"+k.Prefix+"/roll", key, nil)
	wantStatus(t, r, 201)
	var rolled scopedKey
	r.decode(t, &rolled, nil)
	wantStatus(t, call(t, "DELETE", base+"/public/api-keys/"+rolled.Prefix, key, nil), 200)

	recs := auditList(t, base, key, "")
	byAction := map[string][]auditData{}
	for i, rec := range recs {
		byAction[rec.Action] = append(byAction[rec.Action], rec)
		if i > 0 && rec.AuditID > recs[i-1].AuditID {
			t.Errorf("records are not newest first: %s after %s", rec.AuditID, recs[i-1].AuditID)
		}
		if rec.OrgID != "org-au" {
			t.Errorf("record of org %s in org-au's log", rec.OrgID)
		}
	}
	for _, c := range changes {
		got := byAction[c.action]
		if len(got) == 0 {
			t.Errorf("no %s record", c.action)
			continue
		}
		rec := got[0]
		if rec.Actor.APIKeyID != me.ID || rec.Actor.Prefix != me.Prefix || rec.Actor.UserID != "auditor" {
			t.Errorf("%s: actor %+v, want the calling key", c.action, rec.Actor)
		}
		if rec.RequestID == nil || *rec.RequestID != requestIDs[c.action] || rec.ClientIP == nil || *rec.ClientIP != "127.0.0.1" {
			t.Errorf("%s: request_id %v, client_ip %v", c.action, deref(rec.RequestID), deref(rec.ClientIP))
		}
	}
	var bootstrapped bool
	for _, rec := range byAction["api_key.created"] {
		bootstrapped = bootstrapped || rec.Actor.Operator == "pcxctl" && deref(rec.TargetID) == me.ID
	}
	if !bootstrapped {
		t.Error("the bootstrap key's creation is not recorded as the operator's")
	}
	for _, a := range []string{"api_key.created", "api_key.rolled", "api_key.deleted", "webhook.created"} {
		if len(byAction[a]) == 0 {
			t.Errorf("no %s record", a)
		}
	}
	if rolledRec := byAction["api_key.rolled"]; len(rolledRec) > 0 && deref(rolledRec[0].TargetID) != k.APIKeyID {
		t.Errorf("api_key.rolled target %v, want the old key %s", deref(rolledRec[0].TargetID), k.APIKeyID)
	}
	body := string(call(t, "GET", base+"/public/audit-events?limit=100", key, nil).body)
	for _, secret := range []string{key, k.APIKey, rolled.APIKey, hook.Secret, strings.TrimPrefix(hook.Secret, "whsec_")} {
		if secret != "" && strings.Contains(body, secret) {
			t.Errorf("the audit log holds a secret")
		}
	}

	// Filters.
	for _, rec := range auditList(t, base, key, "&action=api_key.revoked") {
		if rec.Action != "api_key.revoked" {
			t.Errorf("action filter let %s through", rec.Action)
		}
	}
	hookRecs := auditList(t, base, key, "&target_id="+hook.WebhookID)
	if len(hookRecs) < 7 {
		t.Errorf("target filter found %d records of the endpoint, want its 7 changes at least", len(hookRecs))
	}
	for _, rec := range hookRecs {
		if deref(rec.TargetID) != hook.WebhookID {
			t.Errorf("target filter let %v through", deref(rec.TargetID))
		}
	}
	both := auditList(t, base, key, "&target_id="+hook.WebhookID+"&action=webhook.disabled")
	if len(both) != 1 || both[0].Action != "webhook.disabled" {
		t.Errorf("action and target = %+v, want the one disable", both)
	}
	if n := len(auditList(t, base, key, "&since="+url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339)))); n != 0 {
		t.Errorf("since an hour ahead: %d records", n)
	}
	if n := len(auditList(t, base, key, "&until="+url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)))); n != 0 {
		t.Errorf("until an hour ago: %d records", n)
	}
	wantError(t, "unknown action", call(t, "GET", base+"/public/audit-events?action=key.stolen", key, nil), 400, "action")
	wantError(t, "malformed target", call(t, "GET", base+"/public/audit-events?target_id=x", key, nil), 400, "target_id")
	wantError(t, "another org", call(t, "GET", base+"/public/audit-events?org_id=org-au2", key, nil), 403, "")

	// Pages hold together: limit 2 walks to the same records.
	var walked []string
	next := ""
	for range 100 {
		r := call(t, "GET", base+"/public/audit-events?limit=2"+next, key, nil)
		var page []auditData
		var m pageMeta
		r.decode(t, &page, &m)
		for _, p := range page {
			walked = append(walked, p.AuditID)
		}
		if m.LastEvaluatedKey == nil {
			break
		}
		next = "&last_evaluated_key=" + url.QueryEscape(*m.LastEvaluatedKey)
	}
	if len(walked) != len(recs) || walked[0] != recs[0].AuditID {
		t.Errorf("paged walk found %d records, the one page %d", len(walked), len(recs))
	}

	// Another organisation sees none of it: only the record of its own bootstrap key.
	if recs := auditList(t, base, other, ""); len(recs) != 1 || recs[0].OrgID != "org-au2" || recs[0].Action != "api_key.created" {
		t.Errorf("org-au2's log = %+v, want its bootstrap only", recs)
	}

	// The service's own disable: the endpoint answers 410 Gone.
	gone := register(t, base, key, rc.url("/au-gone"))
	rc.answer("/au-gone", 410)
	ev2 := notify(t, base, key, "org-au", `{"tx":"gone"}`).EventID
	waitDelivery(t, base, key, ev2, gone.WebhookID, "failed", 1, 30*time.Second)
	var disabled []auditData
	eventually(t, 10*time.Second, "the service's disable is audited", func() bool {
		disabled = auditList(t, base, key, "&target_id="+gone.WebhookID+"&action=webhook.disabled")
		return len(disabled) == 1
	})
	if a := disabled[0].Actor; a.Service != "gone" || a.APIKeyID != "" {
		t.Errorf("disable after 410: actor %+v, want {service: gone}", a)
	}
}
