package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/pcx/publicservice/pcx"
)

// Request body limits.
const (
	MaxBodyBytes = 1 << 20 // 1 MiB, every request
	maxJSONDepth = 32
)

// errBodyTooLarge answers a body over MaxBodyBytes.
var errBodyTooLarge = pcx.Errorf(pcx.ETooLarge, "Request body must be at most 1 MiB")

// readBody reads a JSON request body. An empty body is allowed only when optional is true, and
// then nil is returned. Bodies must be declared application/json, be valid UTF-8, nest at most
// maxJSONDepth levels and have no duplicate object keys, so what we store is what the caller
// meant and one parser's reading cannot differ from another's.
func readBody(r *http.Request, optional bool) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, errBodyTooLarge
	}
	if err != nil {
		return nil, pcx.Wrap(pcx.EInvalid, err, "Request body could not be read")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil, nil
		}
		return nil, pcx.Errorf(pcx.EInvalid, "Request body is required")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, pcx.Errorf(pcx.EUnsupportedMedia, "Content-Type must be application/json")
	}
	if !utf8.Valid(body) {
		return nil, pcx.Errorf(pcx.EInvalid, "Request body must be valid UTF-8")
	}
	if err := checkJSON(body); err != nil {
		return nil, err
	}
	return body, nil
}

// decodeBody reads the body and decodes it strictly into dst: unknown fields and trailing data
// are errors, and type errors name the field. An absent optional body leaves dst as it is.
func decodeBody(r *http.Request, dst any, optional bool) error {
	body, err := readBody(r, optional)
	if err != nil || body == nil {
		return err
	}
	return decodeJSON(body, dst)
}

func decodeJSON(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	return nil
}

func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return pcx.Errorf(pcx.EInvalid, "Request body must be a JSON object")
		}
		return pcx.Invalid("Invalid request body", map[string]string{field: "must be " + jsonType(typeErr.Type.Kind().String())})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return pcx.Invalid("Invalid request body", map[string]string{name: "is not a known field"})
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return pcx.Errorf(pcx.EInvalid, "Request body is not valid JSON")
	}
	return pcx.Wrap(pcx.EInvalid, err, "Request body is not valid JSON")
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "an array"
	case "bool":
		return "a boolean"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	}
	return "of another type"
}

// checkJSON walks the tokens of body once: exactly one value, nesting within maxJSONDepth, and
// no object with the same key twice (encoding/json would silently keep the last one).
func checkJSON(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]struct{}
		expect bool // in an object: the next string token is a key
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return pcx.Errorf(pcx.EInvalid, "Request body is not valid JSON")
		}
		top := len(stack) - 1
		if top >= 0 && stack[top].object && stack[top].expect {
			if key, ok := tok.(string); ok {
				if _, dup := stack[top].keys[key]; dup {
					return pcx.Invalid("Invalid request body", map[string]string{key: "appears more than once"})
				}
				stack[top].keys[key] = struct{}{}
				stack[top].expect = false
				continue
			}
		}
		if top >= 0 && stack[top].object {
			stack[top].expect = true // after a value comes the next key
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= maxJSONDepth {
				return pcx.Errorf(pcx.EInvalid, "Request body nests deeper than %d levels", maxJSONDepth)
			}
			obj := tok == json.Delim('{')
			stack = append(stack, frame{object: obj, keys: map[string]struct{}{}, expect: obj})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:top]
			if len(stack) > 0 && stack[len(stack)-1].object {
				stack[len(stack)-1].expect = true
			}
		}
		if len(stack) == 0 && dec.More() {
			return pcx.Errorf(pcx.EInvalid, "Request body must hold exactly one JSON value")
		}
	}
	return nil
}
