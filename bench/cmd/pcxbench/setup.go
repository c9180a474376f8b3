package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/pcx/publicservice/harness"
)

// Organisations of the run; each has its own key and endpoints, and its receipts are counted
// apart (the first segment of an endpoint's path is its organisation).
const (
	orgAuth   = "auth"
	orgLat    = "lat"
	orgNotify = "notify"
	orgSoak   = "soak"
	soakFan   = 10
)

func orgT(f int) string   { return "t" + strconv.Itoa(f) }
func orgFan(n int) string { return "fan" + strconv.Itoa(n) }

// orgEndpoints is how many endpoints each organisation gets.
func (b *bench) orgEndpoints() map[string]int {
	m := map[string]int{orgAuth: 0}
	if b.o.runs("latency") {
		m[orgLat] = 1
	}
	if b.o.runs("notify") {
		m[orgNotify] = b.o.notifyEndpoints
	}
	if b.o.runs("throughput") {
		for _, f := range b.o.throughputFanouts {
			m[orgT(f)] = f
		}
	}
	if b.o.runs("fanout") {
		for _, n := range b.o.fanoutSizes {
			m[orgFan(n)] = n
		}
	}
	if b.o.runs("soak") {
		m[orgSoak] = soakFan
	}
	if b.o.runs("neighbour") {
		m[orgNoisy], m[orgQuiet] = b.o.neighbourEndpoints, 1
	}
	return m
}

// setup starts everything and registers the organisations' keys and endpoints.
func (b *bench) setup(ctx context.Context) error {
	runDir, err := os.MkdirTemp("", "pcxbench-")
	if err != nil {
		return err
	}
	b.runDir = runDir
	if f, err := os.Create(filepath.Join(runDir, "bench-sdk.log")); err == nil {
		b.logf = f
		stderrLog = f
	}
	for _, bin := range []string{"api", "worker", "pcxctl"} {
		if _, err := os.Stat(filepath.Join(b.o.binDir, bin)); err != nil {
			return fmt.Errorf("binary %s missing in %s: build with `make bench` (or go build -o %s ./cmd/...): %w", bin, b.o.binDir, b.o.binDir, err)
		}
	}
	counts := b.orgEndpoints()
	var orgs []string
	for org := range counts {
		orgs = append(orgs, org)
	}
	sort.Strings(orgs)
	b.tr = newTracker(orgs)
	b.rc, err = startReceivers(b.o.receivers, runDir, b.tr)
	if err != nil {
		return fmt.Errorf("receivers: %w", err)
	}
	b.rep.Setup.Receivers = b.rc.urls

	caFile := b.rc.caFile
	if b.o.runs("neighbour") {
		if b.hang, err = startHangers(b.o.neighbourHosts, runDir, b.rc.caFile); err != nil {
			return fmt.Errorf("noisy neighbour listeners: %w", err)
		}
		caFile = b.hang.caFile
	}

	b.st = &stack{binDir: b.o.binDir, runDir: runDir}
	t0 := time.Now()
	if err := b.st.startDeps(); err != nil {
		return err
	}
	b.rep.Setup.DepsStartSeconds = round(time.Since(t0).Seconds(), 1)
	b.rep.Versions.DynamoDBLocal = dynamoVersion(b.st.ddb.Proc.LogPath())
	if err := b.st.configure(caFile, b.o); err != nil {
		return err
	}
	b.queue = b.st.vars["TEMPORAL_TASK_QUEUE"]
	b.rep.Setup.Table, b.rep.Setup.TaskQueue = b.st.vars["DYNAMODB_TABLE"], b.queue
	if out, err := b.st.pcxctlRun(ctx, "table", "create"); err != nil {
		return err
	} else {
		b.say("    %s", harness.FirstLine(out))
	}
	t0 = time.Now()
	if b.worker, err = b.st.startService("worker", "worker", nil); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	if b.api, err = b.st.startService("api", "api", nil); err != nil {
		return fmt.Errorf("api: %w", err)
	}
	b.rep.Setup.ServicesStartSeconds = round(time.Since(t0).Seconds(), 1)
	b.cl = newAPIClient("http://"+b.api.Addr, max(b.o.conns, 64))
	tc, err := client.Dial(client.Options{HostPort: b.st.tmp.Address, Namespace: b.st.tmp.Namespace, Logger: quietLogger()})
	if err != nil {
		return fmt.Errorf("temporal client: %w", err)
	}
	b.tc = tc
	cpuSampler = b.cpuSnapshot
	sleepCtx(ctx, 3*time.Second)
	b.sampleMemory("idle after start")

	// Keys: one per organisation, bootstrapped with pcxctl.
	t0 = time.Now()
	b.keys = map[string]string{}
	for _, org := range orgs {
		key, err := b.st.bootstrapKey(ctx, org)
		if err != nil {
			return err
		}
		b.keys[org] = key
	}
	b.rep.Setup.KeysSeconds = round(time.Since(t0).Seconds(), 1)

	// Endpoints: through the API, or straight into the store above -store-above.
	for _, org := range orgs {
		n := counts[org]
		if n == 0 {
			continue
		}
		url := func(i int) string { return b.rc.url(org, i) }
		if org == orgNoisy {
			url = func(i int) string { return b.hang.url(org, i) }
		}
		t0 := time.Now()
		method := "api"
		if n > b.o.storeAbove {
			method = "store"
			err = b.st.registerViaStore(ctx, org, n, url)
		} else {
			err = registerViaAPI(ctx, b.cl, b.keys[org], org, n, url)
		}
		if err != nil {
			return fmt.Errorf("registering %d endpoints of %s: %w", n, org, err)
		}
		b.rep.Setup.Orgs = append(b.rep.Setup.Orgs, OrgSetup{Org: org, Endpoints: n, Method: method, Seconds: round(time.Since(t0).Seconds(), 1)})
		b.say("    %s: %d endpoints via %s in %s", org, n, method, time.Since(t0).Round(100*time.Millisecond))
	}
	b.sampleMemory("after setup")
	return nil
}

// ensureServices restarts the api or the worker if it has died (the failure is recorded).
func (b *bench) ensureServices(ctx context.Context) error {
	var errs []error
	if b.worker == nil || b.worker.p.Exited() {
		errs = append(errs, errors.New("the worker had exited; restarted"))
		b.st.stopService(b.worker)
		w, err := b.st.startService("worker", "worker", nil)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		b.worker = w
	}
	if b.api == nil || b.api.p.Exited() {
		errs = append(errs, errors.New("the api had exited; restarted"))
		b.st.stopService(b.api)
		a, err := b.st.startService("api", "api", nil)
		if err != nil {
			return errors.Join(append(errs, err)...)
		}
		b.api = a
		b.cl = newAPIClient("http://"+b.api.Addr, max(b.o.conns, 64))
	}
	if len(errs) > 0 {
		b.record("services", errors.Join(errs...))
	}
	return nil
}

// waitIdle waits until no workflow of queue is running (visibility), so phases never overlap.
func (b *bench) waitIdle(ctx context.Context, queue string, within time.Duration) error {
	q := fmt.Sprintf("TaskQueue = '%s' AND ExecutionStatus = 'Running'", queue)
	deadline := time.Now().Add(within)
	var n int64 = -1
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := b.tc.CountWorkflow(cctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: b.st.tmp.Namespace, Query: q})
		cancel()
		if err == nil {
			n = resp.GetCount()
			if n == 0 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d workflow(s) of task queue %s still running %s after the phase (last error: %v)", n, queue, within, err)
		}
		if !sleepCtx(ctx, 500*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// running returns the processes of the stack that have not been stopped.
func (s *stack) running() []*proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	procs := make([]*proc, 0, len(s.procs))
	for _, p := range s.procs {
		if !p.stopped {
			procs = append(procs, p)
		}
	}
	return procs
}

// cpuSnapshot reads the CPU time of every running process, this one, and the machine.
func (b *bench) cpuSnapshot() cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), sec: map[string]float64{}}
	for _, p := range b.st.running() {
		if v, ok := cpuSeconds(p.PID); ok {
			s.sec[p.Name] = v
		}
	}
	if v, ok := cpuSeconds(os.Getpid()); ok {
		s.sec["pcxbench"] = v
	}
	if busy, irq, idle, ok := machineCPU(); ok {
		s.sec["machine-busy"], s.sec["machine-irq"], s.sec["machine-idle"] = busy, irq, idle
	}
	return s
}

// sampleMemory records the RSS of every process now.
func (b *bench) sampleMemory(label string) MemSample {
	s := MemSample{Label: label, AtSeconds: round(time.Since(b.start).Seconds(), 1), RSSMiB: map[string]float64{}}
	if b.st != nil {
		for _, p := range b.st.running() {
			if v, err := rssMiB(p.PID); err == nil {
				s.RSSMiB[p.Name] = round(v, 1)
			}
		}
	}
	if v, err := rssMiB(os.Getpid()); err == nil {
		s.RSSMiB["pcxbench"] = round(v, 1)
	}
	if label != "" {
		b.rep.Memory.Points = append(b.rep.Memory.Points, s)
	}
	return s
}

func (b *bench) teardown() {
	if b.tc != nil {
		b.tc.Close()
	}
	if b.st != nil {
		b.st.stopAll() // DynamoDB Local runs in memory: the table goes with it
	}
	if b.rc != nil {
		b.rc.close()
	}
	if b.hang != nil {
		b.hang.close()
	}
	if b.logf != nil {
		b.logf.Close()
	}
	keep := b.o.keep || b.failed
	var dirs []string
	if b.runDir != "" {
		dirs = append(dirs, b.runDir)
	}
	if b.st != nil && b.st.ddb != nil {
		dirs = append(dirs, filepath.Dir(b.st.ddb.Proc.LogPath())) // internal/testenv's work directory
	}
	for _, d := range dirs {
		if keep {
			fmt.Println("logs kept in", d)
		} else {
			_ = os.RemoveAll(d)
		}
	}
}
