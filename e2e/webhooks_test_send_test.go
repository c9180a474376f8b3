package e2e

import (
	"encoding/json"
	"testing"
	"time"
)

// TestWebhookTestSend: POST /public/webhooks/{id}/test sends one signed pcx.test event to that
// endpoint only, though it subscribes to other types, recorded like any event; a disabled
// endpoint is 409 and another organisation's 404.
func TestWebhookTestSend(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "")
	key, otherKey := e.bootstrapKey("org-test-send", "u"), e.bootstrapKey("org-test-other", "u")
	target := registerFor(t, api.base, key, rc.url("/target"), map[string]any{"event_types": []string{"refund.*"}})
	bystander := registerFor(t, api.base, key, rc.url("/bystander"), map[string]any{"event_types": []string{"pcx.*"}})

	r := call(t, "POST", api.base+"/public/webhooks/"+target.WebhookID+"/test", key, nil)
	wantStatus(t, r, 202)
	var acc acceptedData
	r.decode(t, &acc, nil)
	if acc.EndpointCount != 1 {
		t.Fatalf("endpoint_count %d; want 1", acc.EndpointCount)
	}
	got := rc.waitCount(t, "/target", 1, 30*time.Second)
	req := got[0]
	var body struct {
		Type      string `json:"type"`
		WebhookID string `json:"webhook_id"`
		SentAt    string `json:"sent_at"`
	}
	if err := json.Unmarshal(req.body, &body); err != nil || body.Type != "pcx.test" || body.WebhookID != target.WebhookID {
		t.Fatalf("test body %s (%v)", req.body, err)
	}
	if _, err := time.Parse(time.RFC3339, body.SentAt); err != nil {
		t.Fatalf("sent_at %q: %v", body.SentAt, err)
	}
	if req.header.Get("PCX-Event-Type") != "pcx.test" || req.header.Get("webhook-id") != acc.EventID {
		t.Fatalf("headers %v", req.header)
	}
	if err := verifyWith(target.Secret, req); err != nil {
		t.Fatalf("the Standard Webhooks verifier rejected the test: %v", err)
	}
	waitDeliveries(t, api.base, key, acc.EventID, 1, "delivered", 30*time.Second)
	waitWorkflowClosed(t, temporalClient(t), acc.WorkflowID, 30*time.Second)
	if n := rc.count("/bystander"); n != 0 {
		t.Fatalf("the other endpoint, subscribed to pcx.*, received %d requests of the test", n)
	}

	wantError(t, "another organisation's endpoint", call(t, "POST", api.base+"/public/webhooks/"+target.WebhookID+"/test", otherKey, nil), 404, "")
	r = call(t, "PATCH", api.base+"/public/webhooks/"+bystander.WebhookID, key, map[string]any{"status": "disabled"})
	wantStatus(t, r, 200)
	wantError(t, "a disabled endpoint", call(t, "POST", api.base+"/public/webhooks/"+bystander.WebhookID+"/test", key, nil), 409, "")
	if n := rc.count("/bystander"); n != 0 {
		t.Fatalf("the disabled endpoint received %d requests", n)
	}
}
