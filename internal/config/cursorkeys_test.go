package config

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/pcx/publicservice/internal/cursor"
)

// CURSOR_KEYS, when set, gives the cursor keys newest first; unset, they are derived from the
// peppers with the newest pepper's first, the key cursors were signed with before CURSOR_KEYS.
func TestCursorSigningKeys(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	p1, p2 := strings.Repeat("1", 32), strings.Repeat("2", 32)
	c := Config{APIKeyPeppers: "1:" + b64(p1) + ",2:" + b64(p2)}
	keys, err := c.CursorSigningKeys()
	if err != nil || len(keys) != 2 || !bytes.Equal(keys[0], cursor.DeriveKey([]byte(p2))) || !bytes.Equal(keys[1], cursor.DeriveKey([]byte(p1))) {
		t.Fatalf("unset CURSOR_KEYS: %d keys, %v; want those derived from peppers 2 then 1", len(keys), err)
	}
	k1, k3 := strings.Repeat("a", 32), strings.Repeat("c", 32)
	c.CursorKeysValue = "3:" + b64(k3) + ",1:" + b64(k1)
	keys, err = c.CursorSigningKeys()
	if err != nil || len(keys) != 2 || string(keys[0]) != k3 || string(keys[1]) != k1 {
		t.Fatalf("CURSOR_KEYS 3,1: %d keys, %v; want 3 then 1", len(keys), err)
	}
	for _, bad := range []string{"1:" + b64("short"), "x", "1:" + b64(k1) + ",1:" + b64(k3)} {
		c.CursorKeysValue = bad
		if _, err := c.CursorSigningKeys(); err == nil || !strings.Contains(err.Error(), "CURSOR_KEYS") {
			t.Errorf("CURSOR_KEYS=%q: %v, want an error naming CURSOR_KEYS", bad, err)
		}
	}
}
