package store_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

// One endpoint this worker cannot sign for fails nobody else (issue 11): an endpoint sealed under
// a key version the worker's WEBHOOK_SECRETS_KEYS lacks (an api that made version 2 current
// before this worker learnt it) and one whose item is malformed are on the page and in the batch,
// marked Undeliverable without secrets, among the good ones with theirs.
func TestUndecodableEndpointsAreMarkedNotFatal(t *testing.T) {
	t.Parallel()
	worker, tb := newTableStore(t) // WEBHOOK_SECRETS_KEYS=1:… (testBox)
	api := store.New(tb.db, tb.name, boxOf(t, "1:"+b64("store test secrets key, 32 bytes")+",2:"+b64("the new secrets key of 32 bytes!")))
	ctx := testenv.Context(t, 2*time.Minute)
	base := time.Now().Add(-time.Hour)

	good1 := newHook(t, "org-a", base)
	sealedV2 := newHook(t, "org-a", base.Add(time.Second))
	malformed := newHook(t, "org-a", base.Add(2*time.Second))
	good2 := newHook(t, "org-a", base.Add(3*time.Second))
	for _, c := range []struct {
		s *store.Store
		w *pcx.Webhook
	}{{worker, good1}, {api, sealedV2}, {worker, malformed}, {worker, good2}} {
		if err := c.s.CreateWebhook(ctx, c.w, 100, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A rotation still refuses what it cannot open: it must not drop secrets it could not read.
	_, err := worker.RotateWebhookSecret(ctx, "org-a", sealedV2.ID, []byte("a new secret of 24 bytes"), time.Hour, nil)
	wantCode(t, err, pcx.EInternal)
	// A corrupt attribute: an updated_at that is not a time.
	if _, err := tb.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &tb.name,
		Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: "ORG#org-a#WH"}, "SK": &types.AttributeValueMemberS{Value: malformed.ID},
		},
		UpdateExpression:          aws.String("SET updated_at = :bad"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":bad": &types.AttributeValueMemberS{Value: "yesterday-ish"}},
	}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{good1.ID: "", sealedV2.ID: pcx.UndeliverableSecret, malformed.ID: pcx.UndeliverableMalformed, good2.ID: ""}
	secrets := map[string]string{good1.ID: secretsString(good1.Secrets), good2.ID: secretsString(good2.Secrets), sealedV2.ID: "[]", malformed.ID: "[]"}
	check := func(how string, w *pcx.Webhook) {
		t.Helper()
		if w == nil {
			t.Fatalf("%s: an endpoint is missing", how)
		}
		if w.Undeliverable != want[w.ID] {
			t.Errorf("%s: endpoint %s Undeliverable = %q, want %q", how, w.ID, w.Undeliverable, want[w.ID])
		}
		if got := secretsString(w.Secrets); got != secrets[w.ID] {
			t.Errorf("%s: endpoint %s secrets = %s, want %s", how, w.ID, got, secrets[w.ID])
		}
		if w.Status != pcx.WebhookActive || w.OrgID != "org-a" {
			t.Errorf("%s: endpoint %s status %q org %q, want active in org-a", how, w.ID, w.Status, w.OrgID)
		}
	}

	for _, limit := range []int{100, 1} {
		page, _ := allPages(t, limit, func(after string) ([]*pcx.Webhook, string, error) {
			return worker.ActiveWebhooks(ctx, "org-a", limit, after)
		})
		if got := ids(page); len(got) != 4 || got[0] != good1.ID || got[1] != sealedV2.ID || got[2] != malformed.ID || got[3] != good2.ID {
			t.Fatalf("ActiveWebhooks (pages of %d) = %v, want all four in creation order", limit, got)
		}
		for _, w := range page {
			check("ActiveWebhooks", w)
		}
	}
	batch, err := worker.WebhooksWithSecrets(ctx, "org-a", []string{good2.ID, malformed.ID, sealedV2.ID, good1.ID})
	if err != nil || len(batch) != 4 {
		t.Fatalf("WebhooksWithSecrets = %d endpoints, %v; want all four", len(batch), err)
	}
	for _, w := range batch {
		check("WebhooksWithSecrets", w)
	}
	for _, id := range []string{good1.ID, sealedV2.ID, malformed.ID} {
		w, err := worker.WebhookWithSecrets(ctx, "org-a", id)
		if err != nil {
			t.Fatalf("WebhookWithSecrets(%s): %v", id, err)
		}
		check("WebhookWithSecrets", w)
	}

	// The API's reads are not delivery reads: they never carry the mark, and the api (which has
	// version 2) opens what the worker cannot.
	if w, err := worker.Webhook(ctx, "org-a", sealedV2.ID); err != nil || w.Undeliverable != "" {
		t.Fatalf("Webhook(sealed under v2) = %+v, %v; want it unmarked", w, err)
	}
	if w, err := api.WebhookWithSecrets(ctx, "org-a", sealedV2.ID); err != nil || w.Undeliverable != "" || secretsString(w.Secrets) != secretsString(sealedV2.Secrets) {
		t.Fatalf("the api's WebhookWithSecrets(sealed under v2) = %+v, %v; want it opened", w, err)
	}

	// The operator's scan names the versions each endpoint's secrets need, opening nothing.
	got := map[string][]int{}
	err = store.New(tb.db, tb.name, nil).ScanWebhookKeyVersions(ctx, 1, func(kv store.WebhookKeyVersions) error {
		if kv.OrgID != "org-a" || kv.Status != pcx.WebhookActive {
			t.Errorf("scanned %+v, want an active endpoint of org-a", kv)
		}
		got[kv.WebhookID] = kv.Versions
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || len(got[good1.ID]) != 1 || got[good1.ID][0] != 1 || len(got[sealedV2.ID]) != 1 || got[sealedV2.ID][0] != 2 || len(got[good2.ID]) != 1 || got[good2.ID][0] != 1 {
		t.Fatalf("ScanWebhookKeyVersions = %v; want four endpoints, %s and %s under [1], %s under [2]", got, good1.ID, good2.ID, sealedV2.ID)
	}
}
