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

func TestValidID(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for _, kind := range []string{"key", "wh", "evt", "rpl"} {
		for _, at := range []time.Time{time.UnixMilli(0), now, time.UnixMilli(1<<48 - 1)} {
			if id := NewID(kind, at); !ValidID(kind, id) {
				t.Errorf("ValidID(%q, %q) = false for an ID NewID returned", kind, id)
			}
		}
	}
	for in, want := range map[string]bool{
		"wh_01jd7q3x5m8k2n4p6r8t0v2w4y":  true,
		"wh_01jd7q3x5m8k2n4p6r8t0v2w4":   false, // one short
		"wh_01jd7q3x5m8k2n4p6r8t0v2w4yz": false,
		"wh_01JD7Q3X5M8K2N4P6R8T0V2W4Y":  false, // upper case is not what NewID writes
		"wh_01jd7q3x5m8k2n4p6r8t0v2w4u":  false, // u is not in the alphabet
		"wh_01jd7q3x5m8k2n4p6r8t0v2w#y":  false,
		"evt_01jd7q3x5m8k2n4p6r8t0v2w4":  false, // another kind
		"wh-01jd7q3x5m8k2n4p6r8t0v2w4y":  false,
		"wh_":                            false,
		"":                               false,
		"garbage":                        false,
	} {
		if got := ValidID("wh", in); got != want {
			t.Errorf("ValidID(wh, %q) = %v, want %v", in, got, want)
		}
	}
}

// FuzzValidID: ValidID never panics, and what it accepts is "<kind>_" and 26 alphabet characters.
func FuzzValidID(f *testing.F) {
	for _, s := range []string{"wh_01jd7q3x5m8k2n4p6r8t0v2w4y", "wh_", "w", "", "key_" + strings.Repeat("z", 26)} {
		f.Add("wh", s)
	}
	f.Add("key", "key_01jd7q3x5m8k2n4p6r8t0v2w4y")
	f.Fuzz(func(t *testing.T, kind, s string) {
		if !ValidID(kind, s) {
			return
		}
		rest, ok := strings.CutPrefix(s, kind+"_")
		if !ok || len(rest) != 26 || strings.Trim(rest, crockford) != "" {
			t.Fatalf("ValidID(%q, %q) = true for a string NewID could not return", kind, s)
		}
	})
}

func TestValidKeyPrefix(t *testing.T) {
	for in, want := range map[string]bool{
		"pcx_abc123": true, "pcx_abcdefghijkl": true, "pcx_abc12": false, "pcx_abcdefghijklm": false,
		"pcx_ABC123": false, "abc123": false, "pcx_abc-12": false, "": false,
	} {
		if got := ValidKeyPrefix(in); got != want {
			t.Errorf("ValidKeyPrefix(%q) = %v, want %v", in, got, want)
		}
	}
}

// Every ID NewID gives at a millisecond lies from FirstID to LastID of that millisecond, and
// after LastID of the one before and before FirstID of the one after.
func TestIDBounds(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	first, last := FirstID("evt", t0), LastID("evt", t0)
	if !ValidID("evt", first) || !ValidID("evt", last) {
		t.Fatalf("bounds %q, %q are not valid IDs", first, last)
	}
	for range 1000 {
		if id := NewID("evt", t0); id < first || id > last {
			t.Fatalf("NewID %q is outside [%q, %q]", id, first, last)
		}
	}
	if before, after := LastID("evt", t0.Add(-time.Millisecond)), FirstID("evt", t0.Add(time.Millisecond)); !(before < first && last < after) {
		t.Fatalf("bounds overlap their neighbours: %q %q %q %q", before, first, last, after)
	}
}
