package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/pcx/publicservice/internal/signing"
	"github.com/pcx/publicservice/pcx"
)

// One event to 1,000 endpoints is delivered through child-workflow batches: every endpoint
// exactly once, every delivery recorded.
func TestWebhookLargeFanOut(t *testing.T) {
	t.Parallel()
	const n = 1000
	f := fanOutStack(t, "", "org-fan", n, func(i int) string { return fmt.Sprintf("/fan/%d", i) })
	rc, api, tc, key := f.rc, f.api, f.tc, f.key

	start := time.Now()
	acc := notify(t, api.base, key, "org-fan", `{"order":"o-fan"}`)
	if acc.EndpointCount != n {
		t.Fatalf("endpoint_count %d, want %d", acc.EndpointCount, n)
	}
	eventually(t, 3*time.Minute, "every endpoint reached", func() bool { return len(rc.counts()) >= n })
	t.Logf("%d endpoints reached in %s", n, time.Since(start).Round(time.Millisecond))

	// All deliveries recorded, read page by page as a user would.
	var delivered, pages int
	eventually(t, time.Minute, "1,000 deliveries recorded delivered", func() bool {
		delivered, pages = 0, 0
		seen := map[string]bool{}
		url := api.base + "/public/webhooks/events/" + acc.EventID + "?limit=100"
		for {
			r := call(t, "GET", url, key, nil)
			wantStatus(t, r, 200)
			var ev eventData
			var meta pageMeta
			r.decode(t, &ev, &meta)
			pages++
			for _, d := range ev.Deliveries {
				if seen[d.WebhookID] {
					t.Fatalf("delivery %s listed twice", d.WebhookID)
				}
				seen[d.WebhookID] = true
				if d.Status == "delivered" {
					delivered++
				}
			}
			if meta.LastEvaluatedKey == nil {
				return delivered == n && len(seen) == n
			}
			url = api.base + "/public/webhooks/events/" + acc.EventID + "?limit=100&last_evaluated_key=" + *meta.LastEvaluatedKey
		}
	})
	if pages < 10 {
		t.Errorf("%d deliveries in %d pages of 100", delivered, pages)
	}
	if st := waitWorkflowClosed(t, tc, acc.WorkflowID, time.Minute); st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Fatalf("event workflow ended %s", st)
	}
	t.Logf("all %d deliveries recorded and the workflow completed %s after notify", n, time.Since(start).Round(time.Millisecond))

	counts := rc.counts()
	for i := range n {
		path := fmt.Sprintf("/fan/%d", i)
		if counts[path] != 1 {
			t.Errorf("%s received %d requests, want exactly 1", path, counts[path])
		}
	}
	if len(counts) != n {
		t.Errorf("%d paths requested, want %d", len(counts), n)
	}
	// Spot-check what the receivers got.
	for _, i := range []int{0, 499, 500, 999} {
		req := rc.requests(fmt.Sprintf("/fan/%d", i))[0]
		if req.header.Get("webhook-id") != acc.EventID || string(req.body) != `{"order":"o-fan"}` {
			t.Errorf("/fan/%d got %s %q", i, req.header.Get("webhook-id"), req.body)
		}
	}

	// The fan-out went through child-workflow batches, findable by the event's search attributes.
	var kids, parents int
	eventually(t, 30*time.Second, "the event's workflow and its batches completed", func() bool {
		kids, parents = 0, 0
		for _, x := range eventWorkflows(t, tc, "org-fan", acc.EventID, 3) {
			if x.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
				return false
			}
			switch x.GetType().GetName() {
			case "WebhookEventBatch":
				kids++
			case "WebhookEvent":
				parents++
			}
		}
		return parents == 1 && kids >= 2
	})
	t.Logf("1 event workflow and %d child batches", kids)
}

// fanOut is a delivery stack with many endpoints of one organisation.
type fanOut struct {
	rc  *receiver
	api *apiServer
	tc  client.Client
	key string
}

// fanOutStack starts a delivery stack (deliveryStack, with schedule) and stores n endpoints of
// org, endpoint i at the receiver's path(i).
func fanOutStack(t *testing.T, schedule, org string, n int, path func(int) string) fanOut {
	t.Helper()
	rc, e, api := deliveryStack(t, schedule)
	f := fanOut{rc: rc, api: api, tc: temporalClient(t), key: e.bootstrapKey(org, "u")}
	start := time.Now()
	storeWebhooks(t, e, org, n, func(i int) string { return rc.url(path(i)) })
	t.Logf("stored %d endpoints in %s", n, time.Since(start).Round(time.Millisecond))
	return f
}

// storeWebhooks writes n active endpoints of org straight into the store, endpoint i at url(i),
// as n registrations would leave them.
func storeWebhooks(t *testing.T, e *env, org string, n int, url func(int) string) {
	t.Helper()
	ctx := context.Background()
	jobs := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				now := time.Now().UTC().Truncate(time.Millisecond)
				w := &pcx.Webhook{
					ID: pcx.NewID("wh", now), OrgID: org, URL: url(i),
					Status: pcx.WebhookActive, CreatedAt: now, UpdatedAt: now,
					Secrets: []pcx.WebhookSecret{{Key: signing.NewSecret()}},
				}
				var err error
				for try := 0; try < 20; try++ { // concurrent creates conflict on the org's count item
					if err = e.store.CreateWebhook(ctx, w, 10000, nil); err == nil {
						break
					}
					time.Sleep(time.Duration(10+try*10) * time.Millisecond)
				}
				errs <- err
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("CreateWebhook: %v", err)
		}
	}
}
