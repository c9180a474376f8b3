package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// recoveryData is a recovery's progress as GET …/recoveries/{recovery_id} returns it.
type recoveryData struct {
	RecoveryID  string  `json:"recovery_id"`
	Status      string  `json:"status"`
	Since       string  `json:"since"`
	Until       *string `json:"until"`
	EventsFound int     `json:"events_found"`
	EventsSent  int     `json:"events_sent"`
}

// An endpoint that answered 500 until its schedule was exhausted, then was disabled while more
// events were sent, is re-enabled and recovered since T: it receives exactly the events it never
// acknowledged, each with its original webhook-id, and none it had; the recovery reports
// completed with its counts. The recovery's rules (the window, the endpoint's state and owner)
// answer 400, 409 and 404.
func TestWebhookRecovery(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	e := newEnv(t)
	e.allow(rc)
	e.fastRetries("1s") // two sends per delivery
	e.vars["WEBHOOK_BREAKER_FAILURES"] = "1000"
	api := e.startAPI()
	e.startWorker()
	tc := temporalClient(t)
	key := e.bootstrapKey("org-recover", "u")
	keyB := e.bootstrapKey("org-recover-b", "u")
	w := register(t, api.base, key, rc.url("/r"))
	since := time.Now().UTC().Add(-time.Second)
	recoverURL := api.base + "/public/webhooks/" + w.WebhookID + "/recover"

	// Acknowledged: the first event.
	acked := notify(t, api.base, key, "org-recover", `{"n":0}`)
	waitDeliveries(t, api.base, key, acked.EventID, 1, "delivered", 20*time.Second)

	// Failed: two events the receiver answers 500 to through the schedule.
	rc.answer("/r", 200, 500)
	var missed []string
	for i := 1; i <= 2; i++ {
		missed = append(missed, notify(t, api.base, key, "org-recover", fmt.Sprintf(`{"n":%d}`, i)).EventID)
	}
	for _, id := range missed {
		waitDeliveries(t, api.base, key, id, 1, "failed", 30*time.Second)
	}

	// Never sent: two events while the endpoint is disabled.
	r := call(t, "PATCH", api.base+"/public/webhooks/"+w.WebhookID, key, map[string]any{"status": "disabled"})
	wantStatus(t, r, 200)
	for i := 3; i <= 4; i++ {
		acc := notify(t, api.base, key, "org-recover", fmt.Sprintf(`{"n":%d}`, i))
		missed = append(missed, acc.EventID)
		waitWorkflowClosed(t, tc, acc.WorkflowID, 20*time.Second)
	}
	r = call(t, "POST", recoverURL, key, map[string]any{"since": since.Format(time.RFC3339Nano)})
	wantError(t, "a recovery of a disabled endpoint", r, 409, "")

	r = call(t, "PATCH", api.base+"/public/webhooks/"+w.WebhookID, key, map[string]any{"status": "active"})
	wantStatus(t, r, 200)
	before := rc.count("/r")
	rc.answer("/r", 200)

	// The rules.
	r = call(t, "POST", recoverURL, key, map[string]any{"since": time.Now().Add(-800 * time.Hour).UTC().Format(time.RFC3339)})
	wantError(t, "a window before the retention", r, 400, "since")
	r = call(t, "POST", recoverURL, key, map[string]any{"since": since.Format(time.RFC3339Nano), "until": since.Add(-time.Minute).Format(time.RFC3339Nano)})
	wantError(t, "until before since", r, 400, "until")
	r = call(t, "POST", recoverURL, key, map[string]any{"since": "yesterday"})
	wantError(t, "a since that is no time", r, 400, "since")
	r = call(t, "POST", recoverURL, keyB, map[string]any{"since": since.Format(time.RFC3339Nano)})
	wantError(t, "a recovery of another organisation's endpoint", r, 404, "")

	r = call(t, "POST", recoverURL, key, map[string]any{"since": since.Format(time.RFC3339Nano)})
	wantStatus(t, r, 202)
	var acc struct {
		RecoveryID string `json:"recovery_id"`
		WorkflowID string `json:"workflow_id"`
	}
	r.decode(t, &acc, nil)
	if want := "webhook-recovery-" + w.WebhookID + "-" + acc.RecoveryID; acc.WorkflowID != want {
		t.Fatalf("workflow_id %q, want %q", acc.WorkflowID, want)
	}
	waitWorkflowClosed(t, tc, acc.WorkflowID, 60*time.Second)

	got := rc.requests("/r")[before:]
	var ids []string
	for i, req := range got {
		ids = append(ids, req.header.Get("webhook-id"))
		if err := verifyWith(w.Secret, req); err != nil {
			t.Errorf("recovered request %d: %v", i+1, err)
		}
	}
	// The deliveries start oldest first, a few at once, so they may arrive in another order.
	if !slices.Equal(slices.Sorted(slices.Values(ids)), missed) {
		t.Fatalf("recovered webhook-ids %v, want exactly the missed events %v (not %s, acknowledged)", ids, missed, acked.EventID)
	}
	for _, id := range missed {
		waitDeliveries(t, api.base, key, id, 1, "delivered", 10*time.Second)
	}

	r = call(t, "GET", api.base+"/public/webhooks/"+w.WebhookID+"/recoveries/"+acc.RecoveryID, key, nil)
	wantStatus(t, r, 200)
	var rec recoveryData
	r.decode(t, &rec, nil)
	if rec.RecoveryID != acc.RecoveryID || rec.Status != "completed" || rec.EventsFound != 4 || rec.EventsSent != 4 || rec.Until == nil {
		t.Fatalf("recovery = %+v, want completed with 4 found and 4 sent", rec)
	}
	r = call(t, "GET", api.base+"/public/webhooks/"+w.WebhookID+"/recoveries/"+acc.RecoveryID, keyB, nil)
	wantError(t, "another organisation's recovery", r, 404, "")

	// A second recovery of the same window finds nothing missing.
	r = call(t, "POST", recoverURL, key, map[string]any{"since": since.Format(time.RFC3339Nano)})
	wantStatus(t, r, 202)
	r.decode(t, &acc, nil)
	waitWorkflowClosed(t, tc, acc.WorkflowID, 30*time.Second)
	r = call(t, "GET", api.base+"/public/webhooks/"+w.WebhookID+"/recoveries/"+acc.RecoveryID, key, nil)
	r.decode(t, &rec, nil)
	if rec.Status != "completed" || rec.EventsFound != 0 || rec.EventsSent != 0 || rc.count("/r") != before+len(missed) {
		t.Fatalf("second recovery = %+v with %d requests; want completed, nothing found or sent", rec, rc.count("/r")-before)
	}
}
