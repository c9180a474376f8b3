package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/suite"
	enumspb "go.temporal.io/api/enums/v1"
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

// batchCall is one DeliverBatch invocation as the fake saw it.
type batchCall struct {
	In         activities.BatchInput
	WorkflowID string // the workflow that ran it
	Attempt    int32  // the local activity's attempt
}

// batches answers DeliverBatch as the activity does: one outcome per webhook, in order.
type batches struct {
	mu    sync.Mutex
	calls []batchCall
	// outcome answers a webhook (nil: delivered); fail, when it returns an error, fails the whole
	// batch before anything is sent; unrecorded says which outcomes the store did not take.
	outcome    func(id string) activities.Outcome
	fail       func(in activities.BatchInput, attempt int32) error
	unrecorded func(id string) bool
}

func (b *batches) deliverBatch(ctx context.Context, in activities.BatchInput) (activities.BatchResult, error) {
	info := activity.GetInfo(ctx)
	in.WebhookIDs = slices.Clone(in.WebhookIDs) // a local activity gets the workflow's own slice
	b.mu.Lock()
	b.calls = append(b.calls, batchCall{In: in, WorkflowID: info.WorkflowExecution.ID, Attempt: info.Attempt})
	b.mu.Unlock()
	if b.fail != nil {
		if err := b.fail(in, info.Attempt); err != nil {
			return activities.BatchResult{}, err
		}
	}
	res := activities.BatchResult{Outcomes: make([]activities.Outcome, len(in.WebhookIDs))}
	for i, id := range in.WebhookIDs {
		o := activities.Outcome{Status: pcx.DeliveryDelivered}
		if b.outcome != nil {
			o = b.outcome(id)
		}
		o.WebhookID = id
		res.Outcomes[i] = o
		if b.unrecorded != nil && b.unrecorded(id) {
			res.Unrecorded = append(res.Unrecorded, recordFor(o))
		}
	}
	return res, nil
}

// recordFor is the record a batch hands back for an outcome it could not write.
func recordFor(o activities.Outcome) pcx.Delivery {
	r := pcx.Delivery{WebhookID: o.WebhookID, EndpointURL: "https://receiver.example/" + o.WebhookID, Status: o.Status}
	if o.Status == pcx.DeliveryCancelled {
		r.Reason = "endpoint disabled"
		return r
	}
	r.Attempt = &pcx.Attempt{At: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), StatusCode: 200, Duration: 42 * time.Millisecond}
	if o.Status != pcx.DeliveryDelivered {
		r.Attempt.StatusCode, r.Attempt.ErrorClass = 503, "http_status"
	}
	return r
}

func (b *batches) all() []batchCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]batchCall(nil), b.calls...)
}

// chunks returns the webhook IDs of each call, by their first ID: the local activities of a
// fan-out run at once, in no set order.
func (b *batches) chunks() [][]string {
	var out [][]string
	for _, c := range b.all() {
		out = append(out, c.In.WebhookIDs)
	}
	slices.SortFunc(out, func(x, y []string) int { return strings.Compare(x[0], y[0]) })
	return out
}

// spans describes chunks briefly: "first..last (n)" each.
func spans(chunks [][]string) []string {
	out := make([]string, len(chunks))
	for i, c := range chunks {
		out[i] = fmt.Sprintf("%s..%s (%d)", c[0], c[len(c)-1], len(c))
	}
	return out
}

// perWorkflow counts the webhooks given to batches by the workflow that ran them.
func (b *batches) perWorkflow() map[string]int {
	n := map[string]int{}
	for _, c := range b.all() {
		n[c.WorkflowID] += len(c.In.WebhookIDs)
	}
	return n
}

func pending(delay time.Duration) activities.Outcome {
	return activities.Outcome{Status: pcx.DeliveryPending, RetryDelay: delay}
}

func final(st pcx.DeliveryStatus) activities.Outcome { return activities.Outcome{Status: st} }

// delivery is one Deliver invocation as the fake saw it.
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

// sentBefore returns the SentBefore of every invocation, by webhook ID.
func (d *deliveries) sentBefore() map[string][]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := map[string][]int{}
	for _, c := range d.calls {
		n[c.In.WebhookID] = append(n[c.In.WebhookID], c.In.SentBefore)
	}
	return n
}

func delivered() activities.DeliverResult {
	return activities.DeliverResult{Status: pcx.DeliveryDelivered, Attempt: pcx.Attempt{StatusCode: 200}}
}

func failed() activities.DeliverResult {
	return activities.DeliverResult{Status: pcx.DeliveryFailed, Attempt: pcx.Attempt{StatusCode: 500, ErrorClass: "http_status"}}
}

// attemptFailed is Deliver's error for a failed attempt with retries left.
func attemptFailed(next time.Duration) error {
	return temporal.NewApplicationErrorWithOptions("attempt failed", "DeliveryAttemptFailed",
		temporal.ApplicationErrorOptions{NextRetryDelay: next, Category: temporal.ApplicationErrorCategoryBenign})
}

func eventMissing() error {
	return temporal.NewNonRetryableApplicationError("event not found (expired past retention?)", "EventMissing", nil)
}

func storeDown() error { return pcx.Errorf(pcx.EUnavailable, "The database is busy") }

type WorkflowSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	env *testsuite.TestWorkflowEnvironment

	mu       sync.Mutex
	children map[string]workflows.BatchInput // child workflow ID → its input
	parents  map[string]workflow.Execution   // child workflow ID → its parent
}

func TestWorkflows(t *testing.T) { suite.Run(t, new(WorkflowSuite)) }

func (s *WorkflowSuite) SetupTest() {
	s.SetLogger(quietLogger())
	env := s.NewTestWorkflowEnvironment()
	workflows.Register(env, &activities.Activities{})
	s.use(env)
}

// use makes env the suite's environment: the event's workflow ID, and children recorded.
func (s *WorkflowSuite) use(env *testsuite.TestWorkflowEnvironment) {
	s.env = env
	s.env.SetTestTimeout(60 * time.Second)
	s.env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.EventWorkflowID(testEventID)})
	s.children = map[string]workflows.BatchInput{}
	s.parents = map[string]workflow.Execution{}
	s.env.SetOnChildWorkflowStartedListener(func(info *workflow.Info, _ workflow.Context, args converter.EncodedValues) {
		var in workflows.BatchInput
		s.Require().NoError(args.Get(&in))
		s.mu.Lock()
		defer s.mu.Unlock()
		s.children[info.WorkflowExecution.ID] = in
		s.parents[info.WorkflowExecution.ID] = *info.ParentWorkflowExecution
	})
}

func (s *WorkflowSuite) TearDownTest() { s.env.AssertExpectations(s.T()) }

// mockPlan answers PlanDeliveries from pages.
func (s *WorkflowSuite) mockPlan(pages ...[]string) *planner {
	p := &planner{pages: pages}
	s.env.OnActivity(a.PlanDeliveries, mock.Anything, mock.Anything).Return(p.plan)
	return p
}

// mockBatch answers DeliverBatch with b. It may go uncalled: tests count the calls they expect.
func (s *WorkflowSuite) mockBatch(b *batches) *batches {
	s.env.OnActivity(a.DeliverBatch, mock.Anything, mock.Anything).Return(b.deliverBatch).Maybe()
	return b
}

// mockDeliver answers Deliver with outcome (nil: delivered). It may go uncalled: tests count
// the calls they expect.
func (s *WorkflowSuite) mockDeliver(outcome func(activities.DeliverInput, int32) (activities.DeliverResult, error)) *deliveries {
	d := &deliveries{outcome: outcome}
	s.env.OnActivity(a.Deliver, mock.Anything, mock.Anything).Return(d.deliver).Maybe()
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
	ids := slices.Sorted(maps.Keys(s.children))
	return ids
}

// deliverStarts records when (on the environment's clock, from now) each Deliver started.
func (s *WorkflowSuite) deliverStarts() map[string][]time.Duration {
	start := s.env.Now()
	starts := map[string][]time.Duration{}
	s.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		if info.ActivityType.Name != "Deliver" {
			return
		}
		var in activities.DeliverInput
		s.Require().NoError(args.Get(&in))
		// The listener runs on the environment's dispatch loop: no lock needed.
		starts[in.WebhookID] = append(starts[in.WebhookID], s.env.Now().Sub(start))
	})
	return starts
}

// childID is the ID startBatch gives page's child: the parent's ID, its run ID (the test
// environment's is "default-test-run-id") and the page.
func childID(page int) string {
	return fmt.Sprintf("%s/default-test-run-id/batch-%d", workflows.EventWorkflowID(testEventID), page)
}

func event() workflows.EventInput {
	return workflows.EventInput{EventID: testEventID, OrgID: testOrgID}
}

// want1 maps each id to 1.
func want1(ids []string) map[string]int {
	m := map[string]int{}
	for _, id := range ids {
		m[id] = 1
	}
	return m
}

func (s *WorkflowSuite) TestFanOutDeliversOncePerEndpoint() {
	ids := webhookIDs("wh_", 7)
	p := s.mockPlan(ids)
	b := s.mockBatch(&batches{})
	d := s.mockDeliver(nil)

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 7, Delivered: 7}, sum)
	calls := b.all()
	s.Require().Len(calls, 1, "7 first attempts are one batch")
	s.Equal(activities.BatchInput{EventID: testEventID, OrgID: testOrgID, WebhookIDs: ids}, calls[0].In)
	s.Equal(workflows.EventWorkflowID(testEventID), calls[0].WorkflowID, "inline deliveries belong to the event's workflow")
	s.Equal(int32(1), calls[0].Attempt)
	s.Empty(d.all(), "delivered at the first attempt: no durable activity")
	s.Equal([]activities.PlanInput{{EventID: testEventID, OrgID: testOrgID, Limit: workflows.PlanPageSize}}, p.inputs)
	s.Empty(s.childIDs(), "a fan-out of 7 is delivered inline")
}

func (s *WorkflowSuite) TestFirstAttemptsGoInBatchesOfBatchSize() {
	// 250 endpoints are over the inline limit: one child, which makes its first attempts in
	// batches of 100, 100 and 50.
	ids := webhookIDs("wh_", 250)
	s.mockPlan(ids)
	b := s.mockBatch(&batches{})

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 250, Delivered: 250}, sum)
	chunks := b.chunks()
	s.Equal(spans([][]string{ids[:100], ids[100:200], ids[200:]}), spans(chunks), "consecutive chunks of BatchSize")
	s.True(slices.Equal(ids, slices.Concat(chunks...)), "the chunks hold every endpoint once, in the planned order")
	s.Equal(map[string]int{childID(0): 250}, b.perWorkflow())
	for _, c := range b.all() {
		s.Equal(testEventID, c.In.EventID)
		s.Equal(testOrgID, c.In.OrgID)
		s.LessOrEqual(len(c.In.WebhookIDs), workflows.BatchSize)
	}
}

func (s *WorkflowSuite) TestEmptyFanOut() {
	s.mockPlan(nil)
	b := s.mockBatch(&batches{})

	sum := s.run(event())

	s.Equal(workflows.Summary{}, sum)
	s.Empty(b.all(), "no endpoint, no batch")
	s.Empty(s.childIDs())
}

func (s *WorkflowSuite) TestPartialFailureIsCountedNotFatal() {
	s.mockPlan(webhookIDs("wh_", 6))
	outcomes := map[string]activities.Outcome{
		"wh_00001": final(pcx.DeliveryFailed),
		"wh_00003": final(pcx.DeliveryCancelled),
		"wh_00004": final(pcx.DeliveryFailed),
	}
	s.mockBatch(&batches{outcome: func(id string) activities.Outcome {
		if o, ok := outcomes[id]; ok {
			return o
		}
		return final(pcx.DeliveryDelivered)
	}})
	d := s.mockDeliver(nil)

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 6, Delivered: 3, Failed: 2, Cancelled: 1}, sum)
	s.Empty(d.all(), "final outcomes are not retried")
}

func (s *WorkflowSuite) TestPendingOutcomesAreRetriedDurablyAfterTheirDelay() {
	s.mockPlan(webhookIDs("wh_", 4))
	delays := map[string]time.Duration{"wh_00001": time.Hour, "wh_00003": 2 * time.Hour}
	s.mockBatch(&batches{outcome: func(id string) activities.Outcome {
		if d, ok := delays[id]; ok {
			return pending(d)
		}
		return final(pcx.DeliveryDelivered)
	}})
	d := s.mockDeliver(func(in activities.DeliverInput, _ int32) (activities.DeliverResult, error) {
		if in.WebhookID == "wh_00003" {
			return failed(), nil
		}
		return delivered(), nil
	})
	starts := s.deliverStarts()
	start := s.env.Now()

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 4, Delivered: 3, Failed: 1}, sum)
	s.Equal(map[string]int{"wh_00001": 1, "wh_00003": 1}, d.perWebhook(), "only pending outcomes are retried")
	for _, c := range d.all() {
		s.Equal(activities.DeliverInput{EventID: testEventID, OrgID: testOrgID, WebhookID: c.In.WebhookID, SentBefore: 1}, c.In,
			"the retry continues the schedule after the batch's send")
		s.Equal(workflows.EventWorkflowID(testEventID), c.WorkflowID)
	}
	for id, delay := range delays {
		s.Require().Len(starts[id], 1, id)
		s.GreaterOrEqual(starts[id][0], delay, "%s retried before its RetryDelay", id)
	}
	took := s.env.Now().Sub(start)
	s.GreaterOrEqual(took, 2*time.Hour, "the workflow waits for its last retry")
	s.Less(took, 3*time.Hour, "the retries wait side by side, not one after the other")
}

func (s *WorkflowSuite) TestRetryableErrorIsRetriedByTemporalWithItsDelay() {
	s.mockPlan(webhookIDs("wh_", 3))
	const first, next = 5 * time.Second, time.Hour
	s.mockBatch(&batches{outcome: func(id string) activities.Outcome {
		if id == "wh_00001" {
			return pending(first)
		}
		return final(pcx.DeliveryDelivered)
	}})
	d := s.mockDeliver(func(in activities.DeliverInput, attempt int32) (activities.DeliverResult, error) {
		if attempt <= 2 {
			return activities.DeliverResult{}, attemptFailed(next)
		}
		return delivered(), nil
	})
	start := s.env.Now()

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 3, Delivered: 3}, sum)
	var attempts []int32
	for _, c := range d.all() {
		s.Equal("wh_00001", c.In.WebhookID)
		s.Equal(1, c.In.SentBefore, "every Temporal attempt of the retry carries the batch's send")
		attempts = append(attempts, c.Attempt)
	}
	s.Equal([]int32{1, 2, 3}, attempts)
	// The retry policy alone would wait 5s then 10s; the error's NextRetryDelay wins.
	s.GreaterOrEqual(s.env.Now().Sub(start), first+2*next, "retries must wait the NextRetryDelay the activity asked for")
}

func (s *WorkflowSuite) TestRetriesWithTimesChains() {
	// The same as above with testify call chains: pending, two retryable failures, then delivered.
	s.env.OnActivity(a.PlanDeliveries, mock.Anything, mock.Anything).Return(activities.Plan{WebhookIDs: []string{"wh_a"}}, nil).Once()
	s.env.OnActivity(a.DeliverBatch, mock.Anything, activities.BatchInput{EventID: testEventID, OrgID: testOrgID, WebhookIDs: []string{"wh_a"}}).
		Return(activities.BatchResult{Outcomes: []activities.Outcome{{WebhookID: "wh_a", Status: pcx.DeliveryPending, RetryDelay: 5 * time.Second}}}, nil).Once()
	retry := activities.DeliverInput{EventID: testEventID, OrgID: testOrgID, WebhookID: "wh_a", SentBefore: 1}
	s.env.OnActivity(a.Deliver, mock.Anything, retry).Return(activities.DeliverResult{}, attemptFailed(5*time.Minute)).Times(2)
	s.env.OnActivity(a.Deliver, mock.Anything, retry).Return(delivered(), nil).Once()

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 1, Delivered: 1}, sum)
	s.env.AssertNumberOfCalls(s.T(), "DeliverBatch", 1)
	s.env.AssertNumberOfCalls(s.T(), "Deliver", 3)
}

func (s *WorkflowSuite) TestNonRetryableErrorOfARetryCountsAsFailed() {
	s.mockPlan(webhookIDs("wh_", 4))
	s.mockBatch(&batches{outcome: func(id string) activities.Outcome {
		if id == "wh_00002" {
			return pending(time.Minute)
		}
		return final(pcx.DeliveryDelivered)
	}})
	d := s.mockDeliver(func(activities.DeliverInput, int32) (activities.DeliverResult, error) {
		return activities.DeliverResult{}, eventMissing()
	})

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 4, Delivered: 3, Failed: 1}, sum)
	s.Equal(map[string]int{"wh_00002": 1}, d.perWebhook(), "a non-retryable error must not be retried")
}

func (s *WorkflowSuite) TestFailedRetryResultIsFinal() {
	// What Deliver returns after a 410 Gone (or an exhausted schedule): a result, so Temporal
	// has nothing to retry.
	s.mockPlan([]string{"wh_gone"})
	s.mockBatch(&batches{outcome: func(string) activities.Outcome { return pending(5 * time.Second) }})
	d := s.mockDeliver(func(activities.DeliverInput, int32) (activities.DeliverResult, error) {
		return activities.DeliverResult{Status: pcx.DeliveryFailed, Attempt: pcx.Attempt{StatusCode: 410, ErrorClass: "gone"}}, nil
	})

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 1, Failed: 1}, sum)
	s.Len(d.all(), 1, "a failed result must not be retried")
}

func (s *WorkflowSuite) TestUnrecordedBatchOutcomesAreRecordedBeforeTheirRetries() {
	// Two batches, each with outcomes the store did not take (a delivered, a pending and a
	// cancelled one): the workflow writes each batch's records with one RecordOutcomes, before
	// that batch's retries start, so a retry's record is never overtaken by the earlier one.
	ids := webhookIDs("wh_", 150)
	s.mockPlan(ids)
	outcomes := map[string]activities.Outcome{
		"wh_00001": final(pcx.DeliveryDelivered),
		"wh_00002": pending(time.Minute),
		"wh_00120": final(pcx.DeliveryCancelled),
	}
	b := s.mockBatch(&batches{
		outcome: func(id string) activities.Outcome {
			if o, ok := outcomes[id]; ok {
				return o
			}
			return final(pcx.DeliveryDelivered)
		},
		unrecorded: func(id string) bool { _, ok := outcomes[id]; return ok },
	})
	var recorded []string // in order, the records written and the retries started
	s.env.OnActivity(a.Deliver, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DeliverInput) (activities.DeliverResult, error) {
		recorded = append(recorded, "deliver "+in.WebhookID)
		return activities.DeliverResult{Status: pcx.DeliveryDelivered}, nil
	})
	first := activities.RecordOutcomesInput{EventID: testEventID, OrgID: testOrgID, Records: []pcx.Delivery{
		recordFor(activities.Outcome{WebhookID: "wh_00001", Status: pcx.DeliveryDelivered}),
		recordFor(activities.Outcome{WebhookID: "wh_00002", Status: pcx.DeliveryPending}),
	}}
	second := activities.RecordOutcomesInput{EventID: testEventID, OrgID: testOrgID, Records: []pcx.Delivery{
		recordFor(activities.Outcome{WebhookID: "wh_00120", Status: pcx.DeliveryCancelled}),
	}}
	for _, in := range []activities.RecordOutcomesInput{first, second} {
		s.env.OnActivity(a.RecordOutcomes, mock.Anything, in).Return(func(_ context.Context, in activities.RecordOutcomesInput) error {
			recorded = append(recorded, "record "+in.Records[0].WebhookID)
			return nil
		}).Once()
	}

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 150, Delivered: 149, Cancelled: 1}, sum)
	s.Len(b.all(), 2)
	s.env.AssertNumberOfCalls(s.T(), "RecordOutcomes", 2)
	s.Equal([]string{"record wh_00001", "record wh_00120", "deliver wh_00002"}, recorded,
		"each batch's records are written before its retries run")
}

func (s *WorkflowSuite) TestUnrecordedRecordsAreRetriedUntilWritten() {
	s.mockPlan(webhookIDs("wh_", 2))
	s.mockBatch(&batches{unrecorded: func(string) bool { return true }})
	var calls atomic.Int64
	s.env.OnActivity(a.RecordOutcomes, mock.Anything, mock.Anything).Return(func(context.Context, activities.RecordOutcomesInput) error {
		if calls.Add(1) <= 3 {
			return storeDown()
		}
		return nil
	})

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 2, Delivered: 2}, sum)
	s.Equal(int64(4), calls.Load(), "RecordOutcomes is a durable activity, retried until the store takes it")
}

func (s *WorkflowSuite) TestUnrecordedRetryResultIsRecordedOnce() {
	s.mockPlan(webhookIDs("wh_", 3))
	s.mockBatch(&batches{outcome: func(id string) activities.Outcome {
		if id == "wh_00001" {
			return pending(time.Minute)
		}
		return final(pcx.DeliveryDelivered)
	}})
	unrecorded := activities.DeliverResult{
		Status: pcx.DeliveryDelivered, Unrecorded: true,
		Attempt: pcx.Attempt{At: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), StatusCode: 204, Duration: 42 * time.Millisecond},
	}
	s.mockDeliver(func(activities.DeliverInput, int32) (activities.DeliverResult, error) { return unrecorded, nil })
	want := activities.RecordOutcomeInput{
		DeliverInput: activities.DeliverInput{EventID: testEventID, OrgID: testOrgID, WebhookID: "wh_00001", SentBefore: 1},
		Result:       unrecorded,
	}
	s.env.OnActivity(a.RecordOutcome, mock.Anything, want).Return(nil).Once()

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 3, Delivered: 3}, sum)
	s.env.AssertNumberOfCalls(s.T(), "RecordOutcome", 1)
}

// mockReadOutcomes answers ReadOutcomes from the records recorded says the chunk's deliveries
// have (none: no record); it returns the calls' inputs.
func (s *WorkflowSuite) mockReadOutcomes(recorded map[string]activities.RecordedOutcome) *[]activities.ReadOutcomesInput {
	var mu sync.Mutex
	calls := &[]activities.ReadOutcomesInput{}
	s.env.OnActivity(a.ReadOutcomes, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ReadOutcomesInput) (activities.ReadOutcomesResult, error) {
		mu.Lock()
		*calls = append(*calls, in)
		mu.Unlock()
		var res activities.ReadOutcomesResult
		for _, id := range in.WebhookIDs {
			o, ok := recorded[id]
			if !ok {
				o = activities.RecordedOutcome{Status: pcx.DeliveryPending}
			}
			o.WebhookID = id
			res.Outcomes = append(res.Outcomes, o)
		}
		return res, nil
	}).Maybe()
	return calls
}

func (s *WorkflowSuite) TestFailedBatchFallsBackToDurableDeliveries() {
	// The second of two batches cannot read the store: it is not retried locally; its chunk has
	// no records, so each of its endpoints is delivered by a durable Deliver from the start of
	// the schedule.
	ids := webhookIDs("wh_", 150)
	s.mockPlan(ids)
	b := s.mockBatch(&batches{fail: func(in activities.BatchInput, _ int32) error {
		if in.WebhookIDs[0] == ids[100] {
			return storeDown()
		}
		return nil
	}})
	reads := s.mockReadOutcomes(nil)
	d := s.mockDeliver(nil)

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 150, Delivered: 150}, sum)
	var attempts []int32
	for _, c := range b.all() {
		if c.In.WebhookIDs[0] == ids[100] {
			attempts = append(attempts, c.Attempt)
		}
	}
	s.Equal([]int32{1}, attempts, "a failed batch is not retried locally: it may have sent")
	s.Require().Len(*reads, 1, "the failed chunk's records are read")
	s.Equal(ids[100:], (*reads)[0].WebhookIDs)
	s.Equal(want1(ids[100:]), d.perWebhook(), "each endpoint of the failed chunk, and only those, gets a durable delivery")
	for id, sb := range d.sentBefore() {
		s.Equal([]int{0}, sb, "%s: nothing was sent: the durable delivery starts the schedule", id)
	}
}

// A batch that timed out after its POSTs went out never sends them again: the workflow reads
// the chunk's records and continues durably only what has no outcome of this run, counting the
// sends the records show. Before ChangeFailedBatchReadsOutcomes the local retry sent the chunk
// again, and the durable fallback a third time with the schedule restarted.
func (s *WorkflowSuite) TestBatchThatMayHaveSentContinuesFromItsRecords() {
	ids := []string{"wh_delivered", "wh_failed", "wh_pending", "wh_none"}
	s.mockPlan(ids)
	b := s.mockBatch(&batches{fail: func(activities.BatchInput, int32) error {
		return temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_START_TO_CLOSE, nil)
	}})
	reads := s.mockReadOutcomes(map[string]activities.RecordedOutcome{
		"wh_delivered": {Status: pcx.DeliveryDelivered, Sent: 1},
		"wh_failed":    {Status: pcx.DeliveryFailed, Sent: 1},
		"wh_pending":   {Status: pcx.DeliveryPending, Sent: 1, RetryDelay: 5 * time.Second},
	})
	d := s.mockDeliver(nil)
	start := s.env.Now()

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 4, Delivered: 3, Failed: 1}, sum)
	s.Len(b.all(), 1, "the batch is not retried locally")
	s.Require().Len(*reads, 1)
	s.Equal(ids, (*reads)[0].WebhookIDs)
	s.True(start.Equal((*reads)[0].Since), "only this run's attempts count: since the run began")
	s.Equal(map[string][]int{"wh_pending": {1}, "wh_none": {0}}, d.sentBefore(),
		"only what has no final outcome continues, with the sends its record shows")
	s.GreaterOrEqual(s.env.Now().Sub(start), 5*time.Second, "a pending delivery waits its delay")
}

func (s *WorkflowSuite) TestPermanentBatchErrorFailsTheWorkflow() {
	s.mockPlan(webhookIDs("wh_", 3))
	b := s.mockBatch(&batches{fail: func(activities.BatchInput, int32) error { return eventMissing() }})
	d := s.mockDeliver(nil)

	s.env.ExecuteWorkflow(workflows.EventWorkflowName, event())

	s.Require().True(s.env.IsWorkflowCompleted())
	err := s.env.GetWorkflowError()
	s.Require().Error(err)
	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(err, &appErr), "got %v", err)
	s.Equal("EventMissing", appErr.Type())
	s.Len(b.all(), 1, "a non-retryable error is not retried")
	s.Empty(d.all(), "an event that is gone is not delivered durably either")
}

func (s *WorkflowSuite) TestReplaySubsetIsPassedToPlanning() {
	subset := []string{"wh_00005", "wh_00002"}
	p := s.mockPlan(subset)
	b := s.mockBatch(&batches{})

	in := event()
	in.WebhookIDs = subset
	sum := s.run(in)

	s.Equal(workflows.Summary{Endpoints: 2, Delivered: 2}, sum)
	s.Require().Len(p.inputs, 1)
	s.Equal(subset, p.inputs[0].WebhookIDs)
	s.Equal([][]string{subset}, b.chunks(), "the subset is delivered in the order planned")
}

// outage is a PlanDeliveries that fails with a store outage through its first `rounds` local
// activities (every local attempt of each, so each gives up), then serves its planner.
type outage struct {
	mu     sync.Mutex
	rounds int // local activities that fail all their attempts
	// retried: past this many local activities the outage fails each one's first attempt with
	// a retry delay beyond its ScheduleToClose, so it gives up at once: hundreds of rounds stay
	// cheap enough for the test environment's 1s deadlock detector under the race detector.
	// 0: every round retries within its local activity.
	retried int
	seen    int // local activities started so far
	calls   int
	p       *planner
}

func (o *outage) plan(ctx context.Context, in activities.PlanInput) (activities.Plan, error) {
	o.mu.Lock()
	o.calls++
	if activity.GetInfo(ctx).Attempt == 1 {
		o.seen++
	}
	down, atOnce := o.seen <= o.rounds, o.retried > 0 && o.seen > o.retried
	o.mu.Unlock()
	switch {
	case down && atOnce:
		return activities.Plan{}, temporal.NewApplicationErrorWithOptions("The database is busy", "Unavailable",
			temporal.ApplicationErrorOptions{NextRetryDelay: time.Hour})
	case down:
		return activities.Plan{}, storeDown()
	}
	return o.p.plan(ctx, in)
}

func (s *WorkflowSuite) TestPlanningRetriesAStoreOutage() {
	ids := webhookIDs("wh_", 3)
	o := &outage{rounds: 2, p: &planner{pages: [][]string{ids}}}
	s.env.OnActivity(a.PlanDeliveries, mock.Anything, mock.Anything).Return(o.plan)
	s.mockBatch(&batches{})
	start := s.env.Now()
	// When each local attempt of PlanDeliveries started, by local activity.
	var rounds [][]time.Duration
	s.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		if info.ActivityType.Name != "PlanDeliveries" {
			return
		}
		if info.Attempt == 1 {
			rounds = append(rounds, nil)
		}
		rounds[len(rounds)-1] = append(rounds[len(rounds)-1], s.env.Now().Sub(start))
	})

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 3, Delivered: 3}, sum, "a store outage does not fail the event")
	s.Equal(3, o.seen, "two local activities gave up, the third planned")
	s.Greater(o.calls, 3, "each local activity retries on its own before giving up")
	s.GreaterOrEqual(s.env.Now().Sub(start), 5*time.Second+10*time.Second, "the workflow waited 5s, then 10s, on durable timers")
	s.Require().Len(rounds, 3)
	for i, wait := range []time.Duration{5 * time.Second, 10 * time.Second} {
		gap := rounds[i+1][0] - rounds[i][len(rounds[i])-1]
		s.True(gap >= wait && gap < 2*wait, "between local activities %d and %d the workflow waited %v, want %v", i+1, i+2, gap, wait)
	}
	s.Equal([]activities.PlanInput{{EventID: testEventID, OrgID: testOrgID, Limit: workflows.PlanPageSize}}, o.p.inputs)
}

// TestPlanningEndsAfterMaxPlanFailures: a store that never answers fails the event visibly after
// MaxPlanFailures planning attempts, about three days, instead of growing its history forever.
func (s *WorkflowSuite) TestPlanningEndsAfterMaxPlanFailures() {
	o := &outage{rounds: workflows.MaxPlanFailures + 50, retried: 4, p: &planner{pages: [][]string{webhookIDs("wh_", 3)}}}
	s.env.OnActivity(a.PlanDeliveries, mock.Anything, mock.Anything).Return(o.plan)
	b := s.mockBatch(&batches{})
	start := s.env.Now()
	// The longest planning attempt after the first, which runs before the version is known and
	// keeps the old shape's minute.
	var longest, began time.Duration
	las := 0
	s.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		at := s.env.Now().Sub(start)
		if info.Attempt == 1 {
			began = at
			las++
		}
		if las > 1 {
			longest = max(longest, at-began)
		}
	})

	s.env.ExecuteWorkflow(workflows.EventWorkflowName, event())

	s.Require().True(s.env.IsWorkflowCompleted())
	var appErr *temporal.ApplicationError
	s.Require().ErrorAs(s.env.GetWorkflowError(), &appErr)
	s.Equal(workflows.PlanningExhaustedType, appErr.Type())
	s.True(appErr.NonRetryable())
	s.Contains(appErr.Error(), "planning failed 300 times; the event was not delivered")
	s.Equal(workflows.MaxPlanFailures, o.seen, "no planning attempt after the last")
	took := s.env.Now().Sub(start)
	s.True(took > 72*time.Hour && took < 76*time.Hour, "planning gave up after %v", took)
	s.Less(longest, 20*time.Second, "each planning attempt ends before the workflow task's heartbeat")
	s.Empty(b.all())
}

// TestPlanningOfTheOldShapeRetriesPastTheBound: a workflow that began before planning-ends
// keeps its shape, retrying past MaxPlanFailures, and delivers once the store answers.
func (s *WorkflowSuite) TestPlanningOfTheOldShapeRetriesPastTheBound() {
	s.env.OnGetVersion(workflows.ChangePlanningEnds, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	ids := webhookIDs("wh_", 3)
	o := &outage{rounds: workflows.MaxPlanFailures + 5, retried: 2, p: &planner{pages: [][]string{ids}}}
	s.env.OnActivity(a.PlanDeliveries, mock.Anything, mock.Anything).Return(o.plan)
	s.mockBatch(&batches{})

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 3, Delivered: 3}, sum)
	s.Equal(workflows.MaxPlanFailures+6, o.seen)
}

func (s *WorkflowSuite) TestPlanningErrorFailsTheWorkflow() {
	s.env.OnActivity(a.PlanDeliveries, mock.Anything, mock.Anything).Return(activities.Plan{}, eventMissing()).Once()
	b := s.mockBatch(&batches{})

	s.env.ExecuteWorkflow(workflows.EventWorkflowName, event())

	s.Require().True(s.env.IsWorkflowCompleted())
	s.Require().Error(s.env.GetWorkflowError())
	s.Empty(b.all())
}

func (s *WorkflowSuite) TestInlineLimitIsDeliveredInline() {
	ids := webhookIDs("wh_", workflows.InlineLimit)
	s.mockPlan(ids)
	b := s.mockBatch(&batches{})

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: workflows.InlineLimit, Delivered: workflows.InlineLimit}, sum)
	s.Empty(s.childIDs(), "InlineLimit endpoints start no child")
	s.Equal(map[string]int{workflows.EventWorkflowID(testEventID): workflows.InlineLimit}, b.perWorkflow())
	s.Len(b.all(), workflows.InlineLimit/workflows.BatchSize)
}

func (s *WorkflowSuite) TestAboveInlineLimitGoesToAChild() {
	ids := webhookIDs("wh_", workflows.InlineLimit+1)
	s.mockPlan(ids)
	b := s.mockBatch(&batches{})
	s.env.OnWorkflow(workflows.BatchWorkflowName, mock.Anything, mock.Anything).
		Return(workflows.Summary{Endpoints: len(ids), Delivered: len(ids) - 1, Failed: 1}, nil).Once()

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: len(ids), Delivered: len(ids) - 1, Failed: 1}, sum, "the parent adds up its children")
	s.Equal([]string{childID(0)}, s.childIDs())
	s.Equal(workflows.BatchInput{EventID: testEventID, OrgID: testOrgID, WebhookIDs: ids}, s.child(childID(0)))
	s.Empty(b.all(), "the parent makes no first attempt itself")
}

func (s *WorkflowSuite) TestPagesBecomeChildBatches() {
	// A first page that names a next one is never delivered inline, however short; an empty
	// last page starts no child.
	pages := [][]string{webhookIDs("wh_a", 3), webhookIDs("wh_b", 2), nil}
	p := s.mockPlan(pages...)
	b := s.mockBatch(&batches{outcome: func(id string) activities.Outcome {
		switch id {
		case "wh_a00001":
			return pending(time.Minute)
		case "wh_a00002":
			return final(pcx.DeliveryFailed)
		case "wh_b00000":
			return final(pcx.DeliveryCancelled)
		}
		return final(pcx.DeliveryDelivered)
	}})
	d := s.mockDeliver(nil)

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: 5, Delivered: 3, Failed: 1, Cancelled: 1}, sum)
	s.Equal([]string{childID(0), childID(1)}, s.childIDs())
	for page, id := range []string{childID(0), childID(1)} {
		s.Equal(workflows.BatchInput{EventID: testEventID, OrgID: testOrgID, WebhookIDs: pages[page]}, s.child(id))
	}
	s.Equal(map[string]int{childID(0): 3, childID(1): 2}, b.perWorkflow(), "each child delivers its own page")
	s.Equal(map[string]int{childID(0): 1}, d.perWorkflow(), "a retry belongs to the child whose batch asked for it")
	var after []string
	for _, in := range p.inputs {
		s.Equal(workflows.PlanPageSize, in.Limit)
		after = append(after, in.After)
	}
	s.Equal([]string{"", "page-1", "page-2"}, after, "each page is asked for from the previous one's Next")
}

func (s *WorkflowSuite) TestChildIDsCarryTheParentsRunID() {
	// A reset parent is a new run: its children must not collide with the old run's.
	s.mockPlan(webhookIDs("wh_a", 2), webhookIDs("wh_b", 2))
	s.mockBatch(&batches{})

	s.run(event())

	ids := s.childIDs()
	s.Require().Len(ids, 2)
	for n, id := range ids {
		s.mu.Lock()
		parent := s.parents[id]
		s.mu.Unlock()
		s.Equal(workflows.EventWorkflowID(testEventID), parent.ID)
		s.NotEmpty(parent.RunID)
		s.Equal(fmt.Sprintf("%s/%s/batch-%d", parent.ID, parent.RunID, n), id, "the parent's ID, its whole run ID, the page")
	}
}

func (s *WorkflowSuite) TestAChildsFailureEndsNothingElse() {
	// Page 1's child fails (its batch finds the event gone) before its siblings are done: the
	// parent still waits for page 0's retry and page 2, and names the failed child.
	s.mockPlan(webhookIDs("wh_a", 3), webhookIDs("wh_b", 2), webhookIDs("wh_c", 2))
	s.mockBatch(&batches{
		outcome: func(id string) activities.Outcome {
			if id == "wh_a00001" {
				return pending(time.Hour)
			}
			return final(pcx.DeliveryDelivered)
		},
		fail: func(in activities.BatchInput, _ int32) error {
			if strings.HasPrefix(in.WebhookIDs[0], "wh_b") {
				return eventMissing()
			}
			return nil
		},
	})
	d := s.mockDeliver(nil)

	sum := s.run(event())

	s.Require().Len(sum.FailedBatches, 1, "got %+v", sum)
	s.Contains(sum.FailedBatches[0].Error, "EventMissing")
	sum.FailedBatches[0].Error = ""
	s.Equal(workflows.Summary{
		Endpoints: 7, Delivered: 5,
		FailedBatches: []workflows.BatchFailure{{Page: 1, WorkflowID: childID(1), Endpoints: 2}},
	}, sum, "the siblings' outcomes are collected, the failed child is named")
	s.Equal(map[string]int{childID(0): 1}, d.perWorkflow(), "page 0's retry ran after page 1 failed")
}

func (s *WorkflowSuite) TestChildrenCarryTheSearchAttributes() {
	s.mockPlan(webhookIDs("wh_", workflows.InlineLimit+1))
	s.mockBatch(&batches{})
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
	// walks the stack, which would make up a third of this test's time. Every 100th endpoint
	// fails its first attempt and is retried.
	p := &planner{pages: pages}
	b := &batches{outcome: func(id string) activities.Outcome {
		if strings.HasSuffix(id, "00") {
			return pending(time.Minute)
		}
		return final(pcx.DeliveryDelivered)
	}}
	d := &deliveries{}
	env := s.NewTestWorkflowEnvironment()
	workflows.Register(workflowsOnly{env}, nil)
	env.RegisterActivityWithOptions(p.plan, activity.RegisterOptions{Name: "PlanDeliveries"})
	env.RegisterActivityWithOptions(b.deliverBatch, activity.RegisterOptions{Name: "DeliverBatch"})
	env.RegisterActivityWithOptions(d.deliver, activity.RegisterOptions{Name: "Deliver"})
	s.use(env)
	// Under the race detector, with 20 children at once, a workflow task can take longer than
	// the 1s deadlock detector allows.
	s.env.SetWorkerOptions(sdkworker.Options{DeadlockDetectionTimeout: time.Minute})
	var parentLocal, parentActivities int // the listeners run on the environment's dispatch loop
	s.env.SetOnLocalActivityStartedListener(func(info *activity.Info, _ context.Context, _ []any) {
		if info.WorkflowExecution.ID == workflows.EventWorkflowID(testEventID) {
			parentLocal++
		}
	})
	s.env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.WorkflowExecution.ID == workflows.EventWorkflowID(testEventID) {
			parentActivities++
		}
	})

	sum := s.run(event())

	s.Equal(workflows.Summary{Endpoints: endpoints, Delivered: endpoints}, sum)
	s.Len(s.childIDs(), 20)
	s.Len(b.all(), endpoints/workflows.BatchSize, "first attempts in batches of BatchSize")
	perChild := b.perWorkflow()
	for i := range pages {
		s.Equal(workflows.PlanPageSize, perChild[childID(i)], "child %d", i)
	}
	seen := map[string]int{}
	for _, c := range b.all() {
		s.Len(c.In.WebhookIDs, workflows.BatchSize)
		for _, id := range c.In.WebhookIDs {
			seen[id]++
		}
	}
	s.Len(seen, endpoints)
	for id, n := range seen {
		if n != 1 {
			s.Failf("first attempt made more than once", "%s: %d batches", id, n)
		}
	}
	s.Len(d.all(), endpoints/100, "only the pending outcomes are retried")
	for _, c := range d.all() {
		s.Equal(1, c.In.SentBefore)
		s.True(strings.HasSuffix(c.In.WebhookID, "00"), c.In.WebhookID)
		s.NotEqual(workflows.EventWorkflowID(testEventID), c.WorkflowID, "retries belong to the children")
	}
	// The parent's history holds only the planning steps and the children: a marker for each of
	// 20 local activities and about 3 events for each of 20 children, far from Temporal's
	// 50k-event limit, however large the fan-out.
	s.Len(p.inputs, 20)
	s.Equal(20, parentLocal, "the parent runs only PlanDeliveries; deliveries happen in children")
	s.Zero(parentActivities, "the parent runs no durable activity")
	s.Zero(perChild[workflows.EventWorkflowID(testEventID)])
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
