package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/keyformat"
	"github.com/pcx/publicservice/internal/signing"
	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
)

// Every command says what it prints; every reader takes --json, and a command that shows a secret
// does not. Read from the command table, so a command added later is held to it too.
func TestCommandTable(t *testing.T) {
	env := []string{"PCX_ENV_FILE="}
	readers := 0
	for _, cmd := range commands() {
		words := strings.Fields(cmd.name)
		help := pcxctl(t, env, append(words, "--help")...)
		takesJSON := help.code == exitOK && strings.Contains(help.stdout, "\n  -json\n")
		switch cmd.output {
		case printsRead:
			readers++
			if !takesJSON {
				t.Errorf("pcxctl %s reads and prints but its --help lists no -json: %+v", cmd.name, help)
			}
		case printsSecret:
			if takesJSON {
				t.Errorf("pcxctl %s prints a secret and takes --json; its secret belongs alone on the last line", cmd.name)
			}
			if r := pcxctl(t, env, append(words, "--json")...); r.code != exitUsage || r.stdout != "" {
				t.Errorf("pcxctl %s --json: %+v; want a usage error and nothing on stdout", cmd.name, r)
			}
		case printsChange, printsNothing:
		default:
			t.Errorf("command %q does not say what it prints (output %d)", cmd.name, cmd.output)
		}
	}
	if readers < 10 {
		t.Errorf("%d read commands in the table; want the 10 there are at least", readers)
	}
}

// jsonCase is one read command run with --json: what it is given, how it exits, and what its
// document must hold.
type jsonCase struct {
	args  []string
	code  int
	check func(t *testing.T, doc any)
}

// Every read command's --json prints exactly one JSON document holding the fields and values a
// script would pick out, the names the public API uses, and no secret: not the API key, its secret
// or HMAC, nor an endpoint's signing secret (created or rotated), nor a pepper or secrets key.
func TestJSONOutput(t *testing.T) {
	ddb := testenv.DynamoDB(t).Endpoint
	pepper, secretsKey := "cGN4Y3RsIHRlc3QgcGVwcGVyIG9mIDMyIGJ5dGVzISE=", "cGN4Y3RsIHRlc3Qgc2VjcmV0cyBrZXkgMzIgYnl0ZXM="
	env := []string{"PCX_ENV_FILE=", "DYNAMODB_ENDPOINT=" + ddb, "DYNAMODB_TABLE=pcxctl-json",
		"APIKEY_PEPPERS=1:" + pepper, "WEBHOOK_SECRETS_KEYS=1:" + secretsKey}
	ctx := context.Background()
	st := newTable(t, env)

	// A key, made as an operator makes one; its secret and the HMAC the store keeps of it.
	expires := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	r := pcxctl(t, env, "keys", "create", "--org-id", "acme", "--user-id", "ops", "--name", "first key", "--expires-at", expires.Format(time.RFC3339))
	if r.code != exitOK {
		t.Fatalf("keys create: %+v", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	fullKey, keyID := lines[len(lines)-1], strings.Fields(lines[0])[3]
	k, err := keyformat.Parse(fullKey)
	if err != nil {
		t.Fatalf("last line %q is not a key: %v", fullKey, err)
	}
	stored, err := st.APIKeyByPrefix(ctx, k.Prefix())
	if err != nil || len(stored.SecretMAC) == 0 {
		t.Fatalf("the stored key: %v, %+v", err, stored)
	}
	secrets := []string{fullKey, k.Secret, hex.EncodeToString(stored.SecretMAC), base64.StdEncoding.EncodeToString(stored.SecretMAC),
		base64.RawURLEncoding.EncodeToString(stored.SecretMAC), pepper, secretsKey}

	// An endpoint with a random signing secret, one disabled by a 410, an event with a failed
	// first attempt to the first, and the first's secret rotated by pcxctl (the new one printed).
	now := time.Now().UTC().Truncate(time.Millisecond)
	newHook := func(url string) *pcx.Webhook {
		t.Helper()
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Millisecond)
		h := &pcx.Webhook{ID: pcx.NewID("wh", now), OrgID: "acme", URL: url, Description: "billing\nteam", Status: pcx.WebhookActive,
			CreatedAt: now, UpdatedAt: now, Secrets: []pcx.WebhookSecret{{Key: key}}}
		if err := st.CreateWebhook(ctx, h, 10, nil); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, signing.FormatSecret(key), base64.StdEncoding.EncodeToString(key), hex.EncodeToString(key))
		return h
	}
	hook, gone := newHook("https://hooks.example.com/pcx?a=1&b=2"), newHook("https://hooks.example.com/gone")
	if _, ok, err := st.DisableWebhook(ctx, "acme", gone.ID, pcx.DisabledGone, nil); err != nil || !ok {
		t.Fatalf("disable: %v %v", ok, err)
	}
	ev := failedOnce(t, st, hook, now)
	r = pcxctl(t, env, "webhooks", "rotate-secret", "--org-id", "acme", "--webhook-id", hook.ID)
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); r.code != exitOK || !strings.HasPrefix(lines[len(lines)-1], "whsec_") {
		t.Fatalf("webhooks rotate-secret: %+v", r)
	} else {
		rotated := lines[len(lines)-1]
		secrets = append(secrets, rotated, strings.TrimPrefix(rotated, "whsec_"))
	}

	keyFields := []string{"api_key_id", "prefix", "name", "org_id", "user_id", "status", "scopes", "created_by", "created_at", "expires_at", "last_used_at", "revoked_at"}
	endpointFields := []string{"webhook_id", "org_id", "endpoint_url", "description", "status", "disabled_reason", "disabled_at", "event_types", "payload_format", "health", "created_at", "updated_at"}
	stateFields := []string{"status", "attempts", "last_status_code", "last_error", "last_attempt_at", "delivered_at"}
	cases := map[string]jsonCase{
		"version": {args: []string{"version", "--json"}, check: func(t *testing.T, doc any) {
			v := object(t, doc, "version", "go_version", "os", "arch")
			want(t, v, "go_version", runtime.Version())
			want(t, v, "os", runtime.GOOS)
		}},
		"keys list": {args: []string{"keys", "list", "--json", "--org-id", "acme"}, check: func(t *testing.T, doc any) {
			v := only(t, doc, "prefix", k.Prefix(), keyFields...)
			want(t, v, "api_key_id", keyID)
			want(t, v, "name", "first key")
			want(t, v, "org_id", "acme")
			want(t, v, "user_id", "ops")
			want(t, v, "status", "active")
			want(t, v, "created_by", nil)
			want(t, v, "revoked_at", nil)
			want(t, v, "expires_at", expires.Format("2006-01-02T15:04:05.000Z07:00"))
			if scopes, _ := v["scopes"].([]any); len(scopes) != len(pcx.AllScopes) {
				t.Errorf("scopes %v; want all %d", v["scopes"], len(pcx.AllScopes))
			}
		}},
		"keys pepper-versions": {args: []string{"keys", "pepper-versions", "--retire", "1", "--json"}, code: exitFindings, check: func(t *testing.T, doc any) {
			v := object(t, doc, "versions", "retiring", "left_to_retire")
			want(t, v, "left_to_retire", 1.0)
			pv := only(t, v["versions"], "pepper_version", 1.0, "pepper_version", "keys", "newest", "configured", "retiring")
			want(t, pv, "keys", 1.0)
			want(t, pv, "retiring", true)
			want(t, pv, "configured", true)
		}},
		"audit list": {args: []string{"audit", "list", "--org-id", "acme", "--target-id", keyID, "--json"}, check: func(t *testing.T, doc any) {
			v := only(t, doc, "action", pcx.AuditKeyCreated, "audit_id", "org_id", "action", "target_id", "actor", "at", "request_id", "client_ip")
			want(t, v, "target_id", keyID)
			want(t, v, "request_id", nil)
			want(t, object(t, v["actor"], "operator"), "operator", "pcxctl")
		}},
		"webhooks list": {args: []string{"webhooks", "list", "--json", "--org-id", "acme"}, check: func(t *testing.T, doc any) {
			if items, _ := doc.([]any); len(items) != 2 {
				t.Errorf("%d endpoints; want 2", len(items))
			}
			v := only(t, doc, "webhook_id", hook.ID, endpointFields...)
			want(t, v, "endpoint_url", hook.URL) // & stays &
			want(t, v, "description", "billing\nteam")
			want(t, v, "status", "active")
			want(t, v, "disabled_reason", nil)
			want(t, v, "payload_format", "raw")
			if types, ok := v["event_types"].([]any); !ok || len(types) != 0 {
				t.Errorf("event_types %#v; want []", v["event_types"])
			}
			health := object(t, v["health"], "state", "consecutive_failures", "last_success_at", "last_failure_at", "failing_since")
			want(t, health, "state", "healthy")
			want(t, health, "failing_since", nil)
		}},
		"webhooks show": {args: []string{"webhooks", "show", "--org-id", "acme", "--webhook-id", gone.ID, "--json"}, check: func(t *testing.T, doc any) {
			v := object(t, doc, endpointFields...)
			want(t, v, "webhook_id", gone.ID)
			want(t, v, "status", "disabled")
			want(t, v, "disabled_reason", "gone")
			if at, _ := v["disabled_at"].(string); at == "" {
				t.Errorf("disabled_at %v; want the time", v["disabled_at"])
			}
		}},
		"webhooks deliveries": {args: []string{"webhooks", "deliveries", "--json", "--org-id", "acme", "--webhook-id", hook.ID}, check: func(t *testing.T, doc any) {
			v := only(t, doc, "event_id", ev.ID, append([]string{"event_id", "event_type", "created_at"}, stateFields...)...)
			want(t, v, "event_type", pcx.DefaultEventType)
			want(t, v, "status", "pending")
			want(t, v, "attempts", 1.0)
			want(t, v, "last_status_code", 503.0)
			want(t, v, "last_error", "http_status")
			want(t, v, "delivered_at", nil)
			want(t, v, "created_at", stamp(ev.CreatedAt))
		}},
		"webhooks check-secrets": {args: []string{"webhooks", "check-secrets", "--without", "1", "--json"}, code: exitFindings, check: func(t *testing.T, doc any) {
			v := object(t, doc, "endpoints", "secrets_per_key_version", "scanned", "found")
			want(t, v, "scanned", 2.0)
			want(t, v, "found", 2.0)
			e := only(t, v["endpoints"], "webhook_id", hook.ID, "org_id", "webhook_id", "status", "key_versions", "missing_key_versions")
			if m, _ := e["missing_key_versions"].([]any); !slices.Equal(m, []any{1.0}) {
				t.Errorf("missing_key_versions %v; want [1]", e["missing_key_versions"])
			}
			want(t, only(t, v["secrets_per_key_version"], "key_version", 1.0, "key_version", "secrets"), "secrets", 3.0) // two, one rotated
		}},
		"events list": {args: []string{"events", "list", "--org-id", "acme", "--json"}, check: func(t *testing.T, doc any) {
			v := only(t, doc, "event_id", ev.ID, "event_id", "event_type", "workflow_id", "created_at", "endpoint_count")
			want(t, v, "event_type", pcx.DefaultEventType)
			want(t, v, "workflow_id", "webhook-event-x")
		}},
		"events show": {args: []string{"events", "show", ev.ID, "--json"}, check: func(t *testing.T, doc any) { // a flag after the operand
			v := object(t, doc, "event_id", "org_id", "event_type", "source", "workflow_id", "created_at", "payload_bytes", "deliveries")
			want(t, v, "org_id", "acme")
			want(t, v, "source", "notify")
			want(t, v, "payload_bytes", 7.0)
			want(t, v, "created_at", stamp(ev.CreatedAt))
			d := only(t, v["deliveries"], "webhook_id", hook.ID, append([]string{"webhook_id", "endpoint_url"}, stateFields...)...)
			want(t, d, "last_status_code", 503.0)
			want(t, d, "endpoint_url", hook.URL)
		}},
	}

	var outputs []string
	for _, cmd := range commands() {
		if cmd.output != printsRead {
			if _, ok := cases[cmd.name]; ok {
				t.Errorf("a --json case for %q, which the table does not list as a reader", cmd.name)
			}
			continue
		}
		tc, ok := cases[cmd.name]
		if !ok {
			t.Errorf("read command %q has no --json case here: add one", cmd.name)
			continue
		}
		t.Run(strings.ReplaceAll(cmd.name, " ", "_"), func(t *testing.T) {
			r := pcxctl(t, env, tc.args...)
			if r.code != tc.code {
				t.Fatalf("pcxctl %v: exit %d, want %d; stderr %q", tc.args, r.code, tc.code, r.stderr)
			}
			outputs = append(outputs, r.stdout)
			tc.check(t, decodeOne(t, r.stdout))
		})
	}
	for _, out := range outputs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("a --json output holds secret material %q:\n%s", s, out)
			}
		}
	}
	if len(outputs) != len(cases) {
		t.Errorf("%d outputs searched for secrets; want %d", len(outputs), len(cases))
	}

	// An error prints nothing on stdout: a script reads a document or none.
	for _, args := range [][]string{{"events", "show", "evt_nope", "--json"}, {"keys", "list", "--json"}, {"webhooks", "show", "--json", "--org-id", "other", "--webhook-id", hook.ID}} {
		if r := pcxctl(t, env, args...); r.code == exitOK || r.stdout != "" || r.stderr == "" {
			t.Errorf("pcxctl %v: %+v; want a failure on stderr and nothing on stdout", args, r)
		}
	}
	// An empty list is [], not null.
	if r := pcxctl(t, env, "events", "list", "--org-id", "nobody", "--json"); r.code != exitOK || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("an empty list: %+v; want []", r)
	}
}

// decodeOne decodes out as one JSON document, with nothing after it.
func decodeOne(t *testing.T, out string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	var doc any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("stdout holds more than one JSON document:\n%s", out)
	}
	return doc
}

// object is v as a JSON object with exactly the fields named.
func object(t *testing.T, v any, fields ...string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%#v is not a JSON object", v)
	}
	var got []string
	for f := range m {
		got = append(got, f)
	}
	slices.Sort(got)
	fields = slices.Sorted(slices.Values(fields))
	if !slices.Equal(got, fields) {
		t.Errorf("fields %v; want %v", got, fields)
	}
	return m
}

// only is the one item of the array v whose field is value, as object checks it.
func only(t *testing.T, v any, field string, value any, fields ...string) map[string]any {
	t.Helper()
	items, ok := v.([]any)
	if !ok {
		t.Fatalf("%#v is not a JSON array", v)
	}
	var found []any
	for _, it := range items {
		if m, ok := it.(map[string]any); ok && m[field] == value {
			found = append(found, it)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d items with %s %v in %v; want 1", len(found), field, value, items)
	}
	return object(t, found[0], fields...)
}

// want checks one field's value (JSON numbers decode as float64, null as nil).
func want(t *testing.T, m map[string]any, field string, value any) {
	t.Helper()
	if m[field] != value {
		t.Errorf("%s = %#v; want %#v", field, m[field], value)
	}
}
