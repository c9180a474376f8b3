package activities_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/internal/signing"
	"github.com/pcx/publicservice/pcx"
)

// OrgSuite runs every activity that takes an organisation with an input naming another
// organisation than the event's, as anyone who can start a workflow on Temporal could: each one
// refuses for good, sends nothing and writes nothing.
type OrgSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	store *fakeStore
	rc    *receiver
	logs  *bytes.Buffer
	acts  *activities.Activities
}

// otherOrg owns an active endpoint, but not the event.
const otherOrg = "org_other"

func TestActivitiesRefuseAnotherOrgsEvent(t *testing.T) { suite.Run(t, new(OrgSuite)) }

func (s *OrgSuite) SetupTest() {
	s.SetLogger(quietLogger())
	s.store = newFakeStore()
	s.store.addEvent(testEvent())
	s.rc = newReceiver(s.T(), nil)
	w := activeWebhook("wh_other", s.rc.url(), pcx.WebhookSecret{Key: signing.NewSecret()})
	w.OrgID = otherOrg
	s.store.addWebhook(w)
	s.logs = &bytes.Buffer{}
	s.acts = newActivities(s.store, client(s.rc.pool(), 5*time.Second))
	s.acts.Log = zerolog.New(s.logs)
}

// refused asserts err is the permanent refusal, that nothing was sent or written, and that the
// refusal was counted and logged with the event and both organisations, without the payload.
func (s *OrgSuite) refused(err error) {
	s.T().Helper()
	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(err, &appErr), "got %T %v, want the refusal", err, err)
	s.True(appErr.NonRetryable(), "the refusal must not be retried")
	s.Equal(activities.EventOfAnotherOrg, appErr.Type())
	s.NotContains(err.Error(), testOrgID, "the error, which the workflow's starter reads, names the event's organisation")
	s.Zero(s.rc.hits.Load(), "another organisation's endpoint received the event")
	s.Empty(s.store.firstCalls())
	s.Empty(s.store.recorded())
	s.Empty(s.store.statuses)
	s.Empty(s.store.updates)
	s.Equal(1.0, counted(s.acts.Metrics.OrgMismatches))
	log := s.logs.String()
	for _, want := range []string{`"level":"warn"`, testEventID, `"event_org_id":"` + testOrgID + `"`, `"input_org_id":"` + otherOrg + `"`} {
		s.Contains(log, want)
	}
	s.NotContains(log, "amount", "the log holds the payload")
}

func (s *OrgSuite) TestPlanDeliveries() {
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(s.acts)
	for _, in := range []activities.PlanInput{
		{EventID: testEventID, OrgID: otherOrg, Limit: 10},
		{EventID: testEventID, OrgID: otherOrg, WebhookIDs: []string{"wh_other"}}, // a replay's
	} {
		_, err := env.ExecuteLocalActivity(s.acts.PlanDeliveries, in)
		s.Require().Error(err)
		var appErr *temporal.ApplicationError
		s.Require().True(errors.As(err, &appErr), "got %v", err)
		s.Equal(activities.EventOfAnotherOrg, appErr.Type())
	}
	s.Empty(s.store.pageCalls, "the other organisation's endpoints were listed")
	s.Empty(s.store.batchReads, "the other organisation's endpoints were read")
	s.Equal(2.0, counted(s.acts.Metrics.OrgMismatches))
}

func (s *OrgSuite) TestDeliverBatch() {
	env := s.NewTestActivityEnvironment()
	env.SetTestTimeout(time.Minute)
	env.RegisterActivity(s.acts)
	_, err := env.ExecuteLocalActivity(s.acts.DeliverBatch, activities.BatchInput{EventID: testEventID, OrgID: otherOrg, WebhookIDs: []string{"wh_other"}})
	s.refused(err)
}

func (s *OrgSuite) TestDeliver() {
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(s.acts)
	_, err := env.ExecuteActivity(s.acts.Deliver, activities.DeliverInput{EventID: testEventID, OrgID: otherOrg, WebhookID: "wh_other"})
	s.refused(err)
}

func (s *OrgSuite) TestRecordOutcome() {
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(s.acts)
	_, err := env.ExecuteActivity(s.acts.RecordOutcome, activities.RecordOutcomeInput{
		DeliverInput: activities.DeliverInput{EventID: testEventID, OrgID: otherOrg, WebhookID: "wh_other"},
		Result:       activities.DeliverResult{Status: pcx.DeliveryDelivered, Attempt: pcx.Attempt{At: time.Now(), StatusCode: 200}},
	})
	s.refused(err)
}

// The event's own organisation is delivered as before: the check refuses only a mismatch.
func (s *OrgSuite) TestOwnOrganisationIsDelivered() {
	s.store.events[testEventID].OrgID = otherOrg
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(s.acts)
	val, err := env.ExecuteActivity(s.acts.Deliver, activities.DeliverInput{EventID: testEventID, OrgID: otherOrg, WebhookID: "wh_other"})
	s.Require().NoError(err)
	var res activities.DeliverResult
	s.Require().NoError(val.Get(&res))
	s.Equal(pcx.DeliveryDelivered, res.Status)
	s.Equal(int64(1), s.rc.hits.Load())
	s.Zero(counted(s.acts.Metrics.OrgMismatches))
}

// counted is a counter's value.
func counted(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
