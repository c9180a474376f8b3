package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/pcx/publicservice/harness"
)

// Receiver modes.
const (
	modeUp      = "up"      // 200 at once
	modeRefused = "refused" // no listener: connection refused
	modeErr503  = "503"     // 503 at once
)

// receivers is one HTTPS server on a fixed loopback port whose paths are the endpoints. It can
// be taken down (listener closed: connection refused) and brought back, or made to answer 503.
// Every request is verified with the endpoint's secret, counted per endpoint and webhook-id, and
// logged with when it began and was answered (or cut), for the duplicates' causes. An endpoint
// may take a while to answer, so that its requests are in flight when the worker is killed.
type receivers struct {
	addr   string
	caFile string
	cert   *harness.ReceiverCert

	mu       sync.Mutex
	srv      *http.Server
	mode     string
	secrets  map[string]*standardwebhooks.Webhook // path -> verifier
	seen     map[string]map[string]int            // path -> webhook-id -> requests
	ok       map[string]map[string]int            // path -> webhook-id -> 2xx answers
	badSig   int
	unknown  int // requests on paths that are no endpoint
	answered map[string]int
	latency  map[string]time.Duration // path -> how long it takes to answer
	log      []request                // every request on an endpoint, in the order they ended
	inFlight atomic.Int64             // requests begun and not yet answered (or cut)
}

// request is one request a receiver saw, for the duplicates' causes.
type request struct {
	Path   string
	ID     string // webhook-id
	Start  time.Time
	End    time.Time // answered, or seen cut
	Status int       // the answer given (or that was to be given, when Cut)
	// Cut: the connection closed while the answer was being prepared (the worker killed, the
	// receivers closed): a 2xx that never reached the worker. The receiver had the whole,
	// verified request all the same, so a later request of the pair is a duplicate to it.
	Cut bool
}

// accepted: the receiver had the whole verified request and meant to answer 2xx.
func (q request) accepted() bool { return q.Status/100 == 2 }

func startReceivers(dir string) (*receivers, error) {
	cert, err := harness.NewReceiverCert(dir, "pcx soak receiver")
	if err != nil {
		return nil, err
	}
	rc := &receivers{
		cert: cert, caFile: cert.CAFile, mode: modeUp,
		secrets: map[string]*standardwebhooks.Webhook{}, seen: map[string]map[string]int{}, ok: map[string]map[string]int{},
		answered: map[string]int{}, latency: map[string]time.Duration{},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rc.addr = ln.Addr().String()
	rc.serveOn(ln)
	return rc, nil
}

func (rc *receivers) serveOn(ln net.Listener) {
	// HTTP/1.1: closing the server closes every connection at once.
	rc.srv = rc.cert.Serve(ln, http.HandlerFunc(rc.serve), harness.ServeOptions{HTTP1Only: true})
}

func (rc *receivers) url(path string) string { return "https://" + rc.addr + path }

// endpoint registers path's signing secret; its answers take latency.
func (rc *receivers) endpoint(path, secret string, latency time.Duration) error {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secrets[path] = wh
	rc.seen[path] = map[string]int{}
	rc.ok[path] = map[string]int{}
	rc.latency[path] = latency
	return nil
}

// setMode switches between up, refused (the listener is closed, every open connection too) and
// 503.
func (rc *receivers) setMode(mode string) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if mode == rc.mode {
		return nil
	}
	if mode == modeRefused {
		_ = rc.srv.Close()
	} else if rc.mode == modeRefused {
		var ln net.Listener
		var err error
		for i := 0; i < 50; i++ { // the port may linger a moment after the close
			if ln, err = net.Listen("tcp", rc.addr); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("receivers: listen again on %s: %w", rc.addr, err)
		}
		rc.serveOn(ln)
	}
	rc.mode = mode
	return nil
}

func (rc *receivers) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rc.inFlight.Add(1)
	defer rc.inFlight.Add(-1)
	body, err := io.ReadAll(r.Body)
	id := r.Header.Get("webhook-id")
	rc.mu.Lock()
	wh := rc.secrets[r.URL.Path]
	if wh == nil {
		rc.unknown++
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNotFound)
		return
	}
	rc.seen[r.URL.Path][id]++
	q := request{Path: r.URL.Path, ID: id, Start: start, Status: http.StatusOK}
	switch {
	case err != nil || wh.Verify(body, r.Header) != nil:
		rc.badSig++
		q.Status = http.StatusBadRequest
	case rc.mode == modeErr503:
		q.Status = http.StatusServiceUnavailable
	}
	latency := rc.latency[r.URL.Path]
	rc.mu.Unlock()
	if latency > 0 {
		select { // a receiver that takes a moment: its requests are in flight meanwhile
		case <-time.After(latency):
		case <-r.Context().Done():
		}
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	q.End = time.Now()
	q.Cut = r.Context().Err() != nil
	rc.log = append(rc.log, q)
	if q.Cut {
		rc.answered["cut"]++
		return
	}
	rc.answered[strconv.Itoa(q.Status)]++
	if q.accepted() {
		rc.ok[r.URL.Path][id]++
	}
	w.WriteHeader(q.Status)
}

// requests copies the request log.
func (rc *receivers) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.log...)
}

// snapshot copies the counters.
func (rc *receivers) snapshot() (seen, ok map[string]map[string]int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	cp := func(src map[string]map[string]int) map[string]map[string]int {
		out := make(map[string]map[string]int, len(src))
		for p, m := range src {
			c := make(map[string]int, len(m))
			for id, n := range m {
				c[id] = n
			}
			out[p] = c
		}
		return out
	}
	return cp(rc.seen), cp(rc.ok)
}

func (rc *receivers) close() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.srv != nil {
		_ = rc.srv.Close()
	}
}
