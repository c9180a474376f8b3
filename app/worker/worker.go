// Package worker wires the delivery worker process: a Temporal worker running the webhook
// workflows and their activities, and a health listener; it never links the public HTTP API.
package worker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/app"
	"github.com/pcx/publicservice/internal/config"
	"github.com/pcx/publicservice/internal/health"
	"github.com/pcx/publicservice/internal/netguard"
	"github.com/pcx/publicservice/internal/tracing"
	"github.com/pcx/publicservice/service/starter"
	"github.com/pcx/publicservice/service/webhooks"
	"github.com/pcx/publicservice/workflows"
)

// Run runs the webhook worker until ctx ends, then stops polling and lets in-flight
// deliveries finish within SHUTDOWN_TIMEOUT. It serves /healthz and /readyz on WORKER_HTTP_ADDR.
// When Temporal is unreachable it waits for it instead of exiting, so a restart of Temporal
// needs no restart of the workers.
func Run(ctx context.Context, cfg config.Config, log zerolog.Logger, listening app.Listening) error {
	if err := cfg.WorkerStopCoversAttempt(); err != nil {
		return err
	}
	if err := cfg.OpsListenerGuarded("WORKER_HTTP_ADDR", cfg.WorkerHTTPAddr); err != nil {
		return err
	}
	deps, err := app.Connect(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer deps.Temporal.Close()
	st, tc, m := deps.Store, deps.Temporal, deps.Metrics
	httpClient, err := DeliveryClient(cfg)
	if err != nil {
		return err
	}
	if allowed, err := cfg.AllowedCIDRs(); err == nil { // DeliveryClient has refused a bad one
		app.LogExemptions(log, allowed)
	}
	acts := activities.New(activities.Activities{
		Store: st, Recoveries: st, Client: httpClient, Log: log, Schedule: cfg.WebhookRetrySchedule,
		Retention: cfg.EventRetention, AuditRetention: cfg.AuditRetention, UserAgent: "PCX-Webhooks/" + app.Version, Metrics: m,
		MaxInFlight: cfg.WorkerConcurrency, EndpointConcurrency: cfg.WebhookEndpointConcurrency, HostConcurrency: cfg.WebhookHostConcurrency,
		BreakerFailures: cfg.WebhookBreakerFailures, DisableAfter: cfg.WebhookDisableAfter,
		Emitter: emitter{&webhooks.Service{
			Store: st, Starter: &starter.Starter{Client: tc, TaskQueue: cfg.TemporalTaskQueue},
			Log: log, Retention: cfg.EventRetention,
		}},
	})

	mux := http.NewServeMux()
	checks := []health.Check{{Name: "dynamodb", Fn: st.Ping}, {Name: "temporal", Fn: app.TemporalCheck(tc)}}
	mux.Handle("/", tracing.Untraced(health.Handler(log, checks, m))) // probes start no traces
	ln, err := net.Listen("tcp", cfg.WorkerHTTPAddr)
	if err != nil {
		return fmt.Errorf("listen WORKER_HTTP_ADDR %s: %w", cfg.WorkerHTTPAddr, err)
	}
	srv := app.NewHTTPServer(app.GuardOps(app.WithPprof(mux, cfg.DebugPprof), cfg.MetricsToken), cfg.RequestTimeout)
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	if listening != nil {
		listening(ln.Addr().String(), "")
	}

	for attempt := 0; ; attempt++ {
		if err := waitForTemporal(ctx, tc, log); err != nil {
			return nil // ctx ended while waiting: a clean stop
		}
		EnsureSearchAttributes(ctx, tc, cfg.TemporalNamespace, log)
		w := sdkworker.New(tc, cfg.TemporalTaskQueue, SDKOptions(Options{
			MaxConcurrentActivities: cfg.WorkerConcurrency, StopTimeout: cfg.ShutdownTimeout,
		}))
		workflows.Register(w, acts)
		log.Info().Str("task_queue", cfg.TemporalTaskQueue).Str("version", app.BuildVersion()).Msg("worker polling")
		err := w.Run(interruptOn(ctx))
		if ctx.Err() != nil {
			log.Info().Msg("worker stopped")
			return nil
		}
		log.Error().Err(err).Msg("worker stopped unexpectedly; restarting")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(min(time.Duration(attempt+1)*time.Second, 10*time.Second)):
		}
	}
}

// emitter lets the activities emit operational events through the service that accepts every
// event (stored, then its workflow started), without their importing it: the service starts the
// workflows that run them.
type emitter struct{ s *webhooks.Service }

func (e emitter) Emit(ctx context.Context, org, eventType string, data []byte) error {
	_, err := e.s.Emit(ctx, org, eventType, data)
	return err
}

// interruptOn adapts a context to the channel the SDK's Run waits on.
func interruptOn(ctx context.Context) <-chan any {
	ch := make(chan any, 1)
	go func() { <-ctx.Done(); ch <- struct{}{} }()
	return ch
}

// waitForTemporal returns once Temporal answers, or ctx's error.
func waitForTemporal(ctx context.Context, tc client.Client, log zerolog.Logger) error {
	for i := 0; ; i++ {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		_, err := tc.CheckHealth(cctx, &client.CheckHealthRequest{})
		cancel()
		if err == nil {
			return nil
		}
		if i%10 == 0 {
			log.Warn().Err(err).Msg("waiting for Temporal")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// DeliveryClient is the hardened HTTP client deliveries are sent with.
func DeliveryClient(cfg config.Config) (*http.Client, error) {
	allowed, err := cfg.AllowedCIDRs()
	if err != nil {
		return nil, err
	}
	pool, err := netguard.LoadCAFile(cfg.WebhookCAFile)
	if err != nil {
		return nil, fmt.Errorf("WEBHOOK_CA_FILE: %w", err)
	}
	return netguard.NewHTTPClient(netguard.NewPolicy(allowed, nil), netguard.ClientOptions{
		Timeout: cfg.WebhookTimeout, RootCAs: pool, MaxIdleConnsPerHost: 64,
	}), nil
}

// EnsureSearchAttributes registers the custom search attributes the workflows carry, when they
// are missing (the dev server and the compose setup register them already; a bare cluster may
// not). Failures are logged, not fatal: workflows still run, only UI search by them would not.
func EnsureSearchAttributes(ctx context.Context, tc client.Client, namespace string, log zerolog.Logger) {
	want := map[string]enums.IndexedValueType{
		"PcxOrgId": enums.INDEXED_VALUE_TYPE_KEYWORD, "PcxEventId": enums.INDEXED_VALUE_TYPE_KEYWORD,
		"PcxEventType": enums.INDEXED_VALUE_TYPE_KEYWORD,
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	list, err := tc.OperatorService().ListSearchAttributes(cctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		log.Warn().Err(err).Msg("listing search attributes failed")
		return
	}
	missing := map[string]enums.IndexedValueType{}
	for name, typ := range want {
		if _, ok := list.GetCustomAttributes()[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) == 0 {
		return
	}
	_, err = tc.OperatorService().AddSearchAttributes(cctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Warn().Err(err).Msg("registering search attributes failed")
		return
	}
	log.Info().Int("count", len(missing)).Msg("registered search attributes")
}
