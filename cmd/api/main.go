// Command api serves the PCX Public Service HTTP API: API-key authentication and management,
// webhook endpoints, and notify, which starts the delivery workflows the worker runs; and, on the
// internal listener, transaction updates from other PCX services and /metrics. Configuration
// comes from the environment; see the README.
package main

import (
	"os"

	"github.com/pcx/publicservice/app"
	"github.com/pcx/publicservice/app/apiserver"
)

func main() { os.Exit(app.Main("api", apiserver.Run)) }
