// Command soak runs the whole service — DynamoDB Local, the Temporal dev server, the api and the
// worker as processes, HTTPS receivers in this process — sends events at a steady rate through
// faults (the worker SIGKILLed and restarted, the receivers down for a while, DynamoDB restarted)
// and checks the promise: no accepted event lost, none delivered to the wrong endpoint.
//
//	make soak                          # 1,000 events at 10/s to 10 endpoints
//	make soak SOAK_FLAGS=-quick        # a short version
//	go run ./soak -events 300 -rate 20 -endpoints 5
//
// The report goes to soak/results/latest.md and latest.json, plus a timestamped copy. The exit
// status is 1 when an accepted event was lost (or the run could not complete), 0 otherwise.
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
}

func parseFlags() options {
	var o options
	flag.IntVar(&o.events, "events", 1000, "events to send")
	flag.Float64Var(&o.rate, "rate", 10, "events per second")
	flag.IntVar(&o.endpoints, "endpoints", 10, "endpoints registered (every event goes to each)")
	flag.BoolVar(&o.quick, "quick", false, "a short run: 200 events, receivers down 6s, wait at most 5m (flags set explicitly still win)")
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
		if !set["wait"] {
			o.wait = 5 * time.Minute
		}
	}
	if o.events < 10 || o.rate <= 0 || o.endpoints < 1 {
		fmt.Fprintln(os.Stderr, "soak: -events must be at least 10, -rate positive, -endpoints at least 1")
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
	key   string
	org   string
	paths []string

	mu       sync.Mutex
	accepted map[string]int // event_id -> sequence number
	events   []eventResult  // by sequence number
	requests []notifyResult
	faultNow string // the fault in progress, for the latency breakdown
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
	r.org = "soak-org"
	r.accepted = map[string]int{}
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
	if err := s.startAPI(); err != nil {
		return fmt.Errorf("api: %w", err)
	}
	if err := s.startWorker(); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	r.rep.Durations["stack_start"] = secs(time.Since(t0))
	r.logf("stack up: DynamoDB Local :%d (-dbPath), Temporal :%d (--db-filename), api %s, worker %s, receivers %s",
		s.ddb.Port(), s.tmp.Port(), s.apiBase, s.workerAddr, r.rc.addr)

	if r.key, err = s.bootstrapKey(r.org); err != nil {
		return fmt.Errorf("bootstrap key: %w", err)
	}
	for i := range r.o.endpoints {
		path := fmt.Sprintf("/soak/ep-%02d", i)
		secret, err := r.register(r.key, r.rc.url(path))
		if err != nil {
			return err
		}
		if err := r.rc.endpoint(path, secret); err != nil {
			return err
		}
		r.paths = append(r.paths, path)
	}
	// A canary: an endpoint of another organisation, which no event is sent to. Anything it
	// receives went to the wrong endpoint.
	canaryKey, err := s.bootstrapKey("soak-canary-org")
	if err != nil {
		return err
	}
	secret, err := r.register(canaryKey, r.rc.url("/soak/canary"))
	if err != nil {
		return err
	}
	if err := r.rc.endpoint("/soak/canary", secret); err != nil {
		return err
	}
	r.logf("registered %d endpoints (and a canary endpoint of another organisation)", r.o.endpoints)
	return nil
}

var httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func (r *run) register(key, url string) (string, error) {
	body, _ := json.Marshal(map[string]string{"endpoint_url": url, "description": "soak receiver"})
	status, b, _, err := r.post("/public/webhooks", key, body, nil)
	if err != nil || status != http.StatusCreated {
		return "", fmt.Errorf("register %s: %d %s %v", url, status, b, err)
	}
	var env struct {
		Data struct {
			Secret string `json:"secret"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return "", err
	}
	return env.Data.Secret, nil
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
	body := fmt.Appendf(nil, `{"org_id":%q,"transaction_data":{"soak":%q,"seq":%d,"amount":%d,"note":"caf\u00e9"}}`, r.org, runID, seq, 100+seq)
	idem := fmt.Sprintf("soak-%s-%d", runID, seq)
	res := eventResult{Seq: seq}
	for try := 0; try <= r.o.retries; try++ {
		res.Tries++
		t0 := time.Now()
		status, b, h, err := r.post("/public/webhooks/notify", r.key, body, map[string]string{"Idempotency-Key": idem})
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

// faults injects the faults when the traffic reaches 20%, 40% and 70% of the events.
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
	r.s.killWorker()
	r.mark("worker SIGKILL", "the worker process was SIGKILLed mid-traffic")
	if err := r.s.startWorker(); err != nil {
		r.rep.problem("restarting the worker: " + err.Error())
	}
	r.mark("worker restarted", "a new worker process is ready %.1fs after the kill", time.Since(t0).Seconds())
	r.rep.Faults = append(r.rep.Faults, faultRecord{Name: "worker SIGKILL + restart", Start: secs(t0.Sub(r.start)), Duration: secs(time.Since(t0))})
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
	r.mark("DynamoDB started", "DynamoDB Local answers again on the same port and -dbPath, %.1fs after the stop", time.Since(t0).Seconds())
	r.rep.Faults = append(r.rep.Faults, faultRecord{Name: "DynamoDB Local stop + start (same port, same -dbPath)", Start: secs(t0.Sub(r.start)), Duration: secs(time.Since(t0))})
	r.setFault("")
	for range progress {
	}
}

// delivered counts the accepted (event, endpoint) pairs the receivers answered 2xx.
func (r *run) delivered() (pairs, expected int) {
	_, ok := r.rc.snapshot()
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.accepted {
		for _, p := range r.paths {
			if ok[p][id] > 0 {
				pairs++
			}
		}
	}
	return pairs, len(r.accepted) * len(r.paths)
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
	for id := range r.accepted {
		ids = append(ids, id)
	}
	r.mu.Unlock()
	sort.Strings(ids)
	seen, ok := r.rc.snapshot()
	urlPath := map[string]string{}
	for _, p := range r.paths {
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
			ev, err := r.eventStatus(id)
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
			if len(ev.Deliveries) != len(r.paths) {
				st.WrongDeliveryCount++
				if len(st.Examples) < 12 {
					st.Examples = append(st.Examples, fmt.Sprintf("%s lists %d deliveries, not %d", id, len(ev.Deliveries), len(r.paths)))
				}
			}
			for _, d := range ev.Deliveries {
				st.ByStatus[d.Status]++
				st.AttemptsTotal += d.Attempts
				p := urlPath[d.EndpointURL]
				n := seen[p][id]
				switch {
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
	st.AllDelivered = st.Errors == 0 && st.WrongDeliveryCount == 0 && st.ByStatus["delivered"] == len(ids)*len(r.paths)
	if !st.AllDelivered {
		r.rep.finding(fmt.Sprintf("the event status API does not show every delivery delivered although the receivers answered 2xx to all of them: %s (%d errors, %d events with a wrong number of deliveries)", fmtMap(st.ByStatus), st.Errors, st.WrongDeliveryCount))
	}
	if st.PairsAttemptsBelowRequests > 0 {
		r.rep.finding(fmt.Sprintf("%d deliveries record fewer attempts than the requests their receiver saw", st.PairsAttemptsBelowRequests))
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

func (r *run) eventStatus(id string) (struct{ Deliveries []statusDelivery }, error) {
	var out struct{ Deliveries []statusDelivery }
	req, _ := http.NewRequest("GET", r.s.apiBase+"/public/webhooks/events/"+id+"?limit=100", nil)
	req.Header.Set("X-API-Key", r.key)
	for try := 0; ; try++ {
		resp, err := httpClient.Do(req)
		if err != nil {
			return out, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && try < 5 {
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
		}
		if err := json.Unmarshal(b, &env); err != nil {
			return out, err
		}
		out.Deliveries = env.Data.Deliveries
		return out, nil
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
	d.Endpoints = len(r.paths)
	d.DuplicatesAfter = map[string]int{}
	r.rc.mu.Lock()
	dups := append([]time.Time(nil), r.rc.dupAt...)
	r.rc.mu.Unlock()
	for _, t := range dups {
		after := "no fault yet"
		for _, f := range r.rep.Faults {
			if r.start.Add(time.Duration(f.Start * float64(time.Second))).Before(t) {
				after = f.Name
			}
		}
		d.DuplicatesAfter[after]++
	}
	d.Expected = len(r.accepted) * len(r.paths)
	for _, p := range r.paths {
		for id, k := range ok[p] {
			if _, acc := r.accepted[id]; acc {
				d.Delivered++
				if k > 1 {
					d.Duplicated += k - 1
					d.DuplicatedPairs++
				}
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
