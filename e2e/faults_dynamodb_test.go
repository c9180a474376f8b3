package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/testenv"
)

// Promise: while DynamoDB is down the API degrades to prompt 503s with Retry-After (never a 500,
// never a hang, never an AWS error or an address in the body), recovers by itself when DynamoDB
// is back, and every event it accepted is delivered, with no duplicates beyond what recorded
// attempts explain.
//
// A dedicated DynamoDB Local keeps its data on disk (-dbPath) on a fixed port. The api and the
// worker run as processes with REQUEST_TIMEOUT=3s. Three clients drive notify, GET /public/me
// and GET /public/webhooks continuously; DynamoDB is SIGKILLed for ~10s and started again on the
// same port and data.
func TestFaultDynamoDBOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("stops DynamoDB Local for 10s and waits for recovery (~1 min)")
	}
	t.Parallel()
	apiBin, workerBin := binaries(t)
	dir := t.TempDir()
	ddb := startDedicatedDynamoDB(t)
	rc := newFaultReceiver(t)
	// The shared Temporal: only DynamoDB fails here.
	e := newEnvOn(t, ddb.Addr(), testenv.Temporal(t).Address)
	e.allowFaults(rc)
	e.fastRetries("1s,1s,1s,1s,1s,1s,1s,1s")
	const requestTimeout = 3 * time.Second
	e.vars["REQUEST_TIMEOUT"] = requestTimeout.String()
	api := e.startAPIProcess(apiBin, dir)
	worker := e.startWorkerProcess(workerBin, dir)
	org := "org-ddb"
	key := e.bootstrapKey(org, "u")
	paths := []string{"/d/0", "/d/1"}
	for _, p := range paths {
		register(t, api.base, key, rc.url(p))
	}

	d := newDriver()
	d.run("notify", 100*time.Millisecond, notifyReq(api.base, key, org, "ddb"))
	d.run("me", 100*time.Millisecond, getReq(api.base+"/public/me", key))
	d.run("webhooks", 100*time.Millisecond, getReq(api.base+"/public/webhooks", key))
	stopped := false
	defer func() {
		if !stopped {
			d.stop()
		}
	}()
	time.Sleep(2 * time.Second) // steady traffic before the fault

	d.setPhase("down")
	ddb.Stop(true)
	killedAt := time.Now()
	time.Sleep(10 * time.Second) // the outage the clients live through

	d.setPhase("restarting")
	if err := ddb.Start(); err != nil {
		t.Fatalf("restarting DynamoDB Local on the same port and data: %v", err)
	}
	upAt := time.Now()
	d.setPhase("after")
	recovery := map[string]time.Duration{}
	eventually(t, 30*time.Second, "every route answering 2xx again after the restart", func() bool {
		for _, route := range []string{"notify", "me", "webhooks"} {
			if _, ok := recovery[route]; ok {
				continue
			}
			for _, p := range d.since(route, upAt) {
				if p.status == http.StatusOK || p.status == http.StatusAccepted {
					recovery[route] = p.at.Add(p.dur).Sub(upAt)
					break
				}
			}
		}
		return len(recovery) == 3
	})
	time.Sleep(2 * time.Second) // steady traffic after recovery
	d.stop()
	stopped = true
	probes := d.all()
	t.Logf("DynamoDB down for %s (SIGKILL to answering again); replies per route and phase:%s",
		upAt.Sub(killedAt).Round(time.Millisecond), summarize(probes))

	// Every reply, in every phase: 2xx or a clean, prompt 503.
	limit := requestTimeout + time.Second
	var slowest time.Duration
	unavailable := 0
	for _, p := range probes {
		ok := http.StatusOK
		if p.route == "notify" {
			ok = http.StatusAccepted
		}
		for _, problem := range checkDegraded(p, ok, limit) {
			t.Error(problem)
		}
		if p.phase == "down" || p.phase == "restarting" {
			slowest = max(slowest, p.dur)
		}
		if p.status == http.StatusServiceUnavailable {
			unavailable++
		}
	}
	if unavailable == 0 {
		t.Errorf("no 503 at all while DynamoDB was down: the fault did not bite")
	}
	for route, took := range recovery {
		t.Logf("%s: first 2xx %s after DynamoDB answered again", route, took.Round(time.Millisecond))
		if took > 15*time.Second {
			t.Errorf("%s recovered only %s after DynamoDB was back (want within 15s)", route, took.Round(time.Millisecond))
		}
	}
	t.Logf("%d replies were 503 with Retry-After; the slowest reply while DynamoDB was down took %s (bound %s)",
		unavailable, slowest.Round(time.Millisecond), limit)

	// Every accepted event reaches both endpoints, without restarting the api or the worker.
	accepted := acceptedEvents(probes)
	took := eventually(t, 90*time.Second, fmt.Sprintf("%d accepted events delivered to %d endpoints", len(accepted), len(paths)), func() bool { return rc.reachedAll(paths, accepted) })
	if worker.Exited() || api.p.Exited() {
		t.Errorf("a service exited during the outage (api exited: %v, worker exited: %v)", api.p.Exited(), worker.Exited())
	}
	// Deliveries of events whose notify did not get a 202 are counted (a 503 after the workflow
	// started would cause them; the client would retry and the receiver see the event twice).
	seen := rc.snapshot()
	extra, dups, unexplained := 0, 0, 0
	for _, p := range paths {
		for id := range seen[p] {
			if !slices.Contains(accepted, id) {
				extra++
			}
		}
	}
	for _, id := range accepted {
		ev := waitDeliveries(t, api.base, key, id, len(paths), "delivered", 30*time.Second)
		for _, dl := range ev.Deliveries {
			path := ""
			for _, p := range paths {
				if dl.EndpointURL == rc.url(p) {
					path = p
				}
			}
			n := seen[path][id]
			dups += n - 1
			// The receiver answers 200 to everything: a request beyond the recorded attempts is a
			// duplicate nothing explains.
			if n > max(dl.Attempts, 1) {
				unexplained++
				t.Errorf("event %s on %s: received %d times, %d attempt(s) recorded", id, path, n, dl.Attempts)
			}
		}
	}
	t.Logf("all %d accepted events delivered to %d endpoints %s after recovery; %d duplicate request(s), %d unexplained by recorded attempts; %d deliveries of events whose notify got no 202",
		len(accepted), len(paths), took.Round(time.Millisecond), dups, unexplained, extra)
}
