package config

import (
	"strings"
	"testing"
)

// Settings that would quietly weaken a promise are refused at start, at their boundary.
func TestBoundsThatKeepPromises(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want string // "" accepted
	}{
		{"AUTH_CACHE_TTL=60s", ""},
		{"AUTH_CACHE_TTL=61s", "AUTH_CACHE_TTL=1m1s must be between 0 (no cache) and 1m0s"},
		{"AUTH_CACHE_TTL=0", ""},
		{"WEBHOOK_ALLOWED_CIDRS=127.0.0.0/8,::1/128,10.0.0.0/8,192.168.0.0/16,fd12:3456::/32", ""},
		{"WEBHOOK_ALLOWED_CIDRS=0.0.0.0/0", "0.0.0.0/0 is too wide"},
		{"WEBHOOK_ALLOWED_CIDRS=::/0", "::/0 is too wide"},
		{"WEBHOOK_ALLOWED_CIDRS=8.0.0.0/7", "8.0.0.0/7 is too wide"},
		{"WEBHOOK_ALLOWED_CIDRS=2001::/31", "2001::/31 is too wide"},
		{"WEBHOOK_ALLOWED_CIDRS=169.254.0.0/16", "169.254.0.0/16 holds the cloud metadata address 169.254.169.254"},
		{"WEBHOOK_ALLOWED_CIDRS=169.254.169.254/32", "holds the cloud metadata address"},
		{"WEBHOOK_ALLOWED_CIDRS=169.254.1.0/24", ""}, // link-local without the metadata address
		{"WEBHOOK_ALLOWED_CIDRS=fd00:ec2::/32", "holds the cloud metadata address fd00:ec2::254"},
		{"WEBHOOK_ALLOWED_CIDRS=::ffff:0:0/96", "holds the cloud metadata address ::ffff:169.254.169.254"},
		{"WEBHOOK_ALLOWED_CIDRS=64:ff9b::/96", "holds the cloud metadata address 64:ff9b::a9fe:a9fe"},
		{"WEBHOOK_ALLOWED_CIDRS=100.64.0.0/10", "holds the cloud metadata address 100.100.100.200"},
		{"METRICS_TOKEN=short", "METRICS_TOKEN must be at least 32 characters"},
		{"METRICS_TOKEN=" + strings.Repeat("m", 32), ""},
	} {
		_, err := load(t, tc.env)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s refused: %v", tc.env, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want it to say %q", tc.env, err, tc.want)
		}
	}
}

// /metrics and pprof beyond loopback need METRICS_TOKEN; the defaults are loopback.
func TestOpsListenerGuarded(t *testing.T) {
	c, err := load(t)
	if err != nil {
		t.Fatal(err)
	}
	if c.WorkerHTTPAddr != "127.0.0.1:9090" {
		t.Fatalf("WORKER_HTTP_ADDR default %q, want 127.0.0.1:9090 (loopback)", c.WorkerHTTPAddr)
	}
	for _, tc := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:9090", "", true},
		{"localhost:9090", "", true},
		{"[::1]:9090", "", true},
		{"", "", true}, // no listener
		{":9090", "", false},
		{"0.0.0.0:9090", "", false},
		{"[::]:8081", "", false},
		{"10.0.0.5:8081", "", false},
		{"pcx-worker:9090", "", false},
		{":9090", strings.Repeat("m", 32), true},
	} {
		c.MetricsToken = tc.token
		err := c.OpsListenerGuarded("WORKER_HTTP_ADDR", tc.addr)
		if (err == nil) != tc.ok {
			t.Errorf("%q with token %v: %v, want ok %v", tc.addr, tc.token != "", err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "METRICS_TOKEN") {
			t.Errorf("%q: error %v does not say what to set", tc.addr, err)
		}
	}
}
