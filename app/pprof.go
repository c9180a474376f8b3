package app

import (
	"net/http"
	"net/http/pprof"
)

// WithPprof serves Go's profiler under /debug/pprof/ in front of h when on (DEBUG_PPROF=true),
// and is h unchanged otherwise. It is meant for the listeners operators reach, never the public
// one: a CPU profile of a worker under load (/debug/pprof/profile?seconds=10 on WORKER_HTTP_ADDR)
// shows where a delivery's time goes. Profiles must be shorter than the listener's write
// timeout (REQUEST_TIMEOUT + 10s).
func WithPprof(h http.Handler, on bool) http.Handler {
	if !on {
		return h
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", h)
	return mux
}
