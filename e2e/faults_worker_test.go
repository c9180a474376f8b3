package e2e

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

// Promise: no accepted event is lost and none is delivered to the wrong endpoint, even when the
// worker is SIGKILLed in the middle of fan-outs, again and again.
//
// Two organisations, five endpoints each, every receiver a second slow; the worker delivers four
// at a time. Three times: a wave of events is accepted, the receivers start seeing it, and the
// worker process is SIGKILLed with requests in flight and is started again. A last wave goes to
// the last worker. Every endpoint must then have received every event of its own organisation,
// and nothing else, correctly signed with its own secret; every delivery is recorded delivered.
// Duplicates (at-least-once) are counted.
func TestFaultWorkerKilledRepeatedly(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts the worker process three times (~1 min)")
	}
	t.Parallel()
	apiBin, workerBin := binaries(t)
	dir := t.TempDir()
	rc := newFaultReceiver(t)
	rc.slowBy = time.Second
	rc.setPlan(func(string, string, int) fault { return answerSlowOK })
	e := newEnv(t)
	e.allowFaults(rc)
	e.fastRetries("1s,1s,1s,1s,1s")
	api := e.startAPIProcess(apiBin, dir)

	orgs := []string{"org-kill-a", "org-kill-b"}
	const perOrg = 5
	keys := map[string]string{}
	secrets := map[string]string{} // path -> signing secret
	pathOrg := map[string]string{}
	for _, org := range orgs {
		keys[org] = e.bootstrapKey(org, "u")
		for i := range perOrg {
			path := fmt.Sprintf("/%s/%d", org, i)
			secrets[path] = register(t, api.base, keys[org], rc.url(path)).Secret
			pathOrg[path] = org
		}
	}
	sent := map[string][]string{} // org -> its accepted events
	events := 0
	wave := func(w int) {
		for _, org := range orgs {
			for j := range 2 {
				acc := notify(t, api.base, keys[org], org, fmt.Sprintf(`{"wave":%d,"j":%d,"org":%q}`, w, j, org))
				if acc.EndpointCount != perOrg {
					t.Fatalf("endpoint_count %d, want %d", acc.EndpointCount, perOrg)
				}
				sent[org] = append(sent[org], acc.EventID)
				events++
			}
		}
	}

	worker := e.startWorkerProcess(workerBin, dir, "WORKER_CONCURRENCY=4")
	start := time.Now()
	const kills = 3
	cut := 0
	for k := 1; k <= kills; k++ {
		_, before := rc.pairs()
		wave(k)
		eventually(t, 30*time.Second, fmt.Sprintf("wave %d reaching the receivers", k), func() bool {
			_, total := rc.pairs()
			return total >= before+4 && rc.inFlight() > 0
		})
		pairs, total := rc.pairs()
		inFlight := rc.inFlight()
		worker.Kill()
		cut += inFlight
		t.Logf("kill %d at %s: SIGKILLed the worker with %d request(s) in flight; %d of %d deliveries reached so far (%d requests)",
			k, time.Since(start).Round(time.Millisecond), inFlight, pairs, events*perOrg, total)
		if pairs >= events*perOrg {
			t.Fatalf("kill %d: every delivery was done before the kill; the test proves nothing", k)
		}
		worker = e.startWorkerProcess(workerBin, dir, "WORKER_CONCURRENCY=4")
	}
	wave(kills + 1)
	want := events * perOrg
	took := eventually(t, 75*time.Second, fmt.Sprintf("all %d deliveries reached their endpoints", want), func() bool {
		pairs, _ := rc.pairs()
		return pairs >= want
	})
	t.Logf("all %d deliveries (%d events × %d endpoints) reached %s after the last restart", want, events, perOrg, took.Round(time.Millisecond))

	// Each endpoint got every event of its organisation and nothing else, signed with its secret.
	seen := rc.snapshot()
	dups := 0
	for _, path := range slices.Sorted(maps.Keys(secrets)) {
		org := pathOrg[path]
		for id, n := range seen[path] {
			if !slices.Contains(sent[org], id) {
				t.Errorf("%s (org %s) received webhook-id %s, which is not an event of its organisation", path, org, id)
			}
			dups += n - 1
		}
		for _, id := range sent[org] {
			if seen[path][id] == 0 {
				t.Errorf("%s (org %s) never received event %s", path, org, id)
			}
		}
		for _, req := range rc.requests(path) {
			if err := verifyWith(secrets[path], req); err != nil {
				t.Errorf("%s: request for %s does not verify with the endpoint's own secret: %v", path, req.header.Get("webhook-id"), err)
			}
		}
	}
	// The status API agrees: every delivery of every event is delivered.
	for _, org := range orgs {
		for _, id := range sent[org] {
			waitDeliveries(t, api.base, keys[org], id, perOrg, "delivered", 30*time.Second)
		}
	}
	_, total := rc.pairs()
	t.Logf("%d kills cut %d in-flight request(s); %d requests for %d deliveries: %d duplicate(s) (at-least-once)", kills, cut, total, want, dups)
}
