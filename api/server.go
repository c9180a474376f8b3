// Package api is the HTTP transport of the service: routes, middleware, decoding, validation and
// the mapping of errors to statuses. It holds no business rules of its own beyond input checks;
// it calls only the use-case services (service/apikeys, service/webhooks), through interfaces
// declared here, never the store.
package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/internal/cursor"
	"github.com/pcx/publicservice/internal/health"
	"github.com/pcx/publicservice/internal/httpx"
	"github.com/pcx/publicservice/internal/metrics"
	"github.com/pcx/publicservice/pcx"
)

// Deps are what the public API needs.
type Deps struct {
	Log          zerolog.Logger
	Auth         Authenticator
	AuthFailures *FailureLimiter // nil: no limit
	Keys         Keys
	Cursors      *cursor.Signer
	Webhooks     Webhooks
	Audit        Audit
	Ready        []health.Check
	// Drain fails /readyz once shutdown begins (nil: readiness is the checks alone).
	Drain          *health.Drain
	RequestTimeout time.Duration
	Metrics        *metrics.Metrics // nil: a private registry nobody scrapes
}

// InternalDeps are what the internal listener needs.
type InternalDeps struct {
	Log            zerolog.Logger
	Token          string // INTERNAL_TOKEN: callers present it as a bearer token
	Webhooks       Webhooks
	RequestTimeout time.Duration
	// Metrics are served at /metrics on this listener (never on the public one).
	Metrics *metrics.Metrics
}

// NewInternalServer returns the handler of the internal listener (INTERNAL_HTTP_ADDR), where
// other PCX services post transaction updates. It is meant for a private network only.
func NewInternalServer(d InternalDeps) http.Handler {
	if d.Metrics == nil {
		d.Metrics = metrics.New()
	}
	r := newRouter(d.Log, d.Metrics, "internal", d.RequestTimeout)
	addInternalRoutes(r, d)
	return r
}

// NewServer returns the public API handler.
func NewServer(d Deps) http.Handler {
	if d.Metrics == nil {
		d.Metrics = metrics.New()
	}
	r := newRouter(d.Log, d.Metrics, "public", d.RequestTimeout)
	addRoutes(r, d)
	return r
}

// newRouter returns a router with the middleware every listener has, in order: request ID,
// tracing, access log and metrics, panic recovery, body limit, request timeout.
func newRouter(log zerolog.Logger, m *metrics.Metrics, server string, requestTimeout time.Duration) chi.Router {
	r := chi.NewRouter()
	r.Use(httpx.RequestID(log), traced(server), accessLog(m, server), recoverer, limitBody, timeout(requestTimeout))
	r.NotFound(notFound)
	r.MethodNotAllowed(methodNotAllowed)
	return r
}

func notFound(w http.ResponseWriter, r *http.Request) {
	httpx.WriteError(w, r, pcx.Errorf(pcx.ENotFound, "Not found"))
}

// methodNotAllowed answers a known path asked with a method it does not serve: 405 with the
// methods it does serve in Allow (RFC 9110 requires it; chi gives a custom handler no list, so it
// is asked of the router).
func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	if allow := allowedMethods(r); len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
	}
	httpx.Write(w, http.StatusMethodNotAllowed, httpx.Failure{Status: "error", Message: "Method not allowed", Code: "method_not_allowed"})
}

// allowedMethods are the methods the service serves at r's path.
func allowedMethods(r *http.Request) []string {
	rctx := chi.RouteContext(r.Context())
	if rctx == nil || rctx.Routes == nil {
		return nil
	}
	// Routes is the top router (chi sets it once, at the top), so it is asked with the whole path.
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if rctx.Routes.Match(chi.NewRouteContext(), m, path) {
			allow = append(allow, m)
		}
	}
	return allow
}
