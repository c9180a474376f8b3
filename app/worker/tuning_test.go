package worker

import (
	"testing"
	"time"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/workflows"
)

// stall is how long Temporal or the worker's CPU may stall (latency added to every call) without
// a live attempt being timed out and started again beside itself: the figure of issue 11.
const stall = 3 * time.Second

// laHeartbeatRatio is when the SDK heartbeats a workflow task that waits on local activities, as
// a fraction of its WorkflowTaskTimeout, counted from when the worker began the task
// (go.temporal.io/sdk internal: ratioToForceCompleteWorkflowTaskComplete).
const laHeartbeatRatio = 0.8

// A heartbeat reaches the server at most every max(HeartbeatEvery, throttle) plus a round trip
// (the SDK's throttle window starts when the previous heartbeat's reply is back); the
// HeartbeatTimeout must cover that with the stall added, twice over.
func TestHeartbeatsSurviveAStall(t *testing.T) {
	o := SDKOptions(Options{})
	throttle := o.MaxHeartbeatThrottleInterval
	if throttle <= 0 || throttle > activities.HeartbeatEvery {
		t.Fatalf("MaxHeartbeatThrottleInterval %s, want in (0, %s] (activities.HeartbeatEvery): otherwise the SDK holds heartbeats back for 80%% of the HeartbeatTimeout",
			throttle, activities.HeartbeatEvery)
	}
	gap := max(activities.HeartbeatEvery, throttle)
	if spare := workflows.HeartbeatTimeout - gap; spare < 2*stall {
		t.Errorf("HeartbeatTimeout %s leaves %s beyond a heartbeat every %s, want at least %s (twice a %s stall)",
			workflows.HeartbeatTimeout, spare, gap, 2*stall, stall)
	}
}

// While DeliverBatch runs, the workflow task is heartbeated at 80% of its timeout by the
// worker's clock; the server's clock started a poll reply earlier, and the heartbeat itself takes
// a request. The rest of the timeout must cover both under a stall, twice over.
func TestWorkflowTaskHeartbeatSurvivesAStall(t *testing.T) {
	wft := workflows.WorkflowTaskTimeout
	at := time.Duration(laHeartbeatRatio * float64(wft))
	if spare := wft - at; spare < 2*stall {
		t.Errorf("WorkflowTaskTimeout %s: the local activities' heartbeat at %s leaves %s, want at least %s (twice a %s stall)",
			wft, at, spare, 2*stall, stall)
	}
	// Temporal refuses a workflow task timeout above 120s.
	if wft > 120*time.Second {
		t.Errorf("WorkflowTaskTimeout %s is above Temporal's limit of 120s", wft)
	}
}
