// Command worker runs the webhook delivery workflows and activities on Temporal, apart from the
// API so the two scale separately. Configuration comes from the environment; see the README.
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
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, environ []string) error {
	cfg, err := config.Load(environ)
	if err != nil {
		return err
	}
	log, err := app.NewLogger(os.Stderr, cfg.LogLevel, "worker")
	if err != nil {
		return err
	}
	return app.RunWorker(ctx, cfg, log, nil)
}
