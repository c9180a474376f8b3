package api

import (
	"github.com/go-chi/chi/v5"

	"github.com/pcx/publicservice/internal/health"
)

// addRoutes is the whole public API surface at a glance.
func addRoutes(r chi.Router, d Deps) {
	r.Get("/healthz", health.Healthz().ServeHTTP)
	r.Get("/readyz", d.Drain.Gate(health.Readyz(d.Ready)).ServeHTTP)
	r.Get("/openapi.yaml", handleOpenAPI().ServeHTTP)

	r.Route("/public", func(r chi.Router) {
		r.Use(authenticate(d.Auth, d.AuthFailures, d.Metrics))
		r.NotFound(notFound)
		r.MethodNotAllowed(methodNotAllowed)

		r.Get("/me", handleMe().ServeHTTP)

		r.Post("/api-keys/create", handleKeyCreate(d.Keys).ServeHTTP)
		r.Get("/api-keys", handleList(d.Cursors, "api-keys", "API keys", d.Keys.List, newKeyMetadata).ServeHTTP)
		r.Get("/api-keys/{key}", handleKeyGet(d.Keys).ServeHTTP)
		r.Patch("/api-keys/{key}/revoke", handleKeyChange(d.Keys.Revoke, "API key revoked").ServeHTTP)
		r.Patch("/api-keys/{key}/activate", handleKeyChange(d.Keys.Activate, "API key activated").ServeHTTP)
		r.Delete("/api-keys/{key}", handleKeyDelete(d.Keys).ServeHTTP)

		r.Post("/webhooks", handleWebhookCreate(d.Webhooks).ServeHTTP)
		r.Get("/webhooks", handleList(d.Cursors, "webhooks", "Webhooks", d.Webhooks.ListEndpoints, listedWebhook).ServeHTTP)
		r.Post("/webhooks/notify", handleNotify(d.Webhooks, d.Metrics).ServeHTTP)
		r.Get("/webhooks/events", handleEventList(d.Webhooks, d.Cursors).ServeHTTP)
		r.Get("/webhooks/events/{event_id}", handleEventGet(d.Webhooks, d.Cursors).ServeHTTP)
		r.Post("/webhooks/events/{event_id}/replay", handleEventReplay(d.Webhooks, d.Metrics).ServeHTTP)
		r.Post("/webhooks/{webhook_id}/test", handleWebhookTest(d.Webhooks, d.Metrics).ServeHTTP)
		r.Get("/webhooks/{webhook_id}", handleWebhookGet(d.Webhooks).ServeHTTP)
		r.Patch("/webhooks/{webhook_id}", handleWebhookUpdate(d.Webhooks).ServeHTTP)
		r.Delete("/webhooks/{webhook_id}", handleWebhookDelete(d.Webhooks).ServeHTTP)
		r.Get("/webhooks/{webhook_id}/deliveries", handleEndpointDeliveries(d.Webhooks, d.Cursors).ServeHTTP)
		r.Post("/webhooks/{webhook_id}/rotate-secret", handleWebhookRotate(d.Webhooks).ServeHTTP)
		r.Post("/webhooks/{webhook_id}/recover", handleRecover(d.Webhooks).ServeHTTP)
		r.Get("/webhooks/{webhook_id}/recoveries/{recovery_id}", handleRecoveryGet(d.Webhooks).ServeHTTP)
	})
}

// addInternalRoutes is the internal listener's surface: what other PCX services call.
func addInternalRoutes(r chi.Router, d InternalDeps) {
	r.Get("/healthz", health.Healthz().ServeHTTP)
	r.Get("/metrics", d.Metrics.Handler().ServeHTTP)
	r.With(bearerToken(d.Token)).Post("/internal/transaction-updates", handleTransactionUpdate(d.Webhooks, d.Metrics).ServeHTTP)
}
