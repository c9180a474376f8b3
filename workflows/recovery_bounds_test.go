package workflows_test

import (
	"context"
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
// every step (a Deliver whose outcome is unrecorded, then RecordOutcome), and the pages between.
const maxRecoveryRunHistory = 5_500

// boundRecoveryEvents is the window of the bounds' recovery: enough for three runs.
const boundRecoveryEvents = 2*workflows.RecoveryRunEvents + workflows.RecoveryPageSize

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
	ctx, c := onDevServer(t, taskQueue, 4*time.Minute, map[string]any{"RecoveryPage": boundRecoveryPage, "Deliver": boundDeliver})

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
	require.Len(t, sizes, 3, "runs of %d deliveries each", workflows.RecoveryRunEvents)
	require.Less(t, maxRecoveryRunHistory, temporalWarnEvents)
}
