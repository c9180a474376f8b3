package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pcx/publicservice/harness"
	"github.com/pcx/publicservice/internal/testenv"
)

// stack is the deployment under soak: DynamoDB Local with its data on disk and the Temporal dev
// server with its database in a file, each on a fixed port so they can be restarted with their
// state; the api and worker binaries as processes that can be killed. The api and the worker
// reach DynamoDB through a proxy, which can hang it (calls held unanswered) and which sees every
// record write DynamoDB answered; the soak's own reads go to DynamoDB directly.
type stack struct {
	workDir string // binaries, databases, logs
	logDirs map[string]bool

	env        *harness.Env
	vars       map[string]string // env.Vars
	apiBin     string
	workerBin  string
	apiBase    string
	workerAddr string

	mu     sync.Mutex
	ddb    *harness.Restartable
	proxy  *harness.DynamoProxy
	tmp    *harness.Restartable
	api    *testenv.Process
	worker *testenv.Process
}

func newStack() (*stack, error) {
	dir, err := os.MkdirTemp("", "pcx-soak-")
	if err != nil {
		return nil, err
	}
	s := &stack{workDir: dir, logDirs: map[string]bool{dir: true}}
	if _, err := testenv.DynamoDBLocalDir(); err != nil {
		return s, err
	}
	if _, err := testenv.TemporalBin(); err != nil {
		return s, err
	}
	return s, nil
}

// build compiles the api and worker binaries into the work directory.
func (s *stack) build(version string) error {
	bins, err := harness.Build(filepath.Join(s.workDir, "bin"), version, "./cmd/api", "./cmd/worker")
	if err != nil {
		return err
	}
	s.apiBin, s.workerBin = bins[0], bins[1]
	return nil
}

// startDynamoDB starts DynamoDB Local on a fixed port with its data directory, or starts it
// again there.
func (s *stack) startDynamoDB() error {
	if s.ddb != nil {
		return s.started(s.ddb, s.ddb.Start())
	}
	dataDir := filepath.Join(s.workDir, "dynamodb")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return err
	}
	ddb, err := harness.DynamoDB(dataDir)
	if err != nil {
		return err
	}
	proxy, err := harness.NewDynamoProxy(ddb.Addr())
	if err != nil {
		ddb.Stop(true)
		return err
	}
	s.mu.Lock()
	s.ddb, s.proxy = ddb, proxy
	s.mu.Unlock()
	return s.started(ddb, nil)
}

// started notes the log directory of a dependency that started (err nil).
func (s *stack) started(d *harness.Restartable, err error) error {
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logDirs[filepath.Dir(d.LogPath())] = true
	return nil
}

// stopDynamoDB stops DynamoDB Local: SIGTERM (then SIGKILL after 10s), or SIGKILL at once.
func (s *stack) stopDynamoDB(kill bool) { s.ddb.Stop(kill) }

func (s *stack) startTemporal() error {
	tmp, err := harness.Temporal(s.workDir)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.tmp = tmp
	s.mu.Unlock()
	return s.started(tmp, nil)
}

// configure builds the services' environment with the shared harness, as the end-to-end tests
// and the bench do: generated secrets, its own table and task queue, loopback deliveries allowed
// and the receivers' CA trusted; then creates the table. The services get the proxy's endpoint.
func (s *stack) configure(caFile string, o options) error {
	vars := map[string]string{
		"WEBHOOK_RETRY_SCHEDULE":   o.retrySchedule,
		"AUTH_FAILURES_PER_MINUTE": "0",
	}
	if o.webhookTimeout > 0 {
		vars["WEBHOOK_TIMEOUT"] = o.webhookTimeout.String()
	}
	if o.requestTimeout > 0 {
		vars["REQUEST_TIMEOUT"] = o.requestTimeout.String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	env, err := harness.New(ctx, harness.Options{
		Name:             "soak-" + testenv.RandomHex(4),
		DynamoDBEndpoint: s.ddb.Addr(),
		TemporalAddress:  s.tmp.Addr(),
		Vars:             vars,
		CreateTable:      true,
	})
	if err != nil {
		return err
	}
	env.AllowReceivers(caFile)
	env.Vars["DYNAMODB_ENDPOINT"] = s.proxy.URL()
	// The receivers are one loopback host standing for many real ones (a fan-out of 250).
	env.Vars["WEBHOOK_HOST_CONCURRENCY"] = "1000"
	s.env, s.vars = env, env.Vars
	return nil
}

// settings lists the configuration that is not secret, for the report.
func (s *stack) settings() map[string]string {
	out := map[string]string{}
	for k, v := range s.vars {
		if harness.IsSecret(k) {
			v = "(generated)"
		}
		out[k] = v
	}
	return out
}

// bootstrapKey creates an organisation's first key straight in the store, as pcxctl does.
func (s *stack) bootstrapKey(org string) (string, error) {
	return s.env.BootstrapKey(context.Background(), org, "soak", "soak")
}

// startService starts the api or the worker binary and waits until it is ready (DynamoDB and
// Temporal reachable).
func (s *stack) startService(kind harness.Kind, name, bin string) (*harness.Service, error) {
	return s.env.StartReady(kind, name, bin, s.workDir, harness.Ready, nil)
}

func (s *stack) startAPI() error {
	svc, err := s.startService(harness.API, "api", s.apiBin)
	if err != nil {
		return err
	}
	s.apiBase = svc.URL()
	s.mu.Lock()
	s.api = svc.Process
	s.mu.Unlock()
	return nil
}

// startWorker starts a worker process and waits until it is ready.
func (s *stack) startWorker() error {
	svc, err := s.startService(harness.Worker, "worker", s.workerBin)
	if err != nil {
		return err
	}
	s.workerAddr = svc.Addr
	s.mu.Lock()
	s.worker = svc.Process
	s.mu.Unlock()
	return nil
}

// killWorker SIGKILLs the running worker and returns when it was killed.
func (s *stack) killWorker() time.Time {
	s.mu.Lock()
	p := s.worker
	s.mu.Unlock()
	at := time.Now()
	p.Kill()
	return at
}

// exited names the service processes that are not running.
func (s *stack) exited() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if s.api != nil && s.api.Exited() {
		out = append(out, "api")
	}
	if s.worker != nil && s.worker.Exited() {
		out = append(out, "worker")
	}
	return out
}

// stop ends every process (api and worker first) and, unless keep, removes the work directory
// and the servers' log directories.
func (s *stack) stop(keep bool) {
	s.mu.Lock()
	procs := []*testenv.Process{s.api, s.worker}
	deps := []*harness.Restartable{s.tmp, s.ddb}
	proxy := s.proxy
	s.mu.Unlock()
	for _, p := range procs {
		if p != nil {
			p.Stop()
		}
	}
	if proxy != nil {
		proxy.Close()
	}
	for _, d := range deps {
		if d != nil {
			d.Stop(false)
		}
	}
	if keep {
		return
	}
	for d := range s.logDirs {
		if strings.Contains(filepath.Base(d), "pcx-") {
			_ = os.RemoveAll(d)
		}
	}
}
