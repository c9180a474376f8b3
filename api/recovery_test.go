package api

import (
	"strings"
	"testing"
)

// The recover request is checked before the service sees it: a body is required, times must be
// RFC 3339, unknown fields are refused; a malformed webhook or recovery ID is 404.
func TestRecoverValidation(t *testing.T) {
	const json = "application/json"
	const wh = "/public/webhooks/wh_01jd7q3x5m8k2n4p6r8t0v2w4y"
	f := newFixture()
	for _, tt := range []struct {
		name, method, path, body string
		status                   int
		contains                 string
	}{
		{"no body", "POST", wh + "/recover", ``, 400, `Request body is required`},
		{"since not a time", "POST", wh + "/recover", `{"since":"yesterday"}`, 400, `"since":"must be an RFC 3339 time`},
		{"until not a time", "POST", wh + "/recover", `{"since":"2030-01-02T03:04:05Z","until":5}`, 400, `until`},
		{"unknown field", "POST", wh + "/recover", `{"since":"2030-01-02T03:04:05Z","from":"x"}`, 400, `from`},
		{"bad webhook ID", "POST", "/public/webhooks/nope/recover", `{"since":"2030-01-02T03:04:05Z"}`, 404, `not found`},
		{"to the service", "POST", wh + "/recover", `{"since":"2030-01-02T03:04:05Z"}`, 404, `not found`},
		{"bad recovery ID", "GET", wh + "/recoveries/nope", ``, 404, `Recovery not found`},
		{"unknown recovery", "GET", wh + "/recoveries/rcv_01jd7q3x5m8k2n4p6r8t0v2w4y", ``, 404, `Recovery not found`},
	} {
		ctype := json
		if tt.method == "GET" {
			ctype = ""
		}
		w := f.do(tt.method, tt.path, ctype, tt.body)
		if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.contains) {
			t.Errorf("%s: %d %s, want %d containing %q", tt.name, w.Code, w.Body, tt.status, tt.contains)
		}
	}
}
