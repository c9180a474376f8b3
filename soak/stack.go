package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pcx/publicservice/app"
	"github.com/pcx/publicservice/internal/config"
	"github.com/pcx/publicservice/internal/keyformat"
	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/service/apikeys"
	"github.com/pcx/publicservice/store"
)

// stack is the deployment under soak: DynamoDB Local with its data on disk and the Temporal dev
// server with its database in a file, each on a fixed port so they can be restarted with their
// state; the api and worker binaries as processes that can be killed.
type stack struct {
	root    string // repository root
	workDir string // binaries, databases, logs
	logDirs map[string]bool

	jarDir     string
	ddbPort    int
	ddbPath    string
	tmpPort    int
	tmpDBFile  string
	vars       map[string]string
	apiBin     string
	workerBin  string
	apiBase    string
	workerAddr string

	mu     sync.Mutex
	ddb    *testenv.DynamoDBLocal
	tmp    *testenv.TemporalDev
	api    *testenv.Process
	worker *testenv.Process
	store  *store.Store
}

func newStack() (*stack, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pcx-soak-")
	if err != nil {
		return nil, err
	}
	s := &stack{root: root, workDir: dir, logDirs: map[string]bool{dir: true}}
	if s.jarDir, err = testenv.DynamoDBLocalDir(); err != nil {
		return s, err
	}
	if _, err := testenv.TemporalBin(); err != nil {
		return s, err
	}
	return s, nil
}

// build compiles the api and worker binaries into the work directory.
func (s *stack) build(version string) error {
	binDir := filepath.Join(s.workDir, "bin")
	cmd := exec.Command(testenv.GoBin(), "build", "-ldflags", "-X github.com/pcx/publicservice/app.Version="+version,
		"-o", binDir+"/", "./cmd/api", "./cmd/worker")
	cmd.Dir = s.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	s.apiBin, s.workerBin = filepath.Join(binDir, "api"), filepath.Join(binDir, "worker")
	return nil
}

func freePort() int {
	p, err := testenv.FreePort()
	if err != nil {
		panic(err)
	}
	return p
}

// startDynamoDB starts (or restarts) DynamoDB Local on its port with its data directory.
func (s *stack) startDynamoDB() error {
	if s.ddbPort == 0 {
		s.ddbPort, s.ddbPath = freePort(), filepath.Join(s.workDir, "dynamodb")
		if err := os.MkdirAll(s.ddbPath, 0o755); err != nil {
			return err
		}
	}
	ddb, err := testenv.StartDynamoDBOnPort(s.jarDir, s.ddbPort, s.ddbPath)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.ddb = ddb
	s.logDirs[filepath.Dir(ddb.Proc.LogPath())] = true
	s.mu.Unlock()
	return nil
}

// stopDynamoDB stops DynamoDB Local: SIGTERM (then SIGKILL after 10s), or SIGKILL at once.
func (s *stack) stopDynamoDB(kill bool) {
	s.mu.Lock()
	p := s.ddb
	s.ddb = nil
	s.mu.Unlock()
	if p == nil {
		return
	}
	if kill {
		p.Proc.Kill()
	} else {
		p.Proc.Stop()
	}
}

func (s *stack) startTemporal() error {
	if s.tmpPort == 0 {
		s.tmpPort, s.tmpDBFile = freePort(), filepath.Join(s.workDir, "temporal.db")
	}
	tmp, err := testenv.StartTemporal(s.tmpPort, s.tmpDBFile)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.tmp = tmp
	s.logDirs[filepath.Dir(tmp.Proc.LogPath())] = true
	s.mu.Unlock()
	return nil
}

// configure builds the services' environment like the end-to-end tests' newEnv: no env file,
// generated secrets, its own table and task queue, loopback deliveries allowed and the receivers'
// CA trusted; then creates the table.
func (s *stack) configure(caFile string, o options) error {
	id := testenv.RandomHex(4)
	s.vars = map[string]string{
		"PCX_ENV_FILE":             "",
		"LOG_LEVEL":                "warn",
		"AWS_REGION":               "us-east-1",
		"DYNAMODB_ENDPOINT":        fmt.Sprintf("http://127.0.0.1:%d", s.ddbPort),
		"DYNAMODB_TABLE":           "soak-" + id,
		"TEMPORAL_ADDRESS":         fmt.Sprintf("127.0.0.1:%d", s.tmpPort),
		"TEMPORAL_NAMESPACE":       "default",
		"TEMPORAL_TASK_QUEUE":      "soak-" + id,
		"APIKEY_PEPPERS":           "1:" + testenv.RandomBase64(32),
		"WEBHOOK_SECRETS_KEYS":     "1:" + testenv.RandomBase64(32),
		"INTERNAL_TOKEN":           testenv.RandomHex(24),
		"WEBHOOK_ALLOWED_CIDRS":    "127.0.0.0/8,::1/128",
		"WEBHOOK_CA_FILE":          caFile,
		"WEBHOOK_RETRY_SCHEDULE":   o.retrySchedule,
		"AUTH_FAILURES_PER_MINUTE": "0",
	}
	if o.webhookTimeout > 0 {
		s.vars["WEBHOOK_TIMEOUT"] = o.webhookTimeout.String()
	}
	if o.requestTimeout > 0 {
		s.vars["REQUEST_TIMEOUT"] = o.requestTimeout.String()
	}
	cfg, err := config.Load(s.environ(nil))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := app.NewStore(ctx, cfg)
	if err != nil {
		return err
	}
	if _, err := st.CreateTable(ctx); err != nil {
		return fmt.Errorf("create table: %w", err)
	}
	s.store = st
	return nil
}

// settings lists the configuration that is not secret, for the report.
func (s *stack) settings() map[string]string {
	out := map[string]string{}
	for k, v := range s.vars {
		switch k {
		case "APIKEY_PEPPERS", "WEBHOOK_SECRETS_KEYS", "INTERNAL_TOKEN":
			out[k] = "(generated)"
		default:
			out[k] = v
		}
	}
	return out
}

func (s *stack) environ(extra map[string]string) []string { return testenv.Environ(s.vars, extra) }

// bootstrapKey creates an organisation's first key straight in the store, as pcxctl does.
func (s *stack) bootstrapKey(org string) (string, error) {
	cfg, err := config.Load(s.environ(nil))
	if err != nil {
		return "", err
	}
	peppers, err := cfg.Peppers()
	if err != nil {
		return "", err
	}
	svc := &apikeys.Service{Store: s.store, Hasher: keyformat.NewHasher(peppers)}
	full, _, err := svc.Create(context.Background(), apikeys.CreateInput{OrgID: org, UserID: "soak", Name: "soak"})
	return full, err
}

// ready waits until url answers 200.
func ready(p *testenv.Process, url string, within time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	return p.WaitFor(within, func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %d", url, resp.StatusCode)
		}
		return nil
	})
}

func (s *stack) startAPI() error {
	port, internal := freePort(), freePort()
	p, err := testenv.Start("api", s.workDir, s.environ(map[string]string{
		"HTTP_ADDR": fmt.Sprintf("127.0.0.1:%d", port), "INTERNAL_HTTP_ADDR": fmt.Sprintf("127.0.0.1:%d", internal),
	}), s.apiBin)
	if err != nil {
		return err
	}
	s.apiBase = fmt.Sprintf("http://127.0.0.1:%d", port)
	s.mu.Lock()
	s.api = p
	s.mu.Unlock()
	return ready(p, s.apiBase+"/readyz", 60*time.Second)
}

// startWorker starts a worker process and waits until it is ready (DynamoDB and Temporal
// reachable).
func (s *stack) startWorker() error {
	s.workerAddr = fmt.Sprintf("127.0.0.1:%d", freePort())
	p, err := testenv.Start("worker", s.workDir, s.environ(map[string]string{"WORKER_HTTP_ADDR": s.workerAddr}), s.workerBin)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.worker = p
	s.mu.Unlock()
	return ready(p, "http://"+s.workerAddr+"/readyz", 60*time.Second)
}

// killWorker SIGKILLs the running worker.
func (s *stack) killWorker() {
	s.mu.Lock()
	p := s.worker
	s.mu.Unlock()
	p.Kill()
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
	if s.tmp != nil {
		procs = append(procs, s.tmp.Proc)
	}
	if s.ddb != nil {
		procs = append(procs, s.ddb.Proc)
	}
	s.mu.Unlock()
	for _, p := range procs {
		if p != nil {
			p.Stop()
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
