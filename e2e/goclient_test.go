package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/pcx/publicservice/clients/go/pcxclient"
)

// TestGeneratedGoClient uses the Go client oapi-codegen generates from api/openapi.yaml against the
// real stack as an integrator would: create a key, register an endpoint, notify (the payload's
// bytes unchanged, an integer beyond 2^53 included), and list keys following the cursor.
func TestGeneratedGoClient(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "")
	root := e.bootstrapKey("org-goclient", "u")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	as := func(key string) *pcxclient.ClientWithResponses {
		c, err := pcxclient.NewClientWithResponses(api.base, pcxclient.WithRequestEditorFn(func(_ context.Context, r *http.Request) error {
			r.Header.Set("X-API-Key", key)
			return nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := as(root)

	created, err := c.CreateAPIKeyWithResponse(ctx, nil, pcxclient.CreateAPIKeyJSONRequestBody{Name: "from the Go client"})
	if err != nil || created.JSON201 == nil {
		t.Fatalf("create key: %v, %d %s", err, created.StatusCode(), created.Body)
	}
	newKey := created.JSON201.Data.ApiKey
	if me, err := as(newKey).GetMeWithResponse(ctx, nil); err != nil || me.JSON200 == nil || me.JSON200.Data.OrgId != "org-goclient" {
		t.Fatalf("the created key's /public/me: %v, %d %s", err, me.StatusCode(), me.Body)
	}
	for i := 0; i < 2; i++ {
		if r, err := c.CreateAPIKeyWithResponse(ctx, nil, pcxclient.CreateAPIKeyJSONRequestBody{Name: "another"}); err != nil || r.JSON201 == nil {
			t.Fatalf("create key: %v", err)
		}
	}

	hook, err := c.CreateWebhookWithResponse(ctx, nil, pcxclient.CreateWebhookJSONRequestBody{EndpointUrl: rc.url("/go-client")})
	if err != nil || hook.JSON201 == nil {
		t.Fatalf("register: %v, %d %s", err, hook.StatusCode(), hook.Body)
	}

	data := json.RawMessage(`{"id":"tx_1","amount":9007199254740993,"z":1,"a":2}`)
	acc, err := c.NotifyWithResponse(ctx, nil, pcxclient.NotifyJSONRequestBody{OrgId: "org-goclient", TransactionData: data})
	if err != nil || acc.JSON202 == nil {
		t.Fatalf("notify: %v, %d %s", err, acc.StatusCode(), acc.Body)
	}
	got := rc.waitCount(t, "/go-client", 1, 30*time.Second)
	if !bytes.Equal(got[0].body, data) {
		t.Fatalf("the receiver got %s, want the bytes the client sent %s", got[0].body, data)
	}
	ev, err := c.GetEventWithResponse(ctx, acc.JSON202.Data.EventId, nil)
	if err != nil || ev.JSON200 == nil || !bytes.Equal(ev.JSON200.Data.TransactionData, data) {
		t.Fatalf("the event read back: %v, %d %s", err, ev.StatusCode(), ev.Body)
	}

	// Four keys, two a page: the cursor leads to the rest, and no key comes twice.
	limit := 2
	seen := map[string]bool{}
	var cursor *string
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("the cursor does not end")
		}
		page, err := c.ListAPIKeysWithResponse(ctx, &pcxclient.ListAPIKeysParams{Limit: &limit, LastEvaluatedKey: cursor})
		if err != nil || page.JSON200 == nil {
			t.Fatalf("list keys: %v, %d %s", err, page.StatusCode(), page.Body)
		}
		for _, k := range page.JSON200.Data {
			if seen[k.ApiKeyId] {
				t.Fatalf("key %s on two pages", k.ApiKeyId)
			}
			seen[k.ApiKeyId] = true
		}
		cursor = page.JSON200.Meta.LastEvaluatedKey
		if cursor == nil {
			break
		}
	}
	if len(seen) != 4 {
		t.Fatalf("listed %d keys, want 4", len(seen))
	}
}
