package api

import (
	_ "embed"
	"net/http"
	"strconv"
)

// The descriptions: openapi-all.yaml, both listeners, is the one edited; go generate derives the
// public listener's openapi.yaml (served at /openapi.yaml, what clients are generated from) and
// the internal listener's openapi-internal.yaml from it (api/openapisplit).
//
//go:generate go run ./openapisplit/gen
//go:generate go run github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2 -config ../clients/go/pcxclient/oapi-codegen.yaml openapi.yaml

// openAPIDocument is the OpenAPI 3.1 description of the public listener, served at /openapi.yaml.
//
//go:embed openapi.yaml
var openAPIDocument []byte

// openAPIAll describes both listeners, each path's listener given by its servers.
//
//go:embed openapi-all.yaml
var openAPIAll []byte

// openAPIInternal is the OpenAPI 3.1 description of the internal listener.
//
//go:embed openapi-internal.yaml
var openAPIInternal []byte

// OpenAPIInternalDocument returns the internal listener's description.
func OpenAPIInternalDocument() []byte { return append([]byte(nil), openAPIInternal...) }

// OpenAPIDocument returns the public listener's OpenAPI 3.1 description (YAML), as GET
// /openapi.yaml serves it.
func OpenAPIDocument() []byte { return append([]byte(nil), openAPIDocument...) }

// OpenAPIAllDocument returns the description of both listeners, which tests validate every
// response against.
func OpenAPIAllDocument() []byte { return append([]byte(nil), openAPIAll...) }

// handleOpenAPI serves the OpenAPI document; it needs no authentication.
func handleOpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/yaml")
		h.Set("Content-Length", strconv.Itoa(len(openAPIDocument)))
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(openAPIDocument)
	})
}
