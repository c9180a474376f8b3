package activities_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/pcx"
)

type PlanSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	store *fakeStore
	ev    *pcx.Event
	acts  *activities.Activities
}

func TestPlanDeliveries(t *testing.T) { suite.Run(t, new(PlanSuite)) }

func (s *PlanSuite) SetupTest() {
	s.SetLogger(quietLogger())
	s.store = newFakeStore()
	s.ev = testEvent()
	s.store.addEvent(s.ev)
	for _, id := range []string{"wh_1", "wh_2", "wh_3", "wh_4", "wh_5", "wh_6", "wh_7"} {
		s.store.addWebhook(activeWebhook(id, "https://receiver.example/"+id))
	}
	disabled := activeWebhook("wh_4b", "https://receiver.example/disabled")
	disabled.Status = pcx.WebhookDisabled
	s.store.addWebhook(disabled)
	other := activeWebhook("wh_0", "https://other.example/")
	other.OrgID = "org_other"
	s.store.addWebhook(other)
	s.acts = newActivities(s.store, nil)
}

func (s *PlanSuite) plan(in activities.PlanInput) (activities.Plan, error) {
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(s.acts)
	val, err := env.ExecuteActivity(s.acts.PlanDeliveries, in)
	if err != nil {
		return activities.Plan{}, err
	}
	var p activities.Plan
	s.Require().NoError(val.Get(&p))
	return p, nil
}

func (s *PlanSuite) TestPagesThroughActiveWebhooks() {
	var got [][]string
	var after []string
	in := activities.PlanInput{EventID: testEventID, OrgID: testOrgID, Limit: 3}
	for range 10 {
		p, err := s.plan(in)
		s.Require().NoError(err)
		got = append(got, p.WebhookIDs)
		after = append(after, in.After)
		if p.Next == "" {
			break
		}
		in.After = p.Next
	}

	s.Equal([][]string{{"wh_1", "wh_2", "wh_3"}, {"wh_4", "wh_5", "wh_6"}, {"wh_7"}}, got,
		"pages of the org's active endpoints; disabled ones and other orgs' are not planned")
	s.Equal([]pageCall{
		{Org: testOrgID, Limit: 3, After: ""},
		{Org: testOrgID, Limit: 3, After: "wh_3"},
		{Org: testOrgID, Limit: 3, After: "wh_6"},
	}, s.store.pageCalls, "each page is listed from the position the previous one returned")
	s.Equal([]string{"", "wh_3", "wh_6"}, after)
	exp := s.ev.CreatedAt.Add(retention)
	s.Equal([]planCall{
		{EventID: testEventID, WebhookIDs: []string{"wh_1", "wh_2", "wh_3"}, Expires: exp},
		{EventID: testEventID, WebhookIDs: []string{"wh_4", "wh_5", "wh_6"}, Expires: exp},
		{EventID: testEventID, WebhookIDs: []string{"wh_7"}, Expires: exp},
	}, s.store.planned, "pending deliveries are recorded for each page's targets")
	s.Equal(pcx.DeliveryPending, s.store.deliveries[deliveryKey(testEventID, "wh_7")])
}

func (s *PlanSuite) TestReplaySubsetSkipsDeletedAndDisabled() {
	p, err := s.plan(activities.PlanInput{
		EventID: testEventID, OrgID: testOrgID, Limit: 500,
		WebhookIDs: []string{"wh_5", "wh_deleted", "wh_4b", "wh_0", "wh_2"},
	})

	s.Require().NoError(err)
	s.Equal(activities.Plan{WebhookIDs: []string{"wh_5", "wh_2"}}, p,
		"deleted, disabled and other organisations' endpoints are skipped; the order asked for is kept")
	s.Empty(s.store.pageCalls, "a replay subset does not list the organisation's endpoints")
	s.Require().Len(s.store.planned, 1)
	s.Equal([]string{"wh_5", "wh_2"}, s.store.planned[0].WebhookIDs)
}

func (s *PlanSuite) TestEmptyPlan() {
	s.store.webhooks = map[string]*pcx.Webhook{}

	p, err := s.plan(activities.PlanInput{EventID: testEventID, OrgID: testOrgID, Limit: 500})

	s.Require().NoError(err)
	s.Empty(p.WebhookIDs)
	s.Empty(p.Next)
}

func (s *PlanSuite) TestStoreErrorIsRetryable() {
	s.store.webhookErr = func() error { return pcx.Errorf(pcx.EUnavailable, "The database is busy") }

	_, err := s.plan(activities.PlanInput{EventID: testEventID, OrgID: testOrgID, WebhookIDs: []string{"wh_1"}, Limit: 500})

	s.Require().Error(err)
	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(err, &appErr))
	s.False(appErr.NonRetryable(), "a store outage is retried")
	s.Empty(s.store.planned)
}

func (s *PlanSuite) TestMissingEventIsNonRetryable() {
	delete(s.store.events, testEventID)

	_, err := s.plan(activities.PlanInput{EventID: testEventID, OrgID: testOrgID, Limit: 500})

	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(err, &appErr), "got %v", err)
	s.True(appErr.NonRetryable())
	s.Equal("EventMissing", appErr.Type())
}
