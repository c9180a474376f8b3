package e2e

import (
	"testing"
	"time"
)

// Promise: delivery is at-least-once because of crashes, not because the service is busy. A
// worker that is alive and working on a delivery must not have that delivery sent a second time
// behind its back.
//
// The soak saw about one delivery in ten sent twice (both answered 200) after DynamoDB was
// restarted and ran slow, with no worker crash. Reproduced here: the first attempt gets a 503;
// the retry, a durable Deliver activity, then finds its first store read (GetItem of the
// endpoint) answered slowly — 13s, through a proxy in front of DynamoDB — and sends once it has
// the answer. The activity heartbeats only around the POST itself, so Temporal times the attempt
// out after its 10s HeartbeatTimeout and runs another attempt, which sends again: the receiver
// gets the event twice, though nothing crashed and the first 200 was answered.
//
// The receiver must see exactly two requests (the 503 and one 200), and the status API two
// attempts.
func TestFaultSlowStoreDoesNotDuplicateRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a 13s slow store read (~40s)")
	}
	t.Parallel()
	apiBin, workerBin := binaries(t)
	dir := t.TempDir()
	rc := newFaultReceiver(t)
	e := newEnv(t)
	proxy := newDynamoProxy(t, e.vars["DYNAMODB_ENDPOINT"])
	rc.setPlan(func(_, _ string, n int) fault {
		if n == 1 {
			return answer503
		}
		return answerOK
	})
	// Armed while the first attempt is being answered: the retry's endpoint read is the next
	// GetItem through the proxy (the event itself is cached in the worker since the first attempt).
	rc.setHold(func(_, _ string, n int) {
		if n == 1 {
			proxy.DelayNext("GetItem", 13*time.Second)
		}
	})
	e.allowFaults(rc)
	e.fastRetries("1s,1s,1s")
	api := e.startAPIProcess(apiBin, dir)
	// Only the worker goes through the proxy.
	e.startWorkerProcess(workerBin, dir, "DYNAMODB_ENDPOINT="+proxy.URL())
	key := e.bootstrapKey("org-slow-store", "u")
	hook := register(t, api.base, key, rc.url("/slow-store"))
	acc := notify(t, api.base, key, "org-slow-store", `{"slow":"store"}`)

	eventually(t, 30*time.Second, "the retry's slow store read", func() bool { return proxy.Delayed("GetItem") > 0 })
	dl := waitDelivery(t, api.base, key, acc.EventID, hook.WebhookID, "delivered", 1, 60*time.Second)
	waitWorkflowClosed(t, temporalClient(t), acc.WorkflowID, 60*time.Second)
	// A second send would come within a few seconds of the first 200; give it the time to show.
	settle := time.Now().Add(8 * time.Second)
	for rc.count("/slow-store", acc.EventID) < 3 && time.Now().Before(settle) {
		time.Sleep(100 * time.Millisecond)
	}
	dl = eventStatus(t, api.base, key, acc.EventID).delivery(t, hook.WebhookID)
	reqs := rc.requests("/slow-store")
	var at []string
	for _, r := range reqs {
		at = append(at, r.at.Format("15:04:05.000"))
	}
	saw := rc.count("/slow-store", acc.EventID)
	t.Logf("the receiver saw %d request(s) at %v; status %s, attempts %d, codes %v", saw, at, dl.Status, dl.Attempts, dl.attemptCodes())
	if saw != 2 {
		t.Errorf("the receiver saw %d requests, want 2 (a 503, then one 200): a retry whose store read was slow (13s) was timed out by its 10s HeartbeatTimeout and sent again while the first try was still running", saw)
	}
	if dl.Status != "delivered" || dl.Attempts != saw {
		t.Errorf("status %s with %d attempts; the receiver saw %d requests", dl.Status, dl.Attempts, saw)
	}
}
