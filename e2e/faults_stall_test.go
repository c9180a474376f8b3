package e2e

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pcx/publicservice/harness"
	"github.com/pcx/publicservice/internal/testenv"
)

// Promise: a stall of Temporal does not make a live attempt look dead. With 3s added to every
// reply from Temporal's frontend to the worker (poll replies, heartbeat replies, the replies to
// a workflow task's heartbeat) while receivers take 9–15s to answer, no delivery has two requests at its
// receiver at once, and the receiver sees exactly the attempts the store recorded.
//
// First attempts run as one DeliverBatch local activity, whose workflow task the SDK heartbeats
// at 80% of its timeout; the retries (every endpoint answers its first request 503) run as
// Deliver activities that heartbeat every 3s. At the old margins (Temporal's 10s workflow task
// timeout; heartbeats throttled to 8s of a 10s HeartbeatTimeout) the 3s stall timed both out and
// Temporal started the same sends again beside the first.
func TestFaultTemporalStallKeepsAttemptsApart(t *testing.T) {
	if testing.Short() {
		t.Skip("receivers take 9–15s per request and Temporal answers 3s late (~1 min)")
	}
	t.Parallel()
	apiBin, workerBin, dir, px, e := proxiedStack(t)
	rc := newSpanReceiver(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("requests at the receivers:%s", rc.report())
		}
	})

	// Only the worker talks to Temporal through the proxy: the stall is the worker's.
	e.h.AllowReceivers(rc.caFile)
	e.vars["WEBHOOK_TIMEOUT"] = "20s" // above the slowest receiver: every request is answered
	api := e.startAPIProcess(apiBin, dir)
	// The stall starts once the worker polls: with every reply 3s late from its first call, the
	// worker's 3s connection check never succeeds and the test would measure nothing.
	worker := e.startProcess(harness.Worker, "worker", workerBin, dir, []string{"TEMPORAL_ADDRESS=" + px.addr(), "LOG_LEVEL=info"})
	eventually(t, time.Minute, "the worker polling", func() bool {
		out, _ := os.ReadFile(worker.LogPath())
		return bytes.Contains(out, []byte(`"worker polling"`))
	})
	px.setDelay(3 * time.Second)
	org := "org-stall"
	key := e.bootstrapKey(org, "u")
	const endpoints, events = 4, 2
	for i := range endpoints {
		register(t, api.base, key, rc.url(fmt.Sprintf("/s/%d", i)))
	}
	var accepted []string
	for i := range events {
		accepted = append(accepted, notify(t, api.base, key, org, fmt.Sprintf(`{"i":%d}`, i)).EventID)
	}

	// Every delivery takes a first attempt and a retry of 9–15s each. Once all are delivered,
	// the receivers must stay quiet past the longest request (an attempt Temporal wrongly
	// started again shows up then), the stall still on.
	for _, id := range accepted {
		waitDeliveries(t, api.base, key, id, endpoints, "delivered", 3*time.Minute)
	}
	quiet := eventually(t, time.Minute, "the receivers quiet for 20s", func() bool {
		return rc.idleFor() >= 20*time.Second
	})
	px.setDelay(0)
	t.Logf("%d chunks from Temporal to the worker delayed 3s; receivers quiet after %s more",
		px.delayedChunks(), quiet.Round(time.Second))

	// Requests seen at the receiver against attempts recorded, per delivery; and no two requests
	// of one delivery at once.
	requests := 0
	for _, id := range accepted {
		ev := eventStatus(t, api.base, key, id)
		for _, d := range ev.Deliveries {
			u, err := url.Parse(d.EndpointURL)
			if err != nil {
				t.Fatal(err)
			}
			spans := rc.spansOf(u.Path, id)
			requests += len(spans)
			if len(spans) != d.Attempts || len(d.AttemptLog) != d.Attempts {
				t.Errorf("event %s at %s: %d requests at the receiver, %d attempts recorded (%d in the log)",
					id, u.Path, len(spans), d.Attempts, len(d.AttemptLog))
			}
			for i := 1; i < len(spans); i++ {
				if prev := spans[i-1]; spans[i].start.Before(prev.end) {
					t.Errorf("event %s at %s: request %d began at %s, before request %d ended at %s (it began at %s): two attempts at once",
						id, u.Path, i+1, spans[i].start.Format("15:04:05.000"), i, prev.end.Format("15:04:05.000"), prev.start.Format("15:04:05.000"))
				}
			}
		}
	}
	if want := 2 * endpoints * events; requests != want {
		t.Errorf("%d requests at the receivers, want %d (a 503 and a 200 per delivery)", requests, want)
	}
}

// ---- a receiver that records when each request began and ended ---------------------------------

// span is one request at a spanReceiver: when its handler began and when it answered.
type span struct{ start, end time.Time }

// spanReceiver answers every request after 9–15s (a fixed pseudo-random figure per request):
// 503 to the first request of each event at a path, 200 after. It records each request's span
// per path and webhook-id.
type spanReceiver struct {
	caFile string
	base   string
	mu     sync.Mutex
	spans  map[string][]span // path + " " + webhook-id -> spans, in order of their start
	// inflight counts requests not yet answered; last is when one last began or ended.
	inflight int
	last     time.Time
}

func newSpanReceiver(t *testing.T) *spanReceiver {
	t.Helper()
	rc := &spanReceiver{spans: map[string][]span{}, last: time.Now()}
	srv, caFile := startTLSServer(t, http.HandlerFunc(rc.serve))
	rc.caFile, rc.base = caFile, srv.URL
	return rc
}

func (rc *spanReceiver) serve(w http.ResponseWriter, r *http.Request) {
	k := r.URL.Path + " " + r.Header.Get("webhook-id")
	start := time.Now()
	rc.mu.Lock()
	n := len(rc.spans[k])
	rc.spans[k] = append(rc.spans[k], span{start: start})
	rc.inflight++
	rc.last = start
	rc.mu.Unlock()
	h := fnv.New32a()
	fmt.Fprintf(h, "%s|%d", k, n)
	sleepCtx(r.Context(), 9*time.Second+time.Duration(h.Sum32()%6000)*time.Millisecond)
	rc.mu.Lock()
	rc.spans[k][n].end = time.Now()
	rc.inflight--
	rc.last = rc.spans[k][n].end
	rc.mu.Unlock()
	if n == 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (rc *spanReceiver) url(path string) string { return rc.base + path }

// spansOf returns the requests of event id at path, in order of their start.
func (rc *spanReceiver) spansOf(path, id string) []span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := append([]span(nil), rc.spans[path+" "+id]...)
	sort.Slice(out, func(i, j int) bool { return out[i].start.Before(out[j].start) })
	return out
}

// report lists each delivery's requests with their spans, for a failed test's log.
func (rc *spanReceiver) report() string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(rc.spans)) {
		fmt.Fprintf(&b, "\n  %s:", k)
		for _, sp := range rc.spans[k] {
			end := "(no answer)"
			if !sp.end.IsZero() {
				end = sp.end.Format("15:04:05.000")
			}
			fmt.Fprintf(&b, " [%s–%s]", sp.start.Format("15:04:05.000"), end)
		}
	}
	return b.String()
}

// idleFor is how long no request has been in flight (0 while one is).
func (rc *spanReceiver) idleFor() time.Duration {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.inflight > 0 {
		return 0
	}
	return time.Since(rc.last)
}

// ---- a TCP proxy that makes Temporal's replies late --------------------------------------------

// proxiedStack is the binaries, a data directory and an env on the package's DynamoDB and
// Temporal with fast retries, and a latencyProxy to that Temporal for a worker to reach it by
// (TEMPORAL_ADDRESS=px.addr()).
func proxiedStack(t *testing.T) (apiBin, workerBin, dir string, px *latencyProxy, e *env) {
	t.Helper()
	apiBin, workerBin = binaries(t)
	tmp := testenv.Temporal(t)
	e = newEnvOn(t, testenv.DynamoDB(t).Endpoint, tmp.Address)
	e.fastRetries("1s,1s,1s")
	return apiBin, workerBin, t.TempDir(), newLatencyProxy(t, tmp.Address), e
}

// latencyProxy forwards TCP connections on loopback to target. While its delay is set, every
// chunk from the server reaches the client that much after it was read: each reply of Temporal
// is late by the delay, and so is everything after it on the connection. What the client sends
// passes at once. While it is cut, every chunk either way is dropped: the connections stay open,
// and nothing the client sends reaches the server.
type latencyProxy struct {
	ln      net.Listener
	target  string
	delay   atomic.Int64 // nanoseconds
	delayed atomic.Int64
	cut     atomic.Bool
}

func newLatencyProxy(t *testing.T, target string) *latencyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	px := &latencyProxy{ln: ln, target: target}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, s)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); px.pipe(c, s, false) }()
			go func() { defer wg.Done(); px.pipe(s, c, true) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return px
}

func (px *latencyProxy) addr() string { return px.ln.Addr().String() }

func (px *latencyProxy) setDelay(d time.Duration) { px.delay.Store(int64(d)) }

func (px *latencyProxy) setCut(on bool) { px.cut.Store(on) }

func (px *latencyProxy) delayedChunks() int64 { return px.delayed.Load() }

// pipe copies from src to dst until either fails; late delays each chunk by the delay in force
// when it was read, keeping the order.
func (px *latencyProxy) pipe(src, dst net.Conn, late bool) {
	defer dst.Close()
	defer src.Close()
	type chunk struct {
		b   []byte
		due time.Time
	}
	q := make(chan chunk, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range q {
			if wait := time.Until(c.due); wait > 0 {
				time.Sleep(wait)
			}
			if _, err := dst.Write(c.b); err != nil {
				src.Close()
				for range q { // drain: the reader ends on its own now
				}
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !px.cut.Load() {
			c := chunk{b: append([]byte(nil), buf[:n]...), due: time.Now()}
			if d := time.Duration(px.delay.Load()); late && d > 0 {
				c.due = c.due.Add(d)
				px.delayed.Add(1)
			}
			q <- c
		}
		if err != nil {
			break
		}
	}
	close(q)
	<-done
}
