// Package apiserver wires the API process: the public and internal listeners over the use-case
// services, the authenticator's background last_used_at writes, and graceful shutdown.
package apiserver

import (
	"context"
	"fmt"
	"net"

	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/api"
	"github.com/pcx/publicservice/app"
	"github.com/pcx/publicservice/internal/config"
	"github.com/pcx/publicservice/internal/cursor"
	"github.com/pcx/publicservice/internal/health"
	"github.com/pcx/publicservice/internal/keyformat"
	"github.com/pcx/publicservice/internal/netguard"
	"github.com/pcx/publicservice/internal/ratelimit"
	"github.com/pcx/publicservice/service/apikeys"
	"github.com/pcx/publicservice/service/audit"
	"github.com/pcx/publicservice/service/starter"
	"github.com/pcx/publicservice/service/webhooks"
)

// Run serves the public API until ctx ends, then shuts down gracefully within
// SHUTDOWN_TIMEOUT: /readyz fails at once, it keeps serving for SHUTDOWN_DRAIN so load balancers
// stop sending, then stops accepting, lets in-flight requests finish, and returns.
func Run(ctx context.Context, cfg config.Config, log zerolog.Logger, listening app.Listening) error {
	peppers, err := cfg.Peppers()
	if err != nil {
		return err
	}
	if err := cfg.InternalTokenRequired(); err != nil {
		return err
	}
	if err := cfg.OpsListenerGuarded("INTERNAL_HTTP_ADDR", cfg.InternalHTTPAddr); err != nil {
		return err
	}
	allowed, err := cfg.AllowedCIDRs()
	if err != nil {
		return err
	}
	app.LogExemptions(log, allowed)
	deps, err := app.Connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer deps.Temporal.Close()
	st, tc, m := deps.Store, deps.Temporal, deps.Metrics

	hooks := &webhooks.Service{
		Store: st, Recoveries: st, Starter: &starter.Starter{Client: tc, TaskQueue: cfg.TemporalTaskQueue},
		URLs: netguard.NewPolicy(allowed, nil), Log: log, MaxEndpoints: cfg.WebhookMaxEndpoints,
		SecretGrace: cfg.WebhookSecretGrace, Retention: cfg.EventRetention, AuditRetention: cfg.AuditRetention,
		NotifyLimit: ratelimit.New(float64(cfg.OrgNotifyPerSecond), 2*float64(cfg.OrgNotifyPerSecond)),
		ReplayLimit: ratelimit.New(float64(cfg.OrgReplaysPerHour)/3600, float64(cfg.OrgReplaysPerHour)),
	}
	hasher := keyformat.NewHasher(peppers)
	auth := apikeys.NewAuthenticator(st, hasher, cfg.AuthCacheTTL, log)
	cursorKeys, err := cfg.CursorSigningKeys()
	if err != nil {
		return err
	}
	auth.StoreReads = ratelimit.New(float64(cfg.AuthUnknownReadsPerSecond), 2*float64(cfg.AuthUnknownReadsPerSecond))
	drain := &health.Drain{}
	handler := api.NewServer(api.Deps{
		Log:            log,
		Auth:           auth,
		AuthFailures:   api.NewFailureLimiter(cfg.AuthFailuresPerMinute),
		Keys:           &apikeys.Service{Store: st, Hasher: hasher, Auth: auth, AuditRetention: cfg.AuditRetention},
		Webhooks:       hooks,
		Audit:          &audit.Service{Store: st},
		Cursors:        cursor.NewSigner(cursorKeys[0], cursor.DefaultTTL, cursorKeys[1:]...),
		RequestTimeout: cfg.RequestTimeout,
		Metrics:        m,
		Ready: []health.Check{
			{Name: "dynamodb", Fn: st.Ping},
			{Name: "temporal", Fn: app.TemporalCheck(tc)},
		},
		Drain: drain,
	})

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	servers := []app.ServerOn{{Srv: app.NewHTTPServer(handler, cfg.RequestTimeout), Ln: ln}}
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
		servers = append(servers, app.ServerOn{Srv: app.NewHTTPServer(app.GuardOps(app.WithPprof(internal, cfg.DebugPprof), cfg.MetricsToken), cfg.RequestTimeout), Ln: iln})
		internalAddr = iln.Addr().String()
	}

	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	go auth.Run(bg)

	log.Info().Str("addr", ln.Addr().String()).Str("internal_addr", internalAddr).Str("version", app.BuildVersion()).Msg("api listening")
	if listening != nil {
		listening(ln.Addr().String(), internalAddr)
	}
	return app.Serve(ctx, app.Stop{Grace: cfg.ShutdownTimeout, Drain: cfg.ShutdownDrain, Begin: drain.Begin}, log, servers...)
}
