package e2e

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

// A worker killed (SIGKILL) in the middle of a fan-out loses nothing: a new worker process
// finishes every delivery. Duplicates are allowed (at-least-once) and counted.
func TestWebhookWorkerKilledMidFanOut(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := buildWorker(t, dir)
	rc := newReceiver(t)
	e := newEnv(t)
	e.allow(rc)
	e.fastRetries("1s,1s,1s")
	api := e.startAPI()
	key := e.bootstrapKey("org-crash", "u")
	const n = 30
	hooks := map[string]webhookData{}
	for i := range n {
		path := fmt.Sprintf("/crash/%02d", i)
		rc.setDelay(path, 2*time.Second)
		hooks[path] = register(t, api.base, key, rc.url(path))
	}

	// Five deliveries at a time, so the fan-out takes a dozen seconds and the kill lands in
	// the middle of it.
	first := e.startWorkerProcess(bin, dir, "WORKER_CONCURRENCY=5")
	acc := notify(t, api.base, key, "org-crash", `{"order":"o-crash"}`)
	if acc.EndpointCount != n {
		t.Fatalf("endpoint_count %d, want %d", acc.EndpointCount, n)
	}
	eventually(t, 30*time.Second, "some deliveries arrived", func() bool { return rc.total() >= 7 })
	first.Kill()
	killedAt := time.Now()
	before := rc.counts()
	t.Logf("SIGKILLed the worker after %d of %d endpoints were reached", len(before), n)
	if len(before) >= n {
		t.Fatalf("every endpoint was reached before the kill; the test proves nothing")
	}

	e.startWorkerProcess(bin, dir, "WORKER_CONCURRENCY=5")
	eventually(t, 60*time.Second, "every endpoint reached after the restart", func() bool { return len(rc.counts()) == n })
	ev := waitDeliveries(t, api.base, key, acc.EventID, n, "delivered", 30*time.Second)
	t.Logf("all %d deliveries recorded delivered %s after the kill", n, time.Since(killedAt).Round(time.Millisecond))
	waitWorkflowClosed(t, temporalClient(t), acc.WorkflowID, 30*time.Second)

	dups := 0
	for _, path := range slices.Sorted(maps.Keys(hooks)) {
		got := rc.requests(path)
		if len(got) == 0 {
			t.Errorf("%s was never delivered to", path)
			continue
		}
		if len(got) > 1 {
			dups += len(got) - 1
			t.Logf("%s received %d requests (duplicate after the crash)", path, len(got))
		}
		for _, req := range got {
			if req.header.Get("webhook-id") != acc.EventID {
				t.Errorf("%s: webhook-id %q, want %s", path, req.header.Get("webhook-id"), acc.EventID)
			}
			if err := verifyWith(hooks[path].Secret, req); err != nil {
				t.Errorf("%s: %v", path, err)
			}
		}
	}
	t.Logf("%d duplicate deliveries (at-least-once)", dups)
	for _, d := range ev.Deliveries {
		if d.Attempts < 1 || deref(d.LastStatusCode) != 200 {
			t.Errorf("delivery %+v, want delivered with a 200", d)
		}
	}
}
