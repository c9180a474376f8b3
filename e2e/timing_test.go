package e2e

import (
	"crypto/rand"
	"io"
	"math"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/keyformat"
)

// An attacker who can tell "no such prefix" from "wrong secret" by response time learns which
// prefixes exist. Both answers must cost the same: the unknown prefix is verified against a
// dummy MAC, and both kinds are cached alike (the default configuration). The test interleaves
// the two kinds of request on one keep-alive connection (so drift and noise hit both equally)
// and applies a Mann-Whitney U test to the latencies: a real difference at p < 0.001 fails it.
//
// With AUTH_CACHE_TTL=0 every request reads DynamoDB, whose answer with an item takes longer
// than its empty one (about 0.1 ms on loopback); docs/reliability.md records that limit.
func TestNoTimingOracleBetweenUnknownPrefixAndWrongSecret(t *testing.T) {
	if testing.Short() {
		t.Skip("timing samples take a while")
	}
	for _, ttl := range []string{"2s"} {
		t.Run("AUTH_CACHE_TTL="+ttl, func(t *testing.T) {
			e := newEnv(t)
			e.vars["AUTH_CACHE_TTL"] = ttl
			api := e.startAPI()
			root := e.bootstrapKey("org-timing", "u")
			k, _ := keyformat.Parse(root)
			wrong, _ := keyformat.WithID(rand.Reader, k.ID)
			unknown, _ := keyformat.New()

			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
			measure := func(key string) time.Duration {
				req, _ := http.NewRequest("GET", api.base+"/public/me", nil)
				req.Header.Set("X-API-Key", key)
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := time.Since(start)
				if resp.StatusCode != 401 {
					t.Fatalf("status %d, want 401", resp.StatusCode)
				}
				return d
			}
			for range 200 { // warm up connection, caches, JIT of DynamoDB Local
				measure(wrong.String())
				measure(unknown.String())
			}
			const n = 1500
			var a, b []float64
			for i := range n {
				// Alternate which goes first, so neither always follows the other.
				if i%2 == 0 {
					a = append(a, float64(measure(unknown.String())))
					b = append(b, float64(measure(wrong.String())))
				} else {
					b = append(b, float64(measure(wrong.String())))
					a = append(a, float64(measure(unknown.String())))
				}
			}
			z := mannWhitneyZ(a, b)
			t.Logf("unknown prefix median %v, wrong secret median %v, Mann-Whitney z = %.2f (n = %d each)",
				time.Duration(median(a)), time.Duration(median(b)), z, n)
			if math.Abs(z) > 3.29 { // two-sided p < 0.001
				t.Fatalf("latencies differ (z = %.2f): unknown prefix median %v, wrong secret median %v",
					z, time.Duration(median(a)), time.Duration(median(b)))
			}
		})
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// mannWhitneyZ returns the normal approximation z of the Mann-Whitney U statistic of a against
// b, with ties given their average rank.
func mannWhitneyZ(a, b []float64) float64 {
	type obs struct {
		v     float64
		fromA bool
	}
	all := make([]obs, 0, len(a)+len(b))
	for _, v := range a {
		all = append(all, obs{v, true})
	}
	for _, v := range b {
		all = append(all, obs{v, false})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	var rankA float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if all[k].fromA {
				rankA += avg
			}
		}
		i = j
	}
	n1, n2 := float64(len(a)), float64(len(b))
	u := rankA - n1*(n1+1)/2
	mean := n1 * n2 / 2
	sd := math.Sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
	return (u - mean) / sd
}
