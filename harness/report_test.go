package harness

import (
	"testing"
	"time"
)

func TestDistOf(t *testing.T) {
	ms := func(n ...int) []time.Duration {
		out := make([]time.Duration, len(n))
		for i, x := range n {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	tests := []struct {
		name string
		in   []time.Duration
		want Dist
	}{
		{"empty", nil, Dist{}},
		{"one", ms(7), Dist{N: 1, P50: 7, P95: 7, P99: 7, Max: 7, Mean: 7}},
		// Nearest rank: p50 of 4 is the 2nd, p95 and p99 the 4th.
		{"unsorted", ms(40, 10, 30, 20), Dist{N: 4, P50: 20, P95: 40, P99: 40, Max: 40, Mean: 25}},
		{"microseconds", []time.Duration{1500 * time.Microsecond}, Dist{N: 1, P50: 1.5, P95: 1.5, P99: 1.5, Max: 1.5, Mean: 1.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DistOf(tt.in); got != tt.want {
				t.Errorf("DistOf(%v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestIsSecret(t *testing.T) {
	for name, want := range map[string]bool{
		"APIKEY_PEPPERS": true, "WEBHOOK_SECRETS_KEYS": true, "INTERNAL_TOKEN": true, "CURSOR_KEYS": true,
		"DYNAMODB_TABLE": false, "WEBHOOK_CA_FILE": false,
	} {
		if got := IsSecret(name); got != want {
			t.Errorf("IsSecret(%q) = %v, want %v", name, got, want)
		}
	}
}
