// Package health answers liveness and readiness probes: /healthz as long as the process serves
// HTTP, /readyz when every dependency answers. The API and the worker serve the same handlers.
package health

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/singleflight"

	"github.com/pcx/publicservice/internal/httpx"
	"github.com/pcx/publicservice/internal/metrics"
	"github.com/pcx/publicservice/pcx"
)

// Check is one dependency readiness probe, e.g. DynamoDB answering DescribeTable.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Healthz answers as long as the process serves HTTP: for liveness probes.
func Healthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpx.Respond(w, http.StatusOK, "ok", nil, nil)
	})
}

// checkTimeout bounds each readiness probe, so /readyz answers quickly even when a dependency
// hangs.
const checkTimeout = 2 * time.Second

// ReadyFor is how long a readiness result is reused: /readyz is unauthenticated, so a flood of
// it costs the dependencies at most one round of checks per ReadyFor, whatever the request rate.
// A failure is reused as long: a probe sees a recovery at most ReadyFor late.
const ReadyFor = time.Second

// Readyz runs every check at once and answers 200 when all pass, 503 naming the failing
// dependencies (only their names: never their error text) otherwise. The result is reused for
// ReadyFor, and requests that arrive while a round of checks runs wait for that round: one
// round in flight at a time.
func Readyz(checks []Check) http.Handler {
	rd := newReadiness(checks, ReadyFor)
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if failed := rd.failed(r.Context()); len(failed) > 0 {
			return pcx.Errorf(pcx.EUnavailable, "Not ready: %s unavailable", strings.Join(failed, ", "))
		}
		httpx.Respond(w, http.StatusOK, "ready", nil, nil)
		return nil
	})
}

// readiness is the cached outcome of the checks.
type readiness struct {
	checks []Check
	ttl    time.Duration
	now    func() time.Time
	group  singleflight.Group

	mu     sync.Mutex
	at     time.Time // when the cached round began; zero: none yet
	result []string
}

func newReadiness(checks []Check, ttl time.Duration) *readiness {
	return &readiness{checks: checks, ttl: ttl, now: time.Now}
}

// failed returns the names of the failed checks of a round that began less than ttl ago, running
// one if there is none. The round is no caller's: it runs on a context detached from the request
// that started it (each check bounded by checkTimeout), and a caller waits only as long as its
// own context allows.
func (rd *readiness) failed(ctx context.Context) []string {
	rd.mu.Lock()
	if !rd.at.IsZero() && rd.now().Sub(rd.at) < rd.ttl {
		result := rd.result
		rd.mu.Unlock()
		return result
	}
	rd.mu.Unlock()
	ch := rd.group.DoChan("", func() (any, error) {
		began := rd.now()
		result := runChecks(context.WithoutCancel(ctx), rd.checks)
		rd.mu.Lock()
		rd.at, rd.result = began, result
		rd.mu.Unlock()
		return result, nil
	})
	select {
	case <-ctx.Done():
		return []string{"readiness check"}
	case res := <-ch:
		return res.Val.([]string)
	}
}

// Drain is a process's readiness during shutdown: from Begin on, /readyz answers 503 at once
// (Gate), while the process still serves, so a load balancer stops sending to it before its
// listener closes. The zero value is not draining; a nil *Drain never drains.
type Drain struct{ draining atomic.Bool }

// Begin starts draining: readiness fails from now on.
func (d *Drain) Begin() { d.draining.Store(true) }

// Draining reports whether Begin was called.
func (d *Drain) Draining() bool { return d != nil && d.draining.Load() }

// Gate answers 503 instead of readiness once the process drains; until then it is readiness.
func (d *Drain) Gate(readiness http.Handler) http.Handler {
	if d == nil {
		return readiness
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if d.Draining() {
			return pcx.Errorf(pcx.EUnavailable, "Not ready: shutting down")
		}
		readiness.ServeHTTP(w, r)
		return nil
	})
}

// runChecks returns the names of the failed checks, sorted.
func runChecks(ctx context.Context, checks []Check) []string {
	var (
		mu     sync.Mutex
		failed []string
		wg     sync.WaitGroup
	)
	for _, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			defer cancel()
			if err := c.Fn(cctx); err != nil {
				zerolog.Ctx(ctx).Warn().Err(err).Str("check", c.Name).Msg("readiness check failed")
				mu.Lock()
				failed = append(failed, c.Name)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Strings(failed)
	return failed
}

// Handler serves /healthz, /readyz and /metrics alone, for processes without the public API
// (the worker).
func Handler(log zerolog.Logger, checks []Check, m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", Healthz())
	mux.Handle("GET /readyz", Readyz(checks))
	mux.Handle("GET /metrics", m.Handler())
	return httpx.RequestID(log)(mux)
}
