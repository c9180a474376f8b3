package harness

import (
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DynamoProxy forwards DynamoDB requests to a real endpoint from a loopback listener, except when
// told otherwise: the operations it blocks get DynamoDB's own 500 InternalServerError (retried by
// the SDK, then a failure), the next call of an operation can be delayed, and while it is
// blackholed every call is held unanswered — read, then nothing: not refused, not failed — until
// its client gives up or the proxy is closed, even after the blackhole ends. The end-to-end tests
// time partial outages with it; the soak hangs DynamoDB with it.
type DynamoProxy struct {
	srv *http.Server
	url string

	mu      sync.Mutex
	blocked map[string]bool
	refused map[string]int           // blocked calls per operation
	delays  map[string]time.Duration // the next call of an operation waits this long first
	delayed map[string]int           // delayed calls per operation
	// blackholed: every call is held unanswered; swallowed counts them, held those still held.
	blackholed bool
	swallowed  int
	held       int
	observe    func(DynamoCall)
	ended      chan struct{}
	closeOnce  sync.Once
}

// DynamoCall is one call the proxy forwarded and DynamoDB answered (see DynamoProxy.Observe).
type DynamoCall struct {
	Op     string // "PutItem", "UpdateItem", … (X-Amz-Target without its prefix)
	Body   []byte // the request as the client sent it
	Status int    // DynamoDB's answer; 502 when it could not be reached or the client gave up first (the client's connection is then dropped)
	Start  time.Time
	End    time.Time // when DynamoDB's answer arrived (the call had been done by then)
}

// NewDynamoProxy starts a proxy on a free loopback port in front of target, DynamoDB's endpoint
// URL. Close it when done.
func NewDynamoProxy(target string) (*DynamoProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = discardLog
	// DynamoDB unreachable (stopped, restarting) or the client gone: the connection is dropped
	// unanswered, as without the proxy, rather than answered 502, which the SDK reads as an
	// unknown error of DynamoDB's.
	rp.ErrorHandler = func(http.ResponseWriter, *http.Request, error) { panic(http.ErrAbortHandler) }
	px := &DynamoProxy{
		url:     "http://" + ln.Addr().String(),
		blocked: map[string]bool{}, refused: map[string]int{}, delays: map[string]time.Duration{}, delayed: map[string]int{},
		ended: make(chan struct{}),
	}
	px.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { px.serve(rp, w, r) }), ErrorLog: discardLog}
	go func() { _ = px.srv.Serve(ln) }()
	return px, nil
}

func (px *DynamoProxy) serve(rp *httputil.ReverseProxy, w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
	px.mu.Lock()
	if px.blackholed {
		px.swallowed++
		px.held++
		px.mu.Unlock()
		_, _ = io.Copy(io.Discard, r.Body)
		select { // no answer, ever: the request is read, then nothing
		case <-r.Context().Done():
		case <-px.ended:
		}
		px.mu.Lock()
		px.held--
		px.mu.Unlock()
		return
	}
	block := px.blocked[op]
	if block {
		px.refused[op]++
	}
	delay := px.delays[op]
	if delay > 0 {
		delete(px.delays, op)
		px.delayed[op]++
	}
	observe := px.observe
	px.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay) // a slow answer, not a failed one
	}
	if block {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected fault"}`)
		return
	}
	if observe == nil {
		rp.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sw := &statusWriter{ResponseWriter: w}
	// Deferred: the reverse proxy panics (http.ErrAbortHandler) when the client has gone by the
	// time the answer is passed on; DynamoDB did the call all the same.
	defer func() {
		if sw.status == 0 {
			sw.status, sw.at = http.StatusBadGateway, time.Now()
		}
		observe(DynamoCall{Op: op, Body: body, Status: sw.status, Start: start, End: sw.at})
	}()
	rp.ServeHTTP(sw, r)
}

var discardLog = log.New(io.Discard, "", 0)

// statusWriter notes the first status written and when.
type statusWriter struct {
	http.ResponseWriter
	status int
	at     time.Time
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status, w.at = code, time.Now()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status, w.at = http.StatusOK, time.Now()
	}
	return w.ResponseWriter.Write(b)
}

// URL is the proxy's endpoint URL, for DYNAMODB_ENDPOINT.
func (px *DynamoProxy) URL() string { return px.url }

// Observe has f called with every call forwarded from now on, once its answer has been passed
// on or its client has gone (f runs on the call's goroutine: keep it short). Blocked and
// blackholed calls are not observed.
func (px *DynamoProxy) Observe(f func(DynamoCall)) {
	px.mu.Lock()
	defer px.mu.Unlock()
	px.observe = f
}

// Blackhole makes every call from now on go unanswered (true), or calls pass again (false);
// calls held while it was on stay unanswered until their clients give up.
func (px *DynamoProxy) Blackhole(on bool) {
	px.mu.Lock()
	defer px.mu.Unlock()
	px.blackholed = on
}

// Swallowed is how many calls were held unanswered so far.
func (px *DynamoProxy) Swallowed() int {
	px.mu.Lock()
	defer px.mu.Unlock()
	return px.swallowed
}

// Held is how many calls are held unanswered now.
func (px *DynamoProxy) Held() int {
	px.mu.Lock()
	defer px.mu.Unlock()
	return px.held
}

// Block makes the operations fail (true) or pass again (false).
func (px *DynamoProxy) Block(on bool, ops ...string) {
	px.mu.Lock()
	defer px.mu.Unlock()
	for _, op := range ops {
		px.blocked[op] = on
	}
}

// DelayNext makes the next call of op wait d before it is forwarded.
func (px *DynamoProxy) DelayNext(op string, d time.Duration) {
	px.mu.Lock()
	defer px.mu.Unlock()
	px.delays[op] = d
}

// Delayed is how many calls of op were delayed.
func (px *DynamoProxy) Delayed(op string) int {
	px.mu.Lock()
	defer px.mu.Unlock()
	return px.delayed[op]
}

// Refused is how many calls of op were blocked.
func (px *DynamoProxy) Refused(op string) int {
	px.mu.Lock()
	defer px.mu.Unlock()
	return px.refused[op]
}

// Close ends the held calls (their connections closed unanswered) and the proxy.
func (px *DynamoProxy) Close() {
	px.closeOnce.Do(func() {
		close(px.ended)
		_ = px.srv.Close()
	})
}
