package keyformat

import (
	"crypto/rand"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	k, _ := New()
	typo := k.String()[:len(k.String())-1] + "x" // a wrong checksum: still most of a key
	for _, tc := range []struct{ in, want string }{
		{"/public/api-keys/" + k.String() + "/revoke", "/public/api-keys/" + k.Prefix() + "_" + Redacted + "/revoke"},
		{"/public/api-keys/" + typo, "/public/api-keys/" + k.Prefix() + "_" + Redacted},
		{"/public/api-keys/" + k.Secret, "/public/api-keys/" + Redacted},
		{"req-" + k.Secret + "-1", "req-" + Redacted + "-1"},
		{k.String() + "," + k.String(), k.Prefix() + "_" + Redacted + "," + k.Prefix() + "_" + Redacted},
		// Not secrets: prefixes, IDs, hex digests, UUIDs, longer or shorter runs.
		{"/public/api-keys/" + k.Prefix() + "/revoke", "/public/api-keys/" + k.Prefix() + "/revoke"},
		{"/public/webhooks/wh_01JABCDEF0123456789abcdefg", "/public/webhooks/wh_01JABCDEF0123456789abcdefg"},
		{"0123456789abcdef0123456789abcdef", "0123456789abcdef0123456789abcdef"},
		{"3f2b8c1e-9d4a-4e6b-8f1c-2a7d5e9b0c3f", "3f2b8c1e-9d4a-4e6b-8f1c-2a7d5e9b0c3f"},
		{"x" + k.Secret, "x" + k.Secret},
		{"", ""},
	} {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if HasSecret(tc.in) != (tc.in != tc.want) {
			t.Errorf("HasSecret(%q) = %v", tc.in, HasSecret(tc.in))
		}
	}
	// Generated secrets are recognised alone (all but a negligible share).
	missed := 0
	for range 2000 {
		k, _ := WithID(rand.Reader, "abcdef")
		if !HasSecret("/" + k.Secret) {
			missed++
		}
	}
	if missed > 2 {
		t.Errorf("%d of 2000 generated secrets not recognised alone", missed)
	}
	if strings.Contains(Redact("/"+k.String()), k.Secret) {
		t.Fatal("the secret survived")
	}
}
