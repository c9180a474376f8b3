package app_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/app"
	"github.com/pcx/publicservice/internal/health"
)

// eventually polls cond every 20ms until it holds, failing the test after within.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(within); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// get answers a GET on a new connection (no keep-alive: each call proves the listener accepts).
func get(base, path string) (int, error) {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(base + path)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// When shutdown begins, /readyz fails at once while the server still accepts connections and
// serves requests for the drain; a request in flight completes; then the listener closes and
// Serve returns, all within the grace.
func TestServeDrainsBeforeClosing(t *testing.T) {
	t.Parallel()
	const drain, grace = 2 * time.Second, 10 * time.Second
	d := &health.Drain{}
	entered, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("GET /readyz", d.Gate(health.Readyz(nil)))
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		w.WriteHeader(http.StatusNoContent)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- app.Serve(ctx, app.Stop{Grace: grace, Drain: drain, Begin: d.Begin}, zerolog.Nop(),
			app.ServerOn{Srv: app.NewHTTPServer(mux, 5*time.Second), Ln: ln})
	}()
	if code, err := get(base, "/readyz"); err != nil || code != http.StatusOK {
		t.Fatalf("/readyz before shutdown: %d %v, want 200", code, err)
	}
	slow := make(chan int, 1)
	go func() {
		resp, err := (&http.Client{Timeout: grace}).Get(base + "/slow")
		if err != nil {
			slow <- 0
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	<-entered

	stopped := time.Now()
	cancel()
	eventually(t, time.Second, "503 from /readyz after shutdown began", func() bool {
		code, err := get(base, "/readyz")
		return err == nil && code == http.StatusServiceUnavailable
	})
	// Still within the drain: new connections are accepted and answered.
	if code, err := get(base, "/readyz"); err != nil || code != http.StatusServiceUnavailable {
		t.Fatalf("a new connection during the drain: %d %v, want it accepted and answered 503", code, err)
	}
	if time.Since(stopped) >= drain {
		t.Fatalf("the checks took %s, past the %s drain: the test proves nothing", time.Since(stopped), drain)
	}
	select {
	case err := <-served:
		t.Fatalf("Serve returned during the drain (%v), with a request in flight", err)
	default:
	}

	close(release)
	if code := <-slow; code != http.StatusNoContent {
		t.Fatalf("the request in flight at shutdown: %d, want 204", code)
	}
	eventually(t, drain+time.Second, "closed listener after the drain", func() bool {
		_, err := get(base, "/readyz")
		return err != nil
	})
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(grace):
		t.Fatal("Serve did not return within the grace")
	}
	if took := time.Since(stopped); took < drain {
		t.Fatalf("Serve closed after %s, before the %s drain", took, drain)
	}
}
