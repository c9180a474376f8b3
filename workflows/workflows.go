// Package workflows holds the deterministic orchestration of webhook delivery. Only IDs travel
// through histories; payloads stay in the store.
//
// EventWorkflow runs once per event (and once per replay through the API). It lists the targets
// page by page with the PlanDeliveries local activity; a store outage does not fail it: it waits
// on a durable timer and plans again, up to MaxPlanFailures times (ChangePlanningEnds). A fan-out of at most InlineLimit endpoints on a single page
// is delivered by the event's own workflow; a larger one goes to one BatchWorkflow child per
// page of up to PlanPageSize endpoints, so no history nears Temporal's limits.
//
// Either way, deliverAll makes the first attempts as DeliverBatch local activities of up to
// BatchSize endpoints each, all started at once, and writes with RecordOutcomes the records a
// batch could not. Each delivery that must be retried continues as a durable Deliver activity
// after its delay, whose RecordOutcome writes a result the activity could not. A batch is never
// retried locally: one that fails may have sent, so the workflow reads its chunk's records
// (ReadOutcomes) and hands to Deliver only what has no outcome (ChangeFailedBatchReadsOutcomes;
// before it, each of the chunk's endpoints). A permanent error (the event
// expired) of planning or of a batch fails the workflow; one of a retry counts as failed. A child
// that ends without a summary (failed, terminated) ends nothing else: the event waits for every
// child and names it in its Summary, and a parent's end leaves its children's retries running
// (ChangeChildrenEndAlone).
//
// Everything here must stay deterministic: no I/O, no clocks, no map iteration, no goroutines
// but workflow.Go. Workflows live for days (the retry schedule), and a deploy does not wait for
// them: a change to the sequence of commands goes behind workflow.GetVersion with its change ID
// in versions.go, and the replay test over every history in workflows/testdata catches one that
// does not (docs/workflow-versioning.md).
package workflows

import (
	"errors"
	"fmt"
	"time"

	"github.com/pcx/publicservice/internal/logs"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/internal/config"
	"github.com/pcx/publicservice/pcx"
)

// Registered names. They are part of every running workflow's history: never rename them.
const (
	EventWorkflowName = "WebhookEvent"
	BatchWorkflowName = "WebhookEventBatch"
)

// Search attributes that make an event's workflows findable in the Temporal UI.
var (
	OrgIDAttr   = temporal.NewSearchAttributeKeyKeyword("PcxOrgId")
	EventIDAttr = temporal.NewSearchAttributeKeyKeyword("PcxEventId")
	// EventTypeAttr is the event's type, set on workflows started since event types existed.
	EventTypeAttr = temporal.NewSearchAttributeKeyKeyword("PcxEventType")
)

// SearchAttributes returns the organisation and event search attributes of an event's workflows.
func SearchAttributes(orgID, eventID string) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(OrgIDAttr.ValueSet(orgID), EventIDAttr.ValueSet(eventID))
}

// SearchAttributes returns the search attributes of the event's workflows: SearchAttributes',
// and PcxEventType when the input names the type.
func (in EventInput) SearchAttributes() temporal.SearchAttributes {
	if in.EventType == "" {
		return SearchAttributes(in.OrgID, in.EventID)
	}
	return temporal.NewSearchAttributes(OrgIDAttr.ValueSet(in.OrgID), EventIDAttr.ValueSet(in.EventID), EventTypeAttr.ValueSet(in.EventType))
}

// EventWorkflowID is the business ID of an event's workflow: what operators type in the UI.
func EventWorkflowID(eventID string) string { return "webhook-event-" + eventID }

// ReplayWorkflowID is the ID of a replay of an event requested through the API.
func ReplayWorkflowID(eventID, replayID string) string {
	return "webhook-event-" + eventID + "-replay-" + replayID
}

// EventInput starts an event's delivery.
type EventInput struct {
	EventID string
	OrgID   string
	// WebhookIDs restricts a replay to these endpoints; empty means every active endpoint.
	WebhookIDs []string `json:",omitempty"`
	// EventType is the event's type, for the PcxEventType search attribute of the event's
	// workflows; empty in workflows started before event types. Planning reads the type from the
	// event itself, not from here.
	EventType string `json:",omitempty"`
}

// BatchInput is one child batch of a large fan-out.
type BatchInput struct {
	EventID    string
	OrgID      string
	WebhookIDs []string
}

// Summary counts the outcomes of a fan-out.
type Summary struct {
	Endpoints int
	Delivered int
	Failed    int
	Cancelled int
	// FailedBatches are the child batches that ended without a summary (failed, terminated,
	// timed out, cancelled). Their endpoints count in Endpoints, their outcomes in none of the
	// counts: the store has each delivery's record.
	FailedBatches []BatchFailure `json:",omitempty"`
}

// BatchFailure is a child batch that ended without a summary.
type BatchFailure struct {
	Page       int
	WorkflowID string
	Endpoints  int
	Error      string
}

func (s *Summary) add(o Summary) {
	s.Endpoints += o.Endpoints
	s.Delivered += o.Delivered
	s.Failed += o.Failed
	s.Cancelled += o.Cancelled
}

// Fan-out shape.
const (
	// PlanPageSize is how many endpoints one planning step lists, and one child batch delivers.
	PlanPageSize = 500
	// InlineLimit is the largest fan-out delivered by the event's own workflow; larger ones go
	// to child workflows of PlanPageSize deliveries each.
	InlineLimit = 200
)

// Margins against a stall of Temporal or of the worker's CPU. A heartbeat or a workflow task's
// heartbeat that arrives late makes Temporal start the same work again beside the first, so each
// deadline keeps seconds to spare beyond its cadence (app/worker's tests check the figures).
const (
	// HeartbeatTimeout is the Deliver activity's: slow attempts heartbeat every
	// activities.HeartbeatEvery (3s), each sent at once (the worker's heartbeat throttle is as
	// short), so the server sees one every 3s plus a round trip; a worker that dies mid-delivery
	// is noticed in 10s.
	HeartbeatTimeout = 10 * time.Second
	// WorkflowTaskTimeout is the workflow task timeout of the event's workflow (service/starter)
	// and its children. While local activities run (DeliverBatch: receivers that take up to
	// WEBHOOK_TIMEOUT), the SDK heartbeats the workflow task at 80% of it, measured from when the
	// worker began the task: 24s of 30s leaves 6s for the poll's and the heartbeat's round trips.
	// At Temporal's default of 10s that was 2s, and a 2s stall timed the task out and had another
	// worker send the batch's first attempts again. The price: a worker that dies holding a
	// workflow task has it retried after 30s, not 10s.
	WorkflowTaskTimeout = 30 * time.Second
)

// Activity options. Delivery retries are unlimited here because the activity itself decides
// when the schedule is exhausted (it knows WEBHOOK_RETRY_SCHEDULE); each failed attempt tells
// Temporal its next delay.
var (
	deliverOptions = workflow.ActivityOptions{
		// A send slot waits at most 30s and WEBHOOK_TIMEOUT is at most 45s (internal/config refuses
		// more); the rest covers the store reads and writes.
		StartToCloseTimeout: config.AttemptTimeout,
		HeartbeatTimeout:    HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Hour,
		},
	}
	// First attempts run as local activities in the workflow's own worker: no task-queue round
	// trip per delivery. A batch is never retried locally: one that failed may have sent (it
	// timed out, its worker died), and a retry would send its whole chunk again. The workflow
	// continues it durably instead (ChangeFailedBatchReadsOutcomes: from its records).
	batchOptions = workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: 3 * time.Minute,
		StartToCloseTimeout:    config.AttemptTimeout,
		RetryPolicy:            &temporal.RetryPolicy{MaximumAttempts: 1},
	}
	planLocalOptions = workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second},
	}
	// planLocalOptionsBounded (ChangePlanningEnds) ends each planning attempt after the first
	// (which runs before the version is known) within 20s, before the SDK heartbeats the
	// workflow task (24s of WorkflowTaskTimeout): an attempt that fails adds no workflow task of
	// its own to the history. A page listing answers in well under a second;
	// its DynamoDB calls end within store.CallTimeout (5s).
	planLocalOptionsBounded = workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: 20 * time.Second,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Second},
	}
	recordOptions = workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
		},
	}
)

// a is how workflows name activities: methods of a nil *Activities (the worker registers the
// real one).
var a *activities.Activities

// EventWorkflow delivers one event to every active endpoint of its organisation (or, for a
// replay, to the endpoints named). Small fan-outs are delivered here; large ones are listed page
// by page, each page handed to a child workflow.
func EventWorkflow(ctx workflow.Context, in EventInput) (Summary, error) {
	var sum Summary
	var children []batch
	after := ""
	var planning planner
	for page := 0; ; page++ {
		plan, err := planning.page(ctx, activities.PlanInput{
			EventID: in.EventID, OrgID: in.OrgID, WebhookIDs: in.WebhookIDs, After: after, Limit: PlanPageSize,
		})
		if err != nil {
			return sum, err
		}
		if page == 0 && plan.Next == "" && len(plan.WebhookIDs) <= InlineLimit {
			return deliverAll(ctx, in.EventID, in.OrgID, plan.WebhookIDs)
		}
		if len(plan.WebhookIDs) > 0 {
			children = append(children, startBatch(ctx, in, page, plan.WebhookIDs))
		}
		if plan.Next == "" {
			break
		}
		after = plan.Next
	}
	for _, c := range children {
		var s Summary
		err := c.Get(ctx, &s)
		if err == nil {
			sum.add(s)
			continue
		}
		if !c.endsAlone {
			return sum, err
		}
		// A batch that ended without a summary ends nothing else: its siblings go on to their
		// last retry, and the event's summary names it.
		workflow.GetLogger(ctx).Error("child batch ended without a summary", "event_id", in.EventID, "child", c.id, "error", err)
		sum.Endpoints += c.endpoints
		sum.FailedBatches = append(sum.FailedBatches, BatchFailure{Page: c.page, WorkflowID: c.id, Endpoints: c.endpoints, Error: err.Error()})
	}
	return sum, nil
}

// Planning's bound (ChangePlanningEnds). A store outage longer than this fails the event
// visibly instead of growing its history until Temporal terminates it.
const (
	// MaxPlanFailures is how many failed planning attempts an event's workflow makes, over all
	// its pages, before it fails with PlanningExhaustedType: with waits doubling from 5s to
	// PlanMaxWait, about 73 hours of a store that does not answer, longer than the default
	// retry schedule gives a receiver. Each failure adds 6 events to the history (its local
	// activity's marker, a timer started and fired, a workflow task scheduled, started and
	// completed): at most 1,808 events of planning per event, with the version's marker and the
	// workflow tasks the SDK heartbeats while the first attempt runs (TestHistoryBounds).
	MaxPlanFailures = 300
	// PlanMaxWait is the longest wait between two planning attempts.
	PlanMaxWait = 15 * time.Minute
	// PlanningExhaustedType is the error type of an event whose planning failed MaxPlanFailures
	// times: its workflow fails with it (Temporal UI, temporal_workflow_failed), nothing was
	// delivered, and a replay through the API delivers it again once the store answers.
	PlanningExhaustedType = "PlanningExhausted"
)

// planner lists an event's targets page by page. A store outage does not fail the event at
// once: the workflow waits on a durable timer and tries again, up to MaxPlanFailures times in
// all (before ChangePlanningEnds: for as long as it takes, every 5 minutes at most).
type planner struct {
	failures int
	wait     time.Duration
	// bounded: the first failure took ChangePlanningEnds' new branch. The version is asked at
	// the first failure only, so a history in which planning never failed is unchanged.
	bounded, asked bool
}

func (p *planner) page(ctx workflow.Context, in activities.PlanInput) (activities.Plan, error) {
	for {
		opts := planLocalOptions
		if p.bounded {
			opts = planLocalOptionsBounded
		}
		var plan activities.Plan
		err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, opts), a.PlanDeliveries, in).Get(ctx, &plan)
		if err == nil || isPermanent(err) {
			p.wait = 0 // the next page's failures wait from 5s again
			return plan, err
		}
		if !p.asked {
			p.asked = true
			p.bounded = workflow.GetVersion(ctx, ChangePlanningEnds, workflow.DefaultVersion, 1) != workflow.DefaultVersion
		}
		p.failures++
		maxWait := 5 * time.Minute
		if p.bounded {
			maxWait = PlanMaxWait
		}
		p.wait = min(max(2*p.wait, 5*time.Second), maxWait)
		if p.bounded && p.failures >= MaxPlanFailures {
			workflow.GetLogger(ctx).Error("planning failed too often; the event is not delivered: replay it once the store answers",
				"event_id", in.EventID, "failures", p.failures, "error", err)
			return plan, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("planning failed %d times; the event was not delivered: replay it once the store answers", p.failures),
				PlanningExhaustedType, err)
		}
		workflow.GetLogger(ctx).Warn("planning failed; retrying", "event_id", in.EventID, "wait_ms", logs.Ms(p.wait), "failures", p.failures, "error", err)
		if err := workflow.Sleep(ctx, p.wait); err != nil {
			return plan, err
		}
	}
}

// isPermanent reports whether an activity error will not go away by retrying (the event expired).
func isPermanent(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.NonRetryable()
}

// batch is a child batch started by startBatch.
type batch struct {
	workflow.ChildWorkflowFuture
	id              string
	page, endpoints int
	// endsAlone: the child's end, however it ends, ends nothing else (ChangeChildrenEndAlone).
	endsAlone bool
}

// startBatch starts the child workflow for one page. Its ID carries the run ID of the parent's run
// that started it, so a reset parent (a new run) starts fresh children rather than colliding with
// the old ones, which an abandoned child may still be running.
func startBatch(ctx workflow.Context, in EventInput, page int, ids []string) batch {
	info := workflow.GetInfo(ctx)
	endsAlone := workflow.GetVersion(ctx, ChangeChildrenEndAlone, workflow.DefaultVersion, 1) != workflow.DefaultVersion
	runID := info.WorkflowExecution.RunID
	if workflow.GetVersion(ctx, ChangeChildIDFromHistory, workflow.DefaultVersion, 1) != workflow.DefaultVersion {
		// The run ID comes from history, not from the run replaying it: a reset run replays the
		// children started before its reset point under their IDs, and names those it starts
		// itself after its own run ID.
		if err := workflow.SideEffect(ctx, func(ctx workflow.Context) any {
			return workflow.GetInfo(ctx).WorkflowExecution.RunID
		}).Get(&runID); err != nil {
			// A string always decodes; were it not to, this run's ID is the old shape's name.
			runID = info.WorkflowExecution.RunID
		}
	}
	attrs := SearchAttributes(in.OrgID, in.EventID)
	// The child carries the type only where the event's workflow does: a namespace without
	// PcxEventType (the starter then starts without it) would refuse the child's start.
	_, typed := workflow.GetTypedSearchAttributes(ctx).GetKeyword(EventTypeAttr)
	if in.EventType != "" && typed && workflow.GetVersion(ctx, ChangeChildEventType, workflow.DefaultVersion, 1) != workflow.DefaultVersion {
		attrs = in.SearchAttributes()
	}
	opts := workflow.ChildWorkflowOptions{
		WorkflowID:            fmt.Sprintf("%s/%s/batch-%d", info.WorkflowExecution.ID, runID, page),
		TypedSearchAttributes: attrs,
		// Not inherited: the SDK sends the child options' own (0: Temporal's 10s). A timeout is
		// not part of what replay matches a child's start by (its workflow type), so this is no
		// change of commands.
		WorkflowTaskTimeout: WorkflowTaskTimeout,
	}
	if endsAlone {
		// The event's end (a failure, a termination, the end of a run an operator resets) must
		// not end a child's pending retries. TERMINATE, the default, would kill them;
		// REQUEST_CANCEL would too, cancelling their timers. An abandoned child runs its
		// schedule to the end and records every outcome itself. Cancelling the event's workflow
		// still cancels its children: that goes through the context, not this policy.
		opts.ParentClosePolicy = enumspb.PARENT_CLOSE_POLICY_ABANDON
	}
	cctx := workflow.WithChildOptions(ctx, opts)
	f := workflow.ExecuteChildWorkflow(cctx, BatchWorkflowName, BatchInput{EventID: in.EventID, OrgID: in.OrgID, WebhookIDs: ids})
	return batch{ChildWorkflowFuture: f, id: opts.WorkflowID, page: page, endpoints: len(ids), endsAlone: endsAlone}
}

// BatchWorkflow delivers an event to one page of endpoints.
func BatchWorkflow(ctx workflow.Context, in BatchInput) (Summary, error) {
	return deliverAll(ctx, in.EventID, in.OrgID, in.WebhookIDs)
}

// BatchSize is how many first attempts one local activity makes at once.
const BatchSize = 100

// deliverAll delivers the event to every endpoint in ids: first attempts in local-activity
// batches, all at once; then each delivery that must be retried continues as a durable activity
// after its delay. It returns when every delivery has a final outcome.
func deliverAll(ctx workflow.Context, eventID, orgID string, ids []string) (Summary, error) {
	lctx := workflow.WithLocalActivityOptions(ctx, batchOptions)
	batches := make([]workflow.Future, 0, (len(ids)+BatchSize-1)/BatchSize)
	for start := 0; start < len(ids); start += BatchSize {
		chunk := ids[start:min(start+BatchSize, len(ids))]
		batches = append(batches, workflow.ExecuteLocalActivity(lctx, a.DeliverBatch, activities.BatchInput{EventID: eventID, OrgID: orgID, WebhookIDs: chunk}))
	}
	d := &fanOut{ctx: ctx, eventID: eventID, orgID: orgID, wg: workflow.NewWaitGroup(ctx)}
	d.sum.Endpoints = len(ids)
	rctx := workflow.WithActivityOptions(ctx, recordOptions)
	for i, f := range batches {
		chunk := ids[i*BatchSize : min((i+1)*BatchSize, len(ids))]
		var res activities.BatchResult
		if err := f.Get(ctx, &res); err != nil {
			if isPermanent(err) {
				return d.sum, err
			}
			if workflow.GetVersion(ctx, ChangeFailedBatchReadsOutcomes, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
				// Nothing of this chunk was sent: deliver it through the durable path.
				workflow.GetLogger(ctx).Warn("first-attempt batch failed; delivering durably", "event_id", eventID, "error", err)
				for _, id := range chunk {
					d.retry(id, 0, 0)
				}
				continue
			}
			// The batch may have sent (it timed out, its worker died): what its records show
			// done stays done, and the rest continues durably.
			workflow.GetLogger(ctx).Warn("first-attempt batch failed; continuing from its records", "event_id", eventID, "error", err)
			if err := d.continueFromRecords(chunk); err != nil {
				return d.sum, err
			}
			continue
		}
		// Records the batch could not write go first: a retry must never be overtaken by the
		// record of the attempt before it.
		if len(res.Unrecorded) > 0 {
			in := activities.RecordOutcomesInput{EventID: eventID, OrgID: orgID, Records: res.Unrecorded}
			if err := workflow.ExecuteActivity(rctx, a.RecordOutcomes, in).Get(ctx, nil); err != nil {
				return d.sum, err
			}
		}
		for _, o := range res.Outcomes {
			switch {
			case o.Status != pcx.DeliveryPending:
				d.count(o.Status)
			case o.Unsent:
				d.retry(o.WebhookID, o.RetryDelay, 0)
			default:
				d.retry(o.WebhookID, o.RetryDelay, 1)
			}
		}
	}
	d.wg.Wait(ctx)
	return d.sum, d.err
}

// fanOut collects the outcomes of one deliverAll.
type fanOut struct {
	ctx            workflow.Context
	eventID, orgID string
	wg             workflow.WaitGroup
	sum            Summary
	err            error
}

func (d *fanOut) count(s pcx.DeliveryStatus) {
	switch s {
	case pcx.DeliveryDelivered:
		d.sum.Delivered++
	case pcx.DeliveryCancelled:
		d.sum.Cancelled++
	default:
		d.sum.Failed++
	}
}

// continueFromRecords continues the deliveries of a chunk whose batch failed from their records
// (ReadOutcomes, retried until the store answers): a final outcome of this run is counted, the
// rest go on as durable Deliver activities with the sends already made counted.
func (d *fanOut) continueFromRecords(chunk []string) error {
	rctx := workflow.WithActivityOptions(d.ctx, recordOptions)
	in := activities.ReadOutcomesInput{EventID: d.eventID, OrgID: d.orgID, WebhookIDs: chunk, Since: workflow.GetInfo(d.ctx).WorkflowStartTime}
	var res activities.ReadOutcomesResult
	if err := workflow.ExecuteActivity(rctx, a.ReadOutcomes, in).Get(d.ctx, &res); err != nil {
		return err
	}
	for _, o := range res.Outcomes {
		if o.Status != pcx.DeliveryPending {
			d.count(o.Status)
			continue
		}
		d.retry(o.WebhookID, o.RetryDelay, o.Sent)
	}
	return nil
}

// retry continues one delivery as a durable Deliver activity after delay; sentBefore is how many
// sends the schedule has already used.
func (d *fanOut) retry(id string, delay time.Duration, sentBefore int) {
	d.wg.Add(1)
	workflow.Go(d.ctx, func(ctx workflow.Context) {
		defer d.wg.Done()
		if delay > 0 {
			if err := workflow.Sleep(ctx, delay); err != nil {
				d.err = err
				return
			}
		}
		res, err := deliverOnce(ctx, activities.DeliverInput{EventID: d.eventID, OrgID: d.orgID, WebhookID: id, SentBefore: sentBefore})
		if err != nil {
			d.err = err
			return
		}
		d.count(res.Status)
	})
}

// deliverOnce runs one delivery as a durable Deliver activity, and writes with RecordOutcome an
// outcome the activity could not record (an error of that write is the one returned). A
// delivery that ends with an error, only a permanent one of the platform itself (the event
// expired), is failed.
func deliverOnce(ctx workflow.Context, in activities.DeliverInput) (activities.DeliverResult, error) {
	dctx := workflow.WithActivityOptions(ctx, deliverOptions)
	var res activities.DeliverResult
	if err := workflow.ExecuteActivity(dctx, a.Deliver, in).Get(ctx, &res); err != nil {
		workflow.GetLogger(ctx).Error("delivery ended with an error", "event_id", in.EventID, "webhook_id", in.WebhookID, "error", err)
		return activities.DeliverResult{Status: pcx.DeliveryFailed}, nil
	}
	if res.Unrecorded {
		rctx := workflow.WithActivityOptions(ctx, recordOptions)
		if err := workflow.ExecuteActivity(rctx, a.RecordOutcome, activities.RecordOutcomeInput{DeliverInput: in, Result: res}).Get(ctx, nil); err != nil {
			return res, err
		}
	}
	return res, nil
}
