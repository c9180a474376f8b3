package app

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestGuardOps(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	const token = "metrics-token-0123456789abcdef0123"
	get := func(h http.Handler, path, auth string) int {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	if got := get(GuardOps(inner, ""), "/metrics", ""); got != http.StatusTeapot {
		t.Errorf("no METRICS_TOKEN: /metrics answered %d, want the handler", got)
	}
	h := GuardOps(WithPprof(inner, true), token)
	for _, p := range []string{"/metrics", "//metrics", "/debug/pprof/", "/debug/pprof/goroutine", "/debug/pprof", "/x/../metrics"} {
		if got := get(h, p, ""); got != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d, want 401", p, got)
		}
		if got := get(h, p, "Bearer "+token+"x"); got != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d, want 401", p, got)
		}
	}
	if got := get(h, "/metrics", "Bearer "+token); got != http.StatusTeapot {
		t.Errorf("/metrics with the token: %d, want the handler", got)
	}
	if got := get(h, "/debug/pprof/", "bearer "+token); got != http.StatusOK {
		t.Errorf("pprof with the token: %d, want the profile index", got)
	}
	for _, p := range []string{"/healthz", "/readyz", "/internal/transaction-updates"} {
		if got := get(h, p, ""); got != http.StatusTeapot {
			t.Errorf("%s: %d, want the handler, untouched", p, got)
		}
	}
}
