package store_test

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

// TestEventTypesRoundTrip: an endpoint's subscription and payload format, and an event's type,
// are stored and read back; a PATCH to an empty subscription removes it.
func TestEventTypesRoundTrip(t *testing.T) {
	t.Parallel()
	s, tb := newTableStore(t)
	ctx := testenv.Context(t, time.Minute)
	w := newHook(t, "org-a", time.Now())
	w.EventTypes, w.PayloadFormat = []string{"refund.*", "pcx.test"}, pcx.PayloadStandard
	if err := s.CreateWebhook(ctx, w, 10, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.Webhook(ctx, "org-a", w.ID)
	if err != nil || !slices.Equal(got.EventTypes, w.EventTypes) || got.PayloadFormat != pcx.PayloadStandard {
		t.Fatalf("Webhook = %+v, %v; want event_types %q, standard", got, err, w.EventTypes)
	}
	page, _, err := s.ActiveWebhooks(ctx, "org-a", 10, "")
	if err != nil || len(page) != 1 || !slices.Equal(page[0].EventTypes, w.EventTypes) || page[0].PayloadFormat != pcx.PayloadStandard {
		t.Fatalf("ActiveWebhooks = %+v, %v", page, err)
	}
	none, raw := []string{}, pcx.PayloadRaw
	got, err = s.UpdateWebhook(ctx, "org-a", w.ID, store.WebhookPatch{EventTypes: &none, PayloadFormat: &raw}, nil)
	if err != nil || got.EventTypes != nil || got.PayloadFormat != pcx.PayloadRaw {
		t.Fatalf("after clearing: %+v, %v", got, err)
	}
	if it := tb.item(t, ctx, "ORG#org-a#WH", w.ID); it["event_types"] != nil {
		t.Fatalf("an empty subscription is stored as %v; want the attribute removed", it["event_types"])
	}
	types := []string{"transaction.*"}
	if got, err = s.UpdateWebhook(ctx, "org-a", w.ID, store.WebhookPatch{EventTypes: &types}, nil); err != nil || !slices.Equal(got.EventTypes, types) {
		t.Fatalf("after subscribing: %+v, %v", got, err)
	}

	ev := newEvent("org-a", time.Now(), []byte(`{"a":1}`))
	ev.Type = "refund.created"
	if err := s.CreateEvent(ctx, ev, time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	for name, read := range map[string]func() (*pcx.Event, error){
		"Event":   func() (*pcx.Event, error) { return s.Event(ctx, ev.ID) },
		"EventOf": func() (*pcx.Event, error) { return s.EventOf(ctx, "org-a", ev.ID) },
	} {
		if got, err := read(); err != nil || got.Type != "refund.created" {
			t.Fatalf("%s = %+v, %v; want type refund.created", name, got, err)
		}
	}
}

// TestItemsWrittenBeforeEventTypesReadAsBefore: items in the shape written before event types
// existed (an endpoint without event_types and payload_format, an event without event_type) are
// read as an endpoint subscribed to every non-reserved type in the raw format and an event of
// the default type, by every read that returns them.
func TestItemsWrittenBeforeEventTypesReadAsBefore(t *testing.T) {
	t.Parallel()
	s, tb := newTableStore(t)
	ctx := testenv.Context(t, time.Minute)
	w := newHook(t, "org-a", time.Now())
	w.EventTypes, w.PayloadFormat = []string{"refund.*"}, pcx.PayloadStandard
	if err := s.CreateWebhook(ctx, w, 10, nil); err != nil {
		t.Fatal(err)
	}
	ev := newEvent("org-a", time.Now(), []byte(`{"a":1}`))
	ev.Type = "refund.created"
	if err := s.CreateEvent(ctx, ev, time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	// Rewrite both items without the new attributes: the shape of the code before.
	rewrite := func(pk, sk string, drop ...string) {
		it := tb.item(t, ctx, pk, sk)
		for _, name := range drop {
			if it[name] == nil {
				t.Fatalf("%s/%s has no %s to drop", pk, sk, name)
			}
			delete(it, name)
		}
		if _, err := tb.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &tb.name, Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	rewrite("ORG#org-a#WH", w.ID, "event_types", "payload_format")
	rewrite("EVT#"+ev.ID, "EVT", "event_type")
	if it := tb.item(t, ctx, "EVT#"+ev.ID, "EVT"); it["event_type"] != nil || it["payload"] == nil {
		t.Fatalf("rewritten event item %v", it)
	}

	old := func(what string, got *pcx.Webhook, err error) {
		t.Helper()
		if err != nil || got.EventTypes != nil || got.PayloadFormat != pcx.PayloadRaw {
			t.Fatalf("%s of an old endpoint = %+v, %v; want no event_types, raw", what, got, err)
		}
		if !pcx.NewTypeMatcher(pcx.DefaultEventType).Subscribed(got.EventTypes) || pcx.NewTypeMatcher(pcx.EventTest).Subscribed(got.EventTypes) {
			t.Fatalf("an old endpoint receives every type but the reserved ones")
		}
	}
	got, err := s.Webhook(ctx, "org-a", w.ID)
	old("Webhook", got, err)
	got, err = s.WebhookWithSecrets(ctx, "org-a", w.ID)
	old("WebhookWithSecrets", got, err)
	if got.Undeliverable != "" || len(got.Secrets) != 1 {
		t.Fatalf("an old endpoint is deliverable: %+v", got)
	}
	page, _, err := s.ActiveWebhooks(ctx, "org-a", 10, "")
	if len(page) != 1 {
		t.Fatalf("ActiveWebhooks = %d endpoints, %v", len(page), err)
	}
	old("ActiveWebhooks", page[0], err)
	list, _, err := s.ListWebhooks(ctx, "org-a", 10, "")
	if len(list) != 1 {
		t.Fatalf("ListWebhooks = %d endpoints, %v", len(list), err)
	}
	old("ListWebhooks", list[0], err)
	subs, err := s.ActiveSubscriptions(ctx, "org-a")
	if err != nil || len(subs) != 1 || subs[0] != nil {
		t.Fatalf("ActiveSubscriptions = %q, %v; want one endpoint without types", subs, err)
	}

	for name, read := range map[string]func() (*pcx.Event, error){
		"Event":   func() (*pcx.Event, error) { return s.Event(ctx, ev.ID) },
		"EventOf": func() (*pcx.Event, error) { return s.EventOf(ctx, "org-a", ev.ID) },
	} {
		got, err := read()
		if err != nil || got.Type != pcx.DefaultEventType {
			t.Fatalf("%s of an old event = %+v, %v; want type %s", name, got, err, pcx.DefaultEventType)
		}
	}
	// A patch of an old endpoint adds the new attributes without touching the rest.
	types := []string{"transaction.*"}
	got, err = s.UpdateWebhook(ctx, "org-a", w.ID, store.WebhookPatch{EventTypes: &types}, nil)
	if err != nil || !slices.Equal(got.EventTypes, types) || got.PayloadFormat != pcx.PayloadRaw || got.URL != w.URL {
		t.Fatalf("patched old endpoint = %+v, %v", got, err)
	}
}
