package e2e

import (
	"strings"
	"testing"
	"time"
)

// Without WEBHOOK_ALLOWED_CIDRS, internal and malformed endpoint URLs are refused at registration
// with a message that names the rule and never the address, and nothing is stored.
func TestWebhookSSRFAtRegistration(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	e := newEnv(t)
	if e.vars["WEBHOOK_ALLOWED_CIDRS"] != "" {
		t.Fatal("the environment must not exempt any range")
	}
	api := e.startAPI()
	key := e.bootstrapKey("org-ssrf", "u")
	port := strings.TrimPrefix(rc.srv.URL, "https://127.0.0.1:")

	for _, tc := range []struct {
		url     string
		rule    string   // a word the message must contain
		secrets []string // what the body must never contain
	}{
		{"https://127.0.0.1:" + port + "/x", "loopback", []string{"127.0.0.1", port}},
		{"https://localhost/x", "loopback", []string{"127.0.0.1", "::1"}},
		{"https://[::1]/x", "loopback", []string{"::1"}},
		{"https://10.0.0.1/x", "private", []string{"10.0.0.1"}},
		{"https://169.254.169.254/latest", "link-local", []string{"169.254"}},
		{"https://[::ffff:127.0.0.1]/x", "", []string{"127.0.0.1", "ffff"}},
		{"https://100.64.0.1/x", "carrier-grade", []string{"100.64"}},
		{"https://0.0.0.0/x", "unspecified", []string{"0.0.0.0"}},
		{"http://example.com/", "https", nil},
		{"https://user:pw@example.com/", "user info", []string{"pw@", "user:"}},
	} {
		r := call(t, "POST", api.base+"/public/webhooks", key, map[string]any{"endpoint_url": tc.url})
		env := wantError(t, tc.url, r, 400, "endpoint_url")
		msg := env.Errors["endpoint_url"]
		if tc.rule != "" && !strings.Contains(msg, tc.rule) {
			t.Errorf("%s: problem %q does not name the %s rule", tc.url, msg, tc.rule)
		}
		for _, s := range tc.secrets {
			if strings.Contains(string(r.body), s) {
				t.Errorf("%s: the 400 reveals %q: %s", tc.url, s, r.body)
			}
		}
		t.Logf("%-40s → %s", tc.url, msg)
	}
	r := call(t, "GET", api.base+"/public/webhooks", key, nil)
	wantStatus(t, r, 200)
	var list []webhookData
	r.decode(t, &list, nil)
	if len(list) != 0 {
		t.Fatalf("refused endpoints were stored: %+v", list)
	}
}

// The same check runs when connecting: an endpoint registered through an API that exempts
// loopback is refused by a worker that does not, after one attempt (not retried), and the
// receiver sees nothing.
func TestWebhookSSRFAtConnectTime(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	e := newEnv(t)
	e.allow(rc)
	e.fastRetries("1s,1s,1s")
	api := e.startAPI() // reads WEBHOOK_ALLOWED_CIDRS=127.0.0.0/8,::1/128 now
	delete(e.vars, "WEBHOOK_ALLOWED_CIDRS")
	e.startWorker() // without it
	key := e.bootstrapKey("org-rebind", "u")
	w := register(t, api.base, key, rc.url("/internal"))

	acc := notify(t, api.base, key, "org-rebind", `{"n":1}`)
	d := waitDelivery(t, api.base, key, acc.EventID, w.WebhookID, "failed", 1, 20*time.Second)
	waitWorkflowClosed(t, temporalClient(t), acc.WorkflowID, 15*time.Second)
	d = eventStatus(t, api.base, key, acc.EventID).delivery(t, w.WebhookID)
	if d.Attempts != 1 || deref(d.LastError) != "blocked" || d.LastStatusCode != nil || len(d.AttemptLog) != 1 {
		t.Errorf("delivery %+v (last_error %v, last_status_code %v), want failed after one blocked attempt", d, deref(d.LastError), deref(d.LastStatusCode))
	}
	if n := rc.total(); n != 0 {
		t.Errorf("the receiver saw %d requests, want none", n)
	}
	t.Logf("attempt_log %v %v", d.attemptCodes(), d.attemptErrors())
}
