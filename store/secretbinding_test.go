package store_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
)

// A sealed secret is bound to the item that holds it, its place in the list and its expiry:
// someone who can write the table (but lacks WEBHOOK_SECRETS_KEYS) cannot move a value to another
// organisation's or endpoint's item, reorder the list or extend an expiry; the endpoint is then
// Undeliverable, for signing reads and for fan-out pages alike. Items sealed before the binding
// (under the webhook ID alone) still open, and a rotation seals them anew under the binding.
func TestSealedSecretsAreBoundToTheirItem(t *testing.T) {
	t.Parallel()
	s, tb := newTableStore(t)
	ctx := testenv.Context(t, 2*time.Minute)
	base := time.Now().Add(-time.Hour)

	// a has two secrets (the newest and one in its grace period); b and c one each; c is in
	// another organisation.
	a, b, c := newHook(t, "org-a", base), newHook(t, "org-a", base.Add(time.Second)), newHook(t, "org-c", base)
	for _, w := range []*pcx.Webhook{a, b, c} {
		if err := s.CreateWebhook(ctx, w, 100, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RotateWebhookSecret(ctx, "org-a", a.ID, []byte("the second secret, 24+ bytes"), time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	pristine := map[string]map[string]types.AttributeValue{
		a.ID: tb.item(t, ctx, "ORG#org-a#WH", a.ID), b.ID: tb.item(t, ctx, "ORG#org-a#WH", b.ID), c.ID: tb.item(t, ctx, "ORG#org-c#WH", c.ID),
	}
	orgOf := map[string]string{a.ID: "org-a", b.ID: "org-a", c.ID: "org-c"}
	put := func(m map[string]types.AttributeValue) {
		t.Helper()
		if _, err := tb.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &tb.name, Item: m}); err != nil {
			t.Fatal(err)
		}
	}
	// deliverable reads the endpoint as a delivery does, by its signing read and on a fan-out page.
	deliverable := func(id string) (string, []pcx.WebhookSecret) {
		t.Helper()
		w, err := s.WebhookWithSecrets(ctx, orgOf[id], id)
		if err != nil {
			t.Fatal(err)
		}
		page, _, err := s.ActiveWebhooks(ctx, orgOf[id], 100, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page {
			if p.ID == id && p.Undeliverable != w.Undeliverable {
				t.Errorf("%s: ActiveWebhooks says Undeliverable %q, WebhookWithSecrets %q", id, p.Undeliverable, w.Undeliverable)
			}
		}
		return w.Undeliverable, w.Secrets
	}
	for id := range pristine {
		if u, secrets := deliverable(id); u != "" || len(secrets) == 0 {
			t.Fatalf("%s as created: Undeliverable %q with %d secrets, want deliverable", id, u, len(secrets))
		}
	}
	secretsOf := func(m map[string]types.AttributeValue) []types.AttributeValue {
		return m["secrets"].(*types.AttributeValueMemberL).Value
	}
	sealedOf := func(m map[string]types.AttributeValue, i int) types.AttributeValue {
		return secretsOf(m)[i].(*types.AttributeValueMemberM).Value["s"]
	}
	clone := func(m map[string]types.AttributeValue) map[string]types.AttributeValue {
		out := map[string]types.AttributeValue{}
		for k, v := range m {
			out[k] = v
		}
		list := make([]types.AttributeValue, len(secretsOf(m)))
		for i, v := range secretsOf(m) {
			sm := map[string]types.AttributeValue{}
			for k, x := range v.(*types.AttributeValueMemberM).Value {
				sm[k] = x
			}
			list[i] = &types.AttributeValueMemberM{Value: sm}
		}
		out["secrets"] = &types.AttributeValueMemberL{Value: list}
		return out
	}
	setSecret := func(m map[string]types.AttributeValue, i int, attr string, v types.AttributeValue) {
		secretsOf(m)[i].(*types.AttributeValueMemberM).Value[attr] = v
	}

	for _, tt := range []struct {
		name   string
		target string
		tamper func(m map[string]types.AttributeValue)
	}{
		{"a's secret moved into another organisation's item", c.ID, func(m map[string]types.AttributeValue) {
			setSecret(m, 0, "s", sealedOf(pristine[a.ID], 0))
		}},
		{"a's secret moved into another endpoint's item of its organisation", b.ID, func(m map[string]types.AttributeValue) {
			setSecret(m, 0, "s", sealedOf(pristine[a.ID], 0))
		}},
		{"a's secrets reordered", a.ID, func(m map[string]types.AttributeValue) {
			l := secretsOf(m)
			l[0], l[1] = l[1], l[0]
		}},
		{"the expiry of a's old secret extended", a.ID, func(m map[string]types.AttributeValue) {
			setSecret(m, 1, "e", &types.AttributeValueMemberS{Value: "2099-01-01T00:00:00.000Z"})
		}},
		{"the expiry of a's old secret removed", a.ID, func(m map[string]types.AttributeValue) {
			delete(secretsOf(m)[1].(*types.AttributeValueMemberM).Value, "e")
		}},
		{"an expiry added to a's newest secret", a.ID, func(m map[string]types.AttributeValue) {
			setSecret(m, 0, "e", &types.AttributeValueMemberS{Value: "2099-01-01T00:00:00.000Z"})
		}},
	} {
		m := clone(pristine[tt.target])
		tt.tamper(m)
		put(m)
		if u, secrets := deliverable(tt.target); u != pcx.UndeliverableSecret || len(secrets) != 0 {
			t.Errorf("%s: Undeliverable %q with %d secrets, want %q and none", tt.name, u, len(secrets), pcx.UndeliverableSecret)
		}
		put(pristine[tt.target])
	}

	// a's whole item copied into another organisation's partition, as that organisation's.
	moved := clone(pristine[a.ID])
	moved["PK"], moved["org_id"] = &types.AttributeValueMemberS{Value: "ORG#org-c#WH"}, &types.AttributeValueMemberS{Value: "org-c"}
	put(moved)
	if w, err := s.WebhookWithSecrets(ctx, "org-c", a.ID); err != nil || w.Undeliverable != pcx.UndeliverableSecret || len(w.Secrets) != 0 {
		t.Errorf("a's item moved to org-c: %v; want Undeliverable %q without secrets", err, pcx.UndeliverableSecret)
	}

	// An item sealed the old way (the webhook ID alone as authenticated data) opens, and the next
	// rotation seals it under the binding.
	box := testBox(t)
	legacy := clone(pristine[b.ID])
	setSecret(legacy, 0, "s", &types.AttributeValueMemberB{Value: box.Seal(b.Secrets[0].Key, "webhook-secret:"+b.ID)})
	put(legacy)
	if u, secrets := deliverable(b.ID); u != "" || secretsString(secrets) != secretsString(b.Secrets) {
		t.Fatalf("legacy item: Undeliverable %q, secrets %s; want %s", u, secretsString(secrets), secretsString(b.Secrets))
	}
	if _, err := s.RotateWebhookSecret(ctx, "org-a", b.ID, []byte("b's second secret, 24+ bytes"), time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	resealed := tb.item(t, ctx, "ORG#org-a#WH", b.ID)
	for i := range secretsOf(resealed) {
		if _, err := box.Open(sealedOf(resealed, i).(*types.AttributeValueMemberB).Value, "webhook-secret:"+b.ID); err == nil {
			t.Errorf("after a rotation secret %d of the legacy item still opens under the old context", i)
		}
	}
	w, err := s.WebhookWithSecrets(ctx, "org-a", b.ID)
	if err != nil || w.Undeliverable != "" || len(w.Secrets) != 2 || string(w.Secrets[1].Key) != string(b.Secrets[0].Key) {
		t.Fatalf("after the rotation: %v; want the new secret and the legacy one in its grace", err)
	}
}
