package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/pcx/publicservice/app"
	"github.com/pcx/publicservice/internal/config"
	"github.com/pcx/publicservice/internal/keyformat"
	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

type result struct {
	code           int
	stdout, stderr string
}

func pcxctl(t *testing.T, environ []string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, environ, &out, &errb)
	return result{code, out.String(), errb.String()}
}

func TestUsage(t *testing.T) {
	env := []string{"PCX_ENV_FILE="}
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{nil, exitUsage, "usage: pcxctl"},
		{[]string{"--help"}, exitOK, "keys create"},
		{[]string{"keys", "create", "--help"}, exitOK, "-org-id"},
		{[]string{"keys", "list", "-h"}, exitOK, "-limit"},
		{[]string{"keys", "revoke", "--help"}, exitOK, "-prefix"},
		{[]string{"keys", "activate", "--help"}, exitOK, "-prefix"},
		{[]string{"keys", "revoke", "--help"}, exitOK, "-cascade"},
		{[]string{"audit", "list", "--help"}, exitOK, "-target-id"},
		{[]string{"audit", "list", "--org-id", "o", "--target-id", "x"}, exitUsage, ""},
		{[]string{"table", "create", "--help"}, exitOK, "DYNAMODB_TABLE"},
		{[]string{"probe", "--help"}, exitOK, "health checks"},
		{[]string{"version"}, exitOK, "pcxctl "},
		{[]string{"events", "show", "evt_x", "--help"}, exitOK, "EVENT_ID"}, // a flag after the operand
		{[]string{"probe", "--", "--help"}, exitFailure, ""},                // after --, an operand (a URL that is no URL)
		{[]string{"version", "extra"}, exitUsage, ""},
		{[]string{"webhooks", "list", "--help"}, exitOK, "-org-id"},
		{[]string{"webhooks", "check-secrets", "--help"}, exitOK, "-without"},
		{[]string{"webhooks", "check-secrets", "--without", "x"}, exitUsage, ""},
		{[]string{"events", "show", "--help"}, exitOK, "EVENT_ID"},
		{[]string{"events", "replay", "--help"}, exitOK, "-webhook-ids"},
		{[]string{"nonsense"}, exitUsage, ""},
		{[]string{"keys", "create", "--org-id", "o"}, exitUsage, ""},
		{[]string{"keys", "create", "--bogus"}, exitUsage, ""},
		{[]string{"keys", "revoke", "--org-id", "o", "--prefix", "nope"}, exitUsage, ""},
		{[]string{"keys", "list", "--org-id", "o", "--limit", "0"}, exitUsage, ""},
		{[]string{"keys", "list", "--org-id", "o", "extra"}, exitUsage, ""},
		{[]string{"probe"}, exitUsage, ""},
	} {
		r := pcxctl(t, env, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stdout, tc.out) {
			t.Errorf("pcxctl %v: exit %d stdout %q stderr %q; want exit %d with %q", tc.args, r.code, r.stdout, r.stderr, tc.code, tc.out)
		}
	}
}

// A usage error is said once, on stderr, and the usage is not dumped after it.
func TestUsageErrorOnce(t *testing.T) {
	r := pcxctl(t, []string{"PCX_ENV_FILE="}, "keys", "list", "--bogus")
	if r.code != exitUsage || strings.Count(r.stderr, "bogus") != 1 || r.stdout != "" {
		t.Fatalf("bad flag: exit %d stdout %q stderr %q; want the error once on stderr", r.code, r.stdout, r.stderr)
	}
}

func TestProbe(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }))
	defer bad.Close()
	if r := pcxctl(t, nil, "probe", ok.URL); r.code != exitOK {
		t.Fatalf("probe of a 200: exit %d %s", r.code, r.stderr)
	}
	if r := pcxctl(t, nil, "probe", bad.URL); r.code != exitFailure || !strings.Contains(r.stderr, "503") {
		t.Fatalf("probe of a 503: exit %d %s", r.code, r.stderr)
	}
	if r := pcxctl(t, nil, "probe", "--timeout", "200ms", "http://127.0.0.1:1/"); r.code != exitFailure {
		t.Fatalf("probe of a closed port: exit %d", r.code)
	}
}

// The bootstrap path: create the table, create a key (printed alone on the last line), list it,
// revoke and re-activate it, with not-found and validation errors as exit codes.
func TestKeysCommands(t *testing.T) {
	ddb := testenv.DynamoDB(t)
	dir := t.TempDir()
	// Configuration through an env file, as beside `make run`; one variable from the environment.
	envFile := dir + "/pcx.env"
	content := fmt.Sprintf("# written by make run\nDYNAMODB_ENDPOINT=%s\nDYNAMODB_TABLE='pcxctl-test'\nexport APIKEY_PEPPERS=\"1:cGN4Y3RsIHRlc3QgcGVwcGVyIG9mIDMyIGJ5dGVzISE=\"\nAWS_REGION=eu-west-1\n", ddb.Endpoint)
	if err := os.WriteFile(envFile, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PCX_ENV_FILE=" + envFile, "AWS_REGION=us-east-1"}

	if r := pcxctl(t, env, "table", "create"); r.code != exitOK || !strings.Contains(r.stdout, "created table pcxctl-test") {
		t.Fatalf("table create: %+v", r)
	}
	if r := pcxctl(t, env, "table", "create"); r.code != exitOK || !strings.Contains(r.stdout, "already exists") {
		t.Fatalf("second table create: %+v", r)
	}
	r := pcxctl(t, env, "keys", "create", "--org-id", "acme", "--user-id", "ops", "--name", "first key", "--expires-at", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	if r.code != exitOK {
		t.Fatalf("keys create: %+v", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	key := lines[len(lines)-1]
	keyID := strings.Fields(lines[0])[3] // "created API key <api_key_id> (prefix ...)"
	k, err := keyformat.Parse(key)
	if err != nil {
		t.Fatalf("last line %q is not a key: %v", key, err)
	}

	// Before retiring pepper 1: the key is under it (exit 4); nothing is under version 2.
	if r := pcxctl(t, env, "keys", "pepper-versions"); r.code != exitOK || !strings.Contains(r.stdout, "pepper version 1: 1 key(s) (newest)") {
		t.Fatalf("keys pepper-versions: %+v", r)
	}
	if r := pcxctl(t, env, "keys", "pepper-versions", "--retire", "1", "--page-size", "1"); r.code != exitFindings || !strings.Contains(r.stdout, "pepper version 1: 1 key(s) (to retire)") {
		t.Fatalf("keys pepper-versions --retire 1: %+v; want exit %d", r, exitFindings)
	}
	if r := pcxctl(t, env, "keys", "pepper-versions", "--retire", "2"); r.code != exitOK || !strings.Contains(r.stdout, "may be removed") {
		t.Fatalf("keys pepper-versions --retire 2: %+v", r)
	}
	r = pcxctl(t, env, "keys", "list", "--org-id", "acme")
	if r.code != exitOK || !strings.Contains(r.stdout, k.Prefix()) || !strings.Contains(r.stdout, "first key") || strings.Contains(r.stdout, k.Secret) {
		t.Fatalf("keys list: %+v", r)
	}
	if r := pcxctl(t, env, "keys", "revoke", "--org-id", "other", "--prefix", k.Prefix()); r.code != exitNotFound {
		t.Fatalf("revoke as another org: exit %d, want %d", r.code, exitNotFound)
	}
	if r := pcxctl(t, env, "keys", "revoke", "--org-id", "acme", "--prefix", k.Prefix()); r.code != exitOK || !strings.Contains(r.stdout, "revoked") {
		t.Fatalf("revoke: %+v", r)
	}
	if r := pcxctl(t, env, "keys", "activate", "--org-id", "acme", "--prefix", k.Prefix()); r.code != exitOK || !strings.Contains(r.stdout, "active") {
		t.Fatalf("activate: %+v", r)
	}
	// Scopes: narrowed at creation, refused when unknown.
	r = pcxctl(t, env, "keys", "create", "--org-id", "acme", "--user-id", "ci", "--name", "ci", "--scopes", "events:write,keys:read")
	if r.code != exitOK || !strings.Contains(r.stdout, "scopes keys:read,events:write") {
		t.Fatalf("keys create --scopes: %+v", r)
	}
	if r := pcxctl(t, env, "keys", "create", "--org-id", "acme", "--user-id", "ci", "--name", "x", "--scopes", "root"); r.code != exitUsage || !strings.Contains(r.stderr, "unknown scope") {
		t.Fatalf("keys create with an unknown scope: %+v", r)
	}
	if r := pcxctl(t, env, "keys", "revoke", "--org-id", "acme", "--prefix", k.Prefix(), "--cascade"); r.code != exitOK || !strings.Contains(r.stdout, "1 key(s) revoked") {
		t.Fatalf("revoke --cascade: %+v", r)
	}
	// The audit log holds every change above, each the operator's.
	r = pcxctl(t, env, "audit", "list", "--org-id", "acme")
	if r.code != exitOK || strings.Count(r.stdout, "operator pcxctl") != 5 || strings.Count(r.stdout, "api_key.created") != 2 ||
		strings.Count(r.stdout, "api_key.revoked") != 2 || !strings.Contains(r.stdout, "api_key.activated") || strings.Contains(r.stdout, k.Secret) {
		t.Fatalf("audit list: %+v", r)
	}
	r = pcxctl(t, env, "audit", "list", "--org-id", "acme", "--action", "api_key.activated", "--target-id", keyID)
	if r.code != exitOK || strings.Count(r.stdout, "api_key.") != 1 {
		t.Fatalf("audit list by action and target: %+v", r)
	}
	if r := pcxctl(t, env, "audit", "list", "--org-id", "acme", "--action", "nope"); r.code != exitUsage || !strings.Contains(r.stderr, "--action") {
		t.Fatalf("audit list with an unknown action: %+v", r)
	}
	if r := pcxctl(t, env, "keys", "create", "--org-id", "acme", "--user-id", "ops", "--name", strings.Repeat("x", 101)); r.code != exitUsage || !strings.Contains(r.stderr, "name") {
		t.Fatalf("create with a long name: %+v", r)
	}
	// Without a pepper, a clear configuration error.
	if r := pcxctl(t, []string{"PCX_ENV_FILE=", "DYNAMODB_ENDPOINT=" + ddb.Endpoint}, "keys", "create", "--org-id", "a", "--user-id", "b", "--name", "c"); r.code != exitFailure || !strings.Contains(r.stderr, "APIKEY_PEPPERS is required") {
		t.Fatalf("create without a pepper: %+v", r)
	}
}

// The operator's view of webhooks and events: list endpoints, show an event with its
// deliveries, and replay it (a workflow started on Temporal, printed on the last line).
func TestWebhooksAndEventsCommands(t *testing.T) {
	ddb := testenv.DynamoDB(t)
	tmp := testenv.Temporal(t)
	env := []string{
		"PCX_ENV_FILE=", "DYNAMODB_ENDPOINT=" + ddb.Endpoint, "DYNAMODB_TABLE=pcxctl-events",
		"TEMPORAL_ADDRESS=" + tmp.Address, "TEMPORAL_TASK_QUEUE=pcxctl-events",
		"APIKEY_PEPPERS=1:cGN4Y3RsIHRlc3QgcGVwcGVyIG9mIDMyIGJ5dGVzISE=",
		"WEBHOOK_SECRETS_KEYS=1:cGN4Y3RsIHRlc3Qgc2VjcmV0cyBrZXkgMzIgYnl0ZXM=",
	}
	ctx := context.Background()
	st := newTable(t, env)
	now := time.Now().UTC().Truncate(time.Millisecond)
	hook := &pcx.Webhook{ID: pcx.NewID("wh", now), OrgID: "acme", URL: "https://hooks.example.com/pcx", Description: "billing\nteam",
		Status: pcx.WebhookActive, CreatedAt: now, UpdatedAt: now, Secrets: []pcx.WebhookSecret{{Key: []byte("0123456789abcdef0123456789abcdef")}}}
	if err := st.CreateWebhook(ctx, hook, 10, nil); err != nil {
		t.Fatal(err)
	}
	ev := failedOnce(t, st, hook, now)

	r := pcxctl(t, env, "webhooks", "list", "--org-id", "acme")
	if r.code != exitOK || !strings.Contains(r.stdout, hook.ID) || !strings.Contains(r.stdout, "billing team") || strings.Contains(r.stdout, "0123456789abcdef") {
		t.Fatalf("webhooks list: %+v", r)
	}
	// Endpoint administration: show, disable, enable, rotate the secret; each change audited as
	// the operator's; another organisation's endpoint is not found.
	if r := pcxctl(t, env, "webhooks", "show", "--org-id", "acme", "--webhook-id", hook.ID); r.code != exitOK ||
		!strings.Contains(r.stdout, hook.URL) || !strings.Contains(r.stdout, "healthy") || strings.Contains(r.stdout, "0123456789abcdef") {
		t.Fatalf("webhooks show: %+v", r)
	}
	if r := pcxctl(t, env, "webhooks", "show", "--org-id", "other", "--webhook-id", hook.ID); r.code != exitNotFound {
		t.Fatalf("webhooks show of another org's endpoint: %+v", r)
	}
	if r := pcxctl(t, env, "webhooks", "disable", "--org-id", "acme", "--webhook-id", hook.ID); r.code != exitOK || !strings.Contains(r.stdout, "is now disabled") {
		t.Fatalf("webhooks disable: %+v", r)
	}
	if r := pcxctl(t, env, "webhooks", "enable", "--webhook-id", hook.ID, "--org-id", "acme"); r.code != exitOK || !strings.Contains(r.stdout, "is now active") {
		t.Fatalf("webhooks enable: %+v", r)
	}
	r = pcxctl(t, env, "webhooks", "rotate-secret", "--org-id", "acme", "--webhook-id", hook.ID, "--grace", "0s")
	if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); r.code != exitOK || !strings.HasPrefix(lines[len(lines)-1], "whsec_") {
		t.Fatalf("webhooks rotate-secret: %+v", r)
	}
	r = pcxctl(t, env, "audit", "list", "--org-id", "acme", "--target-id", hook.ID)
	for _, a := range []string{"webhook.disabled", "webhook.enabled", "webhook.secret_rotated"} {
		if r.code != exitOK || !strings.Contains(r.stdout, a) || strings.Count(r.stdout, "operator pcxctl") != 3 {
			t.Fatalf("audit of the endpoint commands lacks %s: %+v", a, r)
		}
	}
	gone := &pcx.Webhook{ID: pcx.NewID("wh", now), OrgID: "acme", URL: "https://hooks.example.com/old", Status: pcx.WebhookActive,
		CreatedAt: now, UpdatedAt: now, Secrets: []pcx.WebhookSecret{{Key: []byte("0123456789abcdef0123456789abcdef")}}}
	if err := st.CreateWebhook(ctx, gone, 10, nil); err != nil {
		t.Fatal(err)
	}
	if r := pcxctl(t, env, "webhooks", "delete", "--org-id", "acme", "--webhook-id", gone.ID); r.code != exitOK || !strings.Contains(r.stdout, "deleted") {
		t.Fatalf("webhooks delete: %+v", r)
	}
	if r := pcxctl(t, env, "webhooks", "show", "--org-id", "acme", "--webhook-id", gone.ID); r.code != exitNotFound {
		t.Fatalf("webhooks show after delete: %+v", r)
	}
	if r := pcxctl(t, env, "webhooks", "disable", "--org-id", "acme", "--webhook-id", "nope"); r.code != exitUsage {
		t.Fatalf("webhooks disable of a malformed ID: %+v", r)
	}

	r = pcxctl(t, env, "events", "list", "--org-id", "acme")
	if r.code != exitOK || !strings.Contains(r.stdout, ev.ID) || !strings.Contains(r.stdout, "transaction.updated") {
		t.Fatalf("events list: %+v", r)
	}
	if r := pcxctl(t, env, "events", "list", "--org-id", "acme", "--type", "refund.created"); r.code != exitOK || strings.Contains(r.stdout, ev.ID) {
		t.Fatalf("events list --type refund.created: %+v", r)
	}
	if r := pcxctl(t, env, "events", "list", "--org-id", "acme", "--since", "yesterday"); r.code != exitUsage {
		t.Fatalf("events list --since yesterday: exit %d, want %d", r.code, exitUsage)
	}
	r = pcxctl(t, env, "webhooks", "deliveries", "--org-id", "acme", "--webhook-id", hook.ID)
	if r.code != exitOK || !strings.Contains(r.stdout, ev.ID) || !strings.Contains(r.stdout, "pending") || !strings.Contains(r.stdout, "503") {
		t.Fatalf("webhooks deliveries: %+v", r)
	}
	if r := pcxctl(t, env, "webhooks", "deliveries", "--org-id", "acme", "--webhook-id", hook.ID, "--status", "delivered"); r.code != exitOK || strings.Contains(r.stdout, ev.ID) {
		t.Fatalf("webhooks deliveries --status delivered: %+v", r)
	}
	if r := pcxctl(t, env, "webhooks", "deliveries", "--org-id", "other", "--webhook-id", hook.ID); r.code != exitNotFound {
		t.Fatalf("another organisation's endpoint: exit %d, want %d", r.code, exitNotFound)
	}
	if r := pcxctl(t, env, "webhooks", "deliveries", "--org-id", "acme", "--webhook-id", hook.ID, "--status", "lost"); r.code != exitUsage {
		t.Fatalf("--status lost: exit %d, want %d", r.code, exitUsage)
	}
	r = pcxctl(t, env, "events", "show", ev.ID)
	if r.code != exitOK || !strings.Contains(r.stdout, "org acme") || !strings.Contains(r.stdout, hook.ID) || !strings.Contains(r.stdout, "503") || !strings.Contains(r.stdout, "pending") {
		t.Fatalf("events show: %+v", r)
	}
	if r := pcxctl(t, env, "events", "show", "evt_nope"); r.code != exitNotFound {
		t.Fatalf("events show of an unknown event: exit %d, want %d", r.code, exitNotFound)
	}
	if r := pcxctl(t, env, "events", "show"); r.code != exitUsage {
		t.Fatalf("events show without an ID: exit %d, want %d", r.code, exitUsage)
	}
	r = pcxctl(t, env, "events", "replay", ev.ID)
	if r.code != exitOK {
		t.Fatalf("events replay: %+v", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	wfID := lines[len(lines)-1]
	if !strings.HasPrefix(wfID, "webhook-event-"+ev.ID+"-replay-") || !strings.Contains(r.stdout, "to 1 endpoint") {
		t.Fatalf("events replay printed %q", r.stdout)
	}
	tc, err := client.Dial(client.Options{HostPort: tmp.Address})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, err := tc.DescribeWorkflowExecution(ctx, wfID, ""); err != nil {
		t.Fatalf("the replay workflow %s is not on Temporal: %v", wfID, err)
	}
	if r := pcxctl(t, env, "events", "replay", "--webhook-ids", "wh_unknown", ev.ID); r.code != exitUsage {
		t.Fatalf("replay to an unknown webhook: %+v", r)
	}

	since := now.Add(-time.Hour).Format(time.RFC3339)
	r = pcxctl(t, env, "webhooks", "recover", "--org-id", "acme", "--webhook-id", hook.ID, "--since", since)
	if r.code != exitOK {
		t.Fatalf("webhooks recover: %+v", r)
	}
	lines = strings.Split(strings.TrimSpace(r.stdout), "\n")
	recID := lines[len(lines)-1]
	if !strings.HasPrefix(recID, "webhook-recovery-"+hook.ID+"-") {
		t.Fatalf("webhooks recover printed %q", r.stdout)
	}
	if _, err := tc.DescribeWorkflowExecution(ctx, recID, ""); err != nil {
		t.Fatalf("the recovery workflow %s is not on Temporal: %v", recID, err)
	}
	if r := pcxctl(t, env, "webhooks", "recover", "--org-id", "acme", "--webhook-id", hook.ID, "--since", since); r.code != exitFailure || !strings.Contains(r.stderr, "running") {
		t.Fatalf("a second recovery while the first runs: %+v", r)
	}
	if r := pcxctl(t, env, "webhooks", "recover", "--org-id", "other", "--webhook-id", hook.ID, "--since", since); r.code != exitNotFound {
		t.Fatalf("another organisation's endpoint: %+v", r)
	}
	if r := pcxctl(t, env, "webhooks", "recover", "--org-id", "acme", "--webhook-id", hook.ID, "--since", now.Add(-800*time.Hour).Format(time.RFC3339)); r.code != exitUsage {
		t.Fatalf("a window older than the retention: %+v", r)
	}
	if r := pcxctl(t, env, "webhooks", "recover", "--org-id", "acme", "--webhook-id", hook.ID); r.code != exitUsage {
		t.Fatalf("no --since: %+v", r)
	}
}

// The key-rollout check: endpoints sealed under a WEBHOOK_SECRETS_KEYS version this configuration
// lacks are listed and exit 4; with every version configured none are; --without names a version
// about to be removed.
func TestWebhooksCheckSecrets(t *testing.T) {
	ddb := testenv.DynamoDB(t)
	v1 := "1:cGN4Y3RsIHRlc3Qgc2VjcmV0cyBrZXkgMzIgYnl0ZXM="
	v2 := "2:cGN4Y3RsIHRlc3Qgc2VjcmV0cyBrZXkgMiwgMzIgYnk="
	base := []string{"PCX_ENV_FILE=", "DYNAMODB_ENDPOINT=" + ddb.Endpoint, "DYNAMODB_TABLE=pcxctl-secrets"}
	old := append(slices.Clone(base), "WEBHOOK_SECRETS_KEYS="+v1)
	both := append(slices.Clone(base), "WEBHOOK_SECRETS_KEYS="+v1+","+v2)
	if r := pcxctl(t, old, "table", "create"); r.code != exitOK {
		t.Fatalf("table create: %+v", r)
	}
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	create := func(environ []string, org string) *pcx.Webhook {
		t.Helper()
		st := openStore(t, environ)
		now = now.Add(time.Millisecond)
		w := &pcx.Webhook{ID: pcx.NewID("wh", now), OrgID: org, URL: "https://hooks.example.com/" + org, Status: pcx.WebhookActive,
			CreatedAt: now, UpdatedAt: now, Secrets: []pcx.WebhookSecret{{Key: []byte("0123456789abcdef0123456789abcdef")}}}
		if err := st.CreateWebhook(ctx, w, 10, nil); err != nil {
			t.Fatal(err)
		}
		return w
	}
	underV1 := create(old, "acme")
	underV2 := create(both, "globex") // sealed by an api that made version 2 current

	r := pcxctl(t, old, "webhooks", "check-secrets", "--page-size", "1")
	if r.code != exitFindings || !strings.Contains(r.stdout, underV2.ID) || strings.Contains(r.stdout, underV1.ID) ||
		!strings.Contains(r.stdout, "2 endpoint(s) scanned, 1 with a secret under a missing key version") || strings.Contains(r.stdout, "0123456789abcdef") {
		t.Fatalf("check-secrets with version 1 only: %+v; want exit %d listing %s alone", r, exitFindings, underV2.ID)
	}
	if r := pcxctl(t, both, "webhooks", "check-secrets"); r.code != exitOK || !strings.Contains(r.stdout, "key version 1: 1 secret(s)") || !strings.Contains(r.stdout, "key version 2: 1 secret(s)") {
		t.Fatalf("check-secrets with both versions: %+v; want exit 0 with a count per version", r)
	}
	r = pcxctl(t, both, "webhooks", "check-secrets", "--without", "1")
	if r.code != exitFindings || !strings.Contains(r.stdout, underV1.ID) || strings.Contains(r.stdout, underV2.ID) {
		t.Fatalf("check-secrets --without 1: %+v; want exit %d listing %s alone", r, exitFindings, underV1.ID)
	}
	if r := pcxctl(t, base, "webhooks", "check-secrets"); r.code != exitFailure || !strings.Contains(r.stderr, "WEBHOOK_SECRETS_KEYS") {
		t.Fatalf("check-secrets without WEBHOOK_SECRETS_KEYS: %+v", r)
	}
}

// newTable creates env's table with pcxctl and opens it as the services do, for a test to write
// what pcxctl then reads.
func newTable(t *testing.T, env []string) *store.Store {
	t.Helper()
	if r := pcxctl(t, env, "table", "create"); r.code != exitOK {
		t.Fatalf("table create: %+v", r)
	}
	return openStore(t, env)
}

func openStore(t *testing.T, env []string) *store.Store {
	t.Helper()
	cfg, err := config.Load(env)
	if err != nil {
		t.Fatal(err)
	}
	st, err := app.NewStore(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// failedOnce stores an event of hook's organisation, accepted at now, whose first attempt to hook
// got a 503: a pending delivery for events show and webhooks deliveries to list.
func failedOnce(t *testing.T, st *store.Store, hook *pcx.Webhook, now time.Time) *pcx.Event {
	t.Helper()
	ctx := context.Background()
	ev := &pcx.Event{ID: pcx.NewID("evt", now), OrgID: hook.OrgID, WorkflowID: "webhook-event-x", Source: "notify", CreatedAt: now, Payload: []byte(`{"a":1}`)}
	if err := st.CreateEvent(ctx, ev, time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	att := pcx.Attempt{At: now, StatusCode: 503, ErrorClass: "http_status", Duration: 20 * time.Millisecond}
	if err := st.RecordFirstAttempts(ctx, ev, []pcx.Delivery{{WebhookID: hook.ID, EndpointURL: hook.URL, Status: pcx.DeliveryPending, Attempt: &att}}, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	return ev
}
