package apikeys

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/httpx"
	"github.com/pcx/publicservice/internal/keyformat"
	"github.com/pcx/publicservice/internal/ratelimit"
	"github.com/pcx/publicservice/pcx"
)

// A flood of invented keys costs the store at most the StoreReads budget, however many addresses
// send it: past the budget a prefix the cache does not hold is refused with no read (a 503 with
// Retry-After, not the 401), while the key the cache holds still authenticates and reads of
// prefixes that exist are given back.
func TestUnknownPrefixReadsAreBudgeted(t *testing.T) {
	for _, ttl := range []time.Duration{2 * time.Second, 0} {
		t.Run("ttl="+ttl.String(), func(t *testing.T) {
			ctx := context.Background()
			f := newAuth(t, ttl)
			now := time.Unix(1000, 0)
			f.a.StoreReads = ratelimit.New(1, 3) // a read a second, bursts of 3
			f.a.StoreReads.Now = func() time.Time { return now }
			for range 5 { // known reads refund their token: these spend nothing
				if _, err := f.a.Authenticate(ctx, f.key); err != nil {
					t.Fatalf("the valid key: %v", err)
				}
			}
			before := f.st.readCount()
			var unauthenticated, refused int
			for range 20 {
				k, _ := keyformat.New()
				_, err := f.a.Authenticate(ctx, k.String())
				switch {
				case errors.Is(err, ErrUnauthenticated):
					unauthenticated++
				case pcx.ErrorCode(err) == pcx.EUnavailable:
					var ra httpx.RetryAfter
					if !errors.As(err, &ra) || ra.RetryAfterSeconds() != 1 {
						t.Fatalf("refused read %v carries no Retry-After of 1s", err)
					}
					refused++
				default:
					t.Fatalf("an invented key: %v", err)
				}
			}
			if reads := f.st.readCount() - before; reads != 3 || unauthenticated != 3 || refused != 17 {
				t.Fatalf("20 invented keys: %d store reads, %d 401s, %d refused; want 3, 3 and 17", reads, unauthenticated, refused)
			}
			if ttl > 0 {
				if _, err := f.a.Authenticate(ctx, f.key); err != nil {
					t.Fatalf("the cached valid key, budget spent: %v, want it authenticated", err)
				}
			}
			now = now.Add(time.Second)
			if _, err := f.a.Authenticate(ctx, f.key); err != nil {
				t.Fatalf("the valid key once a token is back: %v", err)
			}
			k, _ := keyformat.New()
			if _, err := f.a.Authenticate(ctx, k.String()); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("an invented key after the valid key's refund: %v, want a read and a 401", err)
			}
		})
	}
}
