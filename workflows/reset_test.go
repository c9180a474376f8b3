package workflows_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/workflows"
)

// sentBatches counts the first-attempt batches each workflow made, by workflow ID. The durable
// retries of workflows whose ID starts with hold wait for gate to close.
type sentBatches struct {
	mu   sync.Mutex
	by   map[string]int
	hold string
	gate chan struct{}
}

func (s *sentBatches) deliver(ctx context.Context, in activities.DeliverInput) (activities.DeliverResult, error) {
	if strings.HasPrefix(activity.GetInfo(ctx).WorkflowExecution.ID, s.hold) {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return activities.DeliverResult{}, ctx.Err()
		}
	}
	return fakeDeliver(ctx, in)
}

func (s *sentBatches) deliverBatch(ctx context.Context, in activities.BatchInput) (activities.BatchResult, error) {
	s.mu.Lock()
	s.by[activity.GetInfo(ctx).WorkflowExecution.ID]++
	s.mu.Unlock()
	return fakeBatch(ctx, in)
}

// children returns the child workflow IDs that made batches, with their counts.
func (s *sentBatches) children(parent string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for id, n := range s.by {
		if strings.HasPrefix(id, parent+"/") {
			out[id] = n
		}
	}
	return out
}

// TestResets makes on the dev server the resets an operator can make in the UI, on an event of
// two child batches (the pages scenario, with the fakes of the recordings), and checks that
// each new run completes (no nondeterminism error) and re-delivers what it must. webhook-id is
// the event ID (signing.SetHeaders), so a batch of the same event re-delivers with the same one.
func TestResets(t *testing.T) {
	dev := testenv.Temporal(t)
	ctx := testenv.Context(t, 3*time.Minute)
	c := dial(ctx, t, dev)
	defer c.Close()

	const taskQueue = "resets"
	var pages scenario
	for _, sc := range scenarios {
		if sc.name == "pages" {
			pages = sc
		}
	}
	held := workflows.EventWorkflowID(pages.eventID) + "-while-children-run/"
	sent := &sentBatches{by: map[string]int{}, hold: held, gate: make(chan struct{})}
	startFakeWorker(t, c, taskQueue, map[string]any{"DeliverBatch": sent.deliverBatch, "Deliver": sent.deliver})

	start := func(t *testing.T, id string) client.WorkflowRun {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: id, TaskQueue: taskQueue, TypedSearchAttributes: workflows.SearchAttributes(testOrgID, pages.eventID),
		}, workflows.EventWorkflowName, pages.input())
		require.NoError(t, err)
		var sum workflows.Summary
		require.NoError(t, run.Get(ctx, &sum))
		require.Equal(t, pages.want, sum)
		return run
	}
	// reset resets the run to just after the workflow task that completed at event (0: the
	// first), waits for the new run and returns it.
	reset := func(t *testing.T, id, runID string, pick func(*historypb.History) int64) string {
		hist := history(ctx, t, c, id, runID)
		resp, err := c.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{
			Namespace:                 dev.Namespace,
			WorkflowExecution:         &commonpb.WorkflowExecution{WorkflowId: id, RunId: runID},
			Reason:                    t.Name(),
			WorkflowTaskFinishEventId: pick(hist),
			RequestId:                 fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano()),
		})
		require.NoError(t, err)
		return resp.GetRunId()
	}
	wait := func(t *testing.T, id, runID string) workflows.Summary {
		var sum workflows.Summary
		require.NoError(t, c.GetWorkflow(ctx, id, runID).Get(ctx, &sum), "the reset run of %s completes: no nondeterminism error", id)
		return sum
	}

	// Each reset of the parent, and the page it re-delivers (every page: -1).
	for _, tc := range []struct {
		name string
		pick func(*historypb.History) int64
		// fresh: the new run plans and starts new children, which re-deliver every page.
		fresh bool
	}{
		// The first workflow task plans the pages and starts the children: a reset to it, or
		// to just after planning, which is the same point, runs everything again.
		{name: "first-workflow-task", pick: nthTaskCompleted(0), fresh: true},
		// After the children started: the new run keeps them (the server reconnects it to
		// them) and their outcomes; it re-delivers nothing and completes with their summaries.
		{name: "after-children-started", pick: afterChildrenStarted},
		{name: "last-workflow-task", pick: lastTaskCompleted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := workflows.EventWorkflowID(pages.eventID) + "-" + tc.name
			run := start(t, id)
			before := sent.children(id)
			require.Len(t, before, 2)
			newRun := reset(t, id, run.GetRunID(), tc.pick)
			require.Equal(t, pages.want, wait(t, id, newRun))
			after := sent.children(id)
			if !tc.fresh {
				require.Equal(t, before, after, "the children kept are not started again")
				return
			}
			require.Len(t, after, 4, "two new children, named after the new run")
			for n := range 2 {
				require.Equal(t, 1, after[fmt.Sprintf("%s/%s/batch-%d", id, newRun, n)], "page %d re-delivered by the new run's child", n)
			}
		})
	}

	t.Run("while-children-run", func(t *testing.T) {
		// Reset while a child's retry is pending: the new run keeps the running child, which
		// delivers once, and completes with its summary when it ends.
		id := strings.TrimSuffix(held, "/")
		r, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: id, TaskQueue: taskQueue, TypedSearchAttributes: workflows.SearchAttributes(testOrgID, pages.eventID),
		}, workflows.EventWorkflowName, pages.input())
		require.NoError(t, err)
		var hist *historypb.History
		for deadline := time.Now().Add(time.Minute); ; {
			hist = history(ctx, t, c, id, r.GetRunID())
			if countEvents(hist, func(ev *historypb.HistoryEvent) bool {
				return ev.GetChildWorkflowExecutionCompletedEventAttributes() != nil
			}) == 1 &&
				len(sent.children(id)) == 2 {
				break
			}
			require.True(t, time.Now().Before(deadline), "page 1's child completes while page 0's retry waits")
			time.Sleep(100 * time.Millisecond)
		}
		newRun := reset(t, id, r.GetRunID(), afterChildrenStarted)
		close(sent.gate)
		require.Equal(t, pages.want, wait(t, id, newRun))
		after := sent.children(id)
		require.Len(t, after, 2, "no child started again")
		for child, n := range after {
			require.Equal(t, 1, n, "%s delivered its page once", child)
		}
	})

	t.Run("one-child", func(t *testing.T) {
		// A child reset to its first workflow task delivers its page again; the parent, done,
		// is not disturbed.
		id := workflows.EventWorkflowID(pages.eventID) + "-one-child"
		run := start(t, id)
		child := fmt.Sprintf("%s/%s/batch-0", id, run.GetRunID())
		d, err := c.DescribeWorkflowExecution(ctx, child, "")
		require.NoError(t, err)
		newRun := reset(t, child, d.GetWorkflowExecutionInfo().GetExecution().GetRunId(), nthTaskCompleted(0))
		var sum workflows.Summary
		require.NoError(t, c.GetWorkflow(ctx, child, newRun).Get(ctx, &sum))
		require.Equal(t, workflows.Summary{Endpoints: 3, Delivered: 3}, sum)
		require.Equal(t, 2, sent.children(id)[child], "the child's page delivered twice")
		p, err := c.DescribeWorkflowExecution(ctx, id, "")
		require.NoError(t, err)
		require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, p.GetWorkflowExecutionInfo().GetStatus())
	})
}

func taskCompleted(ev *historypb.HistoryEvent) bool {
	return ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
}

func nthTaskCompleted(n int) func(*historypb.History) int64 {
	return func(hist *historypb.History) int64 {
		for _, ev := range hist.GetEvents() {
			if taskCompleted(ev) {
				if n == 0 {
					return ev.GetEventId()
				}
				n--
			}
		}
		panic("no such workflow task")
	}
}

func lastTaskCompleted(hist *historypb.History) int64 {
	var id int64
	for _, ev := range hist.GetEvents() {
		if taskCompleted(ev) {
			id = ev.GetEventId()
		}
	}
	return id
}

// afterChildrenStarted is the first workflow task completed after every child started.
func afterChildrenStarted(hist *historypb.History) int64 {
	var last int64
	for _, ev := range hist.GetEvents() {
		if ev.GetChildWorkflowExecutionStartedEventAttributes() != nil {
			last = ev.GetEventId()
		}
		if last > 0 && taskCompleted(ev) && ev.GetEventId() > last {
			return ev.GetEventId()
		}
	}
	panic("no workflow task after the children started")
}

func countEvents(hist *historypb.History, match func(*historypb.HistoryEvent) bool) int {
	n := 0
	for _, ev := range hist.GetEvents() {
		if match(ev) {
			n++
		}
	}
	return n
}
