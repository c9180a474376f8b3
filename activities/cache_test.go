package activities

import (
	"strings"
	"testing"

	"github.com/pcx/publicservice/pcx"
)

func cached(id string, size int) *pcx.Event {
	return &pcx.Event{ID: id, Payload: []byte(strings.Repeat("x", size))}
}

func (c *payloadCache) has(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.items[id]
	return ok
}

func TestPayloadCacheEvictsBySize(t *testing.T) {
	c := newPayloadCache(100)
	c.put(cached("a", 40))
	c.put(cached("b", 40))
	if _, ok := c.get("a"); !ok { // a is now the most recently used
		t.Fatal("a missing before the cache is full")
	}
	c.put(cached("c", 40)) // 120 bytes > 100: the least recently used, b, goes

	for id, want := range map[string]bool{"a": true, "b": false, "c": true} {
		if got := c.has(id); got != want {
			t.Errorf("cached %s = %v, want %v", id, got, want)
		}
	}
	if c.size != 80 {
		t.Errorf("size = %d, want 80", c.size)
	}

	c.put(cached("big", 100)) // fits alone: everything else goes
	if !c.has("big") || c.has("a") || c.has("c") || c.size != 100 {
		t.Errorf("after a 100-byte put: a=%v c=%v big=%v size=%d; want only big, 100", c.has("a"), c.has("c"), c.has("big"), c.size)
	}
}

func TestPayloadCacheSkipsOversizeAndDuplicates(t *testing.T) {
	c := newPayloadCache(100)
	c.put(cached("a", 60))
	c.put(cached("huge", 101))
	if c.has("huge") || !c.has("a") {
		t.Errorf("a payload over the bound must not be cached nor evict others: huge=%v a=%v", c.has("huge"), c.has("a"))
	}
	c.put(cached("a", 60))
	if c.size != 60 || c.order.Len() != 1 {
		t.Errorf("putting a again: size %d, %d entries; want 60, 1", c.size, c.order.Len())
	}
	if _, ok := c.get("missing"); ok {
		t.Error("got an event that was never put")
	}
}
