package activities_test

import (
	"context"
	"sort"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

// fakeStore is an in-memory activities.Store that records what the activities asked of it.
type fakeStore struct {
	mu       sync.Mutex
	events   map[string]*pcx.Event
	webhooks map[string]*pcx.Webhook // by ID

	eventReads    int
	pageCalls     []pageCall
	batchReads    []batchReadCall
	firstAttempts []firstAttemptsCall
	attempts      []attemptCall
	statuses      []statusCall
	updates       []updateCall
	// writes lists every attempt written, first attempts of a batch and later ones alike.
	writes []attemptCall
	// deliveries is each delivery's status, by event ID and webhook ID; counts their attempts.
	deliveries map[string]pcx.DeliveryStatus
	counts     map[string]int
	// runs is the run that wrote each delivery's first attempt, lastAt its last attempt's time.
	runs   map[string]string
	lastAt map[string]time.Time
	// runReads counts RecordedByRun calls.
	runReads int
	// healthWrites counts endpoint health writes, claims probe claims.
	healthWrites int
	claims       int

	// Fault injection: when set, these are called first and a non-nil error is returned.
	recordErr  func(status pcx.DeliveryStatus) error // RecordDelivery with an attempt
	firstErr   func() error                          // RecordFirstAttempts
	eventErr   func() error                          // Event
	webhookErr func() error                          // every endpoint read
	updateErr  func() error                          // UpdateWebhook
	// beforeRead, when set, is called with the stored endpoint before every read of one.
	beforeRead func(w *pcx.Webhook)
	// writeCtx, when set, is called with the context of every write of an attempt
	// (RecordFirstAttempts, RecordDelivery with one); a non-nil error is returned.
	writeCtx func(ctx context.Context) error
}

type pageCall struct {
	Org   string
	Limit int
	After string
}

type batchReadCall struct {
	Org string
	IDs []string
}

type firstAttemptsCall struct {
	EventID string
	Records []pcx.Delivery
	Expires time.Time
}

type attemptCall struct {
	EventID   string
	WebhookID string
	Status    pcx.DeliveryStatus
	Attempt   pcx.Attempt
	Expires   time.Time
}

type statusCall struct {
	EventID, WebhookID string
	Status             pcx.DeliveryStatus
	Reason             string
}

type updateCall struct {
	Org, ID string
	Patch   store.WebhookPatch
}

func newFakeStore() *fakeStore {
	return &fakeStore{
		events:     map[string]*pcx.Event{},
		webhooks:   map[string]*pcx.Webhook{},
		deliveries: map[string]pcx.DeliveryStatus{},
		counts:     map[string]int{},
		runs:       map[string]string{},
		lastAt:     map[string]time.Time{},
	}
}

func (f *fakeStore) addEvent(ev *pcx.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events[ev.ID] = ev
}

func (f *fakeStore) addWebhook(w *pcx.Webhook) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.webhooks[w.ID] = w
}

func (f *fakeStore) webhook(id string) pcx.Webhook {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.webhooks[id]
}

func notFound(what string) error { return pcx.Errorf(pcx.ENotFound, "%s not found", what) }

func (f *fakeStore) Event(_ context.Context, id string) (*pcx.Event, error) {
	if f.eventErr != nil {
		if err := f.eventErr(); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.eventReads++
	ev, ok := f.events[id]
	if !ok {
		return nil, notFound("Event")
	}
	cp := *ev
	return &cp, nil
}

func (f *fakeStore) lookup(org, id string, secrets bool) (*pcx.Webhook, error) {
	if f.webhookErr != nil {
		if err := f.webhookErr(); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookupLocked(org, id, secrets)
}

func (f *fakeStore) lookupLocked(org, id string, secrets bool) (*pcx.Webhook, error) {
	w, ok := f.webhooks[id]
	if !ok || w.OrgID != org {
		return nil, notFound("Webhook")
	}
	if f.beforeRead != nil {
		f.beforeRead(w)
	}
	cp := *w
	if !secrets {
		cp.Secrets = nil
	}
	return &cp, nil
}

func (f *fakeStore) Webhook(_ context.Context, org, id string) (*pcx.Webhook, error) {
	return f.lookup(org, id, false)
}

func (f *fakeStore) WebhookWithSecrets(_ context.Context, org, id string) (*pcx.Webhook, error) {
	return f.lookup(org, id, true)
}

// ActiveWebhooks pages through org's active endpoints by ID, as the DynamoDB store does: after
// is the last ID of the previous page, and next is "" on the last page.
func (f *fakeStore) ActiveWebhooks(_ context.Context, org string, limit int, after string) ([]*pcx.Webhook, string, error) {
	f.mu.Lock()
	f.pageCalls = append(f.pageCalls, pageCall{Org: org, Limit: limit, After: after})
	f.mu.Unlock()
	if f.webhookErr != nil {
		if err := f.webhookErr(); err != nil {
			return nil, "", err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var all []*pcx.Webhook
	for _, w := range f.webhooks {
		if w.OrgID == org && w.Status == pcx.WebhookActive && w.ID > after {
			cp := *w
			cp.Secrets = nil
			all = append(all, &cp)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	if len(all) <= limit {
		return all, "", nil
	}
	page := all[:limit]
	return page, page[limit-1].ID, nil
}

func deliveryKey(eventID, webhookID string) string { return eventID + "/" + webhookID }

// WebhooksWithSecrets reads org's endpoints among ids, as the DynamoDB store does: deleted and
// other organisations' IDs are absent from the map.
func (f *fakeStore) WebhooksWithSecrets(_ context.Context, org string, ids []string) (map[string]*pcx.Webhook, error) {
	f.mu.Lock()
	f.batchReads = append(f.batchReads, batchReadCall{Org: org, IDs: append([]string(nil), ids...)})
	f.mu.Unlock()
	if f.webhookErr != nil {
		if err := f.webhookErr(); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]*pcx.Webhook{}
	for _, id := range ids {
		if w, err := f.lookupLocked(org, id, true); err == nil {
			out[id] = w
		}
	}
	return out, nil
}

// RecordFirstAttempts writes first attempts as the DynamoDB store does: a delivery with a record
// already gets the attempt added (or only its status set when cancelled), a new one a whole
// record.
func (f *fakeStore) RecordFirstAttempts(ctx context.Context, ev *pcx.Event, recs []pcx.Delivery, expires time.Time) error {
	eventID := ev.ID
	if f.writeCtx != nil {
		if err := f.writeCtx(ctx); err != nil {
			return err
		}
	}
	if f.firstErr != nil {
		if err := f.firstErr(); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	call := firstAttemptsCall{EventID: eventID, Expires: expires}
	for _, r := range recs {
		cp := r
		if r.Attempt != nil {
			a := *r.Attempt
			cp.Attempt = &a
			f.counts[deliveryKey(eventID, r.WebhookID)]++
			f.lastAt[deliveryKey(eventID, r.WebhookID)] = a.At
			f.writes = append(f.writes, attemptCall{EventID: eventID, WebhookID: r.WebhookID, Status: r.Status, Attempt: a, Expires: expires})
		}
		call.Records = append(call.Records, cp)
		f.deliveries[deliveryKey(eventID, r.WebhookID)] = r.Status
		if r.Run != "" {
			f.runs[deliveryKey(eventID, r.WebhookID)] = r.Run
		}
	}
	f.firstAttempts = append(f.firstAttempts, call)
	return nil
}

// RecordedByRun returns the deliveries among ids whose first attempt run recorded, as the
// DynamoDB store does.
func (f *fakeStore) RecordedByRun(_ context.Context, eventID, run string, ids []string) (map[string]*pcx.Delivery, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runReads++
	out := map[string]*pcx.Delivery{}
	for _, id := range ids {
		k := deliveryKey(eventID, id)
		if run == "" || f.runs[k] != run {
			continue
		}
		d := &pcx.Delivery{EventID: eventID, WebhookID: id, Status: f.deliveries[k], Attempts: f.counts[k], Run: run}
		if at, ok := f.lastAt[k]; ok {
			d.LastAttemptAt = &at
		}
		out[id] = d
	}
	return out, nil
}

// recordRun marks a delivery's record as written by run's first-attempt batch.
func (f *fakeStore) recordRun(eventID, webhookID, run string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs[deliveryKey(eventID, webhookID)] = run
}

// RecordDelivery records an attempt (into attempts and writes) or, without one, a status change
// (into statuses).
func (f *fakeStore) RecordDelivery(ctx context.Context, ev *pcx.Event, d pcx.Delivery, expires time.Time) error {
	eventID := ev.ID
	if d.Attempt == nil {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.statuses = append(f.statuses, statusCall{EventID: eventID, WebhookID: d.WebhookID, Status: d.Status, Reason: d.Reason})
		f.deliveries[deliveryKey(eventID, d.WebhookID)] = d.Status
		return nil
	}
	if f.writeCtx != nil {
		if err := f.writeCtx(ctx); err != nil {
			return err
		}
	}
	if f.recordErr != nil {
		if err := f.recordErr(d.Status); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	call := attemptCall{EventID: eventID, WebhookID: d.WebhookID, Status: d.Status, Attempt: *d.Attempt, Expires: expires}
	f.attempts = append(f.attempts, call)
	f.writes = append(f.writes, call)
	f.deliveries[deliveryKey(eventID, d.WebhookID)] = d.Status
	f.counts[deliveryKey(eventID, d.WebhookID)]++
	return nil
}

func (f *fakeStore) UpdateWebhook(_ context.Context, org, id string, p store.WebhookPatch) (*pcx.Webhook, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates = append(f.updates, updateCall{Org: org, ID: id, Patch: p})
	if f.updateErr != nil {
		if err := f.updateErr(); err != nil {
			return nil, err
		}
	}
	w, ok := f.webhooks[id]
	if !ok || w.OrgID != org {
		return nil, notFound("Webhook")
	}
	if p.Status != nil {
		w.Status = *p.Status
		w.DisabledReason = p.DisabledReason
	}
	cp := *w
	return &cp, nil
}

// recorded returns the attempts recorded so far.
func (f *fakeStore) recorded() []attemptCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]attemptCall(nil), f.attempts...)
}

func (f *fakeStore) reads() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.eventReads
}

// written returns every attempt written so far, through either write path.
func (f *fakeStore) written() []attemptCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]attemptCall(nil), f.writes...)
}

// firstCalls returns the RecordFirstAttempts calls so far.
func (f *fakeStore) firstCalls() []firstAttemptsCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]firstAttemptsCall(nil), f.firstAttempts...)
}

// delivery returns a delivery's status and attempt count as the store holds them.
func (f *fakeStore) delivery(eventID, webhookID string) (pcx.DeliveryStatus, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deliveries[deliveryKey(eventID, webhookID)], f.counts[deliveryKey(eventID, webhookID)]
}

// DeliveriesOf returns the records of the deliveries named that have one: their status and every
// attempt written, in order.
func (f *fakeStore) DeliveriesOf(_ context.Context, eventID string, ids []string) (map[string]*pcx.Delivery, error) {
	if f.webhookErr != nil {
		if err := f.webhookErr(); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]*pcx.Delivery{}
	for _, id := range ids {
		status, ok := f.deliveries[deliveryKey(eventID, id)]
		if !ok {
			continue
		}
		d := &pcx.Delivery{EventID: eventID, WebhookID: id, Status: status, Attempts: f.counts[deliveryKey(eventID, id)]}
		for _, w := range f.writes {
			if w.EventID == eventID && w.WebhookID == id {
				d.Log = append(d.Log, w.Attempt)
			}
		}
		out[id] = d
	}
	return out, nil
}

// failWritesTimed makes every write of an attempt fail as a store that did not answer in time;
// margin returns how long before the attempt's deadline the last write's context was to end.
func (f *fakeStore) failWritesTimed() (margin func() time.Duration) {
	var mu sync.Mutex
	var m time.Duration
	f.writeCtx = func(ctx context.Context) error {
		dl, _ := ctx.Deadline()
		mu.Lock()
		m = activity.GetInfo(ctx).Deadline.Sub(dl)
		mu.Unlock()
		return pcx.Errorf(pcx.EUnavailable, "The database did not answer in time")
	}
	return func() time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return m
	}
}

// RecordEndpointFailure counts a failure as the DynamoDB store does: the breaker opens at the
// threshold, however stale the caller's count.
func (f *fakeStore) RecordEndpointFailure(_ context.Context, org, id string, fl store.EndpointFailure) (pcx.EndpointHealth, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.healthWrites++
	w, ok := f.webhooks[id]
	if !ok || w.OrgID != org {
		return pcx.EndpointHealth{}, notFound("Webhook")
	}
	h := &w.Health
	h.ConsecutiveFailures++
	at := fl.At
	h.LastFailureAt = &at
	if fl.Threshold > 0 && h.ConsecutiveFailures >= fl.Threshold {
		if h.FailingSince == nil {
			h.FailingSince = &at
		}
		next := fl.NextProbe
		h.ProbeAt = &next
	}
	return *h, nil
}

func (f *fakeStore) RecordEndpointSuccess(_ context.Context, org, id string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.healthWrites++
	w, ok := f.webhooks[id]
	if !ok || w.OrgID != org {
		return notFound("Webhook")
	}
	w.Health = pcx.EndpointHealth{LastSuccessAt: &at, LastFailureAt: w.Health.LastFailureAt}
	return nil
}

// ClaimProbe grants the lease as the DynamoDB store's conditional write does.
func (f *fakeStore) ClaimProbe(_ context.Context, org, id string, now, until time.Time) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.claims++
	w, ok := f.webhooks[id]
	if !ok || w.OrgID != org || w.Health.FailingSince == nil || w.Health.ProbeAt != nil && w.Health.ProbeAt.After(now) {
		return false, nil
	}
	w.Health.ProbeAt = &until
	return true, nil
}

// DisableWebhook is listed in updates as the patch it amounts to, and fails as updateErr says; a
// missing endpoint is not disabled, as in the DynamoDB store.
func (f *fakeStore) DisableWebhook(_ context.Context, org, id, reason string, _ *pcx.AuditRecord) (time.Time, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates = append(f.updates, updateCall{Org: org, ID: id, Patch: store.WebhookPatch{}.WithStatus(pcx.WebhookDisabled, reason)})
	if f.updateErr != nil {
		if err := f.updateErr(); err != nil {
			if pcx.ErrorCode(err) == pcx.ENotFound {
				return time.Time{}, false, nil
			}
			return time.Time{}, false, err
		}
	}
	w, ok := f.webhooks[id]
	if !ok || w.OrgID != org || w.Status != pcx.WebhookActive {
		return time.Time{}, false, nil
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	w.Status, w.DisabledReason, w.DisabledAt = pcx.WebhookDisabled, reason, &now
	return now, true, nil
}

// health returns an endpoint's health as the store holds it.
func (f *fakeStore) health(id string) pcx.EndpointHealth {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.webhooks[id].Health
}
