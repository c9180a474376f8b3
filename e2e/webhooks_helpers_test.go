package e2e

// Helpers shared by the webhook end-to-end tests in webhooks_*_test.go.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	enumspb "go.temporal.io/api/enums/v1"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/pcx/publicservice/harness"
	"github.com/pcx/publicservice/internal/testenv"
)

// fastRetries makes the retry schedule short enough for a test: WEBHOOK_RETRY_SCHEDULE is read
// by the worker when it starts.
func (e *env) fastRetries(schedule string) { e.vars["WEBHOOK_RETRY_SCHEDULE"] = schedule }

// setHeaders makes the receiver answer path with these headers (e.g. Retry-After, Location).
func (rc *receiver) setHeaders(path string, h http.Header) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.headers[path] = h
}

// setBody makes the receiver answer path with this body.
func (rc *receiver) setBody(path string, body []byte) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.bodies[path] = body
}

// setDelay makes the receiver take d before answering path.
func (rc *receiver) setDelay(path string, d time.Duration) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.delay[path] = d
}

// counts returns how many requests each path received.
func (rc *receiver) counts() map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make(map[string]int, len(rc.got))
	for p, reqs := range rc.got {
		out[p] = len(reqs)
	}
	return out
}

// total is the number of requests the receiver saw on every path.
func (rc *receiver) total() int {
	n := 0
	for _, c := range rc.counts() {
		n += c
	}
	return n
}

// waitCount waits until path has received at least n requests.
func (rc *receiver) waitCount(t *testing.T, path string, n int, within time.Duration) []received {
	t.Helper()
	eventually(t, within, fmt.Sprintf("%d request(s) on %s", n, path), func() bool { return rc.count(path) >= n })
	return rc.requests(path)
}

// verifyWith checks a delivery with the official Standard Webhooks verifier under secret.
func verifyWith(secret string, req received) error {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return err
	}
	return wh.Verify(req.body, req.header)
}

// signatures lists the entries of a delivery's webhook-signature header.
func signatures(req received) []string {
	return strings.Fields(req.header.Get("webhook-signature"))
}

// errorEnvelope is the body of every error response.
type errorEnvelope struct {
	Status  string            `json:"status"`
	Message string            `json:"message"`
	Errors  map[string]string `json:"errors"`
}

// wantError checks an error reply: its status, the error envelope with a message, and, when
// field is not empty, a problem reported for that field.
func wantError(t *testing.T, what string, r reply, status int, field string) errorEnvelope {
	t.Helper()
	var env errorEnvelope
	if r.status != status {
		t.Errorf("%s: got %s, want status %d", what, r, status)
		return env
	}
	if err := json.Unmarshal(r.body, &env); err != nil || env.Status != "error" || env.Message == "" {
		t.Errorf("%s: body %s is not the error envelope (%v)", what, r.body, err)
		return env
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	if field != "" && env.Errors[field] == "" {
		t.Errorf("%s: body %s names no problem with %q", what, r.body, field)
	}
	return env
}

// rawPost sends a request without failing the test, so that goroutines may use it.
func rawPost(url, key string, body []byte, headers ...string) (reply, error) {
	req, err := http.NewRequest("POST", url, bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("X-API-Key", key)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b}, err
}

// delivery returns the event's delivery to webhookID.
func (ev eventData) delivery(t *testing.T, webhookID string) deliveryData {
	t.Helper()
	for _, d := range ev.Deliveries {
		if d.WebhookID == webhookID {
			return d
		}
	}
	t.Fatalf("event %s has no delivery to %s: %+v", ev.EventID, webhookID, ev.Deliveries)
	return deliveryData{}
}

// attemptCodes lists the status codes of a delivery's attempt log (0 for none).
func (d deliveryData) attemptCodes() []int {
	out := make([]int, len(d.AttemptLog))
	for i, a := range d.AttemptLog {
		if a.StatusCode != nil {
			out[i] = *a.StatusCode
		}
	}
	return out
}

// attemptErrors lists the error classes of a delivery's attempt log ("" for none).
func (d deliveryData) attemptErrors() []string {
	out := make([]string, len(d.AttemptLog))
	for i, a := range d.AttemptLog {
		if a.Error != nil {
			out[i] = *a.Error
		}
	}
	return out
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// waitDelivery waits until the event's delivery to webhookID has the wanted status and at least
// minAttempts attempts.
func waitDelivery(t *testing.T, base, key, eventID, webhookID, status string, minAttempts int, within time.Duration) deliveryData {
	t.Helper()
	var d deliveryData
	eventually(t, within, fmt.Sprintf("delivery of %s to %s %s after %d attempt(s)", eventID, webhookID, status, minAttempts), func() bool {
		for _, x := range eventStatus(t, base, key, eventID).Deliveries {
			if x.WebhookID == webhookID {
				d = x
				return x.Status == status && x.Attempts >= minAttempts
			}
		}
		return false
	})
	return d
}

// temporalClient is a Temporal client of the package's dev server, closed when the test ends:
// the tests use it the way an operator uses the UI, to see whether a workflow has finished.
func temporalClient(t *testing.T) client.Client {
	t.Helper()
	tmp := testenv.Temporal(t)
	c, err := client.Dial(client.Options{
		HostPort: tmp.Address, Namespace: tmp.Namespace,
		Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	if err != nil {
		t.Fatalf("temporal client: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// waitWorkflowClosed waits until the latest run of workflowID is no longer running (after which
// it can send nothing more) and returns its status.
func waitWorkflowClosed(t *testing.T, c client.Client, workflowID string, within time.Duration) enumspb.WorkflowExecutionStatus {
	t.Helper()
	var status enumspb.WorkflowExecutionStatus
	eventually(t, within, "workflow "+workflowID+" closed", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		d, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
		if err != nil {
			return false
		}
		status = d.GetWorkflowExecutionInfo().GetStatus()
		return status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	})
	return status
}

// eventWorkflows waits until Temporal's visibility lists at least min workflows of org's event,
// searched by the PcxOrgId and PcxEventId search attributes as an operator would in the UI, and
// returns them.
func eventWorkflows(t *testing.T, c client.Client, org, eventID string, min int) []*workflowpb.WorkflowExecutionInfo {
	t.Helper()
	var list []*workflowpb.WorkflowExecutionInfo
	eventually(t, 30*time.Second, fmt.Sprintf("%d workflow(s) of %s visible by search attributes", min, eventID), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("PcxOrgId = '%s' AND PcxEventId = '%s'", org, eventID),
		})
		if err != nil {
			return false
		}
		list = resp.GetExecutions()
		return len(list) >= min
	})
	return list
}

// buildWorker builds ./cmd/worker into dir (the Go build cache makes repeated builds cheap) and
// returns the binary's path.
func buildWorker(t *testing.T, dir string) string { return buildCommand(t, dir, "./cmd/worker") }

// buildCommand builds the main package pkg (relative to the repository root) into dir and returns
// the binary's path.
func buildCommand(t *testing.T, dir, pkg string) string {
	t.Helper()
	bins, err := harness.Build(dir, "", pkg)
	if err != nil {
		t.Fatal(err)
	}
	return bins[0]
}

// startWorkerProcess runs the worker binary as a real process with this environment's
// configuration (plus extra KEY=VALUE entries), and waits until its health listener answers.
func (e *env) startWorkerProcess(bin, dir string, extra ...string) *testenv.Process {
	e.t.Helper()
	return e.startProcess(harness.Worker, "worker", bin, dir, extra).Process
}
