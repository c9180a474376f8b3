package metrics

import (
	"sync"
	"time"
)

// Pending is this worker's view of the deliveries still pending: those whose last attempt here
// failed or went unsent, with a retry to come. It backs pcx_webhook_oldest_pending_delivery_seconds
// (the age, since its event was accepted, of the oldest of them) and pcx_webhook_pending_deliveries.
//
// It keeps no table and reads none: an entry is made or refreshed when an attempt leaves a
// delivery pending and removed when an attempt here ends it (delivered, failed, cancelled). A
// retry runs on whichever worker polls it, so a delivery that another worker ended stays here
// until its retry was due plus PendingGrace, and then goes: the gauge may run up to PendingGrace
// behind. A restarted worker knows a delivery again from its next attempt on. Across workers, the
// oldest pending delivery is the max of their gauges.
type Pending struct {
	mu      sync.Mutex
	entries map[pendingKey]pendingEntry
	now     func() time.Time
}

type pendingKey struct{ event, webhook string }

type pendingEntry struct {
	accepted time.Time // when its event was accepted
	until    time.Time // its retry's due time plus PendingGrace: forgotten after, unless seen again
}

// PendingGrace is how long past its retry's due time a pending delivery is kept without news: the
// time its retry may wait for a worker and run.
const PendingGrace = 10 * time.Minute

// maxPending bounds the entries (about 150 bytes each); past it new deliveries are not tracked
// until old ones end, and the gauges cover the ones kept.
const maxPending = 200_000

func newPending(now func() time.Time) *Pending {
	return &Pending{entries: map[pendingKey]pendingEntry{}, now: now}
}

// Retrying records that the delivery of eventID to webhookID, accepted at accepted, is pending,
// its next attempt due after retryIn.
func (p *Pending) Retrying(eventID, webhookID string, accepted time.Time, retryIn time.Duration) {
	k := pendingKey{eventID, webhookID}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.entries[k]; !ok && len(p.entries) >= maxPending {
		return
	}
	p.entries[k] = pendingEntry{accepted: accepted, until: p.now().Add(retryIn + PendingGrace)}
}

// Ended records that the delivery is no longer pending.
func (p *Pending) Ended(eventID, webhookID string) {
	p.mu.Lock()
	delete(p.entries, pendingKey{eventID, webhookID})
	p.mu.Unlock()
}

// oldest forgets the entries past their time and returns the age of the oldest one left (0 with
// none) and how many are left. It runs at each scrape: one pass over the entries.
func (p *Pending) oldest() (time.Duration, int) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	var first time.Time
	for k, e := range p.entries {
		if now.After(e.until) {
			delete(p.entries, k)
			continue
		}
		if first.IsZero() || e.accepted.Before(first) {
			first = e.accepted
		}
	}
	if first.IsZero() {
		return 0, 0
	}
	return max(now.Sub(first), 0), len(p.entries)
}
