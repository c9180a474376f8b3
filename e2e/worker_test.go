package e2e

import (
	"time"

	"github.com/pcx/publicservice/harness"
)

// startWorker runs the worker in-process, exactly as cmd/worker does, until the test ends or
// stop is called.
func (e *env) startWorker() (stop func()) {
	e.t.Helper()
	return e.stopper("worker", e.runInProcess(harness.Worker, "worker", 60*time.Second), 60*time.Second)
}
