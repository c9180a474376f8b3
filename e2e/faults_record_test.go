package e2e

import (
	"testing"
	"time"
)

// Promise: the event status API tells the truth about a delivery whatever fails: a delivered
// event reads `delivered`, and `attempts` counts the requests the receiver saw.
//
// The record of a first attempt can be written late: when DeliverBatch cannot record its
// outcomes (the store fails), the workflow writes them afterwards with RecordOutcomes, retried
// until the store answers. Here the first attempt gets a 503 and the store then refuses the
// writes of the first-attempt record (its conditional PutItem, through a proxy in front of
// DynamoDB: a partial outage timed exactly) but not the reads and writes of a retry (GetItem,
// UpdateItem). The store stays that way until the record has been refused and the retry has had
// time to run (it is due after ~1s); then it takes writes again.
//
// Whether the retry waits for the late record or not, the delivery must end `delivered`, with a
// last status code of 200 and as many attempts as the receiver saw requests (2). Found failing
// when retries ran before the late record: the record of the 503 then overwrote the retry's
// delivered outcome and the delivery read `pending` forever.
func TestFaultFirstAttemptRecordedAfterRetry(t *testing.T) {
	t.Parallel()
	rc := newFaultReceiver(t)
	arrived := make(chan struct{})
	release := make(chan struct{})
	rc.setPlan(func(_, _ string, n int) fault {
		if n == 1 {
			return answer503
		}
		return answerOK
	})
	rc.setHold(func(_, _ string, n int) {
		if n == 1 {
			close(arrived)
			<-release
		}
	})
	run := startBehindDynamoProxy(t, rc)
	api, proxy, worker := run.api, run.proxy, run.worker
	key := run.e.bootstrapKey("org-late-record", "u")
	hook := register(t, api.base, key, rc.url("/late"))
	acc := notify(t, api.base, key, "org-late-record", `{"late":"record"}`)

	select {
	case <-arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("the first attempt never arrived")
	}
	proxy.Block(true, "PutItem")
	close(release) // the first attempt is answered 503; recording it fails
	eventually(t, 30*time.Second, "the first attempt's record refused", func() bool { return proxy.Refused("PutItem") > 0 })
	// The retry is due ~1s after the 503: give it up to 5s to run while the record is refused.
	retried := time.Now().Add(5 * time.Second)
	for rc.count("/late", acc.EventID) < 2 && time.Now().Before(retried) {
		time.Sleep(50 * time.Millisecond)
	}
	d := eventStatus(t, api.base, key, acc.EventID)
	t.Logf("while the first attempt's record was refused: the receiver saw %d request(s); the status API lists %d delivery record(s) %+v",
		rc.count("/late", acc.EventID), len(d.Deliveries), d.Deliveries)
	proxy.Block(false, "PutItem")
	waitWorkflowClosed(t, temporalClient(t), acc.WorkflowID, 60*time.Second)

	dl := eventStatus(t, api.base, key, acc.EventID).delivery(t, hook.WebhookID)
	saw := rc.count("/late", acc.EventID)
	t.Logf("after the workflow closed: status %s, attempts %d, last code %v, delivered_at %v, log codes %v; the receiver saw %d request(s)",
		dl.Status, dl.Attempts, deref(dl.LastStatusCode), deref(dl.DeliveredAt), dl.attemptCodes(), saw)
	if saw != 2 {
		t.Errorf("the receiver saw %d requests, want 2 (a 503, then a 200)", saw)
	}
	if dl.Status != "delivered" || deref(dl.LastStatusCode) != 200 || dl.DeliveredAt == nil {
		t.Errorf("the receiver answered 200 to the retry, but the status API says %s (last code %v, delivered_at %v): the late record of the first attempt (503) overwrote the newer outcome",
			dl.Status, deref(dl.LastStatusCode), deref(dl.DeliveredAt))
	}
	if dl.Attempts != saw {
		t.Errorf("attempts %d, the receiver saw %d requests", dl.Attempts, saw)
	}
	if worker.Exited() {
		t.Error("the worker exited")
	}
}
