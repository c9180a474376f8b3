package webhooks

import (
	"context"
	"time"

	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/workflows"
)

// Recover starts a recovery of org's endpoint webhookID for the window [since, until) (until nil:
// up to now): a workflow that delivers, oldest first, every event of the window the endpoint is
// subscribed to and has not received (workflows.RecoveryWorkflow). One recovery of an endpoint
// runs at a time (a claim item, as a replay's); the window may not start before the retention
// (its events are gone) and the endpoint must be active. The returned recovery's Until is the
// window's end, now when none was given: an event accepted after the recovery started is its own
// workflow's to deliver.
func (s *Service) Recover(ctx context.Context, org, webhookID string, since time.Time, until *time.Time) (*pcx.Recovery, error) {
	if s.Recoveries == nil {
		return nil, pcx.Errorf(pcx.EUnavailable, "Recovery is not available")
	}
	now := s.now()
	problems := map[string]string{}
	switch {
	case since.IsZero():
		problems["since"] = "is required: an RFC 3339 time, e.g. 2030-01-02T03:04:05Z"
	case since.Before(now.Add(-s.Retention)):
		problems["since"] = "must be within EVENT_RETENTION (" + s.Retention.String() + ") of now: older events are gone"
	case !since.Before(now):
		problems["since"] = "must be in the past"
	case until != nil && !since.Before(*until):
		problems["until"] = "must be after since"
	}
	if len(problems) > 0 {
		return nil, pcx.Invalid("Invalid request body", problems)
	}
	w, err := s.Store.Webhook(ctx, org, webhookID)
	if err != nil {
		return nil, err
	}
	if w.Status != pcx.WebhookActive {
		return nil, pcx.Errorf(pcx.EConflict, "The webhook is disabled; enable it before recovering its events")
	}
	end := now
	if until != nil && until.Before(now) {
		end = *until
	}
	r := &pcx.Recovery{ID: pcx.NewID("rcv", now), OrgID: org, WebhookID: webhookID, Since: since, Until: &end, Status: pcx.RecoveryRunning, CreatedAt: now}
	r.WorkflowID = workflows.RecoveryWorkflowID(webhookID, r.ID)
	try := func(over string) (string, time.Time, bool, error) {
		return s.Recoveries.ClaimRecovery(ctx, webhookID, r.WorkflowID, now, over, now.Add(s.Retention))
	}
	if err := s.claimRun(ctx, now, try, "A recovery of this webhook is running (workflow %s); retry once it has finished",
		"Another recovery of this webhook is starting; retry once it has finished"); err != nil {
		return nil, err
	}
	rec, err := s.record(ctx, org, pcx.AuditRecoveryStarted, webhookID)
	if err == nil {
		err = s.Recoveries.CreateRecovery(ctx, r, now.Add(s.Retention), rec)
	}
	if err == nil {
		_, err = s.Starter.StartRecovery(ctx, r.WorkflowID, workflows.RecoveryInput{
			OrgID: org, WebhookID: webhookID, RecoveryID: r.ID, Since: since, Until: end,
		})
	}
	if err != nil {
		if rerr := s.Recoveries.ReleaseRecovery(context.WithoutCancel(ctx), webhookID, r.WorkflowID); rerr != nil {
			// The claim is freed anyway once ReplayStartGrace has passed with no such workflow.
			s.Log.Warn().Err(rerr).Str("webhook_id", webhookID).Msg("releasing the claim of a recovery that did not start failed")
		}
		return nil, err
	}
	s.Log.Info().Str("org_id", org).Str("webhook_id", webhookID).Str("recovery_id", r.ID).Msg("webhook.recovery_started")
	return r, nil
}

// Recovery returns org's recovery id of the endpoint webhookID with its progress.
func (s *Service) Recovery(ctx context.Context, org, webhookID, id string) (*pcx.Recovery, error) {
	if s.Recoveries == nil {
		return nil, pcx.Errorf(pcx.ENotFound, "Recovery not found")
	}
	return s.Recoveries.RecoveryOf(ctx, org, webhookID, id)
}
