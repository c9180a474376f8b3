// Package slots hands out a worker's send slots so that no tenant slows another. A send holds a
// slot from the moment it may open a connection until its response (or failure) is in; the pool
// bounds sends in flight per worker, per endpoint and per destination host, and shares the
// worker's slots fairly between organisations and between first attempts and retries.
//
// Receivers that hang are the normal case for a webhook service. With one shared FIFO pool, an
// organisation whose 300 endpoints never answer holds every slot for WEBHOOK_TIMEOUT at a time
// and every other organisation's deliveries queue behind it. Here a freed slot goes to the
// waiting organisation that holds the fewest, and no organisation holds more than its share
// while others are active (Share): the others keep getting slots, at the price of the
// noisy organisation's own throughput.
package slots

import (
	"context"
	"sync"
)

// Limits are the pool's bounds.
type Limits struct {
	// Total bounds the sends in flight in the worker (WORKER_CONCURRENCY).
	Total int
	// PerEndpoint bounds one endpoint's sends in flight (WEBHOOK_ENDPOINT_CONCURRENCY); a
	// receiver that answers 429 or 503 lowers its own bound until successes return.
	PerEndpoint int
	// PerHost bounds the sends in flight to one destination host, whatever the endpoints
	// (WEBHOOK_HOST_CONCURRENCY).
	PerHost int
}

// Key says whose a send is.
type Key struct {
	Org      string
	Endpoint string
	Host     string
	// Retry: a durable retry, not a first attempt. The two classes share the slots as
	// organisations do, so neither starves the other.
	Retry bool
}

// Pool is a worker's send slots. The zero value is not usable; use New.
type Pool struct {
	limits Limits

	mu       sync.Mutex
	inUse    int
	byOrg    map[string]int
	byEP     map[string]int
	byHost   map[string]int
	byClass  [2]int
	epLimit  map[string]int // lowered bounds of endpoints that answered 429/503
	waiting  map[string][]*waiter
	nWaiting int
	waitOf   [2]int // waiters by class
}

type waiter struct {
	key     Key
	ready   chan struct{}
	granted bool
}

// New returns a pool with the given limits; a limit below 1 is taken as 1.
func New(l Limits) *Pool {
	l.Total, l.PerEndpoint, l.PerHost = max(l.Total, 1), max(l.PerEndpoint, 1), max(l.PerHost, 1)
	return &Pool{
		limits: l, byOrg: map[string]int{}, byEP: map[string]int{}, byHost: map[string]int{},
		epLimit: map[string]int{}, waiting: map[string][]*waiter{},
	}
}

func class(k Key) int {
	if k.Retry {
		return 1
	}
	return 0
}

// Share is how many slots one organisation may hold: the total divided among the organisations
// holding or waiting for slots, and never more than four fifths of it, so an organisation that
// becomes active finds slots free at once rather than after the noisy one's sends time out.
func (p *Pool) share() int {
	active := len(p.byOrg)
	for org := range p.waiting {
		if p.byOrg[org] == 0 {
			active++
		}
	}
	s := (p.limits.Total + max(active, 1) - 1) / max(active, 1)
	return max(1, min(s, p.limits.Total*4/5))
}

// classShare is how many slots one class may hold while the other has waiters.
func (p *Pool) classShare(c int) int {
	if p.waitOf[1-c] == 0 {
		return p.limits.Total
	}
	return max(1, p.limits.Total*3/4)
}

func (p *Pool) endpointLimit(ep string) int {
	if l, ok := p.epLimit[ep]; ok {
		return l
	}
	return p.limits.PerEndpoint
}

// fits reports whether k may take a slot now.
func (p *Pool) fits(k Key) bool {
	c := class(k)
	return p.inUse < p.limits.Total &&
		p.byEP[k.Endpoint] < p.endpointLimit(k.Endpoint) &&
		p.byHost[k.Host] < p.limits.PerHost &&
		p.byOrg[k.Org] < p.share() &&
		p.byClass[c] < p.classShare(c)
}

func (p *Pool) take(k Key) {
	p.inUse++
	p.byOrg[k.Org]++
	p.byEP[k.Endpoint]++
	p.byHost[k.Host]++
	p.byClass[class(k)]++
}

func (p *Pool) put(k Key) {
	p.inUse--
	p.byClass[class(k)]--
	dec(p.byOrg, k.Org)
	dec(p.byEP, k.Endpoint)
	dec(p.byHost, k.Host)
}

func dec(m map[string]int, k string) {
	if m[k] <= 1 {
		delete(m, k) // maps hold only what is in use: memory stays bounded by the slots
		return
	}
	m[k]--
}

// Acquire takes a slot for k, waiting until one is free for it or ctx ends. It returns the
// release and whether a slot was taken. An impatient caller (a durable retry, which holds a
// Temporal activity slot while it waits) is refused at once when its organisation already holds
// its share: it should come back later rather than wait in a queue it cannot lead.
func (p *Pool) Acquire(ctx context.Context, k Key, impatient bool) (release func(), ok bool) {
	p.mu.Lock()
	if len(p.waiting[k.Org]) == 0 && p.fits(k) {
		p.take(k)
		p.mu.Unlock()
		return p.releaser(k), true
	}
	if impatient && p.byOrg[k.Org] >= p.share() {
		p.mu.Unlock()
		return nil, false
	}
	w := &waiter{key: k, ready: make(chan struct{})}
	p.waiting[k.Org] = append(p.waiting[k.Org], w)
	p.nWaiting++
	p.waitOf[class(k)]++
	p.mu.Unlock()

	select {
	case <-w.ready:
		return p.releaser(k), true
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.granted {
		// Granted as ctx ended: the slot is ours; hand it on.
		p.put(k)
		p.grant()
		return nil, false
	}
	p.remove(w)
	p.grant() // its leaving may change the shares
	return nil, false
}

func (p *Pool) releaser(k Key) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.put(k)
			p.grant()
		})
	}
}

func (p *Pool) remove(w *waiter) {
	q := p.waiting[w.key.Org]
	for i, x := range q {
		if x == w {
			q = append(q[:i], q[i+1:]...)
			break
		}
	}
	if len(q) == 0 {
		delete(p.waiting, w.key.Org)
	} else {
		p.waiting[w.key.Org] = q
	}
	p.nWaiting--
	p.waitOf[class(w.key)]--
}

// scanLimit bounds how far into one organisation's queue a grant looks for a waiter whose
// endpoint and host have room, so a release costs O(organisations waiting), not O(waiters).
const scanLimit = 64

// grant hands free slots to waiters: each time to the waiting organisation holding the fewest
// slots, and in it to the first waiter (in arrival order) that fits.
func (p *Pool) grant() {
	for p.inUse < p.limits.Total && p.nWaiting > 0 {
		var best *waiter
		bestHeld := 0
		for org, q := range p.waiting {
			held := p.byOrg[org]
			if best != nil && held >= bestHeld {
				continue
			}
			for _, w := range q[:min(len(q), scanLimit)] {
				if p.fits(w.key) {
					best, bestHeld = w, held
					break
				}
			}
		}
		if best == nil {
			return
		}
		p.remove(best)
		p.take(best.key)
		best.granted = true
		close(best.ready)
	}
}

// Slowed lowers an endpoint's bound after it answered 429 or 503: halved, down to one send at a
// time, until successes raise it again.
func (p *Pool) Slowed(endpoint string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.epLimit[endpoint] = max(1, p.endpointLimit(endpoint)/2)
}

// Succeeded raises a lowered bound by one per success, back to PerEndpoint.
func (p *Pool) Succeeded(endpoint string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.epLimit[endpoint]
	if !ok {
		return
	}
	if l+1 >= p.limits.PerEndpoint {
		delete(p.epLimit, endpoint)
	} else {
		p.epLimit[endpoint] = l + 1
	}
	p.grant()
}

// EndpointLimit is an endpoint's current bound.
func (p *Pool) EndpointLimit(endpoint string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.endpointLimit(endpoint)
}

// Stats are the slots in use and the sends waiting for one.
func (p *Pool) Stats() (inUse, waiting int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse, p.nWaiting
}
