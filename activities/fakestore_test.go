package activities_test

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

// fakeStore is an in-memory activities.Store that records what the activities asked of it.
type fakeStore struct {
	mu       sync.Mutex
	events   map[string]*pcx.Event
	webhooks map[string]*pcx.Webhook // by ID

	eventReads int
	pageCalls  []pageCall
	planned    []planCall
	attempts   []attemptCall
	statuses   []statusCall
	updates    []updateCall
	// deliveries is each delivery's status, by event ID and webhook ID.
	deliveries map[string]pcx.DeliveryStatus

	// Fault injection: when set, these are called first and a non-nil error is returned.
	recordErr  func(status pcx.DeliveryStatus) error
	webhookErr func() error
}

type pageCall struct {
	Org   string
	Limit int
	After string
}

type planCall struct {
	EventID    string
	WebhookIDs []string
	Expires    time.Time
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
	w, ok := f.webhooks[id]
	if !ok || w.OrgID != org {
		return nil, notFound("Webhook")
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
	defer f.mu.Unlock()
	f.pageCalls = append(f.pageCalls, pageCall{Org: org, Limit: limit, After: after})
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

func (f *fakeStore) PlanDeliveries(_ context.Context, eventID string, targets []*pcx.Webhook, expires time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	call := planCall{EventID: eventID, Expires: expires}
	for _, t := range targets {
		call.WebhookIDs = append(call.WebhookIDs, t.ID)
		if _, ok := f.deliveries[deliveryKey(eventID, t.ID)]; !ok {
			f.deliveries[deliveryKey(eventID, t.ID)] = pcx.DeliveryPending
		}
	}
	f.planned = append(f.planned, call)
	return nil
}

func (f *fakeStore) RecordAttempt(_ context.Context, eventID string, w *pcx.Webhook, status pcx.DeliveryStatus, a pcx.Attempt, expires time.Time) error {
	if f.recordErr != nil {
		if err := f.recordErr(status); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts = append(f.attempts, attemptCall{EventID: eventID, WebhookID: w.ID, Status: status, Attempt: a, Expires: expires})
	f.deliveries[deliveryKey(eventID, w.ID)] = status
	return nil
}

func (f *fakeStore) SetDeliveryStatus(_ context.Context, eventID, webhookID string, status pcx.DeliveryStatus, reason string, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses = append(f.statuses, statusCall{EventID: eventID, WebhookID: webhookID, Status: status, Reason: reason})
	f.deliveries[deliveryKey(eventID, webhookID)] = status
	return nil
}

func (f *fakeStore) UpdateWebhook(_ context.Context, org, id string, p store.WebhookPatch) (*pcx.Webhook, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.updates = append(f.updates, updateCall{Org: org, ID: id, Patch: p})
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
