package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/pcx/publicservice/internal/testenv"
)

// Promise: while Temporal is down notify answers a prompt 503 with Retry-After (never a 500);
// when Temporal comes back with its database, notify is accepted again without restarting the
// api or the worker, and the workflows that were running when it went down finish: every accepted
// event is delivered.
//
// A dedicated Temporal dev server keeps its state in a file (--db-filename) on a fixed port. The
// receivers are slow (2s) and failing (503 to the first three requests of every event) so that
// workflows are mid-flight, with deliveries in progress and retries waiting on durable timers,
// when Temporal stops: first with SIGTERM, then, in a second cycle, with SIGKILL.
func TestFaultTemporalOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("stops the Temporal server twice and waits for recovery (~1 min)")
	}
	t.Parallel()
	apiBin, workerBin := binaries(t)
	dir := t.TempDir()
	tmp := startDedicatedTemporal(t)
	rc := newFaultReceiver(t)
	rc.slowBy = 2 * time.Second
	rc.setPlan(func(path, _ string, n int) fault {
		if path == "/t/slow" {
			return answerSlowOK
		}
		if n <= 3 {
			return answer503
		}
		return answerOK
	})
	// The shared DynamoDB: only Temporal fails here.
	e := newEnvOn(t, testenv.DynamoDB(t).Endpoint, tmp.Addr())
	e.allowFaults(rc)
	e.fastRetries("1s,1s,1s,1s,1s,1s,1s,1s")
	const requestTimeout = 3 * time.Second
	e.vars["REQUEST_TIMEOUT"] = requestTimeout.String()
	api := e.startAPIProcess(apiBin, dir)
	worker := e.startWorkerProcess(workerBin, dir)
	org := "org-temporal"
	key := e.bootstrapKey(org, "u")
	paths := []string{"/t/slow", "/t/flaky"}
	for _, p := range paths {
		register(t, api.base, key, rc.url(p))
	}

	var accepted []string
	var workflowIDs []string
	send := func(n int, tag string) {
		for i := range n {
			acc := notify(t, api.base, key, org, fmt.Sprintf(`{"tag":%q,"i":%d}`, tag, i))
			accepted = append(accepted, acc.EventID)
			workflowIDs = append(workflowIDs, acc.WorkflowID)
		}
	}
	delivered := func() int {
		seen, n := rc.snapshot(), 0
		for _, id := range accepted {
			if seen["/t/slow"][id] > 0 && seen["/t/flaky"][id] >= 4 {
				n++
			}
		}
		return n
	}

	d := newDriver()
	limit := requestTimeout + time.Second
	for cycle, kill := range []bool{false, true} {
		how := map[bool]string{false: "SIGTERM", true: "SIGKILL"}[kill]
		send(4, how)
		eventually(t, 30*time.Second, "workflows in flight", func() bool {
			_, total := rc.pairs()
			return total > 0 && rc.inFlight() > 0
		})
		before := delivered()
		tmp.Stop(kill)
		downAt := time.Now()
		d.setPhase("down-" + how)
		// While it is down: notify is a prompt 503 with Retry-After.
		for time.Since(downAt) < 6*time.Second {
			d.do("notify", notifyReq(api.base, key, org, "down"), 0)
			time.Sleep(200 * time.Millisecond)
		}
		if err := tmp.Start(); err != nil {
			t.Fatalf("restarting Temporal on the same port and database: %v", err)
		}
		upAt := time.Now()
		d.setPhase("up-" + how)
		var recovered time.Duration
		eventually(t, 45*time.Second, "notify accepted again after Temporal came back", func() bool {
			p := d.do("notify", notifyReq(api.base, key, org, "up"), 0)
			if p.status == http.StatusAccepted {
				accepted = append(accepted, p.eventID)
				workflowIDs = append(workflowIDs, "webhook-event-"+p.eventID)
				recovered = p.at.Add(p.dur).Sub(upAt)
				return true
			}
			time.Sleep(200 * time.Millisecond)
			return false
		})
		t.Logf("cycle %d (%s): %d of %d accepted events fully delivered at the stop; Temporal down %s; notify accepted again %s after it answered",
			cycle+1, how, before, len(accepted)-1, upAt.Sub(downAt).Round(time.Millisecond), recovered.Round(time.Millisecond))
	}

	probes := d.all()
	var slowest time.Duration
	unavailable := 0
	for _, p := range probes {
		for _, problem := range checkDegraded(p, http.StatusAccepted, limit) {
			t.Error(problem)
		}
		if strings.HasPrefix(p.phase, "down") {
			slowest = max(slowest, p.dur)
			if p.status != http.StatusServiceUnavailable {
				t.Errorf("notify while Temporal was down: %d %s, want 503", p.status, p.body)
			}
		}
		if p.status == http.StatusServiceUnavailable {
			unavailable++
		}
	}
	t.Logf("notify replies:%s", summarize(probes))
	t.Logf("%d notifies answered 503 with Retry-After while Temporal was down; the slowest took %s (bound %s)", unavailable, slowest.Round(time.Millisecond), limit)

	// Every accepted event, including those whose workflows were mid-flight at each stop, is
	// delivered (the flaky endpoint after its three 503s), without restarting the api or worker.
	took := eventually(t, 75*time.Second, fmt.Sprintf("%d accepted events delivered to both endpoints", len(accepted)), func() bool {
		return delivered() == len(accepted)
	})
	c, err := client.Dial(client.Options{HostPort: tmp.Addr(), Namespace: "default",
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, id := range workflowIDs {
		eventually(t, 30*time.Second, "workflow "+id+" completed", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			desc, err := c.DescribeWorkflowExecution(ctx, id, "")
			if err != nil {
				return false
			}
			st := desc.GetWorkflowExecutionInfo().GetStatus()
			if st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
				t.Fatalf("workflow %s ended %s", id, st)
			}
			return st == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED
		})
	}
	for _, id := range accepted {
		waitDeliveries(t, api.base, key, id, len(paths), "delivered", 30*time.Second)
	}
	if worker.Exited() || api.p.Exited() {
		t.Errorf("a service exited (api: %v, worker: %v): they must ride out the outage", api.p.Exited(), worker.Exited())
	}
	seen := rc.snapshot()
	dups := 0
	for _, id := range accepted {
		dups += max(seen["/t/slow"][id]-1, 0) + max(seen["/t/flaky"][id]-4, 0)
	}
	t.Logf("all %d accepted events delivered and their workflows completed %s after the last recovery; %d duplicate request(s) beyond the script",
		len(accepted), took.Round(time.Millisecond), dups)
}
