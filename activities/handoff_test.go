package activities

import (
	"testing"
	"time"

	"github.com/pcx/publicservice/pcx"
)

func hooks(ids ...string) []*pcx.Webhook {
	out := make([]*pcx.Webhook, len(ids))
	for i, id := range ids {
		out[i] = &pcx.Webhook{ID: id}
	}
	return out
}

func TestHandoff(t *testing.T) {
	now := time.Unix(1000, 0)
	h := newHandoff(5*time.Second, 5)
	h.now = func() time.Time { return now }

	h.put("evt_1", hooks("a", "b", "c"))
	if _, ok := h.take("evt_1", []string{"a", "x"}); ok {
		t.Fatal("take with an ID that was not handed off succeeded")
	}
	got, ok := h.take("evt_1", []string{"a", "b"})
	if !ok || len(got) != 2 || got["a"].ID != "a" {
		t.Fatalf("take = %v, %v", got, ok)
	}
	if _, ok := h.take("evt_1", []string{"a"}); ok {
		t.Fatal("an endpoint was handed off twice")
	}
	if _, ok := h.take("evt_2", []string{"c"}); ok {
		t.Fatal("another event's endpoints were handed off")
	}
	now = now.Add(5 * time.Second)
	if _, ok := h.take("evt_1", []string{"c"}); ok {
		t.Fatal("an expired hand-off was used")
	}
	// Bounded: past the maximum, expired events go first, then everything.
	h.put("evt_3", hooks("d", "e", "f", "g"))
	h.put("evt_4", hooks("h", "i"))
	if h.size > 5 {
		t.Fatalf("size %d above the bound 5", h.size)
	}
	if _, ok := h.take("evt_4", []string{"h", "i"}); !ok {
		t.Fatal("the newest hand-off is not there")
	}
}
