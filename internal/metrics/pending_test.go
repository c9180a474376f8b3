package metrics

import (
	"testing"
	"time"
)

func TestPending(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	p := newPending(func() time.Time { return now })
	if age, n := p.oldest(); age != 0 || n != 0 {
		t.Fatalf("empty: %v, %d; want 0, 0", age, n)
	}
	p.Retrying("evt_1", "wh_1", now.Add(-2*time.Hour), 5*time.Minute)
	p.Retrying("evt_2", "wh_1", now.Add(-time.Minute), 24*time.Hour)
	p.Retrying("evt_2", "wh_2", now.Add(-time.Minute), time.Second)
	if age, n := p.oldest(); age != 2*time.Hour || n != 3 {
		t.Errorf("three pending: %v, %d; want 2h, 3", age, n)
	}
	p.Ended("evt_1", "wh_1")
	if age, n := p.oldest(); age != time.Minute || n != 2 {
		t.Errorf("the oldest ended: %v, %d; want 1m, 2", age, n)
	}
	// A retry that ran on another worker: forgotten once it was due plus the grace.
	now = now.Add(time.Second + PendingGrace + time.Nanosecond)
	if age, n := p.oldest(); age != time.Minute+time.Second+PendingGrace+time.Nanosecond || n != 1 {
		t.Errorf("past the grace of one: %v, %d; want the other's age, 1", age, n)
	}
	// Seen again: its due time moves on.
	p.Retrying("evt_2", "wh_2", now.Add(-time.Hour), time.Minute)
	if _, n := p.oldest(); n != 2 {
		t.Errorf("seen again: %d pending, want 2", n)
	}
}
