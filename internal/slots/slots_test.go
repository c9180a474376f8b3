package slots

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func key(org, ep string) Key { return Key{Org: org, Endpoint: org + "/" + ep, Host: org + ".example"} }

// take acquires without waiting long; it fails the test if no slot comes.
func take(t *testing.T, p *Pool, k Key) func() {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	release, ok := p.Acquire(ctx, k, false)
	if !ok {
		t.Fatalf("no slot for %+v", k)
	}
	return release
}

// refused reports whether k gets no slot within a short wait.
func refused(p *Pool, k Key) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	release, ok := p.Acquire(ctx, k, false)
	if ok {
		release()
	}
	return !ok
}

func TestBoundsHoldUnderConcurrency(t *testing.T) {
	p := New(Limits{Total: 10, PerEndpoint: 2, PerHost: 4})
	var mu sync.Mutex
	total, byEP, byHost := 0, map[string]int{}, map[string]int{}
	var violations atomic.Int64
	var wg sync.WaitGroup
	for i := range 400 {
		wg.Go(func() {
			org := fmt.Sprintf("org%d", i%5)
			k := Key{Org: org, Endpoint: fmt.Sprintf("ep%d", i%7), Host: fmt.Sprintf("h%d", i%3), Retry: i%2 == 0}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			release, ok := p.Acquire(ctx, k, false)
			if !ok {
				violations.Add(1) // every waiter gets a slot in time here
				return
			}
			mu.Lock()
			total++
			byEP[k.Endpoint]++
			byHost[k.Host]++
			if total > 10 || byEP[k.Endpoint] > 2 || byHost[k.Host] > 4 {
				violations.Add(1)
			}
			mu.Unlock()
			time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
			mu.Lock()
			total--
			byEP[k.Endpoint]--
			byHost[k.Host]--
			mu.Unlock()
			release()
		})
	}
	wg.Wait()
	if n := violations.Load(); n != 0 {
		t.Fatalf("%d bound violations or starved waiters", n)
	}
	if inUse, waiting := p.Stats(); inUse != 0 || waiting != 0 || len(p.byOrg)+len(p.byEP)+len(p.byHost)+len(p.waiting) != 0 {
		t.Fatalf("after all released: %d in use, %d waiting, maps %d %d %d %d", inUse, waiting, len(p.byOrg), len(p.byEP), len(p.byHost), len(p.waiting))
	}
}

// TestNoisyOrganisationLeavesRoomForOthers: an organisation whose sends hang takes at most four
// fifths of the slots alone, so another finds one at once; once both are active, freed slots go
// to the one holding fewer, up to an even split.
func TestNoisyOrganisationLeavesRoomForOthers(t *testing.T) {
	p := New(Limits{Total: 10, PerEndpoint: 20, PerHost: 50})
	var held []func()
	for i := range 8 {
		held = append(held, take(t, p, key("noisy", fmt.Sprint(i))))
	}
	if !refused(p, key("noisy", "more")) {
		t.Fatal("the noisy organisation took a ninth slot of ten alone")
	}
	quiet := take(t, p, key("quiet", "a")) // at once: the noisy one cannot have the last two
	// Both active: shares of 5. Four more quiet sends and four noisy ones: the first quiet one
	// takes the last free slot, the rest queue.
	got := make(chan func(), 8)
	acquire := func(k Key) {
		if release, ok := p.Acquire(context.Background(), k, false); ok {
			got <- release
		}
	}
	for i := range 4 {
		go acquire(key("quiet", fmt.Sprint("b", i)))
		go acquire(key("noisy", fmt.Sprint("x", i)))
	}
	waitFor(t, func() bool { _, w := p.Stats(); return w == 7 })
	for _, r := range held[:4] { // four noisy sends time out
		r()
	}
	// Freed slots go first to the quiet organisation, which holds fewer, up to its share; the
	// noisy one gets what is left under its own.
	waitFor(t, func() bool { _, w := p.Stats(); return w == 3 })
	p.mu.Lock()
	q, n := p.byOrg["quiet"], p.byOrg["noisy"]
	p.mu.Unlock()
	if q != 5 || n != 5 {
		t.Fatalf("after the noisy organisation freed 4: quiet holds %d, noisy %d; want 5 and 5", q, n)
	}
	quiet()
	for _, r := range held[4:] {
		r()
	}
	for range 8 {
		(<-got)()
	}
}

func TestImpatientRetryIsRefusedAtItsShare(t *testing.T) {
	p := New(Limits{Total: 10, PerEndpoint: 20, PerHost: 50})
	for i := range 8 {
		take(t, p, key("a", fmt.Sprint(i)))
	}
	start := time.Now()
	if _, ok := p.Acquire(context.Background(), Key{Org: "a", Endpoint: "a/r", Host: "a.example", Retry: true}, true); ok {
		t.Fatal("an impatient retry over its organisation's share got a slot")
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("refusing took %v; want at once", d)
	}
	if _, ok := p.Acquire(context.Background(), Key{Org: "b", Endpoint: "b/r", Host: "b.example", Retry: true}, true); !ok {
		t.Fatal("another organisation's impatient retry was refused with slots free")
	}
}

// TestRetriesAndFirstAttemptsShare: with first attempts queued, retries still get a quarter of
// the slots, and the other way round.
func TestRetriesAndFirstAttemptsShare(t *testing.T) {
	p := New(Limits{Total: 8, PerEndpoint: 20, PerHost: 50})
	var held []func()
	for i := range 6 { // one org's first attempts, at its share
		held = append(held, take(t, p, Key{Org: "a", Endpoint: fmt.Sprint("a", i), Host: "h"}))
	}
	retry := make(chan bool, 1)
	go func() {
		release, ok := p.Acquire(context.Background(), Key{Org: "b", Endpoint: "b", Host: "h", Retry: true}, false)
		retry <- ok
		if ok {
			release()
		}
	}()
	select {
	case ok := <-retry:
		if !ok {
			t.Fatal("retry refused")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a retry waited behind first attempts with slots free")
	}
	for _, r := range held {
		r()
	}
}

func TestSlowedEndpointSendsLessUntilSuccessesReturn(t *testing.T) {
	p := New(Limits{Total: 100, PerEndpoint: 8, PerHost: 100})
	p.Slowed("ep")
	p.Slowed("ep")
	if l := p.EndpointLimit("ep"); l != 2 {
		t.Fatalf("after two 429s the bound is %d; want 8/2/2 = 2", l)
	}
	k := Key{Org: "o", Endpoint: "ep", Host: "h"}
	r1, r2 := take(t, p, k), take(t, p, k)
	if !refused(p, k) {
		t.Fatal("a third send to a slowed endpoint got a slot")
	}
	if !refused(p, Key{Org: "o", Endpoint: "ep", Host: "h", Retry: true}) {
		t.Fatal("a retry to a slowed endpoint got a slot")
	}
	if refused(p, Key{Org: "o", Endpoint: "other", Host: "h"}) {
		t.Fatal("another endpoint was slowed too")
	}
	r1()
	r2()
	for range 10 {
		p.Succeeded("ep")
	}
	if l := p.EndpointLimit("ep"); l != 8 || len(p.epLimit) != 0 {
		t.Fatalf("after successes the bound is %d (%d lowered kept); want 8", l, len(p.epLimit))
	}
	for range 10 {
		p.Slowed("ep")
	}
	if l := p.EndpointLimit("ep"); l != 1 {
		t.Fatalf("the bound goes down to one send at a time, not %d", l)
	}
}

func TestCancelledWaiterLeavesTheQueue(t *testing.T) {
	p := New(Limits{Total: 1, PerEndpoint: 1, PerHost: 1})
	r := take(t, p, key("a", "1"))
	if !refused(p, key("b", "1")) {
		t.Fatal("slot given twice")
	}
	if _, waiting := p.Stats(); waiting != 0 {
		t.Fatalf("%d waiting after the waiter gave up", waiting)
	}
	r()
	take(t, p, key("b", "1"))()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
