package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// Promise: a 202 means durably accepted. With no worker running, events are accepted; the API
// process is then stopped (SIGTERM, graceful) or killed (SIGKILL, with more notifies in flight),
// a new API process starts, and only then a worker: every event that got a 202 is delivered to
// every endpoint, and the new API reports it delivered.
func TestFaultAPIRestartBeforeDelivery(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"sigterm", "sigkill"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			apiBin, workerBin := binaries(t)
			dir := t.TempDir()
			rc := newFaultReceiver(t)
			e := newEnv(t)
			e.allowFaults(rc)
			api := e.startAPIProcess(apiBin, dir)
			org := "org-api-" + how
			key := e.bootstrapKey(org, "u")
			paths := []string{"/r/0", "/r/1", "/r/2"}
			for _, p := range paths {
				register(t, api.base, key, rc.url(p))
			}

			var mu sync.Mutex
			var accepted []string
			failed := 0 // notifies cut by the kill: no reply, so neither accepted nor refused
			const sequential = 8
			for i := range sequential {
				acc := notify(t, api.base, key, org, fmt.Sprintf(`{"i":%d}`, i))
				accepted = append(accepted, acc.EventID)
			}
			if how == "sigterm" {
				api.p.Stop()
				t.Logf("%d events accepted, then the api stopped with SIGTERM", len(accepted))
			} else {
				// More notifies from four clients; the kill lands while some are in flight.
				var wg sync.WaitGroup
				stop := make(chan struct{})
				for g := range 4 {
					wg.Go(func() {
						for i := 0; ; i++ {
							select {
							case <-stop:
								return
							default:
							}
							r, err := rawPost(api.base+"/public/webhooks/notify", key, fmt.Appendf(nil, `{"org_id":%q,"transaction_data":{"g":%d,"i":%d}}`, org, g, i))
							mu.Lock()
							switch {
							case err != nil:
								failed++
								mu.Unlock()
								return // the api is gone
							case r.status == 202:
								var env struct {
									Data acceptedData `json:"data"`
								}
								if json.Unmarshal(r.body, &env) == nil {
									accepted = append(accepted, env.Data.EventID)
								}
							default:
								t.Errorf("notify: %s", r)
							}
							mu.Unlock()
						}
					})
				}
				eventually(t, 20*time.Second, "concurrent notifies accepted", func() bool {
					mu.Lock()
					defer mu.Unlock()
					return len(accepted) >= sequential+8
				})
				api.p.Kill()
				close(stop)
				wg.Wait()
				t.Logf("%d events accepted, then the api was SIGKILLed with %d notify(s) in flight (no reply)", len(accepted), failed)
			}
			if n, _ := rc.pairs(); n != 0 {
				t.Fatalf("%d deliveries before any worker ran", n)
			}

			api2 := e.startAPIProcess(apiBin, dir)
			e.startWorkerProcess(workerBin, dir)
			want := len(accepted) * len(paths)
			took := eventually(t, 60*time.Second, fmt.Sprintf("%d accepted events delivered to %d endpoints", len(accepted), len(paths)), func() bool { return rc.reachedAll(paths, accepted) })
			for _, id := range accepted {
				waitDeliveries(t, api2.base, key, id, len(paths), "delivered", 30*time.Second)
			}
			// Events whose notify was cut may or may not have been accepted; nothing else may arrive.
			unknown := 0
			for _, p := range paths {
				for id := range rc.snapshot()[p] {
					if !slices.Contains(accepted, id) {
						unknown++
					}
				}
			}
			if unknown > failed*len(paths) {
				t.Errorf("%d deliveries of events nobody was told were accepted, more than the %d cut notifies explain", unknown, failed)
			}
			pairs, total := rc.pairs()
			t.Logf("every one of the %d accepted events (%d deliveries) delivered %s after the worker started; %d requests, %d pairs (%d of events whose notify was cut)",
				len(accepted), want, took.Round(time.Millisecond), total, pairs, unknown)
		})
	}
}
