package api

import (
	"errors"
	"strings"
	"testing"

	"github.com/pcx/publicservice/pcx"
)

// Field names match exactly: encoding/json's case-insensitive matching lets neither a variant
// spelling nor a case-folded duplicate through, while transaction_data's own keys (the caller's
// payload) are left as they are, bytes included.
func TestDecodeFieldNamesAreCaseSensitive(t *testing.T) {
	type inner struct {
		Name string `json:"name"`
	}
	type request struct {
		Name  *string `json:"name"`
		Inner *inner  `json:"inner"`
	}
	for _, tt := range []struct {
		name, body   string
		dst          any
		field, issue string // "" when the body is accepted
	}{
		{"exact", `{"name":"x"}`, &request{}, "", ""},
		{"variant spelling", `{"Name":"x"}`, &request{}, "Name", "is not a known field"},
		{"upper case", `{"NAME":"x"}`, &request{}, "NAME", "is not a known field"},
		{"case-folded duplicate", `{"name":"x","Name":"y"}`, &request{}, "name", "appears more than once"},
		{"case-folded duplicate, variant first", `{"NAME":"x","name":"y"}`, &request{}, "name", "appears more than once"},
		{"nested variant", `{"inner":{"NAME":"y"}}`, &request{}, "NAME", "is not a known field"},
		{"nested exact", `{"inner":{"name":"y"}}`, &request{}, "", ""},
		{"notify variant", `{"org_id":"o","transaction_data":{"a":1},"Transaction_Data":{"a":2}}`, &notifyRequest{}, "transaction_data", "appears more than once"},
		{"notify variant org", `{"ORG_ID":"o","transaction_data":{"a":1}}`, &notifyRequest{}, "ORG_ID", "is not a known field"},
		{"transaction_data keys are the caller's", `{"org_id":"o","transaction_data":{"Amount":1,"amount":2,"AMOUNT":{"X":1,"x":2}}}`, &notifyRequest{}, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := decodeJSON([]byte(tt.body), tt.dst)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("decode %s: %v, want it accepted", tt.body, err)
				}
				return
			}
			var perr *pcx.Error
			if !errors.As(err, &perr) || perr.Code != pcx.EInvalid || !strings.Contains(perr.Fields[tt.field], tt.issue) {
				t.Fatalf("decode %s: %#v, want %s %q", tt.body, err, tt.field, tt.issue)
			}
		})
	}
	// The payload passes through as the bytes received.
	body := `{"org_id":"o","transaction_data":{"Amount" : 1,"amount":2}}`
	var req notifyRequest
	if err := decodeJSON([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
	if got, want := string(req.TransactionData), `{"Amount" : 1,"amount":2}`; got != want {
		t.Errorf("transaction_data = %s, want %s", got, want)
	}
}
