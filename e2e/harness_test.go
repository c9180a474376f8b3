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
	"github.com/pcx/publicservice/app/apiserver"
	"github.com/pcx/publicservice/internal/config"
	"github.com/pcx/publicservice/internal/keyformat"
	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/service/apikeys"
	"github.com/pcx/publicservice/store"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// The exact bytes of every 401.
const unauthorizedBody = `{"message":"API Key is missing","status":"error"}`

var (
	tableSeq   atomic.Int64
	testPepper = "1:" + base64.StdEncoding.EncodeToString([]byte("e2e pepper: 32 bytes or more!!!!"))
	testSecKey = "1:" + base64.StdEncoding.EncodeToString([]byte("e2e secrets key of 32 bytes....."))
)

// env is one isolated deployment: its own table (and task queue), sharing the package's
// DynamoDB Local and Temporal dev server.
type env struct {
	t *testing.T
	// capture, when set, receives every log line of the in-process services too.
	capture *lockedBuffer
	vars    map[string]string
	store   *store.Store
	table   string
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
	n := tableSeq.Add(1)
	e := &env{t: t, table: fmt.Sprintf("e2e-%d-%d", os.Getpid(), n)}
	e.vars = map[string]string{
		"PCX_ENV_FILE":         "",
		"LOG_LEVEL":            "warn",
		"HTTP_ADDR":            "127.0.0.1:0",
		"INTERNAL_HTTP_ADDR":   "127.0.0.1:0",
		"WORKER_HTTP_ADDR":     "127.0.0.1:0",
		"INTERNAL_TOKEN":       "e2e-internal-token-0123456789abcdef",
		"AWS_REGION":           "us-east-1",
		"DYNAMODB_ENDPOINT":    dynamoEndpoint,
		"DYNAMODB_TABLE":       e.table,
		"TEMPORAL_ADDRESS":     temporalAddr,
		"TEMPORAL_NAMESPACE":   "default",
		"TEMPORAL_TASK_QUEUE":  fmt.Sprintf("e2e-%d-%d", os.Getpid(), n),
		"APIKEY_PEPPERS":       testPepper,
		"WEBHOOK_SECRETS_KEYS": testSecKey,
		"AUTH_CACHE_TTL":       "2s",
		// Tests fail authentication on purpose, all from 127.0.0.1; TestAuthFailuresAreRateLimited
		// turns the limit on.
		"AUTH_FAILURES_PER_MINUTE": "0",
	}
	ctx := testenv.Context(t, 2*time.Minute)
	st, err := app.NewStore(ctx, e.config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateTable(ctx); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	t.Cleanup(func() {
		// Bounded: a test that stopped its DynamoDB must not hang here.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = st.DeleteTable(ctx)
	})
	e.store = st
	return e
}

func (e *env) environ() []string {
	out := make([]string, 0, len(e.vars))
	for k, v := range e.vars {
		out = append(out, k+"="+v)
	}
	return out
}

func (e *env) config() config.Config {
	e.t.Helper()
	cfg, err := config.Load(e.environ())
	if err != nil {
		e.t.Fatalf("config: %v", err)
	}
	return cfg
}

// bootstrapKey creates a key straight in the store, as `pcxctl keys create` does.
func (e *env) bootstrapKey(org, user string) string {
	e.t.Helper()
	cfg := e.config()
	peppers, err := cfg.Peppers()
	if err != nil {
		e.t.Fatal(err)
	}
	svc := &apikeys.Service{Store: e.store, Hasher: keyformat.NewHasher(peppers)}
	full, _, err := svc.Create(context.Background(), apikeys.CreateInput{OrgID: org, UserID: user, Name: "bootstrap"})
	if err != nil {
		e.t.Fatalf("bootstrap key: %v", err)
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
	cfg := e.config()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan [2]string, 1)
	done := make(chan error, 1)
	log := e.logger("api")
	go func() {
		done <- apiserver.Run(ctx, cfg, log, func(pub, internal string) { ready <- [2]string{pub, internal} })
	}()
	var s *apiServer
	select {
	case addrs := <-ready:
		s = &apiServer{base: "http://" + addrs[0], internal: "http://" + addrs[1]}
	case err := <-done:
		cancel()
		e.t.Fatalf("api exited at start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		e.t.Fatal("api did not start within 30s")
	}
	stopped := false
	s.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			e.t.Error("api did not stop within 30s")
		}
	}
	e.t.Cleanup(s.stop)
	return s
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
