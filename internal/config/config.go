// Package config reads the configuration every binary shares (api, worker, pcxctl) from the
// environment, validated at start with errors that name the variable.
//
// Values come from the process environment first, then from the file named by PCX_ENV_FILE
// (default ".run/pcx.env", read only when it exists). `make run` writes that file with the ports
// and the development secrets it generated, so `go run ./cmd/pcxctl` in a second terminal talks
// to the same stack with no extra setup, while anything exported in the shell still wins.
package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/pcx/publicservice/internal/cursor"
	"github.com/pcx/publicservice/internal/keyformat"
	"github.com/pcx/publicservice/internal/keyring"
	"github.com/pcx/publicservice/internal/netguard"
)

// Config is the whole configuration. Each binary validates the parts it uses when it starts.
type Config struct {
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`

	HTTPAddr         string        `env:"HTTP_ADDR" envDefault:":8080"`
	InternalHTTPAddr string        `env:"INTERNAL_HTTP_ADDR" envDefault:"127.0.0.1:8081"`
	InternalToken    string        `env:"INTERNAL_TOKEN"`
	WorkerHTTPAddr   string        `env:"WORKER_HTTP_ADDR" envDefault:"127.0.0.1:9090"`
	RequestTimeout   time.Duration `env:"REQUEST_TIMEOUT" envDefault:"10s"`
	ShutdownTimeout  time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"25s"`
	// ShutdownDrain is how long the api keeps serving after a stop signal, with /readyz at 503,
	// before it closes its listeners: time for a load balancer to stop sending to it. It is part
	// of SHUTDOWN_TIMEOUT, not added to it.
	ShutdownDrain time.Duration `env:"SHUTDOWN_DRAIN" envDefault:"5s"`
	// DebugPprof serves Go's profiler on the internal listener and the worker's health listener.
	DebugPprof bool `env:"DEBUG_PPROF" envDefault:"false"`
	// MetricsToken, when set, is the bearer token /metrics and /debug/pprof/ require on the
	// internal listener and the worker's listener. A listener that serves them beyond loopback
	// needs one (OpsListenerGuarded).
	MetricsToken string `env:"METRICS_TOKEN"`

	AWSRegion        string `env:"AWS_REGION" envDefault:"us-east-1"`
	DynamoDBEndpoint string `env:"DYNAMODB_ENDPOINT"`
	DynamoDBTable    string `env:"DYNAMODB_TABLE" envDefault:"pcx-public"`

	TemporalAddress   string `env:"TEMPORAL_ADDRESS" envDefault:"localhost:7233"`
	TemporalNamespace string `env:"TEMPORAL_NAMESPACE" envDefault:"default"`
	TemporalTaskQueue string `env:"TEMPORAL_TASK_QUEUE" envDefault:"pcx-webhooks"`

	APIKeyPeppers string `env:"APIKEY_PEPPERS"`
	// CursorKeysValue signs list cursors (CursorSigningKeys); empty: derived from the peppers.
	CursorKeysValue string        `env:"CURSOR_KEYS"`
	AuthCacheTTL    time.Duration `env:"AUTH_CACHE_TTL" envDefault:"2s"`
	// AuthFailuresPerMinute limits failed authentications per client address (0: no limit).
	AuthFailuresPerMinute int `env:"AUTH_FAILURES_PER_MINUTE" envDefault:"30"`
	// AuthUnknownReadsPerSecond bounds, per api instance and across all clients, the store reads
	// of prefixes the auth cache does not hold that turn out not to exist, in bursts of twice as
	// many; past it such a prefix is refused (503) without a read (0: no bound).
	AuthUnknownReadsPerSecond int `env:"AUTH_UNKNOWN_READS_PER_SECOND" envDefault:"100"`

	WebhookSecretsKeys   string          `env:"WEBHOOK_SECRETS_KEYS"`
	WebhookTimeout       time.Duration   `env:"WEBHOOK_TIMEOUT" envDefault:"15s"`
	WebhookRetrySchedule []time.Duration `env:"WEBHOOK_RETRY_SCHEDULE" envDefault:"5s,5m,30m,2h,5h,10h,14h,20h,24h" envSeparator:","`
	WebhookAllowedCIDRs  string          `env:"WEBHOOK_ALLOWED_CIDRS"`
	WebhookCAFile        string          `env:"WEBHOOK_CA_FILE"`
	WebhookSecretGrace   time.Duration   `env:"WEBHOOK_SECRET_GRACE" envDefault:"24h"`
	EventRetention       time.Duration   `env:"EVENT_RETENTION" envDefault:"720h"`
	// AuditRetention is how long audit records are kept (contract §7).
	AuditRetention      time.Duration `env:"AUDIT_RETENTION" envDefault:"8760h"`
	WebhookMaxEndpoints int           `env:"WEBHOOK_MAX_ENDPOINTS_PER_ORG" envDefault:"10000"`
	WorkerConcurrency   int           `env:"WORKER_CONCURRENCY" envDefault:"200"`
	// Sends in flight to one endpoint, and to one destination host, per worker: one
	// organisation's slow receivers cannot take every slot (internal/slots).
	WebhookEndpointConcurrency int `env:"WEBHOOK_ENDPOINT_CONCURRENCY" envDefault:"20"`
	WebhookHostConcurrency     int `env:"WEBHOOK_HOST_CONCURRENCY" envDefault:"50"`
	// WebhookBreakerFailures is how many consecutive failed attempts make an endpoint failing:
	// its deliveries then wait behind one probe at a time (contract §10).
	WebhookBreakerFailures int `env:"WEBHOOK_BREAKER_FAILURES" envDefault:"5"`
	// WebhookDisableAfter is how long an endpoint may be failing with no success before it is
	// disabled; 0 never disables.
	WebhookDisableAfter time.Duration `env:"WEBHOOK_DISABLE_AFTER" envDefault:"120h"`

	// OrgNotifyPerSecond limits notifies and transaction updates per organisation, in bursts of
	// twice as many, per api instance (0: no limit).
	OrgNotifyPerSecond int `env:"ORG_NOTIFY_PER_SECOND" envDefault:"200"`
	// OrgReplaysPerHour limits replays per organisation, in bursts of as many, per api instance
	// (0: no limit).
	OrgReplaysPerHour int `env:"ORG_REPLAYS_PER_HOUR" envDefault:"1000"`
}

// defaultEnvFile is where `make run` writes its env file; PCX_ENV_FILE names another, or none
// when set empty. Load reads it before parsing, so it is not a field of Config.
const defaultEnvFile = ".run/pcx.env"

// Load reads the configuration from environ (os.Environ() in production) and the env file.
func Load(environ []string) (Config, error) {
	vars := toMap(environ)
	file := defaultEnvFile
	if v, ok := vars["PCX_ENV_FILE"]; ok {
		file = v
	}
	if file != "" {
		fromFile, err := readEnvFile(file)
		if err != nil {
			return Config{}, err
		}
		for k, v := range fromFile {
			if _, set := vars[k]; !set {
				vars[k] = v
			}
		}
	}
	if err := secretsFromFiles(vars); err != nil {
		return Config{}, err
	}
	var c Config
	if err := env.ParseWithOptions(&c, env.Options{Environment: vars}); err != nil {
		return Config{}, namedErrors(err)
	}
	if err := c.validateCommon(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// secretVars are the settings that hold secrets: each may instead be read from a file named by
// <NAME>_FILE (Docker and Kubernetes secrets are files), so it never has to sit in the
// environment of the process or in a compose file.
var secretVars = []string{"APIKEY_PEPPERS", "WEBHOOK_SECRETS_KEYS", "CURSOR_KEYS", "INTERNAL_TOKEN", "METRICS_TOKEN"}

// maxSecretFile bounds a secret file: any real one is a few hundred bytes.
const maxSecretFile = 64 << 10

// secretsFromFiles sets each secret named by <NAME>_FILE from its file, its surrounding white
// space (a trailing newline) trimmed. Setting both NAME and NAME_FILE is refused: which one wins
// would be a guess.
func secretsFromFiles(vars map[string]string) error {
	for _, name := range secretVars {
		path, ok := vars[name+"_FILE"]
		if !ok || path == "" {
			continue
		}
		if v, set := vars[name]; set && v != "" {
			return fmt.Errorf("config: both %s and %s_FILE are set; set one", name, name)
		}
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("config: %s_FILE: %w", name, err)
		}
		b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
		f.Close()
		if err != nil {
			return fmt.Errorf("config: %s_FILE: %w", name, err)
		}
		if len(b) > maxSecretFile {
			return fmt.Errorf("config: %s_FILE %s is larger than 64 KiB: not a secret of this service", name, path)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return fmt.Errorf("config: %s_FILE %s is empty", name, path)
		}
		vars[name] = v
	}
	return nil
}

// namedErrors rewrites the env library's parse errors, which name Go struct fields, to name the
// environment variables an operator sets.
func namedErrors(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("config: %w", err)
	}
	t := reflect.TypeOf(Config{})
	var msgs []string
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if f, ok := t.FieldByName(pe.Name); ok {
				name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
				msgs = append(msgs, fmt.Sprintf("%s: %v", name, pe.Err))
				continue
			}
		}
		msgs = append(msgs, e.Error())
	}
	return fmt.Errorf("config: %s", strings.Join(msgs, "; "))
}

func toMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// readEnvFile reads KEY=VALUE lines; blank lines and # comments are skipped, and a value may be
// wrapped in single or double quotes. A missing file is not an error.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("config: PCX_ENV_FILE: %w", err)
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			return nil, fmt.Errorf("config: %s line %d: want KEY=VALUE", path, n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		vars[strings.TrimSpace(k)] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	return vars, nil
}

func (c Config) validateCommon() error {
	var problems []string
	positive := map[string]time.Duration{
		"REQUEST_TIMEOUT": c.RequestTimeout, "SHUTDOWN_TIMEOUT": c.ShutdownTimeout,
		"WEBHOOK_TIMEOUT": c.WebhookTimeout, "EVENT_RETENTION": c.EventRetention,
		"AUDIT_RETENTION": c.AuditRetention,
	}
	for name, d := range positive {
		if d <= 0 {
			problems = append(problems, name+" must be positive")
		}
	}
	if c.WebhookTimeout > MaxWebhookTimeout {
		problems = append(problems, fmt.Sprintf("WEBHOOK_TIMEOUT=%s does not fit in a delivery attempt: of the attempt's %s activity timeout, up to %s wait for a send slot and %s are kept for the store, so WEBHOOK_TIMEOUT must be at most %s",
			c.WebhookTimeout, AttemptTimeout, SlotWait, StoreMargin, MaxWebhookTimeout))
	}
	if c.ShutdownDrain < 0 || (c.ShutdownTimeout > 0 && c.ShutdownDrain >= c.ShutdownTimeout) {
		problems = append(problems, fmt.Sprintf("SHUTDOWN_DRAIN=%s must be at least 0 and shorter than SHUTDOWN_TIMEOUT=%s, which it is part of (the rest lets in-flight requests finish)",
			c.ShutdownDrain, c.ShutdownTimeout))
	}
	if p := c.retentionProblem(); p != "" {
		problems = append(problems, p)
	}
	if c.WorkerConcurrency < 1 {
		problems = append(problems, "WORKER_CONCURRENCY must be at least 1")
	}
	if c.WebhookEndpointConcurrency < 1 {
		problems = append(problems, "WEBHOOK_ENDPOINT_CONCURRENCY must be at least 1")
	}
	if c.WebhookHostConcurrency < 1 {
		problems = append(problems, "WEBHOOK_HOST_CONCURRENCY must be at least 1")
	}
	if c.WebhookBreakerFailures < 1 {
		problems = append(problems, "WEBHOOK_BREAKER_FAILURES must be at least 1")
	}
	if c.WebhookDisableAfter < 0 {
		problems = append(problems, "WEBHOOK_DISABLE_AFTER must not be negative (0 never disables)")
	}
	if c.WebhookMaxEndpoints < 1 {
		problems = append(problems, "WEBHOOK_MAX_ENDPOINTS_PER_ORG must be at least 1")
	}
	for name, n := range map[string]int{"ORG_NOTIFY_PER_SECOND": c.OrgNotifyPerSecond, "ORG_REPLAYS_PER_HOUR": c.OrgReplaysPerHour,
		"AUTH_FAILURES_PER_MINUTE": c.AuthFailuresPerMinute, "AUTH_UNKNOWN_READS_PER_SECOND": c.AuthUnknownReadsPerSecond} {
		if n < 0 {
			problems = append(problems, name+" must not be negative (0 disables the limit)")
		}
	}
	if c.AuthCacheTTL < 0 || c.AuthCacheTTL > MaxAuthCacheTTL {
		problems = append(problems, fmt.Sprintf("AUTH_CACHE_TTL=%s must be between 0 (no cache) and %s: it is how long a revoked or deleted key keeps working on other instances",
			c.AuthCacheTTL, MaxAuthCacheTTL))
	}
	if c.MetricsToken != "" && len(c.MetricsToken) < 32 {
		problems = append(problems, "METRICS_TOKEN must be at least 32 characters when set")
	}
	if c.WebhookSecretGrace < 0 {
		problems = append(problems, "WEBHOOK_SECRET_GRACE must not be negative")
	}
	if len(c.WebhookRetrySchedule) == 0 || len(c.WebhookRetrySchedule) > 50 {
		problems = append(problems, "WEBHOOK_RETRY_SCHEDULE must list 1 to 50 durations")
	}
	for _, d := range c.WebhookRetrySchedule {
		if d <= 0 {
			problems = append(problems, "WEBHOOK_RETRY_SCHEDULE durations must be positive")
			break
		}
	}
	if c.DynamoDBTable == "" {
		problems = append(problems, "DYNAMODB_TABLE must not be empty")
	}
	if _, err := c.AllowedCIDRs(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("config: %s", strings.Join(problems, "; "))
	}
	return nil
}

// Delivery limits that settings must fit in. The workflows take their attempt timeouts and the
// activities their slot budget from here, so the check and the timeouts are one figure.
const (
	// AttemptTimeout is the StartToClose timeout of a delivery attempt: the Deliver activity and
	// the DeliverBatch local activity (workflows/workflows.go).
	AttemptTimeout = 90 * time.Second
	// SlotWait is how long an attempt may wait for a send slot (WORKER_CONCURRENCY) before it is
	// handed on unsent (activities' slotBudget).
	SlotWait = 30 * time.Second
	// StoreMargin is what an attempt keeps for its store reads and writes (the event, the
	// endpoints, the record of up to 100 first attempts).
	StoreMargin = 15 * time.Second
	// MaxWebhookTimeout is the longest send that fits in an attempt with those: 45s.
	MaxWebhookTimeout = AttemptTimeout - SlotWait - StoreMargin
	// RecordMargin is how long a send's record may take to write after it: a stopping worker
	// must wait WEBHOOK_TIMEOUT plus this for an attempt in flight.
	RecordMargin = 5 * time.Second
	// MaxJitter is the largest factor a retry's delay is stretched by (the ±20% jitter of
	// activities.NextDelay).
	MaxJitter = 1.2
	// RetentionMargin is what EVENT_RETENTION keeps beyond the retry schedule: the attempts
	// themselves, a receiver's Retry-After stretching a retry to its 24h cap, hours of a worker
	// or Temporal outage.
	RetentionMargin = 24 * time.Hour
)

// RetryHorizon is how long after its creation an event may still be sent: every delay of
// WEBHOOK_RETRY_SCHEDULE at its longest jitter, plus RetentionMargin.
func (c Config) RetryHorizon() time.Duration {
	return c.jitteredSchedule() + RetentionMargin
}

// scheduleSum is the sum of WEBHOOK_RETRY_SCHEDULE's delays; jitteredSchedule, at their longest.
func (c Config) scheduleSum() time.Duration {
	var sum time.Duration
	for _, d := range c.WebhookRetrySchedule {
		sum += d
	}
	return sum
}

func (c Config) jitteredSchedule() time.Duration {
	return time.Duration(float64(c.scheduleSum()) * MaxJitter)
}

// retentionProblem says why EVENT_RETENTION is too short for the retry schedule, or "". An event
// that expires before its last retry is never sent again: the retry finds no payload.
func (c Config) retentionProblem() string {
	if c.EventRetention <= 0 || len(c.WebhookRetrySchedule) == 0 {
		return "" // reported on their own
	}
	if h := c.RetryHorizon(); c.EventRetention < h {
		return fmt.Sprintf("EVENT_RETENTION=%s is shorter than the retry horizon of WEBHOOK_RETRY_SCHEDULE: its delays add up to %s, %s with %.0f%% jitter, plus a %s margin = %s; events would expire before their last retry (set EVENT_RETENTION to at least %s, or shorten the schedule)",
			c.EventRetention, c.scheduleSum(), c.jitteredSchedule(), (MaxJitter-1)*100, RetentionMargin, h, h)
	}
	// A delivery held behind a failing endpoint's breaker waits, unsent, until the endpoint
	// recovers or is disabled after WEBHOOK_DISABLE_AFTER; its schedule may run after that.
	if h := c.RetryHorizon() + c.WebhookDisableAfter; c.WebhookDisableAfter > 0 && c.EventRetention < h {
		return fmt.Sprintf("EVENT_RETENTION=%s is shorter than WEBHOOK_DISABLE_AFTER=%s plus the retry horizon %s = %s: a delivery held behind a failing endpoint could outlive its event (set EVENT_RETENTION to at least %s, or shorten WEBHOOK_DISABLE_AFTER)",
			c.EventRetention, c.WebhookDisableAfter, c.RetryHorizon(), h, h)
	}
	return ""
}

// WorkerStopCoversAttempt checks that a stopping worker waits long enough for a delivery it
// started: SHUTDOWN_TIMEOUT (the Temporal worker's stop timeout) at least WEBHOOK_TIMEOUT plus
// RecordMargin. A shorter one would cut sends off mid-flight, to be sent again by another worker.
func (c Config) WorkerStopCoversAttempt() error {
	if need := c.WebhookTimeout + RecordMargin; c.ShutdownTimeout < need {
		return fmt.Errorf("config: SHUTDOWN_TIMEOUT=%s is shorter than the longest delivery attempt a stopping worker must let finish: WEBHOOK_TIMEOUT=%s plus %s to record it = %s",
			c.ShutdownTimeout, c.WebhookTimeout, RecordMargin, need)
	}
	return nil
}

// Peppers returns the API-key peppers (APIKEY_PEPPERS), required by every binary that creates or
// verifies keys.
func (c Config) Peppers() (*keyring.Keyring, error) {
	if c.APIKeyPeppers == "" {
		return nil, errors.New("config: APIKEY_PEPPERS is required: version:base64 entries of at least 32 random bytes, e.g. 1:$(head -c32 /dev/urandom | base64)")
	}
	r, err := keyformat.ParsePeppers(c.APIKeyPeppers)
	if err != nil {
		return nil, fmt.Errorf("config: APIKEY_PEPPERS: %w", err)
	}
	return r, nil
}

// CursorSigningKeys returns the keys that sign list cursors (CURSOR_KEYS: version:base64 entries
// of at least 32 random bytes, the newest signing, all opening), newest first. Unset, they are
// derived from the API-key peppers, the newest first, as before CURSOR_KEYS existed (so an
// existing deployment's cursors keep working); a deployment that sets CURSOR_KEYS can retire a
// pepper without its cursors noticing. Cursors expire within an hour, so a change of keys
// invalidates at most that hour's cursors.
func (c Config) CursorSigningKeys() ([][]byte, error) {
	if c.CursorKeysValue == "" {
		peppers, err := c.Peppers()
		if err != nil {
			return nil, err
		}
		return newestFirst(peppers, cursor.DeriveKey), nil
	}
	r, err := keyring.Parse(c.CursorKeysValue, 32, 0)
	if err != nil {
		return nil, fmt.Errorf("config: CURSOR_KEYS: %w", err)
	}
	return newestFirst(r, func(k []byte) []byte { return k }), nil
}

// newestFirst returns the keys of r, the current one first, each through f.
func newestFirst(r *keyring.Keyring, f func([]byte) []byte) [][]byte {
	cur, key := r.Current()
	keys := [][]byte{f(key)}
	for _, v := range r.Versions() {
		if k, _ := r.Key(v); v != cur {
			keys = append(keys, f(k))
		}
	}
	return keys
}

// SecretsKeys returns the AES-256 keys that encrypt webhook signing secrets at rest
// (WEBHOOK_SECRETS_KEYS), newest used for new secrets.
func (c Config) SecretsKeys() (*keyring.Keyring, error) {
	if c.WebhookSecretsKeys == "" {
		return nil, errors.New("config: WEBHOOK_SECRETS_KEYS is required: version:base64 entries of exactly 32 random bytes, e.g. 1:$(head -c32 /dev/urandom | base64)")
	}
	r, err := keyring.Parse(c.WebhookSecretsKeys, 32, 32)
	if err != nil {
		return nil, fmt.Errorf("config: WEBHOOK_SECRETS_KEYS: %w", err)
	}
	return r, nil
}

// InternalTokenRequired checks INTERNAL_TOKEN when the internal listener is enabled: the
// listener accepts transaction updates only with this bearer token.
func (c Config) InternalTokenRequired() error {
	if c.InternalHTTPAddr == "" {
		return nil
	}
	if len(c.InternalToken) < 32 {
		return errors.New("config: INTERNAL_TOKEN must be at least 32 characters when INTERNAL_HTTP_ADDR is set (set INTERNAL_HTTP_ADDR= to disable the internal listener)")
	}
	return nil
}

// MaxAuthCacheTTL bounds AUTH_CACHE_TTL, the revocation bound across instances: a revoked key
// working for minutes elsewhere is not a revocation.
const MaxAuthCacheTTL = time.Minute

// Bounds of WEBHOOK_ALLOWED_CIDRS: an exemption is a hole in the SSRF block list, so it may not
// be wide enough to be everything, nor hold a cloud metadata address.
const (
	MinAllowedBitsV4 = 8
	MinAllowedBitsV6 = 32
)

// metadataAddrs are the cloud instance metadata services (AWS, GCP, Azure, Oracle at
// 169.254.169.254; AWS's IPv6 fd00:ec2::254; Alibaba's 100.100.100.200), with the IPv4 ones also
// as IPv6 reaches them: IPv4-mapped, NAT64 and 6to4.
var metadataAddrs = func() []netip.Addr {
	var out []netip.Addr
	for _, s := range []string{"169.254.169.254", "100.100.100.200"} {
		a := netip.MustParseAddr(s).As4()
		out = append(out, netip.AddrFrom4(a), netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}),
			netip.AddrFrom16([16]byte{0: 0x00, 1: 0x64, 2: 0xff, 3: 0x9b, 12: a[0], 13: a[1], 14: a[2], 15: a[3]}),
			netip.AddrFrom16([16]byte{0: 0x20, 1: 0x02, 2: a[0], 3: a[1], 4: a[2], 5: a[3]}))
	}
	return append(out, netip.MustParseAddr("fd00:ec2::254"))
}()

// AllowedCIDRs parses WEBHOOK_ALLOWED_CIDRS: ranges exempted from the SSRF block list, for local
// development and tests only. It refuses a range shorter than /8 (IPv4) or /32 (IPv6), which
// includes 0.0.0.0/0 and ::/0, and any range holding a cloud metadata address.
func (c Config) AllowedCIDRs() ([]netip.Prefix, error) {
	ps, err := netguard.ParseCIDRs(c.WebhookAllowedCIDRs)
	if err != nil {
		return nil, fmt.Errorf("WEBHOOK_ALLOWED_CIDRS: %w", err)
	}
	for _, p := range ps {
		if p.Addr().Is4() && p.Bits() < MinAllowedBitsV4 || !p.Addr().Is4() && p.Bits() < MinAllowedBitsV6 {
			return nil, fmt.Errorf("WEBHOOK_ALLOWED_CIDRS: %s is too wide an exemption from the SSRF block list (want at least /%d for IPv4, /%d for IPv6)",
				p, MinAllowedBitsV4, MinAllowedBitsV6)
		}
		for _, m := range metadataAddrs {
			if p.Contains(m) {
				return nil, fmt.Errorf("WEBHOOK_ALLOWED_CIDRS: %s holds the cloud metadata address %s, which webhooks must never reach", p, m)
			}
		}
	}
	return ps, nil
}

// OpsListenerGuarded checks a listener that serves /metrics (and pprof with DEBUG_PPROF): bound
// beyond loopback, it needs METRICS_TOKEN, or anyone on the network reads the service's metrics
// and profiles. name is the listener's variable (INTERNAL_HTTP_ADDR, WORKER_HTTP_ADDR).
func (c Config) OpsListenerGuarded(name, addr string) error {
	if addr == "" || c.MetricsToken != "" || loopback(addr) {
		return nil
	}
	return fmt.Errorf("config: %s=%s serves /metrics beyond loopback: set METRICS_TOKEN (at least 32 characters; scrapers send it as a bearer token) or bind it to 127.0.0.1", name, addr)
}

// loopback reports whether addr (host:port) listens on loopback only.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
