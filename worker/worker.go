// Package worker registers the webhook workflows and activities on a Temporal worker and holds
// the worker's tuning, so cmd/worker, the tests and the benchmarks run the same thing.
package worker

import (
	"time"

	"go.temporal.io/sdk/activity"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/workflows"
)

// Register registers the workflows under their stable names and the delivery activities.
// Activity names are the method names (PlanDeliveries, Deliver, RecordOutcome): they appear in
// running histories, so the methods must not be renamed.
func Register(r sdkworker.Registry, acts *activities.Activities) {
	r.RegisterWorkflowWithOptions(workflows.EventWorkflow, workflow.RegisterOptions{Name: workflows.EventWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.BatchWorkflow, workflow.RegisterOptions{Name: workflows.BatchWorkflowName})
	r.RegisterActivityWithOptions(acts, activity.RegisterOptions{})
}

// Options is the worker's tuning.
type Options struct {
	// MaxConcurrentActivities bounds deliveries in flight in this process. Deliveries mostly
	// wait on the network, so this can be far above the number of cores.
	MaxConcurrentActivities int
	// StopTimeout is how long in-flight deliveries may run on after a stop (SHUTDOWN_TIMEOUT).
	StopTimeout time.Duration
}

// SDKOptions returns the Temporal worker options for o.
func SDKOptions(o Options) sdkworker.Options {
	if o.MaxConcurrentActivities <= 0 {
		o.MaxConcurrentActivities = 200
	}
	return sdkworker.Options{
		MaxConcurrentActivityExecutionSize: o.MaxConcurrentActivities,
		// Let in-flight deliveries finish on shutdown (SIGTERM, scale-down) before the worker
		// stops; what does not finish in time is retried on another worker.
		WorkerStopTimeout: o.StopTimeout,
	}
}
