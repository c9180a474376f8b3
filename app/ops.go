package app

import (
	"net/http"
	"net/netip"
	"path"
	"strings"

	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/internal/httpx"
	"github.com/pcx/publicservice/pcx"
)

// errMetricsToken answers /metrics or pprof without the METRICS_TOKEN bearer token.
var errMetricsToken = pcx.Errorf(pcx.EUnauthenticated, "Missing or invalid bearer token")

// GuardOps requires METRICS_TOKEN as a bearer token for /metrics and /debug/pprof/ in front of
// h, when token is set; the rest of h (health, readiness, transaction updates with their own
// token) is unchanged. With no token it is h: config.OpsListenerGuarded keeps such a listener
// on loopback.
func GuardOps(h http.Handler, token string) http.Handler {
	if token == "" {
		return h
	}
	guarded := httpx.RequireBearer(token, errMetricsToken)(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := path.Clean("/" + r.URL.Path); p == "/metrics" || p == "/debug/pprof" || strings.HasPrefix(p, "/debug/pprof/") {
			guarded.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// LogExemptions warns, once at start, of each WEBHOOK_ALLOWED_CIDRS range: each is a hole in the
// SSRF block list that an operator should see in the logs.
func LogExemptions(log zerolog.Logger, allowed []netip.Prefix) {
	for _, p := range allowed {
		log.Warn().Str("cidr", p.String()).Msg("WEBHOOK_ALLOWED_CIDRS exempts this range from the SSRF block list: webhooks may reach it")
	}
}
