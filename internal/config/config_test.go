package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c, err := Load([]string{"PCX_ENV_FILE="})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":8080" || c.InternalHTTPAddr != "127.0.0.1:8081" || c.TemporalAddress != "localhost:7233" ||
		c.AuthCacheTTL != 2*time.Second || c.WebhookTimeout != 15*time.Second || c.WebhookSecretGrace != 24*time.Hour ||
		len(c.WebhookRetrySchedule) != 9 || c.WebhookRetrySchedule[0] != 5*time.Second || c.WebhookRetrySchedule[8] != 24*time.Hour ||
		c.DynamoDBEndpoint != "" || c.WebhookAllowedCIDRs != "" {
		t.Fatalf("defaults = %+v", c)
	}
	if _, err := c.Peppers(); err == nil || !strings.Contains(err.Error(), "APIKEY_PEPPERS is required") {
		t.Fatalf("Peppers without a value = %v", err)
	}
	if _, err := c.SecretsKeys(); err == nil || !strings.Contains(err.Error(), "WEBHOOK_SECRETS_KEYS is required") {
		t.Fatalf("SecretsKeys without a value = %v", err)
	}
	if err := c.InternalTokenRequired(); err == nil {
		t.Fatal("an internal listener without INTERNAL_TOKEN was accepted")
	}
}

// The environment wins over the env file, which wins over the defaults.
func TestEnvFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pcx.env")
	os.WriteFile(file, []byte("# make run\nHTTP_ADDR=:9999\nexport DYNAMODB_TABLE=\"from-file\"\nLOG_LEVEL='debug'\n\nAUTH_CACHE_TTL=5s\n"), 0o600)
	c, err := Load([]string{"PCX_ENV_FILE=" + file, "DYNAMODB_TABLE=from-env"})
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != ":9999" || c.DynamoDBTable != "from-env" || c.LogLevel != "debug" || c.AuthCacheTTL != 5*time.Second {
		t.Fatalf("config = %+v", c)
	}
	if _, err := Load([]string{"PCX_ENV_FILE=" + filepath.Join(t.TempDir(), "missing.env")}); err != nil {
		t.Fatalf("a missing env file must be ignored: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.env")
	os.WriteFile(bad, []byte("JUSTAWORD\n"), 0o600)
	if _, err := Load([]string{"PCX_ENV_FILE=" + bad}); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("malformed env file = %v, want an error naming the line", err)
	}
}

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		env, want string
	}{
		{"REQUEST_TIMEOUT=0s", "REQUEST_TIMEOUT must be positive"},
		{"AUTH_CACHE_TTL=-1s", "AUTH_CACHE_TTL must not be negative"},
		{"WEBHOOK_TIMEOUT=2m", "WEBHOOK_TIMEOUT must be at most 1m"},
		{"WEBHOOK_RETRY_SCHEDULE=5s,-1s", "durations must be positive"},
		{"WEBHOOK_RETRY_SCHEDULE=soon", "WEBHOOK_RETRY_SCHEDULE"},
		{"WEBHOOK_ALLOWED_CIDRS=10.0.0.0/8,nonsense", "WEBHOOK_ALLOWED_CIDRS"},
		{"WORKER_CONCURRENCY=0", "WORKER_CONCURRENCY"},
		{"AUTH_CACHE_TTL=two", "AUTH_CACHE_TTL"},
	} {
		if _, err := Load([]string{"PCX_ENV_FILE=", tc.env}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to mention %q", tc.env, err, tc.want)
		}
	}
	c, err := Load([]string{"PCX_ENV_FILE=", "APIKEY_PEPPERS=1:c2hvcnQ=", "WEBHOOK_SECRETS_KEYS=1:c2hvcnQ=", "INTERNAL_TOKEN=short"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Peppers(); err == nil || strings.Contains(err.Error(), "c2hvcnQ") {
		t.Fatalf("short pepper: %v (and the error must not echo it)", err)
	}
	if _, err := c.SecretsKeys(); err == nil {
		t.Fatal("a 5-byte secrets key was accepted")
	}
	if err := c.InternalTokenRequired(); err == nil {
		t.Fatal("a 5-character internal token was accepted")
	}
	c.InternalHTTPAddr = ""
	if err := c.InternalTokenRequired(); err != nil {
		t.Fatalf("no internal listener needs no token: %v", err)
	}
}
