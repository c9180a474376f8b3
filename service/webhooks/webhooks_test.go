package webhooks

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
	"github.com/pcx/publicservice/workflows"
)

// fakeStore and fakeStarter are in-memory stand-ins for unit tests of this package; e2e/ runs the
// same use cases on DynamoDB Local and Temporal.
type fakeStore struct {
	mu       sync.Mutex
	hooks    map[string]*pcx.Webhook
	events   map[string]*pcx.Event
	idem     map[string]*pcx.Idempotency
	dels     map[string][]*pcx.Delivery // by event ID
	replays  map[string]pcx.ReplayClaim // by event ID
	delReads int
	active   int
	subs     [][]string // the event_types of the first active endpoints; the rest subscribe to all
	counts   int
	listed   []store.EventFilter // the filters ListEvents was called with
	failNext error
}

func newFakeStore() *fakeStore {
	return &fakeStore{hooks: map[string]*pcx.Webhook{}, events: map[string]*pcx.Event{}, idem: map[string]*pcx.Idempotency{}}
}

func (f *fakeStore) CreateWebhook(_ context.Context, w *pcx.Webhook, max int, _ *pcx.AuditRecord) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.hooks) >= max {
		return pcx.Errorf(pcx.EConflict, "limit")
	}
	f.hooks[w.OrgID+"/"+w.ID] = w
	return nil
}
func (f *fakeStore) Webhook(_ context.Context, org, id string) (*pcx.Webhook, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if w, ok := f.hooks[org+"/"+id]; ok {
		return w, nil
	}
	return nil, pcx.Errorf(pcx.ENotFound, "Webhook not found")
}
func (f *fakeStore) ListWebhooks(_ context.Context, org string, _ int, _ string) ([]*pcx.Webhook, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*pcx.Webhook
	for _, w := range f.hooks {
		if w.OrgID == org {
			out = append(out, w)
		}
	}
	return out, "", nil
}
func (f *fakeStore) UpdateWebhook(_ context.Context, org, id string, p store.WebhookPatch, _ *pcx.AuditRecord) (*pcx.Webhook, error) {
	return &pcx.Webhook{ID: id, OrgID: org}, nil
}
func (f *fakeStore) RotateWebhookSecret(_ context.Context, org, id string, key []byte, grace time.Duration, _ *pcx.AuditRecord) (*pcx.Webhook, error) {
	return &pcx.Webhook{ID: id, OrgID: org, Secrets: []pcx.WebhookSecret{{Key: key}}}, nil
}
func (f *fakeStore) ActiveSubscriptions(context.Context, string) ([][]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts++
	subs := append([][]string(nil), f.subs...)
	for len(subs) < f.active {
		subs = append(subs, nil)
	}
	return subs, nil
}
func (f *fakeStore) DeleteWebhook(_ context.Context, org, id string, _ *pcx.AuditRecord) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.hooks, org+"/"+id)
	return nil
}
func (f *fakeStore) CreateEvent(_ context.Context, ev *pcx.Event, _ time.Duration, _ *pcx.AuditRecord) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failNext != nil {
		err := f.failNext
		f.failNext = nil
		return err
	}
	if _, ok := f.events[ev.ID]; !ok {
		f.events[ev.ID] = ev
	}
	return nil
}
func (f *fakeStore) EventOf(ctx context.Context, org, id string) (*pcx.Event, error) {
	ev, err := f.EventWithPayloadOf(ctx, org, id)
	if err != nil {
		return nil, err
	}
	without := *ev
	without.Payload = nil
	return &without, nil
}
func (f *fakeStore) EventWithPayloadOf(_ context.Context, org, id string) (*pcx.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ev, ok := f.events[id]; ok && ev.OrgID == org {
		return ev, nil
	}
	return nil, pcx.Errorf(pcx.ENotFound, "Event not found")
}
func (f *fakeStore) ListDeliveries(_ context.Context, eventID string, _ int, after string) ([]*pcx.Delivery, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delReads++
	return f.dels[eventID], after + "+", nil
}
func (f *fakeStore) ClaimIdempotency(_ context.Context, rec *pcx.Idempotency, _ time.Duration) (*pcx.Idempotency, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := rec.OrgID + string(rec.KeyHash)
	if old, ok := f.idem[k]; ok {
		cp := *old
		return &cp, nil
	}
	cp := *rec
	f.idem[k] = &cp
	return nil, nil
}
func (f *fakeStore) ClaimReplay(_ context.Context, c pcx.ReplayClaim, over string, _ time.Time, _ *pcx.AuditRecord) (*pcx.ReplayClaim, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.replays == nil {
		f.replays = map[string]pcx.ReplayClaim{}
	}
	if old, ok := f.replays[c.EventID]; ok && old.WorkflowID != over {
		return &old, nil
	}
	f.replays[c.EventID] = c
	return nil, nil
}
func (f *fakeStore) ReleaseReplay(_ context.Context, eventID, workflowID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.replays[eventID].WorkflowID == workflowID {
		delete(f.replays, eventID)
	}
	return nil
}
func (f *fakeStore) CompleteIdempotency(_ context.Context, rec *pcx.Idempotency) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := rec.OrgID + string(rec.KeyHash)
	f.idem[k].RunID, f.idem[k].EndpointCount = rec.RunID, rec.EndpointCount
	return nil
}

type fakeStarter struct {
	mu       sync.Mutex
	started  map[string]workflows.EventInput
	finished map[string]bool
	err      error
}

// finish makes a started workflow closed: Running reports it as existing and not running.
func (f *fakeStarter) finish(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.finished == nil {
		f.finished = map[string]bool{}
	}
	f.finished[id] = true
}

func (f *fakeStarter) Running(_ context.Context, id string) (running, exists bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, exists = f.started[id]
	return exists && !f.finished[id], exists, nil
}

func (f *fakeStarter) StartRecovery(ctx context.Context, id string, in workflows.RecoveryInput) (string, error) {
	return f.Start(ctx, id, workflows.EventInput{OrgID: in.OrgID})
}

func (f *fakeStarter) Start(_ context.Context, id string, in workflows.EventInput) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return "", f.err
	}
	if f.started == nil {
		f.started = map[string]workflows.EventInput{}
	}
	f.started[id] = in
	return "run-of-" + id, nil
}

type fakeURLs struct{}

func (fakeURLs) ValidateURL(_ context.Context, raw string) (*url.URL, error) {
	if !strings.HasPrefix(raw, "https://") {
		return nil, errors.New("endpoint_url must use https")
	}
	return url.Parse(raw)
}

func newService() (*Service, *fakeStore, *fakeStarter) {
	st, sr := newFakeStore(), &fakeStarter{}
	return &Service{Store: st, Starter: sr, URLs: fakeURLs{}, Log: zerolog.Nop(), MaxEndpoints: 10, SecretGrace: time.Hour, Retention: time.Hour}, st, sr
}

func code(err error) pcx.Code { return pcx.ErrorCode(err) }

func TestNotifyValidates(t *testing.T) {
	s, _, sr := newService()
	big := `{"a":"` + strings.Repeat("x", MaxPayloadBytes) + `"}`
	for _, tc := range []struct {
		payload, key string
		want         pcx.Code
	}{
		{"", "", pcx.EInvalid},
		{"[1]", "", pcx.EInvalid},
		{`"s"`, "", pcx.EInvalid},
		{big, "", pcx.ETooLarge},
		{`{}`, "has space", pcx.EInvalid},
		{`{}`, strings.Repeat("k", 256), pcx.EInvalid},
		{`{}`, "é", pcx.EInvalid},
	} {
		if _, err := s.Notify(opCtx, NotifyInput{OrgID: "o", Payload: []byte(tc.payload), IdempotencyKey: tc.key}); code(err) != tc.want {
			t.Errorf("Notify(%.20q, key %.10q) = %v, want %s", tc.payload, tc.key, err, tc.want)
		}
	}
	if len(sr.started) != 0 {
		t.Fatalf("invalid notifies started %d workflows", len(sr.started))
	}
}

func TestNotifyStartsTheEventWorkflow(t *testing.T) {
	s, st, sr := newService()
	st.active = 4
	acc, err := s.Notify(opCtx, NotifyInput{OrgID: "org", Payload: []byte(` {"a": 1} `), Source: "notify"})
	if err != nil {
		t.Fatal(err)
	}
	if acc.WorkflowID != workflows.EventWorkflowID(acc.EventID) || acc.RunID != "run-of-"+acc.WorkflowID || acc.EndpointCount != 4 {
		t.Fatalf("accepted %+v", acc)
	}
	if in := sr.started[acc.WorkflowID]; in.EventID != acc.EventID || in.OrgID != "org" || len(in.WebhookIDs) != 0 {
		t.Fatalf("workflow input %+v", in)
	}
	if ev := st.events[acc.EventID]; string(ev.Payload) != ` {"a": 1} ` || ev.Source != "notify" {
		t.Fatalf("stored event %+v: payload must be kept byte for byte", ev)
	}
	// Temporal down: no 202.
	sr.err = pcx.Errorf(pcx.EUnavailable, "down")
	if _, err := s.Notify(opCtx, NotifyInput{OrgID: "org", Payload: []byte(`{}`)}); code(err) != pcx.EUnavailable {
		t.Fatalf("Notify with Temporal down = %v, want EUnavailable", err)
	}
}

func TestNotifyIdempotency(t *testing.T) {
	s, st, sr := newService()
	in := NotifyInput{OrgID: "org", Payload: []byte(`{"a":1}`), Source: "notify", IdempotencyKey: "order-42"}
	first, err := s.Notify(opCtx, in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Notify(opCtx, in)
	if err != nil || again != first {
		t.Fatalf("repeat = %+v, %v; want %+v", again, err, first)
	}
	if len(sr.started) != 1 || len(st.events) != 1 {
		t.Fatalf("repeat started %d workflows and stored %d events, want 1 and 1", len(sr.started), len(st.events))
	}
	other := in
	other.Payload = []byte(`{"a":2}`)
	if _, err := s.Notify(opCtx, other); code(err) != pcx.EConflict {
		t.Fatalf("same key, other body = %v, want EConflict", err)
	}
	// The same key from another organisation is another request.
	otherOrg := in
	otherOrg.OrgID = "org-2"
	if acc, err := s.Notify(opCtx, otherOrg); err != nil || acc.EventID == first.EventID {
		t.Fatalf("other org = %+v, %v; want a new event", acc, err)
	}

	// A first request that died after claiming the key (no run ID recorded) is finished by the
	// repeat, with the first request's IDs.
	in.IdempotencyKey = "order-43"
	st.failNext = pcx.Errorf(pcx.EUnavailable, "db down")
	if _, err := s.Notify(opCtx, in); code(err) != pcx.EUnavailable {
		t.Fatalf("first attempt = %v, want EUnavailable", err)
	}
	resumed, err := s.Notify(opCtx, in)
	if err != nil {
		t.Fatal(err)
	}
	var claimed *pcx.Idempotency
	for _, r := range st.idem {
		if r.EventID == resumed.EventID {
			claimed = r
		}
	}
	if claimed == nil || claimed.RunID != resumed.RunID {
		t.Fatalf("the resumed notify used event %s, not the one its claim recorded", resumed.EventID)
	}
}

func TestEndpointValidation(t *testing.T) {
	s, _, _ := newService()
	ctx := opCtx
	if _, err := s.CreateEndpoint(ctx, "o", NewEndpoint{URL: "http://x", Description: ""}); code(err) != pcx.EInvalid {
		t.Fatalf("http URL = %v, want EInvalid", err)
	}
	if _, err := s.CreateEndpoint(ctx, "o", NewEndpoint{URL: "https://x", Description: strings.Repeat("d", 501)}); code(err) != pcx.EInvalid {
		t.Fatalf("long description = %v, want EInvalid", err)
	}
	w, err := s.CreateEndpoint(ctx, "o", NewEndpoint{URL: "https://x/hook", Description: "line one\nline two"})
	if err != nil || len(w.Secrets) != 1 || len(w.Secrets[0].Key) != 32 || w.Status != pcx.WebhookActive {
		t.Fatalf("CreateEndpoint = %+v, %v", w, err)
	}
	bad := pcx.WebhookStatus("paused")
	if _, err := s.UpdateEndpoint(ctx, "o", w.ID, Patch{Status: &bad}); code(err) != pcx.EInvalid {
		t.Fatalf("status paused = %v, want EInvalid", err)
	}
	if _, err := s.UpdateEndpoint(ctx, "o", w.ID, Patch{}); code(err) != pcx.EInvalid {
		t.Fatalf("empty patch = %v, want EInvalid", err)
	}
	for _, g := range []time.Duration{-time.Second, MaxGrace + time.Second} {
		if _, err := s.RotateSecret(ctx, "o", w.ID, &g); code(err) != pcx.EInvalid {
			t.Fatalf("grace %v = %v, want EInvalid", g, err)
		}
	}
}

func TestReplay(t *testing.T) {
	s, st, sr := newService()
	ctx := opCtx
	st.active = 2
	acc, _ := s.Notify(ctx, NotifyInput{OrgID: "org", Payload: []byte(`{}`)})
	w, _ := s.CreateEndpoint(ctx, "org", NewEndpoint{URL: "https://x", Description: ""})
	if _, err := s.Replay(ctx, "org-2", acc.EventID, nil); code(err) != pcx.ENotFound {
		t.Fatalf("replay of another org's event = %v, want ENotFound", err)
	}
	if _, err := s.Replay(ctx, "org", acc.EventID, []string{pcx.NewID("wh", time.Now())}); code(err) != pcx.EInvalid {
		t.Fatalf("replay to an unknown webhook = %v, want EInvalid", err)
	}
	ids := make([]string, MaxReplayWebhookIDs+1)
	if _, err := s.Replay(ctx, "org", acc.EventID, ids); code(err) != pcx.EInvalid {
		t.Fatalf("replay to 101 webhooks = %v, want EInvalid", err)
	}
	rep, err := s.Replay(ctx, "org", acc.EventID, []string{w.ID})
	if err != nil || rep.EventID != acc.EventID || rep.WorkflowID == acc.WorkflowID || !strings.HasPrefix(rep.WorkflowID, acc.WorkflowID+"-replay-") || rep.EndpointCount != 1 {
		t.Fatalf("Replay = %+v, %v", rep, err)
	}
	if in := sr.started[rep.WorkflowID]; len(in.WebhookIDs) != 1 || in.WebhookIDs[0] != w.ID {
		t.Fatalf("replay input %+v, want the one webhook once", in)
	}
	sr.finish(rep.WorkflowID)
	all, err := s.Replay(ctx, "org", acc.EventID, nil)
	if err != nil || all.EndpointCount != 2 || len(sr.started[all.WorkflowID].WebhookIDs) != 0 {
		t.Fatalf("replay to all = %+v, %v", all, err)
	}
}

// A replay's webhook_ids are checked before anything is read or started: each the shape of a
// webhook ID, none twice, at most MaxReplayWebhookIDs; the error names the field.
func TestReplayValidatesWebhookIDs(t *testing.T) {
	s, st, sr := newService()
	ctx := opCtx
	st.active = 1
	acc, _ := s.Notify(ctx, NotifyInput{OrgID: "org", Payload: []byte(`{}`)})
	w, _ := s.CreateEndpoint(ctx, "org", NewEndpoint{URL: "https://x"})
	started := len(sr.started)
	for name, ids := range map[string][]string{
		"empty string": {""},
		"1 KiB":        {"wh_" + strings.Repeat("a", 1021)},
		"another kind": {strings.Replace(w.ID, "wh_", "ev_", 1)},
		"upper case":   {strings.ToUpper(w.ID)},
		"duplicate":    {w.ID, w.ID},
		"101":          manyWebhookIDs(MaxReplayWebhookIDs + 1),
	} {
		_, err := s.Replay(ctx, "org", acc.EventID, ids)
		var perr *pcx.Error
		if !errors.As(err, &perr) || perr.Code != pcx.EInvalid || perr.Fields["webhook_ids"] == "" {
			t.Errorf("%s: Replay = %v, want EInvalid naming webhook_ids", name, err)
		}
	}
	if len(sr.started) != started {
		t.Errorf("a refused replay started a workflow: %v", sr.started)
	}
	if _, err := s.Replay(ctx, "org", acc.EventID, manyWebhookIDs(MaxReplayWebhookIDs)); code(err) != pcx.EInvalid || strings.Contains(err.Error(), "at most") {
		t.Errorf("100 well-formed unknown IDs = %v, want EInvalid for the unknown webhook, not the bound", err)
	}
}

func manyWebhookIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = pcx.NewID("wh", time.Now())
	}
	return ids
}

// endpoint_count is counted at most once a second per organisation, and at once again after
// this instance changed the organisation's endpoints.
func TestEndpointCountIsCachedBriefly(t *testing.T) {
	s, st, _ := newService()
	now := time.Unix(1000, 0)
	s.Now = func() time.Time { return now }
	ctx := opCtx
	notifyCount := func() int {
		t.Helper()
		acc, err := s.Notify(ctx, NotifyInput{OrgID: "org", Payload: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		return acc.EndpointCount
	}
	st.active = 3
	if n := notifyCount(); n != 3 {
		t.Fatalf("endpoint_count = %d, want 3", n)
	}
	st.active = 4 // changed by another instance
	if n := notifyCount(); n != 3 || st.counts != 1 {
		t.Fatalf("within the second: count %d after %d store counts, want the cached 3 after 1", n, st.counts)
	}
	now = now.Add(countTTL)
	if n := notifyCount(); n != 4 {
		t.Fatalf("after a second: endpoint_count = %d, want 4", n)
	}
	// This instance's own change is seen at once.
	w, err := s.CreateEndpoint(ctx, "org", NewEndpoint{URL: "https://x/new", Description: ""})
	if err != nil {
		t.Fatal(err)
	}
	st.active = 5
	if n := notifyCount(); n != 5 {
		t.Fatalf("after registering: endpoint_count = %d, want 5", n)
	}
	if err := s.DeleteEndpoint(ctx, "org", w.ID); err != nil {
		t.Fatal(err)
	}
	st.active = 4
	if n := notifyCount(); n != 4 {
		t.Fatalf("after deleting: endpoint_count = %d, want 4", n)
	}
	disabled := pcx.WebhookDisabled
	if _, err := s.UpdateEndpoint(ctx, "org", w.ID, Patch{Status: &disabled}); err != nil {
		t.Fatal(err)
	}
	st.active = 2
	if n := notifyCount(); n != 2 {
		t.Fatalf("after disabling: endpoint_count = %d, want 2", n)
	}
}

func TestEndpointReads(t *testing.T) {
	s, _, _ := newService()
	ctx := opCtx
	w, err := s.CreateEndpoint(ctx, "org", NewEndpoint{URL: "https://hooks.example.com/a", Description: ""})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Endpoint(ctx, "org", w.ID); err != nil || got.ID != w.ID {
		t.Fatalf("Endpoint = %+v, %v; want %s", got, err, w.ID)
	}
	if _, err := s.Endpoint(ctx, "other", w.ID); code(err) != pcx.ENotFound {
		t.Fatalf("Endpoint of another organisation = %v, want not found", err)
	}
	if list, _, err := s.ListEndpoints(ctx, "org", 10, ""); err != nil || len(list) != 1 || list[0].ID != w.ID {
		t.Fatalf("ListEndpoints = %v, %v; want [%s]", list, err, w.ID)
	}
}

// The deliveries of an event are stored under the event alone: they are read only once the
// event is known to be the caller's.
func TestEventStatus(t *testing.T) {
	s, st, _ := newService()
	ctx := opCtx
	acc, err := s.Notify(ctx, NotifyInput{OrgID: "org", Payload: []byte(`{"a":1}`), Source: "notify"})
	if err != nil {
		t.Fatal(err)
	}
	st.dels = map[string][]*pcx.Delivery{acc.EventID: {{EventID: acc.EventID, WebhookID: "wh_a", Status: pcx.DeliveryDelivered}}}
	if _, err := s.EventStatus(ctx, "other", acc.EventID, 10, ""); code(err) != pcx.ENotFound || st.delReads != 0 {
		t.Fatalf("EventStatus of another organisation's event = %v after %d delivery reads, want not found after none", err, st.delReads)
	}
	got, err := s.EventStatus(ctx, "org", acc.EventID, 10, "pos")
	if err != nil || got.Event.ID != acc.EventID || string(got.Event.Payload) != `{"a":1}` || len(got.Deliveries) != 1 || got.Deliveries[0].WebhookID != "wh_a" || got.Next != "pos+" {
		t.Fatalf("EventStatus = %+v, %v; want the event with its payload, its delivery and the store's next position", got, err)
	}
}

func (f *fakeStore) ListEvents(_ context.Context, _ string, filter store.EventFilter, _ int, after string) ([]*pcx.Event, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listed = append(f.listed, filter)
	return nil, after + "+", nil
}

// The event's list entry keeps the endpoint count of the reply that accepted it.
func TestNotifyStoresTheEndpointCount(t *testing.T) {
	s, st, _ := newService()
	st.active = 3
	acc, err := s.Notify(opCtx, NotifyInput{OrgID: "org", Payload: []byte(`{}`), Source: "notify"})
	if err != nil {
		t.Fatal(err)
	}
	if ev := st.events[acc.EventID]; acc.EndpointCount != 3 || ev.EndpointCount != 3 {
		t.Fatalf("reply counted %d, stored event %+v; want 3 in both", acc.EndpointCount, ev)
	}
}

// ListEvents refuses a malformed type and an empty window before reading; an operational type is
// a type to filter by.
func TestListEventsChecksTheFilter(t *testing.T) {
	s, st, _ := newService()
	ctx := opCtx
	t0 := time.Now()
	for _, f := range []store.EventFilter{
		{Type: "Refund"}, {Type: "a.*"}, {Since: t0, Until: t0}, {Since: t0, Until: t0.Add(-time.Second)},
	} {
		if _, _, err := s.ListEvents(ctx, "org", f, 10, ""); code(err) != pcx.EInvalid {
			t.Errorf("ListEvents(%+v) = %v, want invalid", f, err)
		}
	}
	if len(st.listed) != 0 {
		t.Fatalf("invalid filters read the store: %+v", st.listed)
	}
	for _, f := range []store.EventFilter{{}, {Type: "refund.created"}, {Type: pcx.EventEndpointDisabled}, {Since: t0, Until: t0.Add(time.Second)}} {
		if _, next, err := s.ListEvents(ctx, "org", f, 10, "pos"); err != nil || next != "pos+" {
			t.Errorf("ListEvents(%+v) = %q, %v; want the store's page", f, next, err)
		}
	}
}

func (f *fakeStore) ListEndpointDeliveries(_ context.Context, webhookID string, _ store.DeliveryFilter, _ int, after string) ([]*pcx.Delivery, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.delReads++
	return []*pcx.Delivery{{WebhookID: webhookID}}, after + "+", nil
}

// An endpoint's deliveries are read only once the endpoint is the caller's; a malformed status
// or an empty window is refused first.
func TestEndpointDeliveries(t *testing.T) {
	s, st, _ := newService()
	ctx := opCtx
	hook, err := s.CreateEndpoint(ctx, "org", NewEndpoint{URL: "https://hooks.example.com/a"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	for _, f := range []store.DeliveryFilter{{Status: "done"}, {Since: t0, Until: t0}} {
		if _, _, err := s.EndpointDeliveries(ctx, "org", hook.ID, f, 10, ""); code(err) != pcx.EInvalid {
			t.Errorf("EndpointDeliveries(%+v) = %v, want invalid", f, err)
		}
	}
	if _, _, err := s.EndpointDeliveries(ctx, "other", hook.ID, store.DeliveryFilter{}, 10, ""); code(err) != pcx.ENotFound || st.delReads != 0 {
		t.Fatalf("another organisation's endpoint: %v after %d delivery reads; want not found after none", err, st.delReads)
	}
	dels, next, err := s.EndpointDeliveries(ctx, "org", hook.ID, store.DeliveryFilter{Status: pcx.DeliveryFailed}, 10, "pos")
	if err != nil || len(dels) != 1 || dels[0].WebhookID != hook.ID || next != "pos+" {
		t.Fatalf("EndpointDeliveries = %v, %q, %v; want the store's page", dels, next, err)
	}
}

// opCtx is the context of the tests' changes: an operator's, so each has an actor to audit.
var opCtx = pcx.WithOrigin(context.Background(), pcx.Origin{Actor: pcx.Actor{Operator: "test"}})
