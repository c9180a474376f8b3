package e2e

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pcx/publicservice/harness"
)

// receiver is an HTTPS webhook receiver on loopback, as an integrator would run one. Each path
// is an endpoint whose behaviour a test scripts: a list of status codes to answer in turn (the
// last repeats), optional delay and headers.
type receiver struct {
	srv    *httptest.Server
	caFile string

	mu       sync.Mutex
	got      map[string][]received
	script   map[string][]int
	headers  map[string]http.Header
	delay    map[string]time.Duration
	bodies   map[string][]byte
	notified chan struct{}
}

// received is one request as the receiver saw it.
type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{got: map[string][]received{}, script: map[string][]int{}, headers: map[string]http.Header{}, delay: map[string]time.Duration{}, bodies: map[string][]byte{}, notified: make(chan struct{}, 1)}
	rc.srv, rc.caFile = startTLSServer(t, http.HandlerFunc(rc.serve))
	return rc
}

// startTLSServer serves h over HTTPS on loopback (HTTP/1.1 only, httptest's default with a custom
// TLS config) with a self-signed certificate for 127.0.0.1, ::1 and localhost (httptest's own
// lacks localhost), until the test ends. caFile holds the certificate, for the worker to trust
// through WEBHOOK_CA_FILE.
func startTLSServer(t *testing.T, h http.Handler) (srv *httptest.Server, caFile string) {
	t.Helper()
	cert, err := harness.NewReceiverCert(t.TempDir(), "pcx test receiver")
	if err != nil {
		t.Fatal(err)
	}
	srv = httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert.Cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, cert.CAFile
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	path := r.URL.Path
	rc.got[path] = append(rc.got[path], received{header: r.Header.Clone(), body: body, at: time.Now()})
	n := len(rc.got[path])
	status := http.StatusOK
	if s := rc.script[path]; len(s) > 0 {
		status = s[min(n-1, len(s)-1)]
	}
	for k, v := range rc.headers[path] {
		w.Header()[k] = v
	}
	delay, answer := rc.delay[path], rc.bodies[path]
	rc.mu.Unlock()
	select {
	case rc.notified <- struct{}{}:
	default:
	}
	switch {
	case delay < 0: // hang: never answer, until the sender gives up
		<-r.Context().Done()
		return
	case delay > 0:
		time.Sleep(delay)
	}
	w.WriteHeader(status)
	_, _ = w.Write(answer)
}

// url returns the endpoint URL of path, through 127.0.0.1.
func (rc *receiver) url(path string) string { return rc.srv.URL + path }

// localhostURL returns the endpoint URL of path through the name "localhost".
func (rc *receiver) localhostURL(path string) string {
	return strings.Replace(rc.srv.URL, "127.0.0.1", "localhost", 1) + path
}

func (rc *receiver) answer(path string, statuses ...int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.script[path] = statuses
}

func (rc *receiver) requests(path string) []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got[path]...)
}

func (rc *receiver) count(path string) int { return len(rc.requests(path)) }

// deliveryStack starts what most webhook tests need: an HTTPS receiver, an environment allowed to
// deliver to it, with the retry schedule when not empty, the api and an in-process worker.
func deliveryStack(t *testing.T, schedule string) (*receiver, *env, *apiServer) {
	t.Helper()
	rc := newReceiver(t)
	e := newEnv(t)
	e.allow(rc)
	if schedule != "" {
		e.fastRetries(schedule)
	}
	api := e.startAPI()
	e.startWorker()
	return rc, e, api
}

// allow configures an environment to deliver to this receiver: loopback exempted from the SSRF
// block list, and the receiver's certificate trusted.
func (e *env) allow(rc *receiver) { e.h.AllowReceivers(rc.caFile) }
