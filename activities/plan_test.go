package activities_test

import (
	"errors"
	"fmt"
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

// plan runs PlanDeliveries as the workflow does: as a local activity.
func (s *PlanSuite) plan(in activities.PlanInput) (activities.Plan, error) {
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(s.acts)
	val, err := env.ExecuteLocalActivity(s.acts.PlanDeliveries, in)
	if err != nil {
		return activities.Plan{}, err
	}
	var p activities.Plan
	s.Require().NoError(val.Get(&p))
	return p, nil
}

// noWrites asserts planning wrote nothing: a delivery's record is written after its first attempt.
func (s *PlanSuite) noWrites() {
	s.T().Helper()
	s.Empty(s.store.firstCalls(), "planning records no delivery")
	s.Empty(s.store.recorded())
	s.Empty(s.store.statuses)
	s.Empty(s.store.updates)
	s.Empty(s.store.deliveries)
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
	s.Empty(s.store.batchReads, "a page is listed, its endpoints are not read one by one")
	s.Equal(1, s.store.reads(), "the event is read once, then served from the cache")
	s.noWrites()
}

func (s *PlanSuite) TestReplaySubsetSkipsDeletedAndDisabled() {
	asked := []string{"wh_5", "wh_deleted", "wh_4b", "wh_0", "wh_2", "wh_7"}

	p, err := s.plan(activities.PlanInput{EventID: testEventID, OrgID: testOrgID, Limit: 500, WebhookIDs: asked})

	s.Require().NoError(err)
	s.Equal(activities.Plan{WebhookIDs: []string{"wh_5", "wh_2", "wh_7"}}, p,
		"deleted, disabled and other organisations' endpoints are skipped; the order asked for is kept")
	s.Empty(s.store.pageCalls, "a replay subset does not list the organisation's endpoints")
	s.Equal([]batchReadCall{{Org: testOrgID, IDs: asked}}, s.store.batchReads, "the subset is read in one batched read")
	s.noWrites()
}

func (s *PlanSuite) TestReplaySubsetOrderIsTheReplays() {
	// The store's map has no order: the plan follows the IDs as the replay asked for them,
	// whatever their sort order.
	asked := []string{"wh_7", "wh_1", "wh_6", "wh_2", "wh_5", "wh_3", "wh_4"}

	p, err := s.plan(activities.PlanInput{EventID: testEventID, OrgID: testOrgID, Limit: 500, WebhookIDs: asked})

	s.Require().NoError(err)
	s.Equal(asked, p.WebhookIDs)
	s.Empty(p.Next, "a replay subset is one page")
}

func (s *PlanSuite) TestReplaySubsetWithNothingLeft() {
	p, err := s.plan(activities.PlanInput{EventID: testEventID, OrgID: testOrgID, Limit: 500, WebhookIDs: []string{"wh_deleted", "wh_4b"}})

	s.Require().NoError(err)
	s.Empty(p.WebhookIDs)
	s.Empty(p.Next)
	s.noWrites()
}

func (s *PlanSuite) TestEmptyPlan() {
	s.store.webhooks = map[string]*pcx.Webhook{}

	p, err := s.plan(activities.PlanInput{EventID: testEventID, OrgID: testOrgID, Limit: 500})

	s.Require().NoError(err)
	s.Empty(p.WebhookIDs)
	s.Empty(p.Next)
	s.noWrites()
}

func (s *PlanSuite) TestStoreErrorIsRetryable() {
	for _, tc := range []struct {
		name   string
		subset []string
	}{
		{"listing a page", nil},
		{"reading a replay subset", []string{"wh_1"}},
	} {
		s.Run(tc.name, func() {
			s.SetupTest()
			s.store.webhookErr = func() error { return pcx.Errorf(pcx.EUnavailable, "The database is busy") }

			_, err := s.plan(activities.PlanInput{EventID: testEventID, OrgID: testOrgID, WebhookIDs: tc.subset, Limit: 500})

			// What the workflow checks: only a non-retryable application error is permanent.
			s.Require().Error(err)
			var appErr *temporal.ApplicationError
			s.False(errors.As(err, &appErr) && appErr.NonRetryable(), "a store outage is retried: %v", err)
			s.Equal(pcx.EUnavailable, pcx.ErrorCode(err), "the store's error comes through: %v", err)
			s.noWrites()
		})
	}
}

func (s *PlanSuite) TestMissingEventIsNonRetryable() {
	for _, subset := range [][]string{nil, {"wh_1"}} {
		s.SetupTest()
		delete(s.store.events, testEventID)

		_, err := s.plan(activities.PlanInput{EventID: testEventID, OrgID: testOrgID, WebhookIDs: subset, Limit: 500})

		var appErr *temporal.ApplicationError
		s.Require().True(errors.As(err, &appErr), "got %v", err)
		s.True(appErr.NonRetryable())
		s.Equal("EventMissing", appErr.Type())
		s.Empty(s.store.pageCalls, "nothing is listed for an event that is gone")
		s.Empty(s.store.batchReads)
	}
}

// TestPlansOnlySubscribedEndpoints: planning matches the event's type against each endpoint's
// event_types once, for pages and for a replay's named endpoints alike; a page whose endpoints
// are not subscribed comes back short (even empty) but keeps its position.
func (s *PlanSuite) TestPlansOnlySubscribedEndpoints() {
	subscribe := func(id string, types ...string) {
		w := s.store.webhook(id)
		w.EventTypes = types
		s.store.addWebhook(&w)
	}
	subscribe("wh_1", "refund.*")
	subscribe("wh_2", "transaction.*")
	subscribe("wh_3", "pcx.test")
	subscribe("wh_5", "pcx.*", "refund.created")
	events := 0
	all := func(eventType string, replay ...string) []string {
		// An event of its own each time: events are cached by ID, and their types never change.
		events++
		ev := *s.ev
		ev.ID, ev.Type = fmt.Sprintf("%s_%d", testEventID, events), eventType
		s.store.addEvent(&ev)
		var ids []string
		in := activities.PlanInput{EventID: ev.ID, OrgID: testOrgID, Limit: 3, WebhookIDs: replay}
		for range 10 {
			p, err := s.plan(in)
			s.Require().NoError(err)
			ids = append(ids, p.WebhookIDs...)
			if p.Next == "" {
				return ids
			}
			in.After = p.Next
		}
		s.FailNow("planning did not end")
		return nil
	}
	s.Equal([]string{"wh_2", "wh_4", "wh_6", "wh_7"}, all(pcx.DefaultEventType))
	s.Equal([]string{"wh_2", "wh_4", "wh_6", "wh_7"}, all(""), "an event stored before types is transaction.updated")
	s.Equal([]string{"wh_1", "wh_4", "wh_5", "wh_6", "wh_7"}, all("refund.created"))
	s.Equal([]string{"wh_3", "wh_5"}, all(pcx.EventTest), "reserved types reach only the endpoints that name them")
	s.Equal([]string{"wh_5"}, all(pcx.EventEndpointDisabled))
	s.Equal([]string{"wh_5", "wh_6"}, all("refund.created", "wh_2", "wh_5", "wh_6"), "a replay goes to the named endpoints that are subscribed")
	s.noWrites()
}

// TestTestSendsGoToTheNamedEndpointWhateverItsSubscription: a pcx.test event planned for named
// endpoints (POST /public/webhooks/{id}/test) reaches them subscribed or not; on the pages of
// every endpoint it reaches only those that name it.
func (s *PlanSuite) TestTestSendsGoToTheNamedEndpointWhateverItsSubscription() {
	w := s.store.webhook("wh_1")
	w.EventTypes = []string{"refund.*"}
	s.store.addWebhook(&w)
	ev := *s.ev
	ev.ID, ev.Type = testEventID+"_test", pcx.EventTest
	s.store.addEvent(&ev)
	p, err := s.plan(activities.PlanInput{EventID: ev.ID, OrgID: testOrgID, WebhookIDs: []string{"wh_1"}})
	s.Require().NoError(err)
	s.Equal([]string{"wh_1"}, p.WebhookIDs)
	p, err = s.plan(activities.PlanInput{EventID: ev.ID, OrgID: testOrgID, Limit: 100})
	s.Require().NoError(err)
	s.Empty(p.WebhookIDs, "no endpoint names pcx.test")
}
