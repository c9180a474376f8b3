package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/pcx"
)

// handlerFunc is a handler with one error exit: it returns an error instead of writing one, and
// ServeHTTP turns the error into the envelope and status.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (h handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h(w, r); err != nil {
		writeError(w, r, err)
	}
}

// success is the envelope of every successful response.
type success struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
	Meta    any    `json:"meta,omitempty"`
}

// failure is the envelope of every error response. Its fields are in alphabetical order, the
// order the contract's exact 401 body has: {"message":"API Key is missing","status":"error"}.
type failure struct {
	Message string            `json:"message"`
	Status  string            `json:"status"`
	Errors  map[string]string `json:"errors,omitempty"`
}

// statusOf maps each error code to its HTTP status: the one table that decides it.
var statusOf = map[pcx.Code]int{
	pcx.EInvalid:          http.StatusBadRequest,
	pcx.EUnauthenticated:  http.StatusUnauthorized,
	pcx.EForbidden:        http.StatusForbidden,
	pcx.ENotFound:         http.StatusNotFound,
	pcx.EConflict:         http.StatusConflict,
	pcx.ETooLarge:         http.StatusRequestEntityTooLarge,
	pcx.EUnsupportedMedia: http.StatusUnsupportedMediaType,
	pcx.ERateLimited:      http.StatusTooManyRequests,
	pcx.EUnavailable:      http.StatusServiceUnavailable,
	pcx.EInternal:         http.StatusInternalServerError,
}

// retryAfterSeconds is what a 503 tells callers to wait.
const retryAfterSeconds = 5

// RetryAfter lets an error say how long a 429 or 503 should make the caller wait.
type RetryAfter interface{ RetryAfterSeconds() int }

// write encodes v with status. Encoding our own response types cannot fail.
func write(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		body, status = []byte(`{"message":"Internal server error","status":"error"}`), http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// respond writes a success envelope.
func respond(w http.ResponseWriter, status int, message string, data, meta any) {
	write(w, status, success{Status: "success", Message: message, Data: data, Meta: meta})
}

// writeError writes err's envelope. Internal errors are logged with their cause and answered with
// a generic message; no dependency's error text ever reaches the caller.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := pcx.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	body := failure{Status: "error", Message: pcx.ErrorMessage(err)}
	var pe *pcx.Error
	if errors.As(err, &pe) && len(pe.Fields) > 0 {
		body.Errors = pe.Fields
	}
	log := zerolog.Ctx(r.Context())
	switch {
	case status >= 500:
		body = failure{Status: "error", Message: pcx.ErrorMessage(err)}
		if code == pcx.EInternal {
			body.Message = "Internal server error"
		}
		log.Error().Err(err).Str("code", string(code)).Msg("request failed")
	case status == http.StatusUnauthorized:
		// The same bytes for every reason; the reason is not logged either, so logs cannot
		// become an oracle.
	default:
		log.Debug().Err(err).Msg("request rejected")
	}
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		secs := retryAfterSeconds
		var ra RetryAfter
		if errors.As(err, &ra) {
			secs = ra.RetryAfterSeconds()
		}
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	write(w, status, body)
}

// Timestamp is a time as the API writes it: UTC, RFC 3339, always with milliseconds, so every
// timestamp has the same width and sorts as text.
type Timestamp time.Time

// MarshalJSON implements json.Marshaler.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Time(t).UTC().Format("2006-01-02T15:04:05.000Z07:00") + `"`), nil
}

// ts converts a time; tsp a possibly nil time (nil stays null).
func ts(t time.Time) Timestamp { return Timestamp(t) }

func tsp(t *time.Time) *Timestamp {
	if t == nil {
		return nil
	}
	v := Timestamp(*t)
	return &v
}
