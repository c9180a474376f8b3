package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

// healthAttrs are the attributes an endpoint's health is kept in.
var healthAttrs = []string{"consecutive_failures", "last_success_at", "last_failure_at", "failing_since", "probe_at"}

// newHealthHook returns a store with one active endpoint of org-a in it.
func newHealthHook(t *testing.T) (*store.Store, table, context.Context, *pcx.Webhook) {
	t.Helper()
	s, tb := newTableStore(t)
	ctx := testenv.Context(t, time.Minute)
	w := newHook(t, "org-a", time.Now())
	if err := s.CreateWebhook(ctx, w, 10, nil); err != nil {
		t.Fatal(err)
	}
	return s, tb, ctx, w
}

// Failures count up in one write each and open the breaker at the threshold, with the next probe
// where the caller put it; every read for delivery carries the health; a success closes it and
// keeps the last failure.
func TestEndpointHealthUpdates(t *testing.T) {
	t.Parallel()
	s, tb, ctx, w := newHealthHook(t)
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	next := t0.Add(time.Minute)
	for i := range 3 {
		at := t0.Add(time.Duration(i) * time.Second)
		h, err := s.RecordEndpointFailure(ctx, "org-a", w.ID, store.EndpointFailure{At: at, Threshold: 3, Known: i, NextProbe: next})
		if err != nil || h.ConsecutiveFailures != i+1 || !h.LastFailureAt.Equal(at) {
			t.Fatalf("failure %d: health %+v, %v; want %d failures, last at %s", i+1, h, err, i+1, at)
		}
		if opened := i == 2; h.Failing() != opened {
			t.Fatalf("failure %d: failing %v, want %v (threshold 3)", i+1, h.Failing(), opened)
		}
	}
	opened := t0.Add(2 * time.Second)
	for name, read := range map[string]func() (*pcx.Webhook, error){
		"Webhook":            func() (*pcx.Webhook, error) { return s.Webhook(ctx, "org-a", w.ID) },
		"WebhookWithSecrets": func() (*pcx.Webhook, error) { return s.WebhookWithSecrets(ctx, "org-a", w.ID) },
		"WebhooksWithSecrets": func() (*pcx.Webhook, error) {
			m, err := s.WebhooksWithSecrets(ctx, "org-a", []string{w.ID})
			return m[w.ID], err
		},
		"ActiveWebhooks": func() (*pcx.Webhook, error) {
			page, _, err := s.ActiveWebhooks(ctx, "org-a", 10, "")
			if len(page) != 1 {
				t.Fatalf("ActiveWebhooks = %d endpoints, %v", len(page), err)
			}
			return page[0], err
		},
	} {
		got, err := read()
		if err != nil {
			t.Fatal(err)
		}
		h := got.Health
		if h.ConsecutiveFailures != 3 || h.FailingSince == nil || !h.FailingSince.Equal(opened) || h.ProbeAt == nil || !h.ProbeAt.Equal(next) || h.LastSuccessAt != nil {
			t.Errorf("%s: health %+v, want 3 failures, failing since %s, next probe %s, no success", name, h, opened, next)
		}
	}

	// A fourth failure keeps failing_since where the threshold put it.
	h, err := s.RecordEndpointFailure(ctx, "org-a", w.ID, store.EndpointFailure{At: t0.Add(time.Hour), Threshold: 3, Known: 3, NextProbe: next.Add(time.Hour)})
	if err != nil || h.ConsecutiveFailures != 4 || !h.FailingSince.Equal(opened) || !h.ProbeAt.Equal(next.Add(time.Hour)) {
		t.Fatalf("fourth failure: %+v, %v; want failing since %s still", h, err, opened)
	}

	ok := t0.Add(2 * time.Hour)
	if err := s.RecordEndpointSuccess(ctx, "org-a", w.ID, ok); err != nil {
		t.Fatal(err)
	}
	got, err := s.Webhook(ctx, "org-a", w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if h := got.Health; h.ConsecutiveFailures != 0 || h.Failing() || h.ProbeAt != nil || !h.LastSuccessAt.Equal(ok) || !h.LastFailureAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after a success: %+v; want 0 failures, closed, last success %s, the last failure kept", h, ok)
	}

	// Failures of a concurrent streak that all read 0 still open the breaker at the threshold:
	// the write that sees the count past it opens it.
	for i := range 3 {
		h, err = s.RecordEndpointFailure(ctx, "org-a", w.ID, store.EndpointFailure{At: t0.Add(3 * time.Hour), Threshold: 3, Known: 0, NextProbe: next})
		if err != nil || h.Failing() != (i == 2) {
			t.Fatalf("stale-read failure %d: %+v, %v; want failing only at the third", i+1, h, err)
		}
	}

	// A deleted endpoint is not brought back by a health write.
	if err := s.DeleteWebhook(ctx, "org-a", w.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordEndpointFailure(ctx, "org-a", w.ID, store.EndpointFailure{At: t0, Threshold: 3}); pcx.ErrorCode(err) != pcx.ENotFound {
		t.Fatalf("failure of a deleted endpoint: %v, want not found", err)
	}
	if err := s.RecordEndpointSuccess(ctx, "org-a", w.ID, t0); pcx.ErrorCode(err) != pcx.ENotFound {
		t.Fatalf("success of a deleted endpoint: %v, want not found", err)
	}
	if it := tb.item(t, ctx, "ORG#org-a#WH", w.ID); it != nil {
		t.Fatalf("a health write re-created a deleted endpoint: %v", it)
	}
}

// Of many deliveries claiming a failing endpoint's probe at once, exactly one wins; the lease
// holds until it runs out, and a healthy endpoint has no probe to claim.
func TestClaimProbeOneWinner(t *testing.T) {
	t.Parallel()
	s, _, ctx, w := newHealthHook(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	if ok, err := s.ClaimProbe(ctx, "org-a", w.ID, now, now.Add(time.Minute)); ok || err != nil {
		t.Fatalf("claim on a healthy endpoint = %v, %v; want false", ok, err)
	}
	if _, err := s.RecordEndpointFailure(ctx, "org-a", w.ID, store.EndpointFailure{At: now, Threshold: 1, NextProbe: now}); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			ok, err := s.ClaimProbe(ctx, "org-a", w.ID, now, now.Add(time.Minute))
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Fatalf("%d of 8 concurrent claimers won the probe, want exactly 1", n)
	}
	if ok, _ := s.ClaimProbe(ctx, "org-a", w.ID, now.Add(59*time.Second), now.Add(2*time.Minute)); ok {
		t.Fatal("claimed a probe whose lease has not run out")
	}
	if ok, err := s.ClaimProbe(ctx, "org-a", w.ID, now.Add(time.Minute), now.Add(2*time.Minute)); !ok || err != nil {
		t.Fatalf("claim after the lease ran out = %v, %v; want true", ok, err)
	}
}

// Disabling is conditional on the endpoint being active, so one of many disablers tells anyone;
// it records disabled_at, and re-enabling removes it with the whole health.
func TestDisableWebhookAndReenable(t *testing.T) {
	t.Parallel()
	s, tb, ctx, w := newHealthHook(t)
	now := time.Now().UTC()
	if _, err := s.RecordEndpointFailure(ctx, "org-a", w.ID, store.EndpointFailure{At: now, Threshold: 1, NextProbe: now}); err != nil {
		t.Fatal(err)
	}
	at, ok, err := s.DisableWebhook(ctx, "org-a", w.ID, pcx.DisabledFailing, nil)
	if err != nil || !ok || at.IsZero() {
		t.Fatalf("DisableWebhook = %s, %v, %v; want disabled now", at, ok, err)
	}
	if _, again, err := s.DisableWebhook(ctx, "org-a", w.ID, pcx.DisabledGone, nil); again || err != nil {
		t.Fatalf("disabling a disabled endpoint = %v, %v; want false", again, err)
	}
	got, err := s.Webhook(ctx, "org-a", w.ID)
	if err != nil || got.Status != pcx.WebhookDisabled || got.DisabledReason != pcx.DisabledFailing || got.DisabledAt == nil || !got.DisabledAt.Equal(at) {
		t.Fatalf("disabled endpoint = %+v, %v; want disabled for %q at %s", got, err, pcx.DisabledFailing, at)
	}
	if _, ok, err := s.DisableWebhook(ctx, "org-a", "wh_missing", pcx.DisabledGone, nil); ok || err != nil {
		t.Fatalf("disabling a missing endpoint = %v, %v; want false", ok, err)
	}

	got, err = s.UpdateWebhook(ctx, "org-a", w.ID, store.WebhookPatch{}.WithStatus(pcx.WebhookActive, ""), nil)
	if err != nil || got.Status != pcx.WebhookActive || got.DisabledAt != nil || got.Health != (pcx.EndpointHealth{}) {
		t.Fatalf("re-enabled endpoint = %+v, %v; want active, healthy, no disabled_at", got, err)
	}
	it := tb.item(t, ctx, "ORG#org-a#WH", w.ID)
	for _, name := range append(healthAttrs, "disabled_at", "disabled_reason") {
		if it[name] != nil {
			t.Errorf("re-enabling left %s: %v", name, it[name])
		}
	}

	// Its owner disabling it records when, too.
	got, err = s.UpdateWebhook(ctx, "org-a", w.ID, store.WebhookPatch{}.WithStatus(pcx.WebhookDisabled, pcx.DisabledByOwner), nil)
	if err != nil || got.DisabledAt == nil {
		t.Fatalf("disabled by its owner = %+v, %v; want disabled_at", got, err)
	}
}

// An endpoint item of the shape written before health was kept (no health attributes, a 410
// disable without disabled_at) reads healthy with no times, and takes health writes.
func TestEndpointItemWithoutHealthReadsHealthy(t *testing.T) {
	t.Parallel()
	s, tb, ctx, w := newHealthHook(t)
	// The old code's 410 disable: status and reason, nothing else.
	it := tb.item(t, ctx, "ORG#org-a#WH", w.ID)
	it["status"] = &types.AttributeValueMemberS{Value: string(pcx.WebhookDisabled)}
	it["disabled_reason"] = &types.AttributeValueMemberS{Value: pcx.DisabledGone}
	for _, name := range append(healthAttrs, "disabled_at") {
		if it[name] != nil {
			t.Fatalf("a new endpoint item already has %s", name)
		}
	}
	if _, err := tb.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &tb.name, Item: it}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Webhook(ctx, "org-a", w.ID)
	if err != nil || got.Health != (pcx.EndpointHealth{}) || got.DisabledAt != nil || got.DisabledReason != pcx.DisabledGone {
		t.Fatalf("old endpoint = %+v, %v; want healthy, zeros, no disabled_at, reason kept", got, err)
	}
	got, err = s.UpdateWebhook(ctx, "org-a", w.ID, store.WebhookPatch{}.WithStatus(pcx.WebhookActive, ""), nil)
	if err != nil || got.Status != pcx.WebhookActive {
		t.Fatalf("re-enabling an old endpoint = %+v, %v", got, err)
	}
	h, err := s.RecordEndpointFailure(ctx, "org-a", w.ID, store.EndpointFailure{At: time.Now(), Threshold: 5})
	if err != nil || h.ConsecutiveFailures != 1 {
		t.Fatalf("first failure of an old endpoint = %+v, %v; want 1", h, err)
	}
}
