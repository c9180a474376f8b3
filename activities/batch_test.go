package activities_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/suite"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/internal/signing"
	"github.com/pcx/publicservice/pcx"
)

type BatchSuite struct {
	suite.Suite
	testsuite.WorkflowTestSuite
	store  *fakeStore
	ev     *pcx.Event
	secret []byte
	// workflowID is the workflow the batch runs for; "": the test environment's.
	workflowID string
}

func TestDeliverBatch(t *testing.T) { suite.Run(t, new(BatchSuite)) }

func (s *BatchSuite) SetupTest() {
	s.SetLogger(quietLogger())
	s.store = newFakeStore()
	s.ev = testEvent()
	s.store.addEvent(s.ev)
	s.secret = signing.NewSecret()
	s.workflowID = ""
}

// endpoint registers an active endpoint at url signed with the suite's secret.
func (s *BatchSuite) endpoint(id, url string) *pcx.Webhook {
	w := activeWebhook(id, url, pcx.WebhookSecret{Key: s.secret})
	s.store.addWebhook(w)
	return w
}

// batch runs DeliverBatch as the workflow does: as a local activity.
func (s *BatchSuite) batch(acts *activities.Activities, ids ...string) (activities.BatchResult, error) {
	s.T().Helper()
	return s.batchOfRun("", acts, ids...)
}

// batchOfRun is batch in the workflow run runID ("": the test environment's).
func (s *BatchSuite) batchOfRun(runID string, acts *activities.Activities, ids ...string) (activities.BatchResult, error) {
	s.T().Helper()
	env := s.NewTestActivityEnvironment()
	if runID != "" || s.workflowID != "" {
		env.SetWorkerOptions(sdkworker.Options{Interceptors: []interceptor.WorkerInterceptor{&withAttempt{runID: runID, workflowID: s.workflowID}}})
	}
	env.SetTestTimeout(time.Minute) // a local activity's ScheduleToClose here; 3s by default
	env.RegisterActivity(acts)
	val, err := env.ExecuteLocalActivity(acts.DeliverBatch, activities.BatchInput{EventID: testEventID, OrgID: testOrgID, WebhookIDs: ids})
	if err != nil {
		return activities.BatchResult{}, err
	}
	var res activities.BatchResult
	s.Require().NoError(val.Get(&res))
	return res, nil
}

// record is what the tests compare of a first-attempt record: the attempt's class and code, not
// its time and duration.
type record struct {
	WebhookID, URL string
	Status         pcx.DeliveryStatus
	Sent           bool
	Code           int
	Class          string
	Reason         string
}

func recordOf(r pcx.Delivery) record {
	out := record{WebhookID: r.WebhookID, URL: r.EndpointURL, Status: r.Status, Reason: r.Reason}
	if r.Attempt != nil {
		out.Sent, out.Code, out.Class = true, r.Attempt.StatusCode, r.Attempt.ErrorClass
	}
	return out
}

// recordsOf is recordOf for the records written, or handed back to the workflow as Unrecorded.
func recordsOf(rs []pcx.Delivery) []record {
	out := make([]record, len(rs))
	for i, r := range rs {
		out[i] = recordOf(r)
	}
	return out
}

// verified asserts every request rc received is the event, signed so the official Standard
// Webhooks verifier accepts it with the suite's secret.
func (s *BatchSuite) verified(rc *receiver) {
	s.T().Helper()
	wh, err := standardwebhooks.NewWebhook(signing.FormatSecret(s.secret))
	s.Require().NoError(err)
	for _, r := range rc.requests() {
		s.Equal(http.MethodPost, r.Method)
		s.Equal(testPayload, r.Body, "the body must be transaction_data's exact bytes")
		s.Equal(testEventID, r.Header.Get("webhook-id"))
		s.Equal(userAgent, r.Header.Get("User-Agent"))
		s.NoError(wh.Verify(r.Body, r.Header), "the official Standard Webhooks verifier must accept the delivery")
	}
}

func (s *BatchSuite) TestMixedBatch() {
	// The slow receiver answers only when the test ends (see TestTransportFailuresAreClassified).
	release := make(chan struct{})
	slow := newReceiver(s.T(), func(w http.ResponseWriter, _ *http.Request) {
		<-release
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	s.T().Cleanup(func() { close(release) })
	ok := newReceiver(s.T(), nil)
	retryAfter := newReceiver(s.T(), func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusInternalServerError)
	})
	unavailable := newReceiver(s.T(), answers(http.StatusServiceUnavailable))
	gone := newReceiver(s.T(), answers(http.StatusGone))
	target := newReceiver(s.T(), nil)
	redirect := newReceiver(s.T(), func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.url(), http.StatusFound)
	})
	disabledRc := newReceiver(s.T(), nil)
	s.endpoint("wh_ok", ok.url())
	s.endpoint("wh_retry_after", retryAfter.url())
	s.endpoint("wh_503", unavailable.url())
	s.endpoint("wh_gone", gone.url())
	s.endpoint("wh_redirect", redirect.url())
	s.endpoint("wh_disabled", disabledRc.url()).Status = pcx.WebhookDisabled
	s.endpoint("wh_blocked", "https://10.20.30.40/hook") // private: blocked even with loopback exempted
	s.endpoint("wh_slow", slow.url())
	ids := []string{"wh_ok", "wh_retry_after", "wh_deleted", "wh_503", "wh_gone", "wh_disabled", "wh_redirect", "wh_blocked", "wh_slow"}
	acts := newActivities(s.store, client(ok.pool(), 2*time.Second))
	before := time.Now()

	res, err := s.batch(acts, ids...)

	s.Require().NoError(err)
	firstStep := time.Duration(float64(testSchedule[0]) * testJitter)
	s.Equal([]activities.Outcome{
		{WebhookID: "wh_ok", Status: pcx.DeliveryDelivered},
		{WebhookID: "wh_retry_after", Status: pcx.DeliveryPending, RetryDelay: 120 * time.Second},
		{WebhookID: "wh_deleted", Status: pcx.DeliveryCancelled},
		{WebhookID: "wh_503", Status: pcx.DeliveryPending, RetryDelay: firstStep},
		{WebhookID: "wh_gone", Status: pcx.DeliveryFailed},
		{WebhookID: "wh_disabled", Status: pcx.DeliveryCancelled},
		{WebhookID: "wh_redirect", Status: pcx.DeliveryPending, RetryDelay: firstStep},
		{WebhookID: "wh_blocked", Status: pcx.DeliveryFailed},
		{WebhookID: "wh_slow", Status: pcx.DeliveryPending, RetryDelay: firstStep},
	}, res.Outcomes, "one outcome per endpoint, in the order asked for")
	s.Empty(res.Unrecorded)

	calls := s.store.firstCalls()
	s.Require().Len(calls, 1, "every outcome is recorded in one RecordFirstAttempts call")
	s.Equal(testEventID, calls[0].EventID)
	s.Equal(s.ev.CreatedAt.Add(retention), calls[0].Expires, "records expire with the event")
	s.Equal([]record{
		{WebhookID: "wh_ok", URL: ok.url(), Status: pcx.DeliveryDelivered, Sent: true, Code: 200},
		{WebhookID: "wh_retry_after", URL: retryAfter.url(), Status: pcx.DeliveryPending, Sent: true, Code: 500, Class: "http_status"},
		{WebhookID: "wh_deleted", Status: pcx.DeliveryCancelled, Reason: "endpoint deleted"},
		{WebhookID: "wh_503", URL: unavailable.url(), Status: pcx.DeliveryPending, Sent: true, Code: 503, Class: "http_status"},
		{WebhookID: "wh_gone", URL: gone.url(), Status: pcx.DeliveryFailed, Sent: true, Code: 410, Class: "gone"},
		{WebhookID: "wh_disabled", URL: disabledRc.url(), Status: pcx.DeliveryCancelled, Reason: "endpoint disabled"},
		{WebhookID: "wh_redirect", URL: redirect.url(), Status: pcx.DeliveryPending, Sent: true, Code: 302, Class: "redirect"},
		{WebhookID: "wh_blocked", URL: "https://10.20.30.40/hook", Status: pcx.DeliveryFailed, Sent: true, Class: "blocked"},
		{WebhookID: "wh_slow", URL: slow.url(), Status: pcx.DeliveryPending, Sent: true, Class: "timeout"},
	}, recordsOf(calls[0].Records))
	for _, r := range calls[0].Records {
		if r.Attempt != nil {
			s.False(r.Attempt.At.Before(before), "%s: attempt time %v before the batch started %v", r.WebhookID, r.Attempt.At, before)
		}
	}
	s.Empty(s.store.recorded(), "no attempt is recorded one by one")
	s.Empty(s.store.statuses, "no cancellation is recorded one by one")

	s.Equal([]batchReadCall{{Org: testOrgID, IDs: ids}}, s.store.batchReads, "the endpoints are read in one batched read")
	s.Equal(1, s.store.reads(), "the event is read once")
	gw := s.store.webhook("wh_gone")
	s.Equal(pcx.WebhookDisabled, gw.Status, "410 Gone disables the endpoint")
	s.NotEmpty(gw.DisabledReason)
	s.Require().Len(s.store.updates, 1, "only the 410 endpoint is updated")
	s.Equal("wh_gone", s.store.updates[0].ID)

	for name, want := range map[string]struct {
		rc   *receiver
		hits int64
	}{
		"ok": {ok, 1}, "retry-after": {retryAfter, 1}, "503": {unavailable, 1}, "gone": {gone, 1},
		"redirect": {redirect, 1}, "redirect target": {target, 0}, "disabled": {disabledRc, 0}, "slow": {slow, 1},
	} {
		s.Equal(want.hits, want.rc.hits.Load(), "requests to the %s receiver", name)
		s.verified(want.rc)
	}
}

func (s *BatchSuite) TestProductionJitterSpreadsFirstRetries() {
	rc := newReceiver(s.T(), answers(http.StatusServiceUnavailable))
	var ids []string
	for i := range 30 {
		id := "wh_" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		s.endpoint(id, rc.url())
		ids = append(ids, id)
	}
	acts := activities.New(activities.Activities{
		Store: s.store, Client: client(rc.pool(), 5*time.Second), Schedule: testSchedule, Retention: retention,
	})

	res, err := s.batch(acts, ids...)

	s.Require().NoError(err)
	s.Require().Len(res.Outcomes, 30)
	seen := map[time.Duration]bool{}
	for _, o := range res.Outcomes {
		s.Equal(pcx.DeliveryPending, o.Status)
		s.True(o.RetryDelay >= 4*time.Second && o.RetryDelay < 6*time.Second, "%s: delay %v outside schedule[0] = 5s ± 20%%", o.WebhookID, o.RetryDelay)
		seen[o.RetryDelay] = true
	}
	s.Greater(len(seen), 1, "30 first retries with the same delay: no jitter applied")
}

func (s *BatchSuite) TestGoneWhoseDisableFailsIsRetried() {
	rc := newReceiver(s.T(), answers(http.StatusGone))
	s.endpoint("wh_1", rc.url())
	s.store.updateErr = func() error { return pcx.Errorf(pcx.EUnavailable, "The database is busy") }

	res, err := s.batch(s.acts(rc), "wh_1")

	s.Require().NoError(err)
	s.Equal([]activities.Outcome{{WebhookID: "wh_1", Status: pcx.DeliveryPending, RetryDelay: time.Duration(float64(testSchedule[0]) * testJitter)}}, res.Outcomes,
		"not disabled: retried, so the next 410 disables it")
	s.Equal(pcx.WebhookActive, s.store.webhook("wh_1").Status)
	calls := s.store.firstCalls()
	s.Require().Len(calls, 1)
	s.Equal([]record{{WebhookID: "wh_1", URL: rc.url(), Status: pcx.DeliveryPending, Sent: true, Code: 410, Class: "gone"}}, recordsOf(calls[0].Records))
}

func (s *BatchSuite) acts(rc *receiver) *activities.Activities {
	return newActivities(s.store, client(rc.pool(), 5*time.Second))
}

func (s *BatchSuite) TestUnrecordedRecordsCarryNoSecrets() {
	ok := newReceiver(s.T(), nil)
	failing := newReceiver(s.T(), answers(http.StatusInternalServerError))
	gone := newReceiver(s.T(), answers(http.StatusGone))
	oldKey := signing.NewSecret()
	grace := time.Now().Add(time.Hour)
	s.store.addWebhook(activeWebhook("wh_ok", ok.url(), pcx.WebhookSecret{Key: s.secret}, pcx.WebhookSecret{Key: oldKey, ExpiresAt: &grace}))
	s.endpoint("wh_500", failing.url())
	s.endpoint("wh_gone", gone.url())
	s.endpoint("wh_disabled", ok.url()).Status = pcx.WebhookDisabled
	ids := []string{"wh_ok", "wh_500", "wh_deleted", "wh_gone", "wh_disabled"}
	var writes atomic.Int64
	s.store.firstErr = func() error {
		writes.Add(1)
		return pcx.Errorf(pcx.EUnavailable, "The database is busy")
	}
	acts := s.acts(ok)

	res, err := s.batch(acts, ids...)

	s.Require().NoError(err, "an outcome that could not be written is not an error: a retry would send again")
	s.Equal(int64(1), writes.Load(), "the batch tries its one write once; the workflow retries it")
	s.Equal([]activities.Outcome{
		{WebhookID: "wh_ok", Status: pcx.DeliveryDelivered},
		{WebhookID: "wh_500", Status: pcx.DeliveryPending, RetryDelay: time.Duration(float64(testSchedule[0]) * testJitter)},
		{WebhookID: "wh_deleted", Status: pcx.DeliveryCancelled},
		{WebhookID: "wh_gone", Status: pcx.DeliveryFailed},
		{WebhookID: "wh_disabled", Status: pcx.DeliveryCancelled},
	}, res.Outcomes, "the outcomes are the same, recorded or not")
	want := []record{
		{WebhookID: "wh_ok", URL: ok.url(), Status: pcx.DeliveryDelivered, Sent: true, Code: 200},
		{WebhookID: "wh_500", URL: failing.url(), Status: pcx.DeliveryPending, Sent: true, Code: 500, Class: "http_status"},
		{WebhookID: "wh_deleted", Status: pcx.DeliveryCancelled, Reason: "endpoint deleted"},
		{WebhookID: "wh_gone", URL: gone.url(), Status: pcx.DeliveryFailed, Sent: true, Code: 410, Class: "gone"},
		{WebhookID: "wh_disabled", URL: ok.url(), Status: pcx.DeliveryCancelled, Reason: "endpoint disabled"},
	}
	s.Equal(want, recordsOf(res.Unrecorded), "every record goes back to the workflow")
	s.Equal(int64(1), ok.hits.Load())

	// The result travels through the workflow's history (as JSON, the default converter): IDs,
	// URLs and attempts only, never a secret in any encoding, nor the payload.
	enc, err := json.Marshal(res)
	s.Require().NoError(err)
	for _, key := range [][]byte{s.secret, oldKey} {
		for _, form := range []string{
			string(key), base64.StdEncoding.EncodeToString(key), base64.RawStdEncoding.EncodeToString(key),
			base64.URLEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key), hex.EncodeToString(key),
			signing.FormatSecret(key),
		} {
			s.NotContains(string(enc), form, "the batch result holds a secret")
		}
	}
	s.NotContains(string(enc), base64.StdEncoding.EncodeToString(testPayload), "the batch result holds the payload")
	s.NotContains(string(enc), "amount", "the batch result holds the payload")

	// The workflow writes them with RecordOutcomes, once the store answers again.
	s.store.firstErr = nil
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	_, err = env.ExecuteActivity(acts.RecordOutcomes, activities.RecordOutcomesInput{EventID: testEventID, Records: res.Unrecorded})
	s.Require().NoError(err)
	calls := s.store.firstCalls()
	s.Require().Len(calls, 1)
	s.Equal(testEventID, calls[0].EventID)
	s.Equal(s.ev.CreatedAt.Add(retention), calls[0].Expires)
	s.Equal(want, recordsOf(calls[0].Records), "RecordOutcomes writes the records as the batch would have")
	for i, r := range calls[0].Records {
		if r.Attempt != nil {
			s.Equal(*res.Unrecorded[i].Attempt, *r.Attempt, "%s: the attempt as it was made", r.WebhookID)
		}
	}
	s.Equal(int64(1), ok.hits.Load(), "recording sends nothing")
}

func (s *BatchSuite) TestRecordOutcomesFailureIsRetryable() {
	acts := newActivities(s.store, client(nil, time.Second))
	s.store.firstErr = func() error { return pcx.Errorf(pcx.EUnavailable, "The database is busy") }
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)

	_, err := env.ExecuteActivity(acts.RecordOutcomes, activities.RecordOutcomesInput{EventID: testEventID, Records: []pcx.Delivery{
		{WebhookID: "wh_1", EndpointURL: "https://receiver.example/hook", Status: pcx.DeliveryDelivered, Attempt: &pcx.Attempt{At: time.Now(), StatusCode: 200}},
	}})

	s.Require().Error(err)
	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(err, &appErr), "got %T %v", err, err)
	s.False(appErr.NonRetryable(), "retried until the store takes it")
}

func (s *BatchSuite) TestStoreReadFailureSendsNothing() {
	rc := newReceiver(s.T(), nil)
	s.endpoint("wh_1", rc.url())
	s.endpoint("wh_2", rc.url())
	unavailable := func() error { return pcx.Errorf(pcx.EUnavailable, "The database is busy") }
	for _, tc := range []struct {
		name  string
		fault func(*fakeStore)
	}{
		{"endpoints", func(f *fakeStore) { f.webhookErr = unavailable }},
		{"event", func(f *fakeStore) { f.eventErr = unavailable }},
	} {
		s.Run(tc.name, func() {
			s.store.firstAttempts, s.store.updates = nil, nil
			tc.fault(s.store)
			defer func() { s.store.webhookErr, s.store.eventErr = nil, nil }()

			res, err := s.batch(s.acts(rc), "wh_1", "wh_2")

			s.Require().Error(err, "nothing was sent: the workflow delivers the chunk through the durable path")
			var appErr *temporal.ApplicationError
			s.False(errors.As(err, &appErr) && appErr.NonRetryable(), "a store outage is not permanent: %v", err)
			s.Equal(pcx.EUnavailable, pcx.ErrorCode(err), "%v", err)
			s.Empty(res.Outcomes)
			s.Zero(rc.hits.Load(), "no request when the endpoints could not be read")
			s.Empty(s.store.firstCalls(), "nothing recorded")
			s.Empty(s.store.updates)
		})
	}
}

func (s *BatchSuite) TestMissingEventIsNonRetryable() {
	rc := newReceiver(s.T(), nil)
	s.endpoint("wh_1", rc.url())
	delete(s.store.events, testEventID)

	_, err := s.batch(s.acts(rc), "wh_1")

	var appErr *temporal.ApplicationError
	s.Require().True(errors.As(err, &appErr), "got %v", err)
	s.True(appErr.NonRetryable())
	s.Equal("EventMissing", appErr.Type())
	s.Zero(rc.hits.Load())
	s.Empty(s.store.batchReads)
	s.Empty(s.store.firstCalls())
}

func (s *BatchSuite) TestPayloadIsReadOncePerEvent() {
	rc := newReceiver(s.T(), nil)
	s.endpoint("wh_1", rc.url())
	s.endpoint("wh_2", rc.url())
	acts := s.acts(rc)

	for i := range 3 { // three runs: a run's second batch would not send again
		res, err := s.batchOfRun(fmt.Sprintf("run-%d", i), acts, "wh_1", "wh_2")
		s.Require().NoError(err)
		s.Equal([]activities.Outcome{{WebhookID: "wh_1", Status: pcx.DeliveryDelivered}, {WebhookID: "wh_2", Status: pcx.DeliveryDelivered}}, res.Outcomes)
	}

	s.Equal(1, s.store.reads(), "the event is read from the store once, then served from the cache")
	s.Len(s.store.batchReads, 3, "the endpoints are read for each batch: they change")
	s.Equal(int64(6), rc.hits.Load())
	s.verified(rc)
}

// raise sets most to n if n is more.
func raise(most *atomic.Int64, n int64) {
	for m := most.Load(); n > m; m = most.Load() {
		if most.CompareAndSwap(m, n) {
			return
		}
	}
}

// TestSendsAreConcurrent holds every request at the receiver until all of the batch's have
// arrived: sent one after the other, the first would wait alone.
func (s *BatchSuite) TestSendsAreConcurrent() {
	const n = 8
	var inFlight, most atomic.Int64
	all := make(chan struct{})
	rc := newReceiver(s.T(), func(w http.ResponseWriter, _ *http.Request) {
		c := inFlight.Add(1)
		raise(&most, c)
		if c == n {
			close(all)
		}
		select {
		case <-all:
		case <-time.After(3 * time.Second):
		}
		inFlight.Add(-1)
		w.WriteHeader(http.StatusOK)
	})
	var ids []string
	for i := range n {
		ids = append(ids, "wh_"+string(rune('a'+i)))
		s.endpoint(ids[i], rc.url())
	}

	res, err := s.batch(newActivities(s.store, client(rc.pool(), 30*time.Second)), ids...)

	s.Require().NoError(err)
	for _, o := range res.Outcomes {
		s.Equal(pcx.DeliveryDelivered, o.Status, o.WebhookID)
	}
	s.Equal(int64(n), most.Load(), "the batch's %d POSTs were not all in flight at once", n)
}

// TestMaxInFlightBoundsConcurrentPosts runs a batch of 10 and 4 retries at once on one process's
// activities with MaxInFlight 3: the receiver never sees more than 3 requests at a time.
// (internal/slots tests the fair sharing itself.)
func (s *BatchSuite) TestMaxInFlightBoundsConcurrentPosts() {
	var inFlight, most atomic.Int64
	rc := newReceiver(s.T(), func(w http.ResponseWriter, _ *http.Request) {
		raise(&most, inFlight.Add(1))
		time.Sleep(250 * time.Millisecond)
		inFlight.Add(-1)
		w.WriteHeader(http.StatusOK)
	})
	var batchIDs, retryIDs []string
	for i := range 10 {
		batchIDs = append(batchIDs, "wh_b"+string(rune('a'+i)))
		s.endpoint(batchIDs[i], rc.url())
	}
	for i := range 4 {
		retryIDs = append(retryIDs, "wh_r"+string(rune('a'+i)))
		s.endpoint(retryIDs[i], rc.url())
	}
	acts := activities.New(activities.Activities{
		Store: s.store, Client: client(rc.pool(), 30*time.Second), Log: zerolog.Nop(), Schedule: testSchedule,
		Retention: retention, UserAgent: userAgent, Jitter: func() float64 { return testJitter }, MaxInFlight: 3,
	})

	var wg sync.WaitGroup
	var batchRes activities.BatchResult
	var batchErr error
	retryErrs := make([]error, len(retryIDs))
	retryRes := make([]activities.DeliverResult, len(retryIDs))
	wg.Go(func() {
		env := s.NewTestActivityEnvironment()
		env.SetTestTimeout(time.Minute)
		env.RegisterActivity(acts)
		val, err := env.ExecuteLocalActivity(acts.DeliverBatch, activities.BatchInput{EventID: testEventID, OrgID: testOrgID, WebhookIDs: batchIDs})
		if err == nil {
			err = val.Get(&batchRes)
		}
		batchErr = err
	})
	for i, id := range retryIDs {
		wg.Go(func() {
			env := s.NewTestActivityEnvironment()
			env.SetTestTimeout(time.Minute)
			env.RegisterActivity(acts)
			val, err := env.ExecuteActivity(acts.Deliver, activities.DeliverInput{EventID: testEventID, OrgID: testOrgID, WebhookID: id, SentBefore: 1})
			if err == nil {
				err = val.Get(&retryRes[i])
			}
			retryErrs[i] = err
		})
	}
	wg.Wait()

	s.Require().NoError(batchErr)
	for _, o := range batchRes.Outcomes {
		s.Equal(pcx.DeliveryDelivered, o.Status, o.WebhookID)
	}
	// A retry whose organisation holds its share of the slots is refused at once, unsent, and
	// comes back later (it holds a Temporal activity slot while it waits).
	delivered := 0
	for i, err := range retryErrs {
		var appErr *temporal.ApplicationError
		if err != nil {
			s.Require().ErrorAs(err, &appErr, retryIDs[i])
			s.Equal("NoSendSlot", appErr.Type(), retryIDs[i])
			continue
		}
		s.Equal(pcx.DeliveryDelivered, retryRes[i].Status, retryIDs[i])
		delivered++
	}
	s.Equal(int64(10+delivered), rc.hits.Load(), "every delivered retry sent once, every refused one not at all")
	s.LessOrEqual(most.Load(), int64(3), "more POSTs at once than MaxInFlight")
	s.GreaterOrEqual(most.Load(), int64(2), "the POSTs of a batch go out concurrently")
}

// One endpoint this worker cannot sign for (its secret sealed under a key version the worker
// lacks, issue 11) fails alone: nothing is sent to it, its record says why, it is counted and
// logged without secret material, and the other endpoints of the batch deliver.
func (s *BatchSuite) TestUndeliverableEndpointFailsAlone() {
	ok := newReceiver(s.T(), nil)
	bad := newReceiver(s.T(), nil)
	s.endpoint("wh_1", ok.url())
	w := s.endpoint("wh_2", bad.url())
	w.Secrets, w.Undeliverable = nil, pcx.UndeliverableSecret
	s.endpoint("wh_3", ok.url())
	var logs strings.Builder
	acts := newActivities(s.store, client(ok.pool(), 2*time.Second))
	acts.Log = zerolog.New(&logs)

	res, err := s.batch(acts, "wh_1", "wh_2", "wh_3")

	s.Require().NoError(err)
	s.Equal([]activities.Outcome{
		{WebhookID: "wh_1", Status: pcx.DeliveryDelivered},
		{WebhookID: "wh_2", Status: pcx.DeliveryFailed},
		{WebhookID: "wh_3", Status: pcx.DeliveryDelivered},
	}, res.Outcomes, "the undeliverable endpoint fails at once, without a retry")
	calls := s.store.firstCalls()
	s.Require().Len(calls, 1)
	s.Equal([]record{
		{WebhookID: "wh_1", URL: ok.url(), Status: pcx.DeliveryDelivered, Sent: true, Code: 200},
		{WebhookID: "wh_2", URL: bad.url(), Status: pcx.DeliveryFailed, Reason: pcx.UndeliverableSecret},
		{WebhookID: "wh_3", URL: ok.url(), Status: pcx.DeliveryDelivered, Sent: true, Code: 200},
	}, recordsOf(calls[0].Records))
	s.Equal(int64(2), ok.hits.Load())
	s.verified(ok)
	s.Zero(bad.hits.Load(), "nothing is sent to an endpoint the worker cannot sign for")
	s.Equal("1", metric(acts, "pcx_webhook_undeliverable_total"))
	s.Equal("1", metric(acts, `pcx_webhook_deliveries_total{outcome="failed"}`))
	s.Contains(logs.String(), `"level":"warn"`)
	s.Contains(logs.String(), `"event_id":"`+testEventID+`"`)
	s.Contains(logs.String(), `"webhook_id":"wh_2"`)
	s.Contains(logs.String(), pcx.UndeliverableSecret)
	s.NotContains(logs.String(), base64.StdEncoding.EncodeToString(s.secret))
}

// metric returns the value of one series of the activities' metrics as Prometheus serves it, ""
// if there is none.
func metric(acts *activities.Activities, series string) string {
	rec := httptest.NewRecorder()
	acts.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for line := range strings.Lines(rec.Body.String()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			return v
		}
	}
	return ""
}

// A batch that runs again in the same workflow run (its workflow task was lost with its worker
// before it completed) sends nothing to the endpoints whose first attempt that run recorded: it
// returns their recorded outcomes, and a failed attempt's retry keeps its place in the schedule.
// A batch of another run (a replay, a reset) sends to every endpoint again.
func (s *BatchSuite) TestBatchOfTheSameRunSendsOnlyWhatHasNoRecord() {
	ok := newReceiver(s.T(), nil)
	unavailable := newReceiver(s.T(), answers(http.StatusServiceUnavailable))
	gone := newReceiver(s.T(), answers(http.StatusGone))
	later := newReceiver(s.T(), nil)
	s.endpoint("wh_ok", ok.url())
	s.endpoint("wh_503", unavailable.url())
	s.endpoint("wh_gone", gone.url())
	ids := []string{"wh_ok", "wh_503", "wh_deleted", "wh_gone"}
	acts := newActivities(s.store, client(ok.pool(), 2*time.Second))
	at := time.Now().UTC().Truncate(time.Millisecond)
	acts.Now = func() time.Time { return at }

	first, err := s.batchOfRun("run-1", acts, ids...)
	s.Require().NoError(err)
	firstStep := time.Duration(float64(testSchedule[0]) * testJitter)
	s.Equal([]activities.Outcome{
		{WebhookID: "wh_ok", Status: pcx.DeliveryDelivered},
		{WebhookID: "wh_503", Status: pcx.DeliveryPending, RetryDelay: firstStep},
		{WebhookID: "wh_deleted", Status: pcx.DeliveryCancelled},
		{WebhookID: "wh_gone", Status: pcx.DeliveryFailed},
	}, first.Outcomes)
	for _, r := range s.store.firstCalls()[0].Records {
		s.Equal("run-1", r.Run, "%s: the record names the run that wrote it", r.WebhookID)
	}

	// The same run again, 2s later, with one endpoint more (its first attempt never recorded).
	s.endpoint("wh_later", later.url())
	acts.Now = func() time.Time { return at.Add(2 * time.Second) }
	again, err := s.batchOfRun("run-1", acts, append(ids, "wh_later")...)
	s.Require().NoError(err)
	s.Equal([]activities.Outcome{
		{WebhookID: "wh_ok", Status: pcx.DeliveryDelivered},
		{WebhookID: "wh_503", Status: pcx.DeliveryPending, RetryDelay: firstStep - 2*time.Second},
		{WebhookID: "wh_deleted", Status: pcx.DeliveryCancelled},
		{WebhookID: "wh_gone", Status: pcx.DeliveryFailed},
		{WebhookID: "wh_later", Status: pcx.DeliveryDelivered},
	}, again.Outcomes, "the recorded outcomes, the retry due the schedule's delay after the recorded attempt")
	for name, rc := range map[string]*receiver{"ok": ok, "503": unavailable, "gone": gone, "later": later} {
		s.Equal(int64(1), rc.hits.Load(), "requests to the %s receiver after the same run's second batch", name)
	}
	calls := s.store.firstCalls()
	s.Require().Len(calls, 2)
	s.Equal([]record{{WebhookID: "wh_later", URL: later.url(), Status: pcx.DeliveryDelivered, Sent: true, Code: 200}},
		recordsOf(calls[1].Records), "only the delivery without a record is recorded again")

	// Another run (a replay, a reset) sends again.
	_, err = s.batchOfRun("run-2", acts, ids...)
	s.Require().NoError(err)
	s.Equal(int64(2), ok.hits.Load(), "requests to the ok receiver after another run's batch")
	s.Equal(int64(2), unavailable.hits.Load(), "requests to the 503 receiver after another run's batch")
	s.Equal(pcx.WebhookDisabled, s.store.webhook("wh_gone").Status, "the 410 disabled it: not sent again")
}

func (s *BatchSuite) TestRecordWriteEndsBeforeTheDeadline() {
	ok := newReceiver(s.T(), nil)
	s.endpoint("wh_ok", ok.url())
	margin := s.store.failWritesTimed()

	res, err := s.batch(s.acts(ok), "wh_ok")

	s.Require().NoError(err)
	s.GreaterOrEqual(margin(), 2*time.Second, "the record write ends %s before the attempt's deadline, want at least 2s to return", margin())
	s.Equal([]activities.Outcome{{WebhookID: "wh_ok", Status: pcx.DeliveryDelivered}}, res.Outcomes)
	s.Len(res.Unrecorded, 1, "the record goes back to the workflow")
	s.Equal(int64(1), ok.hits.Load())
}
