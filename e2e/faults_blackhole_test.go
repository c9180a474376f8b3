package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pcx/publicservice/harness"
)

// Promise: a batch never re-sends what it sent. A first-attempt batch of 100 endpoints whose
// POSTs are all answered 200, but whose record write then gets no answer at all (DynamoDB
// blackholed through a proxy in front of the worker's store: calls held unanswered, never
// refused), returns its outcomes within its time budget (each store call bounded by
// store.CallTimeout, the write ending before the attempt's deadline), and the workflow writes the
// records once the store answers again. Every endpoint sees exactly one request, and the status
// API counts one attempt for it.
//
// Before the budget, the record write hung until the local activity's 90s StartToClose: the
// local retry sent all 100 again (and a batch failing twice went to the durable path, which sent
// a third time), while the status API showed attempts: 1.
func TestFaultBlackholedStoreAfterABatchSendsNothingTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("holds the store unanswered for 12s (~40s)")
	}
	t.Parallel()
	const endpoints = 100
	rc := newFaultReceiver(t)
	var mu sync.Mutex
	firsts := 0
	allArrived, release := make(chan struct{}), make(chan struct{})
	// Each first request is held until all 100 have arrived and the store is blackholed.
	rc.setHold(func(_, _ string, n int) {
		if n != 1 {
			return
		}
		mu.Lock()
		if firsts++; firsts == endpoints {
			close(allArrived)
		}
		mu.Unlock()
		<-release
	})
	run := startBehindDynamoProxy(t, rc)
	api, proxy := run.api, run.proxy
	key := run.e.bootstrapKey("org-blackhole-batch", "u")
	paths := make([]string, endpoints)
	hooks := make(map[string]string, endpoints) // webhook ID → path
	for i := range paths {
		paths[i] = fmt.Sprintf("/batch-%03d", i)
		hooks[register(t, api.base, key, rc.url(paths[i])).WebhookID] = paths[i]
	}
	acc := notify(t, api.base, key, "org-blackhole-batch", `{"blackhole":"batch"}`)

	// Once the batch's 100 first attempts arrived, every POST is answered 200; recording them gets no answer.
	blackholeWhileRecording(t, proxy, allArrived, release)

	waitDeliveries(t, api.base, key, acc.EventID, endpoints, "delivered", 150*time.Second)
	waitWorkflowClosed(t, temporalClient(t), acc.WorkflowID, 60*time.Second)
	// A second send would come right after the batch's retry or fallback: give it time to show.
	time.Sleep(3 * time.Second)
	ev := eventStatus(t, api.base, key, acc.EventID)
	requests, attempts, twice := 0, 0, 0
	for _, d := range ev.Deliveries {
		saw := rc.count(hooks[d.WebhookID], acc.EventID)
		requests += saw
		attempts += d.Attempts
		if saw != 1 || d.Attempts != saw {
			twice++
			if twice <= 5 {
				t.Errorf("%s: the receiver saw %d request(s), the status API %d attempt(s); want 1 and 1", d.WebhookID, saw, d.Attempts)
			}
		}
	}
	t.Logf("%d endpoints: %d requests seen, %d attempts recorded, %d endpoints off", len(ev.Deliveries), requests, attempts, twice)
	if len(ev.Deliveries) != endpoints || requests != endpoints || attempts != requests {
		t.Errorf("%d deliveries, %d requests seen, %d attempts recorded; want %d of each", len(ev.Deliveries), requests, attempts, endpoints)
	}
	if run.worker.Exited() {
		t.Error("the worker exited")
	}
}

// Promise: the durable path never re-sends what it sent either. A retry (a durable Deliver)
// answered 200, whose record write then gets no answer (DynamoDB blackholed), returns its outcome
// unrecorded before its deadline, and RecordOutcome writes it once the store answers again: the
// receiver sees the 503 and one 200, and the status API two attempts. Before, the write hung to
// the activity's 90s StartToClose (its heartbeats going on), and Temporal's retry sent again.
func TestFaultBlackholedStoreAfterARetrySendsNothingTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("holds the store unanswered for 12s (~40s)")
	}
	t.Parallel()
	rc := newFaultReceiver(t)
	rc.setPlan(func(_, _ string, n int) fault {
		if n == 1 {
			return answer503
		}
		return answerOK
	})
	arrived, release := make(chan struct{}), make(chan struct{})
	rc.setHold(func(_, _ string, n int) {
		if n == 2 {
			close(arrived)
			<-release
		}
	})
	run := startBehindDynamoProxy(t, rc)
	api, proxy := run.api, run.proxy
	key := run.e.bootstrapKey("org-blackhole-retry", "u")
	hook := register(t, api.base, key, rc.url("/retry"))
	acc := notify(t, api.base, key, "org-blackhole-retry", `{"blackhole":"retry"}`)

	// Once the retry arrived, the retry is answered 200; recording it gets no answer.
	blackholeWhileRecording(t, proxy, arrived, release)

	waitDelivery(t, api.base, key, acc.EventID, hook.WebhookID, "delivered", 2, 150*time.Second)
	waitWorkflowClosed(t, temporalClient(t), acc.WorkflowID, 60*time.Second)
	time.Sleep(3 * time.Second)
	dl := eventStatus(t, api.base, key, acc.EventID).delivery(t, hook.WebhookID)
	saw := rc.count("/retry", acc.EventID)
	t.Logf("the receiver saw %d request(s); status %s, attempts %d, codes %v", saw, dl.Status, dl.Attempts, dl.attemptCodes())
	if saw != 2 {
		t.Errorf("the receiver saw %d requests, want 2 (a 503, then one 200)", saw)
	}
	if dl.Status != "delivered" || dl.Attempts != saw {
		t.Errorf("status %s with %d attempts; the receiver saw %d requests", dl.Status, dl.Attempts, saw)
	}
	if run.worker.Exited() {
		t.Error("the worker exited")
	}
}

// blackholeWhileRecording waits for the held requests to have arrived, blackholes the store,
// releases their answers and keeps the store unanswered for 12s once the record write reached
// it: past two store.CallTimeouts, so the attempt has returned its outcomes unrecorded and the
// workflow's record is being retried. Then the store answers again.
func blackholeWhileRecording(t *testing.T, proxy *harness.DynamoProxy, arrived, release chan struct{}) {
	t.Helper()
	select {
	case <-arrived:
	case <-time.After(60 * time.Second):
		t.Fatal("the held requests never arrived")
	}
	proxy.Blackhole(true)
	close(release)
	eventually(t, 30*time.Second, "the record write held unanswered", func() bool { return proxy.Swallowed() > 0 })
	time.Sleep(12 * time.Second)
	t.Logf("after 12s of blackhole: %d calls held unanswered", proxy.Swallowed())
	proxy.Blackhole(false)
}
