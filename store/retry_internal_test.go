package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pcx/publicservice/pcx"
)

func TestRetryPartial(t *testing.T) {
	p := retryPolicy{attempts: 4, base: time.Millisecond}
	conflict := errors.New("transaction conflict")
	permanent := errors.New("condition failed")
	cases := []struct {
		name      string
		results   []error // op's error per call; again while the error is conflict or errHeld
		wantCalls int
		want      error
	}{
		{"done at once", []error{nil}, 1, nil},
		{"done on the third call", []error{errHeld, conflict, nil}, 3, nil},
		{"a permanent error is returned at once", []error{conflict, permanent}, 2, permanent},
		{"held back to the end", []error{errHeld, errHeld, errHeld, errHeld, nil}, 4, errBusy},
		{"conflicts to the end", []error{conflict, conflict, conflict, conflict, nil}, 4, conflict},
	}
	for _, tc := range cases {
		calls := 0
		err := retryPartial(context.Background(), p, func() (bool, error) {
			r := tc.results[calls]
			calls++
			if errors.Is(r, errHeld) {
				return true, nil
			}
			return errors.Is(r, conflict), r
		})
		if calls != tc.wantCalls || !errors.Is(err, tc.want) {
			t.Errorf("%s: %d calls, error %v; want %d calls, error %v", tc.name, calls, err, tc.wantCalls, tc.want)
		}
	}
}

// errHeld stands for an answer that held work back without an error (unprocessed items).
var errHeld = errors.New("held back")

func TestRetryPartialStopsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	start := time.Now()
	err := retryPartial(ctx, retryPolicy{attempts: 10, base: time.Hour}, func() (bool, error) {
		calls++
		cancel()
		return true, nil
	})
	if calls != 1 || pcx.ErrorCode(err) != pcx.EUnavailable || !errors.Is(err, context.Canceled) || time.Since(start) > time.Minute {
		t.Fatalf("after the context ended: %d calls, error %v (code %s); want 1 call, an unavailable error wrapping context.Canceled, at once",
			calls, err, pcx.ErrorCode(err))
	}
}

func TestRetryPartialBacksOffWithJitter(t *testing.T) {
	// Three calls of a policy based at 20ms wait 20ms and 40ms, each times [0.5, 1.5): 30ms to 90ms.
	start := time.Now()
	_ = retryPartial(context.Background(), retryPolicy{attempts: 3, base: 20 * time.Millisecond}, func() (bool, error) { return true, nil })
	if d := time.Since(start); d < 30*time.Millisecond || d > 2*time.Second {
		t.Fatalf("three calls took %s, want at least 30ms (and well under a second)", d)
	}
}
