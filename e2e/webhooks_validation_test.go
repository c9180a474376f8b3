package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// Bad requests to the webhook endpoints get 400, 413 or 415 with the error envelope, name the
// field at fault, and accept nothing.
func TestWebhookValidation(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "")
	key := e.bootstrapKey("org-valid", "u")
	w := register(t, api.base, key, rc.url("/v"))
	acc := notify(t, api.base, key, "org-valid", `{"n":0}`)
	waitDeliveries(t, api.base, key, acc.EventID, 1, "delivered", 20*time.Second)

	notifyURL := api.base + "/public/webhooks/notify"
	big := func(n int) string {
		return `{"org_id":"org-valid","transaction_data":{"pad":"` + strings.Repeat("a", n) + `"}}`
	}
	type tc struct {
		name         string
		method, path string
		body         any
		headers      []string
		status       int
		field        string
	}
	cases := []tc{
		{"notify without org_id", "POST", notifyURL, `{"transaction_data":{"a":1}}`, nil, 400, "org_id"},
		{"notify with empty org_id", "POST", notifyURL, `{"org_id":"","transaction_data":{"a":1}}`, nil, 400, "org_id"},
		{"transaction_data missing", "POST", notifyURL, `{"org_id":"org-valid"}`, nil, 400, "transaction_data"},
		{"transaction_data null", "POST", notifyURL, `{"org_id":"org-valid","transaction_data":null}`, nil, 400, "transaction_data"},
		{"transaction_data array", "POST", notifyURL, `{"org_id":"org-valid","transaction_data":[{"a":1}]}`, nil, 400, "transaction_data"},
		{"transaction_data string", "POST", notifyURL, `{"org_id":"org-valid","transaction_data":"{\"a\":1}"}`, nil, 400, "transaction_data"},
		{"transaction_data number", "POST", notifyURL, `{"org_id":"org-valid","transaction_data":42}`, nil, 400, "transaction_data"},
		{"transaction_data over 256 KiB", "POST", notifyURL, big(256 << 10), nil, 413, ""},
		{"body over 1 MiB", "POST", notifyURL, big(1<<20 + 100), nil, 413, ""},
		{"text/plain", "POST", notifyURL, `{"org_id":"org-valid","transaction_data":{"a":1}}`, []string{"Content-Type", "text/plain"}, 415, ""},
		{"form content type", "POST", notifyURL, `{"org_id":"org-valid","transaction_data":{"a":1}}`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, ""},
		{"unknown field", "POST", notifyURL, `{"org_id":"org-valid","transaction_data":{"a":1},"priority":"high"}`, nil, 400, "priority"},
		{"transaction_data nested 40 deep", "POST", notifyURL, `{"org_id":"org-valid","transaction_data":{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}}`, nil, 400, ""},
		{"invalid UTF-8 in transaction_data", "POST", notifyURL, "{\"org_id\":\"org-valid\",\"transaction_data\":{\"a\":\"\xff\xfe\"}}", nil, 400, ""},
		{"negative number as org_id", "POST", notifyURL, `{"org_id":-1,"transaction_data":{"a":1}}`, nil, 400, "org_id"},
		{"duplicate field", "POST", notifyURL, `{"org_id":"org-valid","org_id":"org-valid","transaction_data":{"a":1}}`, nil, 400, "org_id"},
		{"malformed JSON", "POST", notifyURL, `{"org_id":"org-valid","transaction_data":{"a":1}`, nil, 400, ""},
		{"trailing data", "POST", notifyURL, `{"org_id":"org-valid","transaction_data":{"a":1}} {}`, nil, 400, ""},
		{"empty body", "POST", notifyURL, ``, nil, 400, ""},
		{"Idempotency-Key with a space", "POST", notifyURL, `{"org_id":"org-valid","transaction_data":{"a":1}}`, []string{"Idempotency-Key", "order 42"}, 400, "Idempotency-Key"},
		{"Idempotency-Key of 256 chars", "POST", notifyURL, `{"org_id":"org-valid","transaction_data":{"a":1}}`, []string{"Idempotency-Key", strings.Repeat("k", 256)}, 400, "Idempotency-Key"},
		{"Idempotency-Key not ASCII", "POST", notifyURL, `{"org_id":"org-valid","transaction_data":{"a":1}}`, []string{"Idempotency-Key", "clé"}, 400, "Idempotency-Key"},

		{"register without endpoint_url", "POST", api.base + "/public/webhooks", `{"description":"x"}`, nil, 400, "endpoint_url"},
		{"register with a long description", "POST", api.base + "/public/webhooks", map[string]any{"endpoint_url": rc.url("/d"), "description": strings.Repeat("d", 501)}, nil, 400, "description"},
		{"register with an unknown field", "POST", api.base + "/public/webhooks", map[string]any{"endpoint_url": rc.url("/d"), "events": []string{"*"}}, nil, 400, "events"},
		{"register as text/plain", "POST", api.base + "/public/webhooks", `{"endpoint_url":"` + rc.url("/d") + `"}`, []string{"Content-Type", "text/plain"}, 415, ""},

		{"rotate with grace -1", "POST", api.base + "/public/webhooks/" + w.WebhookID + "/rotate-secret", `{"grace_period_seconds":-1}`, nil, 400, "grace_period_seconds"},
		{"rotate with grace 604801", "POST", api.base + "/public/webhooks/" + w.WebhookID + "/rotate-secret", `{"grace_period_seconds":604801}`, nil, 400, "grace_period_seconds"},
		{"rotate with grace as text", "POST", api.base + "/public/webhooks/" + w.WebhookID + "/rotate-secret", `{"grace_period_seconds":"60"}`, nil, 400, "grace_period_seconds"},
		{"rotate with an unknown field", "POST", api.base + "/public/webhooks/" + w.WebhookID + "/rotate-secret", `{"grace":60}`, nil, 400, "grace"},

		{"PATCH status paused", "PATCH", api.base + "/public/webhooks/" + w.WebhookID, `{"status":"paused"}`, nil, 400, "status"},
		{"PATCH with nothing", "PATCH", api.base + "/public/webhooks/" + w.WebhookID, `{}`, nil, 400, ""},
		{"PATCH to an internal URL", "PATCH", api.base + "/public/webhooks/" + w.WebhookID, `{"endpoint_url":"https://169.254.169.254/latest"}`, nil, 400, "endpoint_url"},

		{"replay with 101 webhook_ids", "POST", api.base + "/public/webhooks/events/" + acc.EventID + "/replay", map[string]any{"webhook_ids": manyIDs(101)}, nil, 400, "webhook_ids"},
		{"replay with webhook_ids not a list", "POST", api.base + "/public/webhooks/events/" + acc.EventID + "/replay", `{"webhook_ids":"` + w.WebhookID + `"}`, nil, 400, "webhook_ids"},

		{"list with limit 0", "GET", api.base + "/public/webhooks?limit=0", nil, nil, 400, "limit"},
		{"list with limit 101", "GET", api.base + "/public/webhooks?limit=101", nil, nil, 400, "limit"},
		{"list with a bad cursor", "GET", api.base + "/public/webhooks?last_evaluated_key=bogus", nil, nil, 400, ""},
		{"event status with a bad cursor", "GET", api.base + "/public/webhooks/events/" + acc.EventID + "?last_evaluated_key=bogus", nil, nil, 400, ""},
	}
	for _, c := range cases {
		r := call(t, c.method, c.path, key, c.body, c.headers...)
		env := wantError(t, c.name, r, c.status, c.field)
		if c.field != "" {
			t.Logf("%-36s %d %s: %s", c.name, r.status, c.field, env.Errors[c.field])
		} else {
			t.Logf("%-36s %d %s", c.name, r.status, env.Message)
		}
	}

	// Headers over the server's limit (16 KiB, plus the 4 KiB Go's server allows on top): 431,
	// plain text from the HTTP server before any handler runs, so outside the OpenAPI
	// description (whose transport would refuse it) and sent with a bare client.
	req, err := http.NewRequest("POST", notifyURL, strings.NewReader(`{"org_id":"org-valid","transaction_data":{"a":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Padding", strings.Repeat("p", 24<<10))
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("headers of 24 KiB: %d, want 431", resp.StatusCode)
	}

	// Boundaries that are valid.
	wantStatus(t, call(t, "POST", notifyURL, key, `{"org_id":"org-valid","transaction_data":{"a":1}}`, "Idempotency-Key", strings.Repeat("k", 255)), 202)
	wantStatus(t, call(t, "POST", notifyURL, key, `{"org_id":"org-valid","transaction_data":{}}`), 202)
	wantStatus(t, call(t, "POST", notifyURL, key, `{"org_id":"org-valid","transaction_data":{"a":1}}`, "Content-Type", "application/json; charset=utf-8"), 202)
	wantStatus(t, call(t, "POST", api.base+"/public/webhooks/"+w.WebhookID+"/rotate-secret", key, `{"grace_period_seconds":604800}`), 200)

	// Nothing invalid was stored or sent: the one endpoint is unchanged, and it received only
	// the valid events.
	r := call(t, "GET", api.base+"/public/webhooks", key, nil)
	var list []webhookData
	r.decode(t, &list, nil)
	if len(list) != 1 || list[0].WebhookID != w.WebhookID || list[0].EndpointURL != w.EndpointURL || list[0].Status != "active" {
		t.Errorf("after the bad requests the endpoints are %+v", list)
	}
	eventually(t, 20*time.Second, "the valid events delivered", func() bool { return rc.count("/v") >= 4 })
	for _, req := range rc.requests("/v") {
		if strings.Contains(string(req.body), "pad") || strings.Contains(string(req.body), "[") {
			t.Errorf("an invalid event was delivered: %.80s", req.body)
		}
	}
}

func manyIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "wh_01aaaaaaaaaaaaaaaaaaaa" + string(rune('a'+i/26%26)) + string(rune('a'+i%26))
	}
	return out
}
