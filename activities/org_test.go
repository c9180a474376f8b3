package activities_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/pcx"
)

// otherOrg owns an active endpoint, but not the event.
const otherOrg = "org_other"

// orgFixture is an event of testOrgID and an active endpoint of otherOrg at a receiver.
type orgFixture struct {
	store *fakeStore
	rc    *receiver
	logs  *bytes.Buffer
	acts  *activities.Activities
	env   *testsuite.TestActivityEnvironment
}

func newOrgFixture(t *testing.T) *orgFixture {
	t.Helper()
	f := &orgFixture{store: newFakeStore(), rc: newReceiver(t, nil), logs: &bytes.Buffer{}}
	f.store.addEvent(testEvent())
	w := activeWebhook("wh_other", f.rc.url())
	w.OrgID = otherOrg
	f.store.addWebhook(w)
	f.acts = newActivities(f.store, client(f.rc.pool(), 5*time.Second))
	f.acts.Log = zerolog.New(f.logs)
	var ts testsuite.WorkflowTestSuite
	ts.SetLogger(quietLogger())
	f.env = ts.NewTestActivityEnvironment()
	f.env.SetTestTimeout(time.Minute)
	f.env.RegisterActivity(f.acts)
	return f
}

// Every activity that takes an organisation, run with an input naming another organisation than
// the event's (as anyone who can start a workflow on Temporal could), refuses for good, reads no
// endpoint, sends nothing, writes nothing, and counts and logs the refusal: the event and both
// organisations, never the payload.
func TestActivitiesRefuseAnotherOrgsEvent(t *testing.T) {
	deliver := activities.DeliverInput{EventID: testEventID, OrgID: otherOrg, WebhookID: "wh_other"}
	runs := map[string]func(f *orgFixture) (converter.EncodedValue, error){
		"PlanDeliveries": func(f *orgFixture) (converter.EncodedValue, error) {
			return f.env.ExecuteLocalActivity(f.acts.PlanDeliveries, activities.PlanInput{EventID: testEventID, OrgID: otherOrg, Limit: 10})
		},
		"PlanDeliveries of a replay": func(f *orgFixture) (converter.EncodedValue, error) {
			return f.env.ExecuteLocalActivity(f.acts.PlanDeliveries, activities.PlanInput{EventID: testEventID, OrgID: otherOrg, WebhookIDs: []string{"wh_other"}})
		},
		"DeliverBatch": func(f *orgFixture) (converter.EncodedValue, error) {
			return f.env.ExecuteLocalActivity(f.acts.DeliverBatch, activities.BatchInput{EventID: testEventID, OrgID: otherOrg, WebhookIDs: []string{"wh_other"}})
		},
		"Deliver": func(f *orgFixture) (converter.EncodedValue, error) {
			return f.env.ExecuteActivity(f.acts.Deliver, deliver)
		},
		"ReadOutcomes": func(f *orgFixture) (converter.EncodedValue, error) {
			return f.env.ExecuteActivity(f.acts.ReadOutcomes, activities.ReadOutcomesInput{EventID: testEventID, OrgID: otherOrg, WebhookIDs: []string{"wh_other"}})
		},
		"RecordOutcomes": func(f *orgFixture) (converter.EncodedValue, error) {
			return f.env.ExecuteActivity(f.acts.RecordOutcomes, activities.RecordOutcomesInput{EventID: testEventID, OrgID: otherOrg,
				Records: []pcx.Delivery{{WebhookID: "wh_other", Status: pcx.DeliveryDelivered, Attempt: &pcx.Attempt{At: time.Now(), StatusCode: 200}}}})
		},
		"RecordOutcome": func(f *orgFixture) (converter.EncodedValue, error) {
			return f.env.ExecuteActivity(f.acts.RecordOutcome, activities.RecordOutcomeInput{
				DeliverInput: deliver,
				Result:       activities.DeliverResult{Status: pcx.DeliveryDelivered, Attempt: pcx.Attempt{At: time.Now(), StatusCode: 200}},
			})
		},
	}
	for name, run := range runs {
		t.Run(name, func(t *testing.T) {
			f := newOrgFixture(t)
			_, err := run(f)

			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "got %T %v, want the refusal", err, err)
			require.True(t, appErr.NonRetryable(), "the refusal must not be retried")
			require.Equal(t, activities.EventOfAnotherOrg, appErr.Type())
			require.NotContains(t, err.Error(), testOrgID, "the error, which the workflow's starter reads, names the event's organisation")
			require.Zero(t, f.rc.hits.Load(), "another organisation's endpoint received the event")
			require.Empty(t, f.store.pageCalls, "the other organisation's endpoints were listed")
			require.Empty(t, f.store.batchReads, "the other organisation's endpoints were read")
			require.Empty(t, f.store.firstCalls())
			require.Empty(t, f.store.recorded())
			require.Empty(t, f.store.statuses)
			require.Empty(t, f.store.updates)
			require.Equal(t, 1.0, counted(f.acts.Metrics.OrgMismatches))
			log := f.logs.String()
			for _, want := range []string{`"level":"warn"`, testEventID, `"event_org_id":"` + testOrgID + `"`, `"input_org_id":"` + otherOrg + `"`} {
				require.Contains(t, log, want)
			}
			require.NotContains(t, log, "amount", "the log holds the payload")
		})
	}
}

// The event's own organisation is delivered as before: the check refuses only a mismatch.
func TestActivitiesDeliverTheirOwnOrgsEvent(t *testing.T) {
	f := newOrgFixture(t)
	f.store.events[testEventID].OrgID = otherOrg
	val, err := f.env.ExecuteActivity(f.acts.Deliver, activities.DeliverInput{EventID: testEventID, OrgID: otherOrg, WebhookID: "wh_other"})
	require.NoError(t, err)
	var res activities.DeliverResult
	require.NoError(t, val.Get(&res))
	require.Equal(t, pcx.DeliveryDelivered, res.Status)
	require.Equal(t, int64(1), f.rc.hits.Load())
	require.Zero(t, counted(f.acts.Metrics.OrgMismatches))
}

// counted is a counter's value.
func counted(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
