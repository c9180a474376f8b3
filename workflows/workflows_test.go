package workflows_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/worker"
	"github.com/pcx/publicservice/workflows"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

const (
	testEventID = "evt_01jtestevent"
	testOrgID   = "org_test"
)

// a names the activities in mocks, as the workflows do.
var a *activities.Activities

// webhookIDs returns n webhook IDs starting with prefix, in order.
func webhookIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%05d", prefix, i)
	}
	return ids
}

// planner serves a fan-out plan page by page, as PlanDeliveries does: page i is asked for with
// After = the Next of page i-1, and every page but the last names the next.
type planner struct {
	mu     sync.Mutex
	pages  [][]string
	inputs []activities.PlanInput
}

func (p *planner) plan(_ context.Context, in activities.PlanInput) (activities.Plan, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inputs = append(p.inputs, in)
	page := 0
	if in.After != "" {
		if _, err := fmt.Sscanf(in.After, "page-%d", &page); err != nil {
			return activities.Plan{}, temporal.NewNonRetryableApplicationError("bad position "+in.After, "Test", nil)
		}
	}
	if page >= len(p.pages) {
		return activities.Plan{}, temporal.NewNonRetryableApplicationError("no page "+in.After, "Test", nil)
	}
	plan := activities.Plan{WebhookIDs: p.pages[page]}
	if page+1 < len(p.pages) {
		plan.Next = fmt.Sprintf("page-%d", page+1)
	}
	return plan, nil
}

// delivery is one Deliver invocation as the mock saw it.
type delivery struct {
	In         activities.DeliverInput
	WorkflowID string // the workflow that scheduled it
	Attempt    int32
}

// deliveries records Deliver invocations and answers them with outcome.
type deliveries struct {
	mu      sync.Mutex
	calls   []delivery
	outcome func(in activities.DeliverInput, attempt int32) (activities.DeliverResult, error)
}

func (d *deliveries) deliver(ctx context.Context, in activities.DeliverInput) (activities.DeliverResult, error) {
	info := activity.GetInfo(ctx)
	d.mu.Lock()
	d.calls = append(d.calls, delivery{In: in, WorkflowID: info.WorkflowExecution.ID, Attempt: info.Attempt})
	d.mu.Unlock()
	if d.outcome == nil {
		return delivered(), nil
	}
	return d.outcome(in, info.Attempt)
}

// all returns the invocations so far.
func (d *deliveries) all() []delivery {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]delivery(nil), d.calls...)
}

// perWebhook counts invocations by webhook ID.
func (d *deliveries) perWebhook() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := map[string]int{}
	for _, c := range d.calls {
		n[c.In.WebhookID]++
	}
	return n
}

// perWorkflow counts invocations by the workflow that scheduled them.
func (d *deliveries) perWorkflow() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := map[string]int{}
	for _, c := range d.calls {
		n[c.WorkflowID]++
	}
	return n
}

func delivered() activities.DeliverResult {
	return activities.DeliverResult{Status: pcx.DeliveryDelivered, Attempt: pcx.Attempt{StatusCode: 200}}
}

func failed() activities.DeliverResult {
	return activities.DeliverResult{Status: pcx.DeliveryFailed, Attempt: pcx.Attempt{StatusCode: 500, ErrorClass: "http_status"}}
}

type WorkflowSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment

	mu       sync.Mutex
	children map[string]workflows.BatchInput // child workflow ID → its input
}

func TestWorkflows(t *testing.T) { suite.Run(t, new(WorkflowSuite)) }

func (s *WorkflowSuite) SetupTest() {
	s.SetLogger(quietLogger())
	env := s.NewTestWorkflowEnvironment()
	worker.Register(env, &activities.Activities{})
	s.use(env)
}

// use makes env the suite's environment: the event's workflow ID, and children recorded.
func (s *WorkflowSuite) use(env *testsuite.TestWorkflowEnvironment) {
	s.env = env
	s.env.SetTestTimeout(60 * time.Second)
	s.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.EventWorkflowID(testEventID)})
	s.children = map[string]workflows.BatchInput{}
	s.env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, args converter.EncodedValues) {
		var in workflows.BatchInput
		s.Require().NoError(args.Get(&in))
		s.mu.Lock()
		defer s.mu.Unlock()
		s.children[info.WorkflowExecution.ID] = in
	})
}

func (s *WorkflowSuite) TearDownTest() { s.env.AssertExpectations(s.T()) }

// mockPlan answers PlanDeliveries from pages.
func (s *WorkflowSuite) mockPlan(pages ...[]string) *planner {
	p := &planner{pages: pages}
	s.env.OnActivity(a.PlanDeliveries, mock.Anything, mock.Anything).Return(p.plan)
	return p
}

// mockDeliver answers Deliver with outcome (nil: delivered).
func (s *WorkflowSuite) mockDeliver(outcome func(activities.DeliverInput, int32) (activities.DeliverResult, error)) *deliveries {
	d := &deliveries{outcome: outcome}
	s.env.OnActivity(a.Deliver, mock.Anything, mock.Anything).Return(d.deliver)
	return d
}

// run executes the event workflow and returns its summary; it must complete without error.
func (s *WorkflowSuite) run(in workflows.EventInput) workflows.Summary {
	s.T().Helper()
	s.env.ExecuteWorkflow(workflows.EventWorkflowName, in)
	s.Require().True(s.env.IsWorkflowCompleted(), "workflow did not complete")
	s.Require().NoError(s.env.GetWorkflowError())
	var sum workflows.Summary
	s.Require().NoError(s.env.GetWorkflowResult(&sum))
	return sum
}

func (s *WorkflowSuite) child(id string) workflows.BatchInput {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.children[id]
}

func (s *WorkflowSuite) childIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.children))
	for id := range s.children {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// childID is the ID startBatch gives page's child: the parent's ID, its run ID (the test
// environment's is "default-test-run-id") and the page.
func childID(page int) string {
	return fmt.Sprintf("%s/default-test-run-id/batch-%d", workflows.EventWorkflowID(testEventID), page)
}

func event() workflows.EventInput {
	return workflows.EventInput{EventID: testEventID, OrgID: testOrgID}
}

func (s *WorkflowSuite) TestFanOutDeliversOncePerEndpoint() {
	ids := webhookIDs("wh_", 7)
	p := s.mockPlan(ids)
	d := s.mockDeliver(nil)

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 7, Delivered: 7}, sum)
	calls := d.all()
	s.Require().Len(calls, 7, "want one Deliver per endpoint")
	for _, c := range calls {
		s.Equal(testEventID, c.In.EventID)
		s.Equal(testOrgID, c.In.OrgID)
		s.Equal(workflows.EventWorkflowID(testEventID), c.WorkflowID, "inline deliveries belong to the event's workflow")
	}
	want := map[string]int{}
	for _, id := range ids {
		want[id] = 1
	}
	s.Equal(want, d.perWebhook())
	s.Equal([]activities.PlanInput{{EventID: testEventID, OrgID: testOrgID, Limit: workflows.PlanPageSize}}, p.inputs)
	s.Empty(s.childIDs(), "a fan-out of 7 is delivered inline")
}

func (s *WorkflowSuite) TestPartialFailureIsCountedNotFatal() {
	s.mockPlan(webhookIDs("wh_", 6))
	outcomes := map[string]activities.DeliverResult{
		"wh_00001": failed(),
		"wh_00003": {Status: pcx.DeliveryCancelled},
		"wh_00004": failed(),
	}
	d := s.mockDeliver(func(in activities.DeliverInput, _ int32) (activities.DeliverResult, error) {
		if r, ok := outcomes[in.WebhookID]; ok {
			return r, nil
		}
		return delivered(), nil
	})

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 6, Delivered: 3, Failed: 2, Cancelled: 1}, sum)
	s.Len(d.all(), 6)
}

func (s *WorkflowSuite) TestRetryableErrorIsRetriedByTemporalWithItsDelay() {
	s.mockPlan(webhookIDs("wh_", 3))
	const delay = time.Hour
	d := s.mockDeliver(func(in activities.DeliverInput, attempt int32) (activities.DeliverResult, error) {
		if in.WebhookID == "wh_00001" && attempt <= 2 {
			return activities.DeliverResult{}, temporal.NewApplicationErrorWithOptions("attempt failed", "DeliveryAttemptFailed",
				temporal.ApplicationErrorOptions{NextRetryDelay: delay})
		}
		return delivered(), nil
	})
	start := s.env.Now()

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 3, Delivered: 3}, sum)
	s.Equal(map[string]int{"wh_00000": 1, "wh_00001": 3, "wh_00002": 1}, d.perWebhook())
	var attempts []int32
	for _, c := range d.all() {
		if c.In.WebhookID == "wh_00001" {
			attempts = append(attempts, c.Attempt)
		}
	}
	s.Equal([]int32{1, 2, 3}, attempts)
	// The retry policy alone would wait 5s then 10s; the error's NextRetryDelay wins.
	s.GreaterOrEqual(s.env.Now().Sub(start), 2*delay, "retries must wait the NextRetryDelay the activity asked for")
}

func (s *WorkflowSuite) TestRetriesWithTimesChains() {
	// The same as above with testify call chains: two retryable failures, then delivered.
	s.env.OnActivity(a.PlanDeliveries, mock.Anything, mock.Anything).Return(activities.Plan{WebhookIDs: []string{"wh_a"}}, nil).Once()
	retry := temporal.NewApplicationErrorWithOptions("attempt failed", "DeliveryAttemptFailed",
		temporal.ApplicationErrorOptions{NextRetryDelay: 5 * time.Minute})
	s.env.OnActivity(a.Deliver, mock.Anything, mock.Anything).Return(activities.DeliverResult{}, retry).Times(2)
	s.env.OnActivity(a.Deliver, mock.Anything, mock.Anything).Return(delivered(), nil).Once()

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 1, Delivered: 1}, sum)
	s.env.AssertNumberOfCalls(s.T(), "Deliver", 3)
}

func (s *WorkflowSuite) TestNonRetryableErrorFailsAfterOneCall() {
	s.mockPlan(webhookIDs("wh_", 4))
	d := s.mockDeliver(func(in activities.DeliverInput, _ int32) (activities.DeliverResult, error) {
		if in.WebhookID == "wh_00002" {
			return activities.DeliverResult{}, temporal.NewNonRetryableApplicationError("event not found", "EventMissing", nil)
		}
		return delivered(), nil
	})

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 4, Delivered: 3, Failed: 1}, sum)
	s.Equal(1, d.perWebhook()["wh_00002"], "a non-retryable error must not be retried")
	s.Len(d.all(), 4)
}

func (s *WorkflowSuite) TestFailedResultIsFinal() {
	// What Deliver returns after a 410 Gone (or an exhausted schedule): a result, so Temporal
	// has nothing to retry.
	s.mockPlan([]string{"wh_gone"})
	d := s.mockDeliver(func(activities.DeliverInput, int32) (activities.DeliverResult, error) {
		return activities.DeliverResult{Status: pcx.DeliveryFailed, Attempt: pcx.Attempt{StatusCode: 410, ErrorClass: "gone"}}, nil
	})

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 1, Failed: 1}, sum)
	s.Len(d.all(), 1, "a failed result must not be retried")
}

func (s *WorkflowSuite) TestUnrecordedResultIsRecordedOnce() {
	s.mockPlan(webhookIDs("wh_", 3))
	unrecorded := activities.DeliverResult{
		Status: pcx.DeliveryDelivered, Unrecorded: true,
		Attempt: pcx.Attempt{At: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), StatusCode: 204, Duration: 42 * time.Millisecond},
	}
	s.mockDeliver(func(in activities.DeliverInput, _ int32) (activities.DeliverResult, error) {
		if in.WebhookID == "wh_00001" {
			return unrecorded, nil
		}
		return delivered(), nil
	})
	want := activities.RecordOutcomeInput{
		DeliverInput: activities.DeliverInput{EventID: testEventID, OrgID: testOrgID, WebhookID: "wh_00001"},
		Result:       unrecorded,
	}
	s.env.OnActivity(a.RecordOutcome, mock.Anything, want).Return(nil).Once()

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 3, Delivered: 3}, sum)
	s.env.AssertNumberOfCalls(s.T(), "RecordOutcome", 1)
}

func (s *WorkflowSuite) TestReplaySubsetIsPassedToPlanning() {
	subset := []string{"wh_00002", "wh_00005"}
	p := s.mockPlan(subset)
	d := s.mockDeliver(nil)
	in := event()
	in.WebhookIDs = subset

	sum := s.run(in)

	s.Equal(workflows.Summary{Endpoints: 2, Delivered: 2}, sum)
	s.Require().Len(p.inputs, 1)
	s.Equal(subset, p.inputs[0].WebhookIDs)
	s.Equal(map[string]int{"wh_00002": 1, "wh_00005": 1}, d.perWebhook())
}

func (s *WorkflowSuite) TestPlanningErrorFailsTheWorkflow() {
	s.env.OnActivity(a.PlanDeliveries, mock.Anything, mock.Anything).
		Return(activities.Plan{}, temporal.NewNonRetryableApplicationError("event not found", "EventMissing", nil)).Once()

	s.env.ExecuteWorkflow(workflows.EventWorkflowName, event())

	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().Error(s.env.GetWorkflowError())
	s.env.AssertNotCalled(s.T(), "Deliver", mock.Anything, mock.Anything)
}

func (s *WorkflowSuite) TestInlineLimitIsDeliveredInline() {
	ids := webhookIDs("wh_", workflows.InlineLimit)
	s.mockPlan(ids)
	d := s.mockDeliver(nil)

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: workflows.InlineLimit, Delivered: workflows.InlineLimit}, sum)
	s.Empty(s.childIDs(), "InlineLimit endpoints start no child")
	s.Equal(map[string]int{workflows.EventWorkflowID(testEventID): workflows.InlineLimit}, d.perWorkflow())
}

func (s *WorkflowSuite) TestAboveInlineLimitGoesToAChild() {
	ids := webhookIDs("wh_", workflows.InlineLimit+1)
	s.mockPlan(ids)
	s.env.OnWorkflow(workflows.BatchWorkflowName, mock.Anything, mock.Anything).
		Return(workflows.Summary{Endpoints: len(ids), Delivered: len(ids) - 1, Failed: 1}, nil).Once()

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: len(ids), Delivered: len(ids) - 1, Failed: 1}, sum, "the parent adds up its children")
	s.Equal([]string{childID(0)}, s.childIDs())
	s.Equal(workflows.BatchInput{EventID: testEventID, OrgID: testOrgID, WebhookIDs: ids}, s.child(childID(0)))
	s.env.AssertNotCalled(s.T(), "Deliver", mock.Anything, mock.Anything)
}

func (s *WorkflowSuite) TestPagesBecomeChildBatches() {
	// A first page that names a next one is never delivered inline, however short; an empty
	// last page starts no child.
	pages := [][]string{webhookIDs("wh_a", 3), webhookIDs("wh_b", 2), nil}
	p := s.mockPlan(pages...)
	d := s.mockDeliver(func(in activities.DeliverInput, _ int32) (activities.DeliverResult, error) {
		switch in.WebhookID {
		case "wh_a00001":
			return failed(), nil
		case "wh_b00000":
			return activities.DeliverResult{Status: pcx.DeliveryCancelled}, nil
		}
		return delivered(), nil
	})

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 5, Delivered: 3, Failed: 1, Cancelled: 1}, sum)
	s.Equal([]string{childID(0), childID(1)}, s.childIDs())
	for page, id := range []string{childID(0), childID(1)} {
		s.Equal(workflows.BatchInput{EventID: testEventID, OrgID: testOrgID, WebhookIDs: pages[page]}, s.child(id))
	}
	s.Equal(map[string]int{childID(0): 3, childID(1): 2}, d.perWorkflow(), "each child delivers its own page")
	var after []string
	for _, in := range p.inputs {
		s.Equal(workflows.PlanPageSize, in.Limit)
		after = append(after, in.After)
	}
	s.Equal([]string{"", "page-1", "page-2"}, after, "each page is asked for from the previous one's Next")
}

func (s *WorkflowSuite) TestChildrenCarryTheSearchAttributes() {
	s.mockPlan(webhookIDs("wh_", workflows.InlineLimit+1))
	s.mockDeliver(nil)
	var attrs []temporal.SearchAttributes
	s.env.SetOnChildWorkflowStartedListener(func(_ *workflow.Info, ctx workflow.Context, _ converter.EncodedValues) {
		attrs = append(attrs, workflow.GetTypedSearchAttributes(ctx))
	})

	s.run(event())

	s.Require().Len(attrs, 1)
	org, ok := attrs[0].GetKeyword(workflows.OrgIDAttr)
	s.True(ok)
	s.Equal(testOrgID, org)
	ev, ok := attrs[0].GetKeyword(workflows.EventIDAttr)
	s.True(ok)
	s.Equal(testEventID, ev)
}

func (s *WorkflowSuite) TestTenThousandEndpointsInTwentyChildren() {
	const endpoints = 10_000
	all := webhookIDs("wh_", endpoints)
	var pages [][]string
	for i := 0; i < endpoints; i += workflows.PlanPageSize {
		pages = append(pages, all[i:i+workflows.PlanPageSize])
	}
	s.Require().Len(pages, 20)
	// Fakes registered under the activities' names rather than testify mocks: a mock call
	// walks the stack, which would make up a third of this test's time.
	p := &planner{pages: pages}
	d := &deliveries{}
	env := s.NewTestWorkflowEnvironment()
	worker.Register(workflowsOnly{env}, nil)
	env.RegisterActivityWithOptions(p.plan, activity.RegisterOptions{Name: "PlanDeliveries"})
	env.RegisterActivityWithOptions(d.deliver, activity.RegisterOptions{Name: "Deliver"})
	s.use(env)
	// Each child schedules 500 activities in its first workflow task; under the race detector,
	// with 20 children at once, that can take longer than the 1s deadlock detector allows.
	s.env.SetWorkerOptions(sdkworker.Options{DeadlockDetectionTimeout: time.Minute})
	var parentActivities int
	s.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.WorkflowExecution.ID == workflows.EventWorkflowID(testEventID) {
			parentActivities++ // the listener runs on the test environment's dispatch loop
		}
	})

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: endpoints, Delivered: endpoints}, sum)
	s.Len(s.childIDs(), 20)
	for i := range pages {
		s.Equal(workflows.PlanPageSize, d.perWorkflow()[childID(i)], "child %d", i)
	}
	perWebhook := d.perWebhook()
	s.Len(perWebhook, endpoints)
	for id, n := range perWebhook {
		if n != 1 {
			s.Failf("delivered more than once", "%s: %d calls", id, n)
		}
	}
	// The parent's history holds only the planning steps and the children: about 3 events for
	// each of 20 activities and 20 children, far from Temporal's 50k-event limit, however large
	// the fan-out.
	s.Len(p.inputs, 20)
	s.Equal(20, parentActivities, "the parent runs only PlanDeliveries; deliveries happen in children")
	s.Zero(d.perWorkflow()[workflows.EventWorkflowID(testEventID)])
}

func TestWorkflowIDs(t *testing.T) {
	if got, want := workflows.EventWorkflowID("evt_01j"), "webhook-event-evt_01j"; got != want {
		t.Errorf("EventWorkflowID = %q, want %q", got, want)
	}
	if got, want := workflows.ReplayWorkflowID("evt_01j", "rpl_9"), "webhook-event-evt_01j-replay-rpl_9"; got != want {
		t.Errorf("ReplayWorkflowID = %q, want %q", got, want)
	}
}

func TestSearchAttributes(t *testing.T) {
	if got := workflows.OrgIDAttr.GetName(); got != "PcxOrgId" {
		t.Errorf("OrgIDAttr name = %q, want PcxOrgId (registered on the server under that name)", got)
	}
	if got := workflows.EventIDAttr.GetName(); got != "PcxEventId" {
		t.Errorf("EventIDAttr name = %q, want PcxEventId", got)
	}
	sa := workflows.SearchAttributes("org_1", "evt_2")
	if sa.Size() != 2 {
		t.Errorf("got %d search attributes, want 2", sa.Size())
	}
	if v, ok := sa.GetKeyword(workflows.OrgIDAttr); !ok || v != "org_1" {
		t.Errorf("PcxOrgId = %q, %v; want org_1", v, ok)
	}
	if v, ok := sa.GetKeyword(workflows.EventIDAttr); !ok || v != "evt_2" {
		t.Errorf("PcxEventId = %q, %v; want evt_2", v, ok)
	}
}
