package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
)

// The operational event types PCX emits itself. An endpoint receives them only when its
// event_types names them (or pcx.*).
const (
	EventTest              = "pcx.test"
	EventEndpointDisabled  = "pcx.endpoint.disabled"
	EventDeliveryExhausted = "pcx.delivery.exhausted"
)

// endpointDisabled is the data of pcx.endpoint.disabled.
type endpointDisabled struct {
	WebhookID   string `json:"webhook_id"`
	EndpointURL string `json:"endpoint_url"`
	Reason      string `json:"reason"` // "gone" (it answered 410) or "failing"
	DisabledAt  string `json:"disabled_at"`
}

// deliveryExhausted is the data of pcx.delivery.exhausted.
type deliveryExhausted struct {
	EventID        string `json:"event_id"`
	EventType      string `json:"event_type"`
	WebhookID      string `json:"webhook_id"`
	Attempts       int    `json:"attempts"`
	LastStatusCode *int   `json:"last_status_code"`
	LastError      string `json:"last_error"`
}

// Handler is the application's work, one case per event type: it prints transaction updates as
// JSON lines on out and logs the operational events. Replace the cases with your own work; keep
// it short, or queue it: PCX waits WEBHOOK_TIMEOUT (15s by default) for the answer before it
// counts the attempt as failed and retries.
type Handler struct {
	out *json.Encoder
	log *log.Logger
}

// NewHandler returns a Handler printing to out and logging to logw.
func NewHandler(out, logw io.Writer) *Handler {
	return &Handler{out: json.NewEncoder(out), log: log.New(logw, "receiver: ", 0)}
}

// Handle processes one verified event. An error makes the receiver answer 500, so PCX retries;
// an event of a type this receiver does not know is acknowledged without being processed,
// because retrying it would not make it known.
func (h *Handler) Handle(ev Event) error {
	switch ev.Type {
	case DefaultEventType:
		return h.out.Encode(map[string]any{"webhook_id": ev.ID, "event_type": ev.Type, "transaction_data": ev.Data})
	case EventTest:
		h.log.Printf("%s: test event received; the endpoint works", ev.ID)
		return nil
	case EventEndpointDisabled:
		var d endpointDisabled
		if err := decode(ev, &d); err != nil {
			return err
		}
		h.log.Printf("%s: endpoint %s (%s) was disabled at %s, reason %q; PATCH it with {\"status\":\"active\"} to re-enable it",
			ev.ID, d.WebhookID, d.EndpointURL, d.DisabledAt, d.Reason)
		return nil
	case EventDeliveryExhausted:
		var d deliveryExhausted
		if err := decode(ev, &d); err != nil {
			return err
		}
		h.log.Printf("%s: event %s (%s) was not delivered to %s after %d attempts (last error %q)",
			ev.ID, d.EventID, d.EventType, d.WebhookID, d.Attempts, d.LastError)
		return nil
	default:
		h.log.Printf("%s: event type %q is not handled here; acknowledged without processing", ev.ID, ev.Type)
		return nil
	}
}

// decode reads an operational event's data.
func decode(ev Event, v any) error {
	if err := json.Unmarshal(ev.Data, v); err != nil {
		return fmt.Errorf("%s %s: %w", ev.Type, ev.ID, err)
	}
	return nil
}
