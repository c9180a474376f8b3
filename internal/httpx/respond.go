// Package httpx is the JSON envelope every listener of the service answers with, and the one
// table that maps an error's code to its HTTP status, so the public API, the internal listener and
// the worker's health listener write the same bytes for the same outcome.
package httpx

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/pcx"
)

// HandlerFunc is a handler with one error exit: it returns an error instead of writing one, and
// ServeHTTP turns the error into the envelope and status.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

func (h HandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h(w, r); err != nil {
		WriteError(w, r, err)
	}
}

// success is the envelope of every successful response.
type success struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
	Meta    any    `json:"meta,omitempty"`
}

// Failure is the envelope of every error response. Its fields are in alphabetical order, the
// order the contract's exact 401 body has: {"message":"API Key is missing","status":"error"}.
type Failure struct {
	Code    string            `json:"code,omitempty"`
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

// publicCodes is the stable, machine-readable code each error code shows callers as the body's
// "code" (contract §11), unless the error names a finer Reason. The API key's 401 has none: its
// bytes are the seed's, exactly.
var publicCodes = map[pcx.Code]string{
	pcx.EInvalid:          "invalid_request",
	pcx.EUnauthenticated:  "unauthorized",
	pcx.EForbidden:        "forbidden_org",
	pcx.ENotFound:         "not_found",
	pcx.EConflict:         "conflict",
	pcx.ETooLarge:         "payload_too_large",
	pcx.EUnsupportedMedia: "unsupported_media_type",
	pcx.ERateLimited:      "rate_limited",
	pcx.EUnavailable:      "unavailable",
	pcx.EInternal:         "internal",
}

// PublicCode is the body "code" of err: its Reason when it has one, else its code's.
func PublicCode(err error) string {
	var pe *pcx.Error
	if errors.As(err, &pe) && pe.Reason != "" {
		return pe.Reason
	}
	return publicCodes[pcx.ErrorCode(err)]
}

// apiKeyMissing is the message of the API key's 401, whose body stays exactly the seed's:
// {"message":"API Key is missing","status":"error"}, with no code.
const apiKeyMissing = "API Key is missing"

// retryAfterSeconds is what a 503 tells callers to wait.
const retryAfterSeconds = 5

// RetryAfter lets an error say how long a 429 or 503 should make the caller wait.
type RetryAfter interface{ RetryAfterSeconds() int }

// internalBody is what a response that cannot be encoded answers instead.
var internalBody = []byte(`{"code":"internal","message":"Internal server error","status":"error"}`)

// Write encodes v with status. Encoding our own response types cannot fail.
func Write(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		body, status = internalBody, http.StatusInternalServerError
	}
	writeBody(w, status, body)
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Respond writes a success envelope.
func Respond(w http.ResponseWriter, status int, message string, data, meta any) {
	Write(w, status, success{Status: "success", Message: message, Data: data, Meta: meta})
}

// RespondRaw writes a success envelope whose data is JSON already, written as it is. json.Marshal
// would compact a json.RawMessage and escape its <, > and &: a payload shown as it was received
// must not pass through it.
func RespondRaw(w http.ResponseWriter, status int, message string, data []byte, meta any) {
	head, err := json.Marshal(success{Status: "success", Message: message})
	if err != nil {
		writeBody(w, http.StatusInternalServerError, internalBody)
		return
	}
	body := append(head[:len(head)-1], `,"data":`...)
	body = append(body, data...)
	if meta != nil {
		m, err := json.Marshal(meta)
		if err != nil {
			writeBody(w, http.StatusInternalServerError, internalBody)
			return
		}
		body = append(append(body, `,"meta":`...), m...)
	}
	writeBody(w, status, append(body, '}'))
}

// WithRawField encodes the object v and adds the field name with the JSON raw, as it is (null if
// raw is empty), for RespondRaw.
func WithRawField(v any, name string, raw []byte) ([]byte, error) {
	obj, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if len(obj) < 2 || obj[len(obj)-1] != '}' {
		return nil, errors.New("httpx: not an object")
	}
	key, _ := json.Marshal(name)
	if len(raw) == 0 {
		raw = []byte("null")
	}
	out := obj[:len(obj)-1]
	if len(obj) > 2 {
		out = append(out, ',')
	}
	out = append(append(append(out, key...), ':'), raw...)
	return append(out, '}'), nil
}

// WriteError writes err's envelope. Internal errors are logged with their cause and answered with
// a generic message; no dependency's error text ever reaches the caller.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	code := pcx.ErrorCode(err)
	status := StatusOf(code)
	body := Failure{Status: "error", Message: pcx.ErrorMessage(err), Code: PublicCode(err)}
	var pe *pcx.Error
	if errors.As(err, &pe) && len(pe.Fields) > 0 {
		body.Errors = pe.Fields
	}
	log := zerolog.Ctx(r.Context())
	switch {
	case status >= 500:
		body = Failure{Status: "error", Message: pcx.ErrorMessage(err), Code: PublicCode(err)}
		if code == pcx.EInternal {
			body.Message = "Internal server error"
		}
		log.Error().Err(err).Str("code", string(code)).Msg("request failed")
	case status == http.StatusUnauthorized:
		// The same bytes for every reason; the reason is not logged either, so logs cannot
		// become an oracle. The API key's 401 keeps the seed's exact bytes, with no code, and
		// says how to authenticate.
		if body.Message == apiKeyMissing {
			body.Code = ""
			w.Header().Set("WWW-Authenticate", `ApiKey header="X-API-Key"`)
		}
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
	Write(w, status, body)
}

// StatusOf is the HTTP status of an error code; an unknown code is a 500.
func StatusOf(code pcx.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}
