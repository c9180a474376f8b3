package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/pcx/publicservice/internal/health"
	"github.com/pcx/publicservice/pcx"
)

// route is one operation of the public API and the scope its key needs ("" for none).
type route struct {
	method, pattern string
	scope           pcx.Scope
	handler         http.Handler
}

// publicRoutes is the whole public API surface at a glance, under /public, with the scope each
// operation needs: the table of contract §6, which TestEveryRouteHasTheContractsScope holds it to.
func publicRoutes(d Deps) []route {
	const (
		keysRead      = pcx.ScopeKeysRead
		keysWrite     = pcx.ScopeKeysWrite
		webhooksRead  = pcx.ScopeWebhooksRead
		webhooksWrite = pcx.ScopeWebhooksWrite
		eventsRead    = pcx.ScopeEventsRead
		eventsWrite   = pcx.ScopeEventsWrite
		auditRead     = pcx.ScopeAuditRead
	)
	return []route{
		{"GET", "/me", "", handleMe()},

		{"POST", "/api-keys/create", keysWrite, handleKeyCreate(d.Keys)},
		{"GET", "/api-keys", keysRead, handleList(d.Cursors, "api-keys", "API keys", d.Keys.List, newKeyMetadata)},
		{"GET", "/api-keys/{key}", keysRead, handleKeyGet(d.Keys)},
		{"PATCH", "/api-keys/{key}", keysWrite, handleKeyUpdate(d.Keys)},
		{"PATCH", "/api-keys/{key}/revoke", keysWrite, handleKeyRevoke(d.Keys)},
		{"PATCH", "/api-keys/{key}/activate", keysWrite, handleKeyActivate(d.Keys)},
		{"POST", "/api-keys/{key}/roll", keysWrite, handleKeyRoll(d.Keys)},
		{"DELETE", "/api-keys/{key}", keysWrite, handleKeyDelete(d.Keys)},

		{"POST", "/webhooks", webhooksWrite, handleWebhookCreate(d.Webhooks)},
		{"GET", "/webhooks", webhooksRead, handleList(d.Cursors, "webhooks", "Webhooks", d.Webhooks.ListEndpoints, listedWebhook)},
		{"POST", "/webhooks/notify", eventsWrite, handleNotify(d.Webhooks, d.Metrics)},
		{"GET", "/webhooks/events", eventsRead, handleEventList(d.Webhooks, d.Cursors)},
		{"GET", "/webhooks/events/{event_id}", eventsRead, handleEventGet(d.Webhooks, d.Cursors)},
		{"POST", "/webhooks/events/{event_id}/replay", eventsWrite, handleEventReplay(d.Webhooks, d.Metrics)},
		{"POST", "/webhooks/{webhook_id}/test", webhooksWrite, handleWebhookTest(d.Webhooks, d.Metrics)},
		{"GET", "/webhooks/{webhook_id}", webhooksRead, handleWebhookGet(d.Webhooks)},
		{"PATCH", "/webhooks/{webhook_id}", webhooksWrite, handleWebhookUpdate(d.Webhooks)},
		{"DELETE", "/webhooks/{webhook_id}", webhooksWrite, handleWebhookDelete(d.Webhooks)},
		{"GET", "/webhooks/{webhook_id}/deliveries", webhooksRead, handleEndpointDeliveries(d.Webhooks, d.Cursors)},
		{"POST", "/webhooks/{webhook_id}/rotate-secret", webhooksWrite, handleWebhookRotate(d.Webhooks)},
		{"POST", "/webhooks/{webhook_id}/recover", webhooksWrite, handleRecover(d.Webhooks)},
		{"GET", "/webhooks/{webhook_id}/recoveries/{recovery_id}", webhooksRead, handleRecoveryGet(d.Webhooks)},

		{"GET", "/audit-events", auditRead, handleAuditList(d.Audit, d.Cursors)},
	}
}

// addRoutes mounts the public API: health and the OpenAPI document open to all, everything under
// /public behind authentication and each route's scope.
func addRoutes(r chi.Router, d Deps) {
	r.Get("/healthz", health.Healthz().ServeHTTP)
	r.Get("/readyz", d.Drain.Gate(health.Readyz(d.Ready)).ServeHTTP)
	r.Get("/openapi.yaml", handleOpenAPI().ServeHTTP)

	r.Route("/public", func(r chi.Router) {
		r.Use(authenticate(d.Auth, d.AuthFailures, d.Metrics))
		r.NotFound(notFound)
		r.MethodNotAllowed(methodNotAllowed)
		for _, rt := range publicRoutes(d) {
			r.With(requireScope(rt.scope)).Method(rt.method, rt.pattern, rt.handler)
		}
	})
}

// addInternalRoutes is the internal listener's surface: what other PCX services call.
func addInternalRoutes(r chi.Router, d InternalDeps) {
	r.Get("/healthz", health.Healthz().ServeHTTP)
	r.Get("/metrics", d.Metrics.Handler().ServeHTTP)
	r.With(bearerToken(d.Token)).Post("/internal/transaction-updates", handleTransactionUpdate(d.Webhooks, d.Metrics).ServeHTTP)
}
