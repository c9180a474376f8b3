package httpx

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/internal/keyformat"
)

// RequestID gives every request an ID: the caller's X-Request-ID when it is a sane token, a new
// one otherwise. It is echoed in the response and carried by every log line of the request, so
// an X-Request-ID that holds anything shaped like an API key or its secret is not sane: it is
// replaced, never echoed or logged.
func RequestID(base zerolog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("X-Request-ID")
			if !saneID(id) || keyformat.HasSecret(id) {
				var b [12]byte
				_, _ = rand.Read(b[:])
				id = hex.EncodeToString(b[:])
			}
			w.Header().Set("X-Request-ID", id)
			log := base.With().Str("request_id", id).Logger()
			next.ServeHTTP(w, r.WithContext(log.WithContext(r.Context())))
		})
	}
}

func saneID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
