package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/internal/tracing"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/workflows"
)

var (
	record = flag.Bool("record", false, "run the scenarios on the Temporal dev server and write their histories to new files in workflows/testdata, never over an existing one")
	shape  = flag.String("shape", "", "with -record: the shape recorded, the value of the change ID (versions.go) whose new branch it takes; the files are <scenario>.<shape>.json. Empty: the shape released first, <scenario>.json")
)

// A scenario is one recorded run of the event workflow: testdata holds its history and those of
// its children, once for each shape recorded (see historyName).
type scenario struct {
	name     string
	eventID  string
	replayID string   // set for a replay through the API
	subset   []string // the replay's WebhookIDs
	// pages is what the fake PlanDeliveries lists, page by page.
	pages    [][]string
	children int
	want     workflows.Summary
	fails    bool // the workflow ends with a permanent error
}

func (sc scenario) workflowID() string {
	if sc.replayID != "" {
		return workflows.ReplayWorkflowID(sc.eventID, sc.replayID)
	}
	return workflows.EventWorkflowID(sc.eventID)
}

func (sc scenario) input() workflows.EventInput {
	// The type: what the starter passes since event types (child-event-type). A history recorded
	// before keeps the input it was started with.
	return workflows.EventInput{EventID: sc.eventID, OrgID: testOrgID, WebhookIDs: sc.subset, EventType: "transaction.updated"}
}

// files are the histories a recording of the scenario in shape writes: its own, then its
// children's.
func (sc scenario) files(shape string) []historyName {
	names := []historyName{{scenario: sc.name, shape: shape, child: -1}}
	for n := range sc.children {
		names = append(names, historyName{scenario: sc.name, shape: shape, child: n})
	}
	return names
}

// historyName names a recorded history in testdata: <scenario>[.<shape>][.batch-<n>].json. The
// shape is empty for the one released first (fe64fa8, workflow.DefaultVersion everywhere);
// a later one is named after the change ID whose new branch it takes. batch-<n> is the child
// workflow of page n. Files are added, never overwritten: a history recorded stays replayed.
type historyName struct {
	scenario, shape string
	child           int // the page of a child workflow; -1 for the event workflow
}

func (h historyName) path() string {
	parts := []string{h.scenario}
	if h.shape != "" {
		parts = append(parts, h.shape)
	}
	if h.child >= 0 {
		parts = append(parts, fmt.Sprintf("batch-%d", h.child))
	}
	return filepath.Join("testdata", strings.Join(parts, ".")+".json")
}

// word is a scenario's name or a shape: lower-case words joined by hyphens; page is a child's
// part of the name.
var (
	word = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	page = regexp.MustCompile(`^batch-([0-9]+)$`)
)

func parseHistoryName(base string) (historyName, error) {
	h := historyName{child: -1}
	stem, ok := strings.CutSuffix(base, ".json")
	parts := strings.Split(stem, ".")
	if m := page.FindStringSubmatch(parts[len(parts)-1]); ok && len(parts) > 1 && m != nil {
		h.child, _ = strconv.Atoi(m[1])
		parts = parts[:len(parts)-1]
	}
	if !ok || len(parts) > 2 || !word.MatchString(parts[0]) || len(parts) == 2 && !validShape(parts[1]) {
		return h, fmt.Errorf("testdata/%s is not <scenario>[.<shape>][.batch-<page>].json", base)
	}
	h.scenario = parts[0]
	if len(parts) == 2 {
		h.shape = parts[1]
	}
	return h, nil
}

func validShape(s string) bool { return word.MatchString(s) && !page.MatchString(s) }

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
	// Recorded after fe64fa8, of the same shape: paths the scenarios above did not take.
	{
		// No active endpoint: nothing but the plan.
		name: "empty", eventID: "evt_rec_empty",
		pages: [][]string{{}},
	},
	{
		// The batch had no send slot for wh_unsent: its retry is its first send.
		name: "unsent", eventID: "evt_rec_unsent",
		pages: [][]string{{"wh_ok", "wh_unsent"}},
		want:  workflows.Summary{Endpoints: 2, Delivered: 2},
	},
	{
		// A durable retry ends with a permanent error of the platform: counted as failed.
		name: "deliver-error", eventID: "evt_rec_deliver_error",
		pages: [][]string{{"wh_ok", "wh_retry_expired"}},
		want:  workflows.Summary{Endpoints: 2, Delivered: 1, Failed: 1},
	},
	{
		// Planning fails permanently (the event expired): the workflow fails.
		name: "plan-expired", eventID: "evt_rec_plan_expired",
		pages: [][]string{{"wh_ok"}}, fails: true,
	},
	{
		// A batch fails permanently (the event expired): the workflow fails.
		name: "batch-expired", eventID: "evt_rec_batch_expired",
		pages: [][]string{{"wh_ok"}}, fails: true,
	},
	// Recorded from children-end-alone on.
	{
		// Page 1's child fails (its batch finds the event gone) while page 0's retry is
		// pending: the event waits for page 0 and names the failed child. The Error and
		// WorkflowID of a failure are checked for being set, not compared.
		name: "child-fails", eventID: "evt_rec_child_fails",
		pages:    [][]string{{"wh_a1", "wh_retry"}, {"wh_batch_expired"}},
		children: 2,
		want:     workflows.Summary{Endpoints: 3, Delivered: 2, FailedBatches: []workflows.BatchFailure{{Page: 1, Endpoints: 1}}},
	},
	// Recorded from failed-batch-reads-outcomes on.
	{
		// The batch fails after sending (it timed out): its records show wh_ok delivered and
		// wh_retry pending after one send; wh_new has none. Only wh_retry (after its delay, one
		// send counted) and wh_new (from the start) continue as durable Delivers.
		name: "batch-may-have-sent", eventID: "evt_rec_batch_may_have_sent",
		pages: [][]string{{"wh_ok", "wh_retry", "wh_new"}},
		want:  workflows.Summary{Endpoints: 3, Delivered: 3},
	},
}

// TestReplayRecordedHistories replays every history in testdata against the current workflow
// code, each as recorded and under a new run ID. A change to the commands a workflow issues (an
// activity added or removed, another activity type in its place, a child started under another
// ID) fails here: workflows in flight would fail the same way after a deploy. Such a change goes
// behind workflow.GetVersion (versions.go), and its new shape is recorded beside the old
// histories, which stay (docs/workflow-versioning.md). Replay does not compare inputs: the same
// activities with their arguments in another order still pass.
func TestReplayRecordedHistories(t *testing.T) {
	entries, err := os.ReadDir("testdata")
	require.NoError(t, err)
	recorded := map[string]bool{} // scenarios with a history
	for _, e := range entries {
		// Every file here is replayed: one the glob would skip is an error, not a silent gap.
		name, err := parseHistoryName(e.Name())
		require.NoError(t, err)
		require.True(t, e.Type().IsRegular(), "testdata/%s is not a file", e.Name())
		recorded[name.scenario] = true
		hist, err := readHistory(name.path())
		require.NoError(t, err)
		t.Run(e.Name(), func(t *testing.T) {
			t.Run("as-recorded", func(t *testing.T) {
				require.NoError(t, replay(hist, recordedExecution(hist)))
			})
			// From children-end-alone on, a parent's end leaves its children running.
			if tookChange(hist, workflows.ChangeChildrenEndAlone) {
				for _, ev := range hist.GetEvents() {
					if start := ev.GetStartChildWorkflowExecutionInitiatedEventAttributes(); start != nil {
						require.Equal(t, enumspb.PARENT_CLOSE_POLICY_ABANDON, start.GetParentClosePolicy(), "child %s", start.GetWorkflowId())
					}
				}
			}
			// From child-event-type on, a child carries its event's type as the parent does.
			if tookChange(hist, workflows.ChangeChildEventType) {
				for _, ev := range hist.GetEvents() {
					if start := ev.GetStartChildWorkflowExecutionInitiatedEventAttributes(); start != nil {
						require.Contains(t, start.GetSearchAttributes().GetIndexedFields(), workflows.EventTypeAttr.GetName(), "child %s", start.GetWorkflowId())
					}
				}
			}
			// A reset replays the events it keeps under the new run's ID. Before
			// child-id-from-history, startBatch named children after the replaying run's ID, so
			// a history that started children does not replay under another run ID (nor can
			// such a parent be reset past a child's start): pinned here as a property of those
			// shapes, not hidden. From child-id-from-history on, they replay.
			t.Run("new-run-id", func(t *testing.T) {
				ex := recordedExecution(hist)
				ex.RunID = "0196c0de-0000-7000-8000-00000000beef"
				err := replay(hist, ex)
				if startsChildren(hist) && !tookChange(hist, workflows.ChangeChildIDFromHistory) {
					require.ErrorContains(t, err, "matching ChildWorkflow command was expected", "children named after the recorded run ID")
					return
				}
				require.NoError(t, err)
			})
		})
	}
	for _, sc := range scenarios {
		require.True(t, recorded[sc.name], "scenario %s has no recorded history: go test ./workflows -run 'TestRecordHistories/^%s$' -record", sc.name, sc.name)
	}
	for _, sc := range recoveryScenarios {
		require.True(t, recorded["recovery-"+sc.name], "recovery scenario %s has no recorded history: go test ./workflows -run 'TestRecordRecoveryHistories/^%s$' -record", sc.name, sc.name)
	}
	for name := range recorded {
		require.True(t, isRecoveryScenario(name) || slices.ContainsFunc(scenarios, func(sc scenario) bool { return sc.name == name }),
			"testdata has histories of %s, which is not a scenario: keep the scenario that recorded them", name)
	}
}

// recordedExecution is the workflow and run ID the server recorded in the started event. The
// event workflow names its children after both, so replay under any other execution (the
// replayer's default ID is "ReplayId") would not match the history.
func recordedExecution(hist *historypb.History) workflow.Execution {
	started := hist.GetEvents()[0].GetWorkflowExecutionStartedEventAttributes()
	return workflow.Execution{ID: started.GetWorkflowId(), RunID: started.GetOriginalExecutionRunId()}
}

func startsChildren(hist *historypb.History) bool {
	return slices.ContainsFunc(hist.GetEvents(), func(ev *historypb.HistoryEvent) bool {
		return ev.GetStartChildWorkflowExecutionInitiatedEventAttributes() != nil
	})
}

// replay replays hist as execution, with the workflows registered as the worker registers them
// and the worker's interceptors (its Temporal client's: the tracing one), so what replays is
// what the worker runs.
func replay(hist *historypb.History, execution workflow.Execution) error {
	traces, err := tracing.TemporalInterceptor()
	if err != nil {
		return err
	}
	r, err := sdkworker.NewWorkflowReplayerWithOptions(sdkworker.WorkflowReplayerOptions{Interceptors: []interceptor.WorkerInterceptor{traces}})
	if err != nil {
		return err
	}
	workflows.Register(replayerRegistry{r}, nil)
	return r.ReplayWorkflowHistoryWithOptions(quietLogger(), hist, sdkworker.ReplayWorkflowHistoryOptions{OriginalExecution: execution})
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
// histories to new files in testdata, named for -shape. It runs only with -record, and refuses a
// scenario whose file exists: recorded histories are never rewritten (select the new scenarios
// with -run, or record a new shape with -shape).
func TestRecordHistories(t *testing.T) {
	if !*record {
		t.Skip("records histories only with -record")
	}
	if *shape != "" {
		require.True(t, validShape(*shape), "-shape=%s: lower-case words joined by hyphens, the value of a change ID", *shape)
		require.Contains(t, slices.Collect(maps.Values(listedChangeIDs(t))), *shape, "-shape=%s is not a change ID in versions.go", *shape)
	}
	if _, err := testenv.TemporalBin(); err != nil {
		t.Fatalf("-record needs the Temporal CLI: %v", err)
	}
	dev := testenv.Temporal(t)
	ctx := testenv.Context(t, 5*time.Minute)
	c := dial(ctx, t, dev)
	defer c.Close()

	const taskQueue = "record-histories"
	startFakeWorker(t, c, taskQueue, nil)

	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			for _, h := range sc.files(*shape) {
				_, err := os.Stat(h.path())
				require.ErrorIs(t, err, fs.ErrNotExist, "%s is recorded: histories are never rewritten; record a new shape beside it with -shape", h.path())
			}
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: sc.workflowID(), TaskQueue: taskQueue, TypedSearchAttributes: sc.input().SearchAttributes(),
			}, workflows.EventWorkflowName, sc.input())
			require.NoError(t, err)
			var sum workflows.Summary
			if err := run.Get(ctx, &sum); sc.fails {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
				for i := range sum.FailedBatches {
					require.NotEmpty(t, sum.FailedBatches[i].Error)
					require.Contains(t, sum.FailedBatches[i].WorkflowID, sc.workflowID())
					sum.FailedBatches[i].Error, sum.FailedBatches[i].WorkflowID = "", ""
				}
				require.Equal(t, sc.want, sum)
			}

			hist := history(ctx, t, c, run.GetID(), run.GetRunID())
			if *shape == "" {
				require.False(t, slices.ContainsFunc(hist.GetEvents(), isVersionMarker),
					"the run took a workflow.GetVersion branch: it is not the shape released first; name it with -shape")
			}
			writeHistory(t, historyName{scenario: sc.name, shape: *shape, child: -1}.path(), hist)
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
				writeHistory(t, historyName{scenario: sc.name, shape: *shape, child: n}.path(), history(ctx, t, c, ex.GetWorkflowId(), ex.GetRunId()))
			}
		})
	}
}

// tookChange reports whether the history took the new branch of the change ID: a version marker
// names it.
func tookChange(hist *historypb.History, changeID string) bool {
	return slices.ContainsFunc(hist.GetEvents(), func(ev *historypb.HistoryEvent) bool {
		if !isVersionMarker(ev) {
			return false
		}
		p := ev.GetMarkerRecordedEventAttributes().GetDetails()["change-id"]
		var id string
		return p != nil && len(p.GetPayloads()) == 1 && json.Unmarshal(p.GetPayloads()[0].GetData(), &id) == nil && id == changeID
	})
}

// isVersionMarker reports whether ev is the marker workflow.GetVersion records.
func isVersionMarker(ev *historypb.HistoryEvent) bool {
	return ev.GetMarkerRecordedEventAttributes().GetMarkerName() == "Version"
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

// writeHistory writes hist to a new file as `temporal workflow show --output json` does.
func writeHistory(t *testing.T, file string, hist *historypb.History) {
	t.Helper()
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
	require.NoError(t, err)
	// O_EXCL: a recorded history is never overwritten, even by a scenario recorded twice.
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	require.NoError(t, err)
	_, err = f.Write(append(b, '\n'))
	require.NoError(t, errors.Join(err, f.Close()))
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
	if in.EventID == "evt_rec_plan_expired" {
		return activities.Plan{}, eventMissing()
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
// wh_*unrecorded* are handed back unwritten, wh_unsent is pending and unsent. The fallback
// scenario's batches fail before sending, batch-may-have-sent's after, batch-expired's fail
// permanently.
func fakeBatch(_ context.Context, in activities.BatchInput) (activities.BatchResult, error) {
	switch in.EventID {
	case "evt_rec_fallback":
		return activities.BatchResult{}, errors.New("the database is busy")
	case "evt_rec_batch_may_have_sent":
		return activities.BatchResult{}, errors.New("the batch timed out after sending")
	case "evt_rec_batch_expired":
		return activities.BatchResult{}, eventMissing()
	}
	if slices.Contains(in.WebhookIDs, "wh_batch_expired") {
		return activities.BatchResult{}, eventMissing()
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
		case id == "wh_unsent":
			o.Status, o.RetryDelay, o.Unsent = pcx.DeliveryPending, time.Second, true
		}
		res.Outcomes = append(res.Outcomes, o)
		if strings.HasSuffix(id, "unrecorded") {
			res.Unrecorded = append(res.Unrecorded, pcx.Delivery{WebhookID: id, EndpointURL: "https://receiver.example/" + id, Status: o.Status, Attempt: att})
		}
	}
	return res, nil
}

// fakeDeliver answers by webhook ID: wh_retry fails its first attempt, wh_failed fails,
// wh_retry_unrecorded is delivered but unrecorded, wh_retry_expired ends with a permanent error;
// the rest are delivered.
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
	case "wh_retry_expired":
		return activities.DeliverResult{}, eventMissing()
	}
	return ok, nil
}

func fakeRecordOutcome(context.Context, activities.RecordOutcomeInput) error { return nil }

func fakeRecordOutcomes(context.Context, activities.RecordOutcomesInput) error { return nil }

// fakeReadOutcomes answers from the records of batch-may-have-sent's chunk (wh_ok delivered,
// wh_retry pending after one send); every other delivery has none, as after the fallback
// scenario's batch, which sent nothing.
func fakeReadOutcomes(_ context.Context, in activities.ReadOutcomesInput) (activities.ReadOutcomesResult, error) {
	var res activities.ReadOutcomesResult
	for _, id := range in.WebhookIDs {
		o := activities.RecordedOutcome{WebhookID: id, Status: pcx.DeliveryPending}
		if in.EventID == "evt_rec_batch_may_have_sent" {
			switch id {
			case "wh_ok":
				o.Status, o.Sent = pcx.DeliveryDelivered, 1
			case "wh_retry":
				o.Sent, o.RetryDelay = 1, time.Second
			}
		}
		res.Outcomes = append(res.Outcomes, o)
	}
	return res, nil
}
