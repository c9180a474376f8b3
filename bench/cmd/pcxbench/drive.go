package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pcx/publicservice/harness"
)

// Dist summarises durations in milliseconds.
type Dist = harness.Dist

func dist(ds []time.Duration) Dist { return harness.DistOf(ds) }

func ms(d time.Duration) float64 { return harness.Ms(d) }

// durations collects durations from many goroutines.
type durations struct {
	mu sync.Mutex
	ds []time.Duration
}

func (d *durations) add(x time.Duration) {
	d.mu.Lock()
	d.ds = append(d.ds, x)
	d.mu.Unlock()
}

func (d *durations) dist() Dist {
	d.mu.Lock()
	defer d.mu.Unlock()
	return dist(d.ds)
}

// cpuSampler, when set, snapshots the CPU time of every process; loops record each process's
// share over their measured window.
var cpuSampler func() cpuSnapshot

func cpuStart() (snap cpuSnapshot, ok bool) {
	if cpuSampler == nil {
		return cpuSnapshot{}, false
	}
	return cpuSampler(), true
}

func cpuSince(a cpuSnapshot, ok bool) map[string]float64 {
	if !ok || cpuSampler == nil {
		return nil
	}
	return cpuShare(a, cpuSampler())
}

// errStalled: no progress for the stall bound.
var errStalled = errors.New("stalled")

// loopSpec is a closed-loop load: slots events in flight, each slot starting a new event when
// its previous one is complete.
type loopSpec struct {
	slots        int
	warmup       time.Duration
	window       time.Duration
	drain        time.Duration // bound on waiting for the events in flight after the window
	stall        time.Duration // no progress for this long ends the run with an error
	eventTimeout time.Duration // bound on one event's completion
	// start starts one event and returns a wait for its completion (deliveries it made).
	start func(ctx context.Context) (wait func(ctx context.Context) (int64, error), err error)
	// progress is the number of deliveries so far (measured where they land).
	progress func() int64
}

// LoopResult is what a closed loop measured.
type LoopResult struct {
	Slots            int     `json:"slots"`
	WarmupSeconds    float64 `json:"warmup_s"`
	WindowSeconds    float64 `json:"window_s"`
	WindowDeliveries int64   `json:"window_deliveries"`
	PerSecond        float64 `json:"deliveries_per_s"`
	EventsPerSecond  float64 `json:"events_per_s"`
	EventsStarted    int64   `json:"events_started"`
	EventsCompleted  int64   `json:"events_completed"`
	EventsIncomplete int64   `json:"events_incomplete"`
	StartErrors      int64   `json:"start_errors"`
	LastStartError   string  `json:"last_start_error,omitempty"`
	EventTime        Dist    `json:"event_time"` // start (202) to complete
	DrainSeconds     float64 `json:"drain_s"`
	Duplicates       int64   `json:"duplicates,omitempty"`
	// CPU is each process's CPU over the window, in percent of one core.
	CPU map[string]float64 `json:"cpu_pct_of_one_core,omitempty"`
}

// runLoop runs a closed loop: warm-up, measured window, then a bounded drain of what is in
// flight. It returns an error if progress stalls or the drain does not finish.
func runLoop(ctx context.Context, sp loopSpec) (LoopResult, error) {
	res := LoopResult{Slots: sp.slots, WarmupSeconds: sp.warmup.Seconds()}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	issuing := atomic.Bool{}
	issuing.Store(true)
	var started, completed, incomplete, startErrs, windowEvents atomic.Int64
	var inWindow atomic.Bool
	var lastErr atomic.Value
	var times durations
	var wg sync.WaitGroup
	for range sp.slots {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for issuing.Load() && runCtx.Err() == nil {
				t0 := time.Now()
				wait, err := sp.start(runCtx)
				if err != nil {
					if runCtx.Err() != nil {
						return
					}
					startErrs.Add(1)
					lastErr.Store(err.Error())
					sleepCtx(runCtx, 100*time.Millisecond)
					continue
				}
				started.Add(1)
				ectx, ecancel := context.WithTimeout(runCtx, sp.eventTimeout)
				_, err = wait(ectx)
				ecancel()
				if err != nil {
					incomplete.Add(1)
					lastErr.Store("event: " + err.Error())
					continue
				}
				completed.Add(1)
				if inWindow.Load() {
					windowEvents.Add(1)
				}
				times.add(time.Since(t0))
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	// Stall watch: the deliveries counter must move while events are in flight.
	go func() {
		last, lastMove := sp.progress(), time.Now()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-done:
				return
			case <-t.C:
				if p := sp.progress(); p != last {
					last, lastMove = p, time.Now()
				} else if time.Since(lastMove) > sp.stall {
					cancel(fmt.Errorf("%w: no delivery for %s", errStalled, sp.stall))
					return
				}
			}
		}
	}()

	fail := func(err error) (LoopResult, error) {
		issuing.Store(false)
		cancel(err)
		<-done
		res.EventsStarted, res.EventsCompleted, res.EventsIncomplete, res.StartErrors = started.Load(), completed.Load(), incomplete.Load(), startErrs.Load()
		if v, ok := lastErr.Load().(string); ok {
			res.LastStartError = v
		}
		return res, err
	}
	if !sleepCtx(runCtx, sp.warmup) {
		return fail(context.Cause(runCtx))
	}
	p0, t0 := sp.progress(), time.Now()
	c0, cok := cpuStart()
	inWindow.Store(true)
	if !sleepCtx(runCtx, sp.window) {
		return fail(context.Cause(runCtx))
	}
	p1, t1 := sp.progress(), time.Now()
	res.CPU = cpuSince(c0, cok)
	inWindow.Store(false)
	issuing.Store(false)
	res.WindowSeconds = t1.Sub(t0).Seconds()
	res.WindowDeliveries = p1 - p0
	res.PerSecond = float64(res.WindowDeliveries) / res.WindowSeconds
	res.EventsPerSecond = float64(windowEvents.Load()) / res.WindowSeconds

	drainStart := time.Now()
	var err error
	select {
	case <-done:
	case <-time.After(sp.drain):
		err = fmt.Errorf("events in flight not complete %s after the window", sp.drain)
	case <-runCtx.Done():
		err = context.Cause(runCtx)
	}
	res.DrainSeconds = time.Since(drainStart).Seconds()
	cancel(err)
	<-done
	res.EventsStarted, res.EventsCompleted, res.EventsIncomplete, res.StartErrors = started.Load(), completed.Load(), incomplete.Load(), startErrs.Load()
	if v, ok := lastErr.Load().(string); ok {
		res.LastStartError = v
	}
	res.EventTime = times.dist()
	return res, err
}

// sleepCtx sleeps d or until ctx ends; it reports whether the whole d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// RateResult is a fixed-concurrency request loop's outcome.
type RateResult struct {
	Concurrency   int     `json:"concurrency"`
	WindowSeconds float64 `json:"window_s"`
	Requests      int64   `json:"requests"`
	PerSecond     float64 `json:"per_s"`
	Errors        int64   `json:"errors"`
	LastError     string  `json:"last_error,omitempty"`
	Latency       Dist    `json:"latency"`
	// CPU is each process's CPU over the window, in percent of one core.
	CPU map[string]float64 `json:"cpu_pct_of_one_core,omitempty"`
	raw []time.Duration
}

// runRate runs conc goroutines calling op back to back; after warmup it counts the successful
// calls that complete within window and their latencies.
func runRate(ctx context.Context, conc int, warmup, window time.Duration, op func(ctx context.Context) error) (RateResult, error) {
	res := RateResult{Concurrency: conc}
	var measuring atomic.Bool
	stop := atomic.Bool{}
	var ok, errs atomic.Int64
	var lastErr atomic.Value
	lat := make([][]time.Duration, conc)
	var wg sync.WaitGroup
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for g := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && rctx.Err() == nil {
				t0 := time.Now()
				err := op(rctx)
				d := time.Since(t0)
				if !measuring.Load() {
					continue
				}
				if err != nil {
					if rctx.Err() == nil {
						errs.Add(1)
						lastErr.Store(err.Error())
					}
					continue
				}
				ok.Add(1)
				lat[g] = append(lat[g], d)
			}
		}()
	}
	if !sleepCtx(ctx, warmup) {
		stop.Store(true)
		wg.Wait()
		return res, ctx.Err()
	}
	measuring.Store(true)
	t0 := time.Now()
	c0, cok := cpuStart()
	sleepCtx(ctx, window)
	measuring.Store(false)
	res.CPU = cpuSince(c0, cok)
	res.WindowSeconds = time.Since(t0).Seconds()
	stop.Store(true)
	// Requests in flight finish by themselves (each is bounded by its client's timeout).
	wg.Wait()
	res.Requests, res.Errors = ok.Load(), errs.Load()
	res.PerSecond = float64(res.Requests) / res.WindowSeconds
	if v, ok := lastErr.Load().(string); ok {
		res.LastError = v
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	res.Latency = dist(all)
	res.raw = all
	return res, ctx.Err()
}

// OpenResult is an open-loop (fixed arrival rate) run.
type OpenResult struct {
	Rate      float64 `json:"rate_per_s"`
	Seconds   float64 `json:"duration_s"`
	Sent      int64   `json:"sent"`
	Completed int64   `json:"completed"`
	Errors    int64   `json:"errors"`
	LastError string  `json:"last_error,omitempty"`
	Latency   Dist    `json:"latency"`
	// CPU is each process's CPU while sending, in percent of one core.
	CPU map[string]float64 `json:"cpu_pct_of_one_core,omitempty"`
}

// runOpen fires op at a fixed rate for d; each op returns the latency it measured. It waits for
// the ops in flight at most grace after the end.
func runOpen(ctx context.Context, rate float64, d, grace time.Duration, op func(ctx context.Context) (time.Duration, error)) (OpenResult, error) {
	res := OpenResult{Rate: rate, Seconds: d.Seconds()}
	octx, cancel := context.WithTimeout(ctx, d+grace)
	defer cancel()
	var sent, okN, errs atomic.Int64
	var lastErr atomic.Value
	var lat durations
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	c0, cok := cpuStart()
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d {
			break
		}
		if !sleepCtx(ctx, time.Until(at)) {
			break
		}
		sent.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := op(octx)
			if err != nil {
				errs.Add(1)
				lastErr.Store(err.Error())
				return
			}
			okN.Add(1)
			lat.add(l)
		}()
	}
	res.CPU = cpuSince(c0, cok)
	wg.Wait()
	res.Sent, res.Completed, res.Errors = sent.Load(), okN.Load(), errs.Load()
	if v, ok := lastErr.Load().(string); ok {
		res.LastError = v
	}
	res.Latency = lat.dist()
	return res, ctx.Err()
}
