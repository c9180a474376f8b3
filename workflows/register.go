package workflows

import (
	"go.temporal.io/sdk/activity"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/pcx/publicservice/activities"
)

// Register registers the workflows under their stable names and the delivery activities on a
// Temporal worker, so cmd/worker, the tests and the benchmarks run the same thing. Activity names
// are the method names of *activities.Activities (PlanDeliveries, DeliverBatch, RecordOutcomes,
// Deliver, RecordOutcome, ReadOutcomes, RecoveryPage,
// RecordRecoveryProgress): they appear in running histories, so the methods must
// not be renamed.
func Register(r sdkworker.Registry, acts *activities.Activities) {
	r.RegisterWorkflowWithOptions(EventWorkflow, workflow.RegisterOptions{Name: EventWorkflowName})
	r.RegisterWorkflowWithOptions(BatchWorkflow, workflow.RegisterOptions{Name: BatchWorkflowName})
	r.RegisterWorkflowWithOptions(RecoveryWorkflow, workflow.RegisterOptions{Name: RecoveryWorkflowName})
	r.RegisterActivityWithOptions(acts, activity.RegisterOptions{})
}
