package activities

import (
	"container/list"
	"sync"

	"github.com/pcx/publicservice/pcx"
)

// payloadCache keeps recently used events, bounded by the total size of their payloads.
type payloadCache struct {
	mu    sync.Mutex
	max   int
	size  int
	order *list.List // front = most recent
	items map[string]*list.Element
}

func newPayloadCache(maxBytes int) *payloadCache {
	return &payloadCache{max: maxBytes, order: list.New(), items: map[string]*list.Element{}}
}

func (c *payloadCache) get(id string) (*pcx.Event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[id]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*pcx.Event), true
}

func (c *payloadCache) put(ev *pcx.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[ev.ID]; ok || len(ev.Payload) > c.max {
		return
	}
	c.items[ev.ID] = c.order.PushFront(ev)
	c.size += len(ev.Payload)
	for c.size > c.max {
		last := c.order.Back()
		old := last.Value.(*pcx.Event)
		c.order.Remove(last)
		delete(c.items, old.ID)
		c.size -= len(old.Payload)
	}
}
