package httpx

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// RequireBearer requires "Authorization: Bearer <token>", answering refuse otherwise (an empty
// token refuses everything). The comparison is constant-time over digests, so neither the
// token's content nor its length leaks through timing.
func RequireBearer(token string, refuse error) func(http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return func(next http.Handler) http.Handler {
		return HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
			ok = ok && strings.EqualFold(scheme, "Bearer") // auth schemes are case-insensitive
			sum := sha256.Sum256([]byte(got))
			if !ok || token == "" || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				return refuse
			}
			next.ServeHTTP(w, r)
			return nil
		})
	}
}
