package e2e

import (
	"slices"
	"testing"
	"time"
)

// Deleting or disabling an endpoint stops the retries already scheduled for it: the pending
// delivery ends cancelled and the endpoint receives nothing more.
func TestWebhookDeleteOrDisableStopsRetries(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "2s,2s,2s,2s")
	key := e.bootstrapKey("org-cancel", "u")
	rc.answer("/deleted", 500)
	rc.answer("/disabled", 500)
	del := register(t, api.base, key, rc.url("/deleted"))
	dis := register(t, api.base, key, rc.url("/disabled"))

	acc := notify(t, api.base, key, "org-cancel", `{"n":1}`)
	rc.waitCount(t, "/deleted", 1, 20*time.Second)
	rc.waitCount(t, "/disabled", 1, 20*time.Second)
	wantStatus(t, call(t, "DELETE", api.base+"/public/webhooks/"+del.WebhookID, key, nil), 200)
	r := call(t, "PATCH", api.base+"/public/webhooks/"+dis.WebhookID, key, map[string]any{"status": "disabled"})
	wantStatus(t, r, 200)
	var got webhookData
	r.decode(t, &got, nil)
	if got.Status != "disabled" || got.DisabledReason == "" {
		t.Errorf("PATCH status disabled = %s, want disabled with a reason", r.body)
	}
	before := map[string]int{"/deleted": rc.count("/deleted"), "/disabled": rc.count("/disabled")}

	waitWorkflowClosed(t, temporalClient(t), acc.WorkflowID, 30*time.Second)
	ev := eventStatus(t, api.base, key, acc.EventID)
	for path, w := range map[string]webhookData{"/deleted": del, "/disabled": dis} {
		d := ev.delivery(t, w.WebhookID)
		if d.Status != "cancelled" {
			t.Errorf("%s delivery %+v (last_error %v), want cancelled", path, d, deref(d.LastError))
		}
		if n := rc.count(path); n != before[path] || n > 2 {
			t.Errorf("%s received %d requests (%d when it was removed), want no more", path, n, before[path])
		}
		t.Logf("%s: %s after %d attempt(s) %v, last_error %v", path, d.Status, d.Attempts, d.attemptCodes(), deref(d.LastError))
	}
}

// An endpoint slower than WEBHOOK_TIMEOUT is a failed attempt (error timeout), retried.
func TestWebhookTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	e := newEnv(t)
	e.allow(rc)
	e.fastRetries("1s,1s")
	e.vars["WEBHOOK_TIMEOUT"] = "1s"
	api := e.startAPI()
	e.startWorker()
	key := e.bootstrapKey("org-timeout", "u")
	rc.setDelay("/slow", 3*time.Second)
	w := register(t, api.base, key, rc.url("/slow"))

	acc := notify(t, api.base, key, "org-timeout", `{"n":1}`)
	rc.waitCount(t, "/slow", 1, 20*time.Second)
	rc.setDelay("/slow", 0) // the receiver recovers
	d := waitDelivery(t, api.base, key, acc.EventID, w.WebhookID, "delivered", 2, 20*time.Second)
	if d.Attempts != 2 || !slices.Equal(d.attemptErrors(), []string{"timeout", ""}) || !slices.Equal(d.attemptCodes(), []int{0, 200}) {
		t.Errorf("delivery %+v: attempts %v %v, want [timeout, 200]", d, d.attemptErrors(), d.attemptCodes())
	}
	if got := rc.requests("/slow"); len(got) != 2 || got[0].header.Get("webhook-id") != got[1].header.Get("webhook-id") {
		t.Errorf("/slow received %d requests, want 2 of the same message", len(got))
	}
}
