package e2e

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/pcx/publicservice/internal/testenv"
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

// A worker killed after a batch's first attempts are recorded, but before its workflow task
// completed, sends none of them again: Temporal has no record of the batch (it is in the task's
// completion), so the next worker runs it again in the same run, and that batch finds the run's
// records and returns their outcomes instead of sending. The first worker reaches Temporal
// through a proxy that is cut (every byte either way dropped) while the batch's 100 requests are
// at the receivers, so the task's completion never gets there; the worker is killed once the
// status API shows all 100 recorded. On the code before, the second worker sent all 100 again.
func TestWebhookWorkerKilledAfterBatchRecordedSendsNothingAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the killed worker's 30s workflow task")
	}
	t.Parallel()
	apiBin, workerBin, dir, px, e := proxiedStack(t)
	rc := newReceiver(t)
	e.allow(rc)
	api := e.startAPIProcess(apiBin, dir)
	const org, n = "org-recorded", 100
	key := e.bootstrapKey(org, "u")
	path := func(i int) string { return fmt.Sprintf("/rec/%03d", i) }
	for i := range n {
		rc.setDelay(path(i), 3*time.Second) // the requests wait at the receivers while the proxy is cut
	}
	storeWebhooks(t, e, org, n, func(i int) string { return rc.url(path(i)) })

	first := e.startWorkerProcess(workerBin, dir, "TEMPORAL_ADDRESS="+px.addr())
	acc := notify(t, api.base, key, org, `{"order":"o-recorded"}`)
	eventually(t, 30*time.Second, "every endpoint's first request at its receiver", func() bool { return rc.total() >= n })
	px.setCut(true)
	waitDeliveries(t, api.base, key, acc.EventID, n, "delivered", 30*time.Second)
	first.Kill()
	killedAt := time.Now()
	tc := temporalClient(t)
	desc, err := tc.DescribeWorkflowExecution(testenv.Context(t, 10*time.Second), acc.WorkflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	if st := desc.WorkflowExecutionInfo.Status; st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("the workflow is %s at the kill, want running: its task completed, the test proves nothing", st)
	}

	e.startWorkerProcess(workerBin, dir)
	waitWorkflowClosed(t, tc, acc.WorkflowID, 2*time.Minute)
	t.Logf("the workflow closed %s after the kill", time.Since(killedAt).Round(time.Millisecond))
	requests := 0
	for i := range n {
		got := len(rc.requests(path(i)))
		requests += got
		if got != 1 {
			t.Errorf("%s received %d requests, want 1: its delivery was recorded before the kill", path(i), got)
		}
	}
	t.Logf("%d requests for %d deliveries recorded before the kill", requests, n)
	for _, d := range eventStatus(t, api.base, key, acc.EventID).Deliveries {
		if d.Status != "delivered" || d.Attempts != 1 {
			t.Errorf("delivery to %s: %s after %d attempts, want delivered after 1", d.EndpointURL, d.Status, d.Attempts)
		}
	}
}
