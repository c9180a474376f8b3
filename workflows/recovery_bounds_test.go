package workflows_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/workflows"
)

// maxRecoveryRunHistory bounds one run of a recovery: RecoveryRunEvents deliveries that each take
// every step (a Deliver whose outcome is unrecorded, then RecordOutcome), each waking the
// workflow in a task of its own (12 events; a quiet machine shares tasks, ~8 measured), and the
// pages between.
const maxRecoveryRunHistory = workflows.RecoveryRunEvents*12 + 500 // 6,500

// recoveryEvents: go test ./workflows -run TestRecoveryHistoryBounds -recovery-events=10000
// measures a large window (about ten minutes); by default the window is enough for three runs.
var recoveryEvents = flag.Int("recovery-events", 2*workflows.RecoveryRunEvents+workflows.RecoveryPageSize, "TestRecoveryHistoryBounds: how many events the recovery's window holds")

var boundRecoveryEvents int

// boundRecoveryPage serves boundRecoveryEvents missing events, RecoveryPageSize a page.
func boundRecoveryPage(_ context.Context, in activities.RecoveryPageInput) (activities.RecoveryPage, error) {
	start := 0
	if in.After != "" {
		_, _ = fmt.Sscanf(in.After, "%d", &start)
	}
	end := min(start+in.Limit, boundRecoveryEvents)
	var p activities.RecoveryPage
	for i := start; i < end; i++ {
		p.EventIDs = append(p.EventIDs, fmt.Sprintf("evt_bound_%06d", i))
	}
	if end < boundRecoveryEvents {
		p.Next = fmt.Sprint(end)
	}
	return p, nil
}

// A recovery's history stays bounded however large its window: each run makes at most
// RecoveryRunEvents deliveries and continues as new, so every run's history is of the same size,
// under maxRecoveryRunHistory and Temporal's warning, and the chain of runs delivers the window.
func TestRecoveryHistoryBounds(t *testing.T) {
	const taskQueue = "recovery-history-bounds"
	boundRecoveryEvents = *recoveryEvents
	runs := (boundRecoveryEvents + workflows.RecoveryRunEvents - 1) / workflows.RecoveryRunEvents
	ctx, c := onDevServer(t, taskQueue, time.Duration(runs+1)*2*time.Minute, map[string]any{"RecoveryPage": boundRecoveryPage, "Deliver": boundDeliver})

	id := workflows.RecoveryWorkflowID("wh_bound", "rcv_bound")
	r, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: id, TaskQueue: taskQueue}, workflows.RecoveryWorkflowName,
		workflows.RecoveryInput{OrgID: testOrgID, WebhookID: "wh_bound", RecoveryID: "rcv_bound"})
	require.NoError(t, err)
	runID := r.GetRunID()
	var res workflows.RecoveryResult
	require.NoError(t, r.Get(ctx, &res))
	require.Equal(t, workflows.RecoveryResult{Found: boundRecoveryEvents, Sent: boundRecoveryEvents}, res)

	var sizes []int
	for runID != "" {
		hist := history(ctx, t, c, id, runID)
		events := hist.GetEvents()
		sizes = append(sizes, len(events))
		t.Logf("run %d: %d events (%d bytes)", len(sizes), len(events), proto.Size(hist))
		require.LessOrEqual(t, len(events), maxRecoveryRunHistory)
		require.Less(t, proto.Size(hist), temporalMaxBytes/10)
		runID = events[len(events)-1].GetWorkflowExecutionContinuedAsNewEventAttributes().GetNewExecutionRunId()
	}
	require.Len(t, sizes, runs, "runs of %d deliveries each", workflows.RecoveryRunEvents)
	require.Less(t, maxRecoveryRunHistory, temporalWarnEvents)
}
