package store_test

import (
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

// urlSK is the sort key of an URL's uniqueness item (the layout of table.go).
func urlSK(url string) string {
	sum := sha256.Sum256([]byte(url))
	return hex.EncodeToString(sum[:])
}

// hookAt is newHook with the given URL.
func hookAt(t *testing.T, org, url string) *pcx.Webhook {
	t.Helper()
	w := newHook(t, org, time.Now())
	w.URL = url
	return w
}

// An organisation has one endpoint per exact URL: a second create or a move onto a taken URL is a
// conflict, another organisation is not affected, and deleting or moving an endpoint frees its
// URL.
func TestWebhookURLIsUniquePerOrganisation(t *testing.T) {
	t.Parallel()
	s, tb := newTableStore(t)
	ctx := testenv.Context(t, time.Minute)
	const u, v = "https://hooks.example.com/u", "https://hooks.example.com/v"
	first := hookAt(t, "org-a", u)
	if err := s.CreateWebhook(ctx, first, 10, nil); err != nil {
		t.Fatal(err)
	}
	if it := tb.item(t, ctx, "ORG#org-a#URL", urlSK(u)); it == nil {
		t.Fatal("no uniqueness item for the URL")
	}
	wantCode(t, s.CreateWebhook(ctx, hookAt(t, "org-a", u), 10, nil), pcx.EConflict)
	if err := s.CreateWebhook(ctx, hookAt(t, "org-b", u), 10, nil); err != nil {
		t.Fatalf("another organisation's endpoint with the URL: %v", err)
	}
	if err := s.CreateWebhook(ctx, hookAt(t, "org-a", u+"?x=1"), 10, nil); err != nil {
		t.Fatalf("another URL (a query string more): %v", err)
	}

	// Moving onto a taken URL is a conflict and changes nothing; moving elsewhere frees the old.
	second := hookAt(t, "org-a", v)
	if err := s.CreateWebhook(ctx, second, 10, nil); err != nil {
		t.Fatal(err)
	}
	desc := "moved"
	taken := u
	_, err := s.UpdateWebhook(ctx, "org-a", second.ID, store.WebhookPatch{URL: &taken, Description: &desc}, nil)
	wantCode(t, err, pcx.EConflict)
	if got, _ := s.Webhook(ctx, "org-a", second.ID); got.URL != v || got.Description == desc {
		t.Fatalf("after a refused move: %+v, want it unchanged", got)
	}
	w := "https://hooks.example.com/w"
	got, err := s.UpdateWebhook(ctx, "org-a", second.ID, store.WebhookPatch{URL: &w, Description: &desc}, nil)
	if err != nil || got.URL != w || got.Description != desc {
		t.Fatalf("move to a free URL = %+v, %v", got, err)
	}
	if tb.item(t, ctx, "ORG#org-a#URL", urlSK(v)) != nil || tb.item(t, ctx, "ORG#org-a#URL", urlSK(w)) == nil {
		t.Fatal("the move did not move the uniqueness item")
	}
	if err := s.CreateWebhook(ctx, hookAt(t, "org-a", v), 10, nil); err != nil {
		t.Fatalf("the URL an endpoint left: %v", err)
	}
	// The same URL again is no move.
	if _, err := s.UpdateWebhook(ctx, "org-a", second.ID, store.WebhookPatch{URL: &w}, nil); err != nil {
		t.Fatalf("patch to its own URL: %v", err)
	}

	if err := s.DeleteWebhook(ctx, "org-a", first.ID, nil); err != nil {
		t.Fatal(err)
	}
	if tb.item(t, ctx, "ORG#org-a#URL", urlSK(u)) != nil {
		t.Fatal("the deleted endpoint's URL is still claimed")
	}
	if err := s.CreateWebhook(ctx, hookAt(t, "org-a", u), 10, nil); err != nil {
		t.Fatalf("the URL of a deleted endpoint: %v", err)
	}
	wantCode(t, s.DeleteWebhook(ctx, "org-a", first.ID, nil), pcx.ENotFound)
	_, err = s.UpdateWebhook(ctx, "org-a", first.ID, store.WebhookPatch{URL: &taken}, nil)
	wantCode(t, err, pcx.ENotFound)
}

// Of concurrent creates of one URL exactly one succeeds, and the count of endpoints agrees.
func TestWebhookURLUniqueUnderConcurrentCreates(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	const url = "https://hooks.example.com/race"
	errs := make([]error, 8)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = s.CreateWebhook(ctx, hookAt(t, "org-a", url), 100, nil) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch pcx.ErrorCode(err) {
		case "":
			ok++
		case pcx.EConflict:
		default:
			t.Errorf("create: %v", err)
		}
	}
	hooks, _, err := s.ListWebhooks(ctx, "org-a", 100, "")
	if err != nil {
		t.Fatal(err)
	}
	if ok != 1 || len(hooks) != 1 {
		t.Fatalf("%d of 8 concurrent creates succeeded, %d endpoints stored; want 1 and 1", ok, len(hooks))
	}
	// The count item counted only the one: the limit still has room for 99 more.
	for i := range 99 {
		if err := s.CreateWebhook(ctx, newHook(t, "org-a", time.Now()), 100, nil); err != nil {
			t.Fatalf("create %d under the limit: %v", i+2, err)
		}
	}
	wantCode(t, s.CreateWebhook(ctx, newHook(t, "org-a", time.Now()), 100, nil), pcx.EConflict)
}

// Endpoints stored before URLs were unique have no uniqueness item: they keep being read,
// changed and deleted, a new endpoint may take their URL (the duplicate is not detected), and
// one that moves claims its new URL.
func TestWebhooksFromBeforeURLUniqueness(t *testing.T) {
	t.Parallel()
	s, tb := newTableStore(t)
	ctx := testenv.Context(t, time.Minute)
	const u = "https://hooks.example.com/old"
	oldShape := func() *pcx.Webhook {
		w := hookAt(t, "org-a", u)
		if err := s.CreateWebhook(ctx, w, 10, nil); err != nil {
			t.Fatal(err)
		}
		it := tb.item(t, ctx, "ORG#org-a#WH", w.ID)
		delete(it, "url_sha256")
		if _, err := tb.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &tb.name, Item: it}); err != nil {
			t.Fatal(err)
		}
		if _, err := tb.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &tb.name, Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: "ORG#org-a#URL"}, "SK": &types.AttributeValueMemberS{Value: urlSK(u)},
		}}); err != nil {
			t.Fatal(err)
		}
		return w
	}
	old1, old2 := oldShape(), oldShape()

	// A new endpoint with their URL is allowed, and claims it.
	fresh := hookAt(t, "org-a", u)
	if err := s.CreateWebhook(ctx, fresh, 10, nil); err != nil {
		t.Fatalf("a new endpoint with an old endpoint's URL: %v", err)
	}
	wantCode(t, s.CreateWebhook(ctx, hookAt(t, "org-a", u), 10, nil), pcx.EConflict)

	// The old ones change without touching the new one's claim, even "moving" to their own URL.
	desc, same := "still here", u
	if got, err := s.UpdateWebhook(ctx, "org-a", old1.ID, store.WebhookPatch{Description: &desc, URL: &same}, nil); err != nil || got.Description != desc {
		t.Fatalf("update of an old endpoint = %+v, %v", got, err)
	}
	if _, err := s.UpdateWebhook(ctx, "org-a", old1.ID, store.WebhookPatch{}.WithStatus(pcx.WebhookDisabled, pcx.DisabledGone), nil); err != nil {
		t.Fatalf("disable of an old endpoint: %v", err)
	}
	if err := s.DeleteWebhook(ctx, "org-a", old1.ID, nil); err != nil {
		t.Fatalf("delete of an old endpoint: %v", err)
	}
	if it := tb.item(t, ctx, "ORG#org-a#URL", urlSK(u)); it == nil || it["webhook_id"].(*types.AttributeValueMemberS).Value != fresh.ID {
		t.Fatalf("after deleting an old endpoint the URL's item is %v, want still the new endpoint's", it)
	}

	// Moving an old one claims its new URL; onto a claimed URL it is a conflict.
	moved := "https://hooks.example.com/moved"
	if _, err := s.UpdateWebhook(ctx, "org-a", old2.ID, store.WebhookPatch{URL: &moved}, nil); err != nil {
		t.Fatalf("move of an old endpoint: %v", err)
	}
	wantCode(t, s.CreateWebhook(ctx, hookAt(t, "org-a", moved), 10, nil), pcx.EConflict)
	back := u
	_, err := s.UpdateWebhook(ctx, "org-a", old2.ID, store.WebhookPatch{URL: &back}, nil)
	wantCode(t, err, pcx.EConflict)
	if err := s.DeleteWebhook(ctx, "org-a", old2.ID, nil); err != nil {
		t.Fatal(err)
	}
	if tb.item(t, ctx, "ORG#org-a#URL", urlSK(moved)) != nil {
		t.Fatal("the moved old endpoint's new URL is still claimed after its delete")
	}
}
