// Package workflows holds the deterministic orchestration of webhook delivery: one workflow per
// event, fanning out one delivery activity per endpoint, and child workflows in batches when the
// fan-out is large, so no history nears Temporal's limits. Only IDs travel through histories;
// payloads stay in the store.
//
// Everything here must stay deterministic: no I/O, no clocks, no map iteration, no goroutines
// but workflow.Go. Changing the sequence of commands breaks running workflows: the replay test
// over workflows/testdata catches that.
package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/pcx/publicservice/activities"
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
)

// SearchAttributes returns the search attributes of an event's workflows.
func SearchAttributes(orgID, eventID string) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(OrgIDAttr.ValueSet(orgID), EventIDAttr.ValueSet(eventID))
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

// Activity options. Delivery retries are unlimited here because the activity itself decides
// when the schedule is exhausted (it knows WEBHOOK_RETRY_SCHEDULE); each failed attempt tells
// Temporal its next delay.
var (
	planOptions = workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
		},
	}
	deliverOptions = workflow.ActivityOptions{
		// WEBHOOK_TIMEOUT is at most 60s; the rest covers the store reads and writes.
		StartToCloseTimeout: 90 * time.Second,
		// Slow attempts heartbeat every 3s: a worker that dies mid-delivery is noticed in 10s.
		HeartbeatTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Hour,
		},
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
	pctx := workflow.WithActivityOptions(ctx, planOptions)
	var sum Summary
	var children []workflow.ChildWorkflowFuture
	after := ""
	for page := 0; ; page++ {
		var plan activities.Plan
		err := workflow.ExecuteActivity(pctx, a.PlanDeliveries, activities.PlanInput{
			EventID: in.EventID, OrgID: in.OrgID, WebhookIDs: in.WebhookIDs, After: after, Limit: PlanPageSize,
		}).Get(ctx, &plan)
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
		if err := c.Get(ctx, &s); err != nil {
			return sum, err
		}
		sum.add(s)
	}
	return sum, nil
}

// startBatch starts the child workflow for one page. Its ID carries the parent's run ID, so a
// reset parent (a new run) starts fresh children rather than colliding with the old ones.
func startBatch(ctx workflow.Context, in EventInput, page int, ids []string) workflow.ChildWorkflowFuture {
	info := workflow.GetInfo(ctx)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            fmt.Sprintf("%s/%s/batch-%d", info.WorkflowExecution.ID, info.WorkflowExecution.RunID, page),
		TypedSearchAttributes: SearchAttributes(in.OrgID, in.EventID),
	})
	return workflow.ExecuteChildWorkflow(cctx, BatchWorkflowName, BatchInput{EventID: in.EventID, OrgID: in.OrgID, WebhookIDs: ids})
}

// BatchWorkflow delivers an event to one page of endpoints.
func BatchWorkflow(ctx workflow.Context, in BatchInput) (Summary, error) {
	return deliverAll(ctx, in.EventID, in.OrgID, in.WebhookIDs)
}

// deliverAll starts every delivery at once, then collects the outcomes in order.
func deliverAll(ctx workflow.Context, eventID, orgID string, ids []string) (Summary, error) {
	dctx := workflow.WithActivityOptions(ctx, deliverOptions)
	futures := make([]workflow.Future, len(ids))
	for i, id := range ids {
		futures[i] = workflow.ExecuteActivity(dctx, a.Deliver, activities.DeliverInput{EventID: eventID, OrgID: orgID, WebhookID: id})
	}
	sum := Summary{Endpoints: len(ids)}
	rctx := workflow.WithActivityOptions(ctx, recordOptions)
	for i, f := range futures {
		var res activities.DeliverResult
		if err := f.Get(ctx, &res); err != nil {
			// Only a permanent error of the platform itself gets here (the event expired):
			// count the delivery as failed and carry on with the others.
			workflow.GetLogger(ctx).Error("delivery ended with an error", "webhook_id", ids[i], "error", err)
			sum.Failed++
			continue
		}
		if res.Unrecorded {
			in := activities.RecordOutcomeInput{DeliverInput: activities.DeliverInput{EventID: eventID, OrgID: orgID, WebhookID: ids[i]}, Result: res}
			if err := workflow.ExecuteActivity(rctx, a.RecordOutcome, in).Get(ctx, nil); err != nil {
				return sum, err
			}
		}
		switch res.Status {
		case pcx.DeliveryDelivered:
			sum.Delivered++
		case pcx.DeliveryCancelled:
			sum.Cancelled++
		default:
			sum.Failed++
		}
	}
	return sum, nil
}
