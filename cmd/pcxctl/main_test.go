package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/apikey"
	"github.com/pcx/publicservice/internal/testenv"
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
		{[]string{"table", "create", "--help"}, exitOK, "DYNAMODB_TABLE"},
		{[]string{"probe", "--help"}, exitOK, "health checks"},
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
	k, err := apikey.Parse(key)
	if err != nil {
		t.Fatalf("last line %q is not a key: %v", key, err)
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
	if r := pcxctl(t, env, "keys", "create", "--org-id", "acme", "--user-id", "ops", "--name", strings.Repeat("x", 101)); r.code != exitUsage || !strings.Contains(r.stderr, "name") {
		t.Fatalf("create with a long name: %+v", r)
	}
	// Without a pepper, a clear configuration error.
	if r := pcxctl(t, []string{"PCX_ENV_FILE=", "DYNAMODB_ENDPOINT=" + ddb.Endpoint}, "keys", "create", "--org-id", "a", "--user-id", "b", "--name", "c"); r.code != exitFailure || !strings.Contains(r.stderr, "APIKEY_PEPPERS is required") {
		t.Fatalf("create without a pepper: %+v", r)
	}
}
