package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/temporal"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/workflows"
)

// The breaker's threshold in these tests.
const testBreaker = 3

// fakeEmitter records the operational events the activities emit.
type fakeEmitter struct {
	mu     sync.Mutex
	events []emitted
	err    error
}

type emitted struct {
	Org, Type string
	Data      map[string]any
}

func (e *fakeEmitter) Emit(_ context.Context, org, eventType string, data []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	e.events = append(e.events, emitted{Org: org, Type: eventType, Data: m})
	return e.err
}

func (e *fakeEmitter) list() []emitted {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]emitted(nil), e.events...)
}

// clock is a settable time for the activities' Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// breakerActs returns activities on st delivering through rc's client with a breaker of
// testBreaker failures, auto-disable after disableAfter, the emitter em and the clock c.
func breakerActs(st activities.Store, rc *receiver, disableAfter time.Duration, em *fakeEmitter, c *clock) *activities.Activities {
	return activities.New(activities.Activities{
		Store: st, Client: client(rc.pool(), 5*time.Second), Log: zerolog.Nop(), Schedule: testSchedule, Retention: retention,
		UserAgent: userAgent, Jitter: func() float64 { return testJitter },
		BreakerFailures: testBreaker, DisableAfter: disableAfter, Emitter: em, Now: c.now,
	})
}

func newClock() *clock { return &clock{t: time.Now().UTC().Truncate(time.Millisecond)} }

// held asserts err holds the delivery unsent and returns the delay until it looks again.
func (s *DeliverSuite) held(err error) time.Duration {
	s.T().Helper()
	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(err, &appErr), "got %v, want a held delivery's error", err)
	s.Require().Equal(activities.DeliveryHeld, appErr.Type())
	s.Require().False(appErr.NonRetryable())
	return appErr.NextRetryDelay()
}

// After testBreaker failed attempts the endpoint is failing: the next delivery is not sent, writes
// nothing and counts no attempt, and looks again when the probe is due; once it is due, one
// delivery claims the probe and the others keep waiting; the probe's success closes the breaker
// and the next delivery goes out at once.
func (s *DeliverSuite) TestBreakerHoldsDeliveriesBehindOneProbe() {
	var ok bool
	var mu sync.Mutex
	rc := newReceiver(s.T(), func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if ok {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	})
	s.endpoint("wh_1", rc.url())
	c := newClock()
	acts := breakerActs(s.store, rc, 0, nil, c)

	for i := range testBreaker {
		_, err := s.deliver(acts, int32(i+1), "wh_1")
		retryDelay(s.T(), err)
		s.Equal(i+1 == testBreaker, s.store.health("wh_1").Failing(), "after %d failures", i+1)
	}
	h := s.store.health("wh_1")
	s.Equal(testBreaker, h.ConsecutiveFailures)
	s.Require().NotNil(h.ProbeAt)
	s.Equal(c.now().Add(testSchedule[0]), *h.ProbeAt, "the first probe is the schedule's first delay after the failure")
	s.Equal("1", metric(acts, "pcx_webhook_breakers_opened_total"))

	// Held: nothing sent, nothing written, looking again when the probe is due.
	writes := len(s.store.written())
	_, err := s.deliver(acts, 1, "wh_1")
	s.Equal(time.Duration(float64(testSchedule[0])*testJitter), s.held(err))
	s.Equal(int64(testBreaker), rc.hits.Load(), "a held delivery sends nothing")
	s.Len(s.store.written(), writes, "a held delivery records no attempt")
	s.Equal("1", metric(acts, "pcx_webhook_breaker_held_total"))

	// Due: the first delivery to look claims the probe and sends it; the next one waits behind
	// its lease, at most maxPoll (45s, with the test jitter).
	c.advance(testSchedule[0])
	_, err = s.deliver(acts, 2, "wh_1")
	retryDelay(s.T(), err)
	s.Equal(int64(testBreaker+1), rc.hits.Load(), "the probe is sent")
	s.Equal("1", metric(acts, "pcx_webhook_breaker_probes_total"))
	h = s.store.health("wh_1")
	s.Equal(testBreaker+1, h.ConsecutiveFailures)
	s.Equal(c.now().Add(testSchedule[1]), *h.ProbeAt, "the next probe follows the schedule")
	_, err = s.deliver(acts, 1, "wh_1")
	s.Equal(jittered(45*time.Second), s.held(err), "the next probe is minutes away: look again within the bounded poll")
	s.Equal(int64(testBreaker+1), rc.hits.Load())

	// The probe succeeds: the breaker closes, and deliveries go out at once.
	mu.Lock()
	ok = true
	mu.Unlock()
	c.advance(testSchedule[1])
	res, err := s.deliver(acts, 1, "wh_1")
	s.Require().NoError(err)
	s.Equal(pcx.DeliveryDelivered, res.Status)
	h = s.store.health("wh_1")
	s.False(h.Failing())
	s.Zero(h.ConsecutiveFailures)
	s.Nil(h.ProbeAt)
	s.NotNil(h.LastSuccessAt)
	res, err = s.deliver(acts, 1, "wh_1")
	s.Require().NoError(err)
	s.Equal(pcx.DeliveryDelivered, res.Status)
	s.Equal(int64(testBreaker+3), rc.hits.Load())
}

// A success writes health only when it closes a streak or the last success is a minute old: a
// healthy endpoint's deliveries cost no write each.
func (s *DeliverSuite) TestSuccessWritesHealthRarely() {
	rc := newReceiver(s.T(), nil)
	s.endpoint("wh_1", rc.url())
	c := newClock()
	acts := breakerActs(s.store, rc, 0, nil, c)

	for range 3 {
		_, err := s.deliver(acts, 1, "wh_1")
		s.Require().NoError(err)
	}
	s.Equal(1, s.store.healthWrites, "the first success is written, the next ones within a minute are not")
	c.advance(time.Minute)
	_, err := s.deliver(acts, 1, "wh_1")
	s.Require().NoError(err)
	s.Equal(2, s.store.healthWrites, "a minute on, last_success_at is written again")
	s.Zero(s.store.claims, "a healthy endpoint claims no probe")
}

// An endpoint failing with no success for WEBHOOK_DISABLE_AFTER is disabled "failing" by the
// failure that finds it so, once, with pcx.endpoint.disabled emitted; its deliveries are then
// cancelled.
func (s *DeliverSuite) TestFailingEndpointIsDisabledAfterTheWindow() {
	c := newClock()
	var mu sync.Mutex
	var during time.Duration // how long each send takes on the clock
	rc := newReceiver(s.T(), func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		c.advance(during)
		mu.Unlock()
		w.WriteHeader(http.StatusInternalServerError)
	})
	s.endpoint("wh_1", rc.url())
	em := &fakeEmitter{}
	acts := breakerActs(s.store, rc, time.Hour, em, c)
	for i := range testBreaker {
		_, err := s.deliver(acts, int32(i+1), "wh_1")
		retryDelay(s.T(), err)
	}
	since := c.now()
	s.Empty(em.list())

	// A probe within the window fails: still active.
	c.advance(testSchedule[0])
	_, err := s.deliver(acts, 1, "wh_1")
	retryDelay(s.T(), err)
	s.Equal(pcx.WebhookActive, s.store.webhook("wh_1").Status)

	// The probe that fails past the window disables it.
	c.advance(testSchedule[1])
	mu.Lock()
	during = time.Hour
	mu.Unlock()
	_, err = s.deliver(acts, 1, "wh_1")
	retryDelay(s.T(), err)
	w := s.store.webhook("wh_1")
	s.Equal(pcx.WebhookDisabled, w.Status)
	s.Equal(pcx.DisabledFailing, w.DisabledReason)
	s.Require().NotNil(w.DisabledAt)
	s.Equal(since, *s.store.health("wh_1").FailingSince)
	s.Equal([]emitted{{Org: testOrgID, Type: pcx.EventEndpointDisabled, Data: map[string]any{
		"webhook_id": "wh_1", "endpoint_url": rc.url(), "reason": "failing", "disabled_at": w.DisabledAt.Format(pcx.TimestampLayout),
	}}}, em.list())
	s.Equal("1", metric(acts, "pcx_webhook_endpoints_disabled_total"))

	res, err := s.deliver(acts, 1, "wh_1")
	s.Require().NoError(err)
	s.Equal(pcx.DeliveryCancelled, res.Status, "deliveries to a disabled endpoint are cancelled")
	s.Len(em.list(), 1, "disabled once, told once")
}

// A held delivery that finds its endpoint failing past the window disables it itself, without a
// probe: probes late in the schedule come a day apart.
func (s *DeliverSuite) TestHeldDeliveryDisablesAnOverdueEndpoint() {
	rc := newReceiver(s.T(), nil)
	c := newClock()
	w := activeWebhook("wh_1", rc.url(), pcx.WebhookSecret{Key: s.secret})
	since, next := c.now().Add(-2*time.Hour), c.now().Add(time.Hour)
	w.Health = pcx.EndpointHealth{ConsecutiveFailures: 9, FailingSince: &since, LastFailureAt: &since, ProbeAt: &next}
	s.store.addWebhook(w)
	em := &fakeEmitter{}
	acts := breakerActs(s.store, rc, time.Hour, em, c)

	_, err := s.deliver(acts, 1, "wh_1")
	s.Equal(time.Second, s.held(err), "it looks again at once, to be cancelled")
	s.Equal(pcx.WebhookDisabled, s.store.webhook("wh_1").Status)
	s.Zero(rc.hits.Load())
	s.Len(em.list(), 1)
	res, err := s.deliver(acts, 1, "wh_1")
	s.Require().NoError(err)
	s.Equal(pcx.DeliveryCancelled, res.Status)
}

// A 410 disables "gone" and says so; the delivery that got it, and one whose schedule ran out,
// emit pcx.delivery.exhausted; a delivery of an operational event emits none; an emitter that
// fails does not fail the delivery.
func (s *DeliverSuite) TestOperationalEvents() {
	gone := newReceiver(s.T(), answers(http.StatusGone))
	failing := newReceiver(s.T(), answers(http.StatusInternalServerError))
	s.endpoint("wh_gone", gone.url())
	s.endpoint("wh_500", failing.url())
	em := &fakeEmitter{}
	acts := breakerActs(s.store, gone, 0, em, newClock())

	res, err := s.deliver(acts, 1, "wh_gone")
	s.Require().NoError(err)
	s.Equal(pcx.DeliveryFailed, res.Status)
	w := s.store.webhook("wh_gone")
	s.Equal(pcx.DisabledGone, w.DisabledReason, "the stored text of a 410 stays")
	got := em.list()
	s.Require().Len(got, 2)
	s.Equal(emitted{Org: testOrgID, Type: pcx.EventEndpointDisabled, Data: map[string]any{
		"webhook_id": "wh_gone", "endpoint_url": gone.url(), "reason": "gone", "disabled_at": w.DisabledAt.Format(pcx.TimestampLayout),
	}}, got[0])
	s.Equal(pcx.EventDeliveryExhausted, got[1].Type)

	res, err = s.deliverAfter(acts, 1, int32(len(testSchedule)), "wh_500")
	s.Require().NoError(err)
	s.Equal(pcx.DeliveryFailed, res.Status)
	got = em.list()
	s.Require().Len(got, 3)
	s.Equal(emitted{Org: testOrgID, Type: pcx.EventDeliveryExhausted, Data: map[string]any{
		"event_id": testEventID, "event_type": pcx.DefaultEventType, "webhook_id": "wh_500",
		"attempts": float64(len(testSchedule) + 1), "last_status_code": float64(500), "last_error": "http_status",
	}}, got[2])

	em.err = errors.New("temporal is down")
	res, err = s.deliverAfter(acts, 1, int32(len(testSchedule)), "wh_500")
	s.Require().NoError(err, "an emit that fails does not fail the delivery")
	s.Equal(pcx.DeliveryFailed, res.Status)
	s.Equal("1", metric(acts, `pcx_operational_events_total{result="failed",type="pcx.delivery.exhausted"}`))

	em.err = nil
	s.ev.Type = pcx.EventDeliveryExhausted
	s.store.addEvent(s.ev)
	before := len(em.list())
	_, err = s.deliverAfter(breakerActs(s.store, gone, 0, em, newClock()), 1, int32(len(testSchedule)), "wh_500")
	s.Require().NoError(err)
	s.Len(em.list(), before, "an operational event's failed delivery tells no one: no loop")
}

// A first attempt in a batch to a failing endpoint whose probe is not due is handed on unsent,
// to look again when it is: nothing sent, nothing recorded.
func (s *BatchSuite) TestFailingEndpointIsHandedOnUnsent() {
	rc := newReceiver(s.T(), nil)
	c := newClock()
	w := s.endpoint("wh_failing", rc.url())
	since, next := c.now(), c.now().Add(10*time.Second)
	w.Health = pcx.EndpointHealth{ConsecutiveFailures: testBreaker, FailingSince: &since, ProbeAt: &next}
	s.endpoint("wh_ok", rc.url())

	res, err := s.batch(breakerActs(s.store, rc, 0, nil, c), "wh_failing", "wh_ok")

	s.Require().NoError(err)
	s.Equal([]activities.Outcome{
		{WebhookID: "wh_failing", Status: pcx.DeliveryPending, RetryDelay: time.Duration(float64(10*time.Second) * testJitter), Unsent: true},
		{WebhookID: "wh_ok", Status: pcx.DeliveryDelivered},
	}, res.Outcomes)
	s.Equal(int64(1), rc.hits.Load(), "only the healthy endpoint is sent to")
	calls := s.store.firstCalls()
	s.Require().Len(calls, 1)
	s.Len(calls[0].Records, 1, "the held delivery has no record")
}

// Through Temporal: a delivery held behind a failing endpoint polls without using up its
// schedule; once the endpoint is let through it still gets every send of its schedule.
func (s *RetrySuite) TestHeldPollsDoNotUseUpTheSchedule() {
	rc := newReceiver(s.T(), answers(500))
	c := newClock()
	since, next := c.now(), c.now().Add(time.Hour)
	reads := 0
	s.store.beforeRead = func(w *pcx.Webhook) {
		if reads++; reads == 4 {
			w.Health = pcx.EndpointHealth{} // the breaker closed elsewhere
		}
	}
	w := activeWebhook("wh_1", rc.url(), pcx.WebhookSecret{Key: []byte("0123456789abcdef0123456789abcdef")})
	w.Health = pcx.EndpointHealth{ConsecutiveFailures: testBreaker, FailingSince: &since, ProbeAt: &next}
	s.store.addWebhook(w)
	env := s.NewTestWorkflowEnvironment()
	env.SetTestTimeout(30 * time.Second)
	acts := activities.New(activities.Activities{
		Store: s.store, Client: client(rc.pool(), 5*time.Second), Log: zerolog.Nop(), Schedule: testSchedule, Retention: retention,
		UserAgent: userAgent, Jitter: func() float64 { return testJitter }, BreakerFailures: len(testSchedule) + 2, Now: c.now,
	})
	workflows.Register(env, acts)
	env.ExecuteWorkflow(workflows.BatchWorkflowName, workflows.BatchInput{EventID: testEventID, OrgID: testOrgID, WebhookIDs: []string{"wh_1"}})
	s.Require().True(env.IsWorkflowCompleted())
	s.Require().NoError(env.GetWorkflowError())
	var sum workflows.Summary
	s.Require().NoError(env.GetWorkflowResult(&sum))

	s.Equal(workflows.Summary{Endpoints: 1, Failed: 1}, sum)
	s.Equal(int64(len(testSchedule)+1), rc.hits.Load(), "three held looks used none of the schedule's sends")
	s.Equal("3", metric(acts, "pcx_webhook_breaker_held_total"), "the batch's look and two durable ones were held")
}
