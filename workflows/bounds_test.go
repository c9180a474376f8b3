package workflows_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/workflows"
)

// The largest histories an event can write (docs/reliability.md states them). Temporal
// terminates a workflow whose history passes 51,200 events or 50 MB, and warns from 10,240
// events; each bound keeps under the warning.
//
// How many events a delivery adds depends on timing: its timer, its Deliver activity and its
// RecordOutcome add 8, and each may wake the workflow in a workflow task of its own (3 more) or
// share one with other deliveries (a quiet machine shares most, ~10 per delivery measured). The
// bounds take none shared: 17 per delivery.
const (
	perDeliveryMax = 2 + 3 + 3 + 3 + 3 + 3 // timer, its task; Deliver, its task; RecordOutcome, its task
	// maxEventHistory bounds an event's own workflow: planning failing MaxPlanFailures times
	// (6 events each, the version's 2 and the first attempt's 6), then InlineLimit deliveries
	// that each take every step there is, with the batches' markers and RecordOutcomes.
	maxEventHistory = workflows.MaxPlanFailures*6 + 8 + workflows.InlineLimit*perDeliveryMax + 100 // 5,308
	// maxChildHistory bounds a child batch: PlanPageSize deliveries that each take every step.
	maxChildHistory = workflows.PlanPageSize*perDeliveryMax + 100 // 8,600
	// maxParentEventsPerPage bounds what each page of a large fan-out adds to the event's own
	// history (its planning, the child's start and end, the workflow tasks between).
	maxParentEventsPerPage = 8
	temporalWarnEvents     = 10_240
	temporalMaxBytes       = 50 << 20
)

// boundFakes make every delivery take every step a history can record: a first attempt in a
// batch that hands back its records unwritten (RecordOutcomes), a timer before the retry, a
// durable Deliver whose outcome is unrecorded (RecordOutcome). IDs starting wh_ok are delivered
// by their first attempt, with nothing more.
func boundPlan(_ context.Context, in activities.PlanInput) (activities.Plan, error) {
	pages := boundPages[in.EventID]
	page := 0
	if in.After != "" {
		page = int(in.After[0] - '0')
	}
	plan := activities.Plan{WebhookIDs: pages[page]}
	if page+1 < len(pages) {
		plan.Next = string(rune('0' + page + 1))
	}
	return plan, nil
}

var boundPages = map[string][][]string{
	// An inline fan-out at its largest.
	"evt_bound_inline": {webhookIDs("wh_retry_", workflows.InlineLimit)},
	// A single child at its largest.
	"evt_bound_child": {webhookIDs("wh_retry_", workflows.PlanPageSize)},
	// Five pages of children that deliver at once: what the parent adds per page.
	"evt_bound_pages": {
		webhookIDs("wh_ok_a", workflows.PlanPageSize), webhookIDs("wh_ok_b", workflows.PlanPageSize),
		webhookIDs("wh_ok_c", workflows.PlanPageSize), webhookIDs("wh_ok_d", workflows.PlanPageSize),
		webhookIDs("wh_ok_e", workflows.PlanPageSize),
	},
	"evt_bound_one_page": {webhookIDs("wh_ok_a", workflows.PlanPageSize)},
}

func boundBatch(_ context.Context, in activities.BatchInput) (activities.BatchResult, error) {
	var res activities.BatchResult
	for _, id := range in.WebhookIDs {
		if strings.HasPrefix(id, "wh_ok") {
			res.Outcomes = append(res.Outcomes, activities.Outcome{WebhookID: id, Status: pcx.DeliveryDelivered})
			continue
		}
		res.Outcomes = append(res.Outcomes, activities.Outcome{WebhookID: id, Status: pcx.DeliveryPending, RetryDelay: time.Second})
		res.Unrecorded = append(res.Unrecorded, pcx.Delivery{WebhookID: id, EndpointURL: "https://receiver.example/" + id, Status: pcx.DeliveryPending,
			Attempt: &pcx.Attempt{At: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), StatusCode: 503, ErrorClass: "http_status"}})
	}
	return res, nil
}

func boundDeliver(context.Context, activities.DeliverInput) (activities.DeliverResult, error) {
	return activities.DeliverResult{Status: pcx.DeliveryDelivered, Attempt: pcx.Attempt{StatusCode: 200}, Unrecorded: true}, nil
}

// TestHistoryBounds runs the largest histories an event and a child can write on the dev server
// (fake activities, every delivery taking every step) and checks them, with planning failing
// MaxPlanFailures times (its events per failure read from the recorded plan-retry history of
// the planning-ends shape), against the stated bounds and Temporal's limits.
func TestHistoryBounds(t *testing.T) {
	dev := testenv.Temporal(t)
	ctx := testenv.Context(t, 3*time.Minute)
	c := dial(ctx, t, dev)
	defer c.Close()

	const taskQueue = "history-bounds"
	startFakeWorker(t, c, taskQueue, map[string]any{"PlanDeliveries": boundPlan, "DeliverBatch": boundBatch, "Deliver": boundDeliver})

	run := func(t *testing.T, eventID string) (parent *historypb.History, children []*historypb.History) {
		r, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: workflows.EventWorkflowID(eventID), TaskQueue: taskQueue, TypedSearchAttributes: workflows.SearchAttributes(testOrgID, eventID),
		}, workflows.EventWorkflowName, workflows.EventInput{EventID: eventID, OrgID: testOrgID})
		require.NoError(t, err)
		var sum workflows.Summary
		require.NoError(t, r.Get(ctx, &sum))
		n := 0
		for _, p := range boundPages[eventID] {
			n += len(p)
		}
		require.Equal(t, workflows.Summary{Endpoints: n, Delivered: n}, sum)
		parent = history(ctx, t, c, r.GetID(), r.GetRunID())
		for _, ev := range parent.GetEvents() {
			if ex := ev.GetChildWorkflowExecutionStartedEventAttributes().GetWorkflowExecution(); ex != nil {
				children = append(children, history(ctx, t, c, ex.GetWorkflowId(), ex.GetRunId()))
			}
		}
		return parent, children
	}

	recorded, err := readHistory(historyName{scenario: "plan-retry", shape: workflows.ChangePlanningEnds, child: -1}.path())
	require.NoError(t, err)
	perFailure := eventsPerPlanFailure(t, recorded)
	t.Logf("a failed planning attempt adds %d events", perFailure)
	require.LessOrEqual(t, perFailure, 6, "the figure MaxPlanFailures' doc states")

	inline, _ := run(t, "evt_bound_inline")
	// The first planning attempt runs before the version is asked, within the old shape's
	// minute: the SDK may heartbeat its workflow task twice (3 events each).
	event := workflows.MaxPlanFailures*perFailure + 2 + 2*3 + len(inline.GetEvents())
	t.Logf("event workflow: %d events for %d deliveries (%d bytes), %d with planning failing %d times",
		len(inline.GetEvents()), workflows.InlineLimit, proto.Size(inline), event, workflows.MaxPlanFailures)
	require.LessOrEqual(t, event, maxEventHistory)

	_, children := run(t, "evt_bound_child")
	require.Len(t, children, 1)
	child := children[0]
	t.Logf("child batch: %d events for %d deliveries (%d bytes)", len(child.GetEvents()), workflows.PlanPageSize, proto.Size(child))
	require.LessOrEqual(t, len(child.GetEvents()), maxChildHistory)

	one, _ := run(t, "evt_bound_one_page")
	five, children := run(t, "evt_bound_pages")
	require.Len(t, children, 5)
	perPage := (len(five.GetEvents()) - len(one.GetEvents())) / 4
	t.Logf("parent: %d events for 1 page, %d for 5: %d per page of %d endpoints", len(one.GetEvents()), len(five.GetEvents()), perPage, workflows.PlanPageSize)
	require.LessOrEqual(t, perPage, maxParentEventsPerPage)

	for _, n := range []int{maxEventHistory, maxChildHistory} {
		require.Less(t, n, temporalWarnEvents)
	}
	// Bytes: the largest history is a fraction of Temporal's 50 MB, at this many events.
	require.Less(t, proto.Size(child)*temporalWarnEvents/len(child.GetEvents()), temporalMaxBytes/10)
}

// eventsPerPlanFailure counts the events between a PlanDeliveries local activity that failed and
// the next one, the GetVersion marker of the first failure and its search-attribute upsert
// (TemporalChangeVersion) aside: they are written once.
func eventsPerPlanFailure(t *testing.T, hist *historypb.History) int {
	t.Helper()
	first, n := -1, 0
	for i, ev := range hist.GetEvents() {
		m := ev.GetMarkerRecordedEventAttributes()
		if m != nil && m.GetMarkerName() == "LocalActivity" {
			if first >= 0 {
				return n
			}
			if m.GetFailure() != nil {
				first = i
			}
		}
		if first >= 0 && !isVersionMarker(ev) && ev.GetUpsertWorkflowSearchAttributesEventAttributes() == nil {
			n++
		}
	}
	t.Fatalf("no failed planning followed by another in %d events", len(hist.GetEvents()))
	return 0
}
