package e2e

import (
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

// TestFaultNoisyNeighbourSlowsNobody: organisation A has 300 endpoints that accept the request
// and never answer, organisation B 5 healthy ones, one worker with WORKER_CONCURRENCY=20. Both
// notify for 40 s. Every B delivery arrives promptly (A can hold at most its share of the send
// slots, so B finds slots free), and no delivery anywhere ends failed with fewer requests than
// its schedule allows (a wait for a slot is not a send).
func TestFaultNoisyNeighbourSlowsNobody(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	e := newEnv(t)
	e.allow(rc)
	e.fastRetries("1s,1s") // 3 sends per delivery
	e.vars["WEBHOOK_TIMEOUT"] = "2s"
	e.vars["WORKER_CONCURRENCY"] = "20"
	// The breaker would hold the noisy organisation's deliveries back behind one probe per
	// endpoint (less load still, but none of them would end within the test): this test is of
	// the send slots alone; webhooks_breaker_test.go tests the breaker.
	e.vars["WEBHOOK_BREAKER_FAILURES"] = "1000"
	api := e.startAPI()
	e.startWorker()
	t.Cleanup(rc.srv.CloseClientConnections) // before the server's Close: hanging handlers end

	keyA, keyB := e.bootstrapKey("org-noisy", "u"), e.bootstrapKey("org-quiet", "u")
	var hangs []string
	for i := range 300 {
		path := fmt.Sprintf("/hang/%d", i)
		rc.setDelay(path, -1)
		register(t, api.base, keyA, rc.url(path))
		hangs = append(hangs, path)
	}
	for i := range 5 {
		register(t, api.base, keyB, rc.localhostURL(fmt.Sprintf("/quiet/%d", i)))
	}

	var mu sync.Mutex
	sentAt := map[string]time.Time{} // B's events: when notify answered 202
	var noisy []string
	deadline := time.Now().Add(40 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		if i%10 == 0 { // A: one event to its 300 endpoints every 10 s
			noisy = append(noisy, notify(t, api.base, keyA, "org-noisy", fmt.Sprintf(`{"n":%d}`, i)).EventID)
		}
		acc := notify(t, api.base, keyB, "org-quiet", fmt.Sprintf(`{"n":%d}`, i))
		mu.Lock()
		sentAt[acc.EventID] = time.Now()
		mu.Unlock()
		time.Sleep(time.Second)
	}

	// Every B delivery arrives, each within 15 s of its 202 (a first attempt goes out at once
	// when a slot is free; without the shares B waited behind A's hanging sends, then 30 s for
	// a slot, then went on unsent).
	eventually(t, 90*time.Second, "every quiet delivery received", func() bool {
		n := 0
		for i := range 5 {
			n += rc.count(fmt.Sprintf("/quiet/%d", i))
		}
		return n >= 5*len(sentAt)
	})
	var lags []time.Duration
	for i := range 5 {
		for _, req := range rc.requests(fmt.Sprintf("/quiet/%d", i)) {
			at, ok := sentAt[req.header.Get("webhook-id")]
			if !ok {
				t.Fatalf("quiet endpoint %d received an unknown event %s", i, req.header.Get("webhook-id"))
			}
			lags = append(lags, req.at.Sub(at))
		}
	}
	sort.Slice(lags, func(i, j int) bool { return lags[i] < lags[j] })
	t.Logf("quiet deliveries: %d, 202 → receipt p50 %v, p99 %v, max %v", len(lags), lags[len(lags)/2], lags[len(lags)*99/100], lags[len(lags)-1])
	if lags[len(lags)-1] > 15*time.Second {
		t.Fatalf("a quiet delivery took %v after its 202", lags[len(lags)-1])
	}
	for id := range sentAt {
		waitDeliveries(t, api.base, keyB, id, 5, "delivered", 30*time.Second)
	}

	// A's deliveries that ended failed made every send of their schedule: 3 attempts recorded,
	// as many requests at the hanging endpoint as reached it.
	requests := map[string]int{} // endpoint path + event ID → requests seen
	count := func() {
		clear(requests)
		for _, path := range hangs {
			for _, req := range rc.requests(path) {
				requests[path+" "+req.header.Get("webhook-id")]++
			}
		}
	}
	failed := 0
	eventually(t, 180*time.Second, "some of the noisy organisation's deliveries ended failed", func() bool {
		failed = 0
		count()
		for _, id := range noisy {
			for _, d := range eventStatus(t, api.base, keyA, id).Deliveries {
				if d.Status != "failed" {
					continue
				}
				failed++
				path := d.EndpointURL[len(rc.srv.URL):]
				// Every send of the schedule was made and recorded. The receiver may have seen fewer:
				// on a loaded machine an attempt can time out (2s) before its request reaches the
				// handler; it is an attempt all the same. A wait for a slot is not one.
				if seen := requests[path+" "+id]; d.Attempts != 3 || seen < 1 || seen > d.Attempts {
					t.Fatalf("delivery of %s to %s failed with %d attempts recorded and %d requests seen; want 3 recorded, 1 to 3 seen", id, path, d.Attempts, seen)
				}
			}
		}
		return failed >= 10
	})
	t.Logf("noisy organisation: %d events to 300 hanging endpoints; %d of the first 100 deliveries per event ended failed, each after 3 attempts", len(noisy), failed)
}
