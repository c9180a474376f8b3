package api

import (
	"net/http"

	"github.com/pcx/publicservice/internal/httpx"
	"github.com/pcx/publicservice/internal/metrics"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/service/apikeys"
)

// errBadToken answers a transaction update without the right bearer token.
var errBadToken = pcx.Errorf(pcx.EUnauthenticated, "Missing or invalid bearer token")

// bearerToken requires "Authorization: Bearer <token>" (INTERNAL_TOKEN), compared in constant
// time.
func bearerToken(token string) func(http.Handler) http.Handler {
	return httpx.RequireBearer(token, errBadToken)
}

// handleTransactionUpdate accepts a transaction update from another PCX service: the notify body
// for any organisation, delivered the same way as notify.
func handleTransactionUpdate(svc Webhooks, m *metrics.Metrics) http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return acceptEvent(w, r, svc, m, "transaction-update", checkOrgID)
	})
}

// checkOrgID validates an organisation ID named by a trusted caller.
func checkOrgID(org string) error {
	if msg := apikeys.CheckID(org); msg != "" {
		return pcx.Invalid("Invalid request body", map[string]string{"org_id": msg})
	}
	return nil
}
