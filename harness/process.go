package harness

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/app/apiserver"
	"github.com/pcx/publicservice/app/worker"
	"github.com/pcx/publicservice/internal/testenv"
)

// Kind is which of the two services a process runs.
type Kind int

const (
	API    Kind = iota // cmd/api: the public and the internal listener
	Worker             // cmd/worker: the health listener
)

// Service is the api or the worker binary running as a process.
type Service struct {
	*testenv.Process
	// Addr is the api's public listener or the worker's health listener (host:port);
	// InternalAddr the api's internal listener.
	Addr         string
	InternalAddr string
	// Environ is what the process was started with (secrets included: never report it as is).
	Environ []string
}

// URL is the base URL of the service's (public or health) listener.
func (s *Service) URL() string { return "http://" + s.Addr }

// Wait is how to tell that a started service is up.
type Wait struct {
	Path   string        // probed on Addr
	OK     bool          // only a 200 counts; otherwise any answer does
	Within time.Duration // then it is not coming up
}

var (
	// Listening waits until /healthz answers: the process listens.
	Listening = Wait{Path: "/healthz", Within: 30 * time.Second}
	// Ready waits until /readyz answers 200: DynamoDB and Temporal are reachable.
	Ready = Wait{Path: "/readyz", OK: true, Within: 60 * time.Second}
)

// Start starts the binary bin of kind on free loopback ports with the environment plus extra
// settings (which win), its log in dir. It does not wait: see WaitFor and StartReady.
func (e *Env) Start(kind Kind, name, bin, dir string, extra map[string]string) (*Service, error) {
	s := &Service{}
	addrs := []*string{&s.Addr}
	keys := []string{"WORKER_HTTP_ADDR"}
	if kind == API {
		addrs, keys = []*string{&s.Addr, &s.InternalAddr}, []string{"HTTP_ADDR", "INTERNAL_HTTP_ADDR"}
	}
	ports := map[string]string{}
	for i, key := range keys {
		port, err := testenv.FreePort()
		if err != nil {
			return nil, err
		}
		*addrs[i] = fmt.Sprintf("127.0.0.1:%d", port)
		ports[key] = *addrs[i]
	}
	s.Environ = e.Environ(ports, extra)
	p, err := testenv.Start(name, dir, s.Environ, bin)
	if err != nil {
		return nil, err
	}
	s.Process = p
	return s, nil
}

// WaitFor waits until the service is up as w says, or has exited, or w.Within has passed.
func (s *Service) WaitFor(w Wait) error {
	url := s.URL() + w.Path
	if !w.OK {
		return s.Process.WaitFor(w.Within, testenv.HTTPReady(url))
	}
	client := &http.Client{Timeout: 2 * time.Second}
	return s.Process.WaitFor(w.Within, func() error {
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

// StartReady is Start, then WaitFor w; a service that does not come up is stopped.
func (e *Env) StartReady(kind Kind, name, bin, dir string, w Wait, extra map[string]string) (*Service, error) {
	s, err := e.Start(kind, name, bin, dir, extra)
	if err != nil {
		return nil, err
	}
	if err := s.WaitFor(w); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Build compiles the main packages pkgs (./cmd/api, …, relative to the repository root) into
// dir, with app.Version set to version when it is not empty, and returns the binaries' paths.
func Build(dir, version string, pkgs ...string) ([]string, error) {
	root, err := testenv.RepoRoot()
	if err != nil {
		return nil, err
	}
	args := []string{"build"}
	if version != "" {
		args = append(args, "-ldflags", "-X github.com/pcx/publicservice/app.Version="+version)
	}
	args = append(append(args, "-o", dir+string(filepath.Separator)), pkgs...)
	cmd := exec.Command(testenv.GoBin(), args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
	}
	bins := make([]string, len(pkgs))
	for i, pkg := range pkgs {
		bins[i] = filepath.Join(dir, filepath.Base(pkg))
	}
	return bins, nil
}

// InProcess is the api or the worker running in this process, exactly as cmd/api and cmd/worker
// run it.
type InProcess struct {
	// Addr and InternalAddr are the api's listeners (host:port); empty for the worker.
	Addr, InternalAddr string
	cancel             context.CancelFunc
	done               chan error
	stopped            bool
}

// RunInProcess starts the service of kind with the environment's configuration and log, and
// waits up to within until it listens.
func (e *Env) RunInProcess(kind Kind, log zerolog.Logger, within time.Duration) (*InProcess, error) {
	cfg, err := e.Config()
	if err != nil {
		return nil, err
	}
	run, name := apiserver.Run, "api"
	if kind == Worker {
		run, name = worker.Run, "worker"
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &InProcess{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan [2]string, 1)
	go func() {
		p.done <- run(ctx, cfg, log, func(pub, internal string) {
			select {
			case ready <- [2]string{pub, internal}:
			default:
			}
		})
	}()
	select {
	case addrs := <-ready:
		if kind == API {
			p.Addr, p.InternalAddr = addrs[0], addrs[1]
		}
		return p, nil
	case err := <-p.done:
		cancel()
		return nil, fmt.Errorf("%s exited at start: %v", name, err)
	case <-time.After(within):
		cancel()
		return nil, fmt.Errorf("%s did not start within %s", name, within)
	}
}

// Stop cancels the service and waits up to within for it to return; a second Stop does nothing.
func (p *InProcess) Stop(within time.Duration) error {
	if p.stopped {
		return nil
	}
	p.stopped = true
	p.cancel()
	select {
	case <-p.done:
		return nil
	case <-time.After(within):
		return fmt.Errorf("did not stop within %s", within)
	}
}
