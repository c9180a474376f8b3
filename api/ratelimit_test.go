package api

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/internal/cursor"
	"github.com/pcx/publicservice/internal/httpx"
)

func TestFailureLimiter(t *testing.T) {
	var nilLimiter *FailureLimiter
	if err := nilLimiter.fail("x"); err != nil {
		t.Fatalf("a nil limiter limited: %v", err)
	}
	if NewFailureLimiter(0) != nil {
		t.Fatal("AUTH_FAILURES_PER_MINUTE=0 must disable the limiter")
	}

	now := time.Unix(1000, 0)
	l := NewFailureLimiter(6) // a token every 10s, bursts of 6
	l.buckets.Now = func() time.Time { return now }
	for i := range 6 {
		if err := l.fail("a"); err != nil {
			t.Fatalf("failure %d limited: %v", i, err)
		}
	}
	err := l.fail("a")
	var ra httpx.RetryAfter
	if err == nil || !errors.As(err, &ra) || ra.RetryAfterSeconds() != 10 {
		t.Fatalf("7th = %v, want 429 with Retry-After 10", err)
	}
	if l.fail("b") != nil {
		t.Fatal("another address was limited")
	}
	now = now.Add(5 * time.Second)
	if err := l.fail("a"); err == nil || !errors.As(err, &ra) || ra.RetryAfterSeconds() != 5 {
		t.Fatalf("after 5s = %v, want Retry-After 5", err)
	}
	now = now.Add(5 * time.Second)
	if err := l.fail("a"); err != nil {
		t.Fatalf("after 10s a token is back, got %v", err)
	}
}

// An address out of failure budget still has its valid keys authenticated: the limiter limits
// guessing, not the working clients behind the same NAT or load balancer. Its failures get 429.
func TestLimitedAddressKeepsItsValidKeys(t *testing.T) {
	h := NewServer(Deps{Log: zerolog.Nop(), Auth: &fakeAuth{}, AuthFailures: NewFailureLimiter(3), Keys: &fakeKeys{},
		Webhooks: noWebhookService{}, Cursors: cursor.NewSigner([]byte("k"), time.Hour), RequestTimeout: time.Second})
	get := func(key string) int {
		r := httptest.NewRequest("GET", "/public/me", nil)
		r.RemoteAddr = "203.0.113.7:5555"
		r.Header.Set("X-API-Key", key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for i := range 3 {
		if got := get("guess"); got != 401 {
			t.Fatalf("failure %d: %d, want 401 within the budget", i+1, got)
		}
	}
	if got := get("guess"); got != 429 {
		t.Fatalf("failure past the budget: %d, want 429", got)
	}
	if got := get(goodKey); got != 200 {
		t.Fatalf("a valid key from the limited address: %d, want 200", got)
	}
	if got := get("guess"); got != 429 {
		t.Fatalf("a failure after the valid key: %d, want 429 still (a success refunds nothing)", got)
	}
}

func TestClientAddr(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"203.0.113.7:5555", "203.0.113.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff:ffff:ffff:ffff]:443", "2001:db8:1:2::/64"}, // the same /64: one budget
		{"[2001:db8:1:3::1]:443", "2001:db8:1:3::/64"},
		{"[::ffff:203.0.113.7]:80", "203.0.113.7"}, // IPv4-mapped: the IPv4 address
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"not-an-address", "not-an-address"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		r.Header.Set("X-Forwarded-For", "1.2.3.4")
		if got := clientAddr(r); got != tc.want {
			t.Errorf("clientAddr(%q) = %q, want %q (the peer, not a spoofable header)", tc.remote, got, tc.want)
		}
	}
}
