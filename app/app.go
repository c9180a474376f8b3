// Package app is the composition root's shared floor: it builds the logger, the store and the
// Temporal client from the configuration, serves HTTP with timeouts and graceful shutdown, and
// runs a process until its context ends. app/apiserver and app/worker wire the two processes on
// it; cmd/api and cmd/worker call them from main, and the end-to-end tests call the same
// functions, so what they test is what ships.
package app

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/smithy-go/middleware"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/contrib/instrumentation/github.com/aws/aws-sdk-go-v2/otelaws"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"

	"github.com/pcx/publicservice/internal/config"
	"github.com/pcx/publicservice/internal/logs"
	"github.com/pcx/publicservice/internal/metrics"
	"github.com/pcx/publicservice/internal/secretbox"
	"github.com/pcx/publicservice/internal/tracing"
	"github.com/pcx/publicservice/store"
)

// Version is reported in logs and the webhook User-Agent; set at build time with
// -ldflags "-X github.com/pcx/publicservice/app.Version=...".
var Version = "dev"

// BuildVersion is Version, or for a binary built without it (go run, go install) the module
// version or VCS revision Go stamped into it, so every binary says what it is.
func BuildVersion() string {
	if Version != "dev" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Version
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			return "dev-" + s.Value[:12]
		}
	}
	return Version
}

// setTimeFormat sets zerolog's process-wide timestamp format once (tests build many loggers
// concurrently).
var setTimeFormat sync.Once

// NewLogger returns the JSON logger of a binary.
func NewLogger(w io.Writer, level, service string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || lvl == zerolog.NoLevel {
		return zerolog.Nop(), fmt.Errorf("config: LOG_LEVEL %q is not one of trace, debug, info, warn, error", level)
	}
	setTimeFormat.Do(func() { zerolog.TimeFieldFormat = time.RFC3339Nano })
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("service", service).Logger(), nil
}

// Main is the whole of a binary's main: it reads the configuration from the environment, builds
// the logger and the process's tracing (internal/tracing: from the OTEL_* variables, flushed at
// exit), and runs until SIGINT or SIGTERM, then returns the exit code. Errors (a bad
// configuration above all) go to stderr naming what is wrong.
func Main(service string, run func(ctx context.Context, cfg config.Config, log zerolog.Logger, l Listening) error) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := func() error {
		cfg, err := config.Load(os.Environ())
		if err != nil {
			return err
		}
		log, err := NewLogger(os.Stderr, cfg.LogLevel, service)
		if err != nil {
			return err
		}
		shutdown, err := tracing.Setup(ctx, service, BuildVersion(), log)
		if err != nil {
			return err
		}
		defer flushTraces(shutdown, log)
		return run(ctx, cfg, log, nil)
	}()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
		return 1
	}
	return 0
}

// flushTraces exports the spans still buffered when the process ends, waiting at most
// traceFlushTimeout: a collector that is down must not hold up a shutdown.
func flushTraces(shutdown func(context.Context) error, log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), traceFlushTimeout)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		log.Warn().Err(err).Msg("flushing traces at exit failed")
	}
}

const traceFlushTimeout = 5 * time.Second

// Deps are what both processes connect to: the store, the Temporal client (whose SDK metrics
// land on the process's registry) and that registry.
type Deps struct {
	Store    *store.Store
	Temporal client.Client
	Metrics  *metrics.Metrics
}

// Connect checks the secrets and connects to DynamoDB and Temporal.
func Connect(ctx context.Context, cfg config.Config, log zerolog.Logger) (Deps, error) {
	if _, err := cfg.SecretsKeys(); err != nil {
		return Deps{}, err
	}
	m := metrics.New()
	m.SetBuild(BuildVersion())
	apiOptions := []func(*middleware.Stack) error{m.DynamoDBMiddleware()}
	if tracing.On() {
		otelaws.AppendMiddlewares(&apiOptions) // a span per DynamoDB call, under the request's or activity's
	}
	st, err := NewStore(ctx, cfg, apiOptions...)
	if err != nil {
		return Deps{}, err
	}
	tc, err := NewTemporalClient(cfg, log, m)
	if err != nil {
		return Deps{}, err
	}
	return Deps{Store: st, Temporal: tc, Metrics: m}, nil
}

// NewStore connects to DynamoDB. It does not check the table exists: readiness does. apiOptions
// go into the client's middleware stacks (the process's DynamoDB metrics and spans).
func NewStore(ctx context.Context, cfg config.Config, apiOptions ...func(*middleware.Stack) error) (*store.Store, error) {
	db, err := store.NewClient(ctx, store.ClientOptions{Region: cfg.AWSRegion, Endpoint: cfg.DynamoDBEndpoint, APIOptions: apiOptions})
	if err != nil {
		return nil, fmt.Errorf("dynamodb client: %w", err)
	}
	var box store.SecretBox
	if cfg.WebhookSecretsKeys != "" {
		keys, err := cfg.SecretsKeys()
		if err != nil {
			return nil, err
		}
		if box, err = secretbox.New(keys); err != nil {
			return nil, err
		}
	}
	return store.New(db, cfg.DynamoDBTable, box), nil
}

// NewTemporalClient returns a client that connects on first use, so a binary starts (and answers
// /healthz, and 503 where it needs Temporal) while Temporal is down, and recovers by itself.
// The SDK's metrics go to m. Its tracing interceptor serves the workers made from it too, so the
// api's workflow starts and the worker's workflows and activities are one trace.
func NewTemporalClient(cfg config.Config, log zerolog.Logger, m *metrics.Metrics) (client.Client, error) {
	traces, err := tracing.TemporalInterceptor()
	if err != nil {
		return nil, fmt.Errorf("temporal tracing: %w", err)
	}
	c, err := client.NewLazyClient(client.Options{
		HostPort:       cfg.TemporalAddress,
		Namespace:      cfg.TemporalNamespace,
		Logger:         logs.TemporalLogger(log),
		MetricsHandler: m.TemporalHandler(),
		Interceptors:   []interceptor.ClientInterceptor{traces},
	})
	if err != nil {
		return nil, fmt.Errorf("temporal client: %w", err)
	}
	return c, nil
}

// TemporalCheck is a readiness check of the Temporal frontend.
func TemporalCheck(c client.Client) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		_, err := c.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	}
}
