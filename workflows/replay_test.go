package workflows_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nexus-rpc/sdk-go/nexus"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/workflows"
)

var record = flag.Bool("record", false, "run the recorded scenarios on the Temporal dev server and rewrite workflows/testdata")

// A scenario is one recorded run of the event workflow: testdata/<name>.json holds its history,
// testdata/<name>.batch-<n>.json those of its children.
type scenario struct {
	name     string
	eventID  string
	replayID string   // set for a replay through the API
	subset   []string // the replay's WebhookIDs
	// pages is what the fake PlanDeliveries lists, page by page.
	pages    [][]string
	children int
	want     workflows.Summary
}

func (sc scenario) workflowID() string {
	if sc.replayID != "" {
		return workflows.ReplayWorkflowID(sc.eventID, sc.replayID)
	}
	return workflows.EventWorkflowID(sc.eventID)
}

func (sc scenario) input() workflows.EventInput {
	return workflows.EventInput{EventID: sc.eventID, OrgID: testOrgID, WebhookIDs: sc.subset}
}

func (sc scenario) file() string { return filepath.Join("testdata", sc.name+".json") }

func (sc scenario) childFile(n int) string {
	return filepath.Join("testdata", fmt.Sprintf("%s.batch-%d.json", sc.name, n))
}

// The fakes answer by webhook ID (see fakeBatch and fakeDeliver).
var scenarios = []scenario{
	{
		// A batch with every kind of first outcome; wh_retry's durable retry fails once more,
		// then delivers.
		name: "inline", eventID: "evt_rec_inline",
		pages: [][]string{{"wh_ok", "wh_retry", "wh_failed", "wh_cancelled"}},
		want:  workflows.Summary{Endpoints: 4, Delivered: 2, Failed: 1, Cancelled: 1},
	},
	{
		// The batch's records are not written (RecordOutcomes writes them), nor is a retry's
		// outcome (RecordOutcome writes it).
		name: "unrecorded", eventID: "evt_rec_unrecorded",
		pages: [][]string{{"wh_ok", "wh_unrecorded", "wh_retry_unrecorded", "wh_cancelled"}},
		want:  workflows.Summary{Endpoints: 4, Delivered: 3, Cancelled: 1},
	},
	{
		// The batch cannot read the store, twice: each endpoint is delivered by a durable Deliver.
		name: "fallback", eventID: "evt_rec_fallback",
		pages: [][]string{{"wh_ok", "wh_failed"}},
		want:  workflows.Summary{Endpoints: 2, Delivered: 1, Failed: 1},
	},
	{
		// Planning fails past its local retries: the workflow waits on a timer and plans again.
		name: "plan-retry", eventID: "evt_rec_plan_retry",
		pages: [][]string{{"wh_ok", "wh_retry"}},
		want:  workflows.Summary{Endpoints: 2, Delivered: 2},
	},
	{
		// One page over the inline limit: a single child of InlineLimit+1 deliveries, whose
		// first attempts go in three batches (BatchSize, BatchSize, 1).
		name: "over-inline-limit", eventID: "evt_rec_over",
		pages:    [][]string{append(webhookIDs("wh_", workflows.InlineLimit), "wh_failed")},
		children: 1,
		want:     workflows.Summary{Endpoints: workflows.InlineLimit + 1, Delivered: workflows.InlineLimit, Failed: 1},
	},
	{
		// Two pages, one child each. The store fills pages to PlanPageSize before it names a
		// next one; short pages keep these histories small and run the same commands.
		name: "pages", eventID: "evt_rec_pages",
		pages:    [][]string{{"wh_a1", "wh_retry", "wh_a3"}, {"wh_b1", "wh_failed"}},
		children: 2,
		want:     workflows.Summary{Endpoints: 5, Delivered: 4, Failed: 1},
	},
	{
		name: "replay-subset", eventID: "evt_rec_inline", replayID: "rpl_01", subset: []string{"wh_ok", "wh_failed"},
		want: workflows.Summary{Endpoints: 2, Delivered: 1, Failed: 1},
	},
}

// TestReplayRecordedHistories replays every recorded history against the current workflow code.
// A change to the commands a workflow issues (an activity added or removed, another activity
// type in its place, a child started under another ID) fails here: running workflows would fail
// the same way after a deploy. Such a change needs workflow.GetVersion, and new recordings
// (go test ./workflows -run TestRecordHistories -record). Replay does not compare inputs: the
// same activities with their arguments in another order still pass.
func TestReplayRecordedHistories(t *testing.T) {
	want := map[string]bool{}
	for _, sc := range scenarios {
		want[sc.file()] = true
		for n := range sc.children {
			want[sc.childFile(n)] = true
		}
	}
	files, err := filepath.Glob("testdata/*.json")
	require.NoError(t, err)
	for _, f := range files {
		delete(want, f)
	}
	require.Empty(t, want, "recorded histories missing: run go test ./workflows -run TestRecordHistories -record")

	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			require.NoError(t, replay(f))
		})
	}
}

// replay replays the history in file with the workflows registered as the worker registers them.
func replay(file string) error {
	r := sdkworker.NewWorkflowReplayer()
	workflows.Register(replayerRegistry{r}, nil)
	hist, err := readHistory(file)
	if err != nil {
		return err
	}
	// The event workflow names its children after its own ID. ReplayWorkflowHistoryFromJSONFile
	// replays under the ID "ReplayId", so child IDs would not match the history: replay under
	// the ID the server recorded in the started event.
	started := hist.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
	return r.ReplayWorkflowHistoryWithOptions(quietLogger(), hist, sdkworker.ReplayWorkflowHistoryOptions{
		OriginalExecution: workflow.Execution{ID: started.GetWorkflowId()},
	})
}

// readHistory reads a history as `temporal workflow show --output json` writes it, the format
// ReplayWorkflowHistoryFromJSONFile reads.
func readHistory(file string) (*historypb.History, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return client.HistoryFromJSON(f, client.HistoryJSONOptions{})
}

// replayerRegistry lets workflows.Register register the workflows on a replayer, which runs no
// activities.
type replayerRegistry struct{ sdkworker.WorkflowReplayer }

func (replayerRegistry) RegisterActivity(any)                                         {}
func (replayerRegistry) RegisterActivityWithOptions(any, activity.RegisterOptions)    {}
func (replayerRegistry) RegisterDynamicActivity(any, activity.DynamicRegisterOptions) {}
func (replayerRegistry) RegisterNexusService(*nexus.Service)                          {}

// TestRecordHistories runs every scenario on the Temporal dev server, with the real workflows and
// fake activities registered under the real names (no DynamoDB, no receivers), and writes the
// histories to testdata. It runs only with -record.
func TestRecordHistories(t *testing.T) {
	if !*record {
		t.Skip("records histories only with -record")
	}
	if _, err := testenv.TemporalBin(); err != nil {
		t.Fatalf("-record needs the Temporal CLI: %v", err)
	}
	dev := testenv.Temporal(t)
	ctx := testenv.Context(t, 5*time.Minute)
	c := dial(ctx, t, dev)
	defer c.Close()

	const taskQueue = "record-histories"
	w := sdkworker.New(c, taskQueue, sdkworker.Options{})
	workflows.Register(workflowsOnly{w}, nil)
	// Under the names workflows.Register gives the methods of *activities.Activities.
	w.RegisterActivityWithOptions(fakePlan, activity.RegisterOptions{Name: "PlanDeliveries"})
	w.RegisterActivityWithOptions(fakeBatch, activity.RegisterOptions{Name: "DeliverBatch"})
	w.RegisterActivityWithOptions(fakeDeliver, activity.RegisterOptions{Name: "Deliver"})
	w.RegisterActivityWithOptions(fakeRecordOutcome, activity.RegisterOptions{Name: "RecordOutcome"})
	w.RegisterActivityWithOptions(fakeRecordOutcomes, activity.RegisterOptions{Name: "RecordOutcomes"})
	require.NoError(t, w.Start())
	defer w.Stop()

	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: sc.workflowID(), TaskQueue: taskQueue, TypedSearchAttributes: workflows.SearchAttributes(testOrgID, sc.eventID),
			}, workflows.EventWorkflowName, sc.input())
			require.NoError(t, err)
			var sum workflows.Summary
			require.NoError(t, run.Get(ctx, &sum))
			require.Equal(t, sc.want, sum)

			hist := history(ctx, t, c, run.GetID(), run.GetRunID())
			writeHistory(t, sc.file(), hist)
			var children []*historypb.HistoryEvent
			for _, ev := range hist.GetEvents() {
				if ev.GetChildWorkflowExecutionStartedEventAttributes() != nil {
					children = append(children, ev)
				}
			}
			require.Len(t, children, sc.children)
			for _, ev := range children {
				ex := ev.GetChildWorkflowExecutionStartedEventAttributes().GetWorkflowExecution()
				var n int
				_, err := fmt.Sscanf(ex.GetWorkflowId()[strings.LastIndex(ex.GetWorkflowId(), "/batch-"):], "/batch-%d", &n)
				require.NoError(t, err, "child ID %s", ex.GetWorkflowId())
				require.Equal(t, fmt.Sprintf("%s/%s/batch-%d", sc.workflowID(), run.GetRunID(), n), ex.GetWorkflowId(),
					"a child's ID is its parent's ID, the parent's whole run ID and its page")
				writeHistory(t, sc.childFile(n), history(ctx, t, c, ex.GetWorkflowId(), ex.GetRunId()))
			}
		})
	}
}

// dial connects to the dev server, waiting for its frontend to report healthy.
func dial(ctx context.Context, t *testing.T, dev *testenv.TemporalDev) client.Client {
	t.Helper()
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: dev.Address, Namespace: dev.Namespace, Logger: quietLogger()})
		if err == nil {
			return c
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Temporal dev server at %s: %v", dev.Address, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func history(ctx context.Context, t *testing.T, c client.Client, id, runID string) *historypb.History {
	t.Helper()
	it := c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	hist := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		hist.Events = append(hist.Events, ev)
	}
	return hist
}

// writeHistory writes hist as `temporal workflow show --output json` does.
func writeHistory(t *testing.T, file string, hist *historypb.History) {
	t.Helper()
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(file), 0o755))
	require.NoError(t, os.WriteFile(file, append(b, '\n'), 0o644))
	t.Logf("wrote %s: %d events, %d bytes", file, len(hist.GetEvents()), len(b)+1)
}

// planFailures counts, by event, the planning attempts that failed (plan-retry's first).
var planFailures sync.Map

// fakePlan lists a scenario's pages, or a replay's subset. The plan-retry scenario's first local
// activity fails with a retryable error whose next retry would come after its ScheduleToClose:
// the local activity gives up at once and the workflow retries it after a timer.
func fakePlan(ctx context.Context, in activities.PlanInput) (activities.Plan, error) {
	if len(in.WebhookIDs) > 0 {
		return activities.Plan{WebhookIDs: in.WebhookIDs}, nil
	}
	if in.EventID == "evt_rec_plan_retry" {
		if _, failedBefore := planFailures.LoadOrStore(in.EventID, true); !failedBefore {
			return activities.Plan{}, temporal.NewApplicationErrorWithOptions("The database is busy", "Unavailable",
				temporal.ApplicationErrorOptions{NextRetryDelay: time.Hour})
		}
	}
	for _, sc := range scenarios {
		if sc.eventID == in.EventID && sc.replayID == "" {
			return (&planner{pages: sc.pages}).plan(ctx, in)
		}
	}
	return activities.Plan{}, temporal.NewNonRetryableApplicationError("no scenario for "+in.EventID, "Test", nil)
}

// fakeBatch makes first attempts by webhook ID: wh_retry* are pending (retried after a second),
// wh_failed fails, wh_cancelled is cancelled, the rest are delivered; the records of
// wh_*unrecorded* are handed back unwritten. The fallback scenario's batches fail before sending.
func fakeBatch(_ context.Context, in activities.BatchInput) (activities.BatchResult, error) {
	if in.EventID == "evt_rec_fallback" {
		return activities.BatchResult{}, errors.New("the database is busy")
	}
	var res activities.BatchResult
	for _, id := range in.WebhookIDs {
		o := activities.Outcome{WebhookID: id, Status: pcx.DeliveryDelivered}
		att := &pcx.Attempt{At: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), StatusCode: 200, Duration: 30 * time.Millisecond}
		switch {
		case strings.HasPrefix(id, "wh_retry"):
			o.Status, o.RetryDelay = pcx.DeliveryPending, time.Second
			att.StatusCode, att.ErrorClass = 500, "http_status"
		case id == "wh_failed":
			o.Status = pcx.DeliveryFailed
			att.StatusCode, att.ErrorClass = 410, "gone"
		case id == "wh_cancelled":
			o.Status, att = pcx.DeliveryCancelled, nil
		}
		res.Outcomes = append(res.Outcomes, o)
		if strings.HasSuffix(id, "unrecorded") {
			res.Unrecorded = append(res.Unrecorded, pcx.Delivery{WebhookID: id, EndpointURL: "https://receiver.example/" + id, Status: o.Status, Attempt: att})
		}
	}
	return res, nil
}

// fakeDeliver answers by webhook ID: wh_retry fails its first attempt, wh_failed fails,
// wh_retry_unrecorded is delivered but unrecorded; the rest are delivered.
func fakeDeliver(ctx context.Context, in activities.DeliverInput) (activities.DeliverResult, error) {
	ok := activities.DeliverResult{Status: pcx.DeliveryDelivered, Attempt: pcx.Attempt{StatusCode: 200}}
	switch in.WebhookID {
	case "wh_retry":
		if activity.GetInfo(ctx).Attempt == 1 {
			return activities.DeliverResult{}, temporal.NewApplicationErrorWithOptions("attempt 2 failed (http_status 500)", "DeliveryAttemptFailed",
				temporal.ApplicationErrorOptions{NextRetryDelay: time.Second, Category: temporal.ApplicationErrorCategoryBenign})
		}
	case "wh_failed":
		return activities.DeliverResult{Status: pcx.DeliveryFailed, Attempt: pcx.Attempt{StatusCode: 500, ErrorClass: "http_status"}}, nil
	case "wh_retry_unrecorded":
		ok.Unrecorded = true
	}
	return ok, nil
}

func fakeRecordOutcome(context.Context, activities.RecordOutcomeInput) error { return nil }

func fakeRecordOutcomes(context.Context, activities.RecordOutcomesInput) error { return nil }
