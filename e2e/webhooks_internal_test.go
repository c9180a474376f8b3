package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Transaction updates from other PCX services enter through the internal listener with the
// bearer token, for any organisation, and are delivered like notify; without the right token
// nothing is accepted.
func TestWebhookTransactionUpdates(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "")
	token := e.vars["INTERNAL_TOKEN"]
	key := e.bootstrapKey("org-txn", "u")
	w := register(t, api.base, key, rc.url("/txn"))
	url := api.internal + "/internal/transaction-updates"

	post := func(body string, auth ...string) reply {
		req, err := http.NewRequest("POST", url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		for _, a := range auth {
			req.Header.Add("Authorization", a)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return reply{status: resp.StatusCode, header: resp.Header, body: b}
	}

	bad := map[string][]string{
		"missing token":     nil,
		"wrong token":       {"Bearer " + strings.Repeat("x", len(token))},
		"token prefix":      {"Bearer " + token[:len(token)-1]},
		"token with suffix": {"Bearer " + token + "x"},
		"bearer alone":      {"Bearer"},
		"bearer and space":  {"Bearer "},
		"basic scheme":      {"Basic " + token},
		"bare token":        {token},
		"api key header":    {"X-API-Key " + key},
	}
	for name, auth := range bad {
		r := post(`{"org_id":"org-txn","transaction_data":{"bad":"`+name+`"}}`, auth...)
		wantError(t, name, r, 401, "")
		if strings.Contains(string(r.body), token) {
			t.Errorf("%s: the 401 echoes the token", name)
		}
	}
	// The public listener does not serve the internal route, with or without the token.
	req, _ := http.NewRequest("POST", api.base+"/internal/transaction-updates", strings.NewReader(`{"org_id":"org-txn","transaction_data":{"bad":"public"}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := httpClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode == 202 {
			t.Errorf("the public listener accepted a transaction update")
		}
	}

	data := `{"transaction_id":"tx-1","status":"settled"}`
	r := post(`{"org_id":"org-txn","transaction_data":`+data+`}`, "Bearer "+token)
	wantStatus(t, r, 202)
	var acc acceptedData
	r.decode(t, &acc, nil)
	if !strings.HasPrefix(acc.EventID, "evt_") || acc.WorkflowID != "webhook-event-"+acc.EventID || acc.RunID == "" || acc.EndpointCount != 1 {
		t.Fatalf("transaction update = %+v", acc)
	}
	// An organisation with no endpoints is accepted too (nothing to deliver).
	r = post(`{"org_id":"org-no-hooks","transaction_data":{"x":1}}`, "Bearer "+token)
	wantStatus(t, r, 202)
	// Bodies are validated like notify's.
	wantError(t, "internal update without org_id", post(`{"transaction_data":{"x":1}}`, "Bearer "+token), 400, "org_id")
	wantError(t, "internal update with an array", post(`{"org_id":"org-txn","transaction_data":[1]}`, "Bearer "+token), 400, "transaction_data")

	waitDelivery(t, api.base, key, acc.EventID, w.WebhookID, "delivered", 1, 20*time.Second)
	waitWorkflowClosed(t, temporalClient(t), acc.WorkflowID, 15*time.Second)
	got := rc.requests("/txn")
	if len(got) != 1 {
		for _, g := range got {
			t.Logf("received %s", g.body)
		}
		t.Fatalf("the endpoint received %d requests, want only the authorised update", len(got))
	}
	if string(got[0].body) != data || got[0].header.Get("webhook-id") != acc.EventID {
		t.Errorf("received %q with webhook-id %q, want %q as %s", got[0].body, got[0].header.Get("webhook-id"), data, acc.EventID)
	}
	if err := verifyWith(w.Secret, got[0]); err != nil {
		t.Errorf("the official verifier rejected the update: %v", err)
	}
	// The organisation sees the event through its public API, marked as a transaction update.
	r = call(t, "GET", api.base+"/public/webhooks/events/"+acc.EventID, key, nil)
	wantStatus(t, r, 200)
	if !strings.Contains(string(r.body), `"source":"transaction-update"`) || !strings.Contains(string(r.body), `"org_id":"org-txn"`) {
		t.Errorf("event status %s, want org-txn's event from source transaction-update", r.body)
	}
}
