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

// CreateAPIKey stores a new key and its id index together, atomically; both must be new. A taken
// prefix is pcx.ErrPrefixTaken.
func (s *Store) CreateAPIKey(ctx context.Context, k *pcx.APIKey) error {
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
	notExists := aws.String("attribute_not_exists(PK)")
	err := s.transact(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{
			{Put: &types.Put{TableName: &s.table, Item: it, ConditionExpression: notExists}},
			{Put: &types.Put{TableName: &s.table, ConditionExpression: notExists, Item: map[string]types.AttributeValue{
				attrPK: avS(keyIDPK(k.ID)), attrSK: avS("KEYID"),
				"prefix": avS(k.Prefix), "org_id": avS(k.OrgID),
			}}},
		},
	})
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
	return listPage(ctx, s, in, limit, after, start, decodeKey, func(k *pcx.APIKey) string { return k.ID + "|" + k.Prefix })
}

// RevokeAPIKey marks org's key revoked and keeps the record. Revoking a revoked key changes
// nothing and succeeds, so retries are safe. The organisation check is part of the write.
func (s *Store) RevokeAPIKey(ctx context.Context, org, prefix string) (*pcx.APIKey, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      keyKey(prefix),
		ConditionExpression:      aws.String("attribute_exists(PK) AND org_id = :org"),
		UpdateExpression:         aws.String("SET #status = :revoked, revoked_at = if_not_exists(revoked_at, :now)"),
		ExpressionAttributeNames: map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":org": avS(org), ":revoked": avS(string(pcx.KeyRevoked)), ":now": avTime(s.Now()),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if isConditionFailed(err) {
		return nil, keyNotFound()
	}
	if err != nil {
		return nil, translate(err)
	}
	return decodeKey(out.Attributes)
}

// ActivateAPIKey makes org's revoked key active again, unless it has expired (EConflict).
func (s *Store) ActivateAPIKey(ctx context.Context, org, prefix string) (*pcx.APIKey, error) {
	now := s.Now()
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table,
		Key:       keyKey(prefix),
		ConditionExpression: aws.String("attribute_exists(PK) AND org_id = :org AND " +
			"(attribute_not_exists(expires_at) OR expires_at > :now)"),
		UpdateExpression:         aws.String("SET #status = :active REMOVE revoked_at"),
		ExpressionAttributeNames: map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":org": avS(org), ":active": avS(string(pcx.KeyActive)), ":now": avTime(now),
		},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if isConditionFailed(err) {
		old := conditionItem(err)
		if old == nil || (&item{m: old}).str("org_id") != org {
			return nil, keyNotFound()
		}
		return nil, pcx.Errorf(pcx.EConflict, "API key has expired and cannot be activated")
	}
	if err != nil {
		return nil, translate(err)
	}
	return decodeKey(out.Attributes)
}

// DeleteAPIKey removes org's key and its id index together.
func (s *Store) DeleteAPIKey(ctx context.Context, org, prefix string) error {
	k, err := s.APIKeyByPrefix(ctx, prefix)
	if err != nil {
		return err
	}
	if k.OrgID != org {
		return keyNotFound()
	}
	err = s.transact(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{
			{Delete: &types.Delete{
				TableName: &s.table, Key: keyKey(prefix),
				ConditionExpression:       aws.String("attribute_exists(PK) AND org_id = :org AND api_key_id = :id"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":org": avS(org), ":id": avS(k.ID)},
			}},
			{Delete: &types.Delete{
				TableName: &s.table,
				Key:       map[string]types.AttributeValue{attrPK: avS(keyIDPK(k.ID)), attrSK: avS("KEYID")},
			}},
		},
	})
	if reasons := cancellationReasons(err); reasons != nil && reasons[0] == "ConditionalCheckFailed" {
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
	}
	if it.err != nil {
		return nil, pcx.Wrap(pcx.EInternal, it.err, "")
	}
	return k, nil
}
