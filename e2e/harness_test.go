// Package e2e holds the end-to-end tests: the real API (and, for webhooks, the real worker) on
// free loopback ports, against Amazon DynamoDB Local and the Temporal dev server, driven over
// HTTP the way integrators drive it.
package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/app"
	"github.com/pcx/publicservice/harness"
	"github.com/pcx/publicservice/internal/config"
	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/store"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// The exact bytes of every 401.
const unauthorizedBody = `{"message":"API Key is missing","status":"error"}`

var (
	tableSeq    atomic.Int64
	testSecrets = harness.Secrets{
		Peppers:       "1:" + base64.StdEncoding.EncodeToString([]byte("e2e pepper: 32 bytes or more!!!!")),
		SecretsKeys:   "1:" + base64.StdEncoding.EncodeToString([]byte("e2e secrets key of 32 bytes.....")),
		InternalToken: "e2e-internal-token-0123456789abcdef",
	}
)

// env is one isolated deployment: its own table (and task queue), sharing the package's
// DynamoDB Local and Temporal dev server.
type env struct {
	t *testing.T
	h *harness.Env
	// capture, when set, receives every log line of the in-process services too.
	capture *lockedBuffer
	vars    map[string]string // h.Vars
	store   *store.Store
}

// newEnv creates a fresh table and returns the environment the binaries of one deployment read,
// on the package's shared DynamoDB Local and Temporal dev server.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOn(t, testenv.DynamoDB(t).Endpoint, testenv.Temporal(t).Address)
}

// newEnvOn is newEnv against the given DynamoDB endpoint and Temporal address: the shared
// servers, or a test's own, which it stops and restarts.
func newEnvOn(t *testing.T, dynamoEndpoint, temporalAddr string) *env {
	t.Helper()
	ctx := testenv.Context(t, 2*time.Minute)
	h, err := harness.New(ctx, harness.Options{
		Name:             fmt.Sprintf("e2e-%d-%d", os.Getpid(), tableSeq.Add(1)),
		DynamoDBEndpoint: dynamoEndpoint,
		TemporalAddress:  temporalAddr,
		Secrets:          testSecrets,
		Vars: map[string]string{
			"HTTP_ADDR":          "127.0.0.1:0",
			"INTERNAL_HTTP_ADDR": "127.0.0.1:0",
			"WORKER_HTTP_ADDR":   "127.0.0.1:0",
			"AUTH_CACHE_TTL":     "2s",
			// Tests fail authentication on purpose, all from 127.0.0.1;
			// TestAuthFailuresAreRateLimited turns the limit on.
			"AUTH_FAILURES_PER_MINUTE": "0",
			// Load and fault tests notify fast from one organisation; TestOrgLimits turns the
			// per-organisation limits on, small.
			"ORG_NOTIFY_PER_SECOND": "0",
			"ORG_REPLAYS_PER_HOUR":  "0",
			// Every test receiver is one loopback host, standing for many real ones: a batch of
			// 100 endpoints must be able to have its 100 POSTs open at once (internal/slots tests
			// the per-host bound).
			"WEBHOOK_HOST_CONCURRENCY": "1000",
		},
		CreateTable: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Bounded: a test that stopped its DynamoDB must not hang here.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Store.DeleteTable(ctx)
	})
	return &env{t: t, h: h, vars: h.Vars, store: h.Store}
}

func (e *env) environ() []string { return e.h.Environ() }

func (e *env) config() config.Config {
	e.t.Helper()
	cfg, err := e.h.Config()
	if err != nil {
		e.t.Fatal(err)
	}
	return cfg
}

// bootstrapKey creates a key straight in the store, as `pcxctl keys create` does.
func (e *env) bootstrapKey(org, user string) string {
	e.t.Helper()
	full, err := e.h.BootstrapKey(context.Background(), org, user, "bootstrap")
	if err != nil {
		e.t.Fatal(err)
	}
	return full
}

// apiServer is a running API.
type apiServer struct {
	base     string // http://127.0.0.1:port
	internal string
	stop     func()
}

// startAPI runs the API in-process, exactly as cmd/api does, and waits until it listens.
func (e *env) startAPI() *apiServer {
	e.t.Helper()
	p := e.runInProcess(harness.API, "api", 30*time.Second)
	return &apiServer{base: "http://" + p.Addr, internal: "http://" + p.InternalAddr, stop: e.stopper("api", p, 30*time.Second)}
}

// runInProcess runs the api or the worker in-process, with the logger of the service name.
func (e *env) runInProcess(kind harness.Kind, name string, stopWithin time.Duration) *harness.InProcess {
	e.t.Helper()
	p, err := e.h.RunInProcess(kind, e.logger(name), 30*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(e.stopper(name, p, stopWithin))
	return p
}

// stopper returns the function that stops p, then and when the test ends.
func (e *env) stopper(name string, p *harness.InProcess, within time.Duration) func() {
	return func() {
		if err := p.Stop(within); err != nil {
			e.t.Errorf("%s %v", name, err)
		}
	}
}

// logger is the logger of an in-process service: LOG_LEVEL of the environment, lines to the
// test log (and to capture when set), built as app.Main builds it.
func (e *env) logger(service string) zerolog.Logger {
	var w io.Writer = testWriter{e.t}
	if e.capture != nil {
		w = io.MultiWriter(w, e.capture)
	}
	log, err := app.NewLogger(w, e.vars["LOG_LEVEL"], service)
	if err != nil {
		e.t.Fatal(err)
	}
	return log
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// reply is an HTTP response with its body read.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// decode parses the success envelope's data (and meta) into dst.
func (r reply) decode(t *testing.T, data any, meta any) {
	t.Helper()
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Meta   json.RawMessage `json:"meta"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil || env.Status != "success" {
		t.Fatalf("response %s is not a success envelope: %v", r, err)
	}
	if data != nil {
		if err := json.Unmarshal(env.Data, data); err != nil {
			t.Fatalf("data of %s: %v", r, err)
		}
	}
	if meta != nil {
		if err := json.Unmarshal(env.Meta, meta); err != nil {
			t.Fatalf("meta of %s: %v", r, err)
		}
	}
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// call sends a request with the key (if not empty) and a JSON body (if not nil).
func call(t *testing.T, method, url, key string, body any, headers ...string) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

func wantStatus(t *testing.T, r reply, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("got %s, want status %d", r, status)
	}
}

// eventually polls f every 50 ms until it returns true or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, f func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if f() {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: not true within %s", what, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
