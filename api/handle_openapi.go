package api

import (
	_ "embed"
	"net/http"
	"strconv"
)

// openAPIDocument is the OpenAPI 3.1 description of both listeners, served at /openapi.yaml.
//
//go:embed openapi.yaml
var openAPIDocument []byte

// OpenAPIDocument returns the service's OpenAPI 3.1 description (YAML), as GET /openapi.yaml
// serves it.
func OpenAPIDocument() []byte { return append([]byte(nil), openAPIDocument...) }

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
