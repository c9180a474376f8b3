package cursor

import (
	"testing"
	"time"
)

// A Signer seals under its key and opens under it or an older one, so a new key comes in
// without invalidating the cursors in callers' hands; a key it does not hold opens nothing.
func TestOlderKeysOpen(t *testing.T) {
	oldKey, newKey, other := []byte("old cursor key"), []byte("new cursor key"), []byte("another key")
	old := NewSigner(oldKey, time.Hour)
	rotated := NewSigner(newKey, time.Hour, oldKey)
	for name, c := range map[string]struct {
		sealer *Signer
		opener *Signer
		ok     bool
	}{
		"old cursor, rotated signer":   {old, rotated, true},
		"new cursor, rotated signer":   {rotated, rotated, true},
		"new cursor, old signer":       {rotated, old, false},
		"old cursor, other key signer": {old, NewSigner(other, time.Hour, newKey), false},
	} {
		pos, err := c.opener.Open("org", "list", c.sealer.Seal("org", "list", "position"))
		if ok := err == nil && pos == "position"; ok != c.ok {
			t.Errorf("%s: Open = %q, %v; want opened %v", name, pos, err, c.ok)
		}
	}
}
