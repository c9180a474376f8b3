// Package health answers liveness and readiness probes: /healthz as long as the process serves
// HTTP, /readyz when every dependency answers. The API and the worker serve the same handlers.
package health

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

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

// Readyz runs every check at once and answers 200 when all pass, 503 naming the failing
// dependencies (only their names: never their error text) otherwise.
func Readyz(checks []Check) http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if failed := runChecks(r.Context(), checks); len(failed) > 0 {
			return pcx.Errorf(pcx.EUnavailable, "Not ready: %s unavailable", strings.Join(failed, ", "))
		}
		httpx.Respond(w, http.StatusOK, "ready", nil, nil)
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
