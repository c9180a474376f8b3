package activities

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// excerpt keeps at most the limit's bytes of valid UTF-8, cut at a character, invalid bytes
// replaced, and says when it cut.
func TestExcerpt(t *testing.T) {
	const limit = 8
	for _, tc := range []struct {
		name, head string
		want       string
		cut        bool
	}{
		{"empty", "", "", false},
		{"short", "ok", "ok", false},
		{"exactly the limit", "12345678", "12345678", false},
		{"one byte over", "123456789", "12345678", true},
		{"a character across the limit", "1234567é", "1234567", true},             // é is 2 bytes: 8 and 9
		{"a 4-byte character cut by the read", "123456🚀", "123456", true},         // the read ends inside it
		{"invalid bytes replaced", "a\xff\xffb", "a\uFFFDb", false},               // a run of them by one replacement, 3 bytes
		{"a replacement that would pass the limit", "123456\xff", "123456", true}, // 6+3 bytes
		{"a short body ending inside a character", "ab\xe2\x82", "ab\uFFFD", false},
	} {
		got, cut := excerpt([]byte(tc.head), limit)
		if got != tc.want || cut != tc.cut || !utf8.ValidString(got) || len(got) > limit {
			t.Errorf("%s: excerpt(%q) = %q, %v; want %q, %v (valid UTF-8, at most %d bytes)", tc.name, tc.head, got, cut, tc.want, tc.cut, limit)
		}
	}
	if got, cut := excerpt([]byte(strings.Repeat("é", 3000)), 4096); len(got) != 4096 || !cut {
		t.Errorf("a long body kept %d bytes, cut %v; want 4096, true", len(got), cut)
	}
}
