package activities_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/internal/netguard"
	"github.com/pcx/publicservice/pcx"
)

const (
	testEventID = "evt_01jtestevent"
	testOrgID   = "org_test"
	userAgent   = "PCX-Webhooks/test"
	retention   = 72 * time.Hour
	// testJitter is the jitter factor the tests fix, so delays are exact.
	testJitter = 1.1
)

// testSchedule is a short retry schedule: a delivery makes at most 5 attempts.
var testSchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour}

// testPayload is transaction_data as a client sent it: odd spacing, escapes and a trailing
// zero that a re-encoding would lose. Deliveries must carry these exact bytes.
var testPayload = []byte("{\"amount\": 12.50 ,\"note\":\"caf\\u00e9 <b>&</b>\",\n \"tags\":[ ]}")

// received is one request a receiver got.
type received struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// receiver is an HTTPS endpoint on loopback that records what it receives and answers with
// respond (200 when nil).
type receiver struct {
	srv     *httptest.Server
	hits    atomic.Int64
	mu      sync.Mutex
	reqs    []received
	respond func(w http.ResponseWriter, r *http.Request)
}

func newReceiver(t *testing.T, respond func(w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{respond: respond}
	rc.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, received{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		rc.mu.Unlock()
		if rc.respond == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		rc.respond(w, r)
	}))
	rc.srv.Config.ErrorLog = stdlog.New(io.Discard, "", 0) // TLS handshakes the tests make fail
	rc.srv.StartTLS()
	t.Cleanup(rc.srv.Close)
	return rc
}

// answers returns a receiver handler that answers the codes in turn, then the last forever.
func answers(codes ...int) func(http.ResponseWriter, *http.Request) {
	var n atomic.Int64
	return func(w http.ResponseWriter, _ *http.Request) {
		i := int(n.Add(1)) - 1
		w.WriteHeader(codes[min(i, len(codes)-1)])
	}
}

func (rc *receiver) url() string { return rc.srv.URL + "/hook" }

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

// pool trusts the receivers' certificate (every httptest TLS server uses the same one).
func (rc *receiver) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(rc.srv.Certificate())
	return p
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// client is the production hardened client with loopback exempted, as WEBHOOK_ALLOWED_CIDRS
// does in development, trusting pool.
func client(pool *x509.CertPool, timeout time.Duration) *http.Client {
	return netguard.NewHTTPClient(netguard.NewPolicy(loopback, nil), netguard.ClientOptions{Timeout: timeout, RootCAs: pool})
}

// newActivities returns the activities on st and c with the test schedule and a fixed jitter.
func newActivities(st activities.Store, c *http.Client) *activities.Activities {
	return activities.New(activities.Activities{
		Store: st, Client: c, Log: zerolog.Nop(), Schedule: testSchedule, Retention: retention,
		UserAgent: userAgent, Jitter: func() float64 { return testJitter },
	})
}

func testEvent() *pcx.Event {
	return &pcx.Event{
		ID: testEventID, OrgID: testOrgID, WorkflowID: "webhook-event-" + testEventID, Source: "notify",
		CreatedAt: time.Now().Add(-time.Minute).UTC().Truncate(time.Second), Payload: testPayload,
	}
}

func activeWebhook(id, url string, secrets ...pcx.WebhookSecret) *pcx.Webhook {
	return &pcx.Webhook{ID: id, OrgID: testOrgID, URL: url, Status: pcx.WebhookActive, Secrets: secrets}
}

// closedPortURL returns an https URL on loopback where nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "https://" + addr + "/hook"
}

// retryDelay asserts err is Deliver's retryable failed-attempt error and returns the delay it
// asks Temporal to wait.
func retryDelay(t *testing.T, err error) time.Duration {
	t.Helper()
	require.Error(t, err, "want a retryable error for a failed attempt")
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "got %T %v, want a *temporal.ApplicationError", err, err)
	require.False(t, appErr.NonRetryable(), "a failed attempt with retries left must be retryable")
	require.Equal(t, "DeliveryAttemptFailed", appErr.Type())
	return appErr.NextRetryDelay()
}

// withAttempt is a worker interceptor that makes activities see the given attempt number, the
// way Temporal numbers retries (the test activity environment always runs attempt 1), and, when
// runID or workflowID is set, that workflow run or ID (the environment's are always the same).
type withAttempt struct {
	interceptor.WorkerInterceptorBase
	attempt    int32
	runID      string
	workflowID string
}

func (w *withAttempt) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &attemptInbound{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, w: w}
}

type attemptInbound struct {
	interceptor.ActivityInboundInterceptorBase
	w *withAttempt
}

func (i *attemptInbound) Init(outbound interceptor.ActivityOutboundInterceptor) error {
	return i.Next.Init(&attemptOutbound{ActivityOutboundInterceptorBase: interceptor.ActivityOutboundInterceptorBase{Next: outbound}, w: i.w})
}

type attemptOutbound struct {
	interceptor.ActivityOutboundInterceptorBase
	w *withAttempt
}

func (o *attemptOutbound) GetInfo(ctx context.Context) activity.Info {
	info := o.Next.GetInfo(ctx)
	if o.w.attempt != 0 {
		info.Attempt = o.w.attempt
	}
	if o.w.runID != "" {
		info.WorkflowExecution.RunID = o.w.runID
	}
	if o.w.workflowID != "" {
		info.WorkflowExecution.ID = o.w.workflowID
	}
	return info
}

// quietLogger discards the test environments' logs: the assertions say what went wrong.
func quietLogger() log.Logger { return log.NewStructuredLogger(slog.New(slog.DiscardHandler)) }
