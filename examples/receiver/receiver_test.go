package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/signing"
)

// delivery builds a request as PCX's worker signs it (internal/signing is the code the worker
// uses), with the given keys, event ID, time and body.
func delivery(keys [][]byte, id string, at time.Time, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/pcx", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	signing.SetHeaders(r.Header, keys, id, at, body)
	return r
}

type processed struct {
	mu     sync.Mutex
	events []Event
	fail   error
}

func (p *processed) process(ev Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	p.events = append(p.events, ev)
	return nil
}

func (p *processed) ids() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ids []string
	for _, e := range p.events {
		ids = append(ids, e.ID)
	}
	return ids
}

func newTestReceiver(t *testing.T) ([]byte, *Receiver, *processed) {
	t.Helper()
	return newFormatReceiver(t, FormatAuto)
}

func serve(rc *Receiver, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, r)
	return w
}

func TestReceiverProcessesAVerifiedEventOnce(t *testing.T) {
	key, rc, p := newTestReceiver(t)
	body := []byte(`{"transaction_id":"tx_1","amount":"12.50"}`)

	w := serve(rc, delivery([][]byte{key}, "evt_1", time.Now(), body))
	if w.Code != http.StatusOK {
		t.Fatalf("first delivery: %d %s", w.Code, w.Body)
	}
	// A retry (new timestamp, same webhook-id), as after a lost acknowledgement or a replay.
	w = serve(rc, delivery([][]byte{key}, "evt_1", time.Now().Add(time.Second), body))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "duplicate") {
		t.Fatalf("repeat: %d %s, want 200 duplicate", w.Code, w.Body)
	}
	if got := p.ids(); len(got) != 1 || got[0] != "evt_1" {
		t.Fatalf("processed %v, want evt_1 once", got)
	}
	if ev := p.events[0]; !bytes.Equal(ev.Data, body) || ev.Type != DefaultEventType {
		t.Errorf("event handed on: %s %s, want %s %s", ev.Type, ev.Data, DefaultEventType, body)
	}
	// Another event is processed.
	if w := serve(rc, delivery([][]byte{key}, "evt_2", time.Now(), body)); w.Code != http.StatusOK {
		t.Fatalf("second event: %d", w.Code)
	}
	if got := p.ids(); len(got) != 2 {
		t.Fatalf("processed %v, want 2 events", got)
	}
}

func TestReceiverAcceptsEitherSecretDuringRotation(t *testing.T) {
	oldKey, rc, p := newTestReceiver(t)
	newKey := signing.NewSecret()
	// During the grace period PCX signs with both secrets; a receiver still on the old one, and
	// one already on the new one, both accept.
	w := serve(rc, delivery([][]byte{newKey, oldKey}, "evt_r", time.Now(), []byte(`{}`)))
	if w.Code != http.StatusOK {
		t.Fatalf("old secret during rotation: %d %s", w.Code, w.Body)
	}
	rcNew, err := NewReceiver(signing.FormatSecret(newKey), FormatAuto, time.Hour, p.process)
	if err != nil {
		t.Fatal(err)
	}
	if w := serve(rcNew, delivery([][]byte{newKey, oldKey}, "evt_r2", time.Now(), []byte(`{}`))); w.Code != http.StatusOK {
		t.Fatalf("new secret during rotation: %d %s", w.Code, w.Body)
	}
}

func TestReceiverRejectsWhatPCXDidNotSign(t *testing.T) {
	key, rc, p := newTestReceiver(t)
	body := []byte(`{"amount":"1.00"}`)
	tampered := httptest.NewRequest(http.MethodPost, "/webhooks/pcx", strings.NewReader(`{"amount":"1000.00"}`))
	signing.SetHeaders(tampered.Header, [][]byte{key}, "evt_t", time.Now(), body) // signed the other body

	otherID := delivery([][]byte{key}, "evt_a", time.Now(), body)
	otherID.Header.Set("webhook-id", "evt_b") // signature is for evt_a

	unsigned := httptest.NewRequest(http.MethodPost, "/webhooks/pcx", bytes.NewReader(body))
	unsigned.Header.Set("webhook-id", "evt_u")
	unsigned.Header.Set("webhook-timestamp", strconv.FormatInt(time.Now().Unix(), 10))

	cases := map[string]*http.Request{
		"body changed":               tampered,
		"webhook-id changed":         otherID,
		"no signature":               unsigned,
		"wrong secret":               delivery([][]byte{signing.NewSecret()}, "evt_w", time.Now(), body),
		"timestamp 10 minutes old":   delivery([][]byte{key}, "evt_o", time.Now().Add(-10*time.Minute), body),
		"timestamp 10 minutes ahead": delivery([][]byte{key}, "evt_f", time.Now().Add(10*time.Minute), body),
	}
	for name, r := range cases {
		if w := serve(rc, r); w.Code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", name, w.Code, w.Body)
		}
	}
	if got := p.ids(); len(got) != 0 {
		t.Fatalf("processed %v, want nothing", got)
	}
}

func TestReceiverBoundsAndMethod(t *testing.T) {
	key, rc, p := newTestReceiver(t)
	big := bytes.Repeat([]byte("a"), maxBody+1)
	if w := serve(rc, delivery([][]byte{key}, "evt_big", time.Now(), big)); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d, want 413", w.Code)
	}
	get := httptest.NewRequest(http.MethodGet, "/webhooks/pcx", nil)
	if w := serve(rc, get); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", w.Code)
	}
	if got := p.ids(); len(got) != 0 {
		t.Fatalf("processed %v, want nothing", got)
	}
}

func TestReceiverFailedProcessingIsRetried(t *testing.T) {
	key, rc, p := newTestReceiver(t)
	p.fail = errors.New("database down")
	if w := serve(rc, delivery([][]byte{key}, "evt_f", time.Now(), []byte(`{}`))); w.Code != http.StatusInternalServerError {
		t.Fatalf("failing processing: %d, want 500 so PCX retries", w.Code)
	}
	p.fail = nil
	if w := serve(rc, delivery([][]byte{key}, "evt_f", time.Now(), []byte(`{}`))); w.Code != http.StatusOK || strings.Contains(w.Body.String(), "duplicate") {
		t.Fatalf("retry after a failure: %d %s, want processed", w.Code, w.Body)
	}
	if got := p.ids(); len(got) != 1 {
		t.Fatalf("processed %v, want evt_f once", got)
	}
}

func TestReceiverConcurrentRepeatsProcessOnce(t *testing.T) {
	key, rc, _ := newTestReceiver(t)
	release := make(chan struct{})
	var n int
	var mu sync.Mutex
	rc.process = func(Event) error {
		mu.Lock()
		n++
		mu.Unlock()
		<-release
		return nil
	}
	first := make(chan int)
	go func() { first <- serve(rc, delivery([][]byte{key}, "evt_c", time.Now(), []byte(`{}`))).Code }()
	// Wait until the first is inside process, then send the same event again.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		started := n == 1
		mu.Unlock()
		if started {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first delivery never reached process")
		}
		time.Sleep(time.Millisecond)
	}
	w := serve(rc, delivery([][]byte{key}, "evt_c", time.Now(), []byte(`{}`)))
	if w.Code != http.StatusConflict || w.Header().Get("Retry-After") == "" {
		t.Fatalf("repeat while processing: %d (Retry-After %q), want 409 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	close(release)
	if code := <-first; code != http.StatusOK {
		t.Fatalf("first: %d", code)
	}
	if n != 1 {
		t.Fatalf("processed %d times, want 1", n)
	}
}

func TestSeenIDsStaysBounded(t *testing.T) {
	s := newSeenIDs(time.Hour, 100)
	for i := 0; i < 1000; i++ {
		id := "evt_" + strconv.Itoa(i)
		if s.claim(id) != claimNew {
			t.Fatalf("%s: not new", id)
		}
		s.done(id)
	}
	if len(s.ids) > 100 {
		t.Fatalf("remembers %d IDs, want at most 100", len(s.ids))
	}
	if s.claim("evt_999") != claimDone {
		t.Error("the latest ID was forgotten")
	}
}
