// Package pcx holds the domain of the PCX Public Service: the types every layer shares (API keys,
// webhook endpoints, events, deliveries) and its errors. It imports nothing of the project, so
// every other package can depend on it without cycles.
package pcx

import (
	"errors"
	"fmt"
)

// Code classifies an error by what the caller can do about it. The HTTP layer maps each code to
// one status in a single table; the store and the workflows translate their dependencies' errors
// into these codes so nothing above them needs to know about AWS or Temporal error types.
type Code string

// Error codes.
const (
	EInvalid          Code = "invalid"           // bad input: the caller must change the request
	EUnauthenticated  Code = "unauthenticated"   // no usable API key
	EForbidden        Code = "forbidden"         // acting on another organisation named in the request
	ENotFound         Code = "not_found"         // absent, or belongs to another organisation
	EConflict         Code = "conflict"          // the state forbids it, or a uniqueness rule
	ETooLarge         Code = "too_large"         // body or field over its limit
	EUnsupportedMedia Code = "unsupported_media" // body that is not JSON
	ERateLimited      Code = "rate_limited"      // too many requests; retry later
	EUnavailable      Code = "unavailable"       // a dependency (DynamoDB, Temporal) is down; retry later
	EInternal         Code = "internal"          // a bug or an unexpected failure; details only in logs
)

// ErrPrefixTaken is returned by the store when another API key already has the prefix; the key
// use case draws a new key and tries again. Nothing is ever overwritten. It is the domain's, not
// the store's, so the use case recognises it with errors.Is and needs no word from its wiring.
var ErrPrefixTaken = Errorf(EConflict, "API key prefix already exists")

// Error is the project's error: a code, a message that is safe to show to the caller, optional
// per-field problems for validation errors, and the underlying cause, which is only ever logged.
type Error struct {
	Code    Code
	Message string
	Fields  map[string]string
	Err     error
	// Reason, when set, is the stable machine-readable name of the refusal that callers see as
	// the body's "code" (e.g. "missing_scope"): finer than Code, which picks the status.
	Reason string
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an error with the given code and a caller-safe message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error with the given code and caller-safe message whose cause is err. The cause
// is kept for logs and errors.Is/As; callers never see its text.
func Wrap(code Code, err error, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// MissingScope refuses a request whose key lacks the route's scope (contract §6).
func MissingScope(s Scope) *Error {
	return &Error{Code: EForbidden, Message: "This API key lacks the scope " + string(s), Reason: "missing_scope"}
}

// Invalid returns a validation error with per-field problems.
func Invalid(message string, fields map[string]string) *Error {
	return &Error{Code: EInvalid, Message: message, Fields: fields}
}

// ErrorCode returns the code of err, EInternal for an error that is not an *Error, or "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the caller-safe message of err; errors that are not *Error get a generic
// text so internal details never leak.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "Internal server error"
}
