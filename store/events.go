package store

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/pcx/publicservice/pcx"
)

func eventPK(id string) string { return "EVT#" + id }
func eventKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: avS(eventPK(id)), attrSK: avS("EVT")}
}
func deliveryKey(eventID, webhookID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: avS(eventPK(eventID)), attrSK: avS("DLV#" + webhookID)}
}
func eventNotFound() error { return pcx.Errorf(pcx.ENotFound, "Event not found") }

// ttlAt is the TTL attribute value: DynamoDB deletes the item some time after it.
func ttlAt(t time.Time) types.AttributeValue { return avN(t.Unix()) }

func orgEventsPK(org string) string { return "ORG#" + org + "#EVT" }

// CreateEvent stores an accepted event with its payload and its entry in the organisation's
// event list (GSI2's keys on the same item: one write, and the index's). It is kept for
// retention, then expires. An event with the same ID that exists already is left as it is (an
// idempotent retry), and then rec is not written either. rec (e.g. webhook.test_sent) is written
// in the same transaction when not nil.
func (s *Store) CreateEvent(ctx context.Context, ev *pcx.Event, retention time.Duration, rec *pcx.AuditRecord) error {
	it := map[string]types.AttributeValue{
		attrPK: avS(eventPK(ev.ID)), attrSK: avS("EVT"),
		attrGSI2PK: avS(orgEventsPK(ev.OrgID)), attrGSI2SK: avS(ev.ID),
		"event_id": avS(ev.ID), "org_id": avS(ev.OrgID), "workflow_id": avS(ev.WorkflowID),
		"source": avS(ev.Source), "created_at": avTime(ev.CreatedAt), "payload": avB(ev.Payload),
		"endpoint_count": avN(int64(ev.EndpointCount)), attrTTL: ttlAt(ev.CreatedAt.Add(retention)),
	}
	if ev.Type != "" {
		it["event_type"] = avS(ev.Type)
	}
	put := &types.Put{TableName: &s.table, Item: it, ConditionExpression: aws.String("attribute_not_exists(PK)")}
	if rec != nil {
		err := s.transactOne(ctx, types.TransactWriteItem{Put: put}, rec)
		if firstFailed(err) {
			return nil
		}
		return translate(err)
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: put.TableName, Item: put.Item, ConditionExpression: put.ConditionExpression})
	if isConditionFailed(err) {
		return nil
	}
	return translate(err)
}

// Event returns an event with its payload, whoever owns it (the worker's read).
func (s *Store) Event(ctx context.Context, id string) (*pcx.Event, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: eventKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, translate(err)
	}
	if out.Item == nil {
		return nil, eventNotFound()
	}
	return decodeEvent(out.Item)
}

// eventAttrs are the attributes of an event but its payload.
const eventAttrs = "event_id, org_id, workflow_id, #src, created_at, event_type, endpoint_count"

// EventOf returns org's event without its payload; another organisation's is not found.
func (s *Store) EventOf(ctx context.Context, org, id string) (*pcx.Event, error) {
	return s.eventOf(ctx, org, id, eventAttrs)
}

// EventWithPayloadOf returns org's event with its payload (the event status); another
// organisation's is not found.
func (s *Store) EventWithPayloadOf(ctx context.Context, org, id string) (*pcx.Event, error) {
	return s.eventOf(ctx, org, id, eventAttrs+", payload")
}

func (s *Store) eventOf(ctx context.Context, org, id, projection string) (*pcx.Event, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: eventKey(id), ConsistentRead: aws.Bool(true),
		ProjectionExpression:     aws.String(projection),
		ExpressionAttributeNames: map[string]string{"#src": "source"},
	})
	if err != nil {
		return nil, translate(err)
	}
	if out.Item == nil || (&item{m: out.Item}).str("org_id") != org {
		return nil, eventNotFound()
	}
	return decodeEvent(out.Item)
}

// EventFilter narrows ListEvents: an exact type, and a window of creation times, Since included
// and Until excluded. A zero field does not narrow.
type EventFilter struct {
	Type         string
	Since, Until time.Time
	// OldestFirst lists the window oldest first (a recovery's order), not newest first.
	OldestFirst bool
}

// ListEvents returns up to limit of org's events, newest first (oldest first with
// f.OldestFirst), without their payloads, from
// the organisation's partition of GSI2 (eventually consistent: an event accepted a moment ago may
// not be listed yet). The window is a range of the index's sort key, the event IDs. The type is
// a filter on the entries read, and the query reads on until the page is full or the window
// ends, so a page is short only on the last; a rare type costs reading the window's entries of
// other types, a few hundred bytes each. Events stored before the index existed are not listed.
func (s *Store) ListEvents(ctx context.Context, org string, f EventFilter, limit int, after string) ([]*pcx.Event, string, error) {
	in, start, ok := s.windowQuery(orgEventsPK(org), f.Since, f.Until, eventKey)
	if !ok {
		return nil, "", nil
	}
	in.ScanIndexForward = aws.Bool(f.OldestFirst)
	if f.Type != "" {
		in.FilterExpression = aws.String("event_type = :type")
		in.ExpressionAttributeValues[":type"] = avS(f.Type)
	}
	return listPage(ctx, s, in, limit, after, start, decodeEvent, func(e *pcx.Event) string { return e.ID })
}

// windowQuery is the newest-first query of GSI2's partition pk, whose sort key is an event ID,
// over the window [since, until) (idWindow), and the start key of a position, an event ID, for
// listPage: keyOf is the base table's key of the item of that event. ok is false for an empty
// window.
func (s *Store) windowQuery(pk string, since, until time.Time, keyOf func(eventID string) map[string]types.AttributeValue) (
	in *dynamodb.QueryInput, start func(string) map[string]types.AttributeValue, ok bool) {
	cond, vals, ok := idWindow(pk, "evt", since, until)
	in = &dynamodb.QueryInput{
		TableName: &s.table, IndexName: aws.String(gsi2),
		KeyConditionExpression: aws.String(cond), ExpressionAttributeValues: vals,
		ScanIndexForward: aws.Bool(false),
	}
	start = func(after string) map[string]types.AttributeValue {
		if !pcx.ValidID("evt", after) {
			return nil
		}
		k := keyOf(after)
		k[attrGSI2PK], k[attrGSI2SK] = avS(pk), avS(after)
		return k
	}
	return in, start, ok
}

// idWindow is the key condition of the entries of GSI2's partition pk whose IDs, of kind, were
// created from since (included) to until (excluded), a zero time leaving that side open; ok is
// false for a window that holds no millisecond. IDs carry their creation millisecond, and
// stored times are truncated to it: an ID of millisecond m is in the window when
// since <= m < until, that is from the first ID of since's millisecond, rounded up, to the
// last of the millisecond before until's, rounded up.
func idWindow(pk, kind string, since, until time.Time) (cond string, vals map[string]types.AttributeValue, ok bool) {
	vals = map[string]types.AttributeValue{":pk": avS(pk)}
	cond = attrGSI2PK + " = :pk"
	ceil := func(t time.Time) time.Time {
		if m := t.Truncate(time.Millisecond); !m.Equal(t) {
			return m.Add(time.Millisecond)
		}
		return t
	}
	var lo, hi string
	if !since.IsZero() {
		lo = pcx.FirstID(kind, ceil(since))
		vals[":lo"] = avS(lo)
	}
	if !until.IsZero() {
		hi = pcx.LastID(kind, ceil(until).Add(-time.Millisecond))
		vals[":hi"] = avS(hi)
	}
	switch {
	case lo != "" && hi != "":
		return cond + " AND " + attrGSI2SK + " BETWEEN :lo AND :hi", vals, lo <= hi
	case lo != "":
		return cond + " AND " + attrGSI2SK + " >= :lo", vals, true
	case hi != "":
		return cond + " AND " + attrGSI2SK + " <= :hi", vals, true
	}
	return cond, vals, true
}

func decodeEvent(m map[string]types.AttributeValue) (*pcx.Event, error) {
	it := item{m: m}
	ev := &pcx.Event{
		ID: it.str("event_id"), OrgID: it.str("org_id"), WorkflowID: it.str("workflow_id"),
		Source: it.str("source"), Type: it.str("event_type"), CreatedAt: it.time("created_at"), Payload: it.bytes("payload"),
		EndpointCount: int(it.num("endpoint_count")),
	}
	if ev.Type == "" {
		ev.Type = pcx.DefaultEventType // stored before events had types
	}
	if it.err != nil {
		return nil, pcx.Wrap(pcx.EInternal, it.err, "")
	}
	return ev, nil
}

// RecordFirstAttempts records the first attempts of a batch of deliveries of one event (or their
// cancellations before any). This is the write path of almost every delivery: one conditional
// PutItem each (firstWrites at a time), nothing before the attempt.
//
// A first attempt never overwrites a record: the put is written only where the delivery has none.
// Where it has one (a replay, a reset workflow, or a retry that got there first: a write of a
// stalled worker or a timed-out RecordOutcomes landing late), the attempt is added with
// RecordDelivery instead, which keeps the earlier attempts counting and takes it only if it is
// newer than the last one recorded. Writing the same records again after a partial failure
// changes nothing that was written. A record's Run, the run whose batch wrote it, is kept in
// either case (RecordedByRun reads it).
func (s *Store) RecordFirstAttempts(ctx context.Context, ev *pcx.Event, recs []pcx.Delivery, expires time.Time) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(firstWrites)
	for _, r := range recs {
		g.Go(func() error { return s.recordFirstAttempt(gctx, ev, r, expires) })
	}
	return g.Wait()
}

// firstWrites bounds the first-attempt writes of one batch in flight at once.
const firstWrites = 25

func (s *Store) recordFirstAttempt(ctx context.Context, ev *pcx.Event, r pcx.Delivery, expires time.Time) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           &s.table,
		Item:                firstAttemptItem(ev, r, expires),
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	if isConditionFailed(err) {
		return s.RecordDelivery(ctx, ev, r, expires)
	}
	return translate(err)
}

// attrRun names the run whose first-attempt batch wrote a delivery record (pcx.Delivery.Run).
const attrRun = "first_run"

func endpointDeliveriesPK(webhookID string) string { return "WH#" + webhookID + "#DLV" }

// listEntry is what a delivery record carries for its endpoint's delivery list (GSI2): the
// index's keys, and the event's type and creation time, which the list shows beside the
// delivery's own state. Every write of a record sets them, so a record written before they were
// kept is listed from its next write on.
func listEntry(ev *pcx.Event, webhookID string) map[string]types.AttributeValue {
	m := map[string]types.AttributeValue{
		attrGSI2PK: avS(endpointDeliveriesPK(webhookID)), attrGSI2SK: avS(ev.ID), "event_type": avS(ev.EventType()),
	}
	if !ev.CreatedAt.IsZero() {
		m["created_at"] = avTime(ev.CreatedAt)
	}
	return m
}

// withListEntry adds listEntry to an update's SET clauses.
func withListEntry(set []string, vals map[string]types.AttributeValue, ev *pcx.Event, webhookID string) []string {
	for name, v := range listEntry(ev, webhookID) {
		vals[":le_"+name] = v
		set = append(set, name+" = :le_"+name)
	}
	return set
}

// withRun adds to an update's SET clauses the run that wrote a first attempt, if d names one: a
// replay's or a reset run's first attempt lands on the record of an earlier run, and a batch of
// that new run that runs again must find it its own.
func withRun(set []string, vals map[string]types.AttributeValue, d pcx.Delivery) []string {
	if d.Run == "" {
		return set
	}
	vals[":run"] = avS(d.Run)
	return append(set, attrRun+" = :run")
}

// RecordedByRun returns the records among the event's deliveries to ids whose first attempt a
// batch of run wrote, by webhook ID: one consistent query over the range of the IDs (a batch of
// one page's IDs is contiguous in ID order), projected to what an outcome needs. Records of other
// runs, and records written before the run was kept, are not returned.
func (s *Store) RecordedByRun(ctx context.Context, eventID, run string, ids []string) (map[string]*pcx.Delivery, error) {
	out := map[string]*pcx.Delivery{}
	if len(ids) == 0 || run == "" {
		return out, nil
	}
	lo, hi := ids[0], ids[0]
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		lo, hi = min(lo, id), max(hi, id)
		want[id] = true
	}
	in := &dynamodb.QueryInput{
		TableName:                &s.table,
		KeyConditionExpression:   aws.String("PK = :pk AND SK BETWEEN :lo AND :hi"),
		FilterExpression:         aws.String(attrRun + " = :run"),
		ProjectionExpression:     aws.String("webhook_id, #status, attempts, last_attempt_at, " + attrRun),
		ExpressionAttributeNames: map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avS(eventPK(eventID)), ":lo": avS("DLV#" + lo), ":hi": avS("DLV#" + hi), ":run": avS(run),
		},
		ConsistentRead: aws.Bool(true),
	}
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, translate(err)
		}
		for _, m := range page.Items {
			d, err := decodeDelivery(eventID, m)
			if err != nil {
				return nil, err
			}
			if want[d.WebhookID] {
				out[d.WebhookID] = d
			}
		}
		if page.LastEvaluatedKey == nil {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// firstAttemptItem is the whole delivery record after its first attempt (or cancellation).
func firstAttemptItem(ev *pcx.Event, r pcx.Delivery, expires time.Time) map[string]types.AttributeValue {
	it := deliveryKey(ev.ID, r.WebhookID)
	for name, v := range listEntry(ev, r.WebhookID) {
		it[name] = v
	}
	it["webhook_id"] = avS(r.WebhookID)
	it["endpoint_url"] = avS(r.EndpointURL)
	it["status"] = avS(string(r.Status))
	it[attrTTL] = ttlAt(expires)
	if r.Run != "" {
		it[attrRun] = avS(r.Run)
	}
	if r.Attempt == nil {
		it["attempts"] = avN(0)
		it["last_error"] = avS(r.Reason)
		return it
	}
	a := r.Attempt
	it["attempts"] = avN(1)
	it["last_status_code"] = avN(int64(a.StatusCode))
	it["last_attempt_at"] = avTime(a.At)
	if a.ErrorClass != "" {
		it["last_error"] = avS(a.ErrorClass)
	} else {
		it["delivered_at"] = avTime(a.At)
	}
	it["log"] = &types.AttributeValueMemberL{Value: []types.AttributeValue{attemptEntry(*a)}}
	return it
}

// attemptEntry is one attempt as the delivery record's log lists it.
func attemptEntry(a pcx.Attempt) types.AttributeValue {
	entry := map[string]types.AttributeValue{"at": avTime(a.At), "code": avN(int64(a.StatusCode)), "ms": avN(a.Duration.Milliseconds())}
	if a.ErrorClass != "" {
		entry["err"] = avS(a.ErrorClass)
	}
	if a.ResponseBody != "" {
		entry["body"] = avS(a.ResponseBody)
	}
	if a.ResponseTruncated {
		entry["cut"] = &types.AttributeValueMemberBOOL{Value: true}
	}
	return &types.AttributeValueMemberM{Value: entry}
}

// MaxAttemptLog bounds the attempts a delivery record lists; its attempt count keeps counting.
const MaxAttemptLog = 25

// RecordDelivery records a delivery's new status: with its attempt (d.Attempt), or, for a
// cancellation without a send, with its reason (d.Reason).
func (s *Store) RecordDelivery(ctx context.Context, ev *pcx.Event, d pcx.Delivery, expires time.Time) error {
	if d.Attempt == nil {
		return s.setDeliveryStatus(ctx, ev, d, expires)
	}
	return s.recordAttempt(ctx, ev, d, expires)
}

// recordAttempt records one attempt of a delivery and its resulting status, in one write. The
// attempt count is incremented in place, so attempts of a reset or replayed workflow add up and
// never collide. An attempt is written only if it is newer than the last one recorded: writing
// the same attempt again (a retried record) changes nothing, and a late record of an earlier
// attempt never overwrites the outcome of a later one.
func (s *Store) recordAttempt(ctx context.Context, ev *pcx.Event, d pcx.Delivery, expires time.Time) error {
	eventID := ev.ID
	a := *d.Attempt
	set := []string{
		"#status = :status", "webhook_id = :wid", "endpoint_url = :url", "last_status_code = :code",
		"last_attempt_at = :at", "#log = list_append(if_not_exists(#log, :empty), :entry)", "#ttl = :ttl",
	}
	vals := map[string]types.AttributeValue{
		":status": avS(string(d.Status)), ":wid": avS(d.WebhookID), ":url": avS(d.EndpointURL),
		":code": avN(int64(a.StatusCode)), ":at": avTime(a.At), ":one": avN(1),
		":empty": &types.AttributeValueMemberL{}, ":ttl": ttlAt(expires),
		":entry": &types.AttributeValueMemberL{Value: []types.AttributeValue{attemptEntry(a)}},
	}
	set = withListEntry(withRun(set, vals, d), vals, ev, d.WebhookID)
	expr := ""
	if a.ErrorClass != "" {
		set = append(set, "last_error = :err")
		vals[":err"] = avS(a.ErrorClass)
		expr = " REMOVE delivered_at"
	} else {
		set = append(set, "delivered_at = :at")
		expr = " REMOVE last_error"
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       deliveryKey(eventID, d.WebhookID),
		ConditionExpression:       aws.String("attribute_not_exists(last_attempt_at) OR last_attempt_at < :at"),
		UpdateExpression:          aws.String("SET " + strings.Join(set, ", ") + " ADD attempts :one" + expr),
		ExpressionAttributeNames:  map[string]string{"#status": "status", "#log": "log", "#ttl": attrTTL},
		ExpressionAttributeValues: vals,
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if isConditionFailed(err) {
		return nil // this attempt, or a later one, is already recorded
	}
	if err != nil {
		return translate(err)
	}
	// Trim the log from the front once it is over its bound (rare: a long-failing endpoint that
	// was also replayed), in a second write.
	if l, ok := out.Attributes["log"].(*types.AttributeValueMemberL); ok && len(l.Value) > MaxAttemptLog {
		excess := len(l.Value) - MaxAttemptLog
		paths := make([]string, excess)
		for i := range paths {
			paths[i] = "#log[" + strconv.Itoa(i) + "]"
		}
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: deliveryKey(eventID, d.WebhookID),
			UpdateExpression:         aws.String("REMOVE " + strings.Join(paths, ", ")),
			ExpressionAttributeNames: map[string]string{"#log": "log"},
		})
		return translate(err)
	}
	return nil
}

// setDeliveryStatus sets a delivery's status without an attempt (an endpoint deleted or disabled
// before delivery: cancelled), keeping its reason as the last error.
func (s *Store) setDeliveryStatus(ctx context.Context, ev *pcx.Event, d pcx.Delivery, expires time.Time) error {
	vals := map[string]types.AttributeValue{
		":status": avS(string(d.Status)), ":wid": avS(d.WebhookID), ":reason": avS(d.Reason),
		":ttl": ttlAt(expires), ":zero": avN(0),
	}
	set := withRun([]string{"#status = :status", "webhook_id = :wid", "last_error = :reason", "#ttl = :ttl"}, vals, d)
	set = withListEntry(set, vals, ev, d.WebhookID)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: deliveryKey(ev.ID, d.WebhookID),
		UpdateExpression:          aws.String("SET " + strings.Join(set, ", ") + " ADD attempts :zero"),
		ExpressionAttributeNames:  map[string]string{"#status": "status", "#ttl": attrTTL},
		ExpressionAttributeValues: vals,
	})
	return translate(err)
}

// ListDeliveries returns up to limit of an event's deliveries, by webhook ID.
func (s *Store) ListDeliveries(ctx context.Context, eventID string, limit int, after string) ([]*pcx.Delivery, string, error) {
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :dlv)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avS(eventPK(eventID)), ":dlv": avS("DLV#"),
		},
		ConsistentRead: aws.Bool(true),
	}
	start := func(after string) map[string]types.AttributeValue {
		if !pcx.ValidID("wh", after) {
			return nil
		}
		return deliveryKey(eventID, after)
	}
	decode := func(m map[string]types.AttributeValue) (*pcx.Delivery, error) { return decodeDelivery(eventID, m) }
	return listPage(ctx, s, in, limit, after, start, decode, func(d *pcx.Delivery) string { return d.WebhookID })
}

// DeliveryFilter narrows ListEndpointDeliveries: one status, and a window of the events'
// creation times, Since included and Until excluded. A zero field does not narrow.
type DeliveryFilter struct {
	Status       pcx.DeliveryStatus
	Since, Until time.Time
}

// ListEndpointDeliveries returns up to limit of an endpoint's deliveries, newest event first,
// without their attempt logs, from the endpoint's partition of GSI2 (eventually consistent). As
// ListEvents, the window is a range of event IDs and the status a filter read on until the page
// is full. A record written before GSI2 existed is listed from its next write on. The caller
// checks that the endpoint is its own.
func (s *Store) ListEndpointDeliveries(ctx context.Context, webhookID string, f DeliveryFilter, limit int, after string) ([]*pcx.Delivery, string, error) {
	keyOf := func(eventID string) map[string]types.AttributeValue { return deliveryKey(eventID, webhookID) }
	in, start, ok := s.windowQuery(endpointDeliveriesPK(webhookID), f.Since, f.Until, keyOf)
	if !ok {
		return nil, "", nil
	}
	if f.Status != "" {
		in.FilterExpression = aws.String("#status = :status")
		in.ExpressionAttributeNames = map[string]string{"#status": "status"}
		in.ExpressionAttributeValues[":status"] = avS(string(f.Status))
	}
	decode := func(m map[string]types.AttributeValue) (*pcx.Delivery, error) {
		return decodeDelivery(strings.TrimPrefix((&item{m: m}).str(attrPK), "EVT#"), m)
	}
	return listPage(ctx, s, in, limit, after, start, decode, func(d *pcx.Delivery) string { return d.EventID })
}

// DeliveriesOf returns the records of an event's deliveries to the endpoints ids, by webhook ID,
// in batched consistent reads; an endpoint without a record is absent from the map.
func (s *Store) DeliveriesOf(ctx context.Context, eventID string, ids []string) (map[string]*pcx.Delivery, error) {
	out := make(map[string]*pcx.Delivery, len(ids))
	keyOf := func(id string) map[string]types.AttributeValue { return deliveryKey(eventID, id) }
	err := s.batchGet(ctx, ids, keyOf, func(m map[string]types.AttributeValue) error {
		d, err := decodeDelivery(eventID, m)
		if err == nil {
			out[d.WebhookID] = d
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func decodeDelivery(eventID string, m map[string]types.AttributeValue) (*pcx.Delivery, error) {
	it := item{m: m}
	d := &pcx.Delivery{
		EventID: eventID, WebhookID: it.str("webhook_id"), EndpointURL: it.str("endpoint_url"),
		Status: pcx.DeliveryStatus(it.str("status")), Attempts: int(it.num("attempts")),
		LastStatusCode: int(it.num("last_status_code")), LastError: it.str("last_error"),
		LastAttemptAt: it.timePtr("last_attempt_at"), DeliveredAt: it.timePtr("delivered_at"),
		Run: it.str(attrRun), EventType: it.str("event_type"), EventCreatedAt: it.time("created_at"),
	}
	if l, ok := m["log"].(*types.AttributeValueMemberL); ok {
		for _, v := range l.Value {
			em, ok := v.(*types.AttributeValueMemberM)
			if !ok {
				continue
			}
			e := item{m: em.Value}
			cut, _ := em.Value["cut"].(*types.AttributeValueMemberBOOL)
			d.Log = append(d.Log, pcx.Attempt{
				At: e.time("at"), StatusCode: int(e.num("code")), ErrorClass: e.str("err"),
				Duration:     time.Duration(e.num("ms")) * time.Millisecond,
				ResponseBody: e.str("body"), ResponseTruncated: cut != nil && cut.Value,
			})
			if e.err != nil {
				it.err = e.err
			}
		}
	}
	if it.err != nil {
		return nil, pcx.Wrap(pcx.EInternal, it.err, "")
	}
	return d, nil
}
