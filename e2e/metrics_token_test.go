package e2e

import (
	"strings"
	"testing"
)

// With METRICS_TOKEN set, /metrics on the internal listener answers only with that bearer token.
func TestMetricsNeedTheTokenWhenSet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const token = "e2e-metrics-token-0123456789abcdef"
	e.vars["METRICS_TOKEN"] = token
	api := e.startAPI()
	wantStatus(t, call(t, "GET", api.internal+"/metrics", "", nil), 401)
	wantStatus(t, call(t, "GET", api.internal+"/metrics", "", nil, "Authorization", "Bearer "+token+"x"), 401)
	m := call(t, "GET", api.internal+"/metrics", "", nil, "Authorization", "Bearer "+token)
	if m.status != 200 || !strings.Contains(string(m.body), "go_goroutines") {
		t.Fatalf("/metrics with the token = %d %.200s, want the metrics", m.status, m.body)
	}
	// The api's DynamoDB client counts its calls on the same registry: readiness describes the
	// table.
	wantStatus(t, call(t, "GET", api.base+"/readyz", "", nil), 200)
	m = call(t, "GET", api.internal+"/metrics", "", nil, "Authorization", "Bearer "+token)
	for _, want := range []string{`pcx_dynamodb_requests_total{operation="DescribeTable"}`, `pcx_build_info{`} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The rest of the internal listener keeps its own rules.
	wantStatus(t, call(t, "GET", api.internal+"/healthz", "", nil), 200)
}
