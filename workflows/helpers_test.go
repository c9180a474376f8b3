package workflows_test

import (
	"log/slog"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
)

// workflowsOnly passes on what workflows.Register registers except the delivery activities, so a
// test registers the production workflows under their production names and supplies its own
// activities under the same names.
type workflowsOnly struct{ sdkworker.Registry }

func (workflowsOnly) RegisterActivityWithOptions(any, activity.RegisterOptions) {}

// quietLogger discards the SDK's logs: the assertions say what went wrong.
func quietLogger() log.Logger { return log.NewStructuredLogger(slog.New(slog.DiscardHandler)) }
