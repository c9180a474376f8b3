package e2e

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestOrgLimits: the per-organisation limits of contract §10 over HTTP, with small settings. A
// burst of notifies past ORG_NOTIFY_PER_SECOND gets 429s with Retry-After, and only the accepted
// events are delivered; transaction updates share the budget. Of two concurrent replays of one
// event one is accepted and one is 409; ORG_REPLAYS_PER_HOUR then answers 429. A second endpoint
// with an organisation's URL is 409, as is moving one onto it.
func TestOrgLimits(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	e := newEnv(t)
	e.allow(rc)
	e.vars["ORG_NOTIFY_PER_SECOND"] = "5" // bursts of 10
	e.vars["ORG_REPLAYS_PER_HOUR"] = "4"
	api := e.startAPI()
	e.startWorker()
	tc := temporalClient(t)

	t.Run("notify burst", func(t *testing.T) {
		key := e.bootstrapKey("org-lim-n", "u")
		register(t, api.base, key, rc.url("/burst"))
		const n = 30
		replies := make([]reply, n)
		errs := make([]error, n)
		body := []byte(`{"org_id":"org-lim-n","transaction_data":{"n":1}}`)
		// One in three is a transaction update: they share the organisation's budget.
		internal := func(i int) bool { return i%3 == 0 }
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				if internal(i) {
					replies[i], errs[i] = rawPost(api.internal+"/internal/transaction-updates", "", body, "Authorization", "Bearer "+e.vars["INTERNAL_TOKEN"])
					return
				}
				replies[i], errs[i] = rawPost(api.base+"/public/webhooks/notify", key, body, "Idempotency-Key", fmt.Sprint("burst-", i))
			})
		}
		close(start)
		wg.Wait()
		accepted, limited, limitedInternal := 0, 0, 0
		for i, r := range replies {
			if errs[i] != nil {
				t.Fatalf("notify %d: %v", i, errs[i])
			}
			switch r.status {
			case 202:
				accepted++
			case 429:
				limited++
				if internal(i) {
					limitedInternal++
				}
				wantError(t, "limited notify", r, 429, "")
				if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 {
					t.Errorf("limited notify: Retry-After %q, want whole seconds ≥ 1", r.header.Get("Retry-After"))
				}
			default:
				t.Fatalf("notify %d: %s, want 202 or 429", i, r)
			}
		}
		// 10 of the burst, and at most a few tokens that came back while it ran.
		if accepted < 10 || accepted > 16 || limited == 0 || limitedInternal == 0 {
			t.Fatalf("%d accepted, %d limited (%d transaction updates) of %d at once; want the burst of 10 (and a few) accepted, both kinds limited",
				accepted, limited, limitedInternal, n)
		}
		// Only the accepted events are delivered: a refused one was not stored.
		rc.waitCount(t, "/burst", accepted, 30*time.Second)
		time.Sleep(2 * time.Second)
		if got := rc.count("/burst"); got != accepted {
			t.Fatalf("the receiver got %d deliveries, want %d (one per 202)", got, accepted)
		}
		// The budget refills; a refused key was not recorded, so its retry is a new event.
		eventually(t, 5*time.Second, "notify budget refilled", func() bool {
			r, err := rawPost(api.base+"/public/webhooks/notify", key, body, "Idempotency-Key", "after")
			return err == nil && r.status == 202
		})
	})

	t.Run("replays", func(t *testing.T) {
		key := e.bootstrapKey("org-lim-r", "u")
		register(t, api.base, key, rc.url("/replayed"))
		acc := notify(t, api.base, key, "org-lim-r", `{"n":2}`)
		waitDeliveries(t, api.base, key, acc.EventID, 1, "delivered", 20*time.Second)
		waitWorkflowClosed(t, tc, acc.WorkflowID, 15*time.Second)
		rc.setDelay("/replayed", 2*time.Second) // a replay that runs a while

		url := api.base + "/public/webhooks/events/" + acc.EventID + "/replay"
		var pair [2]reply
		var errs [2]error
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range pair {
			wg.Go(func() {
				<-start
				pair[i], errs[i] = rawPost(url, key, nil)
			})
		}
		close(start)
		wg.Wait()
		if errs[0] != nil || errs[1] != nil {
			t.Fatalf("replays: %v, %v", errs[0], errs[1])
		}
		won, lost := pair[0], pair[1]
		if won.status != 202 {
			won, lost = lost, won
		}
		if won.status != 202 {
			t.Fatalf("concurrent replays: %s and %s, want one 202", pair[0], pair[1])
		}
		wantError(t, "the concurrent replay", lost, 409, "")
		var rep acceptedData
		won.decode(t, &rep, nil)
		// While it runs, a replay is still refused; once it has closed, the next is accepted.
		wantError(t, "replay while one runs", call(t, "POST", url, key, nil), 409, "")
		waitWorkflowClosed(t, tc, rep.WorkflowID, 30*time.Second)
		r := call(t, "POST", url, key, nil)
		wantStatus(t, r, 202)
		r.decode(t, &rep, nil)
		waitWorkflowClosed(t, tc, rep.WorkflowID, 30*time.Second)
		// ORG_REPLAYS_PER_HOUR=4: the two concurrent ones, the one while running and the last
		// spent them all (a refused replay is charged too).
		r = call(t, "POST", url, key, nil)
		wantError(t, "replay past ORG_REPLAYS_PER_HOUR", r, 429, "")
		if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 60 {
			t.Errorf("replay past the hour's budget: Retry-After %q, want minutes", r.header.Get("Retry-After"))
		}
		if n := rc.count("/replayed"); n != 3 {
			t.Errorf("the receiver got %d requests, want 3 (the event and two replays)", n)
		}
	})

	t.Run("duplicate URL", func(t *testing.T) {
		key := e.bootstrapKey("org-lim-u", "u")
		keyOther := e.bootstrapKey("org-lim-u2", "u")
		register(t, api.base, key, rc.url("/dup"))
		r := call(t, "POST", api.base+"/public/webhooks", key, map[string]any{"endpoint_url": rc.url("/dup")})
		wantError(t, "a second endpoint with the URL", r, 409, "")
		register(t, api.base, keyOther, rc.url("/dup")) // another organisation may
		other := register(t, api.base, key, rc.url("/dup-2"))
		r = call(t, "PATCH", api.base+"/public/webhooks/"+other.WebhookID, key, map[string]any{"endpoint_url": rc.url("/dup")})
		wantError(t, "moving an endpoint onto the URL", r, 409, "")
		wantStatus(t, call(t, "PATCH", api.base+"/public/webhooks/"+other.WebhookID, key, map[string]any{"endpoint_url": rc.url("/dup-3")}), 200)
		wantStatus(t, call(t, "POST", api.base+"/public/webhooks", key, map[string]any{"endpoint_url": rc.url("/dup-2")}), 201)
	})
}
