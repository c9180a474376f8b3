package e2e

import (
	"context"
	"time"

	"github.com/pcx/publicservice/app/worker"
)

// startWorker runs the worker in-process, exactly as cmd/worker does, until the test ends or
// stop is called.
func (e *env) startWorker() (stop func()) {
	e.t.Helper()
	cfg := e.config()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	log := e.logger("worker")
	go func() {
		done <- worker.Run(ctx, cfg, log, func(string, string) { close(ready) })
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		e.t.Fatalf("worker exited at start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		e.t.Fatal("worker did not start within 30s")
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			e.t.Error("worker did not stop within 60s")
		}
	}
	e.t.Cleanup(stop)
	return stop
}
