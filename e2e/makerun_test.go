package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/testenv"
)

// TestMakeRun runs scripts/run.sh — what `make run` runs — for real, on free loopback ports and a
// temporary state directory: it must print a working development key, write the settings the
// second terminal reads, and stop everything it started on SIGINT, both when the signal reaches
// the script alone and when it reaches its whole process group as a terminal's Ctrl-C does. A
// second start on the same state directory reuses the key.
func TestMakeRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole stack with scripts/run.sh")
	}
	t.Parallel()
	for _, tool := range []func() (string, error){testenv.TemporalBin, testenv.DynamoDBLocalDir} {
		if _, err := tool(); err != nil {
			if os.Getenv("PCX_REQUIRE_INTEGRATION") == "1" {
				t.Fatalf("integration dependency unavailable (PCX_REQUIRE_INTEGRATION=1): %v", err)
			}
			t.Skipf("integration dependency unavailable (run `make tools`, or `make test`): %v", err)
		}
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}

	ports := map[string]int{}
	used := map[int]bool{}
	for _, name := range []string{"api", "internal", "worker", "temporal", "ui", "dynamodb"} {
		for {
			p, err := testenv.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			if !used[p] {
				used[p], ports[name] = true, p
				break
			}
		}
	}
	runDir := t.TempDir()
	httpAddr := fmt.Sprintf("127.0.0.1:%d", ports["api"])
	vars := []string{
		"HTTP_ADDR=" + httpAddr,
		fmt.Sprintf("INTERNAL_HTTP_ADDR=127.0.0.1:%d", ports["internal"]),
		fmt.Sprintf("WORKER_HTTP_ADDR=127.0.0.1:%d", ports["worker"]),
		fmt.Sprintf("TEMPORAL_ADDRESS=127.0.0.1:%d", ports["temporal"]),
		fmt.Sprintf("TEMPORAL_UI_PORT=%d", ports["ui"]),
		fmt.Sprintf("DYNAMODB_ENDPOINT=http://127.0.0.1:%d", ports["dynamodb"]),
		"PCX_RUN_DIR=" + runDir,
		"WEBHOOK_ALLOWED_CIDRS=", // set and empty: run.sh must keep it empty, not apply its default
		"PCX_START_TIMEOUT=240",  // generous under `make test`, where every package runs at once
	}
	base := "http://" + httpAddr
	_, statErr := os.Stat(filepath.Join(root, "cmd/worker"))
	haveWorker := statErr == nil

	// First start: fresh state directory; stopped by SIGINT to the script alone.
	first := startRunScript(t, root, vars)
	key := first.waitKey(5 * time.Minute)
	if !strings.HasPrefix(key, "pcx_") {
		t.Fatalf("PCX_DEV_API_KEY=%q is not a pcx_ key", key)
	}

	keyFile := filepath.Join(runDir, "dev-api-key")
	fi, err := os.Stat(keyFile)
	if err != nil {
		t.Fatalf("dev key file: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", keyFile, fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(keyFile); strings.TrimSpace(string(b)) != key {
		t.Errorf("%s holds %q, the script printed %q", keyFile, strings.TrimSpace(string(b)), key)
	}
	wantStatus(t, call(t, "GET", base+"/public/me", key, nil), 200)
	if haveWorker {
		wantStatus(t, call(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/readyz", ports["worker"]), "", nil), 200)
	}

	envFile := filepath.Join(runDir, "pcx.env")
	if fi, err := os.Stat(envFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: want mode 0600, got %v (%v)", envFile, fi, err)
	}
	settings := readEnvLines(t, envFile)
	if got, ok := settings["HTTP_ADDR"]; !ok || got != httpAddr {
		t.Errorf("pcx.env HTTP_ADDR = %q (present %v), want %q", got, ok, httpAddr)
	}
	if got, ok := settings["WEBHOOK_ALLOWED_CIDRS"]; !ok || got != "" {
		t.Errorf("pcx.env WEBHOOK_ALLOWED_CIDRS = %q (present %v), want it present and empty as set", got, ok)
	}
	for _, k := range []string{"APIKEY_PEPPERS", "WEBHOOK_SECRETS_KEYS", "CURSOR_KEYS", "INTERNAL_TOKEN", "DYNAMODB_ENDPOINT", "TEMPORAL_ADDRESS"} {
		if settings[k] == "" {
			t.Errorf("pcx.env has no %s", k)
		}
	}

	// A second terminal needs no setup: pcxctl with nothing but PCX_ENV_FILE reaches the stack.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list := exec.CommandContext(ctx, filepath.Join(runDir, "bin/pcxctl"), "keys", "list", "--org-id", "dev-org")
	list.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PCX_ENV_FILE=" + envFile}
	out, err := list.CombinedOutput()
	if prefix := keyPrefix(key); err != nil || !strings.Contains(string(out), prefix) {
		t.Errorf("pcxctl keys list with only PCX_ENV_FILE: %v\n%s\nwant a line with %s", err, out, prefix)
	}

	first.interrupt(false)
	first.wantStopped(30*time.Second, ports)

	// Second start on the same state directory: the same key, still valid; stopped by SIGINT to
	// the whole process group, as a Ctrl-C in a terminal.
	second := startRunScript(t, root, vars)
	if again := second.waitKey(5 * time.Minute); again != key {
		t.Errorf("second start printed PCX_DEV_API_KEY=%s, want the first key %s reused", again, key)
	}
	wantStatus(t, call(t, "GET", base+"/public/me", key, nil), 200)
	second.interrupt(true)
	second.wantStopped(30*time.Second, ports)
}

// runScript is one run of scripts/run.sh in its own process group.
type runScript struct {
	t      *testing.T
	proc   *testenv.Process
	runDir string
	pid    int  // the script's pid, also its process group id
	clean  bool // stopped, and its process group seen empty
}

func startRunScript(t *testing.T, root string, vars []string) *runScript {
	t.Helper()
	var runDir string
	for _, v := range vars {
		if d, ok := strings.CutPrefix(v, "PCX_RUN_DIR="); ok {
			runDir = d
		}
	}
	p, err := testenv.Start("make-run", t.TempDir(), vars, "bash", filepath.Join(root, "scripts/run.sh"))
	if err != nil {
		t.Fatal(err)
	}
	r := &runScript{t: t, proc: p, runDir: runDir}
	t.Cleanup(func() {
		// Safety net when the test failed midway: nothing of the stack may outlive the test.
		if r.pid > 0 && !r.clean {
			_ = syscall.Kill(-r.pid, syscall.SIGKILL)
		}
		p.Stop()
	})
	return r
}

// waitKey waits for the PCX_DEV_API_KEY= line and returns the key.
func (r *runScript) waitKey(within time.Duration) string {
	r.t.Helper()
	var key string
	err := r.proc.WaitFor(within, func() error {
		b, err := os.ReadFile(r.proc.LogPath())
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k, ok := strings.CutPrefix(line, "PCX_DEV_API_KEY="); ok {
				key = k
				return nil
			}
		}
		return errors.New("no PCX_DEV_API_KEY= line yet")
	})
	if err != nil {
		r.t.Fatalf("scripts/run.sh: %v\n%s", err, r.output())
	}
	b, err := os.ReadFile(filepath.Join(r.runDir, "run.pid"))
	if err != nil {
		r.t.Fatalf("run.pid: %v", err)
	}
	if r.pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil || r.pid <= 1 {
		r.t.Fatalf("run.pid holds %q", b)
	}
	if pgid, err := syscall.Getpgid(r.pid); err != nil || pgid != r.pid {
		r.t.Fatalf("run.pid %d is not the script started here (pgid %d, %v)", r.pid, pgid, err)
	}
	return key
}

func (r *runScript) output() string {
	b, _ := os.ReadFile(r.proc.LogPath())
	return string(b)
}

// interrupt sends SIGINT to the script, or to its whole process group as a terminal does.
func (r *runScript) interrupt(group bool) {
	r.t.Helper()
	target := r.pid
	if group {
		target = -r.pid
	}
	if err := syscall.Kill(target, syscall.SIGINT); err != nil {
		r.t.Fatalf("SIGINT %d: %v", target, err)
	}
}

// wantStopped asserts the script exits within d, leaves no process of its group behind, and
// frees every port it used.
func (r *runScript) wantStopped(d time.Duration, ports map[string]int) {
	r.t.Helper()
	start := time.Now()
	for !r.proc.Exited() {
		if time.Since(start) > d {
			r.t.Fatalf("scripts/run.sh still running %s after SIGINT\n%s", d, r.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Logf("scripts/run.sh stopped %s after SIGINT", time.Since(start).Round(time.Millisecond))
	if err := syscall.Kill(-r.pid, 0); errors.Is(err, syscall.ESRCH) {
		r.clean = true
	} else {
		r.t.Errorf("processes of the script's group %d are still running (err %v): orphans\n%s", r.pid, err, r.output())
	}
	for name, p := range ports {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), time.Second); err == nil {
			c.Close()
			r.t.Errorf("port %d (%s) still accepts connections after the script exited", p, name)
		}
	}
	if !strings.Contains(r.output(), "==> stopped") {
		r.t.Errorf("the script did not report stopping its processes:\n%s", r.output())
	}
}

// readEnvLines parses the KEY=VALUE lines of an env file as written by run.sh.
func readEnvLines(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			m[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// keyPrefix is the public part of a key, pcx_<10 chars>, which pcxctl keys list shows.
func keyPrefix(key string) string {
	if rest, ok := strings.CutPrefix(key, "pcx_"); ok {
		if i := strings.Index(rest, "_"); i > 0 {
			return key[:len("pcx_")+i]
		}
	}
	return key
}
