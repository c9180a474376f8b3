package activities

import (
	"sync"
	"time"

	"github.com/pcx/publicservice/pcx"
)

// handoffTTL is how long endpoints read by planning stay usable by the first attempts of the
// same event. Planning and the batches that follow it run in the same worker, milliseconds apart;
// the short life bounds how stale a handed-off endpoint can be (an endpoint deleted in between
// gets the event, exactly as one deleted while its POST is in flight would).
const handoffTTL = 5 * time.Second

// handoff passes the endpoints a plan read, secrets opened, to the event's first attempts in
// this process, so a delivery's endpoint is read from the store once, not twice.
type handoff struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu     sync.Mutex
	size   int
	events map[string]handoffEntry
}

type handoffEntry struct {
	hooks   map[string]*pcx.Webhook
	expires time.Time
}

func newHandoff(ttl time.Duration, maxHooks int) *handoff {
	return &handoff{ttl: ttl, max: maxHooks, now: time.Now, events: map[string]handoffEntry{}}
}

// put keeps hooks for eventID; when full, expired events go first, then everything.
func (h *handoff) put(eventID string, hooks []*pcx.Webhook) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if h.size+len(hooks) > h.max {
		for id, e := range h.events {
			if !now.Before(e.expires) {
				h.size -= len(e.hooks)
				delete(h.events, id)
			}
		}
		if h.size+len(hooks) > h.max {
			clear(h.events)
			h.size = 0
		}
	}
	e, ok := h.events[eventID]
	if !ok || !now.Before(e.expires) {
		h.size -= len(e.hooks)
		e = handoffEntry{hooks: map[string]*pcx.Webhook{}}
	}
	e.expires = now.Add(h.ttl)
	for _, w := range hooks {
		if _, dup := e.hooks[w.ID]; !dup {
			h.size++
		}
		e.hooks[w.ID] = w
	}
	h.events[eventID] = e
}

// take returns the endpoints ids of eventID, removing them, if every one of them was handed off
// and has not expired; otherwise nothing, and the caller reads the store.
func (h *handoff) take(eventID string, ids []string) (map[string]*pcx.Webhook, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.events[eventID]
	if !ok || !h.now().Before(e.expires) {
		return nil, false
	}
	out := make(map[string]*pcx.Webhook, len(ids))
	for _, id := range ids {
		w, ok := e.hooks[id]
		if !ok {
			return nil, false
		}
		out[id] = w
	}
	for _, id := range ids {
		delete(e.hooks, id)
		h.size--
	}
	if len(e.hooks) == 0 {
		delete(h.events, eventID)
	}
	return out, true
}
