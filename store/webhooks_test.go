package store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pcx/publicservice/internal/secretbox"
	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

// table is a test table with a client of its own, for what a Store hides: a second Store over the
// same table, and items as they are stored.
type table struct {
	db   *dynamodb.Client
	name string
}

// newTableStore is newStore that also returns the table.
func newTableStore(t *testing.T) (*store.Store, table) {
	t.Helper()
	ddb := testenv.DynamoDB(t)
	ctx := testenv.Context(t, 2*time.Minute)
	client, err := store.NewClient(ctx, store.ClientOptions{Region: "us-east-1", Endpoint: ddb.Endpoint})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	name := fmt.Sprintf("t%d-%s", tableSeq.Add(1), strings.NewReplacer("/", "-", " ", "_").Replace(t.Name()))
	if len(name) > 200 {
		name = name[:200]
	}
	s := store.New(client, name, testBox(t))
	if created, err := s.CreateTable(ctx); err != nil || !created {
		t.Fatalf("CreateTable = %v, %v; want true, nil", created, err)
	}
	t.Cleanup(func() { _ = s.DeleteTable(context.Background()) })
	return s, table{db: client, name: name}
}

// item returns the stored item with the given key (the layout of table.go), nil if there is none.
func (tb table) item(t *testing.T, ctx context.Context, pk, sk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := tb.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &tb.name, ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{
			"PK": &types.AttributeValueMemberS{Value: pk}, "SK": &types.AttributeValueMemberS{Value: sk},
		},
	})
	if err != nil {
		t.Fatalf("GetItem %s/%s: %v", pk, sk, err)
	}
	return out.Item
}

// ttlOf returns an item's ttl attribute (unix seconds), failing the test if it has none.
func ttlOf(t *testing.T, it map[string]types.AttributeValue) string {
	t.Helper()
	n, ok := it["ttl"].(*types.AttributeValueMemberN)
	if !ok {
		t.Fatalf("item has no numeric ttl attribute: %v", it["ttl"])
	}
	return n.Value
}

// otherBox is a secret box under a key that is not testBox's.
func otherBox(t *testing.T) *secretbox.Box { return boxUnder(t, "another key, also 32 bytes long!") }

var hookSeq atomic.Int64

// newHook returns an active endpoint of org created at created, with one random secret.
func newHook(t *testing.T, org string, created time.Time) *pcx.Webhook {
	t.Helper()
	n := hookSeq.Add(1)
	created = created.UTC().Truncate(time.Millisecond)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return &pcx.Webhook{
		ID: pcx.NewID("wh", created), OrgID: org, URL: fmt.Sprintf("https://hooks.example.com/%d", n),
		Description: fmt.Sprintf("endpoint %d", n), Status: pcx.WebhookActive,
		CreatedAt: created, UpdatedAt: created, Secrets: []pcx.WebhookSecret{{Key: key}},
	}
}

// createHooks creates n endpoints of org, one a second apart from base, and returns them oldest
// first.
func createHooks(t *testing.T, ctx context.Context, s *store.Store, org string, n int, base time.Time) []*pcx.Webhook {
	t.Helper()
	hooks := make([]*pcx.Webhook, n)
	for i := range hooks {
		hooks[i] = newHook(t, org, base.Add(time.Duration(i)*time.Second))
		if err := s.CreateWebhook(ctx, hooks[i], 1000, nil); err != nil {
			t.Fatalf("CreateWebhook %d: %v", i, err)
		}
	}
	return hooks
}

// hookDiff describes how got differs from want in its metadata, "" if it does not.
func hookDiff(got, want *pcx.Webhook) string {
	if got == nil {
		return fmt.Sprintf("got nil, want %+v", want)
	}
	if got.ID != want.ID || got.OrgID != want.OrgID || got.URL != want.URL || got.Description != want.Description ||
		got.Status != want.Status || got.DisabledReason != want.DisabledReason ||
		!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		return fmt.Sprintf("got {id %s org %s url %s desc %q status %s reason %q created %v updated %v}, "+
			"want {id %s org %s url %s desc %q status %s reason %q created %v updated %v}",
			got.ID, got.OrgID, got.URL, got.Description, got.Status, got.DisabledReason, got.CreatedAt, got.UpdatedAt,
			want.ID, want.OrgID, want.URL, want.Description, want.Status, want.DisabledReason, want.CreatedAt, want.UpdatedAt)
	}
	return ""
}

// secretsString renders secrets readably: each key (as text when printable, else hex) and its
// expiry.
func secretsString(ss []pcx.WebhookSecret) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		k := string(s.Key)
		if strings.ContainsFunc(k, func(r rune) bool { return r < ' ' || r > '~' }) {
			k = hex.EncodeToString(s.Key)
		}
		if s.ExpiresAt != nil {
			k += " until " + s.ExpiresAt.UTC().Format(time.RFC3339Nano)
		}
		parts[i] = k
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func ids(hooks []*pcx.Webhook) []string {
	out := make([]string, len(hooks))
	for i, w := range hooks {
		out[i] = w.ID
	}
	return out
}

// containsBytes reports whether any value of an item, at any depth, holds b.
func containsBytes(v types.AttributeValue, b []byte) bool {
	switch v := v.(type) {
	case *types.AttributeValueMemberB:
		return bytes.Contains(v.Value, b)
	case *types.AttributeValueMemberS:
		return strings.Contains(v.Value, string(b))
	case *types.AttributeValueMemberL:
		return slices.ContainsFunc(v.Value, func(e types.AttributeValue) bool { return containsBytes(e, b) })
	case *types.AttributeValueMemberM:
		for _, e := range v.Value {
			if containsBytes(e, b) {
				return true
			}
		}
	}
	return false
}

func TestWebhookCreateAndRead(t *testing.T) {
	t.Parallel()
	s, tb := newTableStore(t)
	ctx := testenv.Context(t, time.Minute)
	w := newHook(t, "org-a", time.Now())
	if err := s.CreateWebhook(ctx, w, 10, nil); err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}

	got, err := s.Webhook(ctx, "org-a", w.ID)
	if err != nil {
		t.Fatalf("Webhook: %v", err)
	}
	if d := hookDiff(got, w); d != "" {
		t.Fatalf("Webhook: %s", d)
	}
	if len(got.Secrets) != 0 {
		t.Fatalf("Webhook returned %d secrets, want none", len(got.Secrets))
	}

	got, err = s.WebhookWithSecrets(ctx, "org-a", w.ID)
	if err != nil {
		t.Fatalf("WebhookWithSecrets: %v", err)
	}
	if d := hookDiff(got, w); d != "" {
		t.Fatalf("WebhookWithSecrets: %s", d)
	}
	if secretsString(got.Secrets) != secretsString(w.Secrets) {
		t.Fatalf("WebhookWithSecrets secrets = %s, want %s", secretsString(got.Secrets), secretsString(w.Secrets))
	}

	// As stored, the item holds the secret only sealed: neither its bytes nor their base64.
	raw := tb.item(t, ctx, "ORG#org-a#WH", w.ID)
	if raw == nil {
		t.Fatalf("no stored item for %s", w.ID)
	}
	key := w.Secrets[0].Key
	for name, v := range raw {
		for _, clear := range [][]byte{key, []byte(base64.StdEncoding.EncodeToString(key)), []byte(base64.RawURLEncoding.EncodeToString(key))} {
			if containsBytes(v, clear) {
				t.Fatalf("stored attribute %q holds the secret in clear", name)
			}
		}
	}

	// A Store over the same table with another key reads the metadata but cannot open the secret.
	other := store.New(tb.db, tb.name, otherBox(t))
	if got, err := other.Webhook(ctx, "org-a", w.ID); err != nil || hookDiff(got, w) != "" {
		t.Fatalf("Webhook under another box = %v (%s), want the endpoint", err, hookDiff(got, w))
	}
	if got, err := other.WebhookWithSecrets(ctx, "org-a", w.ID); err != nil || got.Undeliverable != pcx.UndeliverableSecret || got.Secrets != nil {
		t.Fatalf("WebhookWithSecrets under another box = %+v, %v; want it marked %q without secrets", got, err, pcx.UndeliverableSecret)
	}
	_, err = other.RotateWebhookSecret(ctx, "org-a", w.ID, []byte("a new secret of 24 bytes"), time.Hour, nil)
	wantCode(t, err, pcx.EInternal)

	// A Store without a box cannot write or read secrets at all.
	noBox := store.New(tb.db, tb.name, nil)
	wantCode(t, noBox.CreateWebhook(ctx, newHook(t, "org-a", time.Now()), 10, nil), pcx.EInternal)
	_, err = noBox.WebhookWithSecrets(ctx, "org-a", w.ID)
	wantCode(t, err, pcx.EInternal)
	if _, err := noBox.Webhook(ctx, "org-a", w.ID); err != nil {
		t.Fatalf("Webhook without a box = %v, want nil", err)
	}

	// The failed rotation changed nothing.
	if got, err := s.WebhookWithSecrets(ctx, "org-a", w.ID); err != nil || secretsString(got.Secrets) != secretsString(w.Secrets) {
		t.Fatalf("after a failed rotation secrets = %v, %v; want %s", got, err, secretsString(w.Secrets))
	}

	// The same ID again is a conflict and leaves the first.
	clash := newHook(t, "org-a", time.Now())
	clash.ID = w.ID
	wantCode(t, s.CreateWebhook(ctx, clash, 10, nil), pcx.EConflict)
	if got, _ := s.Webhook(ctx, "org-a", w.ID); hookDiff(got, w) != "" {
		t.Fatalf("after a clashing create: %s", hookDiff(got, w))
	}

	_, err = s.Webhook(ctx, "org-a", "wh_missing")
	wantCode(t, err, pcx.ENotFound)
	_, err = s.WebhookWithSecrets(ctx, "org-a", "wh_missing")
	wantCode(t, err, pcx.ENotFound)
}

func TestWebhookOrgIsolation(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	w := newHook(t, "org-a", time.Now())
	if err := s.CreateWebhook(ctx, w, 3, nil); err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return w.CreatedAt.Add(time.Hour) }
	url, desc, disabled := "https://evil.example.com/", "taken over", pcx.WebhookDisabled

	for _, tc := range []struct {
		name string
		op   func() error
	}{
		{"Webhook", func() error { _, err := s.Webhook(ctx, "org-b", w.ID); return err }},
		{"WebhookWithSecrets", func() error { _, err := s.WebhookWithSecrets(ctx, "org-b", w.ID); return err }},
		{"UpdateWebhook", func() error {
			_, err := s.UpdateWebhook(ctx, "org-b", w.ID, store.WebhookPatch{URL: &url, Description: &desc, Status: &disabled, DisabledReason: "x"}, nil)
			return err
		}},
		{"DeleteWebhook", func() error { return s.DeleteWebhook(ctx, "org-b", w.ID, nil) }},
		{"RotateWebhookSecret", func() error {
			_, err := s.RotateWebhookSecret(ctx, "org-b", w.ID, []byte("org b's secret, 24 bytes"), time.Hour, nil)
			return err
		}},
	} {
		if got := pcx.ErrorCode(tc.op()); got != pcx.ENotFound {
			t.Errorf("%s of another org's webhook: code %q, want %q", tc.name, got, pcx.ENotFound)
		}
	}

	got, err := s.WebhookWithSecrets(ctx, "org-a", w.ID)
	if err != nil {
		t.Fatalf("WebhookWithSecrets by the owner: %v", err)
	}
	if d := hookDiff(got, w); d != "" {
		t.Fatalf("the owner's webhook changed: %s", d)
	}
	if secretsString(got.Secrets) != secretsString(w.Secrets) {
		t.Fatalf("the owner's secrets = %s, want %s", secretsString(got.Secrets), secretsString(w.Secrets))
	}
	if list, next, err := s.ListWebhooks(ctx, "org-b", 10, ""); err != nil || len(list) != 0 || next != "" {
		t.Fatalf("ListWebhooks(org-b) = %v, %q, %v; want none", ids(list), next, err)
	}
	// org B's failed delete did not free a slot of its own limit either.
	for i := range 3 {
		if err := s.CreateWebhook(ctx, newHook(t, "org-b", time.Now()), 3, nil); err != nil {
			t.Fatalf("org-b create %d: %v", i, err)
		}
	}
	wantCode(t, s.CreateWebhook(ctx, newHook(t, "org-b", time.Now()), 3, nil), pcx.EConflict)
}

func TestWebhooksWithSecrets(t *testing.T) {
	t.Parallel()
	s, tb := newTableStore(t)
	ctx := testenv.Context(t, 2*time.Minute)
	base := time.Now().Add(-time.Hour)
	hooks := createHooks(t, ctx, s, "org-a", 3, base)
	disabled := pcx.WebhookDisabled
	if _, err := s.UpdateWebhook(ctx, "org-a", hooks[1].ID, store.WebhookPatch{Status: &disabled, DisabledReason: "410 Gone"}, nil); err != nil {
		t.Fatal(err)
	}
	hooks[1].Status, hooks[1].DisabledReason = pcx.WebhookDisabled, "410 Gone"
	rotated, err := s.RotateWebhookSecret(ctx, "org-a", hooks[2].ID, []byte("the rotated secret, 24 b"), time.Hour, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated.Secrets) != 2 {
		t.Fatalf("after a rotation with a grace: %d secrets, want 2", len(rotated.Secrets))
	}
	hooks[2].Secrets = rotated.Secrets // the new secret, and the old one in its grace
	read := func(w *pcx.Webhook) *pcx.Webhook {
		t.Helper()
		got, err := s.Webhook(ctx, w.OrgID, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		got.Secrets = w.Secrets
		return got
	}
	want := map[string]*pcx.Webhook{}
	for _, w := range hooks {
		want[w.ID] = read(w) // with the updated_at of the update and the rotation
	}
	foreign := createHooks(t, ctx, s, "org-b", 1, base)[0]

	got, err := s.WebhooksWithSecrets(ctx, "org-a", []string{
		hooks[2].ID, "wh_missing", foreign.ID, hooks[0].ID, hooks[2].ID, hooks[1].ID, hooks[0].ID,
	})
	if err != nil {
		t.Fatalf("WebhooksWithSecrets: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("WebhooksWithSecrets returned %d endpoints (%v), want %d: missing and other organisations' IDs are absent, duplicates once",
			len(got), slices.Sorted(maps.Keys(got)), len(want))
	}
	for id, w := range want {
		g := got[id]
		if d := hookDiff(g, w); d != "" {
			t.Fatalf("endpoint %s: %s", id, d)
		}
		if secretsString(g.Secrets) != secretsString(w.Secrets) {
			t.Fatalf("endpoint %s secrets = %s, want %s opened", id, secretsString(g.Secrets), secretsString(w.Secrets))
		}
	}
	if g, err := s.WebhooksWithSecrets(ctx, "org-b", []string{foreign.ID, hooks[0].ID}); err != nil || len(g) != 1 || g[foreign.ID] == nil {
		t.Fatalf("org-b's read = %v, %v; want only its own endpoint", slices.Sorted(maps.Keys(g)), err)
	}
	if g, err := s.WebhooksWithSecrets(ctx, "org-a", nil); err != nil || len(g) != 0 {
		t.Fatalf("no IDs: %v, %v; want an empty map", g, err)
	}

	// Under another key the secrets cannot be opened: the endpoint is marked, not an error;
	// without a box they cannot be read at all.
	g, err := store.New(tb.db, tb.name, otherBox(t)).WebhooksWithSecrets(ctx, "org-a", []string{hooks[0].ID})
	if err != nil || g[hooks[0].ID] == nil || g[hooks[0].ID].Undeliverable != pcx.UndeliverableSecret || g[hooks[0].ID].Secrets != nil {
		t.Fatalf("under another box: %v, %v; want the endpoint marked %q without secrets", g[hooks[0].ID], err, pcx.UndeliverableSecret)
	}
	_, err = store.New(tb.db, tb.name, nil).WebhooksWithSecrets(ctx, "org-a", []string{hooks[0].ID})
	wantCode(t, err, pcx.EInternal)
}

func TestWebhooksWithSecretsOverOneBatch(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, 3*time.Minute)
	// BatchGetItem takes 100 keys: 130 endpoints and as many missing IDs, interleaved, take three.
	hooks := createHooks(t, ctx, s, "org-a", 130, time.Now().Add(-time.Hour))
	var asked []string
	for i, w := range hooks {
		asked = append(asked, w.ID, fmt.Sprintf("wh_missing%03d", i))
	}
	got, err := s.WebhooksWithSecrets(ctx, "org-a", asked)
	if err != nil {
		t.Fatalf("WebhooksWithSecrets of %d IDs: %v", len(asked), err)
	}
	if len(got) != len(hooks) {
		t.Fatalf("WebhooksWithSecrets of %d IDs returned %d endpoints, want %d", len(asked), len(got), len(hooks))
	}
	for _, w := range hooks {
		if g := got[w.ID]; g == nil || hookDiff(g, w) != "" || secretsString(g.Secrets) != secretsString(w.Secrets) {
			t.Fatalf("endpoint %s = %v, want it with its secret", w.ID, g)
		}
	}
}

func TestWebhookLimitPerOrg(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	const limit = 3
	var hooks []*pcx.Webhook
	for i := range limit {
		w := newHook(t, "org-a", time.Now())
		if err := s.CreateWebhook(ctx, w, limit, nil); err != nil {
			t.Fatalf("create %d of %d: %v", i+1, limit, err)
		}
		hooks = append(hooks, w)
	}
	over := newHook(t, "org-a", time.Now())
	err := s.CreateWebhook(ctx, over, limit, nil)
	wantCode(t, err, pcx.EConflict)
	if msg := pcx.ErrorMessage(err); !strings.Contains(msg, "limit of 3") {
		t.Fatalf("over-limit message = %q, want it to name the limit of 3", msg)
	}
	if _, err := s.Webhook(ctx, "org-a", over.ID); pcx.ErrorCode(err) != pcx.ENotFound {
		t.Fatalf("the refused webhook was stored: Webhook = %v, want not found", err)
	}
	// Another organisation has a limit of its own.
	if err := s.CreateWebhook(ctx, newHook(t, "org-b", time.Now()), limit, nil); err != nil {
		t.Fatalf("org-b create: %v", err)
	}
	// Deleting a missing endpoint frees nothing; deleting one frees one slot.
	wantCode(t, s.DeleteWebhook(ctx, "org-a", "wh_missing", nil), pcx.ENotFound)
	wantCode(t, s.CreateWebhook(ctx, newHook(t, "org-a", time.Now()), limit, nil), pcx.EConflict)
	if err := s.DeleteWebhook(ctx, "org-a", hooks[1].ID, nil); err != nil {
		t.Fatalf("DeleteWebhook: %v", err)
	}
	if _, err := s.Webhook(ctx, "org-a", hooks[1].ID); pcx.ErrorCode(err) != pcx.ENotFound {
		t.Fatalf("Webhook after delete = %v, want not found", err)
	}
	wantCode(t, s.DeleteWebhook(ctx, "org-a", hooks[1].ID, nil), pcx.ENotFound)
	if err := s.CreateWebhook(ctx, newHook(t, "org-a", time.Now()), limit, nil); err != nil {
		t.Fatalf("create after a delete: %v", err)
	}
	wantCode(t, s.CreateWebhook(ctx, newHook(t, "org-a", time.Now()), limit, nil), pcx.EConflict)
	if list, _, err := s.ListWebhooks(ctx, "org-a", 10, ""); err != nil || len(list) != limit {
		t.Fatalf("ListWebhooks = %d endpoints, %v; want %d", len(list), err, limit)
	}
}

func TestWebhookLimitHoldsUnderConcurrentCreates(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	const workers, limit = 10, 5
	errs := make([]error, workers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range workers {
		w := newHook(t, "org-a", time.Now())
		wg.Go(func() {
			<-start
			errs[i] = s.CreateWebhook(ctx, w, limit, nil)
		})
	}
	close(start)
	wg.Wait()
	ok, byCode := 0, map[pcx.Code]int{}
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		byCode[pcx.ErrorCode(err)]++
		if pcx.ErrorCode(err) != pcx.EConflict {
			t.Errorf("concurrent create: %v, want nil or the limit's conflict", err)
		}
	}
	if ok != limit {
		t.Errorf("%d of %d concurrent creates succeeded (failures by code %v), want exactly %d", ok, workers, byCode, limit)
	}
	list, _, err := s.ListWebhooks(ctx, "org-a", 100, "")
	if err != nil || len(list) != ok {
		t.Fatalf("ListWebhooks = %d endpoints, %v; want the %d created", len(list), err, ok)
	}
	if ok < limit {
		// The count must still match the endpoints: the remaining slots fill, and no more.
		for i := ok; i < limit; i++ {
			if err := s.CreateWebhook(ctx, newHook(t, "org-a", time.Now()), limit, nil); err != nil {
				t.Fatalf("sequential create %d after the concurrent ones: %v", i+1, err)
			}
		}
	}
	wantCode(t, s.CreateWebhook(ctx, newHook(t, "org-a", time.Now()), limit, nil), pcx.EConflict)
}

func TestListWebhooksPaginates(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	base := time.Now().Add(-time.Hour)
	hooks := createHooks(t, ctx, s, "org-a", 7, base)
	createHooks(t, ctx, s, "org-b", 2, base)
	want := ids(hooks)
	slices.Reverse(want) // newest first

	for _, tc := range []struct{ limit, pages int }{{1, 7}, {3, 3}, {6, 2}, {7, 1}, {100, 1}} {
		t.Run(fmt.Sprintf("limit%d", tc.limit), func(t *testing.T) {
			list, pages := allPages(t, tc.limit, func(after string) ([]*pcx.Webhook, string, error) {
				return s.ListWebhooks(ctx, "org-a", tc.limit, after)
			})
			for _, w := range list {
				if len(w.Secrets) != 0 {
					t.Fatalf("listed endpoint %s carries secrets", w.ID)
				}
			}
			got := ids(list)
			if pages != tc.pages || !slices.Equal(got, want) {
				t.Fatalf("listed %v in %d pages, want %v in %d", got, pages, want, tc.pages)
			}
		})
	}
	for _, bad := range []string{"garbage", "key_" + hooks[0].ID, "wh_" + strings.Repeat("x", 62)} {
		_, _, err := s.ListWebhooks(ctx, "org-a", 3, bad)
		if pcx.ErrorCode(err) != pcx.EInvalid {
			t.Errorf("ListWebhooks after %q: %v, want code %q", bad, err, pcx.EInvalid)
		}
	}
}

func TestActiveWebhooksSkipDisabled(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	base := time.Now().Add(-time.Hour)
	disabled := pcx.WebhookDisabled
	disable := func(w *pcx.Webhook) {
		t.Helper()
		if _, err := s.UpdateWebhook(ctx, w.OrgID, w.ID, store.WebhookPatch{Status: &disabled, DisabledReason: "410 Gone"}, nil); err != nil {
			t.Fatalf("disable %s: %v", w.ID, err)
		}
	}

	// org-a: 30 endpoints, every other one disabled.
	var wantA []string // oldest first
	for i, w := range createHooks(t, ctx, s, "org-a", 30, base) {
		if i%2 == 1 {
			disable(w)
			continue
		}
		wantA = append(wantA, w.ID)
	}
	// org-b: 12 disabled, one active, 12 disabled: a page must read past disabled ones on both
	// sides, and say there is no next page when only disabled ones follow.
	var wantB []string
	for i, w := range createHooks(t, ctx, s, "org-b", 25, base) {
		if i == 12 {
			wantB = append(wantB, w.ID)
			continue
		}
		disable(w)
	}
	// org-c: all disabled.
	for _, w := range createHooks(t, ctx, s, "org-c", 5, base) {
		disable(w)
	}

	for _, tc := range []struct {
		org   string
		limit int
		want  []string
		pages int
	}{
		{"org-a", 4, wantA, 4},
		{"org-a", 1, wantA, 15},
		{"org-a", 5, wantA, 3},
		{"org-a", 15, wantA, 1},
		{"org-a", 100, wantA, 1},
		{"org-b", 1, wantB, 1},
		{"org-b", 4, wantB, 1},
		{"org-c", 2, nil, 1},
	} {
		t.Run(fmt.Sprintf("%s-limit%d", tc.org, tc.limit), func(t *testing.T) {
			list, pages := allPages(t, tc.limit, func(after string) ([]*pcx.Webhook, string, error) {
				return s.ActiveWebhooks(ctx, tc.org, tc.limit, after)
			})
			for _, w := range list {
				if w.Status != pcx.WebhookActive {
					t.Fatalf("lists %s with status %s", w.ID, w.Status)
				}
			}
			got := ids(list)
			if pages != tc.pages || !slices.Equal(got, tc.want) {
				t.Fatalf("listed %v in %d pages, want %v in %d", got, pages, tc.want, tc.pages)
			}
		})
	}
	_, _, err := s.ActiveWebhooks(ctx, "org-a", 4, "garbage")
	wantCode(t, err, pcx.EInvalid)
}

func TestActiveSubscriptions(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	disabled := pcx.WebhookDisabled
	hooks := createHooks(t, ctx, s, "org-a", 25, time.Now().Add(-time.Hour))
	createHooks(t, ctx, s, "org-b", 2, time.Now().Add(-time.Hour))
	for i := 0; i < 25; i += 3 { // 9 disabled
		if _, err := s.UpdateWebhook(ctx, "org-a", hooks[i].ID, store.WebhookPatch{Status: &disabled}, nil); err != nil {
			t.Fatal(err)
		}
	}
	subscribed := []string{"refund.*", "pcx.test"}
	if _, err := s.UpdateWebhook(ctx, "org-a", hooks[2].ID, store.WebhookPatch{EventTypes: &subscribed}, nil); err != nil {
		t.Fatal(err)
	}
	count := func(org string) (n int, withTypes [][]string) {
		subs, err := s.ActiveSubscriptions(ctx, org)
		if err != nil {
			t.Fatal(err)
		}
		for _, sub := range subs {
			if sub != nil {
				withTypes = append(withTypes, sub)
			}
		}
		return len(subs), withTypes
	}
	for _, tc := range []struct {
		org  string
		want int
	}{{"org-a", 16}, {"org-b", 2}, {"org-none", 0}} {
		if got, _ := count(tc.org); got != tc.want {
			t.Errorf("ActiveSubscriptions(%s) lists %d; want %d", tc.org, got, tc.want)
		}
	}
	if _, typed := count("org-a"); len(typed) != 1 || !slices.Equal(typed[0], subscribed) {
		t.Errorf("subscriptions with types = %q; want [%q]", typed, subscribed)
	}
	if err := s.DeleteWebhook(ctx, "org-a", hooks[1].ID, nil); err != nil { // an active one
		t.Fatal(err)
	}
	if err := s.DeleteWebhook(ctx, "org-a", hooks[0].ID, nil); err != nil { // a disabled one
		t.Fatal(err)
	}
	if got, _ := count("org-a"); got != 15 {
		t.Fatalf("ActiveSubscriptions after deletes lists %d; want 15", got)
	}
}

func TestUpdateWebhook(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	w := newHook(t, "org-a", t0)
	if err := s.CreateWebhook(ctx, w, 10, nil); err != nil {
		t.Fatal(err)
	}
	ptr := func(s string) *string { return &s }
	status := func(st pcx.WebhookStatus) *pcx.WebhookStatus { return &st }

	want := *w
	want.Secrets = nil
	for i, tc := range []struct {
		name  string
		patch store.WebhookPatch
		apply func(w *pcx.Webhook)
	}{
		{"url", store.WebhookPatch{URL: ptr("https://new.example.com/hook")},
			func(w *pcx.Webhook) { w.URL = "https://new.example.com/hook" }},
		{"description", store.WebhookPatch{Description: ptr("new description")},
			func(w *pcx.Webhook) { w.Description = "new description" }},
		{"empty description", store.WebhookPatch{Description: ptr("")},
			func(w *pcx.Webhook) { w.Description = "" }},
		{"disable", store.WebhookPatch{Status: status(pcx.WebhookDisabled), DisabledReason: "410 Gone"},
			func(w *pcx.Webhook) { w.Status, w.DisabledReason = pcx.WebhookDisabled, "410 Gone" }},
		{"nothing", store.WebhookPatch{}, func(*pcx.Webhook) {}},
		{"disable again", store.WebhookPatch{Status: status(pcx.WebhookDisabled), DisabledReason: "operator"},
			func(w *pcx.Webhook) { w.DisabledReason = "operator" }},
		{"enable", store.WebhookPatch{Status: status(pcx.WebhookActive), DisabledReason: "ignored"},
			func(w *pcx.Webhook) { w.Status, w.DisabledReason = pcx.WebhookActive, "" }},
		{"all", store.WebhookPatch{URL: ptr("https://third.example.com/"), Description: ptr("third"), Status: status(pcx.WebhookDisabled), DisabledReason: "operator"},
			func(w *pcx.Webhook) {
				w.URL, w.Description, w.Status, w.DisabledReason = "https://third.example.com/", "third", pcx.WebhookDisabled, "operator"
			}},
	} {
		now := t0.Add(time.Duration(i+1) * time.Minute)
		s.Now = func() time.Time { return now }
		tc.apply(&want)
		want.UpdatedAt = now
		got, err := s.UpdateWebhook(ctx, "org-a", w.ID, tc.patch, nil)
		if err != nil {
			t.Fatalf("%s: UpdateWebhook: %v", tc.name, err)
		}
		if d := hookDiff(got, &want); d != "" {
			t.Fatalf("%s: UpdateWebhook returned %s", tc.name, d)
		}
		read, err := s.Webhook(ctx, "org-a", w.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := hookDiff(read, &want); d != "" {
			t.Fatalf("%s: Webhook after the update: %s", tc.name, d)
		}
	}
	// Updates leave the secrets alone.
	if got, err := s.WebhookWithSecrets(ctx, "org-a", w.ID); err != nil || secretsString(got.Secrets) != secretsString(w.Secrets) {
		t.Fatalf("secrets after updates = %v, %v; want %s", got, err, secretsString(w.Secrets))
	}
	_, err := s.UpdateWebhook(ctx, "org-a", "wh_missing", store.WebhookPatch{Description: ptr("x")}, nil)
	wantCode(t, err, pcx.ENotFound)
	if list, _, _ := s.ListWebhooks(ctx, "org-a", 10, ""); len(list) != 1 {
		t.Fatalf("an update of a missing webhook created one: %d listed, want 1", len(list))
	}
}

func TestRotateWebhookSecret(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	t0 := time.Now().UTC().Truncate(time.Millisecond)
	key := func(n int) []byte { return fmt.Appendf(nil, "secret number %d, 24+ bytes", n) }
	at := func(d time.Duration) *time.Time { x := t0.Add(d); return &x }
	sec := func(n int, exp *time.Time) pcx.WebhookSecret { return pcx.WebhookSecret{Key: key(n), ExpiresAt: exp} }

	w := newHook(t, "org-a", t0)
	w.Secrets = []pcx.WebhookSecret{sec(0, nil)}
	if err := s.CreateWebhook(ctx, w, 10, nil); err != nil {
		t.Fatal(err)
	}
	const h, m = time.Hour, time.Minute
	for _, tc := range []struct {
		name  string
		at    time.Duration // since t0
		key   int
		grace time.Duration
		want  []pcx.WebhookSecret
		live  []int // keys live right after the rotation
	}{
		{"grace keeps the previous secret", 0, 1, h,
			[]pcx.WebhookSecret{sec(1, nil), sec(0, at(h))}, []int{1, 0}},
		{"grace 0 drops every old secret at once (a leak)", 1 * m, 2, 0,
			[]pcx.WebhookSecret{sec(2, nil)}, []int{2}},
		{"a third", 2 * m, 3, h,
			[]pcx.WebhookSecret{sec(3, nil), sec(2, at(2*m+h))}, []int{3, 2}},
		{"a fourth", 3 * m, 4, 2 * h,
			[]pcx.WebhookSecret{sec(4, nil), sec(3, at(3*m+2*h)), sec(2, at(2*m+h))}, []int{4, 3, 2}},
		{"a shorter grace caps older secrets too", 4 * m, 5, h,
			[]pcx.WebhookSecret{sec(5, nil), sec(4, at(4*m+h)), sec(3, at(4*m+h)), sec(2, at(2*m+h))}, []int{5, 4, 3, 2}},
		{"four old secrets", 5 * m, 6, h,
			[]pcx.WebhookSecret{sec(6, nil), sec(5, at(5*m+h)), sec(4, at(4*m+h)), sec(3, at(4*m+h)), sec(2, at(2*m+h))}, []int{6, 5, 4, 3, 2}},
		{"at most four old secrets: the oldest goes", 6 * m, 7, h,
			[]pcx.WebhookSecret{sec(7, nil), sec(6, at(6*m+h)), sec(5, at(5*m+h)), sec(4, at(4*m+h)), sec(3, at(4*m+h))}, []int{7, 6, 5, 4, 3}},
		{"expired secrets are dropped", 3 * h, 8, h,
			[]pcx.WebhookSecret{sec(8, nil), sec(7, at(3*h+h))}, []int{8, 7}},
		{"after the grace", 4 * h, 9, 30 * m,
			[]pcx.WebhookSecret{sec(9, nil), sec(8, at(4*h+30*m))}, []int{9, 8}},
	} {
		now := t0.Add(tc.at)
		s.Now = func() time.Time { return now }
		got, err := s.RotateWebhookSecret(ctx, "org-a", w.ID, key(tc.key), tc.grace, nil)
		if err != nil {
			t.Fatalf("%s: RotateWebhookSecret: %v", tc.name, err)
		}
		if secretsString(got.Secrets) != secretsString(tc.want) {
			t.Fatalf("%s: RotateWebhookSecret returned secrets\n%s\nwant\n%s", tc.name, secretsString(got.Secrets), secretsString(tc.want))
		}
		if !got.UpdatedAt.Equal(now) || !got.CreatedAt.Equal(w.CreatedAt) {
			t.Fatalf("%s: updated_at %v, created_at %v; want %v, %v", tc.name, got.UpdatedAt, got.CreatedAt, now, w.CreatedAt)
		}
		read, err := s.WebhookWithSecrets(ctx, "org-a", w.ID)
		if err != nil || secretsString(read.Secrets) != secretsString(tc.want) {
			t.Fatalf("%s: WebhookWithSecrets = %v, %v; want secrets %s", tc.name, read, err, secretsString(tc.want))
		}
		var live []pcx.WebhookSecret
		for _, n := range tc.live {
			for _, ws := range tc.want {
				if bytes.Equal(ws.Key, key(n)) {
					live = append(live, ws)
				}
			}
		}
		if got := secretsString(read.LiveSecrets(now)); got != secretsString(live) {
			t.Fatalf("%s: LiveSecrets = %s, want %s", tc.name, got, secretsString(live))
		}
		if plain, err := s.Webhook(ctx, "org-a", w.ID); err != nil || len(plain.Secrets) != 0 {
			t.Fatalf("%s: Webhook = %v, %v; want no secrets", tc.name, plain, err)
		}
	}
	// An expiry is exclusive: at now+grace the old secret no longer signs.
	read, err := s.WebhookWithSecrets(ctx, "org-a", w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := secretsString(read.LiveSecrets(t0.Add(4*h + 30*m))); got != secretsString([]pcx.WebhookSecret{sec(9, nil)}) {
		t.Fatalf("LiveSecrets at the end of the grace = %s, want only the current secret", got)
	}
	_, err = s.RotateWebhookSecret(ctx, "org-a", "wh_missing", key(10), h, nil)
	wantCode(t, err, pcx.ENotFound)
}

func TestRotateWebhookSecretConcurrently(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := testenv.Context(t, time.Minute)
	now := time.Now().UTC().Truncate(time.Millisecond)
	s.Now = func() time.Time { return now }
	w := newHook(t, "org-a", now)
	w.Secrets = []pcx.WebhookSecret{{Key: []byte("the first secret, 24 bytes")}}
	if err := s.CreateWebhook(ctx, w, 10, nil); err != nil {
		t.Fatal(err)
	}
	const workers = 8
	results := make([]*pcx.Webhook, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range workers {
		wg.Go(func() {
			<-start
			results[i], errs[i] = s.RotateWebhookSecret(ctx, "org-a", w.ID, fmt.Appendf(nil, "rotated secret %d, 24 bytes", i), time.Hour, nil)
		})
	}
	close(start)
	wg.Wait()

	// Every successful rotation replaced exactly the secret current when it wrote: following
	// "previous -> new" from the first secret must visit every success once (no fork, no loss).
	successor := map[string]string{}
	ok := 0
	for i, err := range errs {
		if err != nil {
			if pcx.ErrorCode(err) != pcx.EConflict {
				t.Errorf("rotation %d: %v, want nil or a conflict", i, err)
			}
			continue
		}
		ok++
		r := results[i]
		if len(r.Secrets) < 2 || string(r.Secrets[0].Key) != fmt.Sprintf("rotated secret %d, 24 bytes", i) {
			t.Fatalf("rotation %d returned %s, want its own secret first and the previous one after", i, secretsString(r.Secrets))
		}
		prev := string(r.Secrets[1].Key)
		if other, dup := successor[prev]; dup {
			t.Fatalf("rotations to %q and %q both replaced %q: one was lost", other, r.Secrets[0].Key, prev)
		}
		successor[prev] = string(r.Secrets[0].Key)
	}
	if ok == 0 {
		t.Fatalf("no rotation of %d succeeded: %v", workers, errs)
	}
	chain := []string{string(w.Secrets[0].Key)}
	for next, found := successor[chain[0]]; found && len(chain) <= workers; next, found = successor[next] {
		chain = append(chain, next)
	}
	if len(chain) != ok+1 {
		t.Fatalf("the rotations form the chain %q, want all %d successes in one chain", chain, ok)
	}

	final, err := s.WebhookWithSecrets(ctx, "org-a", w.ID)
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(chain) // newest first
	wantLen := min(ok+1, 5)
	var got []string
	for _, sec := range final.Secrets {
		got = append(got, string(sec.Key))
	}
	if !slices.Equal(got, chain[:wantLen]) {
		t.Fatalf("after %d successful rotations the secrets are %q, want %q", ok, got, chain[:wantLen])
	}
	for i, sec := range final.Secrets[1:] {
		if sec.ExpiresAt == nil || !sec.ExpiresAt.Equal(now.Add(time.Hour)) {
			t.Fatalf("old secret %d expires at %v, want %v", i+1, sec.ExpiresAt, now.Add(time.Hour))
		}
	}
}
