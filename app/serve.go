package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

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

// Serve runs the servers until ctx ends or one fails, then shuts them all down within grace.
func Serve(ctx context.Context, grace time.Duration, log zerolog.Logger, servers ...ServerOn) error {
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			if err := s.Srv.Serve(s.Ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
		log.Info().Msg("shutting down: finishing in-flight requests")
	case err = <-errc:
		log.Error().Err(err).Msg("server failed")
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	for _, s := range servers {
		if serr := s.Srv.Shutdown(sctx); serr != nil && err == nil {
			err = fmt.Errorf("shutdown: %w", serr)
		}
	}
	return err
}
