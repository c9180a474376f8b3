// Command worker runs the webhook delivery workflows and activities on Temporal, apart from the
// API so the two scale separately. It serves /healthz, /readyz and /metrics on WORKER_HTTP_ADDR.
// Configuration comes from the environment; see the README.
package main

import (
	"os"

	"github.com/pcx/publicservice/app"
	"github.com/pcx/publicservice/app/worker"
)

func main() { os.Exit(app.Main("worker", worker.Run)) }
