package e2e

import (
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
)

// A failing endpoint is retried on WEBHOOK_RETRY_SCHEDULE until it answers 2xx: every attempt is
// the same message (webhook-id), freshly stamped and validly signed, and every attempt is
// recorded. A Retry-After longer than the schedule is honoured.
func TestWebhookRetriesUntilSuccess(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "1s,1s,1s")
	key := e.bootstrapKey("org-retry", "u")
	keyRA := e.bootstrapKey("org-retry-after", "u")

	rc.answer("/flaky", 500, 503, 200)
	flaky := register(t, api.base, key, rc.url("/flaky"))
	rc.answer("/busy", 429, 200)
	rc.setHeaders("/busy", http.Header{"Retry-After": {"3"}})
	busy := register(t, api.base, keyRA, rc.url("/busy"))

	data := `{"order":"o-1","amount":12.5}`
	acc := notify(t, api.base, key, "org-retry", data)
	accRA := notify(t, api.base, keyRA, "org-retry-after", `{"order":"o-2"}`)

	d := waitDelivery(t, api.base, key, acc.EventID, flaky.WebhookID, "delivered", 3, 30*time.Second)
	if d.Attempts != 3 || deref(d.LastStatusCode) != 200 || d.DeliveredAt == nil || d.LastError != nil {
		t.Errorf("delivery %+v, want delivered after 3 attempts, last 200, no last_error", d)
	}
	if got := d.attemptCodes(); !slices.Equal(got, []int{500, 503, 200}) {
		t.Errorf("attempt_log status codes %v, want [500 503 200]", got)
	}
	if got := d.attemptErrors(); !slices.Equal(got, []string{"http_status", "http_status", ""}) {
		t.Errorf("attempt_log errors %v, want [http_status http_status <none>]", got)
	}

	tc := temporalClient(t)
	if st := waitWorkflowClosed(t, tc, acc.WorkflowID, 15*time.Second); st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("event workflow ended %s, want completed", st)
	}
	got := rc.requests("/flaky")
	if len(got) != 3 {
		t.Fatalf("/flaky received %d requests, want exactly 3", len(got))
	}
	var stamps []int64
	for i, req := range got {
		if id := req.header.Get("webhook-id"); id != acc.EventID {
			t.Errorf("attempt %d: webhook-id %q, want the event_id %s on every attempt", i+1, id, acc.EventID)
		}
		if string(req.body) != data {
			t.Errorf("attempt %d: body %q, want %q", i+1, req.body, data)
		}
		if err := verifyWith(flaky.Secret, req); err != nil {
			t.Errorf("attempt %d: the official verifier rejected it: %v", i+1, err)
		}
		ts, err := strconv.ParseInt(req.header.Get("webhook-timestamp"), 10, 64)
		if err != nil {
			t.Fatalf("attempt %d: webhook-timestamp %q", i+1, req.header.Get("webhook-timestamp"))
		}
		// Stamped when sent: within a second or two of when it arrived.
		if skew := req.at.Sub(time.Unix(ts, 0)); skew < -time.Second || skew > 3*time.Second {
			t.Errorf("attempt %d: webhook-timestamp %d is %s from its arrival at %s, want a fresh stamp", i+1, ts, skew, req.at)
		}
		stamps = append(stamps, ts)
	}
	if !(stamps[0] <= stamps[1] && stamps[1] <= stamps[2] && stamps[0] < stamps[2]) {
		t.Errorf("webhook-timestamps %v: each attempt must carry its own, later stamp", stamps)
	}
	for i := 1; i < len(got); i++ {
		if gap := got[i].at.Sub(got[i-1].at); gap < 700*time.Millisecond {
			t.Errorf("attempt %d came %s after the previous one, want about the 1s schedule (±20%%)", i+1, gap)
		}
	}

	// Retry-After: 3 on a 1s schedule: the second attempt waits for the receiver's 3s.
	dRA := waitDelivery(t, api.base, keyRA, accRA.EventID, busy.WebhookID, "delivered", 2, 30*time.Second)
	if !slices.Equal(dRA.attemptCodes(), []int{429, 200}) || dRA.Attempts != 2 {
		t.Errorf("Retry-After delivery %+v, want attempts [429 200]", dRA)
	}
	reqs := rc.requests("/busy")
	if len(reqs) != 2 {
		t.Fatalf("/busy received %d requests, want 2", len(reqs))
	}
	gap := reqs[1].at.Sub(reqs[0].at)
	t.Logf("Retry-After: 3 → second attempt %s after the first", gap.Round(time.Millisecond))
	if gap < 2900*time.Millisecond {
		t.Errorf("second attempt came %s after a 429 with Retry-After: 3, want at least 3s", gap)
	}
	if gap > 10*time.Second {
		t.Errorf("second attempt came %s after a 429 with Retry-After: 3, want soon after 3s", gap)
	}
}

// When the schedule is exhausted the delivery is failed: one attempt plus one per schedule entry,
// and nothing after.
func TestWebhookRetryScheduleExhausted(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "1s,1s")
	key := e.bootstrapKey("org-exhaust", "u")
	rc.answer("/down", 500)
	w := register(t, api.base, key, rc.url("/down"))

	acc := notify(t, api.base, key, "org-exhaust", `{"n":1}`)
	d := waitDelivery(t, api.base, key, acc.EventID, w.WebhookID, "failed", 1, 30*time.Second)
	if st := waitWorkflowClosed(t, temporalClient(t), acc.WorkflowID, 15*time.Second); st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("event workflow ended %s, want completed (a failed delivery is an outcome, not a workflow failure)", st)
	}
	if n := rc.count("/down"); n != 3 {
		t.Errorf("the endpoint received %d requests, want exactly 3 (1 + 2 retries)", n)
	}
	d = eventStatus(t, api.base, key, acc.EventID).delivery(t, w.WebhookID)
	if d.Status != "failed" || d.Attempts != 3 || deref(d.LastStatusCode) != 500 || deref(d.LastError) != "http_status" || d.DeliveredAt != nil {
		t.Errorf("delivery %+v (last_status_code %v, last_error %v), want failed after 3 attempts with 500", d, deref(d.LastStatusCode), deref(d.LastError))
	}
	if got := d.attemptCodes(); !slices.Equal(got, []int{500, 500, 500}) {
		t.Errorf("attempt_log codes %v, want [500 500 500]", got)
	}
}

// 410 Gone stops retries and disables the endpoint: it receives nothing until its owner
// re-enables it.
func TestWebhookGoneDisablesEndpoint(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "1s,1s,1s")
	tc := temporalClient(t)
	key := e.bootstrapKey("org-gone", "u")
	rc.answer("/gone", 410, 200)
	gone := register(t, api.base, key, rc.url("/gone"))
	canary := register(t, api.base, key, rc.url("/canary"))

	acc := notify(t, api.base, key, "org-gone", `{"n":1}`)
	if acc.EndpointCount != 2 {
		t.Fatalf("endpoint_count %d, want 2", acc.EndpointCount)
	}
	d := waitDelivery(t, api.base, key, acc.EventID, gone.WebhookID, "failed", 1, 20*time.Second)
	waitDelivery(t, api.base, key, acc.EventID, canary.WebhookID, "delivered", 1, 20*time.Second)
	waitWorkflowClosed(t, tc, acc.WorkflowID, 15*time.Second)
	if n := rc.count("/gone"); n != 1 {
		t.Errorf("/gone received %d requests, want exactly 1 (410 is not retried)", n)
	}
	d = eventStatus(t, api.base, key, acc.EventID).delivery(t, gone.WebhookID)
	if d.Attempts != 1 || deref(d.LastStatusCode) != 410 || deref(d.LastError) != "gone" {
		t.Errorf("delivery %+v, want failed after one 410 attempt with error gone", d)
	}

	r := call(t, "GET", api.base+"/public/webhooks/"+gone.WebhookID, key, nil)
	wantStatus(t, r, 200)
	var got webhookData
	r.decode(t, &got, nil)
	if got.Status != "disabled" || got.DisabledReason == "" {
		t.Fatalf("after 410 the endpoint is %s (reason %q): %s, want disabled with a reason", got.Status, got.DisabledReason, r.body)
	}
	t.Logf("disabled_reason: %q", got.DisabledReason)

	// Disabled: the next event does not count it and does not reach it. The worker disabled it,
	// so the API's count of active endpoints (kept at most a second) may still include it.
	time.Sleep(time.Second)
	acc2 := notify(t, api.base, key, "org-gone", `{"n":2}`)
	if acc2.EndpointCount != 1 {
		t.Errorf("endpoint_count %d with one endpoint disabled, want 1", acc2.EndpointCount)
	}
	waitDelivery(t, api.base, key, acc2.EventID, canary.WebhookID, "delivered", 1, 20*time.Second)
	waitWorkflowClosed(t, tc, acc2.WorkflowID, 15*time.Second)
	if n := rc.count("/gone"); n != 1 {
		t.Errorf("the disabled endpoint received %d requests, want still 1", n)
	}
	for _, x := range eventStatus(t, api.base, key, acc2.EventID).Deliveries {
		if x.WebhookID == gone.WebhookID && x.Status != "cancelled" {
			t.Errorf("the disabled endpoint has a %s delivery of the second event", x.Status)
		}
	}

	// Re-enabled by its owner: the next event reaches it.
	r = call(t, "PATCH", api.base+"/public/webhooks/"+gone.WebhookID, key, map[string]any{"status": "active"})
	wantStatus(t, r, 200)
	var enabled webhookData
	r.decode(t, &enabled, nil)
	if enabled.Status != "active" || enabled.DisabledReason != "" {
		t.Fatalf("PATCH status active = %s", r.body)
	}
	acc3 := notify(t, api.base, key, "org-gone", `{"n":3}`)
	if acc3.EndpointCount != 2 {
		t.Errorf("endpoint_count %d after re-enabling, want 2", acc3.EndpointCount)
	}
	waitDelivery(t, api.base, key, acc3.EventID, gone.WebhookID, "delivered", 1, 20*time.Second)
	reqs := rc.requests("/gone")
	if len(reqs) != 2 || reqs[1].header.Get("webhook-id") != acc3.EventID {
		t.Errorf("/gone received %d requests, want the third event as its second", len(reqs))
	}
}

// Redirects are never followed: a 3xx is a failed attempt, and the target is never requested.
func TestWebhookRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "1s,1s")
	key := e.bootstrapKey("org-redirect", "u")
	rc.answer("/moved", http.StatusFound)
	rc.setHeaders("/moved", http.Header{"Location": {rc.url("/target")}})
	w := register(t, api.base, key, rc.url("/moved"))

	acc := notify(t, api.base, key, "org-redirect", `{"n":1}`)
	d := waitDelivery(t, api.base, key, acc.EventID, w.WebhookID, "failed", 1, 30*time.Second)
	waitWorkflowClosed(t, temporalClient(t), acc.WorkflowID, 15*time.Second)
	if n := rc.count("/target"); n != 0 {
		t.Errorf("the redirect target received %d requests, want none", n)
	}
	d = eventStatus(t, api.base, key, acc.EventID).delivery(t, w.WebhookID)
	if deref(d.LastError) != "redirect" || deref(d.LastStatusCode) != 302 || d.DeliveredAt != nil {
		t.Errorf("delivery %+v (last_error %v, last_status_code %v), want failed with error redirect, 302", d, deref(d.LastError), deref(d.LastStatusCode))
	}
	for i, class := range d.attemptErrors() {
		if class != "redirect" {
			t.Errorf("attempt %d recorded error %q, want redirect", i+1, class)
		}
	}
	if n := rc.count("/moved"); n != d.Attempts || n != 3 {
		t.Errorf("/moved received %d requests, %d attempts recorded; want 3 of each", n, d.Attempts)
	}
	t.Logf("attempts %v %v", d.attemptCodes(), d.attemptErrors())
}
