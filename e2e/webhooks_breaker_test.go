package e2e

import (
	"encoding/json"
	"testing"
	"time"
)

// healthOf is an endpoint's health and disabling as the API shows them.
type healthOf struct {
	Status         string  `json:"status"`
	DisabledReason string  `json:"disabled_reason"`
	DisabledAt     *string `json:"disabled_at"`
	Health         struct {
		State               string  `json:"state"`
		ConsecutiveFailures int     `json:"consecutive_failures"`
		LastSuccessAt       *string `json:"last_success_at"`
		LastFailureAt       *string `json:"last_failure_at"`
	} `json:"health"`
}

func endpointHealth(t *testing.T, base, key, id string) healthOf {
	t.Helper()
	r := call(t, "GET", base+"/public/webhooks/"+id, key, nil)
	wantStatus(t, r, 200)
	var h healthOf
	r.decode(t, &h, nil)
	return h
}

// Contract §10 end to end with short settings: an endpoint that always answers 500 goes failing
// after WEBHOOK_BREAKER_FAILURES, its deliveries wait behind one probe at a time, and after
// WEBHOOK_DISABLE_AFTER of failing it is disabled "failing"; an endpoint of the organisation
// subscribed to pcx.endpoint.disabled is told; re-enabling resets its health.
func TestBreakerDisablesAFailingEndpoint(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	e := newEnv(t)
	e.allow(rc)
	e.fastRetries("1s,1s,1s,1s,1s,1s,1s,1s,1s,1s")
	e.vars["WEBHOOK_BREAKER_FAILURES"] = "2"
	e.vars["WEBHOOK_DISABLE_AFTER"] = "4s"
	api := e.startAPI()
	e.startWorker()
	key := e.bootstrapKey("org-breaker", "u")

	rc.answer("/failing", 500)
	failing := register(t, api.base, key, rc.url("/failing"))
	r := call(t, "POST", api.base+"/public/webhooks", key, map[string]any{
		"endpoint_url": rc.url("/ops"), "event_types": []string{"pcx.endpoint.disabled"},
	})
	wantStatus(t, r, 201)
	var ops webhookData
	r.decode(t, &ops, nil)
	if h := endpointHealth(t, api.base, key, failing.WebhookID); h.Health.State != "healthy" || h.Health.ConsecutiveFailures != 0 || h.Health.LastFailureAt != nil || h.DisabledAt != nil {
		t.Fatalf("a new endpoint: %+v, want healthy with no failures", h)
	}

	start := time.Now()
	for range 3 {
		notify(t, api.base, key, "org-breaker", `{"n":1}`)
	}
	var h healthOf
	eventually(t, 20*time.Second, "the endpoint goes failing", func() bool {
		h = endpointHealth(t, api.base, key, failing.WebhookID)
		return h.Health.State == "failing"
	})
	if h.Health.ConsecutiveFailures < 2 || h.Health.LastFailureAt == nil || h.Health.LastSuccessAt != nil {
		t.Errorf("failing endpoint health %+v, want at least 2 failures, a last failure, no success", h.Health)
	}
	eventually(t, 30*time.Second, "the endpoint is disabled", func() bool {
		h = endpointHealth(t, api.base, key, failing.WebhookID)
		return h.Status == "disabled"
	})
	took := time.Since(start)
	if h.DisabledReason != "failing" || h.DisabledAt == nil {
		t.Fatalf("disabled endpoint %+v, want disabled_reason failing and disabled_at", h)
	}
	if took < 4*time.Second {
		t.Errorf("disabled %s after the first events, before WEBHOOK_DISABLE_AFTER (4s) of failing", took)
	}
	// Without the breaker each of the 3 deliveries is sent once a second; behind it, the first
	// attempts and one probe at a time.
	sent := rc.count("/failing")
	t.Logf("/failing received %d requests in %s", sent, took.Round(100*time.Millisecond))
	if limit := 3 * int(took/time.Second); sent >= limit {
		t.Errorf("/failing received %d requests in %s, want fewer than the %d of unbroken retries", sent, took, limit)
	}

	got := rc.waitCount(t, "/ops", 1, 20*time.Second)
	if typ := got[0].header.Get("PCX-Event-Type"); typ != "pcx.endpoint.disabled" {
		t.Errorf("/ops received PCX-Event-Type %q, want pcx.endpoint.disabled", typ)
	}
	var data map[string]any
	if err := json.Unmarshal(got[0].body, &data); err != nil {
		t.Fatalf("pcx.endpoint.disabled body %q: %v", got[0].body, err)
	}
	want := map[string]any{"webhook_id": failing.WebhookID, "endpoint_url": rc.url("/failing"), "reason": "failing", "disabled_at": *h.DisabledAt}
	if len(data) != len(want) {
		t.Errorf("pcx.endpoint.disabled data %v, want %v", data, want)
	}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("pcx.endpoint.disabled %s = %v, want %v (body %s)", k, data[k], v, got[0].body)
		}
	}
	if err := verifyWith(ops.Secret, got[0]); err != nil {
		t.Errorf("the operational event's signature does not verify: %v", err)
	}

	r = call(t, "PATCH", api.base+"/public/webhooks/"+failing.WebhookID, key, map[string]any{"status": "active"})
	wantStatus(t, r, 200)
	h = endpointHealth(t, api.base, key, failing.WebhookID)
	if h.Status != "active" || h.DisabledAt != nil || h.DisabledReason != "" || h.Health.State != "healthy" ||
		h.Health.ConsecutiveFailures != 0 || h.Health.LastFailureAt != nil || h.Health.LastSuccessAt != nil {
		t.Errorf("re-enabled endpoint %+v, want active with its health reset", h)
	}
	if n := rc.count("/ops"); n != 1 {
		t.Errorf("/ops received %d operational events, want the one", n)
	}
}
