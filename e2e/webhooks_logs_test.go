package e2e

import (
	"bytes"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

type listedEventData struct {
	EventID       string `json:"event_id"`
	EventType     string `json:"event_type"`
	WorkflowID    string `json:"workflow_id"`
	CreatedAt     string `json:"created_at"`
	EndpointCount int    `json:"endpoint_count"`
}

// pages follows a list's cursors from url (which carries its query) and returns each page's IDs
// (id names an item).
func pages[T any](t *testing.T, url, key string, id func(T) string) [][]string {
	t.Helper()
	var out [][]string
	next := url
	for len(out) < 20 {
		r := call(t, "GET", next, key, nil)
		wantStatus(t, r, 200)
		var items []T
		var meta pageMeta
		r.decode(t, &items, &meta)
		ids := make([]string, len(items))
		for i, it := range items {
			ids[i] = id(it)
		}
		out = append(out, ids)
		if meta.LastEvaluatedKey == nil {
			return out
		}
		next = url + "&last_evaluated_key=" + *meta.LastEvaluatedKey
	}
	t.Fatalf("the list at %s did not end: %v", url, out)
	return nil
}

// The event log over HTTP: the organisation's events newest first, a page at a time, filtered by
// exact type and by a window; the event status shows the payload byte for byte; an endpoint's
// deliveries newest first, filtered by status, and only to its organisation; each attempt logs
// the start of the receiver's response body, cut at 4 KiB.
func TestEventLogEndToEnd(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "1s") // two attempts, then failed
	key := e.bootstrapKey("org-logs", "u")
	otherKey := e.bootstrapKey("org-logs-other", "u")
	register(t, api.base, key, rc.url("/ok"))

	var ids []string // oldest first
	var since time.Time
	for i := range 5 {
		if i == 2 {
			time.Sleep(5 * time.Millisecond)
			since = time.Now().Truncate(time.Millisecond) // events are stamped to the millisecond
		}
		typ := "refund.created"
		if i%2 == 1 {
			typ = "transaction.updated"
		}
		body := fmt.Sprintf(`{"org_id":"org-logs","event_type":%q,"transaction_data":{ "n" : %d, "note": "<&>" }}`, typ, i)
		r := call(t, "POST", api.base+"/public/webhooks/notify", key, body)
		wantStatus(t, r, 202)
		var a acceptedData
		r.decode(t, &a, nil)
		ids = append(ids, a.EventID)
		time.Sleep(5 * time.Millisecond) // a millisecond of its own: IDs order by it
	}
	notify(t, api.base, otherKey, "org-logs-other", `{"other":true}`)
	newest := func(idx ...int) []string {
		out := make([]string, len(idx))
		for i, n := range idx {
			out[i] = ids[n]
		}
		return out
	}
	events := api.base + "/public/webhooks/events?limit=2"
	id := func(ev listedEventData) string { return ev.EventID }
	// The list is eventually consistent (a global secondary index).
	eventually(t, 10*time.Second, "all five events listed", func() bool {
		return fmt.Sprint(pages(t, events, key, id)) == fmt.Sprint([][]string{newest(4, 3), newest(2, 1), newest(0)})
	})
	var first []listedEventData
	call(t, "GET", events, key, nil).decode(t, &first, nil)
	if ev := first[0]; ev.EventType != "refund.created" || ev.WorkflowID == "" || ev.EndpointCount != 1 || ev.CreatedAt == "" {
		t.Fatalf("newest event listed as %+v; want refund.created to 1 endpoint", ev)
	}
	for _, tc := range []struct {
		query string
		want  [][]string
	}{
		{"&event_type=refund.created", [][]string{newest(4, 2), newest(0)}},
		{"&event_type=transaction.updated", [][]string{newest(3, 1)}},
		{"&since=" + url.QueryEscape(since.UTC().Format(time.RFC3339Nano)), [][]string{newest(4, 3), newest(2)}},
		{"&since=" + url.QueryEscape(since.UTC().Format(time.RFC3339Nano)) + "&event_type=transaction.updated", [][]string{newest(3)}},
		{"&until=" + url.QueryEscape(since.UTC().Format(time.RFC3339Nano)), [][]string{newest(1, 0)}},
	} {
		if got := pages(t, events+tc.query, key, id); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("events%s: pages %v, want %v", tc.query, got, tc.want)
		}
	}
	if got := pages(t, events, otherKey, id); len(got) != 1 || len(got[0]) != 1 || slices.Contains(ids, got[0][0]) {
		t.Errorf("another organisation lists %v; want only its own event", got)
	}
	wantError(t, "until before since", call(t, "GET", events+"&since=2030-01-02T00:00:00Z&until=2030-01-01T00:00:00Z", key, nil), 400, "until")
	wantError(t, "a wildcard type", call(t, "GET", events+"&event_type=refund.*", key, nil), 400, "event_type")

	waitDeliveries(t, api.base, key, ids[0], 1, "delivered", 30*time.Second)
	st := call(t, "GET", api.base+"/public/webhooks/events/"+ids[0], key, nil)
	if want := []byte(`"transaction_data":{ "n" : 0, "note": "<&>" }`); !bytes.Contains(st.body, want) {
		t.Fatalf("event status %s; want it to contain %s", st, want)
	}

	// An endpoint's deliveries: one failed (500 twice), then one delivered.
	mixed := register(t, api.base, key, rc.url("/mixed"))
	rc.answer("/mixed", 500)
	rc.setBody("/mixed", []byte(strings.Repeat("é", 3000))) // 6000 bytes
	failed := notify(t, api.base, key, "org-logs", `{"n":"failed"}`)
	d := waitDelivery(t, api.base, key, failed.EventID, mixed.WebhookID, "failed", 2, 30*time.Second)
	for _, a := range d.AttemptLog {
		if a.ResponseBody != strings.Repeat("é", 2048) || !a.ResponseTruncated {
			t.Fatalf("attempt logged with a body of %d bytes, truncated %v; want the first 4 KiB, truncated", len(a.ResponseBody), a.ResponseTruncated)
		}
	}
	rc.answer("/mixed", 200)
	rc.setBody("/mixed", []byte(`{"ok":true}`))
	time.Sleep(5 * time.Millisecond)
	delivered := notify(t, api.base, key, "org-logs", `{"n":"delivered"}`)
	d = waitDelivery(t, api.base, key, delivered.EventID, mixed.WebhookID, "delivered", 1, 30*time.Second)
	if a := d.AttemptLog[0]; a.ResponseBody != `{"ok":true}` || a.ResponseTruncated {
		t.Fatalf("delivered attempt logged with body %q, truncated %v; want it whole", a.ResponseBody, a.ResponseTruncated)
	}
	deliveries := api.base + "/public/webhooks/" + mixed.WebhookID + "/deliveries?limit=1"
	eventID := func(d listedDeliveryData) string { return d.EventID }
	eventually(t, 10*time.Second, "both deliveries listed", func() bool {
		return fmt.Sprint(pages(t, deliveries, key, eventID)) == fmt.Sprint([][]string{{delivered.EventID}, {failed.EventID}})
	})
	for status, want := range map[string][][]string{"failed": {{failed.EventID}}, "delivered": {{delivered.EventID}}, "pending": {{}}} {
		if got := pages(t, deliveries+"&status="+status, key, eventID); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("deliveries of status %s: %v, want %v", status, got, want)
		}
	}
	var listed []listedDeliveryData
	call(t, "GET", deliveries+"&status=failed", key, nil).decode(t, &listed, nil)
	if d := listed[0]; d.EventType != "transaction.updated" || d.Attempts != 2 || deref(d.LastStatusCode) != 500 || deref(d.LastError) != "http_status" ||
		d.LastAttemptAt == nil || d.DeliveredAt != nil || d.CreatedAt == "" {
		t.Errorf("failed delivery listed as %+v", d)
	}
	wantError(t, "another organisation's endpoint", call(t, "GET", deliveries, otherKey, nil), 404, "")
	wantError(t, "an unknown status", call(t, "GET", deliveries+"&status=done", key, nil), 400, "status")
}

type listedDeliveryData struct {
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	deliveryState
	CreatedAt string `json:"created_at"`
}
