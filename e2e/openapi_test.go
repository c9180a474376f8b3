package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	pcxapi "github.com/pcx/publicservice/api"
)

// Every request the end-to-end tests send through httpClient to the service's listeners is
// checked against api/openapi.yaml: the response always (status, headers, body), the request
// too when the service accepted it (a request the service takes must be one the document
// allows). A mismatch makes httpClient.Do return an error, so the calling test fails with it.
func init() {
	base := httpClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	httpClient.Transport = &specTransport{base: base, spec: loadSpecRouters(), listeners: map[string]string{}}
}

// specPrefixes are the paths the document describes; anything else (the tests' own receivers)
// passes unchecked. There is no list of exempted exchanges: where the service and the document
// disagree, one of them is wrong and the suite says so.
var specPrefixes = []string{"/public", "/internal", "/healthz", "/readyz", "/openapi.yaml"}

// specRouters finds operations of one listener's part of the document, for any host.
type specRouters struct {
	byListener map[string]routers.Router
	err        error
}

func loadSpecRouters() *specRouters {
	s := &specRouters{byListener: map[string]routers.Router{}}
	for _, listener := range []string{"public", "internal"} {
		r, err := listenerRouter(listener)
		if err != nil {
			s.err = fmt.Errorf("openapi.yaml: %w", err)
			return s
		}
		s.byListener[listener] = r
	}
	return s
}

// listenerRouter returns a router over the operations of the listener's own published
// description (api/openapi.yaml, api/openapi-internal.yaml), matching any host (the tests'
// listeners are on free ports).
func listenerRouter(listener string) (routers.Router, error) {
	data := pcxapi.OpenAPIDocument()
	if listener == "internal" {
		data = pcxapi.OpenAPIInternalDocument()
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	for _, item := range doc.Paths.Map() {
		item.Servers = nil
	}
	doc.Servers = nil
	return gorillamux.NewRouter(doc)
}

// specTransport validates exchanges with the service against the document.
type specTransport struct {
	base http.RoundTripper
	spec *specRouters

	mu        sync.Mutex
	listeners map[string]string // host:port → "public" or "internal"
}

func (st *specTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !slices.ContainsFunc(specPrefixes, func(p string) bool { return strings.HasPrefix(req.URL.Path, p) }) {
		return st.base.RoundTrip(req)
	}
	var reqBody []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
	}
	out := withBody(req, reqBody)
	resp, err := st.base.RoundTrip(out)
	if err != nil {
		return resp, err
	}
	respBody, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))
	if err := st.check(req, reqBody, resp, respBody); err != nil {
		return nil, err
	}
	return resp, nil
}

// withBody returns a copy of req carrying body.
func withBody(req *http.Request, body []byte) *http.Request {
	out := req.Clone(req.Context())
	if body == nil {
		out.Body = http.NoBody
		return out
	}
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return out
}

// check validates one exchange. A mismatch is checked once more after asking the port again
// which listener it is: a port freed by a stopped API may be reused by the other kind.
func (st *specTransport) check(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) error {
	if st.spec.err != nil {
		return st.spec.err
	}
	listener := st.listenerOf(req, false)
	err := st.validate(listener, req, reqBody, resp, respBody)
	if err != nil {
		if again := st.listenerOf(req, true); again != listener {
			err = st.validate(again, req, reqBody, resp, respBody)
		}
	}
	return err
}

func (st *specTransport) validate(listener string, req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) error {
	router := st.spec.byListener[listener]
	if router == nil {
		return nil // not one of the service's API listeners
	}
	in := withBody(req, reqBody)
	route, params, err := router.FindRoute(in)
	if errors.Is(err, routers.ErrPathNotFound) || errors.Is(err, routers.ErrMethodNotAllowed) {
		return nil // a route the listener does not have: the tests probe those on purpose
	}
	if err != nil {
		return fmt.Errorf("openapi: %s %s: %w", req.Method, req.URL.Path, err)
	}
	traceExchange(listener, req.Method, route.Path, resp.StatusCode)
	opts := &openapi3filter.Options{
		IncludeResponseStatus: true,
		SkipSettingDefaults:   true,
		AuthenticationFunc:    presentedCredentials,
	}
	reqIn := &openapi3filter.RequestValidationInput{Request: in, PathParams: params, Route: route, Options: opts}
	respIn := &openapi3filter.ResponseValidationInput{RequestValidationInput: reqIn, Status: resp.StatusCode, Header: resp.Header, Options: opts}
	respIn.SetBodyBytes(respBody)
	if err := openapi3filter.ValidateResponse(req.Context(), respIn); err != nil {
		return fmt.Errorf("openapi: the %s listener's response %d to %s %s does not match api/openapi.yaml: %s\nresponse body: %s",
			listener, resp.StatusCode, req.Method, req.URL.Path, clip([]byte(err.Error())), clip(respBody))
	}
	if resp.StatusCode < 300 {
		// The service accepted the request, so the document must allow it.
		if err := openapi3filter.ValidateRequest(req.Context(), reqIn); err != nil {
			return fmt.Errorf("openapi: %s %s was accepted (%d) but api/openapi.yaml does not allow the request: %s\nrequest body: %s",
				req.Method, req.URL.Path, resp.StatusCode, clip([]byte(err.Error())), clip(reqBody))
		}
	}
	return nil
}

// presentedCredentials checks a request carries the credentials its security scheme names; the
// service itself decides whether they are good.
func presentedCredentials(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header
	switch s := in.SecurityScheme; {
	case s.Type == "apiKey" && s.In == "header":
		if h.Get(s.Name) == "" {
			return fmt.Errorf("no %s header", s.Name)
		}
	case s.Type == "http" && strings.EqualFold(s.Scheme, "bearer"):
		scheme, token, ok := strings.Cut(h.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			return errors.New("no bearer token")
		}
	default:
		return fmt.Errorf("security scheme %s is not checked here", in.SecuritySchemeName)
	}
	return nil
}

// listenerOf tells which listener serves req's host: the public one serves /openapi.yaml, the
// internal one answers it with the API's 404 envelope; anything else is "other".
func (st *specTransport) listenerOf(req *http.Request, fresh bool) string {
	host := req.URL.Host
	st.mu.Lock()
	l, ok := st.listeners[host]
	st.mu.Unlock()
	if ok && !fresh {
		return l
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	probe, err := http.NewRequestWithContext(ctx, "GET", req.URL.Scheme+"://"+host+"/openapi.yaml", nil)
	if err != nil {
		return "other"
	}
	resp, err := st.base.RoundTrip(probe)
	if err != nil {
		return "other"
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case resp.StatusCode == 200 && resp.Header.Get("Content-Type") == "application/yaml":
		l = "public"
	case resp.StatusCode == 404 && string(body) == `{"code":"not_found","message":"Not found","status":"error"}`:
		l = "internal"
	default:
		l = "other"
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if l == "other" {
		delete(st.listeners, host) // not remembered: one of the API's listeners may come up there
	} else {
		st.listeners[host] = l
	}
	return l
}

// traceExchange appends "listener METHOD /path/template STATUS" to the file named by
// PCX_OPENAPI_TRACE, when set: which operations and statuses the suite exercised.
func traceExchange(listener, method, path string, status int) {
	name := os.Getenv("PCX_OPENAPI_TRACE")
	if name == "" {
		return
	}
	traceMu.Lock()
	defer traceMu.Unlock()
	f, err := os.OpenFile(name, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	fmt.Fprintf(f, "%s %s %s %d\n", listener, method, path, status)
	f.Close()
}

var traceMu sync.Mutex

// clip shortens text for a failure message.
func clip(b []byte) string {
	const max = 1500
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// The running API serves the document it embeds, without authentication, on the public listener
// only.
func TestOpenAPIServedByTheAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	api := e.startAPI()
	r := call(t, "GET", api.base+"/openapi.yaml", "", nil)
	wantStatus(t, r, 200)
	if ct := r.header.Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("Content-Type %q, want application/yaml", ct)
	}
	if !bytes.Equal(r.body, pcxapi.OpenAPIDocument()) {
		t.Fatalf("GET /openapi.yaml served %d bytes that differ from api/openapi.yaml", len(r.body))
	}
	doc, err := openapi3.NewLoader().LoadFromData(r.body)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("served document: openapi %q, %v", doc.OpenAPI, err)
	}
	wantStatus(t, call(t, "GET", api.internal+"/openapi.yaml", "", nil), 404)
}

// The checking transport is in place and fails a response the document does not allow, and
// only such a response.
func TestOpenAPITransportRejectsMismatches(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-ID", "fake")
		switch r.URL.Path {
		case "/openapi.yaml":
			w.Header().Set("Content-Type", "application/yaml")
			_, _ = w.Write(pcxapi.OpenAPIDocument())
		case "/healthz":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"status":"success","message":"ok"}`)
		case "/public/me": // data lacks user_id, api_key_id and prefix
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"status":"success","message":"Authenticated","data":{"org_id":"o"}}`)
		case "/public/api-keys": // a status the operation does not have
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTeapot)
			_, _ = io.WriteString(w, `{"message":"teapot","status":"error"}`)
		case "/readyz": // no Retry-After on a 503
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"message":"Not ready","status":"error"}`)
		}
	}))
	defer srv.Close()
	get := func(path string) error {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("X-API-Key", "pcx_abcdef_x")
		resp, err := httpClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get("/healthz"); err != nil {
		t.Fatalf("a response matching the document was refused: %v", err)
	}
	for _, path := range []string{"/public/me", "/public/api-keys", "/readyz"} {
		if err := get(path); err == nil || !strings.Contains(err.Error(), "openapi") {
			t.Errorf("GET %s: a response contradicting the document passed (%v)", path, err)
		}
	}
}
