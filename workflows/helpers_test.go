package workflows_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/workflows"
)

// workflowsOnly passes on what workflows.Register registers except the delivery activities, so a
// test registers the production workflows under their production names and supplies its own
// activities under the same names.
type workflowsOnly struct{ sdkworker.Registry }

func (workflowsOnly) RegisterActivityWithOptions(any, activity.RegisterOptions) {}

// quietLogger discards the SDK's logs: the assertions say what went wrong.
func quietLogger() log.Logger { return log.NewStructuredLogger(slog.New(slog.DiscardHandler)) }

// startFakeWorker starts a worker on taskQueue with the production workflows and the fake
// activities of the recordings under the production activity names, each replaced by the one
// acts names; it stops with the test.
func startFakeWorker(t *testing.T, c client.Client, taskQueue string, acts map[string]any) {
	t.Helper()
	w := sdkworker.New(c, taskQueue, sdkworker.Options{})
	workflows.Register(workflowsOnly{w}, nil)
	fakes := map[string]any{
		"PlanDeliveries": fakePlan, "DeliverBatch": fakeBatch, "Deliver": fakeDeliver,
		"RecordOutcome": fakeRecordOutcome, "RecordOutcomes": fakeRecordOutcomes, "ReadOutcomes": fakeReadOutcomes,
		"RecoveryPage": fakeRecoveryPage, "RecordRecoveryProgress": fakeRecordRecoveryProgress,
	}
	for name, fn := range acts {
		require.Contains(t, fakes, name, "no activity %s", name)
		fakes[name] = fn
	}
	for name, fn := range fakes {
		w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
}

// onDevServer starts the package's Temporal dev server, a client closed with the test, and a
// fake worker on taskQueue (startFakeWorker with acts); the context ends after within.
func onDevServer(t *testing.T, taskQueue string, within time.Duration, acts map[string]any) (context.Context, client.Client) {
	t.Helper()
	dev := testenv.Temporal(t)
	ctx := testenv.Context(t, within)
	c := dial(ctx, t, dev)
	t.Cleanup(c.Close)
	startFakeWorker(t, c, taskQueue, acts)
	return ctx, c
}
