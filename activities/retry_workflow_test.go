package activities_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/testsuite"

	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/worker"
	"github.com/pcx/publicservice/workflows"
)

// RetrySuite runs the real Deliver activity inside the real workflows in the test workflow
// environment, so attempts are numbered and delayed by Temporal's retry machinery (on the
// environment's clock) rather than set by hand.
type RetrySuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	store *fakeStore
}

func TestRetriesThroughTemporal(t *testing.T) { suite.Run(t, new(RetrySuite)) }

func (s *RetrySuite) SetupTest() {
	s.SetLogger(quietLogger())
	s.store = newFakeStore()
	s.store.addEvent(testEvent())
}

// run delivers the test event to wh_1 at rc through a batch workflow and returns its summary
// and how long it took on the environment's clock.
func (s *RetrySuite) run(rc *receiver) (workflows.Summary, time.Duration) {
	s.T().Helper()
	s.store.addWebhook(activeWebhook("wh_1", rc.url(), pcx.WebhookSecret{Key: []byte("0123456789abcdef0123456789abcdef")}))
	env := s.NewTestWorkflowEnvironment()
	env.SetTestTimeout(30 * time.Second)
	worker.Register(env, newActivities(s.store, client(rc.pool(), 5*time.Second)))
	start := env.Now()
	env.ExecuteWorkflow(workflows.BatchWorkflowName, workflows.BatchInput{EventID: testEventID, OrgID: testOrgID, WebhookIDs: []string{"wh_1"}})
	s.Require().True(env.IsWorkflowCompleted())
	s.Require().NoError(env.GetWorkflowError())
	var sum workflows.Summary
	s.Require().NoError(env.GetWorkflowResult(&sum))
	return sum, env.Now().Sub(start)
}

func jittered(d time.Duration) time.Duration { return time.Duration(float64(d) * testJitter) }

func (s *RetrySuite) TestRetriedOnTheScheduleUntilDelivered() {
	rc := newReceiver(s.T(), answers(500, 503, 200))

	sum, took := s.run(rc)

	s.Equal(workflows.Summary{Endpoints: 1, Delivered: 1}, sum)
	s.Equal(int64(3), rc.hits.Load())
	var statuses []pcx.DeliveryStatus
	for _, a := range s.store.recorded() {
		statuses = append(statuses, a.Status)
	}
	s.Equal([]pcx.DeliveryStatus{pcx.DeliveryPending, pcx.DeliveryPending, pcx.DeliveryDelivered}, statuses, "every attempt is recorded")
	want := jittered(testSchedule[0]) + jittered(testSchedule[1])
	s.GreaterOrEqual(took, want, "Temporal waits the delays Deliver asks for")
	s.Less(took, want+time.Minute)
}

func (s *RetrySuite) TestFailedWhenTheScheduleIsExhausted() {
	rc := newReceiver(s.T(), answers(500))

	sum, _ := s.run(rc)

	s.Equal(workflows.Summary{Endpoints: 1, Failed: 1}, sum)
	s.Equal(int64(len(testSchedule)+1), rc.hits.Load(), "one first attempt and one per schedule step")
	rec := s.store.recorded()
	s.Require().Len(rec, len(testSchedule)+1)
	s.Equal(pcx.DeliveryFailed, rec[len(rec)-1].Status)
}

func (s *RetrySuite) TestGoneIsNotRetried() {
	rc := newReceiver(s.T(), answers(410, 200))

	sum, _ := s.run(rc)

	s.Equal(workflows.Summary{Endpoints: 1, Failed: 1}, sum)
	s.Equal(int64(1), rc.hits.Load())
	s.Equal(pcx.WebhookDisabled, s.store.webhook("wh_1").Status)
}

// A store outage before the request is sent must not use up the endpoint's retry schedule: the
// contract promises len(schedule) retries of the endpoint on failure, and "every attempt is
// recorded". Deliver numbers its sends by Temporal's attempt, which store errors (returned as
// plain retryable errors) also advance.
func (s *RetrySuite) TestStoreOutageDoesNotUseUpTheSchedule() {
	cases := []struct {
		name          string
		storeFailures int   // WebhookWithSecrets calls that fail first
		answers       []int // the receiver's answers
	}{
		// 4 failures ≈ 75s of outage with the workflow's retry policy (5s, 10s, 20s, 40s).
		{"outage then one 5xx", len(testSchedule), []int{500, 200}},
		{"outage then a healthy endpoint", len(testSchedule) + 1, []int{200}},
	}
	for _, tc := range cases {
		s.Run(tc.name, func() {
			s.SetupTest()
			var calls atomic.Int64
			s.store.webhookErr = func() error {
				if calls.Add(1) <= int64(tc.storeFailures) {
					return pcx.Errorf(pcx.EUnavailable, "The database is busy")
				}
				return nil
			}
			rc := newReceiver(s.T(), answers(tc.answers...))

			sum, _ := s.run(rc)

			s.Equal(workflows.Summary{Endpoints: 1, Delivered: 1}, sum,
				"the endpoint answered 2xx within its schedule; attempts recorded: %+v", s.store.recorded())
			s.Equal(int64(len(tc.answers)), rc.hits.Load())
		})
	}
}
