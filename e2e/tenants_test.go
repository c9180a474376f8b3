package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/pcx/publicservice/activities"
	pcxapi "github.com/pcx/publicservice/api"
	"github.com/pcx/publicservice/workflows"
)

// TestTenantIsolationMatrix has organisation B's key try every public operation against
// organisation A's keys, webhooks and events — by ID, by prefix, with A's cursors, with A's
// org_id in the body or the query — and checks each is denied without revealing A's data, and that
// afterwards nothing of A's has changed. Every operation of the OpenAPI description must have a
// case here, so a new endpoint cannot ship without one.
func TestTenantIsolationMatrix(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "")
	base := api.base
	keyA := e.bootstrapKey("org-ta", "alice")
	keyB := e.bootstrapKey("org-tb", "bob")

	// Organisation A: a second key, two endpoints, a delivered event; cursors from its lists.
	r := call(t, "POST", base+"/public/api-keys/create", keyA, map[string]any{"name": "a's second key"})
	wantStatus(t, r, 201)
	var a2 keyData
	r.decode(t, &a2, nil)
	hookA := register(t, base, keyA, rc.url("/ta/1"))
	hookA2 := register(t, base, keyA, rc.url("/ta/2"))
	evA := notify(t, base, keyA, "org-ta", `{"tx":"a-1"}`).EventID
	waitDeliveries(t, base, keyA, evA, 2, "delivered", 30*time.Second)
	evA2 := notify(t, base, keyA, "org-ta", `{"tx":"a-2"}`).EventID // so A's event list has a second page
	waitDeliveries(t, base, keyA, evA2, 2, "delivered", 30*time.Second)
	cursor := func(path string) string {
		t.Helper()
		r := call(t, "GET", base+path, keyA, nil)
		wantStatus(t, r, 200)
		var m pageMeta
		r.decode(t, nil, &m)
		if m.LastEvaluatedKey == nil {
			t.Fatalf("%s gave no cursor", path)
		}
		return url.QueryEscape(*m.LastEvaluatedKey)
	}
	keysCursor := cursor("/public/api-keys?limit=1")
	auditCursor := cursor("/public/audit-events?limit=1")
	hooksCursor := cursor("/public/webhooks?limit=1")
	deliveriesCursor := cursor("/public/webhooks/events/" + evA + "?limit=1")
	var eventsCursor, endpointCursor string
	eventually(t, 10*time.Second, "A's event list has a second page", func() bool {
		r := call(t, "GET", base+"/public/webhooks/events?limit=1", keyA, nil)
		var m pageMeta
		r.decode(t, nil, &m)
		if m.LastEvaluatedKey != nil {
			eventsCursor = url.QueryEscape(*m.LastEvaluatedKey)
		}
		r = call(t, "GET", base+"/public/webhooks/"+hookA.WebhookID+"/deliveries?limit=1", keyA, nil)
		var d pageMeta
		r.decode(t, nil, &d)
		if d.LastEvaluatedKey != nil {
			endpointCursor = url.QueryEscape(*d.LastEvaluatedKey)
		}
		return eventsCursor != "" && endpointCursor != ""
	})

	// Organisation B's own things, to aim A's references through.
	hookB := register(t, base, keyB, rc.url("/tb/1"))
	evB := notify(t, base, keyB, "org-tb", `{"tx":"b-1"}`).EventID
	waitDeliveries(t, base, keyB, evB, 1, "delivered", 30*time.Second)

	// A's recovery of its endpoint (it finds nothing missing: no request is sent).
	r = call(t, "POST", base+"/public/webhooks/"+hookA.WebhookID+"/recover", keyA, map[string]any{"since": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)})
	wantStatus(t, r, 202)
	var recA struct {
		RecoveryID string `json:"recovery_id"`
		WorkflowID string `json:"workflow_id"`
	}
	r.decode(t, &recA, nil)
	waitWorkflowClosed(t, temporalClient(t), recA.WorkflowID, 30*time.Second)

	before := tenantSnapshot(t, base, keyA, evA)
	requestsBefore := rc.total()

	type attempt struct {
		route, what, method, path string
		body                      any
		status                    int
	}
	cases := []attempt{
		{"GET /public/api-keys", "A's org_id in the query", "GET", "/public/api-keys?org_id=org-ta", nil, 403},
		{"GET /public/api-keys", "A's cursor", "GET", "/public/api-keys?last_evaluated_key=" + keysCursor, nil, 400},
		{"POST /public/api-keys/create", "A's org_id in the body", "POST", "/public/api-keys/create", map[string]any{"name": "x", "org_id": "org-ta"}, 403},
		{"GET /public/api-keys/{key}", "A's key by ID", "GET", "/public/api-keys/" + a2.APIKeyID, nil, 404},
		{"GET /public/api-keys/{key}", "A's key by prefix", "GET", "/public/api-keys/" + a2.Prefix, nil, 404},
		{"DELETE /public/api-keys/{key}", "A's key by prefix", "DELETE", "/public/api-keys/" + a2.Prefix, nil, 404},
		{"DELETE /public/api-keys/{key}", "A's key by ID", "DELETE", "/public/api-keys/" + a2.APIKeyID, nil, 404},
		{"PATCH /public/api-keys/{prefix}/revoke", "A's key by prefix", "PATCH", "/public/api-keys/" + a2.Prefix + "/revoke", nil, 404},
		{"PATCH /public/api-keys/{prefix}/activate", "A's key by prefix", "PATCH", "/public/api-keys/" + a2.Prefix + "/activate", nil, 404},
		{"PATCH /public/api-keys/{prefix}/revoke", "A's key with cascade", "PATCH", "/public/api-keys/" + a2.Prefix + "/revoke", map[string]any{"cascade": true}, 404},
		{"PATCH /public/api-keys/{key}", "A's key by prefix", "PATCH", "/public/api-keys/" + a2.Prefix, map[string]any{"name": "owned by b"}, 404},
		{"POST /public/api-keys/{prefix}/roll", "A's key by prefix", "POST", "/public/api-keys/" + a2.Prefix + "/roll", nil, 404},
		{"GET /public/audit-events", "A's org_id in the query", "GET", "/public/audit-events?org_id=org-ta", nil, 403},
		{"GET /public/audit-events", "A's cursor", "GET", "/public/audit-events?last_evaluated_key=" + auditCursor, nil, 400},
		{"GET /public/audit-events", "A's endpoint as the target", "GET", "/public/audit-events?target_id=" + hookA.WebhookID, nil, 200},
		{"GET /public/webhooks", "A's org_id in the query", "GET", "/public/webhooks?org_id=org-ta", nil, 403},
		{"GET /public/webhooks", "A's cursor", "GET", "/public/webhooks?last_evaluated_key=" + hooksCursor, nil, 400},
		{"POST /public/webhooks", "A's org_id in the body", "POST", "/public/webhooks", map[string]any{"endpoint_url": rc.url("/tb/x"), "org_id": "org-ta"}, 403},
		{"GET /public/webhooks/{webhook_id}", "A's endpoint", "GET", "/public/webhooks/" + hookA.WebhookID, nil, 404},
		{"PATCH /public/webhooks/{webhook_id}", "A's endpoint", "PATCH", "/public/webhooks/" + hookA.WebhookID, map[string]any{"description": "owned by b"}, 404},
		{"PATCH /public/webhooks/{webhook_id}", "A's endpoint disabled", "PATCH", "/public/webhooks/" + hookA2.WebhookID, map[string]any{"status": "disabled"}, 404},
		{"DELETE /public/webhooks/{webhook_id}", "A's endpoint", "DELETE", "/public/webhooks/" + hookA.WebhookID, nil, 404},
		{"POST /public/webhooks/{webhook_id}/rotate-secret", "A's endpoint", "POST", "/public/webhooks/" + hookA.WebhookID + "/rotate-secret", nil, 404},
		{"POST /public/webhooks/notify", "A's org_id in the body", "POST", "/public/webhooks/notify", map[string]any{"org_id": "org-ta", "transaction_data": map[string]any{"forged": true}}, 403},
		{"GET /public/webhooks/events/{event_id}", "A's event", "GET", "/public/webhooks/events/" + evA, nil, 404},
		{"GET /public/webhooks/events/{event_id}", "A's deliveries cursor on B's event", "GET", "/public/webhooks/events/" + evB + "?last_evaluated_key=" + deliveriesCursor, nil, 400},
		{"GET /public/webhooks/events", "A's cursor", "GET", "/public/webhooks/events?last_evaluated_key=" + eventsCursor, nil, 400},
		{"GET /public/webhooks/{webhook_id}/deliveries", "A's endpoint", "GET", "/public/webhooks/" + hookA.WebhookID + "/deliveries", nil, 404},
		{"GET /public/webhooks/{webhook_id}/deliveries", "A's cursor on B's endpoint", "GET", "/public/webhooks/" + hookB.WebhookID + "/deliveries?last_evaluated_key=" + endpointCursor, nil, 400},
		{"POST /public/webhooks/{webhook_id}/test", "A's endpoint", "POST", "/public/webhooks/" + hookA.WebhookID + "/test", nil, 404},
		{"POST /public/webhooks/events/{event_id}/replay", "A's event", "POST", "/public/webhooks/events/" + evA + "/replay", nil, 404},
		{"POST /public/webhooks/events/{event_id}/replay", "A's event to A's endpoint", "POST", "/public/webhooks/events/" + evA + "/replay", map[string]any{"webhook_ids": []string{hookA.WebhookID}}, 404},
		// B names A's endpoint itself here: the answer may repeat the ID it was given, and is the
		// same as for an endpoint that does not exist (checked below).
		{"POST /public/webhooks/{webhook_id}/recover", "A's endpoint", "POST", "/public/webhooks/" + hookA.WebhookID + "/recover", map[string]any{"since": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}, 404},
		{"GET /public/webhooks/{webhook_id}/recoveries/{recovery_id}", "A's recovery", "GET", "/public/webhooks/" + hookA.WebhookID + "/recoveries/" + recA.RecoveryID, nil, 404},
		{"GET /public/webhooks/{webhook_id}/recoveries/{recovery_id}", "A's recovery under B's endpoint", "GET", "/public/webhooks/" + hookB.WebhookID + "/recoveries/" + recA.RecoveryID, nil, 404},
		{"POST /public/webhooks/events/{event_id}/replay", "B's event to A's endpoint", "POST", "/public/webhooks/events/" + evB + "/replay", map[string]any{"webhook_ids": []string{hookA.WebhookID}}, 400},
	}
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.route] = true
		r := call(t, c.method, base+c.path, keyB, c.body)
		if r.status != c.status {
			t.Errorf("%s, %s, as B: got %s, want %d", c.route, c.what, r, c.status)
		}
		for _, secret := range []string{"org-ta", "alice", a2.APIKeyID, a2.Prefix, hookA.WebhookID, hookA2.WebhookID, hookA.Secret, rc.url("/ta/")} {
			if strings.Contains(string(r.body), secret) && !strings.Contains(c.path+fmt.Sprint(c.body), secret) {
				t.Errorf("%s, %s, as B: the answer reveals A's %q: %s", c.route, c.what, secret, r.body)
			}
		}
	}
	// B's audit log holds none of A's records, whatever B filters by.
	for _, q := range []string{"", "?target_id=" + hookA.WebhookID, "?target_id=" + a2.APIKeyID, "?action=webhook.created"} {
		r := call(t, "GET", base+"/public/audit-events"+q, keyB, nil)
		if strings.Contains(string(r.body), "org-ta") || strings.Contains(string(r.body), hookA.WebhookID) || strings.Contains(string(r.body), a2.APIKeyID) {
			t.Errorf("B's audit log%s shows A's records: %s", q, r.body)
		}
	}
	// B's own event list shows B's event and none of A's.
	r = call(t, "GET", base+"/public/webhooks/events?limit=100", keyB, nil)
	wantStatus(t, r, 200)
	if !strings.Contains(string(r.body), evB) || strings.Contains(string(r.body), evA) || strings.Contains(string(r.body), evA2) {
		t.Errorf("B's event list: %s", r.body)
	}
	// No existence oracle: A's endpoint and one that never existed get the same answer.
	const ghost = "wh_01aaaaaaaaaaaaaaaaaaaaaaaa"
	foreign := call(t, "POST", base+"/public/webhooks/events/"+evB+"/replay", keyB, map[string]any{"webhook_ids": []string{hookA.WebhookID}})
	none := call(t, "POST", base+"/public/webhooks/events/"+evB+"/replay", keyB, map[string]any{"webhook_ids": []string{ghost}})
	if foreign.status != none.status || strings.ReplaceAll(string(foreign.body), hookA.WebhookID, ghost) != string(none.body) {
		t.Errorf("replay to A's endpoint %s differs from replay to a missing one %s", foreign, none)
	}

	// GET /public/me takes no reference to anything: it must answer B as B.
	covered["GET /public/me"] = true
	r = call(t, "GET", base+"/public/me", keyB, nil)
	wantStatus(t, r, 200)
	if !strings.Contains(string(r.body), `"org-tb"`) || strings.Contains(string(r.body), "org-ta") {
		t.Errorf("/public/me as B: %s", r.body)
	}

	// Every public operation of the description has a case.
	missing := uncoveredOperations(t, covered)
	if len(missing) > 0 {
		t.Errorf("operations without a tenant isolation case: %v", missing)
	}

	// Nothing of A's changed, and B's attempts sent nothing anywhere.
	if after := tenantSnapshot(t, base, keyA, evA); after != before {
		t.Errorf("A's state changed under B's attempts:\nbefore %s\nafter  %s", before, after)
	}
	time.Sleep(time.Second) // a replay that slipped through would have delivered by now
	if n := rc.total(); n != requestsBefore {
		t.Errorf("receivers got %d requests during B's attempts, want none", n-requestsBefore)
	}
	// A's endpoints still receive, signed with the secret A was given.
	ev := notify(t, base, keyA, "org-ta", `{"tx":"a-2"}`).EventID
	waitDeliveries(t, base, keyA, ev, 2, "delivered", 30*time.Second)
	got := rc.requests("/ta/1")
	if err := verifyWith(hookA.Secret, got[len(got)-1]); err != nil {
		t.Errorf("A's endpoint after B's attempts: %v", err)
	}
	// Within A, too, a cursor serves only the list it came from.
	for what, path := range map[string]string{
		"a key list cursor on the endpoint list":     "/public/webhooks?last_evaluated_key=" + keysCursor,
		"an endpoint list cursor on the key list":    "/public/api-keys?last_evaluated_key=" + hooksCursor,
		"one event's deliveries cursor on another's": "/public/webhooks/events/" + ev + "?last_evaluated_key=" + deliveriesCursor,
	} {
		wantError(t, what, call(t, "GET", base+path, keyA, nil), 400, "")
	}
	// B's own endpoint is still B's alone.
	wantStatus(t, call(t, "GET", base+"/public/webhooks/"+hookB.WebhookID, keyB, nil), 200)
	wantStatus(t, call(t, "GET", base+"/public/webhooks/"+hookB.WebhookID, keyA, nil), 404)
}

// tenantSnapshot renders what organisation A can see of its keys, endpoints and an event, so two
// snapshots compare equal exactly when nothing of A's changed (last_used_at aside: A's own calls
// here move it).
func tenantSnapshot(t *testing.T, base, key, eventID string) string {
	t.Helper()
	var b strings.Builder
	var keys []keyData
	call(t, "GET", base+"/public/api-keys?limit=100", key, nil).decode(t, &keys, nil)
	for _, k := range keys {
		b.WriteString(k.APIKeyID + " " + k.Prefix + " " + k.Name + " " + k.Status + " " + fmt.Sprint(deref(k.RevokedAt)) + "; ")
	}
	var hooks []webhookData
	call(t, "GET", base+"/public/webhooks?limit=100", key, nil).decode(t, &hooks, nil)
	for _, h := range hooks {
		b.WriteString(h.WebhookID + " " + h.EndpointURL + " " + h.Description + " " + h.Status + "; ")
	}
	for _, d := range eventStatus(t, base, key, eventID).Deliveries {
		b.WriteString(d.WebhookID + " " + d.Status + " " + strings.Repeat("+", d.Attempts) + "; ")
	}
	return b.String()
}

// TestWorkflowStartedForAnotherOrgDeliversNothing starts the event workflow straight on Temporal,
// as anyone with access to its UI could, naming organisation B for an event of organisation A:
// B's endpoint receives nothing, the workflow fails with the refusal, and the worker logs a
// warning naming the event and both organisations, never the payload.
func TestWorkflowStartedForAnotherOrgDeliversNothing(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	e := newEnv(t)
	e.allow(rc)
	e.capture = &lockedBuffer{}
	api := e.startAPI()
	e.startWorker()
	keyA, keyB := e.bootstrapKey("org-wa", "u"), e.bootstrapKey("org-wb", "u")
	wA := register(t, api.base, keyA, rc.url("/a"))
	register(t, api.base, keyB, rc.url("/b"))
	const payload = `{"tx":"only-for-org-wa-7c1f"}`
	acc := notify(t, api.base, keyA, "org-wa", payload)
	waitDelivery(t, api.base, keyA, acc.EventID, wA.WebhookID, "delivered", 1, 20*time.Second)

	tc := temporalClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: "forged-" + acc.EventID, TaskQueue: e.config().TemporalTaskQueue,
	}, workflows.EventWorkflowName, workflows.EventInput{EventID: acc.EventID, OrgID: "org-wb"})
	if err != nil {
		t.Fatalf("starting the workflow on Temporal: %v", err)
	}
	err = run.Get(ctx, nil)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.EventOfAnotherOrg {
		t.Fatalf("workflow for org-wb of org-wa's event ended with %v, want it failed with %s", err, activities.EventOfAnotherOrg)
	}
	// The workflow is closed: nothing more can be sent.
	if n := rc.count("/b"); n != 0 {
		t.Fatalf("org-wb's endpoint received %d requests of org-wa's event", n)
	}
	if n := rc.count("/a"); n != 1 {
		t.Fatalf("org-wa's endpoint received %d requests, want its one delivery", n)
	}
	logs := e.capture.String()
	var warned bool
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, `"level":"warn"`) && strings.Contains(line, acc.EventID) &&
			strings.Contains(line, `"org-wa"`) && strings.Contains(line, `"org-wb"`) {
			warned = true
		}
	}
	if !warned {
		t.Error("no warning naming the event and both organisations was logged")
	}
	if strings.Contains(logs, "only-for-org-wa-7c1f") {
		t.Error("the logs hold the event's payload")
	}
}

// uncoveredOperations returns the public operations of the OpenAPI description that covered does
// not name ("GET /public/me"), sorted: a table of cases that must cover every operation fails on
// a new route until it has one.
func uncoveredOperations(t *testing.T, covered map[string]bool) []string {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(pcxapi.OpenAPIDocument())
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for path, item := range doc.Paths.Map() {
		if !strings.HasPrefix(path, "/public/") {
			continue
		}
		for method := range item.Operations() {
			if route := method + " " + path; !covered[route] {
				missing = append(missing, route)
			}
		}
	}
	sort.Strings(missing)
	return missing
}
