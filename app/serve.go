package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/pcx/publicservice/internal/logs"

	"github.com/rs/zerolog"
)

// Listening reports the addresses a binary listens on once it serves (tests start on port 0).
type Listening func(public, internal string)

// NewHTTPServer returns a server with timeouts on every phase, so a slow or idle client cannot
// hold a connection forever, and a 16 KiB header limit (larger headers get 431).
func NewHTTPServer(h http.Handler, requestTimeout time.Duration) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      requestTimeout + 10*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

// ServerOn is a server and the listener it serves.
type ServerOn struct {
	Srv *http.Server
	Ln  net.Listener
}

// Stop says how Serve shuts down: it calls Begin (readiness fails from then on), keeps serving
// for Drain so a load balancer stops sending first, then closes the listeners and lets in-flight
// requests finish within the rest of Grace. Drain is part of Grace.
type Stop struct {
	Grace, Drain time.Duration
	Begin        func()
}

// Serve runs the servers until ctx ends or one fails, then shuts them all down as stop says
// (a failed server skips the drain).
func Serve(ctx context.Context, stop Stop, log zerolog.Logger, servers ...ServerOn) error {
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			if err := s.Srv.Serve(s.Ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	var err error
	var begun time.Time // the grace runs from here
	select {
	case <-ctx.Done():
		begun = time.Now()
		if stop.Begin != nil {
			stop.Begin()
		}
		if stop.Drain > 0 {
			log.Info().Float64("drain_ms", logs.Ms(stop.Drain)).Msg("shutting down: not ready, still serving while load balancers stop sending")
			t := time.NewTimer(stop.Drain)
			select {
			case <-t.C:
			case err = <-errc:
				log.Error().Err(err).Msg("server failed")
			}
			t.Stop()
		}
		log.Info().Msg("shutting down: finishing in-flight requests")
	case err = <-errc:
		begun = time.Now()
		log.Error().Err(err).Msg("server failed")
	}
	sctx, cancel := context.WithDeadline(context.Background(), begun.Add(stop.Grace))
	defer cancel()
	for _, s := range servers {
		if serr := s.Srv.Shutdown(sctx); serr != nil && err == nil {
			err = fmt.Errorf("shutdown: %w", serr)
		}
	}
	return err
}
