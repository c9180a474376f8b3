package app

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWithPprof(t *testing.T) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot) // marks "the wrapped handler answered"
	})
	get := func(h http.Handler, path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w
	}

	off := WithPprof(inner, false)
	if w := get(off, "/debug/pprof/"); w.Code != http.StatusTeapot {
		t.Errorf("DEBUG_PPROF off: /debug/pprof/ answered %d, want the wrapped handler", w.Code)
	}

	on := WithPprof(inner, true)
	if w := get(on, "/debug/pprof/"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "goroutine") {
		t.Errorf("DEBUG_PPROF on: /debug/pprof/ answered %d %.80q, want the profile index", w.Code, w.Body.String())
	}
	if w := get(on, "/debug/pprof/goroutine?debug=1"); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "goroutine profile") {
		t.Errorf("DEBUG_PPROF on: goroutine profile answered %d", w.Code)
	}
	for _, path := range []string{"/healthz", "/metrics", "/"} {
		if w := get(on, path); w.Code != http.StatusTeapot {
			t.Errorf("DEBUG_PPROF on: %s answered %d, want the wrapped handler", path, w.Code)
		}
	}
}
