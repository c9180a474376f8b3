package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/keyformat"
)

// A flood of invented keys from many addresses costs the store a bounded number of reads:
// past AUTH_UNKNOWN_READS_PER_SECOND (here 1 a second, bursts of 2), a prefix the cache does not
// hold is answered 503 with Retry-After and no store read, while a key the cache holds keeps
// working. A valid key the cache does not hold waits too (503, never a 401 that would make its
// client discard a good key), and gets through once the budget refills.
func TestUnknownPrefixReadsAreBoundedGlobally(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.vars["AUTH_UNKNOWN_READS_PER_SECOND"] = "1"
	e.vars["AUTH_CACHE_TTL"] = "10s"
	api := e.startAPI()
	root := e.bootstrapKey("org-reads", "u")
	cold := e.bootstrapKey("org-reads", "u2")
	wantStatus(t, call(t, "GET", api.base+"/public/me", root, nil), 200) // a known key: refunded, cached

	statuses := map[int]int{}
	var refused reply
	for range 6 {
		k, _ := keyformat.New()
		r := call(t, "GET", api.base+"/public/me", k.String(), nil)
		statuses[r.status]++
		switch r.status {
		case 401:
			wantUnauthorized(t, r)
		case 503:
			refused = r
		default:
			t.Fatalf("an invented key: %s, want 401 or 503", r)
		}
	}
	if statuses[401] < 1 || statuses[401] > 3 || statuses[503] < 3 {
		t.Fatalf("6 invented keys answered %v; want the burst of 2 read (401), the rest refused unread (503)", statuses)
	}
	if refused.header.Get("Retry-After") == "" || strings.Contains(string(refused.body), "API Key is missing") {
		t.Fatalf("refused read = %s (Retry-After %q), want a 503 with Retry-After that is not the 401", refused, refused.header.Get("Retry-After"))
	}
	wantStatus(t, call(t, "GET", api.base+"/public/me", root, nil), 200) // the cache still serves

	if r := call(t, "GET", api.base+"/public/me", cold, nil); r.status != 503 && r.status != 200 {
		t.Fatalf("a valid key the cache does not hold, budget spent: %s, want 503 (or 200 if a token came back)", r)
	}
	eventually(t, 5*time.Second, "the valid cold key gets through once the budget refills", func() bool {
		return call(t, "GET", api.base+"/public/me", cold, nil).status == 200
	})
}
