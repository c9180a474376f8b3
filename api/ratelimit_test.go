package api

import (
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/httpx"
)

func TestFailureLimiter(t *testing.T) {
	var nilLimiter *FailureLimiter
	nilLimiter.fail("x")
	if err := nilLimiter.check("x"); err != nil {
		t.Fatalf("a nil limiter limited: %v", err)
	}
	if NewFailureLimiter(0) != nil {
		t.Fatal("AUTH_FAILURES_PER_MINUTE=0 must disable the limiter")
	}

	now := time.Unix(1000, 0)
	l := NewFailureLimiter(6) // a token every 10s, bursts of 6
	l.buckets.Now = func() time.Time { return now }
	for i := range 6 {
		if err := l.check("a"); err != nil {
			t.Fatalf("failure %d limited: %v", i, err)
		}
		l.fail("a")
	}
	err := l.check("a")
	var ra httpx.RetryAfter
	if err == nil || !errors.As(err, &ra) || ra.RetryAfterSeconds() != 10 {
		t.Fatalf("7th = %v, want 429 with Retry-After 10", err)
	}
	if l.check("b") != nil {
		t.Fatal("another address was limited")
	}
	now = now.Add(5 * time.Second)
	if err := l.check("a"); err == nil || !errors.As(err, &ra) || ra.RetryAfterSeconds() != 5 {
		t.Fatalf("after 5s = %v, want Retry-After 5", err)
	}
	now = now.Add(5 * time.Second)
	if err := l.check("a"); err != nil {
		t.Fatalf("after 10s a token is back, got %v", err)
	}
}

func TestClientAddr(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "203.0.113.7:5555"
	r.Header.Set("X-Forwarded-For", "1.2.3.4")
	if got := clientAddr(r); got != "203.0.113.7" {
		t.Fatalf("clientAddr = %q, want the peer address, not a spoofable header", got)
	}
}
