package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
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
	if err := checkFieldNames(body, reflect.TypeOf(dst)); err != nil {
		return err
	}
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

// checkFieldNames requires every key of the JSON object body to be exactly the name of a field of
// t (a struct, or a pointer to one), and each field to be given once in any spelling.
// encoding/json matches names case-insensitively, so without this {"Name":"x"} would pass as
// "name", and {"org_id":..,"ORG_ID":..} would keep the last one where another parser keeps the
// first. Objects of struct-typed fields are checked the same way; anything else (a
// json.RawMessage such as transaction_data, whose keys are the caller's) is left as it is. A
// body that is not an object is left to the decoder's own error.
func checkFieldNames(body []byte, t reflect.Type) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct || t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	keys, values, ok := objectMembers(body)
	if !ok {
		return nil
	}
	fields := jsonFields(t)
	canonical := make([]string, len(keys)) // the field each key names, "" for none
	given := map[string]int{}
	for i, key := range keys {
		if _, exact := fields[key]; exact {
			canonical[i] = key
		} else {
			for name := range fields {
				if strings.EqualFold(key, name) {
					canonical[i] = name
					break
				}
			}
		}
		given[canonical[i]]++
	}
	for i, key := range keys {
		name := canonical[i]
		switch {
		case name == "":
			return pcx.Invalid("Invalid request body", map[string]string{key: "is not a known field"})
		case given[name] > 1:
			return pcx.Invalid("Invalid request body", map[string]string{name: "appears more than once (field names are case-sensitive)"})
		case key != name:
			return pcx.Invalid("Invalid request body", map[string]string{key: "is not a known field (field names are case-sensitive: " + name + ")"})
		}
		if err := checkFieldNames(values[i], fields[name]); err != nil {
			return err
		}
	}
	return nil
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// objectMembers returns the keys of the JSON object body in order with their raw values; ok is
// false when body is not an object.
func objectMembers(body []byte) (keys []string, values []json.RawMessage, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, false
	}
	for dec.More() {
		tok, err := dec.Token()
		key, isKey := tok.(string)
		if err != nil || !isKey {
			return nil, nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, false
		}
		keys, values = append(keys, key), append(values, v)
	}
	return keys, values, true
}

// jsonFields maps the JSON names of t's fields (promoted ones included) to their types, as
// encoding/json names them: the tag's name, else the Go name.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for _, f := range reflect.VisibleFields(t) {
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if !f.IsExported() || name == "-" || f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	return fields
}
