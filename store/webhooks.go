package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pcx/publicservice/internal/secretbox"
	"github.com/pcx/publicservice/pcx"
)

// SecretBox encrypts webhook signing secrets at rest; the store seals on write and opens only
// when asked for secrets.
type SecretBox interface {
	Seal(plaintext []byte, context string) []byte
	Open(sealed []byte, context string) ([]byte, error)
}

func orgWebhooksPK(org string) string { return "ORG#" + org + "#WH" }
func webhookKey(org, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: avS(orgWebhooksPK(org)), attrSK: avS(id)}
}
func webhookCountKey(org string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: avS("ORG#" + org), attrSK: avS("WHCOUNT")}
}

// urlHash names an endpoint URL in its uniqueness item: the URL exactly as registered, hashed so
// the key is short whatever the URL's length.
func urlHash(url string) string {
	sum := sha256.Sum256([]byte(url))
	return hex.EncodeToString(sum[:])
}

func webhookURLKey(org, hash string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: avS("ORG#" + org + "#URL"), attrSK: avS(hash)}
}

// attrURLHash on an endpoint item says it owns the uniqueness item of its URL. Endpoints stored
// before URLs were unique have none: they own no item, so deleting them touches none, and a new
// endpoint may take their URL.
const attrURLHash = "url_sha256"

// putURLClaim is the transaction item that claims an URL for the endpoint id, failing if another
// endpoint of the organisation has it.
func (s *Store) putURLClaim(org, id, hash string) types.TransactWriteItem {
	it := webhookURLKey(org, hash)
	it["webhook_id"], it["org_id"] = avS(id), avS(org)
	return types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: it, ConditionExpression: aws.String("attribute_not_exists(PK)")}}
}

// errURLTaken is the conflict of an URL the organisation already has an endpoint for.
func urlTaken() error {
	return pcx.Errorf(pcx.EConflict, "Your organisation already has a webhook endpoint with this endpoint_url")
}

// errNoBox: a binary without WEBHOOK_SECRETS_KEYS asked for webhook secrets.
var errNoBox = pcx.Wrap(pcx.EInternal, errors.New("store: no secret box: WEBHOOK_SECRETS_KEYS is not configured"), "")

// errSealed: a stored secret does not open under this binary's WEBHOOK_SECRETS_KEYS (sealed under
// a version it lacks, or under other key bytes).
var errSealed = pcx.Wrap(pcx.EInternal, errors.New("store: a webhook secret does not decrypt: check WEBHOOK_SECRETS_KEYS"), "")

func webhookNotFound() error { return pcx.Errorf(pcx.ENotFound, "Webhook not found") }

// secretContext is the authenticated data a secret is sealed under: the key of the item that holds
// it (the organisation's partition and the webhook ID), its position in the item's list and its
// stored expiry ("" for none). Someone who can write the table but not WEBHOOK_SECRETS_KEYS can
// then neither move a sealed secret to another organisation's or endpoint's item, nor reorder a
// list, nor extend (or drop) a secret's expiry: the value no longer opens, and the endpoint is
// Undeliverable. Each part is length-prefixed, so no two bindings read alike.
func secretContext(pk, sk string, index int, expires string) string {
	return fmt.Sprintf("webhook-secret:v2:%d:%s:%d:%s:%d:%d:%s", len(pk), pk, len(sk), sk, index, len(expires), expires)
}

// legacySecretContext is what secrets were sealed under before secretContext: the webhook ID
// only. Such values still open (openSecret) and are sealed anew, under secretContext, the next
// time the endpoint's secrets are written (a rotation). A value sealed under secretContext never
// opens under this one.
func legacySecretContext(webhookID string) string { return "webhook-secret:" + webhookID }

func (s *Store) sealSecrets(org, id string, secrets []pcx.WebhookSecret) types.AttributeValue {
	pk := orgWebhooksPK(org)
	list := make([]types.AttributeValue, len(secrets))
	for i, sec := range secrets {
		m := map[string]types.AttributeValue{}
		expires := ""
		if sec.ExpiresAt != nil {
			expires = formatTime(*sec.ExpiresAt)
			m["e"] = avS(expires)
		}
		m["s"] = avB(s.box.Seal(sec.Key, secretContext(pk, id, i, expires)))
		list[i] = &types.AttributeValueMemberM{Value: m}
	}
	return &types.AttributeValueMemberL{Value: list}
}

// openSecret opens the secret at index of the endpoint item it: under its binding to the item,
// or, for a value sealed before that binding, under legacySecretContext.
func (s *Store) openSecret(it, sit *item, index int) ([]byte, error) {
	sealed := sit.bytes("s")
	key, err := s.box.Open(sealed, secretContext(it.str(attrPK), it.str(attrSK), index, sit.str("e")))
	if err != nil {
		key, err = s.box.Open(sealed, legacySecretContext(it.str("webhook_id")))
	}
	return key, err
}

// CreateWebhook stores a new endpoint with its (sealed) secret, unless the organisation already
// has maxPerOrg endpoints or one with the same URL. The count and the URL are kept in items of
// their own, written in the same transaction, so both rules hold under concurrent creates; so is
// rec (webhook.created) when not nil.
func (s *Store) CreateWebhook(ctx context.Context, w *pcx.Webhook, maxPerOrg int, rec *pcx.AuditRecord) error {
	if s.box == nil {
		return errNoBox
	}
	it := map[string]types.AttributeValue{
		attrPK: avS(orgWebhooksPK(w.OrgID)), attrSK: avS(w.ID),
		"webhook_id": avS(w.ID), "org_id": avS(w.OrgID), "endpoint_url": avS(w.URL),
		"description": avS(w.Description), "status": avS(string(w.Status)),
		"created_at": avTime(w.CreatedAt), "updated_at": avTime(w.UpdatedAt),
		"secrets": s.sealSecrets(w.OrgID, w.ID, w.Secrets), "secret_version": avN(1),
		attrURLHash: avS(urlHash(w.URL)),
	}
	if len(w.EventTypes) > 0 {
		it["event_types"] = avStrs(w.EventTypes)
	}
	if w.PayloadFormat != "" {
		it["payload_format"] = avS(string(w.PayloadFormat))
	}
	err := s.transact(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: s.withAudit(rec,
			types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: it, ConditionExpression: aws.String("attribute_not_exists(PK)")}},
			types.TransactWriteItem{Update: &types.Update{
				TableName: &s.table, Key: webhookCountKey(w.OrgID),
				UpdateExpression:          aws.String("ADD n :one"),
				ConditionExpression:       aws.String("attribute_not_exists(n) OR n < :max"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":one": avN(1), ":max": avN(int64(maxPerOrg))},
			}},
			s.putURLClaim(w.OrgID, w.ID, urlHash(w.URL)),
		),
	})
	if reasons := cancellationReasons(err); len(reasons) >= 3 {
		switch "ConditionalCheckFailed" {
		case reasons[1]:
			return pcx.Errorf(pcx.EConflict, "Your organisation has reached its limit of %d webhook endpoints", maxPerOrg)
		case reasons[0]:
			return pcx.Wrap(pcx.EConflict, err, "Webhook ID already exists")
		case reasons[2]:
			return urlTaken()
		}
	}
	return translate(err)
}

// Webhook returns org's endpoint without its secrets.
func (s *Store) Webhook(ctx context.Context, org, id string) (*pcx.Webhook, error) {
	return s.getWebhook(ctx, org, id, false)
}

// WebhookWithSecrets returns org's endpoint with its secrets opened, for signing; one this
// process cannot sign for comes back marked Undeliverable (decodeTarget).
func (s *Store) WebhookWithSecrets(ctx context.Context, org, id string) (*pcx.Webhook, error) {
	if s.box == nil {
		return nil, errNoBox
	}
	return s.getWebhook(ctx, org, id, true)
}

func (s *Store) getWebhook(ctx context.Context, org, id string, forDelivery bool) (*pcx.Webhook, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: webhookKey(org, id), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, translate(err)
	}
	if out.Item == nil {
		return nil, webhookNotFound()
	}
	if forDelivery {
		return s.decodeTarget(out.Item), nil
	}
	w, _, err := s.decodeWebhook(out.Item, false)
	return w, err
}

// WebhooksWithSecrets returns org's endpoints among ids, secrets opened, in batched reads; IDs
// without an endpoint (deleted) are absent from the map, and endpoints this process cannot sign
// for are marked Undeliverable (decodeTarget).
func (s *Store) WebhooksWithSecrets(ctx context.Context, org string, ids []string) (map[string]*pcx.Webhook, error) {
	if s.box == nil {
		return nil, errNoBox
	}
	out := make(map[string]*pcx.Webhook, len(ids))
	keyOf := func(id string) map[string]types.AttributeValue { return webhookKey(org, id) }
	err := s.batchGet(ctx, ids, keyOf, func(m map[string]types.AttributeValue) error {
		w := s.decodeTarget(m)
		out[w.ID] = w
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListWebhooks returns up to limit of org's endpoints, newest first, after a previous page's
// position; next is "" on the last page.
func (s *Store) ListWebhooks(ctx context.Context, org string, limit int, after string) ([]*pcx.Webhook, string, error) {
	return s.queryWebhooks(ctx, org, limit, after, false, false)
}

// ActiveWebhooks returns a page of org's active endpoints in creation order, secrets opened, for
// fan-out planning: the order is stable, so a position stays valid while endpoints come and go,
// and the planner can hand the endpoints straight to the first attempts. Endpoints this process
// cannot sign for are on the page, marked Undeliverable (decodeTarget).
func (s *Store) ActiveWebhooks(ctx context.Context, org string, limit int, after string) ([]*pcx.Webhook, string, error) {
	if s.box == nil {
		return nil, "", errNoBox
	}
	return s.queryWebhooks(ctx, org, limit, after, true, true)
}

func (s *Store) queryWebhooks(ctx context.Context, org string, limit int, after string, activeOnly, oldestFirst bool) ([]*pcx.Webhook, string, error) {
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("PK = :pk AND begins_with(SK, :wh)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avS(orgWebhooksPK(org)), ":wh": avS("wh_"),
		},
		ScanIndexForward: aws.Bool(oldestFirst),
		ConsistentRead:   aws.Bool(true),
	}
	if activeOnly {
		in.FilterExpression = aws.String("#status = :active")
		in.ExpressionAttributeNames = map[string]string{"#status": "status"}
		in.ExpressionAttributeValues[":active"] = avS(string(pcx.WebhookActive))
	}
	start := func(after string) map[string]types.AttributeValue {
		if !pcx.ValidID("wh", after) {
			return nil
		}
		return webhookKey(org, after)
	}
	decode := func(m map[string]types.AttributeValue) (*pcx.Webhook, error) {
		if activeOnly {
			return s.decodeTarget(m), nil
		}
		w, _, err := s.decodeWebhook(m, false)
		return w, err
	}
	return listPage(ctx, s, in, limit, after, start, decode, func(w *pcx.Webhook) string { return w.ID })
}

// ActiveSubscriptions returns the event_types of each of org's active endpoints (nil for one
// that subscribes to every non-reserved type): what endpoint_count is counted from. It reads the
// same items a count would (DynamoDB charges a query by the items it reads, not by what it
// returns), projected to the one attribute.
func (s *Store) ActiveSubscriptions(ctx context.Context, org string) ([][]string, error) {
	in := &dynamodb.QueryInput{
		TableName:                &s.table,
		KeyConditionExpression:   aws.String("PK = :pk AND begins_with(SK, :wh)"),
		FilterExpression:         aws.String("#status = :active"),
		ProjectionExpression:     aws.String("event_types"),
		ExpressionAttributeNames: map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avS(orgWebhooksPK(org)), ":wh": avS("wh_"), ":active": avS(string(pcx.WebhookActive)),
		},
	}
	var subs [][]string
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, translate(err)
		}
		for _, m := range out.Items {
			subs = append(subs, (&item{m: m}).strs("event_types"))
		}
		if out.LastEvaluatedKey == nil {
			return subs, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// WebhookPatch is a change to an endpoint; nil fields stay as they are.
type WebhookPatch struct {
	URL            *string
	Description    *string
	Status         *pcx.WebhookStatus
	DisabledReason string // recorded when Status becomes disabled
	// EventTypes replaces the subscription; an empty list removes it (every non-reserved type).
	EventTypes    *[]string
	PayloadFormat *pcx.PayloadFormat
}

// WithStatus returns p setting the endpoint's status to status: disabled for reason (one of pcx's
// Disabled* reasons), or active, which forgets the reason. It is how the worker (after a 410 Gone)
// and an endpoint's owner alike disable an endpoint.
func (p WebhookPatch) WithStatus(status pcx.WebhookStatus, reason string) WebhookPatch {
	p.Status, p.DisabledReason = &status, ""
	if status == pcx.WebhookDisabled {
		p.DisabledReason = reason
	}
	return p
}

// UpdateWebhook applies a patch to org's endpoint and returns it. A patch that moves the endpoint
// to another URL also moves its uniqueness item, in one transaction (moveWebhook). rec
// (webhook.updated, .disabled or .enabled) is written in the same transaction when not nil.
func (s *Store) UpdateWebhook(ctx context.Context, org, id string, p WebhookPatch, rec *pcx.AuditRecord) (*pcx.Webhook, error) {
	u := p.update(s.Now())
	if p.URL != nil {
		return s.moveWebhook(ctx, org, id, *p.URL, u, rec)
	}
	upd := &types.Update{
		TableName: &s.table, Key: webhookKey(org, id),
		ConditionExpression:       aws.String("attribute_exists(PK)"),
		UpdateExpression:          aws.String(u.expr()),
		ExpressionAttributeValues: u.vals,
	}
	if len(u.names) > 0 {
		upd.ExpressionAttributeNames = u.names
	}
	err := s.transactOne(ctx, types.TransactWriteItem{Update: upd}, rec)
	if firstFailed(err) {
		return nil, webhookNotFound()
	}
	if err != nil {
		return nil, translate(err)
	}
	return s.Webhook(ctx, org, id)
}

// itemUpdate is an update expression being built: SET and REMOVE clauses with their names and
// values.
type itemUpdate struct {
	set, remove []string
	names       map[string]string
	vals        map[string]types.AttributeValue
}

func (u itemUpdate) expr() string {
	expr := "SET " + strings.Join(u.set, ", ")
	if len(u.remove) > 0 {
		expr += " REMOVE " + strings.Join(u.remove, ", ")
	}
	return expr
}

// update is the patch as an update of the endpoint item at now; the URL's uniqueness item is the
// caller's.
func (p WebhookPatch) update(now time.Time) itemUpdate {
	u := itemUpdate{set: []string{"updated_at = :now"}, names: map[string]string{}, vals: map[string]types.AttributeValue{":now": avTime(now)}}
	if p.URL != nil {
		u.set = append(u.set, "endpoint_url = :url")
		u.vals[":url"] = avS(*p.URL)
	}
	if p.Description != nil {
		u.set = append(u.set, "description = :desc")
		u.vals[":desc"] = avS(*p.Description)
	}
	if p.EventTypes != nil {
		if len(*p.EventTypes) == 0 {
			u.remove = append(u.remove, "event_types")
		} else {
			u.set = append(u.set, "event_types = :types")
			u.vals[":types"] = avStrs(*p.EventTypes)
		}
	}
	if p.PayloadFormat != nil {
		u.set = append(u.set, "payload_format = :format")
		u.vals[":format"] = avS(string(*p.PayloadFormat))
	}
	if p.Status != nil {
		u.set = append(u.set, "#status = :status")
		u.names["#status"] = "status"
		u.vals[":status"] = avS(string(*p.Status))
		if *p.Status == pcx.WebhookDisabled {
			// disabled_at stays the first disabling's when an endpoint is disabled again.
			u.set = append(u.set, "disabled_reason = :reason", "disabled_at = if_not_exists(disabled_at, :now)")
			u.vals[":reason"] = avS(p.DisabledReason)
		} else {
			// Re-enabling starts its health afresh: the failures that disabled it are not held
			// against it, and its deliveries go out at once.
			u.remove = append(u.remove, "disabled_reason", "disabled_at")
			u.remove = append(u.remove, healthAttrs...)
		}
	}
	return u
}

// ownedURL reads org's endpoint id for a change of its URL: its URL and the hash of the
// uniqueness item it owns ("" for an endpoint stored before URLs were unique), with the
// condition that they are still so when the change is written.
func (s *Store) ownedURL(ctx context.Context, org, id string) (url, hash, cond string, vals map[string]types.AttributeValue, err error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: webhookKey(org, id), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("endpoint_url, " + attrURLHash),
	})
	if err != nil {
		return "", "", "", nil, translate(err)
	}
	if out.Item == nil {
		return "", "", "", nil, webhookNotFound()
	}
	it := item{m: out.Item}
	url, hash = it.str("endpoint_url"), it.str(attrURLHash)
	vals = map[string]types.AttributeValue{":oldurl": avS(url)}
	cond = "endpoint_url = :oldurl AND attribute_not_exists(" + attrURLHash + ")"
	if hash != "" {
		cond = "endpoint_url = :oldurl AND " + attrURLHash + " = :oldhash"
		vals[":oldhash"] = avS(hash)
	}
	return url, hash, cond, vals, nil
}

// moveWebhook applies u, which changes the endpoint's URL to url, with the URL's uniqueness item:
// the new URL is claimed and the old one's item, if the endpoint owns one, deleted, in the same
// transaction, so no two endpoints of an organisation end up with one URL and no URL stays
// claimed by an endpoint that left it. Conditional on the endpoint's URL not having changed
// since it was read; a concurrent change makes it read again.
func (s *Store) moveWebhook(ctx context.Context, org, id, url string, u itemUpdate, rec *pcx.AuditRecord) (*pcx.Webhook, error) {
	for range 3 {
		oldURL, oldHash, cond, vals, err := s.ownedURL(ctx, org, id)
		if err != nil {
			return nil, err
		}
		maps.Copy(vals, u.vals)
		upd := &types.Update{
			TableName: &s.table, Key: webhookKey(org, id),
			ConditionExpression:       aws.String(cond),
			UpdateExpression:          aws.String(u.expr()),
			ExpressionAttributeValues: vals,
		}
		if len(u.names) > 0 {
			upd.ExpressionAttributeNames = u.names
		}
		items := []types.TransactWriteItem{{Update: upd}}
		// The same URL again claims nothing: an endpoint stored before URLs were unique stays
		// changeable even when a newer endpoint has claimed its URL since.
		if url != oldURL {
			newHash := urlHash(url)
			upd.UpdateExpression = aws.String(u.expr() + ", " + attrURLHash + " = :urlh")
			vals[":urlh"] = avS(newHash)
			items = append(items, s.putURLClaim(org, id, newHash))
			if oldHash != "" {
				items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table, Key: webhookURLKey(org, oldHash)}})
			}
		}
		err = s.transact(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: s.withAudit(rec, items...)})
		reasons := cancellationReasons(err)
		switch {
		case len(reasons) > 1 && reasons[1] == "ConditionalCheckFailed":
			return nil, urlTaken()
		case len(reasons) > 0 && reasons[0] == "ConditionalCheckFailed":
			continue // changed or deleted since the read: read again
		case err != nil:
			return nil, translate(err)
		}
		return s.Webhook(ctx, org, id)
	}
	return nil, pcx.Errorf(pcx.EConflict, "The webhook was changed concurrently; try again")
}

// DeleteWebhook removes org's endpoint, with the uniqueness item of its URL when it owns one; no
// new deliveries go to it. rec (webhook.deleted) is written in the same transaction when not nil.
func (s *Store) DeleteWebhook(ctx context.Context, org, id string, rec *pcx.AuditRecord) error {
	for range 3 {
		_, hash, cond, vals, err := s.ownedURL(ctx, org, id)
		if err != nil {
			return err
		}
		items := []types.TransactWriteItem{
			{Delete: &types.Delete{TableName: &s.table, Key: webhookKey(org, id), ConditionExpression: aws.String(cond), ExpressionAttributeValues: vals}},
			{Update: &types.Update{
				TableName: &s.table, Key: webhookCountKey(org),
				UpdateExpression:          aws.String("ADD n :minus"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":minus": avN(-1)},
			}},
		}
		if hash != "" {
			items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: &s.table, Key: webhookURLKey(org, hash)}})
		}
		err = s.transact(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: s.withAudit(rec, items...)})
		if firstFailed(err) {
			continue // its URL changed, or it was deleted, since the read: read again
		}
		return translate(err)
	}
	return pcx.Errorf(pcx.EConflict, "The webhook was changed concurrently; try again")
}

// maxOldSecrets bounds how many rotated-out secrets keep signing during their grace.
const maxOldSecrets = 4

// RotateWebhookSecret makes key the endpoint's current secret. The previous current secret keeps
// signing until now+grace; older secrets keep their own expiry unless that is later, and grace 0
// drops every old secret at once.
// The write is conditional on the secrets not having changed since they were read, so two
// concurrent rotations cannot lose one another. rec (webhook.secret_rotated) is written in the same
// transaction when not nil.
func (s *Store) RotateWebhookSecret(ctx context.Context, org, id string, key []byte, grace time.Duration, rec *pcx.AuditRecord) (*pcx.Webhook, error) {
	if s.box == nil {
		return nil, errNoBox
	}
	for range 3 {
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: webhookKey(org, id), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil, translate(err)
		}
		if out.Item == nil {
			return nil, webhookNotFound()
		}
		w, version, err := s.decodeWebhook(out.Item, true)
		if err != nil {
			return nil, err
		}
		now := s.Now().UTC().Truncate(time.Millisecond) // as stored: the answer matches a later read
		next := []pcx.WebhookSecret{{Key: key}}
		// Every old secret stops signing at now+grace at the latest: a rotation never extends
		// an older secret's grace, and grace 0 (a leak) stops them all at once.
		end := now.Add(grace)
		for _, old := range w.LiveSecrets(now) {
			if old.ExpiresAt == nil || old.ExpiresAt.After(end) {
				old.ExpiresAt = &end
			}
			if old.ExpiresAt.After(now) && len(next) <= maxOldSecrets {
				next = append(next, old)
			}
		}
		err = s.transactOne(ctx, types.TransactWriteItem{Update: &types.Update{
			TableName: &s.table, Key: webhookKey(org, id),
			ConditionExpression: aws.String("attribute_exists(PK) AND secret_version = :v"),
			UpdateExpression:    aws.String("SET secrets = :secrets, secret_version = :next, updated_at = :now"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":v": avN(version), ":next": avN(version + 1), ":now": avTime(now),
				":secrets": s.sealSecrets(org, id, next),
			},
		}}, rec)
		if firstFailed(err) {
			continue // rotated or deleted since the read: read again
		}
		if err != nil {
			return nil, translate(err)
		}
		// What this rotation wrote, not a read after it: a concurrent rotation may already have
		// replaced it, and the caller must be shown the secret it was given.
		w.Secrets, w.UpdatedAt = next, now
		return w, nil
	}
	return nil, pcx.Errorf(pcx.EConflict, "The secret was rotated concurrently; try again")
}

// decodeWebhook decodes an endpoint item, its secrets opened when withSecrets. A malformed item or
// a secret that does not open is an error: the API's reads and a rotation cannot go on without
// them.
func (s *Store) decodeWebhook(m map[string]types.AttributeValue, withSecrets bool) (*pcx.Webhook, int64, error) {
	w, version, err := s.readWebhook(m, withSecrets)
	if err != nil {
		return nil, 0, err
	}
	return w, version, nil
}

// decodeTarget decodes an endpoint to deliver to, its secrets opened (the caller has a box). An
// endpoint whose item is malformed, or whose secrets do not open under this process's
// WEBHOOK_SECRETS_KEYS (sealed under a version it lacks, as in a rolling key rollout), comes back
// without secrets and marked Undeliverable instead of failing the page or batch it is on: its
// delivery fails alone and the others go out.
func (s *Store) decodeTarget(m map[string]types.AttributeValue) *pcx.Webhook {
	w, _, err := s.readWebhook(m, true)
	if err == nil {
		return w
	}
	w.Secrets, w.Undeliverable = nil, pcx.UndeliverableMalformed
	if errors.Is(err, errSealed) {
		w.Undeliverable = pcx.UndeliverableSecret
	}
	if w.ID == "" {
		w.ID = (&item{m: m}).str(attrSK) // the key names the endpoint even when its attributes do not
	}
	return w
}

// readWebhook decodes an endpoint item as far as it can: on an error the endpoint is still
// returned, with what was read.
func (s *Store) readWebhook(m map[string]types.AttributeValue, withSecrets bool) (*pcx.Webhook, int64, error) {
	it := item{m: m}
	w := &pcx.Webhook{
		ID: it.str("webhook_id"), OrgID: it.str("org_id"), URL: it.str("endpoint_url"),
		Description: it.str("description"), Status: pcx.WebhookStatus(it.str("status")),
		CreatedAt: it.time("created_at"), UpdatedAt: it.time("updated_at"),
		DisabledReason: it.str("disabled_reason"), EventTypes: it.strs("event_types"),
		PayloadFormat: pcx.PayloadFormat(it.str("payload_format")),
	}
	if w.PayloadFormat == "" {
		w.PayloadFormat = pcx.PayloadRaw // stored before formats existed
	}
	w.DisabledAt = it.timePtr("disabled_at")
	w.Health = readHealth(&it)
	version := it.num("secret_version")
	if it.err != nil {
		return w, 0, pcx.Wrap(pcx.EInternal, it.err, "")
	}
	if !withSecrets {
		return w, version, nil
	}
	if s.box == nil {
		return w, 0, errNoBox
	}
	list, _ := m["secrets"].(*types.AttributeValueMemberL)
	if list == nil {
		return w, version, nil
	}
	for i, v := range list.Value {
		sm, ok := v.(*types.AttributeValueMemberM)
		if !ok {
			continue
		}
		sit := item{m: sm.Value}
		key, err := s.openSecret(&it, &sit, i)
		if err != nil {
			return w, 0, errSealed
		}
		w.Secrets = append(w.Secrets, pcx.WebhookSecret{Key: key, ExpiresAt: sit.timePtr("e")})
	}
	return w, version, nil
}

// WebhookKeyVersions names an endpoint and the WEBHOOK_SECRETS_KEYS versions its stored secrets
// are sealed under, one per secret, newest secret first (0 for a value too short to carry one).
type WebhookKeyVersions struct {
	OrgID     string
	WebhookID string
	Status    pcx.WebhookStatus
	Versions  []int
}

// ScanWebhookKeyVersions calls visit for every endpoint of every organisation with the key
// versions of its secrets, reading the table pageSize items at a time. It opens nothing: which
// versions the secrets need is in the sealed values' headers. A scan of the whole table, for
// operators (pcxctl webhooks check-secrets) only; visit's error stops it.
func (s *Store) ScanWebhookKeyVersions(ctx context.Context, pageSize int, visit func(WebhookKeyVersions) error) error {
	in := &dynamodb.ScanInput{
		TableName:                &s.table,
		FilterExpression:         aws.String("begins_with(#pk, :org) AND begins_with(#sk, :wh)"),
		ProjectionExpression:     aws.String("#pk, #sk, org_id, webhook_id, #status, #secrets"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#sk": attrSK, "#status": "status", "#secrets": "secrets"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":org": avS("ORG#"), ":wh": avS("wh_"),
		},
		Limit: aws.Int32(int32(pageSize)),
	}
	for {
		out, err := s.db.Scan(ctx, in)
		if err != nil {
			return translate(err)
		}
		for _, m := range out.Items {
			it := item{m: m}
			kv := WebhookKeyVersions{OrgID: it.str("org_id"), WebhookID: it.str(attrSK), Status: pcx.WebhookStatus(it.str("status"))}
			list, _ := m["secrets"].(*types.AttributeValueMemberL)
			if list != nil {
				for _, v := range list.Value {
					if sm, ok := v.(*types.AttributeValueMemberM); ok {
						kv.Versions = append(kv.Versions, secretbox.Version((&item{m: sm.Value}).bytes("s")))
					}
				}
			}
			if err := visit(kv); err != nil {
				return err
			}
		}
		if out.LastEvaluatedKey == nil {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
