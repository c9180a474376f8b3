package e2e

import (
	"strings"
	"testing"

	"github.com/pcx/publicservice/internal/keyformat"
)

// A full key put where it does not belong — a URL path, an X-Request-ID — never reaches the logs,
// and the request ID echoed in the response never carries it either. The path is logged with the
// key's secret redacted (its prefix kept); a request ID holding a key or a secret is replaced.
func TestKeysInPathsAndRequestIDsNeverReachTheLogs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.vars["LOG_LEVEL"] = "debug"
	e.capture = &lockedBuffer{}
	api := e.startAPI()
	root := e.bootstrapKey("org-redact", "u")
	r := call(t, "POST", api.base+"/public/api-keys/create", root, map[string]any{"name": "pasted"})
	wantStatus(t, r, 201)
	var k keyData
	r.decode(t, &k, nil)
	pk, err := keyformat.Parse(k.APIKey)
	if err != nil {
		t.Fatal(err)
	}

	replies := []reply{
		call(t, "PATCH", api.base+"/public/api-keys/"+k.APIKey+"/revoke", root, nil),
		call(t, "GET", api.base+"/public/api-keys/"+k.APIKey, root, nil),
		call(t, "DELETE", api.base+"/public/api-keys/"+pk.Secret, root, nil),
		call(t, "GET", api.base+"/no/such/"+k.APIKey+"/route", "", nil),
		call(t, "GET", api.base+"/public/me", root, nil, "X-Request-ID", k.APIKey),
		call(t, "GET", api.base+"/public/me", root, nil, "X-Request-ID", pk.Secret),
		call(t, "GET", api.base+"/healthz", "", nil, "X-Request-ID", "req-"+pk.Secret),
	}
	for _, r := range replies {
		if id := r.header.Get("X-Request-ID"); id == "" || strings.Contains(id, pk.Secret) {
			t.Errorf("response X-Request-ID %q: want one that does not echo the key's secret", id)
		}
	}
	// The key still works: nothing above acted on it.
	wantStatus(t, call(t, "GET", api.base+"/public/me", k.APIKey, nil), 200)
	// A sane request ID is still echoed.
	if id := call(t, "GET", api.base+"/healthz", "", nil, "X-Request-ID", "trace-1234").header.Get("X-Request-ID"); id != "trace-1234" {
		t.Errorf("X-Request-ID trace-1234 echoed as %q", id)
	}

	logs := e.capture.String()
	if want := `"path":"/public/api-keys/` + pk.Prefix() + `_[REDACTED]/revoke"`; !strings.Contains(logs, want) {
		t.Fatalf("captured logs lack the redacted path %s (%d bytes)", want, len(logs))
	}
	for name, secret := range map[string]string{"api key": k.APIKey, "key secret": pk.Secret} {
		if i := strings.Index(logs, secret); i >= 0 {
			t.Errorf("the logs contain the %s: ...%s...", name, logs[max(0, i-200):min(len(logs), i+len(secret)+50)])
		}
	}
}
