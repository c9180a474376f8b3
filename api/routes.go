package api

import "github.com/go-chi/chi/v5"

// addRoutes is the whole public API surface at a glance.
func addRoutes(r chi.Router, d Deps) {
	r.Get("/healthz", handleHealthz().ServeHTTP)
	r.Get("/readyz", handleReadyz(d.Ready).ServeHTTP)

	r.Route("/public", func(r chi.Router) {
		r.Use(authenticate(d.Auth))
		r.NotFound(notFound)
		r.MethodNotAllowed(methodNotAllowed)

		r.Get("/me", handleMe().ServeHTTP)

		r.Post("/api-keys/create", handleKeyCreate(d.Keys).ServeHTTP)
		r.Get("/api-keys", handleKeyList(d.KeyStore, d.Cursors).ServeHTTP)
		r.Get("/api-keys/{key}", handleKeyGet(d.KeyStore).ServeHTTP)
		r.Patch("/api-keys/{key}/revoke", handleKeyChange(d.KeyStore.RevokeAPIKey, d.Auth, "API key revoked").ServeHTTP)
		r.Patch("/api-keys/{key}/activate", handleKeyChange(d.KeyStore.ActivateAPIKey, d.Auth, "API key activated").ServeHTTP)
		r.Delete("/api-keys/{key}", handleKeyDelete(d.KeyStore, d.Auth).ServeHTTP)
	})
}
