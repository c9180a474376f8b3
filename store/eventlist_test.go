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
	var pages [][]string
	after := ""
	for {
		evs, next, err := s.ListEvents(ctx, org, f, limit, after)
		if err != nil {
			t.Fatalf("ListEvents(%+v, after %q): %v", f, after, err)
		}
		ids := make([]string, len(evs))
		for i, ev := range evs {
			ids[i] = ev.ID
		}
		pages = append(pages, ids)
		if next == "" {
			return pages
		}
		if len(pages) > 20 {
			t.Fatalf("ListEvents(%+v) did not end: %v", f, pages)
		}
		after = next
	}
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
		if err := s.CreateEvent(ctx, ev, retention); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	other := newEvent("org-b", t0.Add(3*time.Second), []byte(`{}`))
	other.Type = "a.created"
	if err := s.CreateEvent(ctx, other, retention); err != nil {
		t.Fatal(err)
	}
	// An event as the code before wrote it: no list index keys, no endpoint_count.
	old := newEvent("org-a", t0.Add(4500*time.Millisecond), []byte(`{}`))
	if err := s.CreateEvent(ctx, old, retention); err != nil {
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
	if err := s.CreateEvent(ctx, after, retention); err != nil {
		t.Fatal(err)
	}
	if got := listAll(t, ctx, s, "org-a", store.EventFilter{}, 10); fmt.Sprint(got) != fmt.Sprint([][]string{{after.ID}}) {
		t.Fatalf("events listed after the migration %v, want only the one written after it", got)
	}
}
