package e2e

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"
)

// The same Idempotency-Key and body, sequentially or concurrently, is one event delivered once;
// the same key with another body is a conflict; another key is another event.
func TestWebhookIdempotentNotify(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "")
	tc := temporalClient(t)
	key := e.bootstrapKey("org-idem", "u")
	keyOther := e.bootstrapKey("org-idem-other", "u")
	w := register(t, api.base, key, rc.url("/idem"))
	register(t, api.base, keyOther, rc.url("/idem-other"))

	body := []byte(`{"org_id":"org-idem","transaction_data":{"order":"o-42","amount":10}}`)
	const n = 5
	replies := make([]acceptedData, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := rawPost(api.base+"/public/webhooks/notify", key, body, "Idempotency-Key", "order-42")
			if err == nil && r.status != 202 {
				err = fmt.Errorf("got %s, want 202", r)
			}
			if err != nil {
				errs[i] = err
				return
			}
			var env struct{ Data acceptedData }
			if err := json.Unmarshal(r.body, &env); err != nil {
				errs[i] = err
				return
			}
			replies[i] = env.Data
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent notify %d: %v", i, err)
		}
	}
	first := replies[0]
	if first.EventID == "" || first.RunID == "" || first.EndpointCount != 1 {
		t.Fatalf("notify = %+v", first)
	}
	for i, r := range replies {
		if r.EventID != first.EventID || r.WorkflowID != first.WorkflowID || r.RunID != first.RunID {
			t.Errorf("concurrent notify %d = %+v, want the same event, workflow and run as %+v", i, r, first)
		}
	}
	// A later retry with the same key and body gets the same 202.
	again := notify(t, api.base, key, "org-idem", `{"order":"o-42","amount":10}`, "Idempotency-Key", "order-42")
	if again != first {
		t.Errorf("repeat = %+v, want %+v", again, first)
	}

	waitDelivery(t, api.base, key, first.EventID, w.WebhookID, "delivered", 1, 20*time.Second)
	waitWorkflowClosed(t, tc, first.WorkflowID, 15*time.Second)
	if got := rc.requests("/idem"); len(got) != 1 || got[0].header.Get("webhook-id") != first.EventID {
		t.Fatalf("the endpoint received %d requests, want exactly one delivery of %s", len(got), first.EventID)
	}
	if wfs := eventWorkflows(t, tc, "org-idem", first.EventID, 1); len(wfs) != 1 {
		t.Errorf("%d workflows for the event, want exactly one fan-out", len(wfs))
	}
	// Repeating after the fan-out has finished still starts nothing.
	again = notify(t, api.base, key, "org-idem", `{"order":"o-42","amount":10}`, "Idempotency-Key", "order-42")
	if again != first {
		t.Errorf("repeat after delivery = %+v, want %+v", again, first)
	}

	// The same key with another body: 409, nothing sent.
	r := call(t, "POST", api.base+"/public/webhooks/notify", key,
		`{"org_id":"org-idem","transaction_data":{"order":"o-42","amount":99}}`, "Idempotency-Key", "order-42")
	wantError(t, "same key, other body", r, 409, "")

	// Another key: a new event, delivered.
	other := notify(t, api.base, key, "org-idem", `{"order":"o-42","amount":10}`, "Idempotency-Key", "order-43")
	if other.EventID == first.EventID || other.WorkflowID == first.WorkflowID {
		t.Fatalf("another key gave the same event %+v", other)
	}
	// The same key in another organisation is that organisation's own.
	otherOrg := notify(t, api.base, keyOther, "org-idem-other", `{"order":"o-42","amount":10}`, "Idempotency-Key", "order-42")
	if otherOrg.EventID == first.EventID {
		t.Fatalf("another organisation's key collided with org-idem's: %+v", otherOrg)
	}
	waitDelivery(t, api.base, key, other.EventID, w.WebhookID, "delivered", 1, 20*time.Second)
	waitWorkflowClosed(t, tc, other.WorkflowID, 15*time.Second)
	rc.waitCount(t, "/idem-other", 1, 20*time.Second)
	waitWorkflowClosed(t, tc, otherOrg.WorkflowID, 15*time.Second)
	got := rc.requests("/idem")
	if len(got) != 2 || got[1].header.Get("webhook-id") != other.EventID {
		t.Fatalf("the endpoint received %d requests, want 2 (the second: %s)", len(got), other.EventID)
	}
	if n := rc.count("/idem-other"); n != 1 {
		t.Fatalf("the other organisation's endpoint received %d requests, want 1", n)
	}
}
