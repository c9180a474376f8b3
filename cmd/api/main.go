// Command api serves the PCX Public Service HTTP API: API-key authentication and management,
// webhook endpoints, and notify, which starts the delivery workflows the worker runs.
// Configuration comes from the environment; see the README.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/pcx/publicservice/internal/app"
	"github.com/pcx/publicservice/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Environ()); err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, environ []string) error {
	cfg, err := config.Load(environ)
	if err != nil {
		return err
	}
	log, err := app.NewLogger(os.Stderr, cfg.LogLevel, "api")
	if err != nil {
		return err
	}
	return app.RunAPI(ctx, cfg, log, nil)
}
