package metrics

import (
	"testing"
	"time"
)

func TestPending(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	p := newPending(func() time.Time { return now })
	check := func(what string, cause string, wantAge time.Duration, wantN int) {
		t.Helper()
		ages, counts := p.oldest()
		if ages[cause] != wantAge || counts[cause] != wantN {
			t.Errorf("%s: %s: %v, %d; want %v, %d", what, cause, ages[cause], counts[cause], wantAge, wantN)
		}
	}
	check("empty", PendingEndpoint, 0, 0)
	p.Retrying("evt_1", "wh_1", now.Add(-2*time.Hour), 5*time.Minute, PendingEndpoint)
	p.Retrying("evt_2", "wh_1", now.Add(-time.Minute), 24*time.Hour, PendingEndpoint)
	p.Retrying("evt_2", "wh_2", now.Add(-time.Minute), time.Second, PendingWorker)
	check("three pending", PendingEndpoint, 2*time.Hour, 2)
	check("three pending", PendingWorker, time.Minute, 1)
	p.Ended("evt_1", "wh_1")
	check("the oldest ended", PendingEndpoint, time.Minute, 1)
	// A retry that ran on another worker: forgotten once it was due plus the grace.
	now = now.Add(time.Second + PendingGrace + time.Nanosecond)
	check("past the grace", PendingWorker, 0, 0)
	check("past the grace", PendingEndpoint, time.Minute+time.Second+PendingGrace+time.Nanosecond, 1)
	// Seen again, for another cause: it moves.
	p.Retrying("evt_2", "wh_1", now.Add(-time.Hour), time.Minute, PendingWorker)
	check("seen again", PendingWorker, time.Hour, 1)
	check("seen again", PendingEndpoint, 0, 0)
	// A replay's delivery: pending since first seen, kept when seen again.
	p.Retrying("evt_old", "wh_1", time.Time{}, time.Minute, PendingEndpoint)
	now = now.Add(5 * time.Minute)
	p.Retrying("evt_old", "wh_1", time.Time{}, time.Minute, PendingEndpoint)
	check("a replay", PendingEndpoint, 5*time.Minute, 1)
}
