package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// halfRequest opens a connection and sends a create-key request whose body is cut in the middle,
// so the request is in flight in the server until the rest arrives. It returns the connection and
// the rest of the body.
func halfRequest(t *testing.T, base, key string) (net.Conn, string) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	body := `{"name":"created during shutdown"}`
	head := fmt.Sprintf("POST /public/api-keys/create HTTP/1.1\r\nHost: pcx\r\nX-API-Key: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", key, len(body))
	if _, err := io.WriteString(conn, head+body[:10]); err != nil {
		t.Fatal(err)
	}
	return conn, body[10:]
}

// finishRequest sends the rest of a halfRequest and wants its 201 within d.
func finishRequest(t *testing.T, conn net.Conn, rest string, d time.Duration) {
	t.Helper()
	if _, err := io.WriteString(conn, rest); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the in-flight request's response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(b), `"api_key":"pcx_`) {
		t.Fatalf("in-flight create: %d %s, want 201 with the key", resp.StatusCode, b)
	}
}

// TestAPIShutdownFinishesInFlightRequests sends SIGTERM to the api while a request is half sent:
// without a drain the api stops accepting connections at once, answers the request in flight
// when its body arrives, and exits 0. A client that never finishes its request holds the exit no
// longer than SHUTDOWN_TIMEOUT. With SHUTDOWN_DRAIN it first fails /readyz while still serving.
func TestAPIShutdownFinishesInFlightRequests(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newEnv(t)
	key := e.bootstrapKey("org-shutdown", "u")
	bin, _ := binaries(t)
	const grace = 4 * time.Second

	t.Run("in-flight request completes", func(t *testing.T) {
		api := e.startAPIProcess(bin, dir, "SHUTDOWN_TIMEOUT="+grace.String(), "LOG_LEVEL=info")
		p, base := api.p, api.base
		conn, rest := halfRequest(t, base, key)
		time.Sleep(200 * time.Millisecond) // let the server take the request's headers
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// New connections are refused once the listener has closed.
		eventually(t, 3*time.Second, "the listener to close", func() bool {
			c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 200*time.Millisecond)
			if err == nil {
				c.Close()
			}
			return err != nil
		})
		if p.Exited() {
			t.Fatal("the api exited with a request in flight")
		}
		finishRequest(t, conn, rest, grace)
		code, ok := p.Wait(grace)
		if !ok || code != 0 {
			t.Fatalf("after its last request the api: exited %v, code %d; want a clean exit (0) within %s", ok, code, grace)
		}
	})

	t.Run("stalled client is cut off at the deadline", func(t *testing.T) {
		api := e.startAPIProcess(bin, dir, "SHUTDOWN_TIMEOUT="+grace.String(), "LOG_LEVEL=info")
		p, base := api.p, api.base
		halfRequest(t, base, key) // never finished
		time.Sleep(200 * time.Millisecond)
		start := time.Now()
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		code, ok := p.Wait(grace + 5*time.Second)
		took := time.Since(start)
		if !ok {
			t.Fatalf("the api still runs %s after SIGTERM with SHUTDOWN_TIMEOUT=%s", took, grace)
		}
		if took < grace-500*time.Millisecond {
			t.Fatalf("the api exited after %s, before SHUTDOWN_TIMEOUT=%s gave the request its chance", took, grace)
		}
		// The cut is not clean: exit code 1, and the log says why.
		log, _ := os.ReadFile(p.LogPath())
		if code != 1 || !strings.Contains(string(log), "finishing in-flight requests") || !strings.Contains(string(log), "context deadline exceeded") {
			t.Errorf("exit code %d, want 1 with the shutdown and its deadline in the log:\n%s", code, log)
		}
	})

	// With SHUTDOWN_DRAIN, /readyz answers 503 at once, so a load balancer stops sending, while
	// the listener still accepts and answers new connections for the drain; a request in flight
	// completes; then the listener closes and the api exits 0, all within SHUTDOWN_TIMEOUT.
	t.Run("drains before closing", func(t *testing.T) {
		const drain, grace = 3 * time.Second, 8 * time.Second // shadows the outer grace
		api := e.startAPIProcess(bin, dir, "SHUTDOWN_TIMEOUT="+grace.String(), "SHUTDOWN_DRAIN="+drain.String(), "LOG_LEVEL=info")
		p, base := api.p, api.base
		// Each probe on a new connection: an answer proves the listener still accepts.
		readyz := func() (int, error) {
			c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			resp, err := c.Get(base + "/readyz")
			if err != nil {
				return 0, err
			}
			resp.Body.Close()
			return resp.StatusCode, nil
		}
		eventually(t, 10*time.Second, "/readyz 200 before shutdown", func() bool {
			code, err := readyz()
			return err == nil && code == http.StatusOK
		})
		conn, rest := halfRequest(t, base, key)
		start := time.Now()
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		eventually(t, drain/2, "/readyz 503 once shutdown began", func() bool {
			code, err := readyz()
			return err == nil && code == http.StatusServiceUnavailable
		})
		if code, err := readyz(); err != nil || code != http.StatusServiceUnavailable || time.Since(start) >= drain {
			t.Fatalf("a new connection %s after SIGTERM (drain %s): %d %v, want it accepted and answered 503", time.Since(start), drain, code, err)
		}
		finishRequest(t, conn, rest, grace)
		eventually(t, grace, "the listener to close after the drain", func() bool {
			_, err := readyz()
			return err != nil
		})
		if took := time.Since(start); took < drain {
			t.Fatalf("the listener closed %s after SIGTERM, before SHUTDOWN_DRAIN=%s", took, drain)
		}
		code, ok := p.Wait(grace)
		if !ok || code != 0 {
			t.Fatalf("after the drain the api: exited %v, code %d; want a clean exit (0) within SHUTDOWN_TIMEOUT=%s", ok, code, grace)
		}
	})
}

// TestWorkerShutdownDrainsInFlightDelivery sends SIGTERM to a worker while a delivery is in
// flight to a slow receiver: the worker waits for the attempt, which is recorded once, and exits
// 0; a worker started after it (a rolling deploy) finishes the event without sending it again.
func TestWorkerShutdownDrainsInFlightDelivery(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rc := newReceiver(t)
	const slow = 3 * time.Second
	rc.setDelay("/slow", slow)
	e := newEnv(t)
	e.allow(rc)
	api := e.startAPI()
	key := e.bootstrapKey("org-drain", "u")
	hook := register(t, api.base, key, rc.url("/slow"))
	_, bin := binaries(t)
	w := e.startWorkerProcess(bin, dir, "SHUTDOWN_TIMEOUT=20s")

	acc := notify(t, api.base, key, "org-drain", `{"drain":true}`)
	rc.waitCount(t, "/slow", 1, 20*time.Second) // the receiver holds the request for 3s
	start := time.Now()
	if err := w.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, ok := w.Wait(20 * time.Second)
	took := time.Since(start)
	if !ok || code != 0 {
		t.Fatalf("worker after SIGTERM: exited %v, code %d after %s; want a clean exit within SHUTDOWN_TIMEOUT", ok, code, took)
	}
	if took < slow/2 {
		t.Fatalf("the worker exited %s after SIGTERM, before the in-flight delivery (held %s) could finish", took, slow)
	}

	e.startWorkerProcess(bin, dir) // the next version of the worker
	waitWorkflowClosed(t, temporalClient(t), acc.WorkflowID, 30*time.Second)
	d := waitDelivery(t, api.base, key, acc.EventID, hook.WebhookID, "delivered", 1, 10*time.Second)
	if d.Attempts != 1 || rc.count("/slow") != 1 {
		t.Fatalf("after the drain: %d attempt(s) recorded, %d request(s) received; want the one drained attempt", d.Attempts, rc.count("/slow"))
	}
}
