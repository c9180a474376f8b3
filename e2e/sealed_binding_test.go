package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/store"
)

// Someone who can write the table but lacks WEBHOOK_SECRETS_KEYS reorders an endpoint's sealed
// secrets (to make its old, grace-period secret the one that lives on): the secrets no longer
// open, so nothing is sent to that endpoint, its delivery fails as undeliverable, and the
// organisation's other endpoint is delivered to as usual.
func TestReorderedSealedSecretsAreUndeliverable(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "")
	key := e.bootstrapKey("org-sealed", "u")
	tampered, good := register(t, api.base, key, rc.url("/tampered")), register(t, api.base, key, rc.url("/good"))
	wantStatus(t, call(t, "POST", api.base+"/public/webhooks/"+tampered.WebhookID+"/rotate-secret", key, `{"grace_period_seconds":3600}`), 200)

	ctx := testenv.Context(t, time.Minute)
	db, err := store.NewClient(ctx, store.ClientOptions{Region: e.vars["AWS_REGION"], Endpoint: e.vars["DYNAMODB_ENDPOINT"]})
	if err != nil {
		t.Fatal(err)
	}
	table := e.vars["DYNAMODB_TABLE"]
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, ConsistentRead: aws.Bool(true), Key: map[string]types.AttributeValue{
		"PK": &types.AttributeValueMemberS{Value: "ORG#org-sealed#WH"}, "SK": &types.AttributeValueMemberS{Value: tampered.WebhookID},
	}})
	if err != nil || out.Item == nil {
		t.Fatalf("GetItem: %v (item %v)", err, out.Item != nil)
	}
	list := out.Item["secrets"].(*types.AttributeValueMemberL).Value
	if len(list) != 2 {
		t.Fatalf("after a rotation with grace the endpoint has %d secrets, want 2", len(list))
	}
	list[0], list[1] = list[1], list[0]
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: out.Item}); err != nil {
		t.Fatal(err)
	}

	acc := notify(t, api.base, key, "org-sealed", `{"n":1}`)
	d := waitDelivery(t, api.base, key, acc.EventID, tampered.WebhookID, "failed", 0, 30*time.Second)
	if d.LastError == nil || !strings.Contains(*d.LastError, "does not decrypt") {
		t.Errorf("the tampered endpoint's delivery: last_error %v, want undeliverable (does not decrypt)", deref(d.LastError))
	}
	waitDelivery(t, api.base, key, acc.EventID, good.WebhookID, "delivered", 1, 30*time.Second)
	if n := rc.count("/tampered"); n != 0 {
		t.Errorf("the tampered endpoint received %d requests, want none", n)
	}
}
