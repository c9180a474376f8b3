package activities

import (
	"net/http"
	"testing"
	"time"
)

func TestNextDelay(t *testing.T) {
	tests := []struct {
		name                  string
		scheduled, retryAfter time.Duration
		jitter                float64
		want                  time.Duration
	}{
		{"schedule without jitter", 5 * time.Minute, 0, 1, 5 * time.Minute},
		{"jitter down", 5 * time.Minute, 0, 0.8, 4 * time.Minute},
		{"jitter up", 5 * time.Minute, 0, 1.19, 5*time.Minute + 57*time.Second},
		{"Retry-After longer than the schedule wins", 5 * time.Second, 2 * time.Minute, 1.1, 2 * time.Minute},
		{"Retry-After shorter than the schedule is ignored", 30 * time.Minute, 2 * time.Minute, 0.9, 27 * time.Minute},
		{"Retry-After equal to the jittered schedule", 10 * time.Second, 10 * time.Second, 1, 10 * time.Second},
		{"Retry-After capped at a day", 5 * time.Second, 48 * time.Hour, 1, 24 * time.Hour},
		{"never below a second", 100 * time.Millisecond, 0, 0.8, time.Second},
		{"zero schedule", 0, 0, 1, time.Second},
		{"sub-second Retry-After", 0, 500 * time.Millisecond, 1, time.Second},
		{"the last step of the default schedule keeps its jitter", 24 * time.Hour, 0, 1.2, 28*time.Hour + 48*time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := NextDelay(tc.scheduled, tc.retryAfter, tc.jitter); got != tc.want {
				t.Errorf("NextDelay(%v, %v, %v) = %v, want %v", tc.scheduled, tc.retryAfter, tc.jitter, got, tc.want)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"1", time.Second},
		{"120", 2 * time.Minute},
		{"86400", 24 * time.Hour},
		{"86401", 24 * time.Hour},
		{"999999", 24 * time.Hour},
		{"-5", 0},
		{"-0", 0},
		{"1.5", 0},
		{" 120", 0},
		{"soon", 0},
		{"120s", 0},
		{date(90 * time.Second), 90 * time.Second},
		{date(3 * time.Hour), 3 * time.Hour},
		{date(72 * time.Hour), 24 * time.Hour},
		{date(0), 0},
		{date(-time.Hour), 0},
		{now.Add(time.Minute).Format(time.RFC850), time.Minute},               // obsolete HTTP date forms
		{now.Add(time.Minute).Format(time.ANSIC), time.Minute},                //
		{now.Add(time.Minute).Format(time.RFC3339), 0},                        // not an HTTP date
		{"Fri, 31 Dec 9999 23:59:59 GMT", 24 * time.Hour},                     // far future
		{"Thu, 01 Jan 1970 00:00:00 GMT", 0},                                  // long past
		{"Mon, 32 Jan 2026 00:00:00 GMT", 0},                                  // invalid date
		{"99999999999999999999999999999999999999999999999999999999999999", 0}, // not an int64
	}
	for _, tc := range tests {
		if got := parseRetryAfter(tc.value, now); got != tc.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tc.value, got, tc.want)
		}
	}
}

// A Retry-After of more seconds than a time.Duration holds (≈292 years) still means "wait as
// long as allowed", like any other value over a day.
func TestParseRetryAfterHugeSeconds(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, v := range []string{"10000000000", "9223372036854775807"} {
		if got := parseRetryAfter(v, now); got != maxRetryAfter {
			t.Errorf("parseRetryAfter(%q) = %v, want %v (the cap)", v, got, maxRetryAfter)
		}
	}
}

func TestProductionJitterBounds(t *testing.T) {
	jitter := New(Activities{}).Jitter
	lo, hi := 2.0, 0.0
	for range 1000 {
		j := jitter()
		if j < 0.8 || j >= 1.2 {
			t.Fatalf("jitter %v outside [0.8, 1.2)", j)
		}
		lo, hi = min(lo, j), max(hi, j)
	}
	// 1,000 uniform draws cover most of the range; a constant or narrow jitter would not.
	if lo > 0.85 || hi < 1.15 {
		t.Errorf("1,000 draws span only [%v, %v]: the jitter does not spread retries", lo, hi)
	}
}
