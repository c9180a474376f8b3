package pcx

import (
	"strings"
	"testing"
	"time"
)

func TestNewIDFormatAndOrder(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	a := NewID("evt", t0)
	b := NewID("evt", t0.Add(time.Millisecond))
	if !strings.HasPrefix(a, "evt_") || len(a) != len("evt_")+26 {
		t.Fatalf("NewID = %q, want evt_ and 26 characters", a)
	}
	for _, c := range a[4:] {
		if !strings.ContainsRune(crockford, c) {
			t.Fatalf("NewID = %q has %q outside the alphabet", a, c)
		}
	}
	if !(a < b) {
		t.Fatalf("IDs do not sort by time: %q !< %q", a, b)
	}
	seen := map[string]bool{}
	for range 1000 {
		id := NewID("evt", t0)
		if seen[id] {
			t.Fatalf("duplicate ID %q within one millisecond", id)
		}
		seen[id] = true
	}
}
