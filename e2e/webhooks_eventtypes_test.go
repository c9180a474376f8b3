package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.temporal.io/api/workflowservice/v1"
)

// subscribed is an endpoint's metadata with its subscription.
type subscribed struct {
	webhookData
	EventTypes    []string `json:"event_types"`
	PayloadFormat string   `json:"payload_format"`
}

func registerFor(t *testing.T, base, key, url string, body map[string]any) subscribed {
	t.Helper()
	body["endpoint_url"] = url
	r := call(t, "POST", base+"/public/webhooks", key, body)
	wantStatus(t, r, 201)
	var w subscribed
	r.decode(t, &w, nil)
	return w
}

func notifyType(t *testing.T, base, key, org, eventType, data string) acceptedData {
	t.Helper()
	body := fmt.Sprintf(`{"org_id":%q,"event_type":%q,"transaction_data":%s}`, org, eventType, data)
	r := call(t, "POST", base+"/public/webhooks/notify", key, body)
	wantStatus(t, r, 202)
	var a acceptedData
	r.decode(t, &a, nil)
	return a
}

// TestEventTypesReachOnlySubscribedEndpoints: over HTTP against the real stack, each event
// reaches exactly the endpoints subscribed to its type, with PCX-Event-Type, in the endpoint's
// payload format: raw bytes as received, or the Standard Webhooks envelope that the official
// library verifies, the same bytes on a replay. The type is in the event status and findable in
// Temporal by PcxEventType.
func TestEventTypesReachOnlySubscribedEndpoints(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "")
	const org = "org-types"
	key := e.bootstrapKey(org, "u")

	all := registerFor(t, api.base, key, rc.url("/all"), map[string]any{})
	tx := registerFor(t, api.base, key, rc.url("/tx"), map[string]any{"event_types": []string{"transaction.*"}})
	refund := registerFor(t, api.base, key, rc.url("/refund"), map[string]any{"event_types": []string{"refund.created"}, "payload_format": "standard"})
	ops := registerFor(t, api.base, key, rc.url("/ops"), map[string]any{"event_types": []string{"pcx.*", "refund.*"}, "payload_format": "standard"})
	if all.EventTypes == nil || len(all.EventTypes) != 0 || all.PayloadFormat != "raw" {
		t.Fatalf("an endpoint without types shows %q, %q; want [] and raw", all.EventTypes, all.PayloadFormat)
	}
	r := call(t, "GET", api.base+"/public/webhooks/"+refund.WebhookID, key, nil)
	wantStatus(t, r, 200)
	var got subscribed
	r.decode(t, &got, nil)
	if !slices.Equal(got.EventTypes, []string{"refund.created"}) || got.PayloadFormat != "standard" || got.Secret != "" {
		t.Fatalf("metadata %+v", got)
	}

	txData := `{ "id": "tx_1", "amount": 12345678901234567890 }`
	refundData := `{"id":"rf_1","note":"caf\u00e9 ✓"}`
	txAcc := notify(t, api.base, key, org, txData) // no event_type: transaction.updated
	refundAcc := notifyType(t, api.base, key, org, "refund.created", refundData)
	if txAcc.EndpointCount != 2 || refundAcc.EndpointCount != 3 {
		t.Fatalf("endpoint_count %d and %d; want 2 (all, tx) and 3 (all, refund, ops)", txAcc.EndpointCount, refundAcc.EndpointCount)
	}
	waitDeliveries(t, api.base, key, txAcc.EventID, 2, "delivered", 30*time.Second)
	waitDeliveries(t, api.base, key, refundAcc.EventID, 3, "delivered", 30*time.Second)
	var typed struct {
		EventType string `json:"event_type"`
	}
	r = call(t, "GET", api.base+"/public/webhooks/events/"+refundAcc.EventID, key, nil)
	r.decode(t, &typed, nil)
	if typed.EventType != "refund.created" {
		t.Fatalf("event status shows type %q", typed.EventType)
	}

	want := map[string][]string{"/all": {txAcc.EventID, refundAcc.EventID}, "/tx": {txAcc.EventID}, "/refund": {refundAcc.EventID}, "/ops": {refundAcc.EventID}}
	secrets := map[string]string{"/all": all.Secret, "/tx": tx.Secret, "/refund": refund.Secret, "/ops": ops.Secret}
	for path, ids := range want {
		reqs := rc.requests(path)
		var seen []string
		for _, req := range reqs {
			seen = append(seen, req.header.Get("webhook-id"))
		}
		slices.Sort(seen)
		slices.Sort(ids)
		if !slices.Equal(seen, ids) {
			t.Fatalf("%s received %v; want %v", path, seen, ids)
		}
		for _, req := range reqs {
			wantType, data := "transaction.updated", txData
			if req.header.Get("webhook-id") == refundAcc.EventID {
				wantType, data = "refund.created", refundData
			}
			if got := req.header.Get("PCX-Event-Type"); got != wantType {
				t.Fatalf("%s: PCX-Event-Type %q; want %q", path, got, wantType)
			}
			wh, err := standardwebhooks.NewWebhook(secrets[path])
			if err != nil {
				t.Fatal(err)
			}
			if err := wh.Verify(req.body, req.header); err != nil {
				t.Fatalf("%s: the Standard Webhooks verifier rejected the delivery: %v", path, err)
			}
			if path == "/all" || path == "/tx" {
				if !bytes.Equal(req.body, []byte(data)) {
					t.Fatalf("%s raw body %q; want the bytes received %q", path, req.body, data)
				}
				continue
			}
			var env struct {
				Type      string          `json:"type"`
				Timestamp string          `json:"timestamp"`
				Data      json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(req.body, &env); err != nil {
				t.Fatalf("%s: envelope %q: %v", path, req.body, err)
			}
			ts, err := time.Parse(time.RFC3339, env.Timestamp)
			if env.Type != wantType || err != nil || !bytes.Equal(env.Data, []byte(data)) {
				t.Fatalf("%s: envelope %s; want type %s, an RFC 3339 timestamp, data the bytes received", path, req.body, wantType)
			}
			if status := eventStatus(t, api.base, key, refundAcc.EventID); ts.UTC().Format("2006-01-02T15:04:05.000Z07:00") != status.CreatedAt {
				t.Fatalf("%s: envelope timestamp %s; want the event's created_at %s", path, env.Timestamp, status.CreatedAt)
			}
		}
	}

	// A replay sends the envelope's very bytes again.
	first := rc.requests("/refund")[0].body
	r = call(t, "POST", api.base+"/public/webhooks/events/"+refundAcc.EventID+"/replay", key, map[string]any{"webhook_ids": []string{refund.WebhookID, tx.WebhookID}})
	wantStatus(t, r, 202)
	var replay acceptedData
	r.decode(t, &replay, nil)
	if replay.EndpointCount != 1 {
		t.Fatalf("replay endpoint_count %d; want 1: /tx is not subscribed to refund.created", replay.EndpointCount)
	}
	again := rc.waitCount(t, "/refund", 2, 30*time.Second)
	if !bytes.Equal(again[1].body, first) {
		t.Fatalf("replayed body %q; want the first %q", again[1].body, first)
	}

	// Temporal finds the event's workflows by type.
	c := temporalClient(t)
	eventually(t, 30*time.Second, "the refund's workflows found by PcxEventType", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("PcxOrgId = '%s' AND PcxEventType = 'refund.created'", org),
		})
		return err == nil && len(resp.GetExecutions()) == 2 // the event's and the replay's
	})

	// PATCH: /tx now takes every non-reserved type, in the standard format.
	r = call(t, "PATCH", api.base+"/public/webhooks/"+tx.WebhookID, key, map[string]any{"event_types": []string{}, "payload_format": "standard"})
	wantStatus(t, r, 200)
	r.decode(t, &got, nil)
	if len(got.EventTypes) != 0 || got.PayloadFormat != "standard" {
		t.Fatalf("patched %+v", got)
	}
	payout := notifyType(t, api.base, key, org, "payout.paid", `{"id":"po_1"}`)
	if payout.EndpointCount != 2 {
		t.Fatalf("payout endpoint_count %d; want 2 (all, tx)", payout.EndpointCount)
	}
	got2 := rc.waitCount(t, "/tx", 2, 30*time.Second)
	if !strings.HasPrefix(string(got2[1].body), `{"type":"payout.paid","timestamp":"`) {
		t.Fatalf("/tx after the patch got %q", got2[1].body)
	}
}

// TestEventTypesBadInput: each malformed type, subscription or format is a 400 naming the
// field, and nothing is stored or started.
func TestEventTypesBadInput(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "")
	const org = "org-types-bad"
	key := e.bootstrapKey(org, "u")
	for _, tc := range []struct{ name, body string }{
		{"reserved", `{"org_id":"` + org + `","event_type":"pcx.test","transaction_data":{}}`},
		{"upper case", `{"org_id":"` + org + `","event_type":"Transaction.updated","transaction_data":{}}`},
		{"one word", `{"org_id":"` + org + `","event_type":"transaction","transaction_data":{}}`},
		{"wildcard", `{"org_id":"` + org + `","event_type":"transaction.*","transaction_data":{}}`},
		{"empty", `{"org_id":"` + org + `","event_type":"","transaction_data":{}}`},
		{"too long", `{"org_id":"` + org + `","event_type":"a.` + strings.Repeat("b", 100) + `","transaction_data":{}}`},
		{"not a string", `{"org_id":"` + org + `","event_type":7,"transaction_data":{}}`},
	} {
		wantError(t, "notify "+tc.name, call(t, "POST", api.base+"/public/webhooks/notify", key, tc.body), 400, "event_type")
	}
	many := make([]string, 51)
	for i := range many {
		many[i] = fmt.Sprintf("t%d.x", i)
	}
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"51 types", map[string]any{"event_types": many}, "event_types"},
		{"duplicates", map[string]any{"event_types": []string{"a.b", "a.b"}}, "event_types"},
		{"malformed", map[string]any{"event_types": []string{"transaction*"}}, "event_types"},
		{"bare star", map[string]any{"event_types": []string{"*"}}, "event_types"},
		{"not a list", map[string]any{"event_types": "a.b"}, "event_types"},
		{"format", map[string]any{"payload_format": "xml"}, "payload_format"},
		{"empty format", map[string]any{"payload_format": ""}, "payload_format"},
	} {
		tc.body["endpoint_url"] = rc.url("/x")
		wantError(t, "create "+tc.name, call(t, "POST", api.base+"/public/webhooks", key, tc.body), 400, tc.field)
	}
	r := call(t, "GET", api.base+"/public/webhooks", key, nil)
	wantStatus(t, r, 200)
	var list []webhookData
	r.decode(t, &list, nil)
	if len(list) != 0 {
		t.Fatalf("refused creates stored %d endpoints", len(list))
	}
	ok := registerFor(t, api.base, key, rc.url("/ok"), map[string]any{"event_types": []string{"refund.*"}})
	for _, tc := range []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"malformed", map[string]any{"event_types": []string{"Refund.*"}}, "event_types"},
		{"format", map[string]any{"payload_format": "json"}, "payload_format"},
	} {
		wantError(t, "patch "+tc.name, call(t, "PATCH", api.base+"/public/webhooks/"+ok.WebhookID, key, tc.body), 400, tc.field)
	}
	r = call(t, "GET", api.base+"/public/webhooks/"+ok.WebhookID, key, nil)
	var after subscribed
	r.decode(t, &after, nil)
	if !slices.Equal(after.EventTypes, []string{"refund.*"}) || after.PayloadFormat != "raw" {
		t.Fatalf("a refused patch changed the endpoint: %+v", after)
	}
	c := temporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("PcxOrgId = '%s'", org)})
	if err != nil || len(resp.GetExecutions()) != 0 {
		t.Fatalf("refused notifies started %d workflows (%v)", len(resp.GetExecutions()), err)
	}
}
