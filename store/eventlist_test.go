package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

// listAll pages through ListEvents with limit and returns each page's event IDs.
func listAll(t *testing.T, ctx context.Context, s *store.Store, org string, f store.EventFilter, limit int) [][]string {
	t.Helper()
	list := func(after string) ([]*pcx.Event, string, error) { return s.ListEvents(ctx, org, f, limit, after) }
	return pagesOf(t, list, func(ev *pcx.Event) string { return ev.ID })
}

// pagesOf pages through a list and returns each page's IDs (id names an item).
func pagesOf[T any](t *testing.T, list func(after string) ([]T, string, error), id func(T) string) [][]string {
	t.Helper()
	var pages [][]string
	after := ""
	for len(pages) <= 20 {
		items, next, err := list(after)
		if err != nil {
			t.Fatalf("list after %q: %v", after, err)
		}
		ids := make([]string, len(items))
		for i, it := range items {
			ids[i] = id(it)
		}
		pages = append(pages, ids)
		if next == "" {
			return pages
		}
		after = next
	}
	t.Fatalf("the list did not end: %v", pages)
	return nil
}

// An organisation's events are listed newest first, a page at a time; a type filter still fills
// every page but the last; the window includes since and excludes until; another
// organisation's events, and an event written before the list index existed, are not listed.
func TestListEvents(t *testing.T) {
	t.Parallel()
	s, tb := newTableStore(t)
	ctx := testenv.Context(t, time.Minute)
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	var ids []string // oldest first
	for i := range 10 {
		ev := newEvent("org-a", t0.Add(time.Duration(i)*time.Second), []byte(`{"i":1}`))
		ev.Type, ev.EndpointCount = "a.created", i
		if i%2 == 1 {
			ev.Type = "b.created"
		}
		if err := s.CreateEvent(ctx, ev, retention, nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	other := newEvent("org-b", t0.Add(3*time.Second), []byte(`{}`))
	other.Type = "a.created"
	if err := s.CreateEvent(ctx, other, retention, nil); err != nil {
		t.Fatal(err)
	}
	// An event as the code before wrote it: no list index keys, no endpoint_count.
	old := newEvent("org-a", t0.Add(4500*time.Millisecond), []byte(`{}`))
	if err := s.CreateEvent(ctx, old, retention, nil); err != nil {
		t.Fatal(err)
	}
	it := tb.item(t, ctx, "EVT#"+old.ID, "EVT")
	delete(it, "GSI2PK")
	delete(it, "GSI2SK")
	delete(it, "endpoint_count")
	if _, err := tb.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &tb.name, Item: it}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.EventOf(ctx, "org-a", old.ID); err != nil || got.EndpointCount != 0 {
		t.Fatalf("EventOf an old event = %+v, %v; want it, with endpoint_count 0", got, err)
	}

	newest := func(idx ...int) []string {
		out := make([]string, len(idx))
		for i, n := range idx {
			out[i] = ids[n]
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		f     store.EventFilter
		limit int
		want  [][]string
	}{
		{"all", store.EventFilter{}, 4, [][]string{newest(9, 8, 7, 6), newest(5, 4, 3, 2), newest(1, 0)}},
		{"all, one page", store.EventFilter{}, 100, [][]string{newest(9, 8, 7, 6, 5, 4, 3, 2, 1, 0)}},
		{"exact pages", store.EventFilter{}, 5, [][]string{newest(9, 8, 7, 6, 5), newest(4, 3, 2, 1, 0)}},
		{"type", store.EventFilter{Type: "a.created"}, 2, [][]string{newest(8, 6), newest(4, 2), newest(0)}},
		{"type not a prefix", store.EventFilter{Type: "a"}, 2, [][]string{{}}},
		{"since included", store.EventFilter{Since: t0.Add(7 * time.Second)}, 2, [][]string{newest(9, 8), newest(7)}},
		{"since within a millisecond", store.EventFilter{Since: t0.Add(7*time.Second - time.Microsecond)}, 10, [][]string{newest(9, 8, 7)}},
		{"until excluded", store.EventFilter{Until: t0.Add(2 * time.Second)}, 10, [][]string{newest(1, 0)}},
		{"until within a millisecond", store.EventFilter{Until: t0.Add(2*time.Second + time.Microsecond)}, 10, [][]string{newest(2, 1, 0)}},
		{"window and type", store.EventFilter{Type: "b.created", Since: t0.Add(2 * time.Second), Until: t0.Add(8 * time.Second)}, 2, [][]string{newest(7, 5), newest(3)}},
		{"empty window", store.EventFilter{Since: t0.Add(3 * time.Second), Until: t0.Add(3 * time.Second)}, 10, [][]string{{}}},
	} {
		got := listAll(t, ctx, s, "org-a", tc.f, tc.limit)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: pages %v, want %v", tc.name, got, tc.want)
		}
	}
	evs, _, err := s.ListEvents(ctx, "org-a", store.EventFilter{}, 1, "")
	if err != nil || len(evs) != 1 {
		t.Fatalf("ListEvents = %v, %v", evs, err)
	}
	if e := evs[0]; e.ID != ids[9] || e.Type != "b.created" || e.EndpointCount != 9 || e.WorkflowID != "event-"+ids[9] ||
		!e.CreatedAt.Equal(t0.Add(9*time.Second)) || e.OrgID != "org-a" || len(e.Payload) != 0 {
		t.Fatalf("listed event %+v; want its type, endpoint count, workflow, time and no payload", e)
	}
	if got := listAll(t, ctx, s, "org-b", store.EventFilter{}, 10); fmt.Sprint(got) != fmt.Sprint([][]string{{other.ID}}) {
		t.Fatalf("org-b's events %v, want only its own", got)
	}
	for _, bad := range []string{"evt_x", "wh_" + strings.Repeat("0", 26)} {
		_, _, err := s.ListEvents(ctx, "org-a", store.EventFilter{}, 10, bad)
		wantCode(t, err, pcx.EInvalid)
	}
}

// A table created before the list index existed is given it by CreateTable (the migration:
// `pcxctl table create`); the events written before are not listed, those written after are.
func TestCreateTableAddsTheListIndexToAnOldTable(t *testing.T) {
	t.Parallel()
	s, tb := newTableStore(t)
	ctx := testenv.Context(t, 2*time.Minute)
	// Recreate the table in the shape of the code before: GSI1 only.
	if err := s.DeleteTable(ctx); err != nil {
		t.Fatal(err)
	}
	str := func(n string) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: types.ScalarAttributeTypeS}
	}
	key := func(pk, sk string) []types.KeySchemaElement {
		return []types.KeySchemaElement{{AttributeName: aws.String(pk), KeyType: types.KeyTypeHash}, {AttributeName: aws.String(sk), KeyType: types.KeyTypeRange}}
	}
	_, err := tb.db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: &tb.name, BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{str("PK"), str("SK"), str("GSI1PK"), str("GSI1SK")},
		KeySchema:            key("PK", "SK"),
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{IndexName: aws.String("GSI1"), KeySchema: key("GSI1PK", "GSI1SK"),
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	before := newEvent("org-a", time.Now().Add(-time.Minute), []byte(`{}`))
	_, err = tb.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &tb.name, Item: map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "EVT#" + before.ID}, "SK": &types.AttributeValueMemberS{Value: "EVT"},
		"event_id": &types.AttributeValueMemberS{Value: before.ID}, "org_id": &types.AttributeValueMemberS{Value: "org-a"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ListEvents(ctx, "org-a", store.EventFilter{}, 10, ""); err == nil {
		t.Fatal("ListEvents on a table without the index succeeded; want an error")
	}
	if created, err := s.CreateTable(ctx); err != nil || created {
		t.Fatalf("CreateTable of the old table = %v, %v; want false, nil", created, err)
	}
	if created, err := s.CreateTable(ctx); err != nil || created {
		t.Fatalf("CreateTable again = %v, %v; want false, nil", created, err)
	}
	after := newEvent("org-a", time.Now(), []byte(`{}`))
	if err := s.CreateEvent(ctx, after, retention, nil); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, ctx, s, "org-a", store.EventFilter{}, 10); fmt.Sprint(got) != fmt.Sprint([][]string{{after.ID}}) {
		t.Fatalf("events listed after the migration %v, want only the one written after it", got)
	}
}

// An endpoint's deliveries are listed newest event first, a page at a time, with the event's
// type and time; a status filter still fills every page but the last; the window is the events'
// creation; another endpoint's deliveries are not listed; a record written before the list
// index existed is listed from its next write on.
func TestListEndpointDeliveries(t *testing.T) {
	t.Parallel()
	s, tb := newTableStore(t)
	ctx := testenv.Context(t, time.Minute)
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	hook, other := targets(2, t0)[0], targets(2, t0)[1]
	statuses := []pcx.DeliveryStatus{pcx.DeliveryDelivered, pcx.DeliveryFailed, pcx.DeliveryDelivered, pcx.DeliveryPending, pcx.DeliveryDelivered, pcx.DeliveryFailed}
	var evs []*pcx.Event // oldest first
	for i, st := range statuses {
		ev := newEvent("org-a", t0.Add(time.Duration(i)*time.Second), []byte(`{}`))
		ev.Type = fmt.Sprintf("t%d.created", i)
		if err := s.CreateEvent(ctx, ev, retention, nil); err != nil {
			t.Fatal(err)
		}
		code, class := 200, ""
		if st != pcx.DeliveryDelivered {
			code, class = 500, "http_status"
		}
		a := pcx.Attempt{At: ev.CreatedAt.Add(time.Second), StatusCode: code, ErrorClass: class}
		recs := []pcx.Delivery{attempted(hook, st, a), attempted(other, pcx.DeliveryDelivered, pcx.Attempt{At: a.At, StatusCode: 200})}
		if err := s.RecordFirstAttempts(ctx, ev, recs, ev.CreatedAt.Add(retention)); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	// A second attempt of event 1's delivery adds up, and it stays listed once.
	if err := s.RecordDelivery(ctx, evs[1], attempted(hook, pcx.DeliveryFailed, pcx.Attempt{At: evs[1].CreatedAt.Add(time.Minute), StatusCode: 502, ErrorClass: "http_status"}), evs[1].CreatedAt.Add(retention)); err != nil {
		t.Fatal(err)
	}
	// Event 3's record as the code before wrote it: no list entry.
	it := tb.item(t, ctx, "EVT#"+evs[3].ID, "DLV#"+hook.ID)
	for _, name := range []string{"GSI2PK", "GSI2SK", "event_type", "created_at"} {
		delete(it, name)
	}
	if _, err := tb.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &tb.name, Item: it}); err != nil {
		t.Fatal(err)
	}
	newest := func(idx ...int) []string {
		out := make([]string, len(idx))
		for i, n := range idx {
			out[i] = evs[n].ID
		}
		return out
	}
	pages := func(id string, f store.DeliveryFilter, limit int) [][]string {
		list := func(after string) ([]*pcx.Delivery, string, error) {
			return s.ListEndpointDeliveries(ctx, id, f, limit, after)
		}
		return pagesOf(t, list, func(d *pcx.Delivery) string { return d.EventID })
	}
	for _, tc := range []struct {
		name  string
		f     store.DeliveryFilter
		limit int
		want  [][]string
	}{
		{"all but the old record", store.DeliveryFilter{}, 2, [][]string{newest(5, 4), newest(2, 1), newest(0)}},
		{"delivered", store.DeliveryFilter{Status: pcx.DeliveryDelivered}, 2, [][]string{newest(4, 2), newest(0)}},
		{"failed", store.DeliveryFilter{Status: pcx.DeliveryFailed}, 1, [][]string{newest(5), newest(1)}},
		{"cancelled", store.DeliveryFilter{Status: pcx.DeliveryCancelled}, 5, [][]string{{}}},
		{"window", store.DeliveryFilter{Since: t0.Add(time.Second), Until: t0.Add(5 * time.Second)}, 5, [][]string{newest(4, 2, 1)}},
		{"window and status", store.DeliveryFilter{Status: pcx.DeliveryDelivered, Since: t0.Add(2 * time.Second)}, 5, [][]string{newest(4, 2)}},
	} {
		if got := pages(hook.ID, tc.f, tc.limit); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: pages %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := pages(other.ID, store.DeliveryFilter{}, 10); fmt.Sprint(got) != fmt.Sprint([][]string{newest(5, 4, 3, 2, 1, 0)}) {
		t.Errorf("the other endpoint's deliveries %v; want its own six", got)
	}
	got, _, err := s.ListEndpointDeliveries(ctx, hook.ID, store.DeliveryFilter{Status: pcx.DeliveryFailed}, 2, "")
	if err != nil || len(got) != 2 {
		t.Fatalf("ListEndpointDeliveries = %v, %v", got, err)
	}
	if d := got[1]; d.EventID != evs[1].ID || d.WebhookID != hook.ID || d.EventType != "t1.created" || !d.EventCreatedAt.Equal(evs[1].CreatedAt) ||
		d.Attempts != 2 || d.LastStatusCode != 502 || d.LastError != "http_status" || d.LastAttemptAt == nil || d.DeliveredAt != nil || len(d.Log) != 0 {
		t.Fatalf("listed delivery %+v; want event 1's, of its type and time, after 2 attempts, without its log", d)
	}
	// The old record's next write gives it its list entry.
	if err := s.RecordDelivery(ctx, evs[3], attempted(hook, pcx.DeliveryDelivered, pcx.Attempt{At: evs[3].CreatedAt.Add(time.Minute), StatusCode: 200}), evs[3].CreatedAt.Add(retention)); err != nil {
		t.Fatal(err)
	}
	if got := pages(hook.ID, store.DeliveryFilter{Status: pcx.DeliveryDelivered}, 10); fmt.Sprint(got) != fmt.Sprint([][]string{newest(4, 3, 2, 0)}) {
		t.Errorf("delivered after the old record's next write: %v", got)
	}
	_, _, err = s.ListEndpointDeliveries(ctx, hook.ID, store.DeliveryFilter{}, 10, "evt_bad")
	wantCode(t, err, pcx.EInvalid)
}

// An attempt's response body and whether it was cut are kept in the delivery's attempt log.
func TestAttemptLogKeepsTheResponseBody(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	ev := newEvent("org-a", time.Now(), []byte(`{}`))
	hook := targets(1, ev.CreatedAt)[0]
	long := strings.Repeat("é", pcx.MaxResponseBody/2)
	first := pcx.Attempt{At: ev.CreatedAt, StatusCode: 500, ErrorClass: "http_status", ResponseBody: long, ResponseTruncated: true}
	if err := s.RecordFirstAttempts(ctx, ev, []pcx.Delivery{attempted(hook, pcx.DeliveryPending, first)}, ev.CreatedAt.Add(retention)); err != nil {
		t.Fatal(err)
	}
	second := pcx.Attempt{At: ev.CreatedAt.Add(time.Second), StatusCode: 200, ResponseBody: "ok"}
	if err := s.RecordDelivery(ctx, ev, attempted(hook, pcx.DeliveryDelivered, second), ev.CreatedAt.Add(retention)); err != nil {
		t.Fatal(err)
	}
	got, err := s.DeliveriesOf(ctx, ev.ID, []string{hook.ID})
	if err != nil {
		t.Fatal(err)
	}
	log := got[hook.ID].Log
	if len(log) != 2 || log[0].ResponseBody != long || !log[0].ResponseTruncated || log[1].ResponseBody != "ok" || log[1].ResponseTruncated {
		t.Fatalf("attempt log %+v; want the cut 4 KiB body, then ok whole", log)
	}
}
