package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/pcx/publicservice/internal/httpx"
	"github.com/pcx/publicservice/internal/metrics"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/service/apikeys"
)

// errBadToken answers a transaction update without the right bearer token.
var errBadToken = pcx.Errorf(pcx.EUnauthenticated, "Missing or invalid bearer token")

// bearerToken requires "Authorization: Bearer <token>". The comparison is constant-time over
// digests, so neither the token's content nor its length leaks through timing.
func bearerToken(token string) func(http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return func(next http.Handler) http.Handler {
		return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
			ok = ok && strings.EqualFold(scheme, "Bearer") // auth schemes are case-insensitive
			sum := sha256.Sum256([]byte(got))
			if !ok || token == "" || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				return errBadToken
			}
			next.ServeHTTP(w, r)
			return nil
		})
	}
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
