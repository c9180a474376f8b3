package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/logs"

	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/internal/cursor"
	"github.com/pcx/publicservice/internal/health"
	"github.com/pcx/publicservice/internal/httpx"
	"github.com/pcx/publicservice/internal/keyformat"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/service/apikeys"
	"github.com/pcx/publicservice/service/webhooks"
	"github.com/pcx/publicservice/store"
)

// Fakes for unit tests of this package; the end-to-end tests in e2e/ use the real store.

type fakeAuth struct{}

const goodKey = "good-key"

func (f *fakeAuth) Authenticate(_ context.Context, h string) (pcx.Principal, error) {
	if h != goodKey {
		return pcx.Principal{}, apikeys.ErrUnauthenticated
	}
	return pcx.Principal{OrgID: "org-1", UserID: "user-1", APIKeyID: "key_1", Prefix: "pcx_abcdef", Scopes: pcx.AllScopes}, nil
}

// fakeKeys is the key use cases of an organisation: Create validates as the service does, Get
// finds nothing, List records what it was asked, and the changes act on any key and record it.
type fakeKeys struct {
	created []apikeys.CreateInput
	err     error
	listErr error
	lastLim int
	after   string
	changed []string // "revoke pcx_abcdef", ...
}

func (f *fakeKeys) Create(_ context.Context, in apikeys.CreateInput) (string, *pcx.APIKey, error) {
	if err := in.Validate(time.Now()); err != nil {
		return "", nil, err
	}
	if f.err != nil {
		return "", nil, f.err
	}
	f.created = append(f.created, in)
	return "pcx_new_full", &pcx.APIKey{ID: "key_2", Prefix: "pcx_newkey", OrgID: in.OrgID, UserID: in.UserID, Name: in.Name, Status: pcx.KeyActive, ExpiresAt: in.ExpiresAt}, nil
}

func (f *fakeKeys) Get(_ context.Context, org, id string) (*pcx.APIKey, error) {
	return nil, pcx.Errorf(pcx.ENotFound, "API key not found")
}
func (f *fakeKeys) List(_ context.Context, org string, limit int, after string) ([]*pcx.APIKey, string, error) {
	f.lastLim, f.after = limit, after
	return nil, "", f.listErr
}
func (f *fakeKeys) Revoke(_ context.Context, _, prefix string, _ bool) (*pcx.APIKey, int, error) {
	f.changed = append(f.changed, "revoke "+prefix)
	return &pcx.APIKey{ID: "key_1", Status: pcx.KeyRevoked}, 1, nil
}
func (f *fakeKeys) Update(_ context.Context, _ *pcx.Principal, _, prefix string, _ apikeys.Patch) (*pcx.APIKey, error) {
	f.changed = append(f.changed, "update "+prefix)
	return &pcx.APIKey{ID: "key_1", Status: pcx.KeyActive}, nil
}
func (f *fakeKeys) Roll(_ context.Context, _ *pcx.Principal, _, prefix string, _ time.Duration) (string, *pcx.APIKey, error) {
	f.changed = append(f.changed, "roll "+prefix)
	return "pcx_new_full", &pcx.APIKey{ID: "key_3", Status: pcx.KeyActive}, nil
}
func (f *fakeKeys) Activate(_ context.Context, _ *pcx.Principal, _, prefix string) (*pcx.APIKey, error) {
	f.changed = append(f.changed, "activate "+prefix)
	return &pcx.APIKey{ID: "key_1", Status: pcx.KeyActive}, nil
}
func (f *fakeKeys) Delete(_ context.Context, _, prefix string) error {
	f.changed = append(f.changed, "delete "+prefix)
	return nil
}

// noWebhookService is the webhook use cases of an organisation without any webhook or event.
type noWebhookService struct{}

var errNoWebhook = pcx.Errorf(pcx.ENotFound, "Webhook not found")

func (noWebhookService) SendTest(context.Context, string, string) (webhooks.Accepted, error) {
	return webhooks.Accepted{}, errNoWebhook
}
func (noWebhookService) CreateEndpoint(context.Context, string, webhooks.NewEndpoint) (*pcx.Webhook, error) {
	return nil, pcx.Errorf(pcx.EUnavailable, "not in this test")
}
func (noWebhookService) Endpoint(context.Context, string, string) (*pcx.Webhook, error) {
	return nil, errNoWebhook
}
func (noWebhookService) ListEndpoints(context.Context, string, int, string) ([]*pcx.Webhook, string, error) {
	return nil, "", nil
}
func (noWebhookService) ListEvents(context.Context, string, store.EventFilter, int, string) ([]*pcx.Event, string, error) {
	return nil, "", nil
}
func (noWebhookService) EndpointDeliveries(context.Context, string, string, store.DeliveryFilter, int, string) ([]*pcx.Delivery, string, error) {
	return nil, "", errNoWebhook
}
func (noWebhookService) EventStatus(context.Context, string, string, int, string) (webhooks.EventStatus, error) {
	return webhooks.EventStatus{}, pcx.Errorf(pcx.ENotFound, "Event not found")
}
func (noWebhookService) UpdateEndpoint(context.Context, string, string, webhooks.Patch) (*pcx.Webhook, error) {
	return nil, errNoWebhook
}
func (noWebhookService) RotateSecret(context.Context, string, string, *time.Duration) (*pcx.Webhook, error) {
	return nil, errNoWebhook
}
func (noWebhookService) Notify(context.Context, webhooks.NotifyInput) (webhooks.Accepted, error) {
	return webhooks.Accepted{}, pcx.Errorf(pcx.EUnavailable, "not in this test")
}
func (noWebhookService) Replay(context.Context, string, string, []string) (webhooks.Accepted, error) {
	return webhooks.Accepted{}, pcx.Errorf(pcx.ENotFound, "Event not found")
}
func (noWebhookService) DeleteEndpoint(context.Context, string, string) error { return errNoWebhook }
func (noWebhookService) Recover(context.Context, string, string, time.Time, *time.Time) (*pcx.Recovery, error) {
	return nil, errNoWebhook
}
func (noWebhookService) Recovery(context.Context, string, string, string) (*pcx.Recovery, error) {
	return nil, pcx.Errorf(pcx.ENotFound, "Recovery not found")
}

type fixture struct {
	h    http.Handler
	keys *fakeKeys
	curs *cursor.Signer
}

func newFixture() *fixture { return newFixtureLogging(zerolog.Nop()) }

// newFixtureLogging is newFixture with the server's log lines going to log.
func newFixtureLogging(log zerolog.Logger) *fixture {
	f := &fixture{keys: &fakeKeys{}, curs: cursor.NewSigner([]byte("k"), time.Hour)}
	f.h = NewServer(Deps{
		Webhooks: noWebhookService{},
		Log:      log, Auth: &fakeAuth{}, Keys: f.keys, Cursors: f.curs,
		RequestTimeout: 5 * time.Second,
	})
	return f
}

func (f *fixture) do(method, path, contentType, body string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("X-API-Key", goodKey)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	return w
}

func TestCreateKeyValidation(t *testing.T) {
	const json = "application/json"
	tests := []struct {
		name        string
		ctype, body string
		status      int
		contains    string
	}{
		{"ok", json, `{"name":"deploy"}`, 201, `"api_key":"pcx_new_full"`},
		{"ok with charset", "application/json; charset=utf-8", `{"name":"deploy"}`, 201, `"status":"success"`},
		{"ok own org", json, `{"name":"deploy","org_id":"org-1"}`, 201, `"org_id":"org-1"`},
		{"ok empty org", json, `{"name":"deploy","org_id":""}`, 201, `"org_id":"org-1"`},
		{"ok expiry", json, `{"name":"d","expires_at":"2099-01-02T03:04:05Z"}`, 201, `"expires_at":"2099-01-02T03:04:05.000Z"`},
		{"no body", json, ``, 400, `Request body is required`},
		{"text/plain", "text/plain", `{"name":"x"}`, 415, `Content-Type must be application/json`},
		{"no content type", "", `{"name":"x"}`, 415, `application/json`},
		{"form", "application/x-www-form-urlencoded", `name=x`, 415, `application/json`},
		{"not json", json, `{name:x}`, 400, `not valid JSON`},
		{"truncated", json, `{"name":"x"`, 400, `not valid JSON`},
		{"array", json, `["x"]`, 400, `must be a JSON object`},
		{"string", json, `"x"`, 400, `must be a JSON object`},
		{"null", json, `null`, 400, `"name":"is required"`},
		{"two values", json, `{"name":"x"}{"name":"y"}`, 400, `exactly one JSON value`},
		{"trailing garbage", json, `{"name":"x"} x`, 400, `exactly one JSON value`},
		{"unknown field", json, `{"name":"x","admin":true}`, 400, `"admin":"is not a known field"`},
		{"duplicate key", json, `{"name":"x","name":"y"}`, 400, `"name":"appears more than once"`},
		{"nested duplicate", json, `{"name":"x","org_id":"org-1","z":{"a":1,"a":2}}`, 400, `"a":"appears more than once"`},
		{"deep nesting", json, `{"name":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, 400, `nests deeper than 32`},
		{"invalid utf8", json, "{\"name\":\"\xff\xfe\"}", 400, `valid UTF-8`},
		{"name number", json, `{"name":5}`, 400, `"name":"must be a string"`},
		{"name empty", json, `{"name":""}`, 400, `"name":"is required"`},
		{"name blank", json, `{"name":"   "}`, 400, `"name":"is required"`},
		{"name 101", json, `{"name":"` + strings.Repeat("n", 101) + `"}`, 400, `"name":"must be at most 100 characters"`},
		{"name missing", json, `{}`, 400, `"name":"is required"`},
		{"expiry bad", json, `{"name":"x","expires_at":"tomorrow"}`, 400, `"expires_at":"must be an RFC 3339 time`},
		{"expiry past", json, `{"name":"x","expires_at":"2001-01-01T00:00:00Z"}`, 400, `"expires_at":"must be in the future"`},
		{"expiry number", json, `{"name":"x","expires_at":1}`, 400, `"expires_at":"must be a string"`},
		{"foreign org", json, `{"name":"x","org_id":"org-2"}`, 403, `your own organisation`},
		{"too large", json, `{"name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, 413, `at most 1 MiB`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture()
			w := f.do("POST", "/public/api-keys/create", tt.ctype, tt.body)
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.contains) {
				t.Fatalf("got %d %s, want %d containing %s", w.Code, w.Body.String(), tt.status, tt.contains)
			}
			if tt.status >= 400 && len(f.keys.created) != 0 {
				t.Fatalf("a rejected request created a key: %+v", f.keys.created)
			}
			if w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("Content-Type %q", w.Header().Get("Content-Type"))
			}
		})
	}
}

func TestListValidation(t *testing.T) {
	f := newFixture()
	good := f.curs.Seal("org-1", "api-keys", "key_9|pcx_abcdef")
	for _, tt := range []struct {
		query   string
		status  int
		limit   int
		after   string
		message string
	}{
		{"", 200, 20, "", ""},
		{"limit=1", 200, 1, "", ""},
		{"limit=100", 200, 100, "", ""},
		{"limit=0", 400, 0, "", `"limit":"must be an integer from 1 to 100"`},
		{"limit=101", 400, 0, "", `"limit"`},
		{"limit=-5", 400, 0, "", `"limit"`},
		{"limit=1.5", 400, 0, "", `"limit"`},
		{"limit=", 400, 0, "", `"limit"`},
		{"limit=1&limit=2", 400, 0, "", `"limit"`},
		{"org_id=org-1", 200, 20, "", ""},
		{"org_id=org-2", 403, 0, "", "your own organisation"},
		{"org_id=", 200, 20, "", ""},
		{"org_id=org-1&org_id=org-2", 403, 0, "", "your own organisation"},
		{"last_evaluated_key=" + good, 200, 20, "key_9|pcx_abcdef", ""},
		{"last_evaluated_key=" + f.curs.Seal("org-2", "api-keys", "x"), 400, 0, "", `"last_evaluated_key"`},
		{"last_evaluated_key=" + f.curs.Seal("org-1", "webhooks", "x"), 400, 0, "", `"last_evaluated_key"`},
		{"last_evaluated_key=%00%01", 400, 0, "", `"last_evaluated_key"`},
	} {
		f.keys.lastLim, f.keys.after = 0, ""
		w := f.do("GET", "/public/api-keys?"+tt.query, "", "")
		if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.message) {
			t.Errorf("?%s: got %d %s, want %d %s", tt.query, w.Code, w.Body.String(), tt.status, tt.message)
			continue
		}
		if tt.status == 200 && (f.keys.lastLim != tt.limit || f.keys.after != tt.after) {
			t.Errorf("?%s: the key service got limit %d after %q, want %d %q", tt.query, f.keys.lastLim, f.keys.after, tt.limit, tt.after)
		}
		if tt.status == 200 && !strings.Contains(w.Body.String(), `"meta":{"last_evaluated_key":null,"count":0}`) {
			t.Errorf("?%s: meta of the last page: %s", tt.query, w.Body.String())
		}
	}
}

func TestRoutesAndPrefixes(t *testing.T) {
	f := newFixture()
	for _, tt := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/public/api-keys/not-an-id", 404, `{"code":"not_found","message":"API key not found","status":"error"}`},
		{"PATCH", "/public/api-keys/NOT_A_PREFIX/revoke", 404, `API key not found`},
		{"PATCH", "/public/api-keys/pcx_abc/revoke", 404, `API key not found`}, // too short
		{"DELETE", "/public/api-keys/pcx_abcdef!", 404, `API key not found`},
		{"PATCH", "/public/api-keys/pcx_abcdef/revoke", 200, `"status":"revoked"`},
		{"PATCH", "/public/api-keys/pcx_abcdef/activate", 200, `"status":"active"`},
		{"DELETE", "/public/api-keys/pcx_abcdef", 200, `{"status":"success","message":"API key deleted"}`},
		{"PUT", "/public/api-keys/create", 405, `{"code":"method_not_allowed","message":"Method not allowed","status":"error"}`},
		{"GET", "/public/nothing-here", 404, `{"code":"not_found","message":"Not found","status":"error"}`},
		{"GET", "/nothing", 404, `{"code":"not_found","message":"Not found","status":"error"}`},
		{"GET", "/public/me", 200, `"org_id":"org-1"`},
	} {
		w := f.do(tt.method, tt.path, "", "")
		if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.body) {
			t.Errorf("%s %s: got %d %s, want %d %s", tt.method, tt.path, w.Code, w.Body.String(), tt.status, tt.body)
		}
	}
	// Only well-formed prefixes reach the service (which makes the auth cache forget them:
	// service/apikeys TestChangesForgetTheCachedKey).
	if fmt.Sprint(f.keys.changed) != "[revoke pcx_abcdef activate pcx_abcdef delete pcx_abcdef]" {
		t.Errorf("the key service was asked to %v, want revoke, activate and delete of the prefix", f.keys.changed)
	}
}

// Dependency failures map to statuses without leaking their text.
func TestErrorMapping(t *testing.T) {
	for _, tt := range []struct {
		err        error
		status     int
		body       string
		retryAfter string
	}{
		{pcx.Wrap(pcx.EUnavailable, errors.New("dial tcp 10.1.2.3:8000: connection refused"), "The database is unavailable; retry later"), 503, `{"code":"unavailable","message":"The database is unavailable; retry later","status":"error"}`, "5"},
		{errors.New("ResourceNotFoundException: table arn:aws:dynamodb:secret"), 500, `{"code":"internal","message":"Internal server error","status":"error"}`, ""},
		{pcx.Wrap(pcx.EInternal, errors.New("boom at 10.0.0.1"), "leaky message"), 500, `{"code":"internal","message":"Internal server error","status":"error"}`, ""},
	} {
		f := newFixture()
		f.keys.listErr = tt.err
		w := f.do("GET", "/public/api-keys", "", "")
		if w.Code != tt.status || w.Body.String() != tt.body || w.Header().Get("Retry-After") != tt.retryAfter {
			t.Errorf("store error %v: got %d %s Retry-After %q, want %d %s %q", tt.err, w.Code, w.Body.String(), w.Header().Get("Retry-After"), tt.status, tt.body, tt.retryAfter)
		}
	}
}

func TestPanicIsA500(t *testing.T) {
	h := NewServer(Deps{Log: zerolog.Nop(), Auth: &fakeAuth{}, Keys: panicKeys{&fakeKeys{}}, Webhooks: noWebhookService{}, Cursors: cursor.NewSigner([]byte("k"), time.Hour), RequestTimeout: time.Second})
	req := httptest.NewRequest("GET", "/public/api-keys", nil)
	req.Header.Set("X-API-Key", goodKey)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != 500 || w.Body.String() != `{"code":"internal","message":"Internal server error","status":"error"}` {
		t.Fatalf("panic: got %d %s", w.Code, w.Body.String())
	}
}

type panicKeys struct{ *fakeKeys }

func (panicKeys) List(context.Context, string, int, string) ([]*pcx.APIKey, string, error) {
	panic("bug")
}

func TestRequestID(t *testing.T) {
	f := newFixture()
	w := f.do("GET", "/public/me", "", "", "X-Request-ID", "abc-123")
	if w.Header().Get("X-Request-ID") != "abc-123" {
		t.Fatalf("X-Request-ID = %q, want the caller's abc-123", w.Header().Get("X-Request-ID"))
	}
	w = f.do("GET", "/public/me", "", "", "X-Request-ID", "bad id\x01")
	if id := w.Header().Get("X-Request-ID"); len(id) != 24 {
		t.Fatalf("X-Request-ID = %q, want a generated 24-character ID for an unusable one", id)
	}
	// A request ID that holds a key, or a key's secret, is neither echoed nor logged.
	k, _ := keyformat.New()
	for _, pasted := range []string{k.String(), k.Secret, "req-" + k.Secret} {
		w = f.do("GET", "/public/me", "", "", "X-Request-ID", pasted)
		if id := w.Header().Get("X-Request-ID"); len(id) != 24 || strings.Contains(id, k.Secret) {
			t.Fatalf("X-Request-ID %q echoed as %q, want a generated 24-character ID", pasted, id)
		}
	}
}

func TestReadyz(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("dial 10.0.0.9: refused") }
	hang := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	for _, tt := range []struct {
		checks []health.Check
		status int
		body   string
	}{
		{[]health.Check{{Name: "dynamodb", Fn: ok}, {Name: "temporal", Fn: ok}}, 200, `"message":"ready"`},
		{[]health.Check{{Name: "dynamodb", Fn: down}, {Name: "temporal", Fn: ok}}, 503, `Not ready: dynamodb unavailable`},
		{[]health.Check{{Name: "temporal", Fn: hang}, {Name: "dynamodb", Fn: down}}, 503, `Not ready: dynamodb, temporal unavailable`},
	} {
		h := NewServer(Deps{Log: zerolog.Nop(), Auth: &fakeAuth{}, Keys: &fakeKeys{}, Webhooks: noWebhookService{}, Ready: tt.checks, Cursors: cursor.NewSigner([]byte("k"), time.Hour), RequestTimeout: 5 * time.Second})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.body) || strings.Contains(w.Body.String(), "10.0.0.9") {
			t.Errorf("readyz: got %d %s, want %d %s", w.Code, w.Body.String(), tt.status, tt.body)
		}
	}
}

// FuzzDecodeBody: whatever the body, decoding answers with a 4xx pcx error or succeeds, never
// panics, and an accepted body has a name that passes validation's type checks.
func FuzzDecodeBody(f *testing.F) {
	for _, s := range []string{`{"name":"x"}`, `{"name":"x","expires_at":"2099-01-01T00:00:00Z"}`, `{"a":{"b":[1,2,{"c":null}]}}`, `[]`, `{"name":"x","name":"y"}`, "{\"\xff\":1}", `{"name":` + strings.Repeat("[", 33)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Body = http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(string(body))), MaxBodyBytes)
		var dst struct {
			Name      *string `json:"name"`
			ExpiresAt *string `json:"expires_at"`
		}
		err := decodeBody(req, &dst, false)
		if err != nil {
			code := pcx.ErrorCode(err)
			if status := httpx.StatusOf(code); status < 400 || status >= 500 {
				t.Fatalf("body %q: error %v maps to %d, want a 4xx", body, err, status)
			}
		}
	})
}

// Contract §11's headers: Allow on a 405 naming what the path serves, WWW-Authenticate beside the
// 401's unchanged bytes, Location on a 201; and a code in every other error body.
func TestErrorHeadersAndCodes(t *testing.T) {
	f := newFixture()
	for _, tt := range []struct{ method, path, allow string }{
		// "create" is also a {key} to GET, PATCH and DELETE (answered 404): Allow says what routes.
		{"PUT", "/public/api-keys/create", "GET, POST, PATCH, DELETE"},
		{"POST", "/public/me", "GET"},
		{"PUT", "/public/api-keys/pcx_abcdef", "GET, PATCH, DELETE"},
		{"DELETE", "/healthz", "GET"},
	} {
		w := f.do(tt.method, tt.path, "", "")
		if w.Code != 405 || w.Header().Get("Allow") != tt.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 Allow %q", tt.method, tt.path, w.Code, w.Header().Get("Allow"), tt.allow)
		}
	}
	req := httptest.NewRequest("GET", "/public/me", nil)
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, req)
	if w.Code != 401 || w.Body.String() != `{"message":"API Key is missing","status":"error"}` || w.Header().Get("WWW-Authenticate") != `ApiKey header="X-API-Key"` {
		t.Errorf("401: %d %s WWW-Authenticate %q", w.Code, w.Body, w.Header().Get("WWW-Authenticate"))
	}
	w = f.do("POST", "/public/api-keys/create", "application/json", `{"name":"n"}`)
	if w.Code != 201 || w.Header().Get("Location") != "/public/api-keys/key_2" {
		t.Errorf("create: %d Location %q", w.Code, w.Header().Get("Location"))
	}
	for _, tt := range []struct {
		method, path, ctype, body string
		code                      string
	}{
		{"POST", "/public/api-keys/create", "application/json", `{"name":""}`, "invalid_request"},
		{"POST", "/public/api-keys/create", "text/plain", `{"name":"n"}`, "unsupported_media_type"},
		{"GET", "/public/api-keys?org_id=other", "", "", "forbidden_org"},
		{"GET", "/public/webhooks/wh_01aaaaaaaaaaaaaaaaaaaaaaaa", "", "", "not_found"},
	} {
		w := f.do(tt.method, tt.path, tt.ctype, tt.body)
		if !strings.Contains(w.Body.String(), `"code":"`+tt.code+`"`) {
			t.Errorf("%s %s: %d %s, want code %s", tt.method, tt.path, w.Code, w.Body, tt.code)
		}
	}
}

// TestAccessLogVocabulary: the request line says status_code and duration_ms (the vocabulary of
// internal/logs), and every key on it is one the vocabulary lists.
func TestAccessLogVocabulary(t *testing.T) {
	var buf bytes.Buffer
	f := newFixtureLogging(zerolog.New(&buf))
	if w := f.do("GET", "/public/api-keys/not-an-id", "", ""); w.Code != 404 {
		t.Fatalf("status %d", w.Code)
	}
	var line map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		for k := range m {
			if !logs.Known(k) {
				t.Errorf("log key %q is not in internal/logs' vocabulary: %s", k, l)
			}
		}
		if m["message"] == "request" {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no request line in %s", buf.Bytes())
	}
	if line["status_code"] != 404.0 || line["route"] != "/public/api-keys/{key}" || line["method"] != "GET" {
		t.Errorf("request line %v: want status_code 404, route /public/api-keys/{key}, method GET", line)
	}
	if d, ok := line["duration_ms"].(float64); !ok || d < 0 {
		t.Errorf("duration_ms = %v, want a number of milliseconds", line["duration_ms"])
	}
}
