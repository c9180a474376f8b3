package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// Endpoints are listed page by page without duplicates or gaps; another organisation can neither
// see nor change them (404, or 403 when it names the organisation) and changes nothing by
// trying; a deleted endpoint is gone and receives nothing.
func TestWebhookCRUDAndIsolation(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "")
	tc := temporalClient(t)
	keyA := e.bootstrapKey("org-wa", "alice")
	keyB := e.bootstrapKey("org-wb", "bob")

	const n = 5
	var hooks []webhookData
	for i := range n {
		hooks = append(hooks, register(t, api.base, keyA, rc.url(fmt.Sprintf("/a/%d", i))))
	}
	hb := register(t, api.base, keyB, rc.url("/b/0"))

	// Pages of 2: 2, 2, 1, then a null cursor; every endpoint once, newest first.
	seen := map[string]bool{}
	var sizes []int
	url := api.base + "/public/webhooks?limit=2"
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatalf("more pages than endpoints")
		}
		r := call(t, "GET", url, keyA, nil)
		wantStatus(t, r, 200)
		if strings.Contains(string(r.body), "secret") {
			t.Errorf("the list exposes secrets: %s", r.body)
		}
		var list []webhookData
		var meta pageMeta
		r.decode(t, &list, &meta)
		sizes = append(sizes, len(list))
		if meta.Count != len(list) {
			t.Errorf("meta.count %d for %d items", meta.Count, len(list))
		}
		for _, w := range list {
			if seen[w.WebhookID] {
				t.Errorf("%s listed twice", w.WebhookID)
			}
			seen[w.WebhookID] = true
			if w.OrgID != "org-wa" || w.Status != "active" || w.Secret != "" {
				t.Errorf("listed %+v", w)
			}
		}
		if meta.LastEvaluatedKey == nil {
			break
		}
		for _, h := range hooks {
			if strings.Contains(*meta.LastEvaluatedKey, h.WebhookID) || strings.Contains(*meta.LastEvaluatedKey, "org-wa") {
				t.Errorf("cursor %q is not opaque", *meta.LastEvaluatedKey)
			}
		}
		url = api.base + "/public/webhooks?limit=2&last_evaluated_key=" + *meta.LastEvaluatedKey
	}
	if fmt.Sprint(sizes) != "[2 2 1]" || len(seen) != n {
		t.Fatalf("pages %v covering %d endpoints, want [2 2 1] covering %d", sizes, len(seen), n)
	}
	for i, h := range hooks {
		if !seen[h.WebhookID] {
			t.Errorf("endpoint %d (%s) missing from the pages", i, h.WebhookID)
		}
	}
	// A cursor is bound to its organisation.
	r := call(t, "GET", api.base+"/public/webhooks?limit=2", keyA, nil)
	var meta pageMeta
	r.decode(t, nil, &meta)
	wantError(t, "another organisation's cursor", call(t, "GET", api.base+"/public/webhooks?limit=2&last_evaluated_key="+*meta.LastEvaluatedKey, keyB, nil), 400, "")

	// GET and PATCH as the owner.
	target := hooks[0]
	r = call(t, "GET", api.base+"/public/webhooks/"+target.WebhookID, keyA, nil)
	wantStatus(t, r, 200)
	var got webhookData
	r.decode(t, &got, nil)
	if got.WebhookID != target.WebhookID || got.EndpointURL != target.EndpointURL || got.Description != "test receiver" || strings.Contains(string(r.body), "secret") {
		t.Fatalf("GET = %s", r.body)
	}
	r = call(t, "PATCH", api.base+"/public/webhooks/"+target.WebhookID, keyA, map[string]any{"description": "orders"})
	wantStatus(t, r, 200)

	accA := notify(t, api.base, keyA, "org-wa", `{"n":1}`)
	waitDeliveries(t, api.base, keyA, accA.EventID, n, "delivered", 20*time.Second)
	waitWorkflowClosed(t, tc, accA.WorkflowID, 15*time.Second)

	// Organisation B, on A's endpoint and event.
	idA, evA := target.WebhookID, accA.EventID
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"get", "GET", "/public/webhooks/" + idA, nil, 404},
		{"patch", "PATCH", "/public/webhooks/" + idA, map[string]any{"status": "disabled"}, 404},
		{"patch url", "PATCH", "/public/webhooks/" + idA, map[string]any{"endpoint_url": rc.url("/b/stolen")}, 404},
		{"delete", "DELETE", "/public/webhooks/" + idA, nil, 404},
		{"rotate", "POST", "/public/webhooks/" + idA + "/rotate-secret", nil, 404},
		{"event status", "GET", "/public/webhooks/events/" + evA, nil, 404},
		{"replay", "POST", "/public/webhooks/events/" + evA + "/replay", nil, 404},
		{"replay to A's endpoint", "POST", "/public/webhooks/events/" + evA + "/replay", map[string]any{"webhook_ids": []string{idA}}, 404},
		{"list org_id", "GET", "/public/webhooks?org_id=org-wa", nil, 403},
		{"notify org_id", "POST", "/public/webhooks/notify", `{"org_id":"org-wa","transaction_data":{"forged":true}}`, 403},
		{"register with org_id", "POST", "/public/webhooks", map[string]any{"endpoint_url": rc.url("/b/x"), "org_id": "org-wa"}, 403},
	} {
		r := call(t, tc.method, api.base+tc.path, keyB, tc.body)
		wantError(t, "org B: "+tc.name, r, tc.status, "")
		if strings.Contains(string(r.body), idA) || strings.Contains(string(r.body), target.EndpointURL) {
			t.Errorf("org B: %s reveals A's endpoint: %s", tc.name, r.body)
		}
	}

	// Nothing changed for A.
	r = call(t, "GET", api.base+"/public/webhooks/"+idA, keyA, nil)
	wantStatus(t, r, 200)
	var after webhookData
	r.decode(t, &after, nil)
	if after.Status != "active" || after.EndpointURL != target.EndpointURL || after.Description != "orders" {
		t.Fatalf("A's endpoint after B's attempts: %s", r.body)
	}
	ev := eventStatus(t, api.base, keyA, evA)
	if d := ev.delivery(t, idA); d.Attempts != 1 {
		t.Errorf("A's delivery has %d attempts after B's replay attempts, want 1", d.Attempts)
	}
	var listB []webhookData
	call(t, "GET", api.base+"/public/webhooks", keyB, nil).decode(t, &listB, nil)
	if len(listB) != 1 || listB[0].WebhookID != hb.WebhookID {
		t.Errorf("B lists %+v, want only its own endpoint", listB)
	}

	// Delete: 200 with the exact body, then 404 everywhere, and no more deliveries.
	deleted := hooks[1]
	r = call(t, "DELETE", api.base+"/public/webhooks/"+deleted.WebhookID, keyA, nil)
	wantStatus(t, r, 200)
	if string(r.body) != `{"status":"success","message":"Webhook deleted"}` {
		t.Errorf("delete body %s", r.body)
	}
	wantError(t, "GET after delete", call(t, "GET", api.base+"/public/webhooks/"+deleted.WebhookID, keyA, nil), 404, "")
	wantError(t, "DELETE after delete", call(t, "DELETE", api.base+"/public/webhooks/"+deleted.WebhookID, keyA, nil), 404, "")
	wantError(t, "PATCH after delete", call(t, "PATCH", api.base+"/public/webhooks/"+deleted.WebhookID, keyA, map[string]any{"status": "active"}), 404, "")
	wantError(t, "rotate after delete", call(t, "POST", api.base+"/public/webhooks/"+deleted.WebhookID+"/rotate-secret", keyA, nil), 404, "")

	accA2 := notify(t, api.base, keyA, "org-wa", `{"n":2}`)
	if accA2.EndpointCount != n-1 {
		t.Errorf("endpoint_count %d after a delete, want %d", accA2.EndpointCount, n-1)
	}
	waitDeliveries(t, api.base, keyA, accA2.EventID, n-1, "delivered", 20*time.Second)
	waitWorkflowClosed(t, tc, accA2.WorkflowID, 15*time.Second)
	for i, h := range hooks {
		path := fmt.Sprintf("/a/%d", i)
		want := 2
		if h.WebhookID == deleted.WebhookID {
			want = 1
		}
		got := rc.requests(path)
		if len(got) != want {
			t.Errorf("%s received %d requests, want %d", path, len(got), want)
			continue
		}
		if got[want-1].header.Get("webhook-id") != map[int]string{1: accA.EventID, 2: accA2.EventID}[want] {
			t.Errorf("%s last received %s", path, got[want-1].header.Get("webhook-id"))
		}
	}
	// B's endpoint never received A's events, and B's own event reaches only B.
	if c := rc.count("/b/0") + rc.count("/b/stolen") + rc.count("/b/x"); c != 0 {
		t.Errorf("B's receiver got %d requests from A's events", c)
	}
	accB := notify(t, api.base, keyB, "org-wb", `{"n":"b"}`)
	if accB.EndpointCount != 1 {
		t.Errorf("B's endpoint_count %d, want 1", accB.EndpointCount)
	}
	waitDeliveries(t, api.base, keyB, accB.EventID, 1, "delivered", 20*time.Second)
	waitWorkflowClosed(t, tc, accB.WorkflowID, 15*time.Second)
	if c := rc.count("/b/0"); c != 1 {
		t.Errorf("B's endpoint received %d requests, want 1", c)
	}
	if got := rc.count("/a/0"); got != 2 {
		t.Errorf("A's endpoint received %d requests after B's event, want still 2", got)
	}
	wantError(t, "A reads B's event", call(t, "GET", api.base+"/public/webhooks/events/"+accB.EventID, keyA, nil), 404, "")
}
