package activities_test

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/internal/netguard"
	"github.com/pcx/publicservice/internal/signing"
	"github.com/pcx/publicservice/pcx"
)

type DeliverSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	store  *fakeStore
	ev     *pcx.Event
	secret []byte
	// workflowID is the workflow the activities run for; "": the test environment's, no
	// workflow of the event's.
	workflowID string
}

func TestDeliver(t *testing.T) { suite.Run(t, new(DeliverSuite)) }

func (s *DeliverSuite) SetupTest() {
	s.SetLogger(quietLogger())
	s.store = newFakeStore()
	s.ev = testEvent()
	s.store.addEvent(s.ev)
	s.secret = signing.NewSecret()
	s.workflowID = ""
}

// endpoint registers an active endpoint at url signed with the suite's secret.
func (s *DeliverSuite) endpoint(id, url string) {
	s.store.addWebhook(activeWebhook(id, url, pcx.WebhookSecret{Key: s.secret}))
}

// acts returns the activities delivering to rc's receivers through the hardened client.
func (s *DeliverSuite) acts(rc *receiver) *activities.Activities {
	return newActivities(s.store, client(rc.pool(), 5*time.Second))
}

// deliver runs Deliver as the given attempt in the test activity environment, as the durable
// fallback of a failed batch does (no send before it).
func (s *DeliverSuite) deliver(acts *activities.Activities, attempt int32, webhookID string) (activities.DeliverResult, error) {
	s.T().Helper()
	return s.deliverAfter(acts, 0, attempt, webhookID)
}

// deliverAfter runs Deliver as the given attempt after sentBefore sends made elsewhere (1: the
// retry of a batch's first attempt).
func (s *DeliverSuite) deliverAfter(acts *activities.Activities, sentBefore int, attempt int32, webhookID string) (activities.DeliverResult, error) {
	s.T().Helper()
	env := s.NewTestActivityEnvironment()
	env.SetWorkerOptions(sdkworker.Options{Interceptors: []interceptor.WorkerInterceptor{&withAttempt{attempt: attempt, workflowID: s.workflowID}}})
	env.RegisterActivity(acts)
	in := activities.DeliverInput{EventID: testEventID, OrgID: testOrgID, WebhookID: webhookID, SentBefore: sentBefore}
	val, err := env.ExecuteActivity(acts.Deliver, in)
	if err != nil {
		return activities.DeliverResult{}, err
	}
	var res activities.DeliverResult
	s.Require().NoError(val.Get(&res))
	return res, nil
}

// one returns the only attempt recorded.
func (s *DeliverSuite) one() attemptCall {
	s.T().Helper()
	rec := s.store.recorded()
	s.Require().Len(rec, 1, "want exactly one recorded attempt")
	return rec[0]
}

func (s *DeliverSuite) TestDeliveredOn2xx() {
	for _, code := range []int{http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusNoContent} {
		s.Run(strconv.Itoa(code), func() {
			s.SetupTest()
			rc := newReceiver(s.T(), answers(code))
			s.endpoint("wh_1", rc.url())
			before := time.Now()

			res, err := s.deliver(s.acts(rc), 1, "wh_1")

			s.Require().NoError(err)
			s.Equal(pcx.DeliveryDelivered, res.Status)
			s.False(res.Unrecorded)
			s.Equal(code, res.Attempt.StatusCode)
			s.Empty(res.Attempt.ErrorClass)
			rec := s.one()
			s.Equal(testEventID, rec.EventID)
			s.Equal("wh_1", rec.WebhookID)
			s.Equal(pcx.DeliveryDelivered, rec.Status)
			s.Equal(code, rec.Attempt.StatusCode)
			s.Empty(rec.Attempt.ErrorClass)
			s.Positive(rec.Attempt.Duration)
			s.True(rec.Attempt.At.Equal(res.Attempt.At), "the result carries the recorded attempt")
			s.False(rec.Attempt.At.Before(before), "attempt time %v before the delivery started %v", rec.Attempt.At, before)
			s.Equal(s.ev.CreatedAt.Add(retention), rec.Expires, "records expire with the event")
			s.Equal(int64(1), rc.hits.Load())
		})
	}
}

func (s *DeliverSuite) TestRequestIsSignedStandardWebhook() {
	rc := newReceiver(s.T(), nil)
	s.endpoint("wh_1", rc.url())
	before := time.Now().Unix()

	_, err := s.deliver(s.acts(rc), 1, "wh_1")

	s.Require().NoError(err)
	after := time.Now().Unix()
	reqs := rc.requests()
	s.Require().Len(reqs, 1)
	req := reqs[0]
	s.Equal(http.MethodPost, req.Method)
	s.Equal("/hook", req.Path)
	s.Equal(testPayload, req.Body, "the body must be transaction_data's exact bytes")
	s.Equal("application/json", req.Header.Get("Content-Type"))
	s.Equal(userAgent, req.Header.Get("User-Agent"))
	s.Equal(testEventID, req.Header.Get("webhook-id"))
	ts, err := strconv.ParseInt(req.Header.Get("webhook-timestamp"), 10, 64)
	s.Require().NoError(err, "webhook-timestamp must be unix seconds")
	s.True(ts >= before && ts <= after, "webhook-timestamp %d outside the delivery [%d, %d]", ts, before, after)
	s.True(strings.HasPrefix(req.Header.Get("webhook-signature"), "v1,"))
	wh, err := standardwebhooks.NewWebhook(signing.FormatSecret(s.secret))
	s.Require().NoError(err)
	s.NoError(wh.Verify(req.Body, req.Header), "the official Standard Webhooks verifier must accept the delivery")
	// A W3C trace context, even with no tracing configured (contract §11); not signed: the
	// signature verifies with or without it.
	s.Regexp(`^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$`, req.Header.Get("traceparent"))
	s.NotEqual("00000000000000000000000000000000", req.Header.Get("traceparent")[3:35])
	unsigned := req.Header.Clone()
	unsigned.Del("traceparent")
	s.NoError(wh.Verify(req.Body, unsigned), "traceparent is not part of the signed content")
}

func (s *DeliverSuite) TestRotationSignsWithEveryLiveSecret() {
	newKey, oldKey := signing.NewSecret(), signing.NewSecret()
	cases := []struct {
		name      string
		oldExpiry time.Duration // from now
		verifying [][]byte      // keys the receiver may verify with
		refused   [][]byte
	}{
		{"in grace", time.Hour, [][]byte{newKey, oldKey}, nil},
		{"expired", -time.Minute, [][]byte{newKey}, [][]byte{oldKey}},
	}
	for _, tc := range cases {
		s.Run(tc.name, func() {
			s.SetupTest()
			rc := newReceiver(s.T(), nil)
			expires := time.Now().Add(tc.oldExpiry)
			s.store.addWebhook(activeWebhook("wh_1", rc.url(), pcx.WebhookSecret{Key: newKey}, pcx.WebhookSecret{Key: oldKey, ExpiresAt: &expires}))

			_, err := s.deliver(s.acts(rc), 1, "wh_1")

			s.Require().NoError(err)
			reqs := rc.requests()
			s.Require().Len(reqs, 1)
			sigs := strings.Fields(reqs[0].Header.Get("webhook-signature"))
			s.Len(sigs, len(tc.verifying), "one signature per live secret: %q", sigs)
			for i, key := range tc.verifying {
				wh, err := standardwebhooks.NewWebhook(signing.FormatSecret(key))
				s.Require().NoError(err)
				s.NoError(wh.Verify(reqs[0].Body, reqs[0].Header), "a receiver holding live secret %d must accept", i)
			}
			for _, key := range tc.refused {
				wh, err := standardwebhooks.NewWebhook(signing.FormatSecret(key))
				s.Require().NoError(err)
				s.Error(wh.Verify(reqs[0].Body, reqs[0].Header), "an expired secret must no longer sign")
			}
		})
	}
}

func (s *DeliverSuite) TestFailedAttemptIsRetriedOnTheSchedule() {
	rc := newReceiver(s.T(), answers(http.StatusInternalServerError))
	s.endpoint("wh_1", rc.url())
	acts := s.acts(rc)
	for i, scheduled := range testSchedule {
		attempt := int32(i + 1)

		_, err := s.deliver(acts, attempt, "wh_1")

		want := time.Duration(float64(scheduled) * testJitter)
		s.Equal(want, retryDelay(s.T(), err), "attempt %d: want schedule[%d] × jitter", attempt, i)
		rec := s.store.recorded()
		s.Require().Len(rec, i+1)
		last := rec[i]
		s.Equal(pcx.DeliveryPending, last.Status, "attempt %d: a retried delivery stays pending", attempt)
		s.Equal(500, last.Attempt.StatusCode)
		s.Equal("http_status", last.Attempt.ErrorClass)
	}
	s.Equal(int64(len(testSchedule)), rc.hits.Load())
}

func (s *DeliverSuite) TestRetryOfAFirstAttemptContinuesTheSchedule() {
	// The batch made send 1 and asked for a retry after Schedule[0]: the durable retry's
	// Temporal attempt 1 is send 2, whose failure waits Schedule[1], and so on.
	rc := newReceiver(s.T(), answers(http.StatusInternalServerError))
	s.endpoint("wh_1", rc.url())
	acts := s.acts(rc)
	for attempt := int32(1); attempt < int32(len(testSchedule)); attempt++ {
		_, err := s.deliverAfter(acts, 1, attempt, "wh_1")

		want := time.Duration(float64(testSchedule[attempt]) * testJitter)
		s.Equal(want, retryDelay(s.T(), err), "Temporal attempt %d is send %d: want schedule[%d] × jitter", attempt, attempt+1, attempt)
		rec := s.store.recorded()
		s.Require().Len(rec, int(attempt))
		s.Equal(pcx.DeliveryPending, rec[attempt-1].Status)
	}

	res, err := s.deliverAfter(acts, 1, int32(len(testSchedule)), "wh_1")

	s.Require().NoError(err, "send %d is the last of the schedule: a final result", len(testSchedule)+1)
	s.Equal(pcx.DeliveryFailed, res.Status)
	s.Equal(500, res.Attempt.StatusCode)
	rec := s.store.recorded()
	s.Require().Len(rec, len(testSchedule))
	s.Equal(pcx.DeliveryFailed, rec[len(rec)-1].Status)
	s.Equal(int64(len(testSchedule)), rc.hits.Load(), "with the batch's send, len(schedule)+1 sends in all")
}

func (s *DeliverSuite) TestRetryOfAFirstAttemptBeyondTheScheduleGivesUpWithoutSending() {
	rc := newReceiver(s.T(), nil)
	s.endpoint("wh_1", rc.url())

	res, err := s.deliverAfter(s.acts(rc), 1, int32(len(testSchedule)+1), "wh_1")

	s.Require().NoError(err)
	s.Equal(pcx.DeliveryFailed, res.Status)
	s.Equal("timeout", s.one().Attempt.ErrorClass)
	s.Zero(rc.hits.Load(), "no request beyond the schedule")
}

func (s *DeliverSuite) TestRetryOfAFirstAttemptDelivers() {
	rc := newReceiver(s.T(), nil)
	s.endpoint("wh_1", rc.url())

	res, err := s.deliverAfter(s.acts(rc), 1, 1, "wh_1")

	s.Require().NoError(err)
	s.Equal(pcx.DeliveryDelivered, res.Status)
	rec := s.one()
	s.Equal(pcx.DeliveryDelivered, rec.Status)
	s.Equal(200, rec.Attempt.StatusCode)
	s.Empty(s.store.firstCalls(), "a retry records its attempt on its own, added to the first")
	s.Empty(s.store.batchReads, "a retry reads its one endpoint")
}

func (s *DeliverSuite) TestProductionJitterSpreadsRetries() {
	rc := newReceiver(s.T(), answers(http.StatusServiceUnavailable))
	s.endpoint("wh_1", rc.url())
	acts := activities.New(activities.Activities{
		Store: s.store, Client: client(rc.pool(), 5*time.Second), Schedule: testSchedule, Retention: retention,
	})
	seen := map[time.Duration]bool{}
	for range 30 {
		_, err := s.deliver(acts, 1, "wh_1")
		d := retryDelay(s.T(), err)
		s.True(d >= 4*time.Second && d < 6*time.Second, "delay %v outside 5s ± 20%%", d)
		seen[d] = true
	}
	s.Greater(len(seen), 1, "30 retries with the same delay: no jitter applied")
}

func (s *DeliverSuite) TestRetryAfter() {
	cases := []struct {
		name       string
		retryAfter func() string
		min, max   time.Duration
		slow       time.Duration // the receiver answers after this
	}{
		{"seconds longer than the schedule win", func() string { return "120" }, 120 * time.Second, 120 * time.Second, 0},
		{"HTTP date longer than the schedule wins", func() string { return time.Now().Add(10 * time.Minute).UTC().Format(http.TimeFormat) }, 9*time.Minute + 58*time.Second, 10 * time.Minute, 0},
		{"shorter than the schedule is ignored", func() string { return "1" }, 5500 * time.Millisecond, 5500 * time.Millisecond, 0},
		{"more than a day is capped", func() string { return "172800" }, 24 * time.Hour, 24 * time.Hour, 0},
		{"garbage is ignored", func() string { return "soon" }, 5500 * time.Millisecond, 5500 * time.Millisecond, 0},
		// A date is a moment: the wait counts from the answer, not from the start of the attempt.
		{"HTTP date counts from a slow answer", func() string { return time.Now().Add(10 * time.Minute).UTC().Format(http.TimeFormat) }, 9*time.Minute + 58*time.Second, 10 * time.Minute, 1500 * time.Millisecond},
	}
	for _, tc := range cases {
		s.Run(tc.name, func() {
			s.SetupTest()
			rc := newReceiver(s.T(), func(w http.ResponseWriter, _ *http.Request) {
				time.Sleep(tc.slow)
				w.Header().Set("Retry-After", tc.retryAfter())
				w.WriteHeader(http.StatusTooManyRequests)
			})
			s.endpoint("wh_1", rc.url())

			_, err := s.deliver(s.acts(rc), 1, "wh_1")

			d := retryDelay(s.T(), err)
			s.True(d >= tc.min && d <= tc.max, "delay %v, want in [%v, %v]", d, tc.min, tc.max)
			s.Equal(429, s.one().Attempt.StatusCode)
		})
	}
}

func (s *DeliverSuite) TestLastAttemptFails() {
	rc := newReceiver(s.T(), answers(http.StatusBadGateway))
	s.endpoint("wh_1", rc.url())

	res, err := s.deliver(s.acts(rc), int32(len(testSchedule)+1), "wh_1")

	s.Require().NoError(err, "an exhausted schedule is a final result, not an error")
	s.Equal(pcx.DeliveryFailed, res.Status)
	s.Equal(502, res.Attempt.StatusCode)
	rec := s.one()
	s.Equal(pcx.DeliveryFailed, rec.Status)
	s.Equal("http_status", rec.Attempt.ErrorClass)
	s.Equal(int64(1), rc.hits.Load())
}

func (s *DeliverSuite) TestAttemptBeyondTheScheduleGivesUpWithoutSending() {
	rc := newReceiver(s.T(), nil)
	s.endpoint("wh_1", rc.url())

	res, err := s.deliver(s.acts(rc), int32(len(testSchedule)+2), "wh_1")

	s.Require().NoError(err)
	s.Equal(pcx.DeliveryFailed, res.Status)
	s.Equal("timeout", s.one().Attempt.ErrorClass)
	s.Zero(rc.hits.Load(), "no request beyond the schedule")
}

func (s *DeliverSuite) TestGoneDisablesTheEndpoint() {
	rc := newReceiver(s.T(), answers(http.StatusGone))
	s.endpoint("wh_1", rc.url())

	res, err := s.deliver(s.acts(rc), 1, "wh_1")

	s.Require().NoError(err, "410 is final: a result, not a retry")
	s.Equal(pcx.DeliveryFailed, res.Status)
	s.Equal(410, res.Attempt.StatusCode)
	s.Equal("gone", res.Attempt.ErrorClass)
	s.Equal(pcx.DeliveryFailed, s.one().Status)
	w := s.store.webhook("wh_1")
	s.Equal(pcx.WebhookDisabled, w.Status, "the store must have seen the endpoint disabled")
	s.NotEmpty(w.DisabledReason)
	s.Len(s.store.updates, 1)
	s.Equal(int64(1), rc.hits.Load())
}

func (s *DeliverSuite) TestGoneWhoseDisableFailsIsRetried() {
	// Not disabled, the endpoint would keep receiving other events: the 410 is retried on the
	// schedule, and comes again to disable it.
	rc := newReceiver(s.T(), answers(http.StatusGone))
	s.endpoint("wh_1", rc.url())
	acts := s.acts(rc)
	s.store.updateErr = func() error { return pcx.Errorf(pcx.EUnavailable, "The database is busy") }

	_, err := s.deliver(acts, 1, "wh_1")

	s.Equal(time.Duration(float64(testSchedule[0])*testJitter), retryDelay(s.T(), err))
	rec := s.one()
	s.Equal(pcx.DeliveryPending, rec.Status)
	s.Equal("gone", rec.Attempt.ErrorClass)
	s.Equal(pcx.WebhookActive, s.store.webhook("wh_1").Status)

	s.store.updateErr = nil
	res, err := s.deliver(acts, 2, "wh_1")

	s.Require().NoError(err)
	s.Equal(pcx.DeliveryFailed, res.Status)
	s.Equal(pcx.WebhookDisabled, s.store.webhook("wh_1").Status, "the second 410 disables it")
	s.Len(s.store.updates, 2)
	s.Equal(int64(2), rc.hits.Load())
}

func (s *DeliverSuite) TestGoneWhoseDisableFailsOnTheLastSendFails() {
	rc := newReceiver(s.T(), answers(http.StatusGone))
	s.endpoint("wh_1", rc.url())
	s.store.updateErr = func() error { return pcx.Errorf(pcx.EUnavailable, "The database is busy") }

	res, err := s.deliverAfter(s.acts(rc), 1, int32(len(testSchedule)), "wh_1")

	s.Require().NoError(err, "the last send of the schedule is final, disabled or not")
	s.Equal(pcx.DeliveryFailed, res.Status)
	s.Equal(pcx.DeliveryFailed, s.one().Status, "recorded failed, never left pending")
	s.Equal(pcx.WebhookActive, s.store.webhook("wh_1").Status)
}

func (s *DeliverSuite) TestGoneFromADeletedEndpointFails() {
	// Deleted between the read and the 410: nothing left to disable, and nothing to retry.
	rc := newReceiver(s.T(), answers(http.StatusGone))
	s.endpoint("wh_1", rc.url())
	s.store.updateErr = func() error { return pcx.Errorf(pcx.ENotFound, "Webhook not found") }

	res, err := s.deliver(s.acts(rc), 1, "wh_1")

	s.Require().NoError(err)
	s.Equal(pcx.DeliveryFailed, res.Status)
	s.Equal(int64(1), rc.hits.Load())
}

func (s *DeliverSuite) TestRedirectIsAFailedAttemptAndNotFollowed() {
	target := newReceiver(s.T(), nil)
	rc := newReceiver(s.T(), func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.url(), http.StatusFound)
	})
	s.endpoint("wh_1", rc.url())

	_, err := s.deliver(s.acts(rc), 1, "wh_1")

	retryDelay(s.T(), err)
	rec := s.one()
	s.Equal(302, rec.Attempt.StatusCode)
	s.Equal("redirect", rec.Attempt.ErrorClass)
	s.Equal(pcx.DeliveryPending, rec.Status)
	s.Zero(target.hits.Load(), "the redirect target must not be requested")

	res, err := s.deliver(s.acts(rc), int32(len(testSchedule)+1), "wh_1")
	s.Require().NoError(err)
	s.Equal(pcx.DeliveryFailed, res.Status, "a redirect on the last attempt fails the delivery")
	s.Zero(target.hits.Load())
}

func (s *DeliverSuite) TestTransportFailuresAreClassified() {
	// The slow receiver answers only when the test ends, and then not with a 2xx. It must not
	// answer when it sees the client go away: the client may still read that answer.
	release := make(chan struct{})
	slow := newReceiver(s.T(), func(w http.ResponseWriter, _ *http.Request) {
		<-release
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	s.T().Cleanup(func() { close(release) }) // before the server's Close, which waits for handlers
	cases := []struct {
		name  string
		url   string
		class string
	}{
		{"slower than the client timeout", slow.url(), "timeout"},
		{"connection refused", closedPortURL(s.T()), "connection"},
	}
	for _, tc := range cases {
		s.Run(tc.name, func() {
			s.SetupTest()
			s.endpoint("wh_1", tc.url)
			start := time.Now()

			_, err := s.deliver(newActivities(s.store, client(slow.pool(), 300*time.Millisecond)), 1, "wh_1")

			s.Equal(time.Duration(float64(testSchedule[0])*testJitter), retryDelay(s.T(), err))
			rec := s.one()
			s.Equal(tc.class, rec.Attempt.ErrorClass)
			s.Zero(rec.Attempt.StatusCode)
			s.Equal(pcx.DeliveryPending, rec.Status)
			s.Less(time.Since(start), 3*time.Second, "the client timeout must bound the attempt")
		})
	}
}

func (s *DeliverSuite) TestUntrustedCertificateIsTLS() {
	rc := newReceiver(s.T(), nil)
	s.endpoint("wh_1", rc.url())

	_, err := s.deliver(newActivities(s.store, client(nil, 5*time.Second)), 1, "wh_1")

	retryDelay(s.T(), err)
	s.Equal("tls", s.one().Attempt.ErrorClass)
	s.Zero(rc.hits.Load())
}

func (s *DeliverSuite) TestBlockedAddressFailsWithoutRetry() {
	rc := newReceiver(s.T(), nil)
	s.endpoint("wh_1", rc.url())
	// The production policy: loopback is not exempted.
	strict := netguard.NewHTTPClient(netguard.NewPolicy(nil, nil), netguard.ClientOptions{Timeout: 5 * time.Second, RootCAs: rc.pool()})

	res, err := s.deliver(newActivities(s.store, strict), 1, "wh_1")

	s.Require().NoError(err, "a blocked address is final: a result, not a retry")
	s.Equal(pcx.DeliveryFailed, res.Status)
	s.Equal("blocked", res.Attempt.ErrorClass)
	s.Equal(pcx.DeliveryFailed, s.one().Status)
	s.Zero(rc.hits.Load(), "the blocked receiver must not be reached")
}

func (s *DeliverSuite) TestDeletedEndpointIsCancelled() {
	res, err := s.deliver(newActivities(s.store, client(nil, time.Second)), 1, "wh_gone")

	s.Require().NoError(err)
	s.Equal(activities.DeliverResult{Status: pcx.DeliveryCancelled}, res)
	s.Equal([]statusCall{{EventID: testEventID, WebhookID: "wh_gone", Status: pcx.DeliveryCancelled, Reason: "endpoint deleted"}}, s.store.statuses)
	s.Empty(s.store.recorded(), "no attempt without a request")
}

func (s *DeliverSuite) TestDisabledEndpointIsCancelled() {
	rc := newReceiver(s.T(), nil)
	w := activeWebhook("wh_1", rc.url(), pcx.WebhookSecret{Key: s.secret})
	w.Status = pcx.WebhookDisabled
	s.store.addWebhook(w)

	res, err := s.deliver(s.acts(rc), 1, "wh_1")

	s.Require().NoError(err)
	s.Equal(activities.DeliverResult{Status: pcx.DeliveryCancelled}, res)
	s.Equal([]statusCall{{EventID: testEventID, WebhookID: "wh_1", Status: pcx.DeliveryCancelled, Reason: "endpoint disabled"}}, s.store.statuses)
	s.Zero(rc.hits.Load())
}

func (s *DeliverSuite) TestUnrecordedOutcomeIsAResult() {
	cases := []struct {
		name   string
		code   int
		status pcx.DeliveryStatus
	}{
		{"delivered", http.StatusOK, pcx.DeliveryDelivered},
		{"gone", http.StatusGone, pcx.DeliveryFailed},
	}
	for _, tc := range cases {
		s.Run(tc.name, func() {
			s.SetupTest()
			rc := newReceiver(s.T(), answers(tc.code))
			s.endpoint("wh_1", rc.url())
			s.store.recordErr = func(pcx.DeliveryStatus) error { return pcx.Errorf(pcx.EUnavailable, "The database is busy") }

			res, err := s.deliver(s.acts(rc), 1, "wh_1")

			s.Require().NoError(err, "an outcome that could not be written must not be an error: a retry would send it again")
			s.Equal(tc.status, res.Status)
			s.True(res.Unrecorded)
			s.Equal(tc.code, res.Attempt.StatusCode, "the result carries the attempt for RecordOutcome")
			s.Equal(int64(1), rc.hits.Load())
		})
	}
}

func (s *DeliverSuite) TestUnrecordedFailedAttemptIsStillRetried() {
	rc := newReceiver(s.T(), answers(http.StatusInternalServerError))
	s.endpoint("wh_1", rc.url())
	s.store.recordErr = func(pcx.DeliveryStatus) error { return errors.New("throttled") }

	_, err := s.deliver(s.acts(rc), 1, "wh_1")

	retryDelay(s.T(), err)
}

func (s *DeliverSuite) TestMissingEventIsNonRetryable() {
	rc := newReceiver(s.T(), nil)
	s.endpoint("wh_1", rc.url())
	delete(s.store.events, testEventID)

	_, err := s.deliver(s.acts(rc), 1, "wh_1")

	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(err, &appErr), "got %v", err)
	s.True(appErr.NonRetryable())
	s.Equal("EventMissing", appErr.Type())
	s.Zero(rc.hits.Load())
}

func (s *DeliverSuite) TestPayloadIsReadOncePerEvent() {
	rc := newReceiver(s.T(), nil)
	s.endpoint("wh_1", rc.url())
	s.endpoint("wh_2", rc.url())
	acts := s.acts(rc)

	for _, id := range []string{"wh_1", "wh_2", "wh_1"} {
		res, err := s.deliver(acts, 1, id)
		s.Require().NoError(err)
		s.Equal(pcx.DeliveryDelivered, res.Status)
	}

	s.Equal(1, s.store.reads(), "the event is read from the store once, then served from the cache")
	for _, r := range rc.requests() {
		s.Equal(testPayload, r.Body)
	}
}

func (s *DeliverSuite) TestRecordOutcome() {
	at := time.Now().UTC().Truncate(time.Millisecond)
	result := activities.DeliverResult{Status: pcx.DeliveryDelivered, Unrecorded: true, Attempt: pcx.Attempt{At: at, StatusCode: 204, Duration: 30 * time.Millisecond}}
	s.store.addWebhook(activeWebhook("wh_1", "https://receiver.example/hook"))
	acts := newActivities(s.store, client(nil, time.Second))
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)

	for _, id := range []string{"wh_1", "wh_deleted"} {
		_, err := env.ExecuteActivity(acts.RecordOutcome, activities.RecordOutcomeInput{
			DeliverInput: activities.DeliverInput{EventID: testEventID, OrgID: testOrgID, WebhookID: id}, Result: result,
		})
		s.Require().NoError(err, id)
	}

	exp := s.ev.CreatedAt.Add(retention)
	s.Equal([]attemptCall{
		{EventID: testEventID, WebhookID: "wh_1", Status: pcx.DeliveryDelivered, Attempt: result.Attempt, Expires: exp},
		{EventID: testEventID, WebhookID: "wh_deleted", Status: pcx.DeliveryDelivered, Attempt: result.Attempt, Expires: exp},
	}, s.store.recorded(), "the outcome is written as Deliver would have, even for an endpoint deleted since")
}

// A retry to an endpoint this worker cannot sign for ends the delivery failed with the reason,
// sending nothing and scheduling no further retry.
func (s *DeliverSuite) TestUndeliverableEndpointFailsWithoutASend() {
	rc := newReceiver(s.T(), nil)
	w := activeWebhook("wh_1", rc.url())
	w.Undeliverable = pcx.UndeliverableMalformed
	s.store.addWebhook(w)
	acts := s.acts(rc)

	res, err := s.deliverAfter(acts, 1, 1, "wh_1")

	s.Require().NoError(err, "a final outcome, not a retryable error")
	s.Equal(activities.DeliverResult{Status: pcx.DeliveryFailed}, res)
	s.Equal([]statusCall{{EventID: testEventID, WebhookID: "wh_1", Status: pcx.DeliveryFailed, Reason: pcx.UndeliverableMalformed}}, s.store.statuses)
	s.Zero(rc.hits.Load())
	s.Equal("1", metric(acts, "pcx_webhook_undeliverable_total"))
}

// As a batch's: once a retry sent, its record write ends returnMargin (2s) before the attempt's
// deadline, and an outcome it could not write goes back to the workflow unrecorded. Before, the
// write ran to the deadline, so a store that hung timed the attempt out and Temporal sent again.
func (s *DeliverSuite) TestRecordWriteEndsBeforeTheDeadline() {
	rc := newReceiver(s.T(), nil)
	s.endpoint("wh_1", rc.url())
	margin := s.store.failWritesTimed()

	res, err := s.deliverAfter(s.acts(rc), 1, 1, "wh_1")

	s.Require().NoError(err)
	s.GreaterOrEqual(margin(), 2*time.Second, "the record write ends %s before the attempt's deadline, want at least 2s to return", margin())
	s.Equal(pcx.DeliveryDelivered, res.Status)
	s.True(res.Unrecorded, "the outcome goes back to the workflow")
	s.Equal(int64(1), rc.hits.Load())
}

// Each attempt keeps the start of the receiver's response body beside its status: a short one
// whole, a long one cut to 4 KiB and marked.
func (s *DeliverSuite) TestAttemptKeepsTheResponseBody() {
	for _, tc := range []struct {
		name, body, want string
		cut              bool
	}{
		{"short", `{"error":"no such account"}`, `{"error":"no such account"}`, false},
		{"long", strings.Repeat("é", 3000), strings.Repeat("é", 2048), true},
		{"none", "", "", false},
	} {
		s.Run(tc.name, func() {
			s.SetupTest()
			rc := newReceiver(s.T(), func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusUnprocessableEntity)
				_, _ = w.Write([]byte(tc.body))
			})
			s.endpoint("wh_1", rc.url())

			_, err := s.deliver(s.acts(rc), 1, "wh_1")

			s.Require().Error(err) // a 422 is retried
			rec := s.one()
			s.Equal(http.StatusUnprocessableEntity, rec.Attempt.StatusCode)
			s.Equal(tc.want, rec.Attempt.ResponseBody)
			s.Equal(tc.cut, rec.Attempt.ResponseTruncated)
		})
	}
}
