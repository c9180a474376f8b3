package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

const retention = 30 * 24 * time.Hour

func newEvent(org string, created time.Time, payload []byte) *pcx.Event {
	created = created.UTC().Truncate(time.Millisecond)
	id := pcx.NewID("evt", created)
	return &pcx.Event{ID: id, OrgID: org, WorkflowID: "event-" + id, Source: "notify", CreatedAt: created, Payload: payload}
}

// eventDiff describes how got differs from want, "" if it does not; the payload is compared only
// when withPayload.
func eventDiff(got, want *pcx.Event, withPayload bool) string {
	if got.ID != want.ID || got.OrgID != want.OrgID || got.WorkflowID != want.WorkflowID ||
		got.Source != want.Source || !got.CreatedAt.Equal(want.CreatedAt) {
		return fmt.Sprintf("got {id %s org %s workflow %s source %s created %v}, want {id %s org %s workflow %s source %s created %v}",
			got.ID, got.OrgID, got.WorkflowID, got.Source, got.CreatedAt, want.ID, want.OrgID, want.WorkflowID, want.Source, want.CreatedAt)
	}
	if withPayload && !bytes.Equal(got.Payload, want.Payload) {
		return fmt.Sprintf("payload of %d bytes (%.40q...) differs from the %d bytes stored (%.40q...)",
			len(got.Payload), got.Payload, len(want.Payload), want.Payload)
	}
	return ""
}

// targets returns n endpoints of org-a, in ID order, without storing them: deliveries only need
// their ID and URL.
func targets(n int, base time.Time) []*pcx.Webhook {
	out := make([]*pcx.Webhook, n)
	for i := range out {
		id := pcx.NewID("wh", base.Add(time.Duration(i)*time.Millisecond))
		out[i] = &pcx.Webhook{ID: id, OrgID: "org-a", URL: "https://hooks.example.com/" + id, Status: pcx.WebhookActive}
	}
	return out
}

// allDeliveries lists every delivery of an event, page by page.
func allDeliveries(t *testing.T, ctx context.Context, s *store.Store, eventID string) []*pcx.Delivery {
	t.Helper()
	var all []*pcx.Delivery
	after := ""
	for range 100 {
		page, next, err := s.ListDeliveries(ctx, eventID, 40, after)
		if err != nil {
			t.Fatalf("ListDeliveries: %v", err)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		after = next
	}
	t.Fatal("ListDeliveries: no last page after 100 pages")
	return nil
}

// delivery returns one delivery of an event, failing the test if it has none.
func delivery(t *testing.T, ctx context.Context, s *store.Store, eventID, webhookID string) *pcx.Delivery {
	t.Helper()
	for _, d := range allDeliveries(t, ctx, s, eventID) {
		if d.WebhookID == webhookID {
			return d
		}
	}
	t.Fatalf("event %s has no delivery to %s", eventID, webhookID)
	return nil
}

func attemptsString(log []pcx.Attempt) string {
	parts := make([]string, len(log))
	for i, a := range log {
		parts[i] = fmt.Sprintf("{%s %d %q %s}", a.At.UTC().Format(time.RFC3339Nano), a.StatusCode, a.ErrorClass, a.Duration)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func timeString(t *time.Time) string {
	if t == nil {
		return "nil"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func TestEventRoundTrip(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	large := make([]byte, 256<<10)
	if _, err := rand.Read(large); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		payload []byte
	}{
		{"small JSON", []byte(`{"amount":"12.30","currency":"EUR"}`)},
		{"JSON as sent, spacing and all", []byte("{ \"name\" : \"Zoë 🚀\",\n\t\"n\": 1e3 ,\"z\":null}  ")},
		{"every byte value", allBytes},
		{"256 KiB", large},
	} {
		ev := newEvent("org-a", time.Now(), tc.payload)
		if err := s.CreateEvent(ctx, ev, retention, nil); err != nil {
			t.Fatalf("%s: CreateEvent: %v", tc.name, err)
		}
		got, err := s.Event(ctx, ev.ID)
		if err != nil {
			t.Fatalf("%s: Event: %v", tc.name, err)
		}
		if d := eventDiff(got, ev, true); d != "" {
			t.Fatalf("%s: Event: %s", tc.name, d)
		}
		got, err = s.EventOf(ctx, "org-a", ev.ID)
		if err != nil {
			t.Fatalf("%s: EventOf the owner: %v", tc.name, err)
		}
		if d := eventDiff(got, ev, false); d != "" {
			t.Fatalf("%s: EventOf: %s", tc.name, d)
		}
		if len(got.Payload) != 0 {
			t.Fatalf("%s: EventOf returned a payload of %d bytes, want none", tc.name, len(got.Payload))
		}
		_, err = s.EventOf(ctx, "org-b", ev.ID)
		wantCode(t, err, pcx.ENotFound)
		got, err = s.EventWithPayloadOf(ctx, "org-a", ev.ID)
		if err != nil {
			t.Fatalf("%s: EventWithPayloadOf the owner: %v", tc.name, err)
		}
		if d := eventDiff(got, ev, true); d != "" {
			t.Fatalf("%s: EventWithPayloadOf: %s", tc.name, d)
		}
		_, err = s.EventWithPayloadOf(ctx, "org-b", ev.ID)
		wantCode(t, err, pcx.ENotFound)
	}
	_, err := s.Event(ctx, "evt_missing")
	wantCode(t, err, pcx.ENotFound)
	_, err = s.EventOf(ctx, "org-a", "evt_missing")
	wantCode(t, err, pcx.ENotFound)
}

func TestCreateEventKeepsTheFirst(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	first := newEvent("org-a", time.Now(), []byte(`{"n":1}`))
	if err := s.CreateEvent(ctx, first, retention, nil); err != nil {
		t.Fatal(err)
	}
	again := &pcx.Event{ID: first.ID, OrgID: "org-b", WorkflowID: "other", Source: "transaction-update",
		CreatedAt: first.CreatedAt.Add(time.Hour), Payload: []byte(`{"n":2}`)}
	if err := s.CreateEvent(ctx, again, retention, nil); err != nil {
		t.Fatalf("CreateEvent with an existing ID = %v, want nil (an idempotent retry)", err)
	}
	got, err := s.Event(ctx, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := eventDiff(got, first, true); d != "" {
		t.Fatalf("after a second create: %s", d)
	}
	_, err = s.EventOf(ctx, "org-b", first.ID)
	wantCode(t, err, pcx.ENotFound)
}

// firstAttempts returns a first-attempt record for each target, cycling through the outcomes a
// batch has: delivered, pending (a 5xx to retry), failed (410 Gone), cancelled before sending.
func firstAttempts(ts []*pcx.Webhook, at time.Time) []pcx.Delivery {
	recs := make([]pcx.Delivery, len(ts))
	for i, w := range ts {
		a := &pcx.Attempt{At: at.Add(time.Duration(i) * time.Millisecond), Duration: time.Duration(i+1) * time.Millisecond}
		switch i % 4 {
		case 0:
			a.StatusCode = 200
			recs[i] = pcx.Delivery{WebhookID: w.ID, EndpointURL: w.URL, Status: pcx.DeliveryDelivered, Attempt: a}
		case 1:
			a.StatusCode, a.ErrorClass = 503, "http_status"
			recs[i] = pcx.Delivery{WebhookID: w.ID, EndpointURL: w.URL, Status: pcx.DeliveryPending, Attempt: a}
		case 2:
			a.StatusCode, a.ErrorClass = 410, "gone"
			recs[i] = pcx.Delivery{WebhookID: w.ID, EndpointURL: w.URL, Status: pcx.DeliveryFailed, Attempt: a}
		case 3:
			recs[i] = pcx.Delivery{WebhookID: w.ID, EndpointURL: w.URL, Status: pcx.DeliveryCancelled, Reason: "endpoint disabled"}
		}
	}
	return recs
}

// attempted is the record of attempt a to w, which left the delivery at status.
func attempted(w *pcx.Webhook, status pcx.DeliveryStatus, a pcx.Attempt) pcx.Delivery {
	return pcx.Delivery{WebhookID: w.ID, EndpointURL: w.URL, Status: status, Attempt: &a}
}

// wantDelivery is what a delivery record should say.
type wantDelivery struct {
	url       string
	status    pcx.DeliveryStatus
	attempts  int
	code      int
	lastError string
	last      *time.Time
	delivered *time.Time
	log       []pcx.Attempt
}

// afterFirst is the record a first attempt alone leaves.
func afterFirst(r pcx.Delivery) wantDelivery {
	if r.Attempt == nil {
		return wantDelivery{url: r.EndpointURL, status: r.Status, lastError: r.Reason}
	}
	a := *r.Attempt
	w := wantDelivery{url: r.EndpointURL, status: r.Status, attempts: 1, code: a.StatusCode, lastError: a.ErrorClass, last: &a.At, log: []pcx.Attempt{a}}
	if a.ErrorClass == "" {
		w.delivered = &a.At
	}
	return w
}

// deliveryDiff describes how d differs from want, "" if it does not.
func deliveryDiff(d *pcx.Delivery, want wantDelivery) string {
	if d.EndpointURL != want.url || d.Status != want.status || d.Attempts != want.attempts || d.LastStatusCode != want.code ||
		d.LastError != want.lastError || timeString(d.LastAttemptAt) != timeString(want.last) ||
		timeString(d.DeliveredAt) != timeString(want.delivered) || attemptsString(d.Log) != attemptsString(want.log) {
		return fmt.Sprintf("{url %q status %s attempts %d code %d error %q last %s delivered %s log %s}, "+
			"want {url %q status %s attempts %d code %d error %q last %s delivered %s log %s}",
			d.EndpointURL, d.Status, d.Attempts, d.LastStatusCode, d.LastError, timeString(d.LastAttemptAt), timeString(d.DeliveredAt), attemptsString(d.Log),
			want.url, want.status, want.attempts, want.code, want.lastError, timeString(want.last), timeString(want.delivered), attemptsString(want.log))
	}
	return ""
}

func TestRecordFirstAttempts(t *testing.T) {
	t.Parallel()
	// Batched writes go 25 at a time: 25 is one full batch, 26 and 120 take several.
	for _, n := range []int{0, 1, 25, 26, 120} {
		t.Run(fmt.Sprintf("%d records", n), func(t *testing.T) {
			t.Parallel()
			s, tb := newTableStore(t)
			ctx := testenv.Context(t, time.Minute)
			ev := newEvent("org-a", time.Now(), []byte(`{}`))
			if err := s.CreateEvent(ctx, ev, retention, nil); err != nil {
				t.Fatal(err)
			}
			expires := ev.CreatedAt.Add(retention)
			ts := targets(n, ev.CreatedAt)
			recs := firstAttempts(ts, ev.CreatedAt.Add(time.Second))
			// In another order than the IDs': a batch lists its endpoints as its page did.
			slices.Reverse(recs)

			if err := s.RecordFirstAttempts(ctx, ev, recs, expires); err != nil {
				t.Fatalf("RecordFirstAttempts: %v", err)
			}

			got := allDeliveries(t, ctx, s, ev.ID)
			if len(got) != n {
				t.Fatalf("%d deliveries, want %d", len(got), n)
			}
			byID := map[string]pcx.Delivery{}
			for _, r := range recs {
				byID[r.WebhookID] = r
			}
			for i, d := range got {
				if d.WebhookID != ts[i].ID || d.EventID != ev.ID {
					t.Fatalf("delivery %d is of webhook %s event %s, want %s %s", i, d.WebhookID, d.EventID, ts[i].ID, ev.ID)
				}
				if diff := deliveryDiff(d, afterFirst(byID[d.WebhookID])); diff != "" {
					t.Fatalf("delivery %d (%s): %s", i, byID[d.WebhookID].Status, diff)
				}
				if ttl := ttlOf(t, tb.item(t, ctx, "EVT#"+ev.ID, "DLV#"+d.WebhookID)); ttl != unix(expires) {
					t.Fatalf("delivery %d ttl = %s, want %s", i, ttl, unix(expires))
				}
			}
		})
	}
}

func TestRecordFirstAttemptsAddsToExistingRecords(t *testing.T) {
	t.Parallel()
	s, tb := newTableStore(t)
	ctx := testenv.Context(t, time.Minute)
	ev := newEvent("org-a", time.Now(), []byte(`{}`))
	other := newEvent("org-a", time.Now(), []byte(`{}`))
	expires := ev.CreatedAt.Add(retention)
	ts := targets(6, ev.CreatedAt)
	t0 := ev.CreatedAt

	// Before the batch: ts[1] and ts[3] have an attempt of an earlier workflow of the event (a
	// replay, a reset), ts[5] was cancelled; ts[0] has a delivery of another event only.
	earlier := map[string]pcx.Attempt{
		ts[1].ID: {At: t0.Add(time.Second), StatusCode: 503, ErrorClass: "http_status", Duration: 40 * time.Millisecond},
		ts[3].ID: {At: t0.Add(2 * time.Second), ErrorClass: "timeout", Duration: 10 * time.Second},
	}
	for _, w := range []*pcx.Webhook{ts[1], ts[3]} {
		if err := s.RecordDelivery(ctx, ev, attempted(w, pcx.DeliveryPending, earlier[w.ID]), expires); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordDelivery(ctx, ev, pcx.Delivery{WebhookID: ts[5].ID, Status: pcx.DeliveryCancelled, Reason: "endpoint deleted"}, expires); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordDelivery(ctx, other, attempted(ts[0], pcx.DeliveryFailed, pcx.Attempt{At: t0, StatusCode: 500, ErrorClass: "http_status"}), expires); err != nil {
		t.Fatal(err)
	}

	at := t0.Add(time.Minute)
	ok := &pcx.Attempt{At: at, StatusCode: 204, Duration: 12 * time.Millisecond}
	fail := &pcx.Attempt{At: at.Add(time.Millisecond), StatusCode: 500, ErrorClass: "http_status", Duration: 30 * time.Millisecond}
	later := expires.Add(time.Hour)
	recs := []pcx.Delivery{
		{WebhookID: ts[3].ID, EndpointURL: ts[3].URL, Status: pcx.DeliveryCancelled, Reason: "endpoint disabled"}, // existing, cancelled
		{WebhookID: ts[0].ID, EndpointURL: ts[0].URL, Status: pcx.DeliveryDelivered, Attempt: ok},                 // new
		{WebhookID: ts[1].ID, EndpointURL: ts[1].URL, Status: pcx.DeliveryDelivered, Attempt: ok},                 // existing, delivered now
		{WebhookID: ts[4].ID, EndpointURL: ts[4].URL, Status: pcx.DeliveryCancelled, Reason: "endpoint deleted"},  // new, cancelled
		{WebhookID: ts[2].ID, EndpointURL: ts[2].URL, Status: pcx.DeliveryPending, Attempt: fail},                 // new
		{WebhookID: ts[5].ID, EndpointURL: ts[5].URL, Status: pcx.DeliveryPending, Attempt: fail},                 // existing without an attempt
	}
	if err := s.RecordFirstAttempts(ctx, ev, recs, later); err != nil {
		t.Fatalf("RecordFirstAttempts: %v", err)
	}

	want := []wantDelivery{
		afterFirst(recs[1]),
		{url: ts[1].URL, status: pcx.DeliveryDelivered, attempts: 2, code: 204, last: &ok.At, delivered: &ok.At,
			log: []pcx.Attempt{earlier[ts[1].ID], *ok}},
		afterFirst(recs[4]),
		{url: ts[3].URL, status: pcx.DeliveryCancelled, attempts: 1, lastError: "endpoint disabled",
			last: new(earlier[ts[3].ID].At), log: []pcx.Attempt{earlier[ts[3].ID]}},
		{url: ts[4].URL, status: pcx.DeliveryCancelled, lastError: "endpoint deleted"},
		{url: ts[5].URL, status: pcx.DeliveryPending, attempts: 1, code: 500, lastError: "http_status", last: &fail.At, log: []pcx.Attempt{*fail}},
	}
	got := allDeliveries(t, ctx, s, ev.ID)
	if len(got) != len(want) {
		t.Fatalf("%d deliveries, want %d", len(got), len(want))
	}
	for i, d := range got {
		if d.WebhookID != ts[i].ID {
			t.Fatalf("delivery %d is to %s, want %s", i, d.WebhookID, ts[i].ID)
		}
		if diff := deliveryDiff(d, want[i]); diff != "" {
			t.Errorf("delivery %d: %s", i, diff)
		}
		if ttl := ttlOf(t, tb.item(t, ctx, "EVT#"+ev.ID, "DLV#"+d.WebhookID)); ttl != unix(later) {
			t.Errorf("delivery %d ttl = %s, want the write's %s", i, ttl, unix(later))
		}
	}
	// The other event's delivery to ts[0] is its own.
	if d := delivery(t, ctx, s, other.ID, ts[0].ID); d.Attempts != 1 || d.Status != pcx.DeliveryFailed {
		t.Errorf("the other event's delivery = {attempts %d status %s}, want {1 failed}", d.Attempts, d.Status)
	}
}

func TestRecordAttempt(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	ev := newEvent("org-a", time.Now(), []byte(`{}`))
	expires := ev.CreatedAt.Add(retention)
	w := targets(1, ev.CreatedAt)[0]
	moved := *w
	moved.URL = "https://moved.example.com/hook"
	t0 := ev.CreatedAt
	steps := []struct {
		hook      *pcx.Webhook
		status    pcx.DeliveryStatus
		attempt   pcx.Attempt
		delivered *time.Time
	}{
		{w, pcx.DeliveryPending, pcx.Attempt{At: t0.Add(time.Second), StatusCode: 500, ErrorClass: "http_status", Duration: 120 * time.Millisecond}, nil},
		{w, pcx.DeliveryDelivered, pcx.Attempt{At: t0.Add(2 * time.Second), StatusCode: 204, Duration: 35 * time.Millisecond}, new(t0.Add(2 * time.Second))},
		{&moved, pcx.DeliveryPending, pcx.Attempt{At: t0.Add(3 * time.Second), ErrorClass: "timeout", Duration: 15 * time.Second}, nil},
		{&moved, pcx.DeliveryDelivered, pcx.Attempt{At: t0.Add(4 * time.Second), StatusCode: 200, Duration: 7 * time.Millisecond}, new(t0.Add(4 * time.Second))},
	}
	var log []pcx.Attempt
	for i, st := range steps {
		if i == 0 {
			// The first attempt as a batch records it; the retries one by one.
			first := []pcx.Delivery{{WebhookID: st.hook.ID, EndpointURL: st.hook.URL, Status: st.status, Attempt: &st.attempt}}
			if err := s.RecordFirstAttempts(ctx, ev, first, expires); err != nil {
				t.Fatalf("attempt 1: RecordFirstAttempts: %v", err)
			}
		} else if err := s.RecordDelivery(ctx, ev, attempted(st.hook, st.status, st.attempt), expires); err != nil {
			t.Fatalf("attempt %d: RecordDelivery: %v", i+1, err)
		}
		log = append(log, st.attempt)
		d := delivery(t, ctx, s, ev.ID, w.ID)
		if d.Attempts != i+1 || d.Status != st.status || d.EndpointURL != st.hook.URL ||
			d.LastStatusCode != st.attempt.StatusCode || d.LastError != st.attempt.ErrorClass ||
			timeString(d.LastAttemptAt) != timeString(&st.attempt.At) || timeString(d.DeliveredAt) != timeString(st.delivered) {
			t.Fatalf("after attempt %d: {attempts %d status %s url %s code %d error %q last %s delivered %s}, "+
				"want {attempts %d status %s url %s code %d error %q last %s delivered %s}", i+1,
				d.Attempts, d.Status, d.EndpointURL, d.LastStatusCode, d.LastError, timeString(d.LastAttemptAt), timeString(d.DeliveredAt),
				i+1, st.status, st.hook.URL, st.attempt.StatusCode, st.attempt.ErrorClass, timeString(&st.attempt.At), timeString(st.delivered))
		}
		if attemptsString(d.Log) != attemptsString(log) {
			t.Fatalf("after attempt %d the log is %s, want %s", i+1, attemptsString(d.Log), attemptsString(log))
		}
	}
}

func TestRecordAttemptTrimsTheLog(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	ev := newEvent("org-a", time.Now(), []byte(`{}`))
	expires := ev.CreatedAt.Add(retention)
	w := targets(1, ev.CreatedAt)[0]
	const total = store.MaxAttemptLog + 5
	var all []pcx.Attempt
	for i := range total {
		a := pcx.Attempt{At: ev.CreatedAt.Add(time.Duration(i) * time.Minute), StatusCode: 500 + i%4, ErrorClass: "http_status", Duration: time.Duration(i+1) * time.Millisecond}
		if err := s.RecordDelivery(ctx, ev, attempted(w, pcx.DeliveryPending, a), expires); err != nil {
			t.Fatalf("attempt %d: %v", i+1, err)
		}
		all = append(all, a)
		if n := i + 1; n == store.MaxAttemptLog || n == store.MaxAttemptLog+1 || n == total {
			d := delivery(t, ctx, s, ev.ID, w.ID)
			want := all[max(0, n-store.MaxAttemptLog):]
			if d.Attempts != n || attemptsString(d.Log) != attemptsString(want) {
				t.Fatalf("after %d attempts: attempts %d, log (%d entries) %s; want attempts %d, log (%d entries, the newest) %s",
					n, d.Attempts, len(d.Log), attemptsString(d.Log), n, len(want), attemptsString(want))
			}
		}
	}
}

func TestSetDeliveryStatus(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	ev := newEvent("org-a", time.Now(), []byte(`{}`))
	expires := ev.CreatedAt.Add(retention)
	ts := targets(3, ev.CreatedAt)
	failed := pcx.Attempt{At: ev.CreatedAt.Add(time.Second), StatusCode: 503, ErrorClass: "http_status", Duration: time.Millisecond}
	if err := s.RecordFirstAttempts(ctx, ev, []pcx.Delivery{
		{WebhookID: ts[0].ID, EndpointURL: ts[0].URL, Status: pcx.DeliveryPending, Attempt: &failed},
		{WebhookID: ts[1].ID, EndpointURL: ts[1].URL, Status: pcx.DeliveryCancelled, Reason: "endpoint disabled"},
	}, expires); err != nil {
		t.Fatal(err)
	}
	// ts[0] has an attempt, ts[1] was cancelled before any, ts[2] has no record yet.
	for _, w := range ts {
		if err := s.RecordDelivery(ctx, ev, pcx.Delivery{WebhookID: w.ID, Status: pcx.DeliveryCancelled, Reason: "endpoint deleted"}, expires); err != nil {
			t.Fatalf("RecordDelivery (cancelled) %s: %v", w.ID, err)
		}
	}
	got := allDeliveries(t, ctx, s, ev.ID)
	want := []struct {
		url      string
		attempts int
		code     int
	}{{ts[0].URL, 1, 503}, {ts[1].URL, 0, 0}, {"", 0, 0}}
	if len(got) != len(want) {
		t.Fatalf("%d deliveries, want %d", len(got), len(want))
	}
	for i, d := range got {
		if d.WebhookID != ts[i].ID || d.Status != pcx.DeliveryCancelled || d.LastError != "endpoint deleted" ||
			d.Attempts != want[i].attempts || len(d.Log) != want[i].attempts || d.LastStatusCode != want[i].code ||
			d.EndpointURL != want[i].url || d.DeliveredAt != nil {
			t.Fatalf("delivery %d = %+v; want webhook %s cancelled with reason %q, attempts %d, code %d, url %q",
				i, d, ts[i].ID, "endpoint deleted", want[i].attempts, want[i].code, want[i].url)
		}
	}
}

func TestListDeliveriesPaginates(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	ev := newEvent("org-a", time.Now(), []byte(`{}`))
	other := newEvent("org-a", time.Now(), []byte(`{}`))
	ts := targets(7, ev.CreatedAt)
	expires := ev.CreatedAt.Add(retention)
	if err := s.RecordFirstAttempts(ctx, ev, firstAttempts(ts, ev.CreatedAt), expires); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordFirstAttempts(ctx, other, firstAttempts(targets(3, ev.CreatedAt), ev.CreatedAt), expires); err != nil {
		t.Fatal(err)
	}
	want := ids(ts) // by webhook ID
	for _, tc := range []struct{ limit, pages int }{{1, 7}, {3, 3}, {6, 2}, {7, 1}, {100, 1}} {
		t.Run(fmt.Sprintf("limit%d", tc.limit), func(t *testing.T) {
			page, pages := allPages(t, tc.limit, func(after string) ([]*pcx.Delivery, string, error) {
				return s.ListDeliveries(ctx, ev.ID, tc.limit, after)
			})
			var got []string
			for _, d := range page {
				if d.EventID != ev.ID {
					t.Fatalf("lists a delivery of event %s", d.EventID)
				}
				got = append(got, d.WebhookID)
			}
			if pages != tc.pages || !slices.Equal(got, want) {
				t.Fatalf("listed %v in %d pages, want %v in %d", got, pages, want, tc.pages)
			}
		})
	}
	if page, next, err := s.ListDeliveries(ctx, "evt_none", 10, ""); err != nil || len(page) != 0 || next != "" {
		t.Fatalf("ListDeliveries of an event without deliveries = %d, %q, %v; want none", len(page), next, err)
	}
	for _, bad := range []string{"garbage", "DLV#" + ts[0].ID, "wh_" + strings.Repeat("x", 62)} {
		_, _, err := s.ListDeliveries(ctx, ev.ID, 3, bad)
		if pcx.ErrorCode(err) != pcx.EInvalid {
			t.Errorf("ListDeliveries after %q: %v, want code %q", bad, err, pcx.EInvalid)
		}
	}
}

// TestTTLs checks, on the items as stored, that events and deliveries expire: the event at
// created_at + retention, a delivery at the expiry each write passes (the activities pass the
// event's created_at + retention), and that endpoints never do.
func TestTTLs(t *testing.T) {
	t.Parallel()
	s, tb := newTableStore(t)
	ctx := testenv.Context(t, time.Minute)
	ev := newEvent("org-a", time.Now().Add(-time.Hour), []byte(`{}`))
	if err := s.CreateEvent(ctx, ev, retention, nil); err != nil {
		t.Fatal(err)
	}
	evKey := func() string { return ttlOf(t, tb.item(t, ctx, "EVT#"+ev.ID, "EVT")) }
	if got, want := evKey(), unix(ev.CreatedAt.Add(retention)); got != want {
		t.Fatalf("event ttl = %s, want created_at + retention = %s", got, want)
	}
	// A repeated create keeps the first TTL.
	again := *ev
	again.CreatedAt = ev.CreatedAt.Add(time.Hour)
	if err := s.CreateEvent(ctx, &again, 2*retention, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := evKey(), unix(ev.CreatedAt.Add(retention)); got != want {
		t.Fatalf("event ttl after a repeated create = %s, want %s", got, want)
	}

	ts := targets(2, ev.CreatedAt)
	dlvTTL := func(w *pcx.Webhook) string { return ttlOf(t, tb.item(t, ctx, "EVT#"+ev.ID, "DLV#"+w.ID)) }
	expires := ev.CreatedAt.Add(retention)
	if err := s.RecordFirstAttempts(ctx, ev, firstAttempts(ts, ev.CreatedAt), expires); err != nil {
		t.Fatal(err)
	}
	for _, w := range ts {
		if got := dlvTTL(w); got != unix(expires) {
			t.Fatalf("first-attempt delivery ttl = %s, want %s", got, unix(expires))
		}
	}
	later := expires.Add(time.Hour)
	a := pcx.Attempt{At: time.Now(), StatusCode: 200}
	if err := s.RecordDelivery(ctx, ev, attempted(ts[0], pcx.DeliveryDelivered, a), later); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordDelivery(ctx, ev, pcx.Delivery{WebhookID: ts[1].ID, Status: pcx.DeliveryCancelled, Reason: "endpoint deleted"}, later); err != nil {
		t.Fatal(err)
	}
	for _, w := range ts {
		if got := dlvTTL(w); got != unix(later) {
			t.Fatalf("delivery ttl after a write = %s, want the write's %s", got, unix(later))
		}
	}

	w := newHook(t, "org-a", time.Now())
	if err := s.CreateWebhook(ctx, w, 10, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateWebhookSecret(ctx, "org-a", w.ID, []byte("a rotated secret, 24 byt"), time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	if v, ok := tb.item(t, ctx, "ORG#org-a#WH", w.ID)["ttl"]; ok {
		t.Fatalf("an endpoint item has a ttl (%v): it would expire", v)
	}
}

// failingDoer fails the nth BatchWriteItem request it sees, as a connection reset would, and
// passes every other request on.
type failingDoer struct {
	next dynamodb.HTTPClient
	n    int
	seen atomic.Int64
}

func (d *failingDoer) Do(req *http.Request) (*http.Response, error) {
	if isItemWrite(req) && d.seen.Add(1) == int64(d.n) {
		return nil, errors.New("connection reset by peer")
	}
	return d.next.Do(req)
}

// A batch whose write failed part way is written again whole: DeliverBatch hands every record
// to the workflow as Unrecorded, and RecordOutcomes (retried until it succeeds) writes them
// again. A record the first call did write must not count its attempt twice.
func TestRecordFirstAttemptsAgainAfterAPartialWrite(t *testing.T) {
	t.Parallel()
	s, tb := newTableStore(t)
	ctx := testenv.Context(t, time.Minute)
	// The same table through a client whose second item write fails, without SDK retries.
	base, err := store.NewClient(ctx, store.ClientOptions{Region: "us-east-1", Endpoint: testenv.DynamoDB(t).Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	faulty := store.New(dynamodb.New(base.Options(), func(o *dynamodb.Options) {
		o.HTTPClient = &failingDoer{next: o.HTTPClient, n: 2}
		o.Retryer = aws.NopRetryer{}
	}), tb.name, testBox(t))
	ev := newEvent("org-a", time.Now(), []byte(`{}`))
	expires := ev.CreatedAt.Add(retention)
	ts := targets(30, ev.CreatedAt)
	recs := firstAttempts(ts, ev.CreatedAt.Add(time.Second))

	if err := faulty.RecordFirstAttempts(ctx, ev, recs, expires); err == nil {
		t.Fatal("RecordFirstAttempts with its second write failing = nil, want an error")
	}
	if got := len(allDeliveries(t, ctx, s, ev.ID)); got >= len(recs) {
		t.Fatalf("after the failed call %d deliveries are recorded, want fewer than %d", got, len(recs))
	}
	// What RecordOutcomes does with the batch's Unrecorded.
	if err := s.RecordFirstAttempts(ctx, ev, recs, expires); err != nil {
		t.Fatalf("RecordFirstAttempts again: %v", err)
	}

	got := allDeliveries(t, ctx, s, ev.ID)
	if len(got) != len(ts) {
		t.Fatalf("%d deliveries, want %d", len(got), len(ts))
	}
	var twice []string
	for i, d := range got {
		if diff := deliveryDiff(d, afterFirst(recs[i])); diff != "" {
			twice = append(twice, fmt.Sprintf("delivery %d: %s", i, diff))
		}
	}
	if len(twice) > 0 {
		t.Fatalf("%d of %d first attempts are recorded twice (attempts and log entries added again by the second write); first: %s",
			len(twice), len(ts), twice[0])
	}
}

// isItemWrite reports whether req writes delivery items the way RecordFirstAttempts does (one
// PutItem each; a BatchWriteItem before conditional writes).
func isItemWrite(req *http.Request) bool {
	target := req.Header.Get("X-Amz-Target")
	return strings.HasSuffix(target, ".PutItem") || strings.HasSuffix(target, ".BatchWriteItem")
}

// raceDoer runs before once, just before the first item write goes out.
type raceDoer struct {
	next   dynamodb.HTTPClient
	once   sync.Once
	before func()
}

func (d *raceDoer) Do(req *http.Request) (*http.Response, error) {
	if isItemWrite(req) {
		d.once.Do(d.before)
	}
	return d.next.Do(req)
}

// A first attempt whose write lands after a retry's record (a stalled worker's batch, a
// timed-out RecordOutcomes, a replay's batch that found no record a moment before) never
// overwrites it: the newer attempt stays, and so does its count.
func TestLateFirstAttemptNeverOverwritesANewerRecord(t *testing.T) {
	t.Parallel()
	ctx := testenv.Context(t, time.Minute)
	t0 := time.Now().Truncate(time.Millisecond)
	first := pcx.Attempt{At: t0.Add(time.Second), StatusCode: 503, ErrorClass: "http_status", Duration: 40 * time.Millisecond}
	second := pcx.Attempt{At: t0.Add(10 * time.Second), StatusCode: 204, Duration: 12 * time.Millisecond}

	for _, tc := range []struct {
		name string
		// firstRecorded: the first attempt's record was written before the retry's (the late
		// write is that record written again); otherwise the retry's is the first record.
		firstRecorded bool
		wantAttempts  int
		wantLog       []pcx.Attempt
	}{
		{"first-recorded-then-written-again", true, 2, []pcx.Attempt{first, second}},
		{"first-written-after-the-retry", false, 1, []pcx.Attempt{second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, tb := newTableStore(t)
			ev := newEvent("org-a", t0, []byte(`{}`))
			if err := s.CreateEvent(ctx, ev, retention, nil); err != nil {
				t.Fatal(err)
			}
			expires := ev.CreatedAt.Add(retention)
			w := targets(1, ev.CreatedAt)[0]
			late := []pcx.Delivery{attempted(w, pcx.DeliveryPending, first)}
			retry := func() {
				if err := s.RecordDelivery(ctx, ev, attempted(w, pcx.DeliveryDelivered, second), expires); err != nil {
					t.Errorf("the retry's record: %v", err)
				}
			}
			writer := s
			if tc.firstRecorded {
				if err := s.RecordFirstAttempts(ctx, ev, late, expires); err != nil {
					t.Fatal(err)
				}
				retry()
			} else {
				// The retry's record is written just before the late first attempt's write goes
				// out: after any look at the table the write path may take first.
				base, err := store.NewClient(ctx, store.ClientOptions{Region: "us-east-1", Endpoint: testenv.DynamoDB(t).Endpoint})
				if err != nil {
					t.Fatal(err)
				}
				writer = store.New(dynamodb.New(base.Options(), func(o *dynamodb.Options) {
					o.HTTPClient = &raceDoer{next: o.HTTPClient, before: retry}
				}), tb.name, testBox(t))
			}
			if err := writer.RecordFirstAttempts(ctx, ev, late, expires); err != nil {
				t.Fatalf("the late first attempt: %v", err)
			}

			want := wantDelivery{url: w.URL, status: pcx.DeliveryDelivered, attempts: tc.wantAttempts, code: 204,
				last: &second.At, delivered: &second.At, log: tc.wantLog}
			if diff := deliveryDiff(delivery(t, ctx, s, ev.ID, w.ID), want); diff != "" {
				t.Fatalf("after the late first attempt: %s", diff)
			}
		})
	}
}

// A batch that runs again in its run finds what that run's first attempts recorded, and only
// that: a record of another run, or one written before the run was kept (no first_run: it reads
// as it always did), is not the batch's. A first attempt of a new run (a replay, a reset) on an
// existing record makes it that run's.
func TestRecordedByRun(t *testing.T) {
	t.Parallel()
	s, _ := newTableStore(t)
	ctx := testenv.Context(t, time.Minute)
	ev := newEvent("org-a", time.Now(), []byte(`{}`))
	if err := s.CreateEvent(ctx, ev, retention, nil); err != nil {
		t.Fatal(err)
	}
	expires := ev.CreatedAt.Add(retention)
	ts := targets(12, ev.CreatedAt)
	recs := firstAttempts(ts, ev.CreatedAt.Add(time.Second)) // delivered, pending, failed, cancelled, …
	run := func(r string, recs []pcx.Delivery) []pcx.Delivery {
		out := slices.Clone(recs)
		for i := range out {
			out[i].Run = r
		}
		return out
	}
	// 0–7 by run-1, 8–9 by run-2, 10–11 before runs were kept.
	for _, part := range [][]pcx.Delivery{run("run-1", recs[:8]), run("run-2", recs[8:10]), recs[10:]} {
		if err := s.RecordFirstAttempts(ctx, ev, part, expires); err != nil {
			t.Fatalf("RecordFirstAttempts: %v", err)
		}
	}
	ids := make([]string, len(ts))
	for i, w := range ts {
		ids[i] = w.ID
	}
	got, err := s.RecordedByRun(ctx, ev.ID, "run-1", ids[2:])
	if err != nil {
		t.Fatalf("RecordedByRun: %v", err)
	}
	if len(got) != 6 {
		t.Fatalf("RecordedByRun(run-1) of deliveries 2–11 returned %d records, want 6 (2–7)", len(got))
	}
	for i, r := range recs[2:8] {
		d := got[r.WebhookID]
		if d == nil {
			t.Fatalf("delivery %d (%s) of run-1 not returned", i+2, r.Status)
		}
		want := afterFirst(r)
		if d.Status != want.status || d.Attempts != want.attempts || timeString(d.LastAttemptAt) != timeString(want.last) || d.Run != "run-1" {
			t.Fatalf("delivery %d: status %s attempts %d last %s run %q, want %s %d %s run-1",
				i+2, d.Status, d.Attempts, timeString(d.LastAttemptAt), d.Run, want.status, want.attempts, timeString(want.last))
		}
	}
	if none, err := s.RecordedByRun(ctx, ev.ID, "run-3", ids); err != nil || len(none) != 0 {
		t.Fatalf("RecordedByRun(run-3) = %d records, %v; want none", len(none), err)
	}

	// The records without a run read as before.
	all := allDeliveries(t, ctx, s, ev.ID)
	for i, d := range all[10:] {
		if diff := deliveryDiff(d, afterFirst(recs[10+i])); diff != "" || d.Run != "" {
			t.Fatalf("delivery %d, written without a run: %s (run %q)", 10+i, diff, d.Run)
		}
	}

	// A new run's first attempts on existing records, one sent (later) and one cancelled, and one
	// on a record without a run: each becomes that run's.
	again := []pcx.Delivery{recs[1], recs[3], recs[11]}
	for i := range again {
		if again[i].Attempt != nil {
			a := *again[i].Attempt
			a.At = a.At.Add(time.Minute)
			again[i].Attempt = &a
		}
	}
	if err := s.RecordFirstAttempts(ctx, ev, run("run-4", again), expires); err != nil {
		t.Fatalf("RecordFirstAttempts: %v", err)
	}
	got, err = s.RecordedByRun(ctx, ev.ID, "run-4", ids)
	if err != nil {
		t.Fatalf("RecordedByRun: %v", err)
	}
	for _, r := range again {
		if got[r.WebhookID] == nil {
			t.Fatalf("%s (%s): not the new run's after its first attempt on the existing record", r.WebhookID, r.Status)
		}
	}
	if len(got) != len(again) {
		t.Fatalf("RecordedByRun(run-4) returned %d records, want %d", len(got), len(again))
	}
}

func TestDeliveriesOf(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	ev := newEvent("org-a", time.Now(), []byte(`{}`))
	if err := s.CreateEvent(ctx, ev, retention, nil); err != nil {
		t.Fatal(err)
	}
	ts := targets(130, ev.CreatedAt)
	recs := firstAttempts(ts[:120], ev.CreatedAt.Add(time.Second))
	if err := s.RecordFirstAttempts(ctx, ev, recs, ev.CreatedAt.Add(retention)); err != nil {
		t.Fatal(err)
	}
	ids := []string{ts[0].ID}
	for _, w := range ts {
		ids = append(ids, w.ID)
	}
	got, err := s.DeliveriesOf(ctx, ev.ID, ids)
	if err != nil {
		t.Fatalf("DeliveriesOf: %v", err)
	}
	if len(got) != len(recs) {
		t.Fatalf("%d records, want %d (the 10 endpoints without one absent)", len(got), len(recs))
	}
	for _, r := range recs {
		if diff := deliveryDiff(got[r.WebhookID], afterFirst(r)); diff != "" {
			t.Fatalf("%s: %s", r.WebhookID, diff)
		}
	}
}
