package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Why a delivery is pending (the cause label of the pending gauges).
const (
	// PendingEndpoint: its endpoint failed the last attempt, or is failing and the delivery waits
	// behind its probe. Normal while a receiver is down, for as long as the retry schedule and
	// WEBHOOK_DISABLE_AFTER allow (days).
	PendingEndpoint = "endpoint"
	// PendingWorker: the last attempt sent nothing for a reason of the service's own: no send slot
	// came free (WORKER_CONCURRENCY), or the store did not answer. Never normal for long.
	PendingWorker = "worker"
)

// Pending is this worker's view of the deliveries still pending: those whose last attempt here
// failed or went unsent, with a retry to come. It backs pcx_webhook_oldest_pending_delivery_seconds
// (the age, since its event was accepted, of the oldest of them) and pcx_webhook_pending_deliveries,
// both by cause.
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
	age     *prometheus.Desc
	count   *prometheus.Desc
}

type pendingKey struct{ event, webhook string }

type pendingEntry struct {
	accepted time.Time // when its event was accepted (a replay's: when it was first seen pending)
	until    time.Time // its retry's due time plus PendingGrace: forgotten after, unless seen again
	cause    string
}

// PendingGrace is how long past its retry's due time a pending delivery is kept without news: the
// time its retry may wait for a worker and run.
const PendingGrace = 10 * time.Minute

// maxPending bounds the entries (about 150 bytes each); past it new deliveries are not tracked
// until old ones end, and the gauges cover the ones kept.
const maxPending = 200_000

var pendingCauses = []string{PendingEndpoint, PendingWorker}

func newPending(now func() time.Time) *Pending {
	return &Pending{
		entries: map[pendingKey]pendingEntry{}, now: now,
		age: prometheus.NewDesc("pcx_webhook_oldest_pending_delivery_seconds",
			"Age, since its event was accepted, of the oldest delivery this worker left pending (failed or unsent, a retry to come), by cause: endpoint (it failed, or is failing) or worker (not sent for want of a send slot or the store); 0 with none.",
			[]string{"cause"}, nil),
		count: prometheus.NewDesc("pcx_webhook_pending_deliveries",
			"Deliveries this worker left pending (failed or unsent, a retry to come) and has not seen end, by cause: endpoint or worker.",
			[]string{"cause"}, nil),
	}
}

// Retrying records that the delivery of eventID to webhookID, pending since since (its event's
// acceptance; zero: since it was first recorded here), is pending for cause (PendingEndpoint,
// PendingWorker), its next attempt due after retryIn.
func (p *Pending) Retrying(eventID, webhookID string, since time.Time, retryIn time.Duration, cause string) {
	k := pendingKey{eventID, webhookID}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	old, ok := p.entries[k]
	switch {
	case !ok && len(p.entries) >= maxPending:
		return
	case !since.IsZero():
	case ok:
		since = old.accepted
	default:
		since = now
	}
	p.entries[k] = pendingEntry{accepted: since, until: now.Add(retryIn + PendingGrace), cause: cause}
}

// Ended records that the delivery is no longer pending.
func (p *Pending) Ended(eventID, webhookID string) {
	p.mu.Lock()
	delete(p.entries, pendingKey{eventID, webhookID})
	p.mu.Unlock()
}

// Describe and Collect make Pending the collector of its two gauges.
func (p *Pending) Describe(ch chan<- *prometheus.Desc) { ch <- p.age; ch <- p.count }

// Collect forgets the entries past their time and reports, per cause, the age of the oldest one
// left (0 with none) and how many are left: one pass over the entries at each scrape.
func (p *Pending) Collect(ch chan<- prometheus.Metric) {
	ages, counts := p.oldest()
	for _, c := range pendingCauses {
		ch <- prometheus.MustNewConstMetric(p.age, prometheus.GaugeValue, ages[c].Seconds(), c)
		ch <- prometheus.MustNewConstMetric(p.count, prometheus.GaugeValue, float64(counts[c]), c)
	}
}

func (p *Pending) oldest() (map[string]time.Duration, map[string]int) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	first := map[string]time.Time{}
	counts := map[string]int{}
	for k, e := range p.entries {
		if now.After(e.until) {
			delete(p.entries, k)
			continue
		}
		counts[e.cause]++
		if f, ok := first[e.cause]; !ok || e.accepted.Before(f) {
			first[e.cause] = e.accepted
		}
	}
	ages := map[string]time.Duration{}
	for c, f := range first {
		ages[c] = max(now.Sub(f), 0)
	}
	return ages, counts
}
