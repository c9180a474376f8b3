package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pcx/publicservice/harness"
	"github.com/pcx/publicservice/internal/config"
	"github.com/pcx/publicservice/internal/signing"
	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

// stack is everything the benchmark runs against: DynamoDB Local, the Temporal dev server, and
// the api and worker binaries as subprocesses on free loopback ports.
type stack struct {
	binDir string
	runDir string
	ddb    *testenv.DynamoDBLocal
	tmp    *testenv.TemporalDev
	env    *harness.Env
	vars   map[string]string // env.Vars: the api's and worker's environment (secrets included: never reported)
	cfg    config.Config     // the same, parsed: the bench's own store client and delivery client
	store  *store.Store

	mu     sync.Mutex
	procs  []*proc
	pcxctl []string // command lines of the pcxctl runs, for the report
}

// proc is one started process with what the report says about it.
type proc struct {
	Name    string   `json:"name"`
	PID     int      `json:"pid"`
	Argv    []string `json:"argv"`
	Env     []string `json:"env,omitempty"` // names (values only for settings that are not secret)
	Addr    string   `json:"addr,omitempty"`
	Note    string   `json:"note,omitempty"`
	p       *testenv.Process
	stopped bool
}

// startDeps starts DynamoDB Local and the Temporal dev server (with the service's search
// attributes) on free ports, through internal/testenv, and records their PIDs.
func (s *stack) startDeps() error {
	// DynamoDB Local writes dynamodb-local-metadata.json into its working directory: start the
	// dependencies from the run directory, their tools resolved from the repository first.
	if os.Getenv("PCX_DYNAMODB_LOCAL_DIR") == "" {
		if d, err := testenv.DynamoDBLocalDir(); err == nil {
			_ = os.Setenv("PCX_DYNAMODB_LOCAL_DIR", d)
		}
	}
	if os.Getenv("PCX_TEMPORAL_BIN") == "" {
		if bin, err := testenv.TemporalBin(); err == nil {
			_ = os.Setenv("PCX_TEMPORAL_BIN", bin)
		}
	}
	if wd, err := os.Getwd(); err == nil {
		if err := os.Chdir(s.runDir); err == nil {
			defer func() { _ = os.Chdir(wd) }()
		}
	}
	before := children()
	ddb, err := testenv.StartDynamoDB("")
	if err != nil {
		return fmt.Errorf("DynamoDB Local: %w", err)
	}
	s.ddb = ddb
	s.add(&proc{Name: "dynamodb-local", PID: newChild(before, "DynamoDBLocal.jar"), Argv: cmdline(newChild(before, "DynamoDBLocal.jar")), p: ddb.Proc, Addr: ddb.Endpoint})
	before = children()
	tmp, err := testenv.StartTemporal(0, "")
	if err != nil {
		return fmt.Errorf("Temporal dev server: %w", err)
	}
	s.tmp = tmp
	pid := newChild(before, "start-dev")
	s.add(&proc{Name: "temporal", PID: pid, Argv: cmdline(pid), p: tmp.Proc, Addr: tmp.Address})
	return nil
}

func (s *stack) add(p *proc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.procs = append(s.procs, p)
}

// configure builds the services' environment with the shared harness, as the end-to-end tests
// and the soak do: generated secrets, loopback exempted from the SSRF block list, the receivers'
// CA trusted, its own table and task queue.
func (s *stack) configure(caFile string, o *options) error {
	env, err := harness.New(context.Background(), harness.Options{
		Name:              fmt.Sprintf("bench-%d-%s", os.Getpid(), testenv.RandomHex(3)),
		DynamoDBEndpoint:  s.ddb.Endpoint,
		TemporalAddress:   s.tmp.Address,
		TemporalNamespace: s.tmp.Namespace,
		Vars: map[string]string{
			"WORKER_CONCURRENCY":            strconv.Itoa(o.workerConcurrency),
			"WEBHOOK_MAX_ENDPOINTS_PER_ORG": strconv.Itoa(max(10000, o.maxFanout())),
			// The bench measures the delivery pipeline, not the per-organisation limit its
			// single organisation would run into.
			"ORG_NOTIFY_PER_SECOND": "0",
			// The receivers are one loopback host standing for many real ones: the per-host
			// bound would measure itself, not the pipeline.
			"WEBHOOK_HOST_CONCURRENCY": strconv.Itoa(o.workerConcurrency),
		},
	})
	if err != nil {
		return err
	}
	env.AllowReceivers(caFile)
	if s.cfg, err = env.Config(); err != nil {
		return err
	}
	s.env, s.vars, s.store = env, env.Vars, env.Store
	return nil
}

// environ is the services' environment plus extra entries (which win).
func (s *stack) environ(extra map[string]string) []string { return s.env.Environ(extra) }

// describeEnv lists the variables of an environment for the report: names, with the values of
// the settings that are not secret.
func describeEnv(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if harness.IsSecret(k) {
			out = append(out, k+"=<generated secret>")
		} else {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// inheritedConfig names configuration variables the bench did not set but inherited from its
// own environment (they change what is measured).
func (s *stack) inheritedConfig() []string {
	var out []string
	for _, name := range configVarNames() {
		if _, set := s.vars[name]; set {
			continue
		}
		if v, ok := os.LookupEnv(name); ok {
			if harness.IsSecret(name) {
				v = "<secret>"
			}
			out = append(out, name+"="+v)
		}
	}
	return out
}

func configVarNames() []string {
	return []string{"HTTP_ADDR", "INTERNAL_HTTP_ADDR", "WORKER_HTTP_ADDR", "REQUEST_TIMEOUT", "SHUTDOWN_TIMEOUT",
		"AUTH_CACHE_TTL", "AUTH_FAILURES_PER_MINUTE", "WEBHOOK_TIMEOUT", "WEBHOOK_RETRY_SCHEDULE",
		"WEBHOOK_SECRET_GRACE", "EVENT_RETENTION", "AWS_ACCESS_KEY_ID", "AWS_PROFILE"}
}

// startService starts the api or the worker binary on free loopback ports and waits until its
// /readyz answers 200 (DynamoDB and Temporal reachable).
func (s *stack) startService(name, bin string, extra map[string]string) (*proc, error) {
	kind := harness.API
	if bin == "worker" {
		kind = harness.Worker
	}
	path := filepath.Join(s.binDir, bin)
	before := children()
	svc, err := s.env.StartReady(kind, name, path, s.runDir, harness.Ready, extra)
	if err != nil {
		return nil, err
	}
	pr := &proc{Name: name, Argv: []string{path}, Env: describeEnv(svc.Environ), Addr: svc.Addr, p: svc.Process, PID: newChild(before, path)}
	s.add(pr)
	return pr, nil
}

// stopService stops one service (it stays listed in the report).
func (s *stack) stopService(pr *proc) {
	if pr == nil {
		return
	}
	pr.p.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	pr.stopped = true
}

// stopAll stops every process, services first.
func (s *stack) stopAll() {
	s.mu.Lock()
	procs := append([]*proc(nil), s.procs...)
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		if !procs[i].stopped {
			procs[i].p.Stop()
			procs[i].stopped = true
		}
	}
}

// pcxctlRun runs bin/pcxctl with the services' environment and returns its stdout.
func (s *stack) pcxctlRun(ctx context.Context, args ...string) (string, error) {
	path := filepath.Join(s.binDir, "pcxctl")
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), s.environ(nil)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	s.mu.Lock()
	s.pcxctl = append(s.pcxctl, strings.Join(append([]string{path}, args...), " "))
	s.mu.Unlock()
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("pcxctl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// bootstrapKey creates an organisation's key with `pcxctl keys create` (the last line of its
// output).
func (s *stack) bootstrapKey(ctx context.Context, org string) (string, error) {
	out, err := s.pcxctlRun(ctx, "keys", "create", "--org-id", org, "--user-id", "bench", "--name", "bench "+org)
	if err != nil {
		return "", err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	key := strings.TrimSpace(lines[len(lines)-1])
	if !strings.HasPrefix(key, "pcx_") {
		return "", fmt.Errorf("pcxctl keys create printed no key on its last line: %q", lines[len(lines)-1])
	}
	return key, nil
}

// registerViaAPI registers endpoints 0..n-1 of org through POST /public/webhooks.
func registerViaAPI(ctx context.Context, api *apiClient, key, org string, n int, url func(int) string) error {
	return parallel(ctx, n, 8, func(i int) error {
		body, _ := json.Marshal(map[string]string{"endpoint_url": url(i), "description": fmt.Sprintf("bench %s %d", org, i)})
		var last string
		for try := 0; try < 30; try++ {
			status, b, err := api.do(ctx, "POST", "/public/webhooks", key, body)
			if err == nil && status == 201 {
				return nil
			}
			if err == nil && status == 400 {
				return fmt.Errorf("register %s: 400 %s", url(i), b)
			}
			last = fmt.Sprintf("%d %s %v", status, b, err)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(20+try*20) * time.Millisecond):
			}
		}
		return fmt.Errorf("register %s: %s", url(i), last)
	})
}

// registerViaStore stores endpoints 0..n-1 of org straight in the table with store.CreateWebhook,
// as n registrations would leave them (the end-to-end large fan-out test does the same).
func (s *stack) registerViaStore(ctx context.Context, org string, n int, url func(int) string) error {
	max := s.cfg.WebhookMaxEndpoints
	return parallel(ctx, n, 8, func(i int) error {
		now := time.Now().UTC().Truncate(time.Millisecond)
		w := &pcx.Webhook{
			ID: pcx.NewID("wh", now), OrgID: org, URL: url(i), Description: fmt.Sprintf("bench %s %d", org, i),
			Status: pcx.WebhookActive, CreatedAt: now, UpdatedAt: now,
			Secrets: []pcx.WebhookSecret{{Key: signing.NewSecret()}},
		}
		var err error
		for try := 0; try < 50; try++ { // concurrent creates conflict on the organisation's count item
			if err = s.store.CreateWebhook(ctx, w, max, nil); err == nil || pcx.ErrorCode(err) == pcx.EConflict && strings.Contains(pcx.ErrorMessage(err), "limit") {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(10+try*10) * time.Millisecond):
			}
		}
		return err
	})
}

// parallel runs f(0..n-1) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, f func(int) error) error {
	jobs := make(chan int)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := f(i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for i := range n {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// children returns the PIDs of this process's children.
func children() map[int]bool {
	out := map[int]bool{}
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so read after the last ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 {
			if ppid, _ := strconv.Atoi(f[1]); ppid == self {
				out[pid] = true
			}
		}
	}
	return out
}

// newChild returns the PID of a child started since before whose command line mentions match.
func newChild(before map[int]bool, match string) int {
	for pid := range children() {
		if !before[pid] && strings.Contains(strings.Join(cmdline(pid), " "), match) {
			return pid
		}
	}
	return 0
}

func cmdline(pid int) []string {
	if pid == 0 {
		return nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// rssMiB reads VmRSS of pid from /proc/<pid>/status.
func rssMiB(pid int) (float64, error) {
	if pid == 0 {
		return 0, errors.New("unknown pid")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseFloat(f[0], 64)
				return kb / 1024, err
			}
		}
	}
	return 0, errors.New("no VmRSS")
}

// apiClient calls the API over loopback with keep-alive connections.
type apiClient struct {
	base string
	c    *http.Client
}

func newAPIClient(base string, conns int) *apiClient {
	return &apiClient{base: base, c: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns * 2, MaxIdleConnsPerHost: conns * 2, IdleConnTimeout: 90 * time.Second,
		DisableCompression: true,
	}}}
}

func (a *apiClient) do(ctx context.Context, method, path, key string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if key != "" {
		req.Header.Set("X-API-Key", key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// accepted is notify's 202 data.
type accepted struct {
	EventID       string `json:"event_id"`
	WorkflowID    string `json:"workflow_id"`
	RunID         string `json:"run_id"`
	EndpointCount int    `json:"endpoint_count"`
}

// notify posts an event for org and returns the 202's data and when the reply arrived.
func (a *apiClient) notify(ctx context.Context, key string, body []byte) (accepted, time.Time, error) {
	status, b, err := a.do(ctx, "POST", "/public/webhooks/notify", key, body)
	at := time.Now()
	if err != nil {
		return accepted{}, at, err
	}
	if status != http.StatusAccepted {
		return accepted{}, at, fmt.Errorf("notify: %d %s", status, truncate(string(b), 200))
	}
	var env struct {
		Data accepted `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil || env.Data.EventID == "" {
		return accepted{}, at, fmt.Errorf("notify: bad 202 body %s", truncate(string(b), 200))
	}
	return env.Data, at, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// notifyBody is the body of a notify for org with a transaction_data of about size bytes.
func notifyBody(org string, size int) []byte {
	td := map[string]any{"id": "tx_bench", "amount": 1250, "currency": "EUR", "status": "settled"}
	base, _ := json.Marshal(td)
	if pad := size - len(base) - len(`,"pad":""`); pad > 0 {
		td["pad"] = strings.Repeat("x", pad)
	}
	b, _ := json.Marshal(map[string]any{"org_id": org, "transaction_data": td})
	return b
}

// payloadOf returns the transaction_data bytes of a notify body (what receivers get).
func payloadOf(body []byte) []byte {
	var m struct {
		TD json.RawMessage `json:"transaction_data"`
	}
	_ = json.Unmarshal(body, &m)
	return m.TD
}
