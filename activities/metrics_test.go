package activities_test

import (
	"net/http"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/pcx"
)

// A delivery whose first send fails is pending, from its event's acceptance on, until its retry
// delivers it; the latency from acceptance to delivery is observed as a retry's.
func (s *DeliverSuite) TestMetricsOfARetriedDelivery() {
	rc := newReceiver(s.T(), answers(http.StatusInternalServerError, http.StatusOK))
	s.endpoint("wh_1", rc.url())
	acts := s.acts(rc)
	age := time.Since(s.ev.CreatedAt).Seconds()
	s.workflowID = s.ev.WorkflowID // the event's own workflow

	_, err := s.deliver(acts, 1, "wh_1")

	s.Require().Error(err, "the first send fails: a retry is scheduled")
	s.Equal("1", metric(acts, `pcx_webhook_pending_deliveries{cause="endpoint"}`))
	oldest := s.value(acts, `pcx_webhook_oldest_pending_delivery_seconds{cause="endpoint"}`)
	s.InDelta(age, oldest, 5, "the oldest pending delivery's age counts from its event's acceptance")

	res, err := s.deliver(acts, 2, "wh_1")

	s.Require().NoError(err)
	s.Equal(pcx.DeliveryDelivered, res.Status)
	s.Equal("0", metric(acts, `pcx_webhook_pending_deliveries{cause="endpoint"}`))
	s.Equal("0", metric(acts, `pcx_webhook_oldest_pending_delivery_seconds{cause="endpoint"}`))
	s.Equal("1", metric(acts, `pcx_webhook_delivery_latency_seconds_count{attempt="retry"}`))
	s.Empty(metric(acts, `pcx_webhook_delivery_latency_seconds_count{attempt="first"}`))
	s.InDelta(age, s.value(acts, `pcx_webhook_delivery_latency_seconds_sum{attempt="retry"}`), 5,
		"accept → delivered runs from the event's CreatedAt to the response")
}

// A replay delivers an event accepted long ago: its latency is not the service's, and its
// delivery is pending since the replay's attempt, not since the event's acceptance.
func (s *DeliverSuite) TestMetricsOfAReplayedDelivery() {
	rc := newReceiver(s.T(), answers(http.StatusInternalServerError, http.StatusOK))
	s.endpoint("wh_1", rc.url())
	acts := s.acts(rc)
	s.workflowID = s.ev.WorkflowID + "-replay-rpl_1"

	_, err := s.deliver(acts, 1, "wh_1")

	s.Require().Error(err)
	s.Equal("1", metric(acts, `pcx_webhook_pending_deliveries{cause="endpoint"}`))
	s.Less(s.value(acts, `pcx_webhook_oldest_pending_delivery_seconds{cause="endpoint"}`), 5.0, "pending since the replay's attempt")

	res, err := s.deliver(acts, 2, "wh_1")

	s.Require().NoError(err)
	s.Equal(pcx.DeliveryDelivered, res.Status)
	s.Equal("1", metric(acts, `pcx_webhook_deliveries_total{outcome="delivered"}`))
	s.Empty(metric(acts, `pcx_webhook_delivery_latency_seconds_count{attempt="retry"}`), "a replay's delivery is no accept → delivered latency")
}

// value is metric's value as a number; the series must exist.
func (s *DeliverSuite) value(acts *activities.Activities, series string) float64 {
	s.T().Helper()
	v := metric(acts, series)
	s.Require().NotEmpty(v, "no series %s", series)
	f, err := strconv.ParseFloat(v, 64)
	s.Require().NoError(err)
	return f
}

// The send-slot gauges count the sends holding a slot and those waiting for one, and return to
// zero when the sends end; a batch's deliveries are observed as first attempts.
func (s *BatchSuite) TestSlotGaugesAndFirstAttemptLatency() {
	release := make(chan struct{})
	rc := newReceiver(s.T(), func(w http.ResponseWriter, _ *http.Request) {
		<-release
		w.WriteHeader(http.StatusOK)
	})
	ids := []string{"wh_1", "wh_2", "wh_3"}
	s.workflowID = s.ev.WorkflowID + "/run_1/batch-1" // a child batch of the event's workflow
	for _, id := range ids {
		s.endpoint(id, rc.url())
	}
	acts := activities.New(activities.Activities{
		Store: s.store, Client: client(rc.pool(), 30*time.Second), Log: zerolog.Nop(), Schedule: testSchedule,
		Retention: retention, UserAgent: userAgent, Jitter: func() float64 { return testJitter }, MaxInFlight: 2,
	})
	done := make(chan error, 1)
	var res activities.BatchResult
	go func() {
		var err error
		res, err = s.batch(acts, ids...)
		done <- err
	}()

	// Each send that holds a slot is a POST the receiver holds; the rest wait. Which of the three
	// get a slot is internal/slots' fair share (here one: first attempts leave room for retries).
	gauges := func() (inUse, waiting string) {
		return metric(acts, "pcx_webhook_send_slots_in_use"), metric(acts, "pcx_webhook_send_slots_waiting")
	}
	s.Eventually(func() bool {
		inUse, waiting := gauges()
		n, _ := strconv.Atoi(inUse)
		w, _ := strconv.Atoi(waiting)
		return n > 0 && int64(n) == rc.hits.Load() && n+w == len(ids)
	}, 10*time.Second, 10*time.Millisecond, "slots in use = POSTs held by the receiver, in use + waiting = %d sends", len(ids))
	time.Sleep(100 * time.Millisecond) // nothing else moves while the receiver holds its POSTs
	inUse, waiting := gauges()
	s.Equal(strconv.FormatInt(rc.hits.Load(), 10), inUse, "slots in use")
	s.Equal(strconv.Itoa(len(ids)-int(rc.hits.Load())), waiting, "sends waiting")
	close(release)
	s.Require().NoError(<-done)

	for _, o := range res.Outcomes {
		s.Equal(pcx.DeliveryDelivered, o.Status, o.WebhookID)
	}
	s.Equal("2", metric(acts, "pcx_webhook_send_slots_limit"), "MaxInFlight")
	s.Equal("0", metric(acts, "pcx_webhook_send_slots_in_use"))
	s.Equal("0", metric(acts, "pcx_webhook_send_slots_waiting"))
	s.Equal("3", metric(acts, `pcx_webhook_delivery_latency_seconds_count{attempt="first"}`))
	s.Equal("0", metric(acts, `pcx_webhook_pending_deliveries{cause="endpoint"}`), "first attempts that delivered leave nothing pending")
}
