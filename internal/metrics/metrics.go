// Package metrics defines the service's Prometheus metrics in one place, so an operator reading
// docs/operations.md and a developer adding a counter look at the same list, and serves them.
package metrics

import (
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the service's own metrics, registered on one registry per process.
type Metrics struct {
	Registry *prometheus.Registry

	// BuildInfo is 1, labelled with the binary's version and Go version (SetBuild), so a
	// dashboard shows what runs where and a rollout is visible.
	BuildInfo *prometheus.GaugeVec // version, go_version

	HTTPRequests *prometheus.CounterVec   // server, route, method, status
	HTTPDuration *prometheus.HistogramVec // server, route, method
	AuthFailures *prometheus.CounterVec   // result: unauthenticated | rate_limited
	Events       *prometheus.CounterVec   // source: notify | transaction-update | replay

	Deliveries        *prometheus.CounterVec // outcome: delivered | failed | cancelled
	Attempts          *prometheus.CounterVec // result: success | http_status | timeout | ...
	AttemptDuration   prometheus.Histogram
	RetriesScheduled  prometheus.Counter
	EndpointsDisabled prometheus.Counter
	OrgMismatches     prometheus.Counter
	Undeliverable     prometheus.Counter   // deliveries failed without a send: the worker cannot sign for the endpoint
	SlotsInUse        prometheus.Gauge     // sends holding a slot (internal/slots)
	SlotsWaiting      prometheus.Gauge     // sends waiting for one
	SlotsLimit        prometheus.Gauge     // the slots there are: WORKER_CONCURRENCY
	SlotWait          prometheus.Histogram // how long sends waited for a slot, taken or not
	SlotTimeouts      prometheus.Counter   // waits that ended without a slot: the delivery went on unsent
	// DeliveryLatency is the time from an event's acceptance (its stored CreatedAt) to a
	// successful delivery's response, per delivery; attempt: first | retry.
	DeliveryLatency *prometheus.HistogramVec
	// Pending tracks the deliveries this worker left pending (pending.go), for
	// pcx_webhook_oldest_pending_delivery_seconds and pcx_webhook_pending_deliveries.
	Pending *Pending

	// DynamoDB calls by operation (dynamodb.go: DynamoDBMiddleware).
	DynamoDBRequests  *prometheus.CounterVec // operation
	DynamoDBRetries   *prometheus.CounterVec // operation
	DynamoDBThrottles *prometheus.CounterVec // operation, code
	DynamoDBErrors    *prometheus.CounterVec // operation, class

	// Endpoint health (contract §10).
	BreakersOpened    prometheus.Counter     // endpoints that became failing
	BreakerProbes     prometheus.Counter     // probe attempts sent to failing endpoints
	BreakerHeld       prometheus.Counter     // deliveries held back unsent behind a failing endpoint's probe
	OperationalEvents *prometheus.CounterVec // type, result: emitted | failed

	temporal *temporalRegistry
	own      []prometheus.Collector // the service's own collectors, for Names
}

// New registers the service's metrics and the Go and process collectors on a fresh registry.
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var own []prometheus.Collector
	f := func(c prometheus.Collector) { r.MustRegister(c); own = append(own, c) }
	m := &Metrics{
		Registry: r,
		Pending:  newPending(time.Now),
		temporal: &temporalRegistry{r: r, vecs: map[string]any{}},
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pcx_build_info", Help: "Always 1: the version and Go version of this binary.",
		}, []string{"version", "go_version"}),
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pcx_http_requests_total", Help: "HTTP requests by listener, route pattern, method and status.",
		}, []string{"server", "route", "method", "status"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pcx_http_request_duration_seconds", Help: "HTTP request latency by listener, route pattern and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"server", "route", "method"}),
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pcx_auth_failures_total", Help: "Requests refused for their API key (unauthenticated) or for too many failures (rate_limited).",
		}, []string{"result"}),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pcx_events_accepted_total", Help: "Events accepted for delivery (202), by source.",
		}, []string{"source"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pcx_webhook_deliveries_total", Help: "Final delivery outcomes: delivered, failed (schedule exhausted, 410, blocked, undeliverable) or cancelled (endpoint gone).",
		}, []string{"outcome"}),
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pcx_webhook_attempts_total", Help: "Delivery attempts by result: success, or the error class (http_status, timeout, connection, tls, redirect, gone, blocked).",
		}, []string{"result"}),
		AttemptDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pcx_webhook_attempt_duration_seconds", Help: "Time from sending a delivery to the endpoint's response headers (or failure).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30, 60},
		}),
		RetriesScheduled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pcx_webhook_retries_scheduled_total", Help: "Failed attempts that scheduled a retry.",
		}),
		EndpointsDisabled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pcx_webhook_endpoints_disabled_total", Help: "Endpoints disabled because they answered 410 Gone or failed with no success for WEBHOOK_DISABLE_AFTER.",
		}),
		OrgMismatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pcx_webhook_org_mismatches_total", Help: "Activities that refused an event because it belongs to another organisation than the workflow input names.",
		}),
		Undeliverable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pcx_webhook_undeliverable_total", Help: "Deliveries failed without a send because the worker cannot sign for the endpoint (its secret does not decrypt under WEBHOOK_SECRETS_KEYS, or its record cannot be read).",
		}),
		SlotsInUse: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pcx_webhook_send_slots_in_use", Help: "Sends in flight holding one of the worker's send slots (WORKER_CONCURRENCY).",
		}),
		SlotsWaiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pcx_webhook_send_slots_waiting", Help: "Sends waiting for a send slot: per worker, endpoint (WEBHOOK_ENDPOINT_CONCURRENCY) or host (WEBHOOK_HOST_CONCURRENCY) bounds, or the organisation's fair share.",
		}),
		SlotsLimit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pcx_webhook_send_slots_limit", Help: "The worker's send slots: WORKER_CONCURRENCY (0 in processes that send nothing).",
		}),
		SlotWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "pcx_webhook_send_slot_wait_seconds", Help: "How long sends waited for a send slot, whether they got one or not.",
			Buckets: []float64{0.001, 0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30},
		}),
		SlotTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pcx_webhook_send_slot_timeouts_total", Help: "Waits for a send slot that ended without one; the delivery was not sent and goes on later without using up an attempt.",
		}),
		DeliveryLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "pcx_webhook_delivery_latency_seconds", Help: "Time from an event's acceptance to its successful delivery's response, per delivery, by attempt: first or retry.",
			// From a prompt first attempt (tens of milliseconds) to the end of the retry schedule (days).
			Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 43200, 86400, 172800, 345600},
		}, []string{"attempt"}),
		DynamoDBRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pcx_dynamodb_requests_total", Help: "DynamoDB calls by operation (the SDK's retries of a call count once).",
		}, []string{"operation"}),
		DynamoDBRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pcx_dynamodb_retries_total", Help: "Attempts the AWS SDK made again within a DynamoDB call, by operation.",
		}, []string{"operation"}),
		DynamoDBThrottles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pcx_dynamodb_throttles_total", Help: "DynamoDB attempts answered ProvisionedThroughputExceeded, Throttling, RequestLimitExceeded or TransactionConflict (also as a transaction's cancellation reason), retried away or not, by operation and code.",
		}, []string{"operation", "code"}),
		DynamoDBErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pcx_dynamodb_errors_total", Help: "DynamoDB calls that ended in an error, by operation and class (throttled, conditional_check_failed, transaction_conflict, transaction_canceled, validation, resource_not_found, timeout, canceled, server, other). conditional_check_failed is the store's normal control flow.",
		}, []string{"operation", "class"}),
		BreakersOpened: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pcx_webhook_breakers_opened_total", Help: "Endpoints that became failing: WEBHOOK_BREAKER_FAILURES consecutive failed attempts.",
		}),
		BreakerProbes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pcx_webhook_breaker_probes_total", Help: "Probe attempts sent to failing endpoints, one at a time per endpoint.",
		}),
		BreakerHeld: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pcx_webhook_breaker_held_total", Help: "Delivery attempts held back unsent because their endpoint is failing and its probe was taken or not due.",
		}),
		OperationalEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pcx_operational_events_total", Help: "Operational events (pcx.endpoint.disabled, pcx.delivery.exhausted) by type and result: emitted, failed (logged; the delivery went on).",
		}, []string{"type", "result"}),
	}
	f(m.BreakersOpened)
	f(m.Pending)
	f(m.BreakerProbes)
	f(m.BreakerHeld)
	f(m.OperationalEvents)
	for _, c := range []prometheus.Collector{m.BuildInfo, m.HTTPRequests, m.HTTPDuration, m.AuthFailures, m.Events, m.Deliveries, m.Attempts, m.AttemptDuration, m.RetriesScheduled, m.EndpointsDisabled, m.OrgMismatches, m.Undeliverable, m.SlotsInUse, m.SlotsWaiting, m.SlotsLimit, m.SlotWait, m.SlotTimeouts, m.DeliveryLatency, m.DynamoDBRequests, m.DynamoDBRetries, m.DynamoDBThrottles, m.DynamoDBErrors} {
		f(c)
	}
	m.own = own
	return m
}

// Names are the names of the service's own metric families (pcx_*), registered whether or not
// they have a series yet; a histogram's series add _bucket, _sum and _count. Dashboards and alert
// rules may query these and TemporalSeries (deploy's tests check they do no more).
func (m *Metrics) Names() []string {
	var names []string
	for _, c := range m.own {
		ch := make(chan *prometheus.Desc, 1)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			// A Desc shows its name only in its String: Desc{fqName: "pcx_...", help: ...}.
			_, rest, _ := strings.Cut(d.String(), `fqName: "`)
			name, _, _ := strings.Cut(rest, `"`)
			names = append(names, name)
		}
	}
	return names
}

// SetBuild records this binary's version in pcx_build_info.
func (m *Metrics) SetBuild(version string) {
	m.BuildInfo.Reset()
	m.BuildInfo.WithLabelValues(version, runtime.Version()).Set(1)
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
