// Command pcxbench is the benchmark harness of the webhook service (`make bench`).
//
// It starts DynamoDB Local and a Temporal dev server on free loopback ports, runs the api and
// worker binaries as subprocesses against them, and drives them from this process over loopback:
// authentication overhead, delivery throughput against two ceilings measured in the same run,
// notify rate, latency, fan-out scale, memory and a noisy neighbour. Every figure is measured next to its baseline
// and reported as a ratio. The report goes to bench/results (latest.md, latest.json and a
// timestamped copy). See bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/pcx/publicservice/internal/testenv"
)

// stderrLog receives the SDK's warnings of the bench's own Temporal client and worker.
var stderrLog io.Writer = os.Stderr

type options struct {
	quick bool

	binDir string
	outDir string
	phases string
	keep   bool
	render string

	warmup            time.Duration
	window            time.Duration
	inflight          int
	throughputFanouts []int

	authWarmup     time.Duration
	authWindow     time.Duration
	conns          int
	authLightConns int

	notifyWarmup    time.Duration
	notifyWindow    time.Duration
	notifyEndpoints int

	latencyRate float64
	latencyDur  time.Duration

	fanoutSizes   []int
	fanoutTimeout time.Duration
	storeAbove    int

	soak       time.Duration
	soakSample time.Duration
	soakRate   float64

	neighbourEndpoints int
	neighbourHosts     int
	neighbourRate      float64
	neighbourWarmup    time.Duration

	receivers         int
	workerConcurrency int
	payloadBytes      int
	stall             time.Duration
	drain             time.Duration
}

func (o *options) maxFanout() int {
	m := 0
	for _, n := range append(append([]int{}, o.fanoutSizes...), o.throughputFanouts...) {
		m = max(m, n)
	}
	return m
}

func (o *options) runs(phase string) bool {
	if o.phases == "" || o.phases == "all" {
		return true
	}
	for _, p := range strings.Split(o.phases, ",") {
		if strings.TrimSpace(p) == phase {
			return true
		}
	}
	return false
}

type intList []int

func (l *intList) String() string {
	s := make([]string, len(*l))
	for i, n := range *l {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	*l = nil
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("want a comma-separated list of positive integers, got %q", v)
		}
		*l = append(*l, n)
	}
	return nil
}

func parseFlags(args []string) (*options, *flag.FlagSet, error) {
	o := &options{}
	fs := flag.NewFlagSet("pcxbench", flag.ContinueOnError)
	root, _ := testenv.RepoRoot()
	fs.BoolVar(&o.quick, "quick", false, "smoke run of every phase in a few minutes (short windows, fan-outs 100 and 1,000, 30 s soak); its report files get a -quick suffix")
	fs.StringVar(&o.binDir, "bin", filepath.Join(root, "bin", "bench"), "directory holding the api, worker and pcxctl binaries (make bench builds them)")
	fs.StringVar(&o.outDir, "out", filepath.Join(root, "bench", "results"), "directory of the report files")
	fs.StringVar(&o.phases, "phases", "all", "comma-separated phases to run: auth,latency,notify,throughput,fanout,soak,neighbour")
	fs.BoolVar(&o.keep, "keep", false, "keep the run directory (process logs) even when every phase succeeded")
	fs.DurationVar(&o.warmup, "warmup", 10*time.Second, "throughput: warm-up before each measured window (discarded)")
	fs.DurationVar(&o.window, "window", 60*time.Second, "throughput: measured window per fan-out, for the service and for ceiling (a)")
	fs.IntVar(&o.inflight, "inflight", 1000, "throughput: deliveries kept in flight by the closed loop (events in flight = inflight / fan-out)")
	tf := intList{10, 100}
	fs.Var(&tf, "fanouts", "throughput: endpoints per event, comma-separated")
	fs.DurationVar(&o.authWarmup, "auth-warmup", 3*time.Second, "auth: warm-up before each measurement")
	fs.DurationVar(&o.authWindow, "auth-window", 20*time.Second, "auth: measured time per endpoint and server (split in two halves, ABBA order)")
	fs.IntVar(&o.conns, "conns", 32, "auth and notify: concurrent clients")
	fs.IntVar(&o.authLightConns, "auth-light-conns", 1, "auth: concurrent clients of the light-load latency measurement")
	fs.DurationVar(&o.notifyWarmup, "notify-warmup", 5*time.Second, "notify: warm-up")
	fs.DurationVar(&o.notifyWindow, "notify-window", 30*time.Second, "notify: measured window, for notify and for the bare workflow starts")
	fs.IntVar(&o.notifyEndpoints, "notify-endpoints", 1, "notify: endpoints of the notifying organisation")
	fs.Float64Var(&o.latencyRate, "latency-rate", 5, "latency: events per second (open loop, one endpoint each)")
	fs.DurationVar(&o.latencyDur, "latency-duration", 30*time.Second, "latency: how long to send")
	fo := intList{100, 1000, 10000}
	fs.Var(&fo, "fanout-sizes", "fan-out: endpoints of the single event, comma-separated")
	fs.DurationVar(&o.fanoutTimeout, "fanout-timeout", 10*time.Minute, "fan-out: bound on one event's delivery")
	fs.IntVar(&o.storeAbove, "store-above", 1000, "setup: organisations with more endpoints than this are stored straight in the table (store.CreateWebhook) instead of registered through the API")
	fs.DurationVar(&o.soak, "soak", 5*time.Minute, "memory: soak duration at a moderate steady load")
	fs.DurationVar(&o.soakSample, "soak-sample", 10*time.Second, "memory: RSS sampling interval during the soak")
	fs.Float64Var(&o.soakRate, "soak-rate", 0, "memory: soak events per second to 10 endpoints each (0: half the measured 10-endpoint throughput, 1..50)")
	fs.IntVar(&o.neighbourEndpoints, "neighbour-endpoints", 200, "noisy neighbour: endpoints of organisation A, on listeners that accept and never answer")
	fs.IntVar(&o.neighbourHosts, "neighbour-hosts", 4, "noisy neighbour: loopback addresses (127.0.0.2, …: one destination host each) A's endpoints are spread over")
	fs.Float64Var(&o.neighbourRate, "neighbour-rate", 0.5, "noisy neighbour: A's events per second (open loop, to all its endpoints each)")
	fs.DurationVar(&o.neighbourWarmup, "neighbour-warmup", 20*time.Second, "noisy neighbour: how long A notifies before B's load starts (B then runs the latency phase's load: -latency-rate for -latency-duration)")
	fs.IntVar(&o.receivers, "receivers", 4, "HTTPS receiver listeners (ports) the endpoints are spread over")
	fs.IntVar(&o.workerConcurrency, "worker-concurrency", 200, "WORKER_CONCURRENCY of the worker, of ceiling (a)'s worker and of ceiling (b)'s sender")
	fs.IntVar(&o.payloadBytes, "payload-bytes", 512, "size of transaction_data")
	fs.DurationVar(&o.stall, "stall", 60*time.Second, "a phase with no delivery for this long fails")
	fs.DurationVar(&o.drain, "drain", 3*time.Minute, "bound on waiting for work in flight after a phase")
	fs.StringVar(&o.render, "render", "", "only re-render the Markdown report of a saved JSON report (writes the .md next to it), then exit")
	if err := fs.Parse(args); err != nil {
		return nil, fs, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.quick {
		quick := map[string]func(){
			"warmup":           func() { o.warmup = 3 * time.Second },
			"window":           func() { o.window = 10 * time.Second },
			"auth-warmup":      func() { o.authWarmup = time.Second },
			"auth-window":      func() { o.authWindow = 4 * time.Second },
			"notify-warmup":    func() { o.notifyWarmup = 2 * time.Second },
			"notify-window":    func() { o.notifyWindow = 6 * time.Second },
			"latency-duration": func() { o.latencyDur = 6 * time.Second },
			"neighbour-warmup": func() { o.neighbourWarmup = 5 * time.Second },
			"fanout-sizes":     func() { fo = intList{100, 1000} },
			"soak":             func() { o.soak = 30 * time.Second },
			"soak-sample":      func() { o.soakSample = 5 * time.Second },
			"drain":            func() { o.drain = 90 * time.Second },
			"stall":            func() { o.stall = 30 * time.Second },
		}
		for name, f := range quick {
			if !set[name] {
				f()
			}
		}
	}
	o.throughputFanouts, o.fanoutSizes = tf, fo
	if o.inflight < 1 || o.conns < 1 || o.authLightConns < 1 || o.receivers < 1 || o.workerConcurrency < 1 || o.latencyRate <= 0 || o.notifyEndpoints < 1 ||
		o.neighbourEndpoints < 1 || o.neighbourRate <= 0 || o.neighbourHosts < 1 || o.neighbourHosts > 250 {
		return nil, fs, errors.New("inflight, conns, receivers, worker-concurrency, latency-rate, notify-endpoints, neighbour-endpoints and neighbour-rate must be positive, neighbour-hosts 1 to 250")
	}
	return o, fs, nil
}

func main() {
	o, fs, err := parseFlags(os.Args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "pcxbench:", err)
		os.Exit(2)
	}
	if o.render != "" {
		if err := rerender(o.render); err != nil {
			fmt.Fprintln(os.Stderr, "pcxbench:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := newBench(o, fs)
	code := b.run(ctx)
	os.Exit(code)
}

// bench is one run.
type bench struct {
	o      *options
	rep    *Report
	start  time.Time
	logf   *os.File
	failed bool
	runDir string

	st     *stack
	tr     *tracker
	rc     *receivers
	hang   *hangers // the noisy neighbour's listeners (that phase only)
	tc     client.Client
	cl     *apiClient
	api    *proc
	worker *proc
	queue  string            // the service's task queue
	keys   map[string]string // organisation → API key
}

func newBench(o *options, fs *flag.FlagSet) *bench {
	b := &bench{o: o, start: time.Now()}
	b.rep = newReport(o, fs)
	return b
}

// run runs every phase in turn and writes the report; it returns the exit code.
func (b *bench) run(ctx context.Context) (code int) {
	defer func() {
		if r := recover(); r != nil {
			b.rep.Errors = append(b.rep.Errors, PhaseError{Phase: "bench", Error: fmt.Sprintf("panic: %v\n%s", r, debug.Stack())})
			b.failed = true
			code = 1
		}
	}()
	b.say("pcxbench: %s run, report to %s", map[bool]string{true: "quick", false: "full"}[b.o.quick], b.o.outDir)
	b.rep.Machine.LoadAvgStart = testenv.LoadAvg()
	if la := b.rep.Machine.LoadAvgStart; la != "" {
		b.say("load average at start: %s", la)
	}
	defer b.teardown()
	if !b.phase(ctx, "setup", b.setup) {
		return b.finish(ctx)
	}
	for _, p := range []struct {
		name string
		f    func(context.Context) error
	}{
		{"auth", b.phaseAuth},
		{"latency", b.phaseLatency},
		{"notify", b.phaseNotify},
		{"throughput", b.phaseThroughput},
		{"fanout", b.phaseFanout},
		{"soak", b.phaseSoak},
		{"neighbour", b.phaseNeighbour}, // last: A's backlog is cut short, not drained
	} {
		if ctx.Err() != nil {
			break
		}
		if !b.o.runs(p.name) {
			continue
		}
		if err := b.ensureServices(ctx); err != nil {
			b.record(p.name, fmt.Errorf("services not running before the phase: %w", err))
			continue
		}
		b.phase(ctx, p.name, p.f)
	}
	return b.finish(ctx)
}

// phase runs one phase, recording (not propagating) its failure.
func (b *bench) phase(ctx context.Context, name string, f func(context.Context) error) (ok bool) {
	t0 := time.Now()
	la := testenv.LoadAvg()
	b.say("==> %s (load average %s)", name, la)
	defer func() {
		if r := recover(); r != nil {
			b.record(name, fmt.Errorf("panic: %v\n%s", r, debug.Stack()))
			ok = false
		}
		b.rep.PhaseSeconds = append(b.rep.PhaseSeconds, PhaseTime{Phase: name, Seconds: round(time.Since(t0).Seconds(), 1), LoadAvgStart: la})
		b.say("    %s took %s", name, time.Since(t0).Round(time.Second))
	}()
	if err := f(ctx); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted: %w", err)
		}
		b.record(name, err)
		return false
	}
	return true
}

func (b *bench) record(phase string, err error) {
	b.failed = true
	b.rep.Errors = append(b.rep.Errors, PhaseError{Phase: phase, Error: err.Error()})
	b.say("    %s FAILED: %v", phase, err)
}

func (b *bench) say(format string, args ...any) {
	fmt.Printf("%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (b *bench) finish(ctx context.Context) int {
	b.rep.Machine.LoadAvgEnd = testenv.LoadAvg()
	b.rep.DurationSeconds = round(time.Since(b.start).Seconds(), 1)
	if ctx.Err() != nil {
		b.rep.Interrupted = true
		b.failed = true
	}
	b.rep.computeFigures()
	if b.st != nil {
		b.rep.Processes = b.st.procs
		b.rep.Pcxctl = b.st.pcxctl
		b.rep.InheritedConfig = b.st.inheritedConfig()
	}
	files, err := b.rep.write(b.o.outDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pcxbench: writing the report:", err)
		b.failed = true
	}
	fmt.Println()
	fmt.Print(b.rep.summaryText())
	for _, f := range files {
		fmt.Println("report:", f)
	}
	if b.failed {
		return 1
	}
	return 0
}
