package netguard

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// hitCounter is a handler that counts requests, to prove refused requests
// never reached the server.
type hitCounter struct{ n atomic.Int64 }

func (h *hitCounter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h.n.Add(1)
	_, _ = io.WriteString(w, "delivered")
}

// newTLSServer starts an httptest TLS server on listenAddr (127.0.0.1:0 or
// [::1]:0) and returns it with a pool trusting its certificate. It skips
// the test if the address family is unavailable.
func newTLSServer(t *testing.T, listenAddr string, h http.Handler) (*httptest.Server, *x509.CertPool) {
	t.Helper()
	ln, err := net.Listen("tcp", listenAddr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", listenAddr, err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = ln
	srv.StartTLS()
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	return srv, pool
}

func serverPort(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatalf("parse server URL: %v", err)
	}
	return u.Port()
}

func get(t *testing.T, c *http.Client, rawURL string) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	resp, err := c.Do(req)
	if resp != nil {
		t.Cleanup(func() { _ = resp.Body.Close() })
	}
	return resp, err
}

func loopbackPolicy(res Resolver) *Policy {
	return NewPolicy([]netip.Prefix{
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("::1/128"),
	}, res)
}

// (a) With loopback exempted, the hardened client reaches a local server.
func TestClientReachesAllowedLoopback(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", "[::1]:0"} {
		t.Run(listen, func(t *testing.T) {
			hits := &hitCounter{}
			srv, pool := newTLSServer(t, listen, hits)
			p := loopbackPolicy(newFakeResolver(nil))
			if _, err := p.ValidateURL(context.Background(), srv.URL); err != nil {
				t.Fatalf("ValidateURL(%s): got %v, want nil", srv.URL, err)
			}
			c := NewHTTPClient(p, ClientOptions{RootCAs: pool, Timeout: 5 * time.Second})
			resp, err := get(t, c, srv.URL+"/hook")
			if err != nil {
				t.Fatalf("got error %v, want a response", err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusOK || string(body) != "delivered" {
				t.Errorf("got %d %q, want 200 %q", resp.StatusCode, body, "delivered")
			}
			if got := hits.n.Load(); got != 1 {
				t.Errorf("got %d hits, want 1", got)
			}
		})
	}
}

// (b) Without exemptions, requests to loopback fail at connect time with a
// *BlockedError and the server never sees them.
func TestClientRefusesLoopbackAtConnect(t *testing.T) {
	hits := &hitCounter{}
	srv4, pool := newTLSServer(t, "127.0.0.1:0", hits)
	port4 := serverPort(t, srv4)
	port6 := port4 // if ::1 is unavailable the refusal must happen anyway
	if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
		_ = ln.Close()
		srv6, _ := newTLSServer(t, "[::1]:0", hits)
		port6 = serverPort(t, srv6)
	}
	c := NewHTTPClient(NewPolicy(nil, newFakeResolver(nil)), ClientOptions{RootCAs: pool, Timeout: 5 * time.Second})
	targets := []string{
		"https://127.0.0.1:" + port4 + "/hook",
		"https://[::1]:" + port6 + "/hook",
		"https://localhost:" + port4 + "/hook",
		"https://LOCALHOST.:" + port4 + "/hook",
		"https://[::ffff:127.0.0.1]:" + port4 + "/hook",
	}
	for _, target := range targets {
		t.Run(target, func(t *testing.T) {
			resp, err := get(t, c, target)
			if resp != nil {
				t.Fatalf("got response %d, want none", resp.StatusCode)
			}
			requireRule(t, err, RuleLoopback)
		})
	}
	if got := hits.n.Load(); got != 0 {
		t.Errorf("got %d handler runs, want 0", got)
	}
}

// rebindResolver answers with a public address once, then with loopback:
// the DNS rebinding attack.
type rebindResolver struct{ calls atomic.Int64 }

func (r *rebindResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	if r.calls.Add(1) == 1 {
		return []netip.Addr{netip.MustParseAddr("93.184.216.34")}, nil
	}
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

// (c) A name that passed ValidateURL but resolves to loopback at delivery
// time is refused at connect time.
func TestClientRefusesDNSRebinding(t *testing.T) {
	hits := &hitCounter{}
	srv, pool := newTLSServer(t, "127.0.0.1:0", hits)
	// *.example.com is in the httptest certificate, so the request would
	// succeed if the connect-time check were missing (see the control case).
	target := "https://rebind.example.com:" + serverPort(t, srv) + "/hook"

	t.Run("refused", func(t *testing.T) {
		res := &rebindResolver{}
		p := NewPolicy(nil, res)
		if _, err := p.ValidateURL(context.Background(), target); err != nil {
			t.Fatalf("ValidateURL: got %v, want nil (first answer is public)", err)
		}
		c := NewHTTPClient(p, ClientOptions{RootCAs: pool, Timeout: 5 * time.Second})
		resp, err := get(t, c, target)
		if resp != nil {
			t.Fatalf("got response %d, want none", resp.StatusCode)
		}
		requireRule(t, err, RuleLoopback)
		if got := res.calls.Load(); got != 2 {
			t.Errorf("got %d lookups, want 2 (validate, then dial)", got)
		}
		if got := hits.n.Load(); got != 0 {
			t.Errorf("got %d handler runs, want 0", got)
		}
	})
	t.Run("control: reachable when loopback is exempted", func(t *testing.T) {
		p := loopbackPolicy(&rebindResolver{})
		if _, err := p.ValidateURL(context.Background(), target); err != nil {
			t.Fatalf("ValidateURL: got %v, want nil", err)
		}
		c := NewHTTPClient(p, ClientOptions{RootCAs: pool, Timeout: 5 * time.Second})
		resp, err := get(t, c, target)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("got %v, want 200 (else the refused case proves nothing)", err)
		}
	})
}

// (d) Every blocked destination in the URL table is refused by DialContext
// before any packet is sent: the dial function is never called.
func TestDialContextRefusesBlockedDestinations(t *testing.T) {
	p, _ := newTestPolicy()
	var dials atomic.Int64
	p.dial = func(context.Context, string, string) (net.Conn, error) {
		dials.Add(1)
		return nil, errors.New("unexpected dial")
	}
	tested := 0
	for _, tc := range blockedURLs {
		addr, ok := dialTarget(tc)
		if !ok {
			continue
		}
		tested++
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			start := time.Now()
			conn, err := p.DialContext(ctx, "tcp", addr)
			if conn != nil {
				_ = conn.Close()
				t.Fatalf("DialContext(%s): got a connection, want an error", addr)
			}
			requireRule(t, err, tc.rule)
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Errorf("DialContext(%s) took %v, want an immediate refusal", addr, d)
			}
		})
	}
	if tested < 40 {
		t.Errorf("got %d destinations dialled, want at least 40", tested)
	}
	if got := dials.Load(); got != 0 {
		t.Errorf("got %d network dials, want 0", got)
	}
}

// dialTarget turns a blocked URL case into a host:port for DialContext, or
// false if the case is about URL syntax rather than the destination.
func dialTarget(tc blockedCase) (string, bool) {
	switch tc.rule {
	case RuleParse, RuleAbsolute, RuleScheme, RuleUserInfo, RuleLength, RuleHost, RuleFragment, RulePort:
		return "", false
	}
	u, err := url.Parse(tc.url)
	if err != nil || u.Hostname() == "" {
		return "", false
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	return net.JoinHostPort(u.Hostname(), port), true
}

func TestDialContextTriesAddressesInOrder(t *testing.T) {
	res := newFakeResolver(map[string][]string{"multi.example.test": {"93.184.216.34", "2606:4700::1111"}})
	p := NewPolicy(nil, res)
	var dialled []string
	p.dial = func(_ context.Context, _, address string) (net.Conn, error) {
		dialled = append(dialled, address)
		return nil, errors.New("connection refused")
	}
	_, err := p.DialContext(context.Background(), "tcp", "multi.example.test:443")
	if err == nil {
		t.Fatal("got nil error, want the dial errors")
	}
	want := []string{"93.184.216.34:443", "[2606:4700::1111]:443"}
	if len(dialled) != len(want) || dialled[0] != want[0] || dialled[1] != want[1] {
		t.Errorf("got dials %q, want %q", dialled, want)
	}

	dialled = nil
	_, _ = p.DialContext(context.Background(), "tcp6", "multi.example.test:443")
	if len(dialled) != 1 || dialled[0] != want[1] {
		t.Errorf("tcp6: got dials %q, want %q", dialled, want[1:])
	}
}

func TestDialContextBadInput(t *testing.T) {
	p := NewPolicy(nil, newFakeResolver(nil))
	tests := []struct{ network, address string }{
		{"udp", "93.184.216.34:443"},
		{"tcp", "93.184.216.34"},
		{"tcp", "93.184.216.34:0"},
		{"tcp", "93.184.216.34:https"},
	}
	for _, tc := range tests {
		t.Run(tc.network+" "+tc.address, func(t *testing.T) {
			if conn, err := p.DialContext(context.Background(), tc.network, tc.address); err == nil {
				_ = conn.Close()
				t.Errorf("got nil error, want one")
			}
		})
	}
}

// The Control hook refuses blocked addresses even when resolution is
// bypassed entirely, i.e. when the net.Dialer is handed an IP directly.
func TestControlHookRechecks(t *testing.T) {
	hits := &hitCounter{}
	srv, _ := newTLSServer(t, "127.0.0.1:0", hits)
	p := NewPolicy(nil, newFakeResolver(nil))
	conn, err := p.dial(context.Background(), "tcp", srv.Listener.Addr().String())
	if conn != nil {
		_ = conn.Close()
		t.Fatal("got a connection, want the Control hook to refuse it")
	}
	requireRule(t, err, RuleLoopback)

	tests := []struct {
		address string
		rule    string // "" means allowed
	}{
		{"93.184.216.34:443", ""},
		{"[2606:4700::1111]:443", ""},
		{"10.0.0.1:443", RulePrivate},
		{"[::ffff:169.254.169.254]:80", RuleLinkLocal},
		{"[fe80::1%eth0]:443", RuleLinkLocal},
		{"not-an-address", RuleInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.address, func(t *testing.T) {
			err := p.control("tcp", tc.address, nil)
			if tc.rule == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			requireRule(t, err, tc.rule)
		})
	}
	if got := hits.n.Load(); got != 0 {
		t.Errorf("got %d handler runs, want 0", got)
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	var targetHits atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/target", http.StatusFound)
	})
	mux.HandleFunc("/target", func(http.ResponseWriter, *http.Request) { targetHits.Add(1) })
	srv, pool := newTLSServer(t, "127.0.0.1:0", mux)
	c := NewHTTPClient(loopbackPolicy(newFakeResolver(nil)), ClientOptions{RootCAs: pool, Timeout: 5 * time.Second})

	resp, err := get(t, c, srv.URL+"/start")
	if err != nil {
		t.Fatalf("got error %v, want the 302 response", err)
	}
	if resp.StatusCode != http.StatusFound {
		t.Errorf("got status %d, want %d", resp.StatusCode, http.StatusFound)
	}
	if got := resp.Header.Get("Location"); got != "/target" {
		t.Errorf("got Location %q, want %q", got, "/target")
	}
	if got := targetHits.Load(); got != 0 {
		t.Errorf("got %d requests to the redirect target, want 0", got)
	}
}

func TestNewHTTPClientSettings(t *testing.T) {
	p := NewPolicy(nil, nil)
	tests := []struct {
		name        string
		opts        ClientOptions
		wantTimeout time.Duration
		wantIdle    int
	}{
		{"defaults", ClientOptions{}, 15 * time.Second, 64},
		{"custom", ClientOptions{Timeout: 3 * time.Second, MaxIdleConnsPerHost: 8}, 3 * time.Second, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewHTTPClient(p, tc.opts)
			tr, ok := c.Transport.(*http.Transport)
			if !ok {
				t.Fatalf("got transport %T, want *http.Transport", c.Transport)
			}
			if c.Timeout != tc.wantTimeout {
				t.Errorf("got Timeout %v, want %v", c.Timeout, tc.wantTimeout)
			}
			if tr.MaxIdleConnsPerHost != tc.wantIdle {
				t.Errorf("got MaxIdleConnsPerHost %d, want %d", tr.MaxIdleConnsPerHost, tc.wantIdle)
			}
			if tr.Proxy != nil {
				t.Error("got a Proxy func, want nil (env proxies bypass the policy)")
			}
			if tr.DialContext == nil || tr.TLSClientConfig == nil || tr.TLSClientConfig.MinVersion != tls.VersionTLS12 {
				t.Errorf("got DialContext set %v, TLS %+v, want DialContext and MinVersion TLS 1.2", tr.DialContext != nil, tr.TLSClientConfig)
			}
			if !tr.ForceAttemptHTTP2 || tr.TLSHandshakeTimeout <= 0 || tr.ResponseHeaderTimeout <= 0 {
				t.Errorf("got HTTP2 %v, handshake %v, header %v, want all set", tr.ForceAttemptHTTP2, tr.TLSHandshakeTimeout, tr.ResponseHeaderTimeout)
			}
			if err := c.CheckRedirect(nil, nil); !errors.Is(err, http.ErrUseLastResponse) {
				t.Errorf("got CheckRedirect %v, want http.ErrUseLastResponse", err)
			}
		})
	}
}

func TestLoadCAFile(t *testing.T) {
	hits := &hitCounter{}
	srv, _ := newTLSServer(t, "127.0.0.1:0", hits)
	dir := t.TempDir()
	certPath := filepath.Join(dir, "ca.pem")
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	writeFile(t, certPath, certPEM)
	junkPath := filepath.Join(dir, "junk.pem")
	writeFile(t, junkPath, []byte("not a certificate\n"))

	t.Run("empty path", func(t *testing.T) {
		pool, err := LoadCAFile("")
		if pool != nil || err != nil {
			t.Errorf("got %v, %v, want nil, nil", pool, err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		if _, err := LoadCAFile(filepath.Join(dir, "missing.pem")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("got %v, want an error wrapping os.ErrNotExist", err)
		}
	})
	t.Run("no certificate", func(t *testing.T) {
		if _, err := LoadCAFile(junkPath); err == nil {
			t.Error("got nil error, want one for a file without certificates")
		}
	})
	t.Run("trusts the file", func(t *testing.T) {
		pool, err := LoadCAFile(certPath)
		if err != nil {
			t.Fatalf("got error %v, want nil", err)
		}
		c := NewHTTPClient(loopbackPolicy(newFakeResolver(nil)), ClientOptions{RootCAs: pool, Timeout: 5 * time.Second})
		resp, err := get(t, c, srv.URL)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("got %v, want 200 with the CA file's pool", err)
		}
	})
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}
