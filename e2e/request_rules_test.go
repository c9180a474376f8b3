package e2e

import (
	"strings"
	"testing"
	"time"
)

// The rules of the security review over HTTP: field names match exactly (no case-variant
// spelling or case-folded duplicate passes, on the public API or the internal listener, while
// transaction_data's own keys are the caller's, delivered byte for byte); a replay's webhook_ids
// are checked (shape, number, duplicates) with a 400 naming the field and nothing started; and
// an empty org_id means the caller's organisation where org_id is optional.
func TestRequestFieldRules(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "")
	key := e.bootstrapKey("org-rules", "u")
	w := register(t, api.base, key, rc.url("/rules"))
	acc := notify(t, api.base, key, "org-rules", `{"n":0}`)
	waitDeliveries(t, api.base, key, acc.EventID, 1, "delivered", 20*time.Second)
	internal := []string{"Authorization", "Bearer " + e.vars["INTERNAL_TOKEN"]}

	notifyURL := api.base + "/public/webhooks/notify"
	replayURL := api.base + "/public/webhooks/events/" + acc.EventID + "/replay"
	for _, c := range []struct {
		name, method, url, body string
		headers                 []string
		field                   string
	}{
		{"notify with Transaction_Data beside transaction_data", "POST", notifyURL, `{"org_id":"org-rules","transaction_data":{"a":1},"Transaction_Data":{"a":2}}`, nil, "transaction_data"},
		{"notify with ORG_ID", "POST", notifyURL, `{"ORG_ID":"org-rules","org_id":"org-rules","transaction_data":{"a":1}}`, nil, "org_id"},
		{"transaction update with Transaction_Data", "POST", api.internal + "/internal/transaction-updates", `{"org_id":"org-rules","Transaction_Data":{"a":2}}`, internal, "Transaction_Data"},
		{"key create with Name", "POST", api.base + "/public/api-keys/create", `{"Name":"x"}`, nil, "Name"},
		{"webhook create with Endpoint_URL", "POST", api.base + "/public/webhooks", `{"endpoint_url":"` + rc.url("/x") + `","Endpoint_URL":"` + rc.url("/y") + `"}`, nil, "endpoint_url"},
		{"webhook PATCH with Status", "PATCH", api.base + "/public/webhooks/" + w.WebhookID, `{"Status":"disabled"}`, nil, "Status"},
		{"rotate with Grace_Period_Seconds", "POST", api.base + "/public/webhooks/" + w.WebhookID + "/rotate-secret", `{"Grace_Period_Seconds":1}`, nil, "Grace_Period_Seconds"},
		{"recover with SINCE", "POST", api.base + "/public/webhooks/" + w.WebhookID + "/recover", `{"SINCE":"2030-01-01T00:00:00Z"}`, nil, "SINCE"},
		{"replay with Webhook_IDs", "POST", replayURL, `{"Webhook_IDs":["` + w.WebhookID + `"]}`, nil, "Webhook_IDs"},

		{"replay to an empty ID", "POST", replayURL, `{"webhook_ids":[""]}`, nil, "webhook_ids"},
		{"replay to a 1 KiB ID", "POST", replayURL, `{"webhook_ids":["wh_` + strings.Repeat("a", 1021) + `"]}`, nil, "webhook_ids"},
		{"replay to an ID of another kind", "POST", replayURL, `{"webhook_ids":["` + acc.EventID + `"]}`, nil, "webhook_ids"},
		{"replay to an endpoint twice", "POST", replayURL, `{"webhook_ids":["` + w.WebhookID + `","` + w.WebhookID + `"]}`, nil, "webhook_ids"},
	} {
		r := call(t, c.method, c.url, key, c.body, c.headers...)
		env := wantError(t, c.name, r, 400, c.field)
		t.Logf("%-52s %d %s: %s", c.name, r.status, c.field, env.Errors[c.field])
	}

	// transaction_data's keys are the integrator's: case variants pass, and arrive as sent.
	data := `{"Amount":1,"amount":2,"AMOUNT":{"X":1,"x":2}}`
	wantStatus(t, call(t, "POST", notifyURL, key, `{"org_id":"org-rules","transaction_data":`+data+`}`), 202)
	got := rc.waitCount(t, "/rules", 2, 20*time.Second)
	if body := string(got[len(got)-1].body); body != data {
		t.Errorf("delivered %s, want the bytes sent %s", body, data)
	}

	// Nothing refused was started or changed: the one replay that follows is the first.
	r := call(t, "POST", replayURL, key, map[string]any{"webhook_ids": []string{w.WebhookID}})
	wantStatus(t, r, 202)
	r = call(t, "GET", api.base+"/public/webhooks/"+w.WebhookID, key, nil)
	var after webhookData
	r.decode(t, &after, nil)
	if after.Status != "active" {
		t.Errorf("after the refused PATCH the endpoint is %s, want active", after.Status)
	}

	// An empty org_id is the caller's where org_id is optional; notify, which requires it, says so.
	r = call(t, "GET", api.base+"/public/api-keys?org_id=", key, nil)
	wantStatus(t, r, 200)
	var keys []keyData
	r.decode(t, &keys, nil)
	if len(keys) != 1 || keys[0].OrgID != "org-rules" {
		t.Errorf("?org_id= listed %+v, want the caller's one key", keys)
	}
	wantStatus(t, call(t, "GET", api.base+"/public/webhooks?org_id=", key, nil), 200)
	wantError(t, "?org_id= then another org", call(t, "GET", api.base+"/public/api-keys?org_id=&org_id=org-other", key, nil), 403, "")
	r = call(t, "POST", api.base+"/public/api-keys/create", key, `{"name":"empty org","org_id":""}`)
	wantStatus(t, r, 201)
	var created keyData
	r.decode(t, &created, nil)
	if created.OrgID != "org-rules" {
		t.Errorf(`create with "org_id":"" made a key of %q, want org-rules`, created.OrgID)
	}
	wantError(t, "notify with an empty org_id", call(t, "POST", notifyURL, key, `{"org_id":"","transaction_data":{"a":1}}`), 400, "org_id")
}
