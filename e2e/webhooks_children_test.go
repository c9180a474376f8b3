package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pcx/publicservice/workflows"
)

// One event to 1,200 endpoints goes to three child batches (pages of 500, 500, 200), each with
// retries pending. Page 1's child is terminated: the others deliver to the end, and the event's
// workflow completes, naming the terminated child in its summary.
func TestWebhookTerminatedChildEndsNothingElse(t *testing.T) {
	t.Parallel()
	const n = 1200
	path := func(i int) string { return fmt.Sprintf("/kids/%d", i) }
	f := fanOutStack(t, "5s,5s", "org-kids", n, path)
	rc, api, tc, key := f.rc, f.api, f.tc, f.key
	retried := map[string]bool{} // every 50th endpoint answers 503 once: retries in every page
	for i := 0; i < n; i += 50 {
		rc.answer(path(i), 503, 200)
		retried[path(i)] = true
	}

	acc := notify(t, api.base, key, "org-kids", `{"order":"o-kids"}`)
	if acc.EndpointCount != n {
		t.Fatalf("endpoint_count %d, want %d", acc.EndpointCount, n)
	}
	// Every first attempt made: the 503s' retries are pending, 5 s away.
	eventually(t, 2*time.Minute, "every endpoint reached once", func() bool { return len(rc.counts()) >= n })
	var batch1 string
	for _, x := range eventWorkflows(t, tc, "org-kids", acc.EventID, 4) {
		if id := x.GetExecution().GetWorkflowId(); strings.HasSuffix(id, "/batch-1") {
			batch1 = id
		}
	}
	if batch1 == "" {
		t.Fatal("no child of page 1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := tc.TerminateWorkflow(ctx, batch1, "", "test: one child ends"); err != nil {
		t.Fatalf("terminate %s: %v", batch1, err)
	}

	var sum workflows.Summary
	if err := tc.GetWorkflow(ctx, acc.WorkflowID, "").Get(ctx, &sum); err != nil {
		t.Fatalf("event workflow: %v", err)
	}
	if len(sum.FailedBatches) != 1 || sum.FailedBatches[0].WorkflowID != batch1 || sum.FailedBatches[0].Page != 1 ||
		sum.FailedBatches[0].Endpoints != workflows.PlanPageSize || !strings.Contains(sum.FailedBatches[0].Error, "terminated") {
		t.Fatalf("failed batches %+v, want %s, page 1, %d endpoints, terminated", sum.FailedBatches, batch1, workflows.PlanPageSize)
	}
	if want := n - workflows.PlanPageSize; sum.Endpoints != n || sum.Delivered != want {
		t.Fatalf("summary %+v, want %d endpoints, %d delivered by the other children", sum, n, want)
	}
	// The siblings' retries ran after the termination: 2 requests each for pages 0 and 2's
	// retried endpoints, 1 for page 1's (its retry died with it).
	var twice int
	counts := rc.counts()
	for p := range retried {
		if counts[p] == 2 {
			twice++
		}
	}
	if perPage := workflows.PlanPageSize / 50; twice != len(retried)-perPage {
		t.Errorf("%d retried endpoints reached twice, want %d (all but page 1's %d)", twice, len(retried)-perPage, perPage)
	}
	t.Logf("summary %+v", sum)
}
