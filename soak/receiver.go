package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
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
// Every request is verified with the endpoint's secret and counted per endpoint and webhook-id.
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
	firstOK  map[string]time.Time // path|id -> first 2xx
	dupAt    []time.Time          // when each 2xx beyond the first of a pair was answered
}

func startReceivers(dir string) (*receivers, error) {
	cert, err := harness.NewReceiverCert(dir, "pcx soak receiver")
	if err != nil {
		return nil, err
	}
	rc := &receivers{
		cert: cert, caFile: cert.CAFile, mode: modeUp,
		secrets: map[string]*standardwebhooks.Webhook{}, seen: map[string]map[string]int{}, ok: map[string]map[string]int{},
		answered: map[string]int{}, firstOK: map[string]time.Time{},
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

// endpoint registers path's signing secret.
func (rc *receivers) endpoint(path, secret string) error {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secrets[path] = wh
	rc.seen[path] = map[string]int{}
	rc.ok[path] = map[string]int{}
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
	body, err := io.ReadAll(r.Body)
	id := r.Header.Get("webhook-id")
	rc.mu.Lock()
	defer rc.mu.Unlock()
	wh := rc.secrets[r.URL.Path]
	if wh == nil {
		rc.unknown++
		w.WriteHeader(http.StatusNotFound)
		return
	}
	rc.seen[r.URL.Path][id]++
	if err != nil || wh.Verify(body, r.Header) != nil {
		rc.badSig++
		rc.answered["400"]++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	if rc.mode == modeErr503 {
		rc.answered["503"]++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	rc.ok[r.URL.Path][id]++
	if rc.ok[r.URL.Path][id] == 1 {
		rc.firstOK[r.URL.Path+"|"+id] = time.Now()
	} else {
		rc.dupAt = append(rc.dupAt, time.Now())
	}
	rc.answered["200"]++
	w.WriteHeader(http.StatusOK)
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
