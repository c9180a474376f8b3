package api

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pcx/publicservice/api/openapisplit"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/go-chi/chi/v5"
	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/internal/health"
	"github.com/pcx/publicservice/pcx"
)

// internalServerURL is the server entry of the internal listener's paths in openapi.yaml; paths
// without their own servers are the public listener's (the document's top-level server).
const internalServerURL = openapisplit.InternalServerURL

// loadOpenAPI loads and validates the embedded description of both listeners.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	return loadDoc(t, openAPIAll)
}

func loadDoc(t *testing.T, data []byte) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

func TestOpenAPIDocumentIsValid31(t *testing.T) {
	doc := loadOpenAPI(t)
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	if len(doc.Servers) != 1 || doc.Servers[0].URL == internalServerURL {
		t.Fatalf("top-level servers = %v, want the public listener alone", doc.Servers)
	}
	if doc.Webhooks["transaction-event"] == nil || doc.Webhooks["transaction-event"].Post == nil {
		t.Fatalf("webhooks: the delivery POST is not described")
	}
}

// listenersOf returns the listeners ("public", "internal") a path of the document is served on.
func listenersOf(doc *openapi3.T, item *openapi3.PathItem) []string {
	servers := doc.Servers
	if len(item.Servers) > 0 {
		servers = item.Servers
	}
	var out []string
	for _, s := range servers {
		if s.URL == internalServerURL {
			out = append(out, "internal")
		} else {
			out = append(out, "public")
		}
	}
	return out
}

// chiParam matches a chi route parameter, {name} or {name:regexp}; OpenAPI's {name} too.
var chiParam = regexp.MustCompile(`\{[^}]*\}`)

// routeKey is "METHOD /path/{}": parameter names differ between chi and the document (chi's
// {key} serves both {api_key_id} and {prefix}), their positions may not.
func routeKey(method, path string) string {
	return strings.ToUpper(method) + " " + chiParam.ReplaceAllString(path, "{}")
}

// walkRoutes lists the routes a chi handler serves.
func walkRoutes(t *testing.T, h http.Handler) []string {
	t.Helper()
	r, ok := h.(chi.Routes)
	if !ok {
		t.Fatalf("%T is not a chi router", h)
	}
	var out []string
	err := chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out = append(out, routeKey(method, strings.TrimSuffix(route, "/")))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// specRoutes lists the operations the document gives a listener.
func specRoutes(doc *openapi3.T, listener string) []string {
	var out []string
	for path, item := range doc.Paths.Map() {
		if !slices.Contains(listenersOf(doc, item), listener) {
			continue
		}
		for method := range item.Operations() {
			out = append(out, routeKey(method, path))
		}
	}
	slices.Sort(out)
	return out
}

// The document describes exactly the routes both listeners register: a route added, removed or
// moved without its description fails here.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	public := walkRoutes(t, newFixture().h)
	internal := walkRoutes(t, NewInternalServer(InternalDeps{Log: zerolog.Nop(), Token: strings.Repeat("t", 32), RequestTimeout: time.Second}))
	if len(public) < 10 || len(internal) < 3 {
		t.Fatalf("walking the routers found too little: public %v, internal %v", public, internal)
	}
	for _, l := range []struct {
		name   string
		routes []string
	}{{"public", public}, {"internal", internal}} {
		spec := specRoutes(doc, l.name)
		for _, r := range l.routes {
			if !slices.Contains(spec, r) {
				t.Errorf("%s listener serves %s, which openapi.yaml does not describe", l.name, r)
			}
		}
		for _, r := range spec {
			if !slices.Contains(l.routes, r) {
				t.Errorf("openapi.yaml describes %s on the %s listener, which does not serve it", r, l.name)
			}
		}
	}
	for path, item := range doc.Paths.Map() {
		internalOnly := !slices.Contains(listenersOf(doc, item), "public")
		for method, op := range item.Operations() {
			if internalOnly != slices.Contains(op.Tags, "internal") {
				t.Errorf("%s %s: tagged %v; exactly the internal listener's operations carry the tag internal", method, path, op.Tags)
			}
		}
	}
}

// The promises every operation shares are written on every operation: X-Request-ID on every
// response, Retry-After on 429 and 503, the exact 401 body behind the API key, Cache-Control on
// replies carrying a secret, and the error envelope on every error.
func TestOpenAPICommonResponses(t *testing.T) {
	doc := loadOpenAPI(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			secured := op.Security == nil && len(doc.Security) > 0 // inherits the API key
			if secured {
				if op.Responses.Status(401) == nil || op.Responses.Status(401).Ref != "#/components/responses/Unauthorized" {
					t.Errorf("%s: needs the API key but does not answer the exact 401", where)
				}
				if op.Responses.Status(429) == nil {
					t.Errorf("%s: needs the API key but has no 429", where)
				}
			}
			if op.RequestBody != nil {
				for _, s := range []int{400, 413, 415} {
					if op.Responses.Status(s) == nil {
						t.Errorf("%s: takes a body but has no %d", where, s)
					}
				}
				for ct, mt := range op.RequestBody.Value.Content {
					if s := mt.Schema.Value; ct != "application/json" || s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
						t.Errorf("%s: request body %s must be application/json with additionalProperties: false", where, ct)
					}
				}
			}
			for code, ref := range op.Responses.Map() {
				resp := ref.Value
				if resp.Headers["X-Request-ID"] == nil {
					t.Errorf("%s %s: no X-Request-ID header", where, code)
				}
				if code == "201" && resp.Headers["Location"] == nil {
					t.Errorf("%s %s: a 201 without Location", where, code)
				}
				if (code == "429" || code == "503") && resp.Headers["Retry-After"] == nil {
					t.Errorf("%s %s: no Retry-After header", where, code)
				}
				if code >= "400" && resp.Content.Get("application/json") == nil {
					t.Errorf("%s %s: no JSON error envelope", where, code)
				}
				if mt := resp.Content.Get("application/json"); mt != nil && (strings.Contains(mt.Schema.Ref, "WithSecret") || strings.Contains(mt.Schema.Ref, "CreatedAPIKey")) {
					if resp.Headers["Cache-Control"] == nil {
						t.Errorf("%s %s: carries a secret without Cache-Control: no-store", where, code)
					}
				}
			}
		}
	}
}

// validateAgainstSpec checks one response of the public listener against the document.
func validateAgainstSpec(t *testing.T, router routers.Router, req *http.Request, w *httptest.ResponseRecorder) {
	t.Helper()
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s: no operation in openapi.yaml: %v", req.Method, req.URL, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 w.Code,
		Header:                 w.Header(),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	}
	in.SetBodyBytes(w.Body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s → %d %s: %v", req.Method, req.URL, w.Code, w.Body, err)
	}
}

// The responses the transport writes itself (envelopes, errors, health, the document) match
// their description; the end-to-end tests validate every response of the real service too.
func TestOpenAPIResponsesOfTheTransport(t *testing.T) {
	router := specRouter(t)
	f := newFixture()
	for _, tt := range []struct {
		method, path, ctype, body, key string
		status                         int
	}{
		{"GET", "/healthz", "", "", "", 200},
		{"GET", "/readyz", "", "", "", 200},
		{"GET", "/openapi.yaml", "", "", "", 200},
		{"GET", "/public/me", "", "", "", 401},
		{"GET", "/public/me", "", "", "pcx_wrong", 401},
		{"POST", "/public/api-keys/create", "text/plain", `{"name":"x"}`, goodKey, 415},
		{"POST", "/public/api-keys/create", "application/json", `{"name":"x","admin":true}`, goodKey, 400},
		{"POST", "/public/api-keys/create", "application/json", `{"name":"x","org_id":"org-2"}`, goodKey, 403},
		{"POST", "/public/api-keys/create", "application/json", `{"name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, goodKey, 413},
		{"GET", "/public/api-keys?limit=0", "", "", goodKey, 400},
		{"GET", "/public/api-keys/key_01jd7q3x5m8k2n4p6r8t0v2w4y", "", "", goodKey, 404},
		{"DELETE", "/public/webhooks/wh_01jd7q3x5m8k2n4p6r8t0v2w4y", "", "", goodKey, 404},
		{"GET", "/public/webhooks/events/evt_01jd7q3x5m8k2n4p6r8t0v2w4y", "", "", goodKey, 404},
		{"DELETE", "/public/api-keys/pcx_abcdef", "", "", goodKey, 200},
	} {
		req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
		if tt.key != "" {
			req.Header.Set("X-API-Key", tt.key)
		}
		if tt.ctype != "" {
			req.Header.Set("Content-Type", tt.ctype)
		}
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, req)
		if w.Code != tt.status {
			t.Errorf("%s %s: got %d %s, want %d", tt.method, tt.path, w.Code, w.Body, tt.status)
			continue
		}
		validateAgainstSpec(t, router, req, w)
	}

	// A dependency down: 503 with Retry-After, on readiness and on a public route.
	down := NewServer(Deps{Log: zerolog.Nop(), Auth: &fakeAuth{}, Keys: &fakeKeys{listErr: pcx.Errorf(pcx.EUnavailable, "The database is unavailable; retry later")},
		Webhooks: noWebhookService{}, Cursors: f.curs, RequestTimeout: time.Second,
		Ready: []health.Check{{Name: "dynamodb", Fn: func(context.Context) error { return pcx.Errorf(pcx.EUnavailable, "down") }}}})
	for _, path := range []string{"/readyz", "/public/api-keys"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("X-API-Key", goodKey)
		w := httptest.NewRecorder()
		down.ServeHTTP(w, req)
		if w.Code != 503 {
			t.Fatalf("GET %s with the database down: %d %s", path, w.Code, w.Body)
		}
		validateAgainstSpec(t, router, req, w)
	}
}

// GET /openapi.yaml serves the embedded document without authentication.
func TestServeOpenAPI(t *testing.T) {
	w := httptest.NewRecorder()
	newFixture().h.ServeHTTP(w, httptest.NewRequest("GET", "/openapi.yaml", nil))
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/yaml" || !bytes.Equal(w.Body.Bytes(), openAPIDocument) {
		t.Fatalf("GET /openapi.yaml: %d %q, %d bytes", w.Code, w.Header().Get("Content-Type"), w.Body.Len())
	}
	if w.Header().Get("X-Request-ID") == "" {
		t.Fatal("GET /openapi.yaml: no X-Request-ID")
	}
	if !bytes.Equal(OpenAPIDocument(), openAPIDocument) {
		t.Fatal("OpenAPIDocument() differs from the embedded document")
	}
}

// The published descriptions are openapi-all.yaml split by listener (go generate ./api), and each
// describes exactly its listener's routes: no internal operation reaches a public client.
func TestPublishedDescriptionsSplitByListener(t *testing.T) {
	public, internal, err := openapisplit.Split(openAPIAll)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(public, openAPIDocument) || !bytes.Equal(internal, openAPIInternal) {
		t.Fatal("api/openapi.yaml or api/openapi-internal.yaml is not openapi-all.yaml split: run go generate ./api")
	}
	all := loadOpenAPI(t)
	for _, l := range []struct {
		name string
		data []byte
	}{{"public", openAPIDocument}, {"internal", openAPIInternal}} {
		doc := loadDoc(t, l.data)
		var got []string
		for path, item := range doc.Paths.Map() {
			if len(item.Servers) > 0 {
				t.Errorf("%s description: %s names its own servers", l.name, path)
			}
			for method := range item.Operations() {
				got = append(got, routeKey(method, path))
			}
		}
		slices.Sort(got)
		if want := specRoutes(all, l.name); !slices.Equal(got, want) {
			t.Errorf("%s description has operations %v, want %v", l.name, got, want)
		}
		if len(doc.Servers) != 1 || (doc.Servers[0].URL == internalServerURL) != (l.name == "internal") {
			t.Errorf("%s description's servers = %v", l.name, doc.Servers)
		}
	}
	if doc := loadDoc(t, openAPIInternal); doc.Webhooks != nil || doc.Components.SecuritySchemes["ApiKeyAuth"] != nil {
		t.Error("the internal description carries the public webhooks or the API key scheme")
	}
	if doc := loadDoc(t, openAPIDocument); doc.Components.SecuritySchemes["InternalBearer"] != nil {
		t.Error("the public description carries the internal bearer scheme")
	}
}
