// Command soak runs the whole service — DynamoDB Local, the Temporal dev server, the api and the
// worker as processes, HTTPS receivers in this process — sends events at a steady rate, some of
// them to an organisation of 100 endpoints (one DeliverBatch of 100) and some to one of 250
// (child workflows), through faults (the worker SIGKILLed while sends are in flight and
// restarted, the receivers down for a while, DynamoDB hung, DynamoDB restarted) and checks the
// promise: no accepted event lost, none delivered to the wrong endpoint, no delivery sent again
// once it was recorded delivered.
//
//	make soak                          # 1,000 events at 10/s
//	make soak SOAK_FLAGS=-quick        # a short version
//	go run ./soak -events 300 -rate 20 -endpoints 5 -fanout-every 0 -wide-every 0
//
// The report goes to soak/results/latest.md and latest.json, plus a timestamped copy. The exit
// status is 1 when an accepted event was lost, a recorded delivery was sent again (or the run
// could not complete), 0 otherwise.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/pcx/publicservice/internal/testenv"
)

type options struct {
	events         int
	rate           float64
	endpoints      int
	quick          bool
	wait           time.Duration
	retries        int
	out            string
	keep           bool
	retrySchedule  string
	webhookTimeout time.Duration
	requestTimeout time.Duration
	receiverDown   time.Duration
	fanout         int
	fanoutEvery    int
	wide           int
	wideEvery      int
	slowAnswer     time.Duration
	killInFlight   int
	dynamoHang     time.Duration
}

func parseFlags() options {
	var o options
	flag.IntVar(&o.events, "events", 1000, "events to send")
	flag.Float64Var(&o.rate, "rate", 10, "events per second")
	flag.IntVar(&o.endpoints, "endpoints", 10, "endpoints of the main organisation (its events go to each)")
	flag.IntVar(&o.fanout, "fanout", 100, "endpoints of the fan-out organisation: its events are one DeliverBatch of 100")
	flag.IntVar(&o.fanoutEvery, "fanout-every", 10, "one event in this many goes to the fan-out organisation (0: none)")
	flag.IntVar(&o.wide, "wide", 250, "endpoints of the wide organisation: above 200 its events are delivered by child workflows")
	flag.IntVar(&o.wideEvery, "wide-every", 50, "one event in this many goes to the wide organisation (0: none)")
	flag.DurationVar(&o.slowAnswer, "slow-answer", 250*time.Millisecond, "how long the fan-out and wide endpoints take to answer, so sends are in flight")
	flag.IntVar(&o.killInFlight, "kill-in-flight", 20, "the worker is SIGKILLed once at least this many requests are open at the receivers (waiting at most 60s)")
	flag.DurationVar(&o.dynamoHang, "dynamodb-hang", 15*time.Second, "how long the api's and the worker's DynamoDB calls are held unanswered")
	flag.BoolVar(&o.quick, "quick", false, "a short run: 200 events, receivers down 6s, DynamoDB hung 10s, wait at most 5m (flags set explicitly still win)")
	flag.DurationVar(&o.wait, "wait", 10*time.Minute, "how long to wait, after the last event, for every delivery")
	flag.IntVar(&o.retries, "retries", 3, "retries of a notify answered 503/429/5xx or without an answer (same Idempotency-Key, after Retry-After)")
	flag.StringVar(&o.out, "out", "soak/results", "report directory (relative to the repository root)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (binaries, databases, logs) even when the run passes")
	flag.StringVar(&o.retrySchedule, "retry-schedule", "2s,5s,10s,20s,30s,60s,60s,60s,60s,60s", "WEBHOOK_RETRY_SCHEDULE of the worker (the default 5s,5m,30m,... would outlast the wait)")
	flag.DurationVar(&o.webhookTimeout, "webhook-timeout", 0, "WEBHOOK_TIMEOUT of the worker (0: the service's default, 15s)")
	flag.DurationVar(&o.requestTimeout, "request-timeout", 0, "REQUEST_TIMEOUT of the api (0: the service's default, 10s)")
	flag.DurationVar(&o.receiverDown, "receiver-down", 20*time.Second, "how long the receivers are down: the first half refusing connections, the second answering 503")
	flag.Parse()
	if o.quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["events"] {
			o.events = 200
		}
		if !set["receiver-down"] {
			o.receiverDown = 6 * time.Second
		}
		if !set["dynamodb-hang"] {
			o.dynamoHang = 10 * time.Second
		}
		if !set["wait"] {
			o.wait = 5 * time.Minute
		}
	}
	if o.events < 10 || o.rate <= 0 || o.endpoints < 1 || o.fanout < 1 || o.wide < 1 || o.fanoutEvery < 0 || o.wideEvery < 0 {
		fmt.Fprintln(os.Stderr, "soak: -events must be at least 10, -rate positive, -endpoints, -fanout and -wide at least 1, -fanout-every and -wide-every not negative")
		os.Exit(2)
	}
	return o
}

func main() {
	o := parseFlags()
	r := &run{o: o, rep: newReport(o)}
	code := r.main()
	os.Exit(code)
}

// run is one soak run.
type run struct {
	o     options
	rep   *report
	s     *stack
	rc    *receivers
	start time.Time
	orgs  []*org            // main, fan-out, wide
	hooks map[string]string // path -> webhook ID, of every org's endpoints

	mu       sync.Mutex
	accepted map[string]int // event_id -> sequence number
	events   []eventResult  // by sequence number
	requests []notifyResult
	faultNow string        // the fault in progress, for the latency breakdown
	windows  []faultWindow // when each fault was in effect, for the duplicates' causes

	recMu    sync.Mutex
	recorded map[string]time.Time // event_id|webhook_id -> when DynamoDB first answered a write recording it delivered
	// unrecorded counts, by event_id|path, the requests whose attempt died unrecorded with the
	// worker or the store (the earlier request of an allowed duplicate).
	unrecorded map[string]int
}

// org is an organisation of the soak, its key and its endpoints' paths; an event of it goes to
// each of its endpoints.
type org struct {
	name  string
	key   string
	paths []string
}

type eventResult struct {
	Seq      int    `json:"seq"`
	EventID  string `json:"event_id,omitempty"`
	Tries    int    `json:"tries"`
	Final    int    `json:"final_status"` // 0: no answer
	Accepted bool   `json:"accepted"`
}

type notifyResult struct {
	at     time.Time
	dur    time.Duration
	status int
	fault  string
}

func (r *run) logf(format string, args ...any) {
	fmt.Printf("[%7.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

func (r *run) main() (code int) {
	r.start = time.Now()
	r.accepted = map[string]int{}
	r.hooks = map[string]string{}
	r.recorded = map[string]time.Time{}
	r.unrecorded = map[string]int{}
	r.events = make([]eventResult, r.o.events)
	defer func() {
		if v := recover(); v != nil {
			r.rep.problem(fmt.Sprintf("soak panicked: %v", v))
			code = 1
		}
		keep := r.o.keep || code != 0
		if r.s != nil {
			dirs := slices.Sorted(maps.Keys(r.s.logDirs))
			r.rep.WorkDir = strings.Join(dirs, ", ")
			if !keep {
				r.rep.WorkDir += " (removed at the end; -keep keeps them)"
			}
		}
		r.rep.finish(r.start)
		if err := r.rep.write(r.o.out); err != nil {
			fmt.Fprintln(os.Stderr, "soak: writing the report:", err)
			code = 1
		}
		if r.rc != nil {
			r.rc.close()
		}
		if r.s != nil {
			r.s.stop(keep)
		}
		fmt.Printf("\n%s\n", r.rep.summaryLine())
	}()
	if err := r.setup(); err != nil {
		r.rep.problem("setup: " + err.Error())
		return 1
	}
	r.traffic()
	r.waitDelivered()
	r.waitWorkflowsClosed()
	r.classifyDuplicates()
	r.checkStatusAPI()
	r.tally()
	if r.rep.Delivery.Lost > 0 || len(r.rep.Problems) > 0 {
		return 1
	}
	return 0
}

func (r *run) setup() error {
	s, err := newStack()
	r.s = s
	if err != nil {
		return err
	}
	r.logf("work directory %s", s.workDir)
	t0 := time.Now()
	if err := s.build("soak"); err != nil {
		return err
	}
	r.rep.Durations["build"] = secs(time.Since(t0))
	t0 = time.Now()
	if err := s.startDynamoDB(); err != nil {
		return fmt.Errorf("DynamoDB Local: %w", err)
	}
	if err := s.startTemporal(); err != nil {
		return fmt.Errorf("Temporal dev server: %w", err)
	}
	r.rc, err = startReceivers(s.workDir)
	if err != nil {
		return err
	}
	if err := s.configure(r.rc.caFile, r.o); err != nil {
		return err
	}
	r.rep.Config.Settings = s.settings()
	s.proxy.Observe(r.observeWrite)
	if err := s.startAPI(); err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if err := s.startWorker(); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	r.rep.Durations["stack_start"] = secs(time.Since(t0))
	r.logf("stack up: DynamoDB Local :%d (-dbPath), Temporal :%d (--db-filename), api %s, worker %s, receivers %s",
		s.ddb.Port(), s.tmp.Port(), s.apiBase, s.workerAddr, r.rc.addr)

	specs := []struct {
		name, path string
		n          int
		slow       time.Duration
	}{
		{"soak-org", "/soak/ep-%02d", r.o.endpoints, 0},
		{"soak-fanout-org", "/soak/fan-%03d", r.o.fanout, r.o.slowAnswer},
		{"soak-wide-org", "/soak/wide-%03d", r.o.wide, r.o.slowAnswer},
	}
	total := 0
	for _, sp := range specs {
		o := &org{name: sp.name}
		if o.key, err = s.bootstrapKey(sp.name); err != nil {
			return fmt.Errorf("bootstrap key: %w", err)
		}
		for i := range sp.n {
			path := fmt.Sprintf(sp.path, i)
			if err := r.endpoint(o.key, path, sp.slow); err != nil {
				return err
			}
			o.paths = append(o.paths, path)
		}
		total += sp.n
		r.orgs = append(r.orgs, o)
	}
	// A canary: an endpoint of another organisation, which no event is sent to. Anything it
	// receives went to the wrong endpoint.
	canaryKey, err := s.bootstrapKey("soak-canary-org")
	if err != nil {
		return err
	}
	if err := r.endpoint(canaryKey, "/soak/canary", 0); err != nil {
		return err
	}
	r.logf("registered %d endpoints in 3 organisations (%d, %d, %d) and a canary endpoint of a fourth", total, r.o.endpoints, r.o.fanout, r.o.wide)
	return nil
}

// endpoint registers path with the key's organisation and at the receivers.
func (r *run) endpoint(key, path string, slow time.Duration) error {
	id, secret, err := r.register(key, r.rc.url(path))
	if err != nil {
		return err
	}
	r.hooks[path] = id
	return r.rc.endpoint(path, secret, slow)
}

// orgOf is the organisation event seq goes to: one in -wide-every to the wide one, one in
// -fanout-every (of the others) to the fan-out one, the rest to the main one.
func (r *run) orgOf(seq int) *org {
	switch {
	case r.o.wideEvery > 0 && seq%r.o.wideEvery == r.o.wideEvery/2:
		return r.orgs[2]
	case r.o.fanoutEvery > 0 && seq%r.o.fanoutEvery == r.o.fanoutEvery/2:
		return r.orgs[1]
	}
	return r.orgs[0]
}

var httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func (r *run) register(key, endpointURL string) (id, secret string, err error) {
	body, _ := json.Marshal(map[string]string{"endpoint_url": endpointURL, "description": "soak receiver"})
	status, b, _, err := r.post("/public/webhooks", key, body, nil)
	if err != nil || status != http.StatusCreated {
		return "", "", fmt.Errorf("register %s: %d %s %v", endpointURL, status, b, err)
	}
	var env struct {
		Data struct {
			WebhookID string `json:"webhook_id"`
			Secret    string `json:"secret"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return "", "", err
	}
	return env.Data.WebhookID, env.Data.Secret, nil
}

func (r *run) post(path, key string, body []byte, headers map[string]string) (int, []byte, http.Header, error) {
	req, err := http.NewRequest("POST", r.s.apiBase+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("X-API-Key", key)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// traffic sends the events at the steady rate while the faults run at their points of the run.
func (r *run) traffic() {
	runID := testenv.RandomHex(4)
	gap := time.Duration(float64(time.Second) / r.o.rate)
	faultsDone := make(chan struct{})
	progress := make(chan int, r.o.events)
	go func() {
		defer close(faultsDone)
		r.faults(progress)
	}()
	t0 := time.Now()
	r.rep.Timeline = append(r.rep.Timeline, r.event("traffic", "sending %d events at %.1f/s", r.o.events, r.o.rate))
	sem := make(chan struct{}, 128)
	var wg sync.WaitGroup
	tick := time.NewTicker(gap)
	defer tick.Stop()
	for i := range r.o.events {
		if i > 0 {
			<-tick.C
		}
		progress <- i
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r.sendEvent(runID, i)
		})
		if (i+1)%(max(r.o.events/10, 1)) == 0 {
			r.mu.Lock()
			n := len(r.accepted)
			r.mu.Unlock()
			r.logf("sent %d/%d events, %d accepted so far", i+1, r.o.events, n)
		}
	}
	close(progress)
	wg.Wait()
	r.rep.Durations["sending"] = secs(time.Since(t0))
	<-faultsDone
	r.rep.Timeline = append(r.rep.Timeline, r.event("traffic", "last event answered"))
}

// sendEvent notifies one event, retrying with the same Idempotency-Key as an integrator would.
func (r *run) sendEvent(runID string, seq int) {
	o := r.orgOf(seq)
	body := fmt.Appendf(nil, `{"org_id":%q,"transaction_data":{"soak":%q,"seq":%d,"amount":%d,"note":"caf\u00e9"}}`, o.name, runID, seq, 100+seq)
	idem := fmt.Sprintf("soak-%s-%d", runID, seq)
	res := eventResult{Seq: seq}
	for try := 0; try <= r.o.retries; try++ {
		res.Tries++
		t0 := time.Now()
		status, b, h, err := r.post("/public/webhooks/notify", o.key, body, map[string]string{"Idempotency-Key": idem})
		r.mu.Lock()
		r.requests = append(r.requests, notifyResult{at: t0, dur: time.Since(t0), status: status, fault: r.faultNow})
		r.mu.Unlock()
		res.Final = status
		if err == nil && status == http.StatusAccepted {
			var env struct {
				Data struct {
					EventID string `json:"event_id"`
				} `json:"data"`
			}
			if json.Unmarshal(b, &env) == nil && env.Data.EventID != "" {
				res.EventID, res.Accepted = env.Data.EventID, true
				r.mu.Lock()
				r.accepted[res.EventID] = seq
				r.mu.Unlock()
			}
			break
		}
		retryable := err != nil || status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests || status >= 500
		if !retryable {
			break
		}
		wait := time.Second
		if h != nil {
			if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil && s > 0 {
				wait = min(time.Duration(s)*time.Second, 10*time.Second)
			}
		}
		time.Sleep(wait)
	}
	r.mu.Lock()
	r.events[seq] = res
	r.mu.Unlock()
}

func (r *run) event(name, format string, args ...any) timelineEntry {
	return timelineEntry{At: secs(time.Since(r.start)), What: name, Detail: fmt.Sprintf(format, args...)}
}

func (r *run) mark(name, format string, args ...any) {
	e := r.event(name, format, args...)
	r.mu.Lock()
	r.rep.Timeline = append(r.rep.Timeline, e)
	r.mu.Unlock()
	r.logf("%s: %s", name, e.Detail)
}

func (r *run) setFault(f string) {
	r.mu.Lock()
	r.faultNow = f
	r.mu.Unlock()
}

// faultWindow is when a fault was in effect: an instant for a kill or the receivers' close.
type faultWindow struct {
	kind     string // "kill", "receivers", "hang", "restart"
	from, to time.Time
}

func (r *run) window(kind string, from, to time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.windows = append(r.windows, faultWindow{kind: kind, from: from, to: to})
}

// faults injects the faults when the traffic reaches 20%, 40%, 55% and 70% of the events.
func (r *run) faults(progress <-chan int) {
	waitFor := func(frac float64) bool {
		target := int(frac * float64(r.o.events))
		for i := range progress {
			if i >= target {
				return true
			}
		}
		r.rep.problem(fmt.Sprintf("the traffic ended before %.0f%% of the events: the remaining faults were not injected (send more events or at a lower rate)", frac*100))
		return false
	}
	if !waitFor(0.2) {
		return
	}
	r.setFault("worker-kill")
	t0 := time.Now()
	open := r.waitInFlight(r.o.killInFlight, time.Minute)
	kill := r.s.killWorker()
	r.window("kill", kill, kill)
	r.mark("worker SIGKILL", "the worker process was SIGKILLed with %d requests open at the receivers (waited %.1fs for at least %d)", open, kill.Sub(t0).Seconds(), r.o.killInFlight)
	if open < r.o.killInFlight {
		r.rep.finding(fmt.Sprintf("the worker was killed with %d requests open at the receivers, fewer than the %d asked for (none more within a minute)", open, r.o.killInFlight))
	}
	if err := r.s.startWorker(); err != nil {
		r.rep.problem("restarting the worker: " + err.Error())
	}
	r.mark("worker restarted", "a new worker process is ready %.1fs after the kill", time.Since(kill).Seconds())
	r.rep.Faults = append(r.rep.Faults, faultRecord{Name: fmt.Sprintf("worker SIGKILL with %d requests in flight + restart", open), Start: secs(kill.Sub(r.start)), Duration: secs(time.Since(kill))})
	r.setFault("")

	if !waitFor(0.4) {
		return
	}
	r.setFault("receivers-down")
	t0 = time.Now()
	half := r.o.receiverDown / 2
	if err := r.rc.setMode(modeRefused); err != nil {
		r.rep.problem(err.Error())
	}
	r.window("receivers", t0, time.Now())
	r.mark("receivers refused", "the receivers' listener is closed: connection refused for %s", half)
	time.Sleep(half)
	if err := r.rc.setMode(modeErr503); err != nil {
		r.rep.problem(err.Error())
	}
	r.mark("receivers 503", "the receivers answer 503 for %s", r.o.receiverDown-half)
	time.Sleep(r.o.receiverDown - half)
	if err := r.rc.setMode(modeUp); err != nil {
		r.rep.problem(err.Error())
	}
	r.mark("receivers up", "the receivers answer 200 again")
	r.rep.Faults = append(r.rep.Faults, faultRecord{Name: "receivers down (refused, then 503)", Start: secs(t0.Sub(r.start)), Duration: secs(time.Since(t0))})
	r.setFault("")

	if !waitFor(0.55) {
		return
	}
	r.setFault("dynamodb-hang")
	t0 = time.Now()
	r.s.proxy.Blackhole(true)
	r.mark("DynamoDB hung", "every DynamoDB call of the api and the worker is held unanswered (not refused) for %s", r.o.dynamoHang)
	time.Sleep(r.o.dynamoHang)
	r.s.proxy.Blackhole(false)
	held, swallowed := r.s.proxy.Held(), r.s.proxy.Swallowed()
	for t := time.Now(); r.s.proxy.Held() > 0 && time.Since(t) < time.Minute; {
		time.Sleep(50 * time.Millisecond)
	}
	r.window("hang", t0, time.Now())
	r.mark("DynamoDB released", "calls pass again; %d calls were held unanswered, %d of them still held at the release until their clients gave up (%.1fs after it)", swallowed, held, time.Since(t0.Add(r.o.dynamoHang)).Seconds())
	r.rep.Faults = append(r.rep.Faults, faultRecord{Name: fmt.Sprintf("DynamoDB hung: %d calls held unanswered", swallowed), Start: secs(t0.Sub(r.start)), Duration: secs(time.Since(t0))})
	r.setFault("")

	if !waitFor(0.7) {
		return
	}
	r.setFault("dynamodb-restart")
	t0 = time.Now()
	r.s.stopDynamoDB(false)
	r.mark("DynamoDB stopped", "DynamoDB Local stopped (SIGTERM) %.1fs", time.Since(t0).Seconds())
	if err := r.s.startDynamoDB(); err != nil {
		r.rep.problem("restarting DynamoDB Local: " + err.Error())
	}
	r.window("restart", t0, time.Now())
	r.mark("DynamoDB started", "DynamoDB Local answers again on the same port and -dbPath, %.1fs after the stop", time.Since(t0).Seconds())
	r.rep.Faults = append(r.rep.Faults, faultRecord{Name: "DynamoDB Local stop + start (same port, same -dbPath)", Start: secs(t0.Sub(r.start)), Duration: secs(time.Since(t0))})
	r.setFault("")
	for range progress {
	}
}

// waitInFlight waits, at most within, until at least n requests are open at the receivers, and
// returns how many are open.
func (r *run) waitInFlight(n int, within time.Duration) int {
	for t := time.Now(); time.Since(t) < within; {
		if open := int(r.rc.inFlight.Load()); open >= n {
			return open
		}
		time.Sleep(time.Millisecond)
	}
	return int(r.rc.inFlight.Load())
}

// delivered counts the accepted (event, endpoint) pairs the receivers answered 2xx.
func (r *run) delivered() (pairs, expected int) {
	_, ok := r.rc.snapshot()
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, seq := range r.accepted {
		paths := r.orgOf(seq).paths
		for _, p := range paths {
			if ok[p][id] > 0 {
				pairs++
			}
		}
		expected += len(paths)
	}
	return pairs, expected
}

func (r *run) waitDelivered() {
	t0 := time.Now()
	last := time.Now()
	for {
		got, want := r.delivered()
		if got >= want {
			r.rep.Durations["wait_for_deliveries"] = secs(time.Since(t0))
			r.mark("all delivered", "every one of the %d accepted (event, endpoint) pairs delivered, %.1fs after the last event", want, time.Since(t0).Seconds())
			break
		}
		if time.Since(t0) > r.o.wait {
			r.rep.Durations["wait_for_deliveries"] = secs(time.Since(t0))
			r.rep.problem(fmt.Sprintf("after waiting %s, %d of %d pairs delivered", r.o.wait, got, want))
			r.mark("gave up", "%d of %d pairs delivered after %s", got, want, r.o.wait)
			break
		}
		if time.Since(last) > 10*time.Second {
			r.logf("waiting: %d/%d pairs delivered", got, want)
			last = time.Now()
		}
		if ex := r.s.exited(); len(ex) > 0 {
			r.rep.problem("service process(es) exited: " + strings.Join(ex, ", "))
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Late duplicates have a moment to show up before the counts are taken.
	time.Sleep(5 * time.Second)
}

// waitWorkflowsClosed waits (bounded) until Temporal has no running workflow on the soak's task
// queue: every delivery has its final outcome and its record, so the status API's view is
// final rather than lagging.
func (r *run) waitWorkflowsClosed() {
	t0 := time.Now()
	c, err := client.Dial(client.Options{
		HostPort: r.s.vars["TEMPORAL_ADDRESS"], Namespace: r.s.vars["TEMPORAL_NAMESPACE"],
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		r.rep.problem("temporal client: " + err.Error())
		return
	}
	defer c.Close()
	query := fmt.Sprintf("TaskQueue = '%s' AND ExecutionStatus = 'Running'", r.s.vars["TEMPORAL_TASK_QUEUE"])
	running := -1
	for time.Since(t0) < 3*time.Minute {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: r.s.vars["TEMPORAL_NAMESPACE"], Query: query, PageSize: 100})
		cancel()
		if err == nil {
			running = len(resp.GetExecutions())
			if running == 0 {
				break
			}
		}
		time.Sleep(time.Second)
	}
	r.rep.Durations["wait_for_workflows_closed"] = secs(time.Since(t0))
	r.rep.StatusAPI.RunningWorkflowsAtCheck = running
	if running != 0 {
		r.rep.finding(fmt.Sprintf("%d workflow(s) still running 3 minutes after every delivery arrived", running))
		return
	}
	r.mark("workflows closed", "no workflow of the soak still running, %.1fs after the last delivery arrived", time.Since(t0).Seconds())
}

// checkStatusAPI reads every accepted event's status and compares it with what the receivers
// saw.
func (r *run) checkStatusAPI() {
	r.mu.Lock()
	ids := make([]string, 0, len(r.accepted))
	orgOf := map[string]*org{}
	expected := 0
	for id, seq := range r.accepted {
		ids = append(ids, id)
		orgOf[id] = r.orgOf(seq)
		expected += len(orgOf[id].paths)
	}
	r.mu.Unlock()
	sort.Strings(ids)
	seen, ok := r.rc.snapshot()
	urlPath := map[string]string{}
	for p := range r.hooks {
		urlPath[r.rc.url(p)] = p
	}
	st := &r.rep.StatusAPI
	st.ByStatus = map[string]int{}
	var mu sync.Mutex
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			o := orgOf[id]
			ev, err := r.eventStatus(o.key, id)
			mu.Lock()
			defer mu.Unlock()
			st.EventsChecked++
			if err != nil {
				st.Errors++
				if st.Errors <= 5 {
					r.rep.problem(fmt.Sprintf("event status %s: %v", id, err))
				}
				return
			}
			if len(ev.Deliveries) != len(o.paths) {
				st.WrongDeliveryCount++
				if len(st.Examples) < 12 {
					st.Examples = append(st.Examples, fmt.Sprintf("%s lists %d deliveries, not %d", id, len(ev.Deliveries), len(o.paths)))
				}
			}
			for _, d := range ev.Deliveries {
				st.ByStatus[d.Status]++
				st.AttemptsTotal += d.Attempts
				p := urlPath[d.EndpointURL]
				n := seen[p][id]
				switch {
				case d.Attempts < n && n-d.Attempts <= r.unrecorded[id+"|"+p]:
					st.PairsAttemptsBelowExplained++
				case d.Attempts < n:
					st.PairsAttemptsBelowRequests++
					if len(st.Examples) < 10 {
						st.Examples = append(st.Examples, fmt.Sprintf("%s on %s: %s, %d attempt(s) recorded, %d request(s) seen, %d answered 2xx", id, p, d.Status, d.Attempts, n, ok[p][id]))
					}
				case d.Attempts > n:
					st.PairsAttemptsAboveRequests++
				}
				if d.Status == "delivered" && ok[p][id] == 0 {
					st.DeliveredButNotReceived++
				}
				if d.Status != "delivered" && ok[p][id] > 0 && len(st.Examples) < 10 {
					st.Examples = append(st.Examples, fmt.Sprintf("%s on %s: status %s (attempts %d, last code %d) but the receiver answered 2xx %d time(s)", id, p, d.Status, d.Attempts, d.LastStatusCode, ok[p][id]))
				}
			}
		})
	}
	wg.Wait()
	for _, m := range seen {
		for _, n := range m {
			st.ReceiverRequestsTotal += n
		}
	}
	st.AllDelivered = st.Errors == 0 && st.WrongDeliveryCount == 0 && st.ByStatus["delivered"] == expected
	if !st.AllDelivered {
		r.rep.finding(fmt.Sprintf("the event status API does not show every delivery delivered although the receivers answered 2xx to all of them: %s (%d errors, %d events with a wrong number of deliveries)", fmtMap(st.ByStatus), st.Errors, st.WrongDeliveryCount))
	}
	if st.PairsAttemptsBelowRequests > 0 {
		r.rep.finding(fmt.Sprintf("%d deliveries record fewer attempts than the requests their receiver saw, beyond the attempts that died unrecorded with a fault (%d deliveries)", st.PairsAttemptsBelowRequests, st.PairsAttemptsBelowExplained))
	}
	r.logf("status API: %v; %d attempts recorded, %d requests seen by the receivers", st.ByStatus, st.AttemptsTotal, st.ReceiverRequestsTotal)
}

type statusDelivery struct {
	WebhookID      string `json:"webhook_id"`
	EndpointURL    string `json:"endpoint_url"`
	Status         string `json:"status"`
	Attempts       int    `json:"attempts"`
	LastStatusCode int    `json:"last_status_code"`
}

// eventStatus reads an event's status with its organisation's key, every page of its
// deliveries.
func (r *run) eventStatus(key, id string) (struct{ Deliveries []statusDelivery }, error) {
	var out struct{ Deliveries []statusDelivery }
	after := ""
	for try := 0; ; {
		u := r.s.apiBase + "/public/webhooks/events/" + id + "?limit=100"
		if after != "" {
			u += "&last_evaluated_key=" + url.QueryEscape(after)
		}
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("X-API-Key", key)
		resp, err := httpClient.Do(req)
		if err != nil {
			return out, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && try < 5 {
			try++
			time.Sleep(time.Second)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return out, fmt.Errorf("%d %s", resp.StatusCode, b)
		}
		var env struct {
			Data struct {
				Deliveries []statusDelivery `json:"deliveries"`
			} `json:"data"`
			Meta struct {
				Next *string `json:"last_evaluated_key"`
			} `json:"meta"`
		}
		if err := json.Unmarshal(b, &env); err != nil {
			return out, err
		}
		out.Deliveries = append(out.Deliveries, env.Data.Deliveries...)
		if env.Meta.Next == nil || *env.Meta.Next == "" {
			return out, nil
		}
		after = *env.Meta.Next
	}
}

// tally fills the report's notify and delivery figures.
func (r *run) tally() {
	seen, ok := r.rc.snapshot()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := &r.rep.Notify
	n.Events = len(r.events)
	n.ByStatus = map[string]int{}
	n.FinalByStatus = map[string]int{}
	var all []time.Duration
	n.LatencyByFault = map[string]latency{}
	byFault := map[string][]time.Duration{}
	for _, q := range r.requests {
		n.Requests++
		n.ByStatus[statusName(q.status)]++
		all = append(all, q.dur)
		f := q.fault
		if f == "" {
			f = "none"
		}
		byFault[f] = append(byFault[f], q.dur)
	}
	n.Latency = latencyOf(all)
	for f, ds := range byFault {
		n.LatencyByFault[f] = latencyOf(ds)
	}
	for _, e := range r.events {
		if e.Accepted {
			n.Accepted++
			if e.Tries > 1 {
				n.AcceptedAfterRetry++
			}
		} else {
			n.Rejected++
			n.FinalByStatus[statusName(e.Final)]++
		}
	}
	for i := range r.rep.Faults {
		f := &r.rep.Faults[i]
		begin := r.start.Add(time.Duration(f.Start * float64(time.Second)))
		end := r.start.Add(time.Duration((f.Start + f.Duration) * float64(time.Second)))
		f.NotifyRecovered = -1
		var first time.Time
		for _, q := range r.requests {
			done := q.at.Add(q.dur)
			if q.status == http.StatusAccepted && !q.at.Before(end) && (first.IsZero() || done.Before(first)) {
				first = done
			}
		}
		if !first.IsZero() {
			f.NotifyRecovered = secs(first.Sub(end))
		}
		for _, q := range r.requests {
			if q.status == http.StatusServiceUnavailable && !q.at.Before(begin) && (first.IsZero() || q.at.Before(first)) {
				f.Rejected503++
			}
		}
	}
	// Notify traffic per 10 s.
	byWindow := map[int][]notifyResult{}
	last := 0
	for _, q := range r.requests {
		k := int(q.at.Sub(r.start) / (10 * time.Second))
		byWindow[k] = append(byWindow[k], q)
		last = max(last, k)
	}
	for k := 0; k <= last; k++ {
		qs := byWindow[k]
		if len(qs) == 0 {
			continue
		}
		x := window{From: float64(k * 10)}
		var ds []time.Duration
		faults := map[string]bool{}
		for _, q := range qs {
			x.Requests++
			switch q.status {
			case http.StatusAccepted:
				x.Accepted++
			case http.StatusServiceUnavailable:
				x.Got503++
			}
			ds = append(ds, q.dur)
			if q.fault != "" {
				faults[q.fault] = true
			}
		}
		l := latencyOf(ds)
		x.P50, x.Max = l.P50, l.Max
		for f := range faults {
			x.Fault = strings.TrimPrefix(x.Fault+" "+f, " ")
		}
		n.Windows = append(n.Windows, x)
	}
	d := &r.rep.Delivery
	d.Endpoints = len(r.orgs[0].paths)
	d.EventsByOrg, d.EndpointsByOrg = map[string]int{}, map[string]int{}
	for _, o := range r.orgs {
		d.EndpointsByOrg[o.name] = len(o.paths)
	}
	for _, seq := range r.accepted {
		o := r.orgOf(seq)
		d.EventsByOrg[o.name]++
		d.Expected += len(o.paths)
	}
	for _, o := range r.orgs {
		for _, p := range o.paths {
			for id := range ok[p] {
				if _, acc := r.accepted[id]; acc {
					d.Delivered++
				} else {
					d.UnknownEvents++
				}
			}
			for _, k := range seen[p] {
				d.RequestsSeen += k
				if k > 1 {
					d.PairsSeenMoreThanOnce++
				}
			}
		}
	}
	d.Lost = d.Expected - d.Delivered
	d.CanaryRequests = 0
	for _, k := range seen["/soak/canary"] {
		d.CanaryRequests += k
	}
	r.rc.mu.Lock()
	d.BadSignatures = r.rc.badSig
	d.UnknownPaths = r.rc.unknown
	d.ReceiverAnswers = map[string]int{}
	for k, v := range r.rc.answered {
		d.ReceiverAnswers[k] = v
	}
	r.rc.mu.Unlock()
	d.WrongEndpoint = d.CanaryRequests + d.BadSignatures + d.UnknownPaths
	if d.UnknownEvents > 0 {
		r.rep.finding(fmt.Sprintf("%d deliveries of events whose notify never got a 202 (a 503 after the workflow had started; a client retrying with its Idempotency-Key would have been told it was accepted)", d.UnknownEvents))
	}
	if d.Lost > 0 {
		r.rep.problem(fmt.Sprintf("%d accepted (event, endpoint) pairs were never delivered", d.Lost))
	}
	if d.WrongEndpoint > 0 {
		r.rep.problem(fmt.Sprintf("%d deliveries to the wrong endpoint (canary %d, bad signature %d, unknown path %d)", d.WrongEndpoint, d.CanaryRequests, d.BadSignatures, d.UnknownPaths))
	}
}

func statusName(s int) string {
	if s == 0 {
		return "no answer"
	}
	return strconv.Itoa(s)
}
