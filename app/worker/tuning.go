package worker

import (
	"time"

	sdkworker "go.temporal.io/sdk/worker"

	"github.com/pcx/publicservice/activities"
)

// Options is the worker's tuning.
type Options struct {
	// MaxConcurrentActivities bounds deliveries in flight in this process. Deliveries mostly
	// wait on the network, so this can be far above the number of cores.
	MaxConcurrentActivities int
	// StopTimeout is how long in-flight deliveries may run on after a stop (SHUTDOWN_TIMEOUT).
	StopTimeout time.Duration
}

// SDKOptions returns the Temporal worker options for o: the one place the worker is tuned,
// used by cmd/worker and by the benchmark's ceiling worker.
func SDKOptions(o Options) sdkworker.Options {
	if o.MaxConcurrentActivities <= 0 {
		o.MaxConcurrentActivities = 200
	}
	return sdkworker.Options{
		MaxConcurrentActivityExecutionSize: o.MaxConcurrentActivities,
		// Let in-flight deliveries finish on shutdown (SIGTERM, scale-down) before the worker
		// stops; what does not finish in time is retried on another worker.
		WorkerStopTimeout: o.StopTimeout,
		// Send each heartbeat of a slow delivery as it is recorded. The SDK's default throttle is
		// 80% of the HeartbeatTimeout (8s of 10s), counted from when the previous heartbeat's
		// reply came back: a 2s stall of Temporal was enough to time a live attempt out and start
		// another beside it.
		MaxHeartbeatThrottleInterval: activities.HeartbeatEvery,
	}
}
