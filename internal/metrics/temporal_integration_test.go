package metrics_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/pcx/publicservice/internal/metrics"
	"github.com/pcx/publicservice/internal/testenv"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

func greet(_ context.Context, name string) (string, error) { return "hello " + name, nil }

func greetWorkflow(ctx workflow.Context, name string) (string, error) {
	var s string
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	if err := workflow.ExecuteLocalActivity(lctx, greet, name).Get(ctx, &s); err != nil {
		return "", err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	err := workflow.ExecuteActivity(actx, greet, s).Get(ctx, &s)
	return s, err
}

// A worker that ran a workflow with an activity and a local activity exports the Temporal SDK's
// metrics, on the registry the worker's /metrics serves, under the names and labels Temporal's
// SDK dashboards query.
func TestTemporalMetricNames(t *testing.T) {
	dev := testenv.Temporal(t)
	ctx := testenv.Context(t, 2*time.Minute)
	m := metrics.New()
	c, err := client.Dial(client.Options{HostPort: dev.Address, Namespace: dev.Namespace, MetricsHandler: m.TemporalHandler()})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	const queue = "metrics-names"
	w := worker.New(c, queue, worker.Options{})
	w.RegisterWorkflow(greetWorkflow)
	w.RegisterActivity(greet)
	if err := w.Start(); err != nil {
		t.Fatalf("worker: %v", err)
	}
	defer w.Stop()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "metrics-names", TaskQueue: queue}, greetWorkflow, "pcx")
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil || got != "hello hello pcx" {
		t.Fatalf("workflow: %q, %v", got, err)
	}

	// A request that fails: temporal_request_failure_total.
	if _, err := c.DescribeWorkflowExecution(ctx, "no-such-workflow", ""); err == nil {
		t.Fatal("describing a workflow that does not exist succeeded")
	}

	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	var out string
	// Some series land just after the workflow's result (the completion's end-to-end latency).
	deadline := time.Now().Add(10 * time.Second)
	for {
		out = get(t, srv.URL)
		missing := missingSeries(out)
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the scrape lacks %v\n%s", missing, temporalLines(out))
		}
		time.Sleep(200 * time.Millisecond)
	}
	if strings.Contains(out, "_total_total") {
		t.Errorf("a counter suffixed twice:\n%s", temporalLines(out))
	}
	for _, want := range []string{
		`namespace="default"`, `task_queue="metrics-names"`, `workflow_type="greetWorkflow"`, `activity_type="greet"`,
		`operation="StartWorkflowExecution"`, `status_code="NOT_FOUND"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the scrape lacks %s\n%s", want, temporalLines(out))
		}
	}
}

func missingSeries(out string) []string {
	var missing []string
	for _, s := range metrics.TemporalSeries {
		if !strings.Contains(out, s+"{") {
			missing = append(missing, s)
		}
	}
	return missing
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return string(b)
}

// temporalLines are the scrape's Temporal series names, for a failure's message.
func temporalLines(out string) string {
	seen := map[string]bool{}
	var names []string
	for line := range strings.Lines(out) {
		name, _, _ := strings.Cut(line, "{")
		if strings.HasPrefix(name, "temporal_") && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	return strings.Join(names, "\n")
}
