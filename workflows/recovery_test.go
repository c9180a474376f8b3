package workflows_test

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/workflows"
)

// recoveryWindow serves a recovery's window as RecoveryPage does: pages of the events missing,
// each named by the position after it, and records the progress written.
type recoveryWindow struct {
	mu        sync.Mutex
	pages     [][]string
	delivered []string // in the order their Deliver activities ran
	failed    map[string]bool
	progress  []activities.RecoveryProgressInput
	asked     []string // the After of each page asked for
}

func (w *recoveryWindow) page(_ context.Context, in activities.RecoveryPageInput) (activities.RecoveryPage, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.asked = append(w.asked, in.After)
	return pageOf(w.pages, in.After), nil
}

// pageOf is page After (its index; "" the first) of pages, naming the next unless it is the
// last.
func pageOf(pages [][]string, after string) activities.RecoveryPage {
	i := 0
	if after != "" {
		i, _ = strconv.Atoi(after)
	}
	p := activities.RecoveryPage{EventIDs: pages[i]}
	if i+1 < len(pages) {
		p.Next = strconv.Itoa(i + 1)
	}
	return p
}

func (w *recoveryWindow) deliver(_ context.Context, in activities.DeliverInput) (activities.DeliverResult, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.delivered = append(w.delivered, in.EventID)
	if w.failed[in.EventID] {
		return activities.DeliverResult{Status: pcx.DeliveryFailed}, nil
	}
	return activities.DeliverResult{Status: pcx.DeliveryDelivered}, nil
}

func (w *recoveryWindow) record(_ context.Context, in activities.RecoveryProgressInput) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.progress = append(w.progress, in)
	return nil
}

func eventIDs(prefix string, n int) []string { return webhookIDs("evt_"+prefix, n) }

func runRecovery(t *testing.T, w *recoveryWindow, in workflows.RecoveryInput) (*testsuite.TestWorkflowEnvironment, error) {
	t.Helper()
	var ts testsuite.WorkflowTestSuite
	ts.SetLogger(quietLogger())
	env := ts.NewTestWorkflowEnvironment()
	env.SetTestTimeout(60 * time.Second)
	workflows.Register(env, &activities.Activities{})
	env.OnActivity(a.RecoveryPage, mock.Anything, mock.Anything).Return(w.page)
	env.OnActivity(a.Deliver, mock.Anything, mock.Anything).Return(w.deliver)
	env.OnActivity(a.RecordRecoveryProgress, mock.Anything, mock.Anything).Return(w.record)
	env.ExecuteWorkflow(workflows.RecoveryWorkflowName, in)
	require.True(t, env.IsWorkflowCompleted())
	return env, env.GetWorkflowError()
}

// A recovery delivers the events each page names, page after page in the window's order, to the
// one endpoint, counts those delivered, and marks itself completed with the totals.
func TestRecoveryDeliversPageByPageAndCompletes(t *testing.T) {
	pages := [][]string{eventIDs("a", 7), nil, eventIDs("b", 3)}
	w := &recoveryWindow{pages: pages, failed: map[string]bool{pages[0][2]: true}}
	env, err := runRecovery(t, w, workflows.RecoveryInput{OrgID: testOrgID, WebhookID: "wh_1", RecoveryID: "rcv_1", Since: time.Unix(1, 0)})
	require.NoError(t, err)
	var res workflows.RecoveryResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, workflows.RecoveryResult{Found: 10, Sent: 9}, res)
	require.Equal(t, []string{"", "1", "2"}, w.asked)
	// Pages run one after the other; within one, RecoveryConcurrency deliveries run at once.
	require.ElementsMatch(t, pages[0], w.delivered[:7])
	require.ElementsMatch(t, pages[2], w.delivered[7:])
	require.Equal(t, []activities.RecoveryProgressInput{{WebhookID: "wh_1", RecoveryID: "rcv_1", Found: 10, Sent: 9, Done: true}}, w.progress)
}

// Deliveries start oldest first: with one slot free at a time the Deliver activities run in the
// page's order.
func TestRecoveryStartsOldestFirst(t *testing.T) {
	ids := eventIDs("c", workflows.RecoveryConcurrency)
	w := &recoveryWindow{pages: [][]string{ids}}
	var ts testsuite.WorkflowTestSuite
	ts.SetLogger(quietLogger())
	env := ts.NewTestWorkflowEnvironment()
	workflows.Register(env, &activities.Activities{})
	// The order the workflow scheduled the Deliver activities in: their activity IDs count up
	// in scheduling order. (The test environment starts concurrent activities in goroutines,
	// so the order they start in is not the workflow's.)
	var mu sync.Mutex
	bySeq := map[int]string{}
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		if info.ActivityType.Name != "Deliver" {
			return
		}
		var in activities.DeliverInput
		require.NoError(t, args.Get(&in))
		seq, err := strconv.Atoi(info.ActivityID)
		require.NoError(t, err, "activity ID %q", info.ActivityID)
		mu.Lock()
		defer mu.Unlock()
		bySeq[seq] = in.EventID
	})
	env.OnActivity(a.RecoveryPage, mock.Anything, mock.Anything).Return(w.page)
	env.OnActivity(a.Deliver, mock.Anything, mock.Anything).Return(w.deliver)
	env.OnActivity(a.RecordRecoveryProgress, mock.Anything, mock.Anything).Return(w.record)
	env.ExecuteWorkflow(workflows.RecoveryWorkflowName, workflows.RecoveryInput{OrgID: testOrgID, WebhookID: "wh_1", RecoveryID: "rcv_1"})
	require.NoError(t, env.GetWorkflowError())
	var scheduled []string
	for _, seq := range slices.Sorted(maps.Keys(bySeq)) {
		scheduled = append(scheduled, bySeq[seq])
	}
	require.Equal(t, ids, scheduled)
}

// After RecoveryRunEvents deliveries a run continues as new, carrying the position and the
// totals; the next run goes on from there.
func TestRecoveryContinuesAsNew(t *testing.T) {
	per := workflows.RecoveryPageSize
	var pages [][]string
	for i := range workflows.RecoveryRunEvents/per + 2 {
		pages = append(pages, eventIDs(strconv.Itoa(i)+"x", per))
	}
	w := &recoveryWindow{pages: pages}
	_, err := runRecovery(t, w, workflows.RecoveryInput{OrgID: testOrgID, WebhookID: "wh_1", RecoveryID: "rcv_1", Found: 3, Sent: 2})
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(err, &can), "the run ended with %v, want continue-as-new", err)
	require.Equal(t, workflows.RecoveryWorkflowName, can.WorkflowType.Name)
	require.Len(t, w.delivered, workflows.RecoveryRunEvents)
	require.Empty(t, w.progress, "a run that continues as new is not completed")

	// The next run, started with the carried input, finishes the window.
	var next workflows.RecoveryInput
	require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &next))
	require.Equal(t, strconv.Itoa(workflows.RecoveryRunEvents/per), next.After)
	require.Equal(t, 3+workflows.RecoveryRunEvents, next.Found)
	require.Equal(t, 2+workflows.RecoveryRunEvents, next.Sent)
	w2 := &recoveryWindow{pages: pages}
	_, err = runRecovery(t, w2, next)
	require.NoError(t, err)
	require.Equal(t, slices.Concat(pages[len(pages)-2:]...), sorted(w2.delivered))
	require.Equal(t, 3+len(pages)*per, w2.progress[0].Found)
}

func sorted(ids []string) []string { return slices.Sorted(slices.Values(ids)) }
