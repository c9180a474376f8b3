package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/api"
	"github.com/pcx/publicservice/internal/apikey"
	"github.com/pcx/publicservice/internal/config"
	"github.com/pcx/publicservice/internal/cursor"
	"github.com/pcx/publicservice/internal/keys"
	"github.com/pcx/publicservice/internal/netguard"
	"github.com/pcx/publicservice/internal/starter"
	"github.com/pcx/publicservice/internal/webhooks"
	"github.com/pcx/publicservice/store"
)

// Listening reports the addresses a binary listens on once it serves (tests start on port 0).
type Listening func(public, internal string)

// RunAPI serves the public API until ctx ends, then shuts down gracefully within
// SHUTDOWN_TIMEOUT: it stops accepting, lets in-flight requests finish, and returns.
func RunAPI(ctx context.Context, cfg config.Config, log zerolog.Logger, listening Listening) error {
	peppers, err := cfg.Peppers()
	if err != nil {
		return err
	}
	if err := cfg.InternalTokenRequired(); err != nil {
		return err
	}
	allowed, err := cfg.AllowedCIDRs()
	if err != nil {
		return err
	}
	deps, err := connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer deps.temporal.Close()
	st, tc, m := deps.store, deps.temporal, deps.metrics

	hooks := &webhooks.Service{
		Store: st, Starter: &starter.Starter{Client: tc, TaskQueue: cfg.TemporalTaskQueue},
		URLs: netguard.NewPolicy(allowed, nil), Log: log, MaxEndpoints: cfg.WebhookMaxEndpoints,
		SecretGrace: cfg.WebhookSecretGrace, Retention: cfg.EventRetention,
	}
	hasher := apikey.NewHasher(peppers)
	auth := keys.NewAuthenticator(st, hasher, cfg.AuthCacheTTL, log)
	_, pepper := peppers.Current()
	handler := api.NewServer(api.Deps{
		Log:            log,
		Auth:           auth,
		AuthFailures:   api.NewFailureLimiter(cfg.AuthFailuresPerMinute),
		Keys:           &keys.Service{Store: st, Hasher: hasher, IsPrefixTaken: isPrefixTaken},
		KeyStore:       st,
		Webhooks:       hooks,
		WebhookStore:   st,
		Cursors:        cursor.NewSigner(cursor.DeriveKey(pepper), cursor.DefaultTTL),
		RequestTimeout: cfg.RequestTimeout,
		Metrics:        m,
		Ready: []api.Check{
			{Name: "dynamodb", Fn: st.Ping},
			{Name: "temporal", Fn: TemporalCheck(tc)},
		},
	})

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	servers := []serverOn{{newHTTPServer(handler, cfg.RequestTimeout, log), ln}}
	internalAddr := ""
	if cfg.InternalHTTPAddr != "" {
		iln, err := net.Listen("tcp", cfg.InternalHTTPAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen INTERNAL_HTTP_ADDR %s: %w", cfg.InternalHTTPAddr, err)
		}
		internal := api.NewInternalServer(api.InternalDeps{
			Log: log.With().Str("listener", "internal").Logger(), Token: cfg.InternalToken,
			Webhooks: hooks, RequestTimeout: cfg.RequestTimeout, Metrics: m,
		})
		servers = append(servers, serverOn{newHTTPServer(withPprof(internal, cfg.DebugPprof), cfg.RequestTimeout, log), iln})
		internalAddr = iln.Addr().String()
	}

	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	go auth.Run(bg)

	log.Info().Str("addr", ln.Addr().String()).Str("internal_addr", internalAddr).Str("version", Version).Msg("api listening")
	if listening != nil {
		listening(ln.Addr().String(), internalAddr)
	}
	return serve(ctx, cfg.ShutdownTimeout, log, servers...)
}

func isPrefixTaken(err error) bool { return errors.Is(err, store.ErrPrefixTaken) }

// newHTTPServer returns a server with timeouts on every phase, so a slow or idle client cannot
// hold a connection forever, and a 16 KiB header limit (larger headers get 431).
func newHTTPServer(h http.Handler, requestTimeout time.Duration, log zerolog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      requestTimeout + 10*time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          nil,
	}
}

type serverOn struct {
	srv *http.Server
	ln  net.Listener
}

// serve runs the servers until ctx ends or one fails, then shuts them all down within grace.
func serve(ctx context.Context, grace time.Duration, log zerolog.Logger, servers ...serverOn) error {
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
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
		if serr := s.srv.Shutdown(sctx); serr != nil && err == nil {
			err = fmt.Errorf("shutdown: %w", serr)
		}
	}
	return err
}
