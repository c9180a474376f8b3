package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/testenv"
)

// A replay through the API re-delivers the same message (same webhook-id) to every endpoint, or
// to the ones named, in a workflow of its own; attempts add up on the same delivery records.
func TestWebhookReplayAPI(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "")
	tc := temporalClient(t)
	key := e.bootstrapKey("org-replay", "u")
	keyB := e.bootstrapKey("org-replay-b", "u")
	one := register(t, api.base, key, rc.url("/one"))
	two := register(t, api.base, key, rc.url("/two"))
	secrets := map[string]string{"/one": one.Secret, "/two": two.Secret}

	data := `{"order":"o-7","status":"settled"}`
	acc := notify(t, api.base, key, "org-replay", data)
	waitDeliveries(t, api.base, key, acc.EventID, 2, "delivered", 20*time.Second)
	waitWorkflowClosed(t, tc, acc.WorkflowID, 15*time.Second)

	// Replay to every endpoint.
	r := call(t, "POST", api.base+"/public/webhooks/events/"+acc.EventID+"/replay", key, nil)
	wantStatus(t, r, 202)
	var rep acceptedData
	r.decode(t, &rep, nil)
	if rep.EventID != acc.EventID || rep.WorkflowID == acc.WorkflowID || !strings.HasPrefix(rep.WorkflowID, acc.WorkflowID) || rep.RunID == "" || rep.EndpointCount != 2 {
		t.Fatalf("replay = %+v, want the same event in a new workflow to 2 endpoints (original %s)", rep, acc.WorkflowID)
	}
	for _, path := range []string{"/one", "/two"} {
		got := rc.waitCount(t, path, 2, 20*time.Second)
		for i, req := range got {
			if req.header.Get("webhook-id") != acc.EventID || string(req.body) != data {
				t.Errorf("%s request %d: webhook-id %q body %q, want %s and the original bytes", path, i+1, req.header.Get("webhook-id"), req.body, acc.EventID)
			}
			if err := verifyWith(secrets[path], req); err != nil {
				t.Errorf("%s request %d: %v", path, i+1, err)
			}
		}
	}
	waitWorkflowClosed(t, tc, rep.WorkflowID, 15*time.Second)
	ev := eventStatus(t, api.base, key, acc.EventID)
	for _, d := range ev.Deliveries {
		if d.Status != "delivered" || d.Attempts != 2 || len(d.AttemptLog) != 2 {
			t.Errorf("after a replay, delivery %+v, want delivered with 2 attempts", d)
		}
	}

	// Replay to one endpoint only.
	r = call(t, "POST", api.base+"/public/webhooks/events/"+acc.EventID+"/replay", key, map[string]any{"webhook_ids": []string{two.WebhookID}})
	wantStatus(t, r, 202)
	var rep2 acceptedData
	r.decode(t, &rep2, nil)
	if rep2.WorkflowID == rep.WorkflowID || rep2.EndpointCount != 1 {
		t.Fatalf("second replay = %+v, want a new workflow to 1 endpoint", rep2)
	}
	rc.waitCount(t, "/two", 3, 20*time.Second)
	waitWorkflowClosed(t, tc, rep2.WorkflowID, 15*time.Second)
	if n := rc.count("/one"); n != 2 {
		t.Errorf("/one received %d requests, want still 2 (not named in the replay)", n)
	}
	if got := rc.requests("/two"); got[2].header.Get("webhook-id") != acc.EventID {
		t.Errorf("replayed webhook-id %q, want %s", got[2].header.Get("webhook-id"), acc.EventID)
	}
	ev = eventStatus(t, api.base, key, acc.EventID)
	if d := ev.delivery(t, two.WebhookID); d.Attempts != 3 {
		t.Errorf("/two delivery has %d attempts, want 3", d.Attempts)
	}
	if d := ev.delivery(t, one.WebhookID); d.Attempts != 2 {
		t.Errorf("/one delivery has %d attempts, want 2", d.Attempts)
	}

	// The original and both replays are findable by the event, as an operator would search.
	if wfs := eventWorkflows(t, tc, "org-replay", acc.EventID, 3); len(wfs) != 3 {
		t.Errorf("%d workflows found for the event, want the original and 2 replays", len(wfs))
	}

	// Bad replays.
	r = call(t, "POST", api.base+"/public/webhooks/events/"+acc.EventID+"/replay", key, map[string]any{"webhook_ids": []string{"wh_01aaaaaaaaaaaaaaaaaaaaaaaa"}})
	wantError(t, "replay to an unknown webhook", r, 400, "webhook_ids")
	bw := register(t, api.base, keyB, rc.url("/b"))
	r = call(t, "POST", api.base+"/public/webhooks/events/"+acc.EventID+"/replay", key, map[string]any{"webhook_ids": []string{bw.WebhookID}})
	wantError(t, "replay to another organisation's webhook", r, 400, "webhook_ids")
	r = call(t, "POST", api.base+"/public/webhooks/events/"+acc.EventID+"/replay", keyB, nil)
	wantError(t, "replay of another organisation's event", r, 404, "")
	r = call(t, "POST", api.base+"/public/webhooks/events/evt_01aaaaaaaaaaaaaaaaaaaaaaaa/replay", key, nil)
	wantError(t, "replay of an unknown event", r, 404, "")
	if n := rc.count("/b"); n != 0 {
		t.Errorf("org-replay-b's endpoint received %d requests, want none", n)
	}
}

// An operator who resets the event's workflow with the Temporal CLI gets every delivery sent
// again, with the same webhook-id, and the attempts add up.
func TestWebhookReplayByWorkflowReset(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "")
	tc := temporalClient(t)
	key := e.bootstrapKey("org-reset", "u")
	one := register(t, api.base, key, rc.url("/one"))
	two := register(t, api.base, key, rc.url("/two"))

	data := `{"order":"o-8"}`
	acc := notify(t, api.base, key, "org-reset", data)
	waitDeliveries(t, api.base, key, acc.EventID, 2, "delivered", 20*time.Second)
	waitWorkflowClosed(t, tc, acc.WorkflowID, 15*time.Second)

	bin, err := testenv.TemporalBin()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tmp := testenv.Temporal(t)
	cmd := exec.CommandContext(ctx, bin, "workflow", "reset", "--address", tmp.Address, "--namespace", tmp.Namespace,
		"--workflow-id", acc.WorkflowID, "--type", "FirstWorkflowTask", "--reason", "test")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("temporal workflow reset: %v\n%s", err, out)
	}
	t.Logf("temporal workflow reset: %s", strings.TrimSpace(string(out)))

	for path, w := range map[string]webhookData{"/one": one, "/two": two} {
		got := rc.waitCount(t, path, 2, 20*time.Second)
		for i, req := range got {
			if req.header.Get("webhook-id") != acc.EventID || string(req.body) != data {
				t.Errorf("%s request %d: webhook-id %q, want %s", path, i+1, req.header.Get("webhook-id"), acc.EventID)
			}
			if err := verifyWith(w.Secret, req); err != nil {
				t.Errorf("%s request %d: %v", path, i+1, err)
			}
		}
		d := waitDelivery(t, api.base, key, acc.EventID, w.WebhookID, "delivered", 2, 20*time.Second)
		if d.Attempts != 2 || len(d.AttemptLog) != 2 {
			t.Errorf("%s delivery after the reset: %+v, want 2 attempts", path, d)
		}
	}
	waitWorkflowClosed(t, tc, acc.WorkflowID, 15*time.Second)
	for _, path := range []string{"/one", "/two"} {
		if n := rc.count(path); n != 2 {
			t.Errorf("%s received %d requests, want exactly 2 (the delivery and the reset's)", path, n)
		}
	}
	// The event still names its workflow; the reset made a new run of it.
	if ev := eventStatus(t, api.base, key, acc.EventID); ev.WorkflowID != acc.WorkflowID {
		t.Errorf("event workflow_id %s, want %s", ev.WorkflowID, acc.WorkflowID)
	}
	d, err := tc.DescribeWorkflowExecution(ctx, acc.WorkflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	if run := d.GetWorkflowExecutionInfo().GetExecution().GetRunId(); run == acc.RunID {
		t.Errorf("the latest run is still %s after the reset", run)
	}
}
