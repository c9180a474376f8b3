package activities_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/testsuite"

	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/workflows"
)

// RetrySuite runs the real DeliverBatch and Deliver activities inside the real workflows in the
// test workflow environment: the first attempt in a local-activity batch, the retries as durable
// activities numbered and delayed by Temporal's retry machinery (on the environment's clock)
// rather than set by hand.
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
	workflows.Register(env, newActivities(s.store, client(rc.pool(), 5*time.Second)))
	start := env.Now()
	env.ExecuteWorkflow(workflows.BatchWorkflowName, workflows.BatchInput{EventID: testEventID, OrgID: testOrgID, WebhookIDs: []string{"wh_1"}})
	s.Require().True(env.IsWorkflowCompleted())
	s.Require().NoError(env.GetWorkflowError())
	var sum workflows.Summary
	s.Require().NoError(env.GetWorkflowResult(&sum))
	return sum, env.Now().Sub(start)
}

func jittered(d time.Duration) time.Duration { return time.Duration(float64(d) * testJitter) }

// statuses lists the status each attempt written left, in order, through either write path.
func (s *RetrySuite) statuses() []pcx.DeliveryStatus {
	var out []pcx.DeliveryStatus
	for _, a := range s.store.written() {
		out = append(out, a.Status)
	}
	return out
}

// failCalls returns a fault that fails calls from..to (counted from 1) with a store outage.
func failCalls(from, to int) func() error {
	var n atomic.Int64
	return func() error {
		if c := int(n.Add(1)); c >= from && c <= to {
			return pcx.Errorf(pcx.EUnavailable, "The database is busy")
		}
		return nil
	}
}

func (s *RetrySuite) TestRetriedOnTheScheduleUntilDelivered() {
	rc := newReceiver(s.T(), answers(500, 503, 200))

	sum, took := s.run(rc)

	s.Equal(workflows.Summary{Endpoints: 1, Delivered: 1}, sum)
	s.Equal(int64(3), rc.hits.Load())
	s.Equal([]pcx.DeliveryStatus{pcx.DeliveryPending, pcx.DeliveryPending, pcx.DeliveryDelivered}, s.statuses(), "every attempt is recorded")
	s.Len(s.store.firstCalls(), 1, "the first attempt is recorded by its batch")
	s.Len(s.store.recorded(), 2, "the retries one by one")
	// The first retry waits on the workflow's timer, the second on Temporal's retry of Deliver.
	want := jittered(testSchedule[0]) + jittered(testSchedule[1])
	s.GreaterOrEqual(took, want, "Temporal waits the delays the activities ask for")
	s.Less(took, want+time.Minute)
}

func (s *RetrySuite) TestFailedWhenTheScheduleIsExhausted() {
	rc := newReceiver(s.T(), answers(500))

	sum, took := s.run(rc)

	s.Equal(workflows.Summary{Endpoints: 1, Failed: 1}, sum)
	s.Equal(int64(len(testSchedule)+1), rc.hits.Load(), "one first attempt and one per schedule step")
	st := s.statuses()
	s.Require().Len(st, len(testSchedule)+1)
	s.Equal(pcx.DeliveryFailed, st[len(st)-1])
	var want time.Duration
	for _, d := range testSchedule {
		want += jittered(d)
	}
	s.GreaterOrEqual(took, want, "every step of the schedule is waited, the first included")
}

func (s *RetrySuite) TestDeliveredAtOnce() {
	rc := newReceiver(s.T(), nil)

	sum, took := s.run(rc)

	s.Equal(workflows.Summary{Endpoints: 1, Delivered: 1}, sum)
	s.Equal(int64(1), rc.hits.Load())
	s.Equal([]pcx.DeliveryStatus{pcx.DeliveryDelivered}, s.statuses())
	s.Empty(s.store.recorded(), "no durable activity for a delivery the batch completed")
	s.Less(took, time.Second, "no timer")
}

func (s *RetrySuite) TestGoneIsNotRetried() {
	rc := newReceiver(s.T(), answers(410, 200))

	sum, _ := s.run(rc)

	s.Equal(workflows.Summary{Endpoints: 1, Failed: 1}, sum)
	s.Equal(int64(1), rc.hits.Load())
	s.Equal(pcx.WebhookDisabled, s.store.webhook("wh_1").Status)
	s.Equal([]pcx.DeliveryStatus{pcx.DeliveryFailed}, s.statuses())
}

func (s *RetrySuite) TestGoneWhoseDisableFailedIsRetriedAndDisables() {
	rc := newReceiver(s.T(), answers(410))
	s.store.updateErr = failCalls(1, 1)

	sum, _ := s.run(rc)

	s.Equal(workflows.Summary{Endpoints: 1, Failed: 1}, sum)
	s.Equal(int64(2), rc.hits.Load(), "the first 410 could not disable the endpoint: the retry's does")
	s.Equal(pcx.WebhookDisabled, s.store.webhook("wh_1").Status)
	s.Equal([]pcx.DeliveryStatus{pcx.DeliveryPending, pcx.DeliveryFailed}, s.statuses())
}

// A store outage before the request is sent must not use up the endpoint's retry schedule: the
// contract promises len(schedule) retries of the endpoint on failure, and "every attempt is
// recorded". A batch that cannot read its endpoints sends nothing and hands its chunk to durable
// Deliver activities, whose sends are counted apart from the attempts that sent nothing; a retry
// after the batch's first attempt continues the schedule from send 2.
func (s *RetrySuite) TestStoreOutageDoesNotUseUpTheSchedule() {
	const batchReads = 2 // the batch's local activity and its one retry
	cases := []struct {
		name     string
		from, to int   // endpoint reads (counted from 1) that fail
		answers  []int // the receiver's answers
		want     []pcx.DeliveryStatus
	}{
		// len(testSchedule) failures ≈ 75s of outage with the workflow's retry policy (5s, 10s, 20s, 40s).
		{"outage before the first attempt, then one 5xx", 1, batchReads + len(testSchedule), []int{500, 200},
			[]pcx.DeliveryStatus{pcx.DeliveryPending, pcx.DeliveryDelivered}},
		{"outage before the first attempt, then a healthy endpoint", 1, batchReads + len(testSchedule) + 1, []int{200},
			[]pcx.DeliveryStatus{pcx.DeliveryDelivered}},
		{"outage during the retries", 2, 1 + len(testSchedule), []int{500, 500, 200},
			[]pcx.DeliveryStatus{pcx.DeliveryPending, pcx.DeliveryPending, pcx.DeliveryDelivered}},
	}
	for _, tc := range cases {
		s.Run(tc.name, func() {
			s.SetupTest()
			s.store.webhookErr = failCalls(tc.from, tc.to)
			rc := newReceiver(s.T(), answers(tc.answers...))

			sum, _ := s.run(rc)

			s.Equal(workflows.Summary{Endpoints: 1, Delivered: 1}, sum,
				"the endpoint answered 2xx within its schedule; attempts recorded: %+v", s.store.written())
			s.Equal(int64(len(tc.answers)), rc.hits.Load())
			s.Equal(tc.want, s.statuses())
		})
	}
}

func (s *RetrySuite) TestUnrecordedFirstAttemptIsRecordedByTheWorkflow() {
	rc := newReceiver(s.T(), nil)
	s.store.firstErr = failCalls(1, 1)

	sum, _ := s.run(rc)

	s.Equal(workflows.Summary{Endpoints: 1, Delivered: 1}, sum)
	s.Equal(int64(1), rc.hits.Load(), "recording never sends again")
	calls := s.store.firstCalls()
	s.Require().Len(calls, 1, "RecordOutcomes wrote what the batch could not")
	s.Equal([]record{{WebhookID: "wh_1", URL: rc.url(), Status: pcx.DeliveryDelivered, Sent: true, Code: 200}}, recordsOf(calls[0].Records))
	status, attempts := s.store.delivery(testEventID, "wh_1")
	s.Equal(pcx.DeliveryDelivered, status)
	s.Equal(1, attempts)
}

// The record of a first attempt that the batch could not write must not overwrite what its retry
// recorded since. RecordOutcomes runs after every batch of the fan-out, and is retried while the
// store fails; the retry's timer (schedule[0]) starts with the batch. Here the store takes
// neither the batch's write nor RecordOutcomes' first attempts (at 0s, 1s, 3s and 7s, the 5th at
// 15s); the retry sends at 5.5s, is delivered and recorded; then RecordOutcomes writes the first
// attempt: with the DynamoDB store's semantics (RecordFirstAttempts on an existing record is
// RecordAttempt), the delivery ends up pending, with delivered_at removed.
func (s *RetrySuite) TestUnrecordedFirstAttemptDoesNotOverwriteItsRetry() {
	rc := newReceiver(s.T(), answers(500, 200))
	s.store.firstErr = failCalls(1, 5)

	sum, _ := s.run(rc)

	s.Equal(workflows.Summary{Endpoints: 1, Delivered: 1}, sum)
	s.Equal(int64(2), rc.hits.Load())
	status, attempts := s.store.delivery(testEventID, "wh_1")
	s.Equal(2, attempts)
	s.Equal(pcx.DeliveryDelivered, status,
		"the delivery was delivered by its retry, but the store says %s: the late first-attempt record overwrote it (writes in order: %+v)",
		status, s.store.written())
}
