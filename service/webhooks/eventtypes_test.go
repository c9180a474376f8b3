package webhooks

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pcx/publicservice/internal/ratelimit"
	"github.com/pcx/publicservice/pcx"
)

// fields returns the per-field problems of a validation error.
func fields(err error) map[string]string {
	var e *pcx.Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

func TestNotifyEventType(t *testing.T) {
	s, st, sr := newService()
	ctx := opCtx
	for _, bad := range []string{"Transaction.updated", "transaction", "a", "pcx.test", "pcx.endpoint.disabled", "transaction.*", strings.Repeat("a", 101) + ".b"} {
		_, err := s.Notify(ctx, NotifyInput{OrgID: "org", Payload: []byte(`{}`), EventType: bad})
		if code(err) != pcx.EInvalid || fields(err)["event_type"] == "" {
			t.Errorf("event_type %q = %v; want a 400 naming event_type", bad, err)
		}
	}
	if len(st.events) != 0 || len(sr.started) != 0 {
		t.Fatalf("bad types stored %d events and started %d workflows", len(st.events), len(sr.started))
	}
	acc, err := s.Notify(ctx, NotifyInput{OrgID: "org", Payload: []byte(`{}`), EventType: "refund.created"})
	if err != nil {
		t.Fatal(err)
	}
	if ev := st.events[acc.EventID]; ev.Type != "refund.created" {
		t.Fatalf("stored type %q", ev.Type)
	}
	if in := sr.started[acc.WorkflowID]; in.EventType != "refund.created" {
		t.Fatalf("workflow input %+v: the type is a search attribute", in)
	}
	acc, err = s.Notify(ctx, NotifyInput{OrgID: "org", Payload: []byte(`{}`)})
	if err != nil || st.events[acc.EventID].Type != pcx.DefaultEventType {
		t.Fatalf("no type = %+v, %v; want %s", st.events[acc.EventID], err, pcx.DefaultEventType)
	}
}

// TestEndpointCountCountsSubscribedEndpoints: endpoint_count is the number of active endpoints
// that will receive the event's type.
func TestEndpointCountCountsSubscribedEndpoints(t *testing.T) {
	s, st, _ := newService()
	st.active = 5
	st.subs = [][]string{{"refund.*"}, {"pcx.test"}, {"transaction.updated", "pcx.*"}} // and two of every type
	ctx := opCtx
	for eventType, want := range map[string]int{"transaction.updated": 3, "refund.created": 3, "payout.paid": 2} {
		acc, err := s.Notify(ctx, NotifyInput{OrgID: "org", Payload: []byte(`{}`), EventType: eventType})
		if err != nil || acc.EndpointCount != want {
			t.Errorf("%s: endpoint_count %d, %v; want %d", eventType, acc.EndpointCount, err, want)
		}
	}
	acc, err := s.Emit(ctx, "org", pcx.EventTest, []byte(`{"webhook_id":"wh_1"}`))
	if err != nil || acc.EndpointCount != 2 {
		t.Fatalf("pcx.test: endpoint_count %d, %v; want the 2 that name it", acc.EndpointCount, err)
	}
	if st.counts != 1 {
		t.Fatalf("read the subscriptions %d times for 4 events within a second; want once", st.counts)
	}
}

func TestEmitTakesOnlyOperationalTypes(t *testing.T) {
	s, st, sr := newService()
	ctx := opCtx
	for _, bad := range []string{"transaction.updated", "pcx.", "pcx.*", "pcx.Test"} {
		if _, err := s.Emit(ctx, "org", bad, []byte(`{}`)); code(err) != pcx.EInternal {
			t.Errorf("Emit(%q) = %v; want an internal error", bad, err)
		}
	}
	if _, err := s.Emit(ctx, "org", pcx.EventEndpointDisabled, []byte(`[]`)); code(err) != pcx.EInvalid {
		t.Errorf("Emit of a non-object = %v", err)
	}
	if len(st.events) != 0 {
		t.Fatalf("refused emits stored %d events", len(st.events))
	}
	// No endpoint names the type: nothing is stored or started.
	acc, err := s.Emit(ctx, "org", pcx.EventEndpointDisabled, []byte(`{"webhook_id":"wh_1","reason":"gone"}`))
	if err != nil || acc.EndpointCount != 0 || acc.EventID != "" || len(st.events) != 0 || len(sr.started) != 0 {
		t.Fatalf("emit without a subscriber = %+v, %v; stored %d, started %d; want nothing", acc, err, len(st.events), len(sr.started))
	}
	st.subs = [][]string{{"pcx.endpoint.*"}}
	s.counts.forget("org")
	acc, err = s.Emit(ctx, "org", pcx.EventEndpointDisabled, []byte(`{"webhook_id":"wh_1","reason":"gone"}`))
	if err != nil || acc.EndpointCount != 1 {
		t.Fatalf("emit to a subscriber = %+v, %v", acc, err)
	}
	ev := st.events[acc.EventID]
	if ev.Type != pcx.EventEndpointDisabled || ev.Source != pcx.SourceService || sr.started[acc.WorkflowID].EventType != pcx.EventEndpointDisabled {
		t.Fatalf("emitted %+v", ev)
	}
}

// TestIdempotencyKeyCoversTheType: a repeat with another type is a conflict, and the hash of a
// default-type request is the one written before types existed, so a claim made by the code
// before still matches its repeat.
func TestIdempotencyKeyCoversTheType(t *testing.T) {
	s, st, _ := newService()
	ctx := opCtx
	in := NotifyInput{OrgID: "org", Payload: []byte(`{"a":1}`), Source: "notify", IdempotencyKey: "k-1"}
	first, err := s.Notify(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	before := sha256.Sum256(append([]byte("notify\x00"), in.Payload...))
	var rec *pcx.Idempotency
	for _, r := range st.idem {
		rec = r
	}
	if rec == nil || !slices.Equal(rec.BodyHash, before[:]) {
		t.Fatalf("the default type's body hash changed: %x, want %x", rec.BodyHash, before)
	}
	same := in
	same.EventType = pcx.DefaultEventType
	if again, err := s.Notify(ctx, same); err != nil || again != first {
		t.Fatalf("repeat naming the default type = %+v, %v; want the first reply", again, err)
	}
	other := in
	other.EventType = "refund.created"
	if _, err := s.Notify(ctx, other); code(err) != pcx.EConflict {
		t.Fatalf("same key, other type = %v; want a conflict", err)
	}
}

func TestEndpointSubscriptionValidates(t *testing.T) {
	s, st, _ := newService()
	ctx := opCtx
	many := make([]string, pcx.MaxEventTypes+1)
	for i := range many {
		many[i] = fmt.Sprintf("t%d.x", i)
	}
	for _, tc := range []struct {
		in    NewEndpoint
		field string
	}{
		{NewEndpoint{URL: "https://x", EventTypes: many}, "event_types"},
		{NewEndpoint{URL: "https://x", EventTypes: []string{"a.b", "a.b"}}, "event_types"},
		{NewEndpoint{URL: "https://x", EventTypes: []string{"transaction*"}}, "event_types"},
		{NewEndpoint{URL: "https://x", EventTypes: []string{"*"}}, "event_types"},
		{NewEndpoint{URL: "https://x", PayloadFormat: "xml"}, "payload_format"},
	} {
		_, err := s.CreateEndpoint(ctx, "org", tc.in)
		if code(err) != pcx.EInvalid || fields(err)[tc.field] == "" {
			t.Errorf("CreateEndpoint(%+v) = %v; want a 400 naming %s", tc.in, err, tc.field)
		}
	}
	if len(st.hooks) != 0 {
		t.Fatalf("refused endpoints stored: %d", len(st.hooks))
	}
	w, err := s.CreateEndpoint(ctx, "org", NewEndpoint{URL: "https://x", EventTypes: many[:pcx.MaxEventTypes], PayloadFormat: "standard"})
	if err != nil || len(w.EventTypes) != pcx.MaxEventTypes || w.PayloadFormat != pcx.PayloadStandard {
		t.Fatalf("CreateEndpoint with 50 types = %+v, %v", w, err)
	}
	if w, err = s.CreateEndpoint(ctx, "org", NewEndpoint{URL: "https://y"}); err != nil || w.PayloadFormat != pcx.PayloadRaw || w.EventTypes != nil {
		t.Fatalf("defaults = %+v, %v; want raw and every type", w, err)
	}
	bad, xml := []string{"Bad"}, "xml"
	for _, p := range []Patch{{EventTypes: &bad}, {PayloadFormat: &xml}} {
		if _, err := s.UpdateEndpoint(ctx, "org", w.ID, p); code(err) != pcx.EInvalid {
			t.Errorf("UpdateEndpoint(%+v) = %v; want EInvalid", p, err)
		}
	}
	none := []string{}
	if _, err := s.UpdateEndpoint(ctx, "org", w.ID, Patch{EventTypes: &none}); err != nil {
		t.Fatalf("clearing event_types: %v", err)
	}
}

// TestSendTest: one pcx.test event to the named endpoint only, whatever its subscription; a
// disabled endpoint is a conflict, another organisation's not found, and a test counts against
// the notify budget.
func TestSendTest(t *testing.T) {
	s, st, sr := newService()
	ctx := opCtx
	w, err := s.CreateEndpoint(ctx, "org", NewEndpoint{URL: "https://x/hook", EventTypes: []string{"refund.*"}})
	if err != nil {
		t.Fatal(err)
	}
	acc, err := s.SendTest(ctx, "org", w.ID)
	if err != nil {
		t.Fatal(err)
	}
	ev := st.events[acc.EventID]
	var body struct {
		Type      string `json:"type"`
		WebhookID string `json:"webhook_id"`
		SentAt    string `json:"sent_at"`
	}
	if err := json.Unmarshal(ev.Payload, &body); err != nil {
		t.Fatal(err)
	}
	if ev.Type != pcx.EventTest || ev.Source != pcx.SourceService || body.Type != pcx.EventTest || body.WebhookID != w.ID || body.SentAt == "" {
		t.Fatalf("test event %+v, body %s", ev, ev.Payload)
	}
	if in := sr.started[acc.WorkflowID]; !slices.Equal(in.WebhookIDs, []string{w.ID}) || in.EventType != pcx.EventTest || acc.EndpointCount != 1 {
		t.Fatalf("workflow input %+v, endpoint_count %d; want this endpoint only", in, acc.EndpointCount)
	}
	if _, err := s.SendTest(ctx, "org-2", w.ID); code(err) != pcx.ENotFound {
		t.Fatalf("another organisation's endpoint = %v; want not found", err)
	}
	disabled := pcx.WebhookDisabled
	if _, err := s.UpdateEndpoint(ctx, "org", w.ID, Patch{Status: &disabled}); err != nil {
		t.Fatal(err)
	}
	st.hooks["org/"+w.ID].Status = pcx.WebhookDisabled // the fake's update keeps nothing
	if _, err := s.SendTest(ctx, "org", w.ID); code(err) != pcx.EConflict {
		t.Fatalf("a disabled endpoint = %v; want a conflict", err)
	}
	st.hooks["org/"+w.ID].Status = pcx.WebhookActive
	s.NotifyLimit = ratelimit.New(1, 1)
	_, first := s.SendTest(ctx, "org", w.ID)
	if _, err := s.SendTest(ctx, "org", w.ID); first != nil || code(err) != pcx.ERateLimited {
		t.Fatalf("tests past the notify budget = %v, %v; want the second limited", first, err)
	}
}
