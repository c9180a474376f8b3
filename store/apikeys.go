package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pcx/publicservice/pcx"
)

func keyPK(prefix string) string  { return "KEY#" + prefix }
func keyIDPK(id string) string    { return "KEYID#" + id }
func orgKeysPK(org string) string { return "ORG#" + org + "#KEYS" }
func keyNotFound() error          { return pcx.Errorf(pcx.ENotFound, "API key not found") }
func keyKey(prefix string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: avS(keyPK(prefix)), attrSK: avS("KEY")}
}

// keyChildrenPK is the GSI2 partition of the keys a key minted: lineage, for a cascading revoke.
func keyChildrenPK(parentID string) string { return "KEY#" + parentID + "#CHILDREN" }

// keyItem is the stored form of k.
func keyItem(k *pcx.APIKey) map[string]types.AttributeValue {
	it := map[string]types.AttributeValue{
		attrPK: avS(keyPK(k.Prefix)), attrSK: avS("KEY"),
		attrGSI1PK: avS(orgKeysPK(k.OrgID)), attrGSI1SK: avS(k.ID),
		"api_key_id": avS(k.ID), "prefix": avS(k.Prefix), "org_id": avS(k.OrgID),
		"user_id": avS(k.UserID), "name": avS(k.Name), "status": avS(string(k.Status)),
		"created_at": avTime(k.CreatedAt), "secret_mac": avB(k.SecretMAC),
		"pepper_version": avN(int64(k.PepperVersion)),
	}
	if k.ExpiresAt != nil {
		it["expires_at"] = avTime(*k.ExpiresAt)
	}
	if k.Scopes != nil {
		it["scopes"] = avStrs(pcx.ScopeNames(k.Scopes))
	}
	if k.CreatedBy != "" {
		it["created_by"] = avS(k.CreatedBy)
		it[attrGSI2PK], it[attrGSI2SK] = avS(keyChildrenPK(k.CreatedBy)), avS(k.ID)
	}
	return it
}

// newKeyItems are the writes of a new key: its item and its id index, both new.
func (s *Store) newKeyItems(k *pcx.APIKey) []types.TransactWriteItem {
	notExists := aws.String("attribute_not_exists(PK)")
	return []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: keyItem(k), ConditionExpression: notExists}},
		{Put: &types.Put{TableName: &s.table, ConditionExpression: notExists, Item: map[string]types.AttributeValue{
			attrPK: avS(keyIDPK(k.ID)), attrSK: avS("KEYID"),
			"prefix": avS(k.Prefix), "org_id": avS(k.OrgID),
		}}},
	}
}

// CreateAPIKey stores a new key and its id index together, with rec (api_key.created) when not
// nil, atomically; both must be new. A taken prefix is pcx.ErrPrefixTaken.
func (s *Store) CreateAPIKey(ctx context.Context, k *pcx.APIKey, rec *pcx.AuditRecord) error {
	err := s.transact(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: s.withAudit(rec, s.newKeyItems(k)...)})
	return keyCreateError(err)
}

// keyCreateError reads a new key's transaction's outcome: its first two items are the key's.
func keyCreateError(err error) error {
	if reasons := cancellationReasons(err); reasons != nil {
		if reasons[0] == "ConditionalCheckFailed" {
			return pcx.ErrPrefixTaken
		}
		if len(reasons) > 1 && reasons[1] == "ConditionalCheckFailed" {
			return pcx.Wrap(pcx.EConflict, err, "API key id already exists")
		}
	}
	return translate(err)
}

// APIKeyByPrefix returns the key with the prefix, read consistently: a revoke or delete is seen
// by the next read. This is the read behind every authenticated request on a cache miss.
func (s *Store) APIKeyByPrefix(ctx context.Context, prefix string) (*pcx.APIKey, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: keyKey(prefix), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, translate(err)
	}
	if out.Item == nil {
		return nil, keyNotFound()
	}
	return decodeKey(out.Item)
}

// APIKeyByID returns the key with the id if it belongs to org; another organisation's key is
// reported as not found.
func (s *Store) APIKeyByID(ctx context.Context, org, id string) (*pcx.APIKey, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.table,
		Key:            map[string]types.AttributeValue{attrPK: avS(keyIDPK(id)), attrSK: avS("KEYID")},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, translate(err)
	}
	if out.Item == nil {
		return nil, keyNotFound()
	}
	idx := item{m: out.Item}
	if idx.str("org_id") != org {
		return nil, keyNotFound()
	}
	k, err := s.APIKeyByPrefix(ctx, idx.str("prefix"))
	if err != nil {
		return nil, err
	}
	if k.OrgID != org || k.ID != id {
		return nil, keyNotFound()
	}
	return k, nil
}

// ListAPIKeys returns up to limit keys of org, newest first, starting after the position a
// previous page returned. next is "" on the last page. Positions are this package's own
// encoding; callers sign them before handing them out.
func (s *Store) ListAPIKeys(ctx context.Context, org string, limit int, after string) ([]*pcx.APIKey, string, error) {
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		IndexName:              aws.String(gsi1),
		KeyConditionExpression: aws.String("GSI1PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avS(orgKeysPK(org)),
		},
		ScanIndexForward: aws.Bool(false),
	}
	start := func(after string) map[string]types.AttributeValue {
		id, prefix, ok := strings.Cut(after, "|")
		if !ok || !pcx.ValidKeyPrefix(prefix) || !pcx.ValidID("key", id) {
			return nil
		}
		return map[string]types.AttributeValue{
			attrGSI1PK: avS(orgKeysPK(org)), attrGSI1SK: avS(id),
			attrPK: avS(keyPK(prefix)), attrSK: avS("KEY"),
		}
	}
	keys, next, err := listPage(ctx, s, in, limit, after, start, decodeKey, func(k *pcx.APIKey) string { return k.ID + "|" + k.Prefix })
	if err != nil {
		return nil, "", err
	}
	return keys, next, s.withLineage(ctx, keys)
}

// withLineage sets the scopes and creator of keys read from GSI1, whose projection (fixed when
// the index was created) holds neither: one consistent read per key of the page, from the base
// table. A key deleted in between keeps what the index said.
func (s *Store) withLineage(ctx context.Context, keys []*pcx.APIKey) error {
	byPrefix := make(map[string]*pcx.APIKey, len(keys))
	prefixes := make([]string, len(keys))
	for i, k := range keys {
		byPrefix[k.Prefix], prefixes[i] = k, k.Prefix
	}
	return s.batchGet(ctx, prefixes, keyKey, func(m map[string]types.AttributeValue) error {
		full, err := decodeKey(m)
		if err != nil {
			return err
		}
		if k := byPrefix[full.Prefix]; k != nil && k.ID == full.ID {
			k.Scopes, k.CreatedBy = full.Scopes, full.CreatedBy
		}
		return nil
	})
}

// RevokeAPIKey marks org's key revoked, with rec (api_key.revoked) when not nil, and keeps the
// record. Revoking a revoked key changes nothing, writes no audit record and succeeds (changed
// false), so retries are safe. The organisation check is part of the write.
func (s *Store) RevokeAPIKey(ctx context.Context, org, prefix string, rec *pcx.AuditRecord) (k *pcx.APIKey, changed bool, err error) {
	err = s.transactOne(ctx, types.TransactWriteItem{Update: &types.Update{
		TableName:                &s.table,
		Key:                      keyKey(prefix),
		ConditionExpression:      aws.String("attribute_exists(PK) AND org_id = :org AND #status <> :revoked"),
		UpdateExpression:         aws.String("SET #status = :revoked, revoked_at = :now"),
		ExpressionAttributeNames: map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":org": avS(org), ":revoked": avS(string(pcx.KeyRevoked)), ":now": avTime(s.Now()),
		},
	}}, rec)
	if err != nil && !firstFailed(err) {
		return nil, false, translate(err)
	}
	k, rerr := s.keyOf(ctx, org, prefix)
	if rerr != nil {
		return nil, false, rerr
	}
	if err != nil && k.Status != pcx.KeyRevoked {
		// Neither revoked by this write nor before it: it was changed in between; the caller
		// asks again.
		return nil, false, pcx.Errorf(pcx.EConflict, "The API key was changed concurrently; try again")
	}
	return k, err == nil, nil
}

// APIKeyOf reads org's key with prefix, consistently; another organisation's is not found.
func (s *Store) APIKeyOf(ctx context.Context, org, prefix string) (*pcx.APIKey, error) {
	return s.keyOf(ctx, org, prefix)
}

// keyOf reads org's key with prefix; another organisation's is not found.
func (s *Store) keyOf(ctx context.Context, org, prefix string) (*pcx.APIKey, error) {
	k, err := s.APIKeyByPrefix(ctx, prefix)
	if err != nil {
		return nil, err
	}
	if k.OrgID != org {
		return nil, keyNotFound()
	}
	return k, nil
}

// ActivateAPIKey makes org's revoked key active again, with rec (api_key.activated) when not nil,
// unless it has expired (EConflict). Activating an active key changes nothing and writes no
// record.
func (s *Store) ActivateAPIKey(ctx context.Context, org, prefix string, rec *pcx.AuditRecord) (*pcx.APIKey, error) {
	now := s.Now()
	err := s.transactOne(ctx, types.TransactWriteItem{Update: &types.Update{
		TableName: &s.table,
		Key:       keyKey(prefix),
		ConditionExpression: aws.String("attribute_exists(PK) AND org_id = :org AND #status <> :active AND " +
			"(attribute_not_exists(expires_at) OR expires_at > :now)"),
		UpdateExpression:         aws.String("SET #status = :active REMOVE revoked_at"),
		ExpressionAttributeNames: map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":org": avS(org), ":active": avS(string(pcx.KeyActive)), ":now": avTime(now),
		},
	}}, rec)
	if err != nil && !firstFailed(err) {
		return nil, translate(err)
	}
	k, rerr := s.keyOf(ctx, org, prefix)
	switch {
	case rerr != nil:
		return nil, rerr
	case err == nil || k.Status == pcx.KeyActive && k.Usable(now):
		return k, nil
	case !k.Usable(now) && k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return nil, pcx.Errorf(pcx.EConflict, "API key has expired and cannot be activated")
	}
	return nil, pcx.Errorf(pcx.EConflict, "The API key was changed concurrently; try again")
}

// KeyPatch is a change of a key's metadata; nil fields stay as they are.
type KeyPatch struct {
	Name      *string
	ExpiresAt *time.Time
}

// UpdateAPIKey applies p to org's key, with rec (api_key.updated) when not nil, and returns it.
func (s *Store) UpdateAPIKey(ctx context.Context, org, prefix string, p KeyPatch, rec *pcx.AuditRecord) (*pcx.APIKey, error) {
	var set []string
	vals := map[string]types.AttributeValue{":org": avS(org)}
	names := map[string]string{}
	if p.Name != nil {
		set, names["#name"], vals[":name"] = append(set, "#name = :name"), "name", avS(*p.Name)
	}
	if p.ExpiresAt != nil {
		set, vals[":exp"] = append(set, "expires_at = :exp"), avTime(*p.ExpiresAt)
	}
	if len(set) == 0 {
		return s.keyOf(ctx, org, prefix)
	}
	upd := &types.Update{
		TableName: &s.table, Key: keyKey(prefix),
		ConditionExpression:       aws.String("attribute_exists(PK) AND org_id = :org"),
		UpdateExpression:          aws.String("SET " + strings.Join(set, ", ")),
		ExpressionAttributeValues: vals,
	}
	if len(names) > 0 {
		upd.ExpressionAttributeNames = names
	}
	err := s.transactOne(ctx, types.TransactWriteItem{Update: upd}, rec)
	if firstFailed(err) {
		return nil, keyNotFound()
	}
	if err != nil {
		return nil, translate(err)
	}
	return s.keyOf(ctx, org, prefix)
}

// RollAPIKey stores next, the successor of org's key old, and makes old expire at oldExpires, in
// one transaction with the records of both (created for next, rolled for old) when given. old
// must still be as it was read (unexpired past oldExpires, the same ID): a concurrent roll or
// delete makes this one fail with EConflict. A taken prefix for next is pcx.ErrPrefixTaken.
func (s *Store) RollAPIKey(ctx context.Context, old *pcx.APIKey, oldExpires time.Time, next *pcx.APIKey, created, rolled *pcx.AuditRecord) error {
	items := s.newKeyItems(next)
	// Still active (a revoke in between would otherwise be rolled into a working key), and
	// with the expiry it was read with (two rolls at once: one wins).
	cond := "attribute_exists(PK) AND org_id = :org AND api_key_id = :id AND #status = :active AND attribute_not_exists(expires_at)"
	vals := map[string]types.AttributeValue{":org": avS(old.OrgID), ":id": avS(old.ID), ":exp": avTime(oldExpires), ":active": avS(string(pcx.KeyActive))}
	if old.ExpiresAt != nil {
		cond = "attribute_exists(PK) AND org_id = :org AND api_key_id = :id AND #status = :active AND expires_at = :was"
		vals[":was"] = avTime(*old.ExpiresAt)
	}
	items = append(items, types.TransactWriteItem{Update: &types.Update{
		TableName: &s.table, Key: keyKey(old.Prefix),
		ConditionExpression: aws.String(cond), UpdateExpression: aws.String("SET expires_at = :exp"),
		ExpressionAttributeNames: map[string]string{"#status": "status"}, ExpressionAttributeValues: vals,
	}})
	if created != nil {
		items = append(items, s.auditPut(created))
	}
	items = s.withAudit(rolled, items...)
	err := s.transact(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if reasons := cancellationReasons(err); len(reasons) > 2 && reasons[2] == "ConditionalCheckFailed" {
		return pcx.Errorf(pcx.EConflict, "The API key was changed concurrently; try again")
	}
	return keyCreateError(err)
}

// KeyChildren returns the prefixes of the keys minted by the key with id (one query of GSI2 per
// page of 100): what a cascading revoke follows.
func (s *Store) KeyChildren(ctx context.Context, id string) ([]string, error) {
	in := &dynamodb.QueryInput{
		TableName: &s.table, IndexName: aws.String(gsi2),
		KeyConditionExpression:    aws.String("GSI2PK = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": avS(keyChildrenPK(id))},
		Limit:                     aws.Int32(100),
	}
	var prefixes []string
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, translate(err)
		}
		for _, m := range out.Items {
			if p, ok := strings.CutPrefix((&item{m: m}).str(attrPK), "KEY#"); ok {
				prefixes = append(prefixes, p)
			}
		}
		if out.LastEvaluatedKey == nil {
			return prefixes, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// DeleteAPIKey removes org's key and its id index together, with rec (api_key.deleted) when not
// nil.
func (s *Store) DeleteAPIKey(ctx context.Context, org, prefix string, rec *pcx.AuditRecord) error {
	k, err := s.keyOf(ctx, org, prefix)
	if err != nil {
		return err
	}
	err = s.transact(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: s.withAudit(rec,
			types.TransactWriteItem{Delete: &types.Delete{
				TableName: &s.table, Key: keyKey(prefix),
				ConditionExpression:       aws.String("attribute_exists(PK) AND org_id = :org AND api_key_id = :id"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":org": avS(org), ":id": avS(k.ID)},
			}},
			types.TransactWriteItem{Delete: &types.Delete{
				TableName: &s.table,
				Key:       map[string]types.AttributeValue{attrPK: avS(keyIDPK(k.ID)), attrSK: avS("KEYID")},
			}},
		),
	})
	if firstFailed(err) {
		return keyNotFound() // deleted or replaced since the read
	}
	return translate(err)
}

// TouchAPIKey records that the key was used at `at`, writing only if the stored value is older
// than minInterval: usage tracking costs at most one write per key per interval.
func (s *Store) TouchAPIKey(ctx context.Context, prefix string, at time.Time, minInterval time.Duration) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table,
		Key:       keyKey(prefix),
		ConditionExpression: aws.String("attribute_exists(PK) AND " +
			"(attribute_not_exists(last_used_at) OR last_used_at < :threshold)"),
		UpdateExpression: aws.String("SET last_used_at = :at"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at": avTime(at), ":threshold": avTime(at.Add(-minInterval)),
		},
	})
	if isConditionFailed(err) {
		return nil
	}
	return translate(err)
}

// RehashAPIKey stores mac under pepper version newVersion as prefix's secret MAC, if the key is
// still stored under oldVersion: a key re-hashed (or deleted) meanwhile is left as it is, and that
// is not an error. Only the MAC and its version change.
func (s *Store) RehashAPIKey(ctx context.Context, prefix string, oldVersion int, mac []byte, newVersion int) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.table,
		Key:                 keyKey(prefix),
		ConditionExpression: aws.String("attribute_exists(PK) AND pepper_version = :old"),
		UpdateExpression:    aws.String("SET secret_mac = :mac, pepper_version = :new"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":old": avN(int64(oldVersion)), ":mac": avB(mac), ":new": avN(int64(newVersion)),
		},
	})
	if isConditionFailed(err) {
		return nil
	}
	return translate(err)
}

// APIKeyPepperVersions counts the stored API keys by the pepper version their MAC is under,
// reading the table pageSize items at a time: a pepper may be retired once no key is left under
// it. A scan of the whole table, for operators (pcxctl keys pepper-versions) only.
func (s *Store) APIKeyPepperVersions(ctx context.Context, pageSize int) (map[int]int, error) {
	in := &dynamodb.ScanInput{
		TableName:                 &s.table,
		FilterExpression:          aws.String("begins_with(#pk, :key) AND #sk = :sk"),
		ProjectionExpression:      aws.String("pepper_version"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":key": avS(keyPK("")), ":sk": avS("KEY")},
		Limit:                     aws.Int32(int32(pageSize)),
	}
	counts := map[int]int{}
	p := dynamodb.NewScanPaginator(s.db, in)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, translate(err)
		}
		for _, m := range out.Items {
			it := item{m: m}
			counts[int(it.num("pepper_version"))]++
		}
	}
	return counts, nil
}

func conditionItem(err error) map[string]types.AttributeValue {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return ccf.Item
	}
	return nil
}

func decodeKey(m map[string]types.AttributeValue) (*pcx.APIKey, error) {
	it := item{m: m}
	k := &pcx.APIKey{
		ID: it.str("api_key_id"), Prefix: it.str("prefix"), OrgID: it.str("org_id"),
		UserID: it.str("user_id"), Name: it.str("name"), Status: pcx.KeyStatus(it.str("status")),
		CreatedAt: it.time("created_at"), ExpiresAt: it.timePtr("expires_at"),
		LastUsedAt: it.timePtr("last_used_at"), RevokedAt: it.timePtr("revoked_at"),
		SecretMAC: it.bytes("secret_mac"), PepperVersion: int(it.num("pepper_version")),
		CreatedBy: it.str("created_by"), Scopes: pcx.AllScopes,
	}
	if _, ok := m["scopes"]; ok {
		k.Scopes = nil
		for _, n := range it.strs("scopes") {
			if pcx.ValidScope(n) { // a scope this version does not know grants nothing
				k.Scopes = append(k.Scopes, pcx.Scope(n))
			}
		}
	}
	if it.err != nil {
		return nil, pcx.Wrap(pcx.EInternal, it.err, "")
	}
	return k, nil
}
