package e2e

// Helpers of the fault-injection tests (faults_*_test.go): the api and worker binaries as real
// processes that can be killed, dedicated DynamoDB Local and Temporal servers that can be stopped
// and restarted on the same port with their on-disk state, a receiver that counts every request
// at its handler and can misbehave in the ways real receivers do, and load drivers that record
// every response.
//
// These tests run the services as subprocesses (never in-process): a SIGKILL must be a real one,
// and the subprocesses' logs are printed when a test fails.

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pcx/publicservice/harness"
	"github.com/pcx/publicservice/internal/testenv"
)

// ---- binaries ---------------------------------------------------------------------------------

// faultBins holds the api and worker binaries, built once while any fault test runs and removed
// when the last one ends (the Go build cache makes a rebuild cheap).
var faultBins struct {
	mu    sync.Mutex
	users int
	dir   string
	built map[string]string
}

// binaries returns the paths of ./cmd/api and ./cmd/worker built for this test run.
func binaries(t *testing.T) (api, worker string) {
	t.Helper()
	faultBins.mu.Lock()
	defer faultBins.mu.Unlock()
	if faultBins.users == 0 {
		d, err := os.MkdirTemp("", "pcx-e2e-faults-bin-")
		if err != nil {
			t.Fatal(err)
		}
		faultBins.dir, faultBins.built = d, map[string]string{}
	}
	faultBins.users++
	// Registered before any process the test starts, so it runs after they are stopped.
	t.Cleanup(func() {
		faultBins.mu.Lock()
		defer faultBins.mu.Unlock()
		faultBins.users--
		if faultBins.users == 0 {
			_ = os.RemoveAll(faultBins.dir)
			faultBins.dir, faultBins.built = "", nil
		}
	})
	for _, name := range []string{"api", "worker"} {
		if faultBins.built[name] != "" {
			continue
		}
		faultBins.built[name] = buildCmd(t, faultBins.dir, name)
	}
	return faultBins.built["api"], faultBins.built["worker"]
}

// buildCmd builds ./cmd/<name> into dir.
func buildCmd(t *testing.T, dir, name string) string { return buildCommand(t, dir, "./cmd/"+name) }

// apiProcess is the api binary running as a process.
type apiProcess struct {
	base string
	p    *testenv.Process
}

// startAPIProcess runs the api binary with this environment (plus extra KEY=VALUE entries) on a
// free port and waits until it answers /healthz. The process is stopped when the test ends; its
// log is printed if the test failed.
func (e *env) startAPIProcess(bin, dir string, extra ...string) *apiProcess {
	e.t.Helper()
	s := e.startProcess(harness.API, "api", bin, dir, extra)
	return &apiProcess{base: s.URL(), p: s.Process}
}

// startProcess runs bin, a service of kind, as a process named name on free ports, stopped when
// the test ends (the tail of its log is printed if the test failed), and waits until it answers
// /healthz.
func (e *env) startProcess(kind harness.Kind, name, bin, dir string, extra []string) *harness.Service {
	e.t.Helper()
	vars := map[string]string{}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	s, err := e.h.Start(kind, name, bin, dir, vars)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		s.Stop()
		if e.t.Failed() {
			out, _ := os.ReadFile(s.LogPath())
			e.t.Logf("%s process log %s:\n%s", name, s.LogPath(), tailLines(out, 80))
		}
	})
	if err := s.WaitFor(harness.Listening); err != nil {
		e.t.Fatal(err)
	}
	return s
}

// tailLines returns the last n lines of out.
func tailLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// ---- environments on dedicated servers --------------------------------------------------------

// requireTool skips (or, under PCX_REQUIRE_INTEGRATION=1, fails) a test whose tool is missing,
// as testenv does for the shared servers.
func requireTool(t *testing.T, err error) {
	t.Helper()
	var missing *testenv.ToolMissingError
	if errors.As(err, &missing) && os.Getenv("PCX_REQUIRE_INTEGRATION") != "1" {
		t.Skipf("integration dependency unavailable (run `make tools`): %v", err)
	}
	t.Fatal(err)
}

// startDedicatedDynamoDB starts a DynamoDB Local of the test's own, its data in a directory.
func startDedicatedDynamoDB(t *testing.T) *harness.Restartable {
	t.Helper()
	d, err := harness.DynamoDB(t.TempDir())
	return dedicated(t, d, err)
}

// startDedicatedTemporal starts a Temporal dev server of the test's own, its database in a file.
func startDedicatedTemporal(t *testing.T) *harness.Restartable {
	t.Helper()
	d, err := harness.Temporal(t.TempDir())
	return dedicated(t, d, err)
}

// dedicated stops the dependency d when the test ends, or ends the test if it did not start.
func dedicated(t *testing.T, d *harness.Restartable, err error) *harness.Restartable {
	t.Helper()
	if err != nil {
		requireTool(t, err)
	}
	t.Cleanup(func() { d.Stop(false) })
	return d
}

// ---- a receiver that counts at its handler and misbehaves on demand ----------------------------

// fault is what a faultReceiver does with one request.
type fault int

const (
	answerOK      fault = iota // 200 at once
	answer500                  // 500 at once
	answer503                  // 503 at once
	answerLate                 // 200 after lateBy: past WEBHOOK_TIMEOUT, so the sender has given up
	answerReset                // hijack the connection and close it: no response at all
	answerTrickle              // 200 headers at once, then the body a byte at a time over lateBy
	answerSlowOK               // 200 after slowBy: slow, but within WEBHOOK_TIMEOUT
)

func (f fault) String() string {
	return [...]string{"ok", "500", "503", "late", "reset", "trickle", "slow-ok"}[f]
}

// faultReceiver is an HTTPS receiver whose paths are endpoints. Every request is counted at the
// handler, before anything else happens to it, per path and per webhook-id: a request the
// receiver saw is a request, whether it was then answered, timed out or reset.
type faultReceiver struct {
	srv    *httptest.Server
	caFile string
	lateBy time.Duration
	slowBy time.Duration

	mu sync.Mutex
	// plan decides what to do with the n-th request (from 1) of event id on path.
	plan func(path, id string, n int) fault
	// hold, when set, runs before the plan's answer, outside the lock: a test holds a request
	// there while it changes the world around it.
	hold   func(path, id string, n int)
	counts map[string]map[string]int // path -> webhook-id -> requests
	reqs   map[string][]received     // path -> requests in arrival order
	faults map[fault]int
	// inflight counts requests whose handler has not returned.
	inflight int
}

func newFaultReceiver(t *testing.T) *faultReceiver {
	t.Helper()
	rc := &faultReceiver{
		lateBy: 1500 * time.Millisecond, slowBy: 1500 * time.Millisecond,
		plan:   func(string, string, int) fault { return answerOK },
		counts: map[string]map[string]int{}, reqs: map[string][]received{}, faults: map[fault]int{},
	}
	// HTTP/1.1 only (startTLSServer's): a reset is a closed connection.
	rc.srv, rc.caFile = startTLSServer(t, http.HandlerFunc(rc.serve))
	return rc
}

func (rc *faultReceiver) setPlan(plan func(path, id string, n int) fault) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.plan = plan
}

func (rc *faultReceiver) setHold(hold func(path, id string, n int)) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.hold = hold
}

func (rc *faultReceiver) serve(w http.ResponseWriter, r *http.Request) {
	id := r.Header.Get("webhook-id")
	rc.mu.Lock()
	path := r.URL.Path
	if rc.counts[path] == nil {
		rc.counts[path] = map[string]int{}
	}
	rc.counts[path][id]++
	n := rc.counts[path][id]
	f := rc.plan(path, id, n)
	rc.faults[f]++
	rc.inflight++
	hold := rc.hold
	rc.mu.Unlock()
	defer func() {
		rc.mu.Lock()
		rc.inflight--
		rc.mu.Unlock()
	}()

	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.reqs[path] = append(rc.reqs[path], received{header: r.Header.Clone(), body: body, at: time.Now()})
	rc.mu.Unlock()
	if hold != nil {
		hold(path, id, n)
	}

	switch f {
	case answerOK:
		w.WriteHeader(http.StatusOK)
	case answer500:
		w.WriteHeader(http.StatusInternalServerError)
	case answer503:
		w.WriteHeader(http.StatusServiceUnavailable)
	case answerSlowOK:
		sleepCtx(r.Context(), rc.slowBy)
		w.WriteHeader(http.StatusOK)
	case answerLate:
		sleepCtx(r.Context(), rc.lateBy)
		w.WriteHeader(http.StatusOK)
	case answerReset:
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic("faultReceiver: the connection cannot be hijacked (HTTP/2?)")
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			if tc, ok := conn.(*tls.Conn); ok {
				if raw, ok := tc.NetConn().(*net.TCPConn); ok {
					_ = raw.SetLinger(0) // RST, not FIN
				}
			}
			_ = conn.Close()
		}
	case answerTrickle:
		const size = 64
		w.Header().Set("Content-Length", fmt.Sprint(size))
		w.WriteHeader(http.StatusOK)
		fl, _ := w.(http.Flusher)
		if fl != nil {
			fl.Flush()
		}
		for i := 0; i < size; i++ {
			if _, err := w.Write([]byte{'.'}); err != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
			if !sleepCtx(r.Context(), rc.lateBy/size) {
				return
			}
		}
	}
}

// sleepCtx sleeps d or until ctx ends; it reports whether it slept the whole d.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (rc *faultReceiver) url(path string) string { return rc.srv.URL + path }

// count is how many requests path saw for event id.
func (rc *faultReceiver) count(path, id string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.counts[path][id]
}

// snapshot returns, per path, the webhook-ids seen and how many requests each had.
func (rc *faultReceiver) snapshot() map[string]map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string]map[string]int, len(rc.counts))
	for p, m := range rc.counts {
		out[p] = maps.Clone(m)
	}
	return out
}

// reachedAll reports whether every one of paths has seen every one of the events ids.
func (rc *faultReceiver) reachedAll(paths, ids []string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, p := range paths {
		for _, id := range ids {
			if rc.counts[p][id] == 0 {
				return false
			}
		}
	}
	return true
}

// pairs is the number of distinct (path, webhook-id) pairs seen; total the number of requests.
func (rc *faultReceiver) pairs() (pairs, total int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, m := range rc.counts {
		pairs += len(m)
		for _, n := range m {
			total += n
		}
	}
	return pairs, total
}

// inFlight is the number of requests being handled right now.
func (rc *faultReceiver) inFlight() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.inflight
}

func (rc *faultReceiver) requests(path string) []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs[path]...)
}

func (rc *faultReceiver) faultCounts() map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string]int{}
	for f, n := range rc.faults {
		out[f.String()] = n
	}
	return out
}

// allowFaults configures an environment to deliver to this receiver.
func (e *env) allowFaults(rc *faultReceiver) { e.h.AllowReceivers(rc.caFile) }

// coin is a deterministic pseudo-random bit per (path, id, n): the same run fails the same
// requests, and about half of them.
func coin(path, id string, n int) bool {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s|%s|%d", path, id, n)
	return h.Sum32()%2 == 0
}

// ---- load drivers -----------------------------------------------------------------------------

// probe is one request a driver sent and what came back.
type probe struct {
	route      string
	phase      string
	at         time.Time
	dur        time.Duration
	status     int // 0: no response (transport error)
	retryAfter string
	body       []byte
	err        error
	eventID    string // a notify's accepted event
}

// driver sends requests from a few goroutines until stopped, recording every reply.
type driver struct {
	client *http.Client
	mu     sync.Mutex
	phase  string
	probes []probe
	stopc  chan struct{}
	wg     sync.WaitGroup
}

func newDriver() *driver {
	return &driver{
		// Far above any bound the service promises, so a slow answer is measured, not cut.
		client: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}},
		phase:  "before", stopc: make(chan struct{}),
	}
}

func (d *driver) setPhase(p string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.phase = p
}

// run starts a goroutine sending req() every gap until stop.
func (d *driver) run(route string, gap time.Duration, req func(n int) (*http.Request, error)) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for n := 0; ; n++ {
			select {
			case <-d.stopc:
				return
			default:
			}
			d.do(route, req, n)
			select {
			case <-d.stopc:
				return
			case <-time.After(gap):
			}
		}
	}()
}

func (d *driver) do(route string, req func(n int) (*http.Request, error), n int) probe {
	d.mu.Lock()
	phase := d.phase
	d.mu.Unlock()
	p := probe{route: route, phase: phase, at: time.Now()}
	r, err := req(n)
	if err != nil {
		p.err = err
	} else {
		resp, err := d.client.Do(r)
		if err != nil {
			p.err = err
		} else {
			p.body, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			p.status = resp.StatusCode
			p.retryAfter = resp.Header.Get("Retry-After")
		}
	}
	p.dur = time.Since(p.at)
	if route == "notify" && p.status == http.StatusAccepted {
		var reply struct {
			Data acceptedData `json:"data"`
		}
		if json.Unmarshal(p.body, &reply) == nil {
			p.eventID = reply.Data.EventID
		}
	}
	d.mu.Lock()
	d.probes = append(d.probes, p)
	d.mu.Unlock()
	return p
}

func (d *driver) stop() {
	close(d.stopc)
	d.wg.Wait()
}

func (d *driver) all() []probe {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]probe(nil), d.probes...)
}

// since returns the probes of route that started at or after t.
func (d *driver) since(route string, t time.Time) []probe {
	var out []probe
	for _, p := range d.all() {
		if p.route == route && !p.at.Before(t) {
			out = append(out, p)
		}
	}
	return out
}

// getReq and notifyReq build the drivers' requests.
func getReq(url, key string) func(int) (*http.Request, error) {
	return func(int) (*http.Request, error) {
		r, err := http.NewRequest("GET", url, nil)
		if err == nil {
			r.Header.Set("X-API-Key", key)
		}
		return r, err
	}
}

func notifyReq(base, key, org, tag string) func(int) (*http.Request, error) {
	return func(n int) (*http.Request, error) {
		body := fmt.Sprintf(`{"org_id":%q,"transaction_data":{"tag":%q,"n":%d}}`, org, tag, n)
		r, err := http.NewRequest("POST", base+"/public/webhooks/notify", strings.NewReader(body))
		if err == nil {
			r.Header.Set("X-API-Key", key)
			r.Header.Set("Content-Type", "application/json")
		}
		return r, err
	}
}

// leakPatterns are what a 5xx body must never carry: dependency error text, addresses.
var leakPatterns = []*regexp.Regexp{
	regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`),
	regexp.MustCompile(`(?i)\[?[0-9a-f]{0,4}::1\]?`),
	regexp.MustCompile(`(?i)dynamodb|aws|smithy|operation error|api error|dial tcp|connection refused|connect:|rpc error|grpc|serviceerror|deadline exceeded|context canceled|localhost|:\d{2,5}\b|goroutine|\.go:\d+`),
}

// checkDegraded checks one reply sent while a dependency is (or was just) down: a success, or a
// 503 with Retry-After and the error envelope, never anything else; never slower than limit;
// never a word of the dependency's own error. It returns the problems found.
func checkDegraded(p probe, ok int, limit time.Duration) []string {
	var problems []string
	what := fmt.Sprintf("%s %s at %s (%s)", p.route, p.phase, p.at.Format("15:04:05.000"), p.dur.Round(time.Millisecond))
	switch {
	case p.err != nil:
		problems = append(problems, fmt.Sprintf("%s: no response: %v", what, p.err))
	case p.status == ok:
	case p.status == http.StatusServiceUnavailable:
		if p.retryAfter == "" {
			problems = append(problems, fmt.Sprintf("%s: 503 without Retry-After", what))
		}
		var e errorEnvelope
		if err := json.Unmarshal(p.body, &e); err != nil || e.Status != "error" || e.Message == "" {
			problems = append(problems, fmt.Sprintf("%s: 503 body %q is not the error envelope", what, p.body))
		}
		for _, re := range leakPatterns {
			if m := re.Find(p.body); m != nil {
				problems = append(problems, fmt.Sprintf("%s: 503 body %q leaks %q", what, p.body, m))
			}
		}
	default:
		problems = append(problems, fmt.Sprintf("%s: status %d body %s, want %d or 503", what, p.status, p.body, ok))
	}
	if p.dur > limit {
		problems = append(problems, fmt.Sprintf("%s: took %s, over the bound %s", what, p.dur.Round(time.Millisecond), limit))
	}
	return problems
}

// summarize counts probes per route and status, and the slowest, for the test log.
func summarize(probes []probe) string {
	type agg struct {
		n       int
		byCode  map[int]int
		slowest time.Duration
	}
	per := map[string]*agg{}
	for _, p := range probes {
		k := p.route + "/" + p.phase
		a := per[k]
		if a == nil {
			a = &agg{byCode: map[int]int{}}
			per[k] = a
		}
		a.n++
		a.byCode[p.status]++
		a.slowest = max(a.slowest, p.dur)
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(per)) {
		a := per[k]
		codes := make([]int, 0, len(a.byCode))
		for c := range a.byCode {
			codes = append(codes, c)
		}
		sort.Ints(codes)
		var cs []string
		for _, c := range codes {
			cs = append(cs, fmt.Sprintf("%d×%d", c, a.byCode[c]))
		}
		fmt.Fprintf(&b, "\n  %-22s %4d requests  %-28s slowest %s", k, a.n, strings.Join(cs, " "), a.slowest.Round(time.Millisecond))
	}
	return b.String()
}

// acceptedEvents returns the event IDs of the notifies that got a 202.
func acceptedEvents(probes []probe) []string {
	var ids []string
	for _, p := range probes {
		if p.eventID != "" {
			ids = append(ids, p.eventID)
		}
	}
	return ids
}

// ---- a DynamoDB proxy that fails chosen operations ---------------------------------------------

// newDynamoProxy starts a harness.DynamoProxy in front of target for the test: a partial outage,
// timed exactly.
func newDynamoProxy(t *testing.T, target string) *harness.DynamoProxy {
	t.Helper()
	px, err := harness.NewDynamoProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(px.Close)
	return px
}

// behindDynamoProxy is a run whose worker reaches DynamoDB through a proxy (the api and the test
// read it directly), delivering to rc on a 1s,1s,1s retry schedule.
type behindDynamoProxy struct {
	e      *env
	proxy  *harness.DynamoProxy
	api    *apiProcess
	worker *testenv.Process
}

func startBehindDynamoProxy(t *testing.T, rc *faultReceiver) behindDynamoProxy {
	t.Helper()
	apiBin, workerBin := binaries(t)
	dir := t.TempDir()
	e := newEnv(t)
	e.allowFaults(rc)
	e.fastRetries("1s,1s,1s")
	r := behindDynamoProxy{e: e, proxy: newDynamoProxy(t, e.vars["DYNAMODB_ENDPOINT"])}
	r.api = e.startAPIProcess(apiBin, dir)
	r.worker = e.startWorkerProcess(workerBin, dir, "DYNAMODB_ENDPOINT="+r.proxy.URL())
	return r
}
