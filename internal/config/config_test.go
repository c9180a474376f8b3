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
		c.DynamoDBEndpoint != "" || c.WebhookAllowedCIDRs != "" || c.ShutdownTimeout != 25*time.Second || c.ShutdownDrain != 5*time.Second ||
		c.EventRetention != 720*time.Hour || c.WebhookBreakerFailures != 5 || c.WebhookDisableAfter != 120*time.Hour ||
		c.OrgNotifyPerSecond != 200 || c.OrgReplaysPerHour != 1000 {
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
	// # comments (indented too, and commented-out settings) and blank lines are skipped.
	os.WriteFile(file, []byte("# make run\nHTTP_ADDR=:9999\n# HTTP_ADDR=:1111\n   # LOG_LEVEL=error\nexport DYNAMODB_TABLE=\"from-file\"\nLOG_LEVEL='debug'\n\n  \t\nAUTH_CACHE_TTL=5s\n"), 0o600)
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
		{"AUTH_CACHE_TTL=-1s", "AUTH_CACHE_TTL=-1s must be between 0"},
		{"WEBHOOK_TIMEOUT=2m", "WEBHOOK_TIMEOUT must be at most 45s"},
		{"WEBHOOK_RETRY_SCHEDULE=5s,-1s", "durations must be positive"},
		{"WEBHOOK_RETRY_SCHEDULE=soon", "WEBHOOK_RETRY_SCHEDULE"},
		{"WEBHOOK_ALLOWED_CIDRS=10.0.0.0/8,nonsense", "WEBHOOK_ALLOWED_CIDRS"},
		{"WORKER_CONCURRENCY=0", "WORKER_CONCURRENCY"},
		{"WEBHOOK_BREAKER_FAILURES=0", "WEBHOOK_BREAKER_FAILURES must be at least 1"},
		{"WEBHOOK_DISABLE_AFTER=-1h", "WEBHOOK_DISABLE_AFTER must not be negative"},
		{"AUTH_CACHE_TTL=two", "AUTH_CACHE_TTL"},
		{"ORG_NOTIFY_PER_SECOND=-1", "ORG_NOTIFY_PER_SECOND must not be negative"},
		{"ORG_REPLAYS_PER_HOUR=-5", "ORG_REPLAYS_PER_HOUR must not be negative"},
		{"ORG_REPLAYS_PER_HOUR=many", "ORG_REPLAYS_PER_HOUR"},
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

// load reads a configuration with no env file and the given settings.
func load(t *testing.T, settings ...string) (Config, error) {
	t.Helper()
	return Load(append([]string{"PCX_ENV_FILE="}, settings...))
}

// Every rule that keeps a promise of delivery, at its boundary: the figure itself is accepted,
// one step past it refused with an error naming the settings and the figures.
func TestPromiseRules(t *testing.T) {
	for _, tc := range []struct {
		name     string
		ok, bad  []string
		mentions []string
	}{
		{
			// 90s attempt - 30s slot wait - 15s store = 45s.
			name: "WEBHOOK_TIMEOUT fits in an attempt",
			ok:   []string{"WEBHOOK_TIMEOUT=45s", "SHUTDOWN_TIMEOUT=50s"}, bad: []string{"WEBHOOK_TIMEOUT=45001ms", "SHUTDOWN_TIMEOUT=50s"},
			mentions: []string{"WEBHOOK_TIMEOUT=45.001s", "1m30s", "30s", "15s", "at most 45s"},
		},
		{
			// 1h at 120% = 1h12m, + 24h = 25h12m.
			name: "EVENT_RETENTION outlasts the retries",
			ok:   []string{"WEBHOOK_RETRY_SCHEDULE=1h", "EVENT_RETENTION=25h12m", "WEBHOOK_DISABLE_AFTER=0"}, bad: []string{"WEBHOOK_RETRY_SCHEDULE=1h", "EVENT_RETENTION=25h11m59s", "WEBHOOK_DISABLE_AFTER=0"},
			mentions: []string{"EVENT_RETENTION=25h11m59s", "WEBHOOK_RETRY_SCHEDULE", "1h0m0s", "1h12m0s", "20% jitter", "24h0m0s", "25h12m0s"},
		},
		{
			// The default schedule: 75h35m5s, 90h42m6s with jitter, 114h42m6s with the margin.
			name: "EVENT_RETENTION with the default schedule",
			ok:   []string{"EVENT_RETENTION=114h42m6s", "WEBHOOK_DISABLE_AFTER=0"}, bad: []string{"EVENT_RETENTION=114h42m5s", "WEBHOOK_DISABLE_AFTER=0"},
			mentions: []string{"75h35m5s", "90h42m6s", "114h42m6s"},
		},
		{
			// A delivery held behind a breaker until WEBHOOK_DISABLE_AFTER, then its schedule:
			// 120h + 114h42m6s = 234h42m6s.
			name: "EVENT_RETENTION outlasts a delivery held behind a failing endpoint",
			ok:   []string{"EVENT_RETENTION=234h42m6s"}, bad: []string{"EVENT_RETENTION=234h42m5s"},
			mentions: []string{"WEBHOOK_DISABLE_AFTER=120h0m0s", "114h42m6s", "234h42m6s"},
		},
		{
			name: "SHUTDOWN_DRAIN is part of SHUTDOWN_TIMEOUT",
			ok:   []string{"SHUTDOWN_TIMEOUT=6s", "SHUTDOWN_DRAIN=5999ms"}, bad: []string{"SHUTDOWN_TIMEOUT=6s", "SHUTDOWN_DRAIN=6s"},
			mentions: []string{"SHUTDOWN_DRAIN=6s", "SHUTDOWN_TIMEOUT=6s"},
		},
		{
			name: "SHUTDOWN_DRAIN is not negative",
			ok:   []string{"SHUTDOWN_DRAIN=0s"}, bad: []string{"SHUTDOWN_DRAIN=-1s"},
			mentions: []string{"SHUTDOWN_DRAIN=-1s"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := load(t, tc.ok...); err != nil {
				t.Fatalf("%v refused: %v", tc.ok, err)
			}
			_, err := load(t, tc.bad...)
			if err == nil {
				t.Fatalf("%v accepted", tc.bad)
			}
			for _, m := range tc.mentions {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("%v: error %q does not mention %q", tc.bad, err, m)
				}
			}
		})
	}
}

// A stopping worker waits for the longest attempt: WEBHOOK_TIMEOUT plus 5s to record it.
func TestWorkerStopCoversAttempt(t *testing.T) {
	c, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WorkerStopCoversAttempt(); err != nil {
		t.Fatalf("the defaults (SHUTDOWN_TIMEOUT=25s, WEBHOOK_TIMEOUT=15s): %v", err)
	}
	c, _ = load(t, "WEBHOOK_TIMEOUT=10s", "SHUTDOWN_TIMEOUT=15s")
	if err := c.WorkerStopCoversAttempt(); err != nil {
		t.Fatalf("SHUTDOWN_TIMEOUT=15s, WEBHOOK_TIMEOUT=10s: %v", err)
	}
	c, _ = load(t, "WEBHOOK_TIMEOUT=10s", "SHUTDOWN_TIMEOUT=14999ms")
	err = c.WorkerStopCoversAttempt()
	for _, m := range []string{"SHUTDOWN_TIMEOUT=14.999s", "WEBHOOK_TIMEOUT=10s", "5s", "= 15s"} {
		if err == nil || !strings.Contains(err.Error(), m) {
			t.Errorf("SHUTDOWN_TIMEOUT=14.999s, WEBHOOK_TIMEOUT=10s: error %v, want it to mention %q", err, m)
		}
	}
}

// A secret can come from a file named by <NAME>_FILE (a Docker or Kubernetes secret), its
// trailing newline trimmed; both at once, a missing or an empty file are refused by name.
func TestSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	peppers := filepath.Join(dir, "peppers")
	os.WriteFile(peppers, []byte("1:cGN4Y3RsIHRlc3QgcGVwcGVyIG9mIDMyIGJ5dGVzISE=\n"), 0o600)
	token := filepath.Join(dir, "token")
	os.WriteFile(token, []byte(strings.Repeat("t", 40)+"\n"), 0o600)
	c, err := Load([]string{"PCX_ENV_FILE=", "APIKEY_PEPPERS_FILE=" + peppers, "INTERNAL_TOKEN_FILE=" + token})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Peppers(); err != nil || c.InternalToken != strings.Repeat("t", 40) {
		t.Fatalf("from files: peppers %v, token %q", err, c.InternalToken)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	for what, environ := range map[string][]string{
		"both set":     {"APIKEY_PEPPERS=1:x", "APIKEY_PEPPERS_FILE=" + peppers},
		"missing file": {"WEBHOOK_SECRETS_KEYS_FILE=" + filepath.Join(dir, "nope")},
		"empty file":   {"METRICS_TOKEN_FILE=" + empty},
	} {
		_, err := Load(append([]string{"PCX_ENV_FILE="}, environ...))
		name, _, _ := strings.Cut(environ[len(environ)-1], "_FILE=")
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want an error naming %s", what, err, name)
		}
	}
}
