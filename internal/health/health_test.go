package health

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A flood of /readyz costs each dependency one check per ReadyFor, however many requests arrive
// at once, and every request gets that round's answer.
func TestReadyzChecksOncePerInterval(t *testing.T) {
	var dynamo, temporal atomic.Int64
	release := make(chan struct{})
	slow := func(n *atomic.Int64, err error) func(context.Context) error {
		return func(context.Context) error {
			n.Add(1)
			<-release
			return err
		}
	}
	h := Readyz([]Check{{Name: "dynamodb", Fn: slow(&dynamo, nil)}, {Name: "temporal", Fn: slow(&temporal, errors.New("down"))}})
	const n = 50
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
			codes <- w.Code
		}()
	}
	time.Sleep(50 * time.Millisecond) // let the requests pile up behind the first round
	close(release)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusServiceUnavailable {
			t.Fatalf("a request answered %d, want the round's 503 (temporal down)", c)
		}
	}
	for range n { // within ReadyFor: the cached answer, no new round
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
	}
	if d, tm := dynamo.Load(), temporal.Load(); d != 1 || tm != 1 {
		t.Fatalf("%d requests made %d DynamoDB and %d Temporal checks, want 1 each", 2*n, d, tm)
	}
}

func TestReadinessRunsAgainAfterItsInterval(t *testing.T) {
	var calls atomic.Int64
	now := time.Unix(1000, 0)
	rd := newReadiness([]Check{{Name: "dynamodb", Fn: func(context.Context) error { calls.Add(1); return nil }}}, time.Second)
	rd.now = func() time.Time { return now }
	rd.failed(context.Background())
	now = now.Add(999 * time.Millisecond)
	rd.failed(context.Background())
	if calls.Load() != 1 {
		t.Fatalf("%d checks within the interval, want 1", calls.Load())
	}
	now = now.Add(time.Millisecond)
	rd.failed(context.Background())
	if calls.Load() != 2 {
		t.Fatalf("%d checks once the interval passed, want 2", calls.Load())
	}
}
