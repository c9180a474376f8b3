package activities_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/pcx"
)

// After a batch ended without returning, ReadOutcomes tells the workflow where each delivery of
// the chunk stands by its record, counting only this run's attempts: a final outcome ends it, a
// pending one continues after the schedule's delay with its sends counted, and one without an
// attempt of this run (no record, a cancellation, a record of an earlier run) is sent as a first.
func TestReadOutcomesCountsThisRunsSends(t *testing.T) {
	st := newFakeStore()
	st.addEvent(testEvent())
	since := time.Now()
	at := func(d time.Duration, code int, class string) *pcx.Attempt {
		return &pcx.Attempt{At: since.Add(d), StatusCode: code, ErrorClass: class}
	}
	ctx := context.Background()
	require.NoError(t, st.RecordFirstAttempts(ctx, testEvent(), []pcx.Delivery{
		{WebhookID: "wh_delivered", Status: pcx.DeliveryDelivered, Attempt: at(time.Second, 200, "")},
		{WebhookID: "wh_pending", Status: pcx.DeliveryPending, Attempt: at(time.Second, 503, "http_status")},
		{WebhookID: "wh_gone", Status: pcx.DeliveryFailed, Attempt: at(time.Second, 410, "gone")},
		{WebhookID: "wh_earlier_run", Status: pcx.DeliveryDelivered, Attempt: at(-time.Hour, 200, "")},
		{WebhookID: "wh_cancelled", Status: pcx.DeliveryCancelled, Reason: pcx.CancelledEndpointDisabled},
	}, since.Add(retention)))
	var ts testsuite.WorkflowTestSuite
	ts.SetLogger(quietLogger())
	env := ts.NewTestActivityEnvironment()
	acts := newActivities(st, client(nil, time.Second))
	env.RegisterActivity(acts)
	ids := []string{"wh_delivered", "wh_pending", "wh_gone", "wh_earlier_run", "wh_cancelled", "wh_none"}

	val, err := env.ExecuteActivity(acts.ReadOutcomes, activities.ReadOutcomesInput{EventID: testEventID, OrgID: testOrgID, WebhookIDs: ids, Since: since})

	require.NoError(t, err)
	var res activities.ReadOutcomesResult
	require.NoError(t, val.Get(&res))
	require.Equal(t, []activities.RecordedOutcome{
		{WebhookID: "wh_delivered", Status: pcx.DeliveryDelivered, Sent: 1},
		{WebhookID: "wh_pending", Status: pcx.DeliveryPending, Sent: 1, RetryDelay: time.Duration(float64(testSchedule[0]) * testJitter)},
		{WebhookID: "wh_gone", Status: pcx.DeliveryFailed, Sent: 1},
		{WebhookID: "wh_earlier_run", Status: pcx.DeliveryPending},
		{WebhookID: "wh_cancelled", Status: pcx.DeliveryPending},
		{WebhookID: "wh_none", Status: pcx.DeliveryPending},
	}, res.Outcomes)
}

// A store that does not answer fails the read, retryably: the workflow waits for the records
// rather than guess.
func TestReadOutcomesFailsWhileTheStoreIsDown(t *testing.T) {
	st := newFakeStore()
	st.addEvent(testEvent())
	st.webhookErr = func() error { return pcx.Errorf(pcx.EUnavailable, "The database is busy") }
	var ts testsuite.WorkflowTestSuite
	ts.SetLogger(quietLogger())
	env := ts.NewTestActivityEnvironment()
	acts := newActivities(st, client(nil, time.Second))
	env.RegisterActivity(acts)

	_, err := env.ExecuteActivity(acts.ReadOutcomes, activities.ReadOutcomesInput{EventID: testEventID, OrgID: testOrgID, WebhookIDs: []string{"wh_1"}})

	var appErr *temporal.ApplicationError
	require.Error(t, err)
	require.False(t, errors.As(err, &appErr) && appErr.NonRetryable(), "a store outage is retried: %v", err)
}
