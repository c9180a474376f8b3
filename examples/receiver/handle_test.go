package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/signing"
	"github.com/pcx/publicservice/pcx"
)

// typed builds a delivery of an event of type eventType as PCX's worker sends it to an endpoint
// of format f: the body from pcx.Event.Body (the code the worker uses), PCX-Event-Type, signed.
func typed(key []byte, id, eventType string, f pcx.PayloadFormat, data string) *http.Request {
	ev := &pcx.Event{ID: id, Type: eventType, CreatedAt: time.Date(2030, 1, 2, 15, 4, 5, 6_000_000, time.UTC), Payload: []byte(data)}
	r := delivery([][]byte{key}, id, time.Now(), ev.Body(f))
	r.Header.Set(HeaderEventType, ev.EventType())
	return r
}

func newFormatReceiver(t *testing.T, f PayloadFormat) ([]byte, *Receiver, *processed) {
	t.Helper()
	key := signing.NewSecret()
	p := &processed{}
	rc, err := NewReceiver(signing.FormatSecret(key), f, time.Hour, p.process)
	if err != nil {
		t.Fatal(err)
	}
	return key, rc, p
}

// Both payload formats hand the application the same event: the type, and transaction_data
// byte for byte (the standard envelope's data unwrapped, its timestamp kept).
func TestReceiverPayloadFormats(t *testing.T) {
	const data = `{"amount": 12345678901234567890, "b":1,"a":[1, 2]}`
	for _, tt := range []struct {
		receiver PayloadFormat
		sent     pcx.PayloadFormat
	}{
		{FormatRaw, pcx.PayloadRaw},
		{FormatStandard, pcx.PayloadStandard},
		{FormatAuto, pcx.PayloadRaw},
		{FormatAuto, pcx.PayloadStandard},
	} {
		key, rc, p := newFormatReceiver(t, tt.receiver)
		if w := serve(rc, typed(key, "evt_1", "refund.created", tt.sent, data)); w.Code != http.StatusOK {
			t.Fatalf("%s receiver, %s body: %d %s", tt.receiver, tt.sent, w.Code, w.Body)
		}
		ev := p.events[0]
		if ev.ID != "evt_1" || ev.Type != "refund.created" || string(ev.Data) != data {
			t.Errorf("%s receiver, %s body: got %+v, want refund.created and the data's bytes", tt.receiver, tt.sent, ev)
		}
		if want := map[pcx.PayloadFormat]string{pcx.PayloadStandard: "2030-01-02T15:04:05.006Z"}[tt.sent]; ev.Timestamp != want {
			t.Errorf("%s receiver, %s body: timestamp %q, want %q", tt.receiver, tt.sent, ev.Timestamp, want)
		}
	}
}

// A raw body that happens to carry a "type" is still raw to the auto receiver unless it is
// exactly an envelope of the header's type.
func TestReceiverAutoFormatTakesOnlyTheEnvelope(t *testing.T) {
	key, rc, p := newFormatReceiver(t, FormatAuto)
	for i, data := range []string{
		`{"type":"refund.created","timestamp":"2030-01-02T15:04:05.000Z","data":{},"id":"tx_1"}`,
		`{"type":"other.type","timestamp":"2030-01-02T15:04:05.000Z","data":{}}`,
		`{"type":"refund.created","timestamp":"2030-01-02T15:04:05.000Z","data":[1]}`,
		`{"type":"refund.created","data":{}}`,
	} {
		if w := serve(rc, typed(key, "evt_a"+string(rune('0'+i)), "refund.created", pcx.PayloadRaw, data)); w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", data, w.Code, w.Body)
		}
		if ev := p.events[i]; string(ev.Data) != data || ev.Timestamp != "" {
			t.Errorf("%s: unwrapped to %+v, want it raw", data, ev)
		}
	}
}

// A standard receiver refuses (400, so PCX retries once the two agree) a body that is not the
// envelope, or whose signed type is not the header's; nothing is processed.
func TestReceiverStandardFormatRefusesOtherBodies(t *testing.T) {
	key, rc, p := newFormatReceiver(t, FormatStandard)
	mismatch := typed(key, "evt_m", "refund.created", pcx.PayloadStandard, `{}`)
	mismatch.Header.Set(HeaderEventType, "transaction.updated")
	for name, r := range map[string]*http.Request{
		"a raw body":               typed(key, "evt_r", "refund.created", pcx.PayloadRaw, `{"id":"tx_1"}`),
		"a header of another type": mismatch,
	} {
		if w := serve(rc, r); w.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, w.Code, w.Body)
		}
	}
	if got := p.ids(); len(got) != 0 {
		t.Fatalf("processed %v, want nothing", got)
	}
	// Once it is the envelope, the same event is taken (the refusal did not mark it seen).
	if w := serve(rc, typed(key, "evt_r", "refund.created", pcx.PayloadStandard, `{"id":"tx_1"}`)); w.Code != http.StatusOK {
		t.Fatalf("the retry in the standard format: %d %s", w.Code, w.Body)
	}
}

// A delivery without PCX-Event-Type (from a PCX before event types) is transaction.updated.
func TestReceiverWithoutEventTypeHeader(t *testing.T) {
	key, rc, p := newTestReceiver(t)
	if w := serve(rc, delivery([][]byte{key}, "evt_old", time.Now(), []byte(`{"id":"tx_1"}`))); w.Code != http.StatusOK {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if ev := p.events[0]; ev.Type != DefaultEventType {
		t.Fatalf("type %q, want %s", ev.Type, DefaultEventType)
	}
}

func TestParsePayloadFormat(t *testing.T) {
	for _, ok := range []string{"raw", "standard", "auto"} {
		if f, err := ParsePayloadFormat(ok); err != nil || string(f) != ok {
			t.Errorf("%q: %q %v", ok, f, err)
		}
	}
	for _, bad := range []string{"", "Raw", "json"} {
		if _, err := ParsePayloadFormat(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := NewReceiver(signing.FormatSecret(signing.NewSecret()), "xml", time.Hour, func(Event) error { return nil }); err == nil {
		t.Error("NewReceiver took the format xml")
	}
}

// The receiver dispatches on the event type: a transaction update is printed, the operational
// events and unknown types are logged and acknowledged.
func TestHandlerDispatchesOnEventType(t *testing.T) {
	var out, logs bytes.Buffer
	key := signing.NewSecret()
	rc, err := NewReceiver(signing.FormatSecret(key), FormatAuto, time.Hour, NewHandler(&out, &logs).Handle)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id, eventType, data string
		format              pcx.PayloadFormat
		logged              string // "": printed on out instead
	}{
		{"evt_tx", "transaction.updated", `{"id":"tx_1","amount":"12.50"}`, pcx.PayloadRaw, ""},
		{"evt_txs", "transaction.updated", `{"id":"tx_2"}`, pcx.PayloadStandard, ""},
		{"evt_test", "pcx.test", `{"type":"pcx.test","webhook_id":"wh_1","sent_at":"2030-01-02T15:04:05.000Z"}`, pcx.PayloadRaw, "test event received"},
		{"evt_dis", "pcx.endpoint.disabled", `{"webhook_id":"wh_1","endpoint_url":"https://hooks.example.com/pcx","reason":"failing","disabled_at":"2030-01-02T15:04:05.000Z"}`,
			pcx.PayloadStandard, `endpoint wh_1 (https://hooks.example.com/pcx) was disabled at 2030-01-02T15:04:05.000Z, reason "failing"`},
		{"evt_exh", "pcx.delivery.exhausted", `{"event_id":"evt_x","event_type":"refund.created","webhook_id":"wh_1","attempts":10,"last_status_code":503,"last_error":"http_status"}`,
			pcx.PayloadRaw, `event evt_x (refund.created) was not delivered to wh_1 after 10 attempts (last error "http_status")`},
		{"evt_unk", "refund.created", `{"id":"rf_1"}`, pcx.PayloadRaw, `event type "refund.created" is not handled here`},
	} {
		out.Reset()
		logs.Reset()
		if w := serve(rc, typed(key, tt.id, tt.eventType, tt.format, tt.data)); w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s, want 200", tt.eventType, w.Code, w.Body)
		}
		if tt.logged == "" {
			var line struct {
				WebhookID       string          `json:"webhook_id"`
				EventType       string          `json:"event_type"`
				TransactionData json.RawMessage `json:"transaction_data"`
			}
			if err := json.Unmarshal(out.Bytes(), &line); err != nil || line.WebhookID != tt.id || line.EventType != tt.eventType || string(line.TransactionData) != tt.data {
				t.Errorf("%s %s: printed %q (%v), want the event's line", tt.eventType, tt.format, out.String(), err)
			}
			continue
		}
		if out.Len() != 0 || !strings.Contains(logs.String(), tt.id+": "+tt.logged) {
			t.Errorf("%s: printed %q, logged %q; want %q logged", tt.eventType, out.String(), logs.String(), tt.logged)
		}
	}

	// Operational data it cannot read is a failed processing: 500, so PCX retries.
	if w := serve(rc, typed(key, "evt_bad", "pcx.endpoint.disabled", pcx.PayloadRaw, `{"webhook_id":1}`)); w.Code != http.StatusInternalServerError {
		t.Fatalf("unreadable pcx.endpoint.disabled: %d %s, want 500", w.Code, w.Body)
	}
}
