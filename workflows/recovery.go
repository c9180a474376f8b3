package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/pcx"
)

// RecoveryWorkflowName is the recovery workflow's registered name: never rename it.
const RecoveryWorkflowName = "WebhookRecovery"

// RecoveryWorkflowID is the business ID of a recovery of an endpoint (contract §9).
func RecoveryWorkflowID(webhookID, recoveryID string) string {
	return "webhook-recovery-" + webhookID + "-" + recoveryID
}

// Recovery's shape.
const (
	// RecoveryPageSize is how many events of the window one RecoveryPage activity looks at.
	RecoveryPageSize = 100
	// RecoveryConcurrency is how many of a recovery's deliveries run at once. They start oldest
	// first; one whose receiver fails holds a single slot through its retry schedule while the
	// rest go on.
	RecoveryConcurrency = 4
	// RecoveryRunEvents is how many deliveries one run of a recovery makes before it continues
	// as new: each adds up to eight events to the history (its activity's three, a workflow
	// task's three, and RecordOutcome's when the activity could not record), so a run stays
	// under 4,000 events (TestRecoveryHistoryBounds), however long the window.
	RecoveryRunEvents = 500
)

// RecoveryInput is a recovery; a run continued as new carries the position and totals on.
type RecoveryInput struct {
	OrgID, WebhookID, RecoveryID string
	Since, Until                 time.Time // the window, Since included, Until excluded
	After                        string
	Found, Sent                  int
	// RunLimit is how many deliveries a run makes before it continues as new; 0 means
	// RecoveryRunEvents (tests set fewer).
	RunLimit int `json:",omitempty"`
}

// RecoveryResult is a recovery's outcome: the events it found the endpoint lacked, and how many
// of them it delivered.
type RecoveryResult struct {
	Found, Sent int
	Stopped     string `json:",omitempty"`
}

// RecoveryWorkflow makes an endpoint whole for a window: page by page, oldest first, it finds the
// events the endpoint is subscribed to and has not received (RecoveryPage) and delivers each with
// the durable Deliver activity, RecoveryConcurrency at a time, with its original webhook-id.
// Every RecoveryRunEvents deliveries it continues as new with its position, so its history stays
// bounded for any window. Its activities keep the recovery's progress item up to date.
func RecoveryWorkflow(ctx workflow.Context, in RecoveryInput) (RecoveryResult, error) {
	rctx := workflow.WithActivityOptions(ctx, recordOptions)
	ran, limit := 0, in.RunLimit
	if limit <= 0 {
		limit = RecoveryRunEvents
	}
	for {
		pin := activities.RecoveryPageInput{
			OrgID: in.OrgID, WebhookID: in.WebhookID, RecoveryID: in.RecoveryID,
			Since: in.Since, Until: in.Until,
			After: in.After, Limit: RecoveryPageSize, Found: in.Found, Sent: in.Sent,
		}
		var page activities.RecoveryPage
		if err := workflow.ExecuteActivity(rctx, a.RecoveryPage, pin).Get(ctx, &page); err != nil {
			return RecoveryResult{Found: in.Found, Sent: in.Sent}, err
		}
		in.Found += len(page.EventIDs)
		in.Sent += deliverInOrder(ctx, in.OrgID, in.WebhookID, page.EventIDs)
		ran += len(page.EventIDs)
		in.After = page.Next
		if page.Next == "" {
			done := activities.RecoveryProgressInput{WebhookID: in.WebhookID, RecoveryID: in.RecoveryID, Found: in.Found, Sent: in.Sent, Done: true}
			err := workflow.ExecuteActivity(rctx, a.RecordRecoveryProgress, done).Get(ctx, nil)
			return RecoveryResult{Found: in.Found, Sent: in.Sent, Stopped: page.Stopped}, err
		}
		if ran >= limit {
			return RecoveryResult{}, workflow.NewContinueAsNewError(ctx, RecoveryWorkflowName, in)
		}
	}
}

// deliverInOrder delivers the events to the endpoint with durable Deliver activities, started
// oldest first, at most RecoveryConcurrency at once, and returns how many were delivered. A
// delivery whose outcome could not be recorded counts as not delivered.
func deliverInOrder(ctx workflow.Context, orgID, webhookID string, eventIDs []string) int {
	wg := workflow.NewWaitGroup(ctx)
	delivered, running := 0, 0
	for _, id := range eventIDs {
		if err := workflow.Await(ctx, func() bool { return running < RecoveryConcurrency }); err != nil {
			break // cancelled
		}
		running++
		wg.Add(1)
		in := activities.DeliverInput{EventID: id, OrgID: orgID, WebhookID: webhookID}
		workflow.Go(ctx, func(ctx workflow.Context) {
			defer wg.Done()
			defer func() { running-- }()
			res, err := deliverOnce(ctx, in)
			if err != nil {
				workflow.GetLogger(ctx).Error("recording a recovery delivery failed", "event_id", in.EventID, "webhook_id", webhookID, "error", err)
				return
			}
			if res.Status == pcx.DeliveryDelivered {
				delivered++
			}
		})
	}
	wg.Wait(ctx)
	return delivered
}
