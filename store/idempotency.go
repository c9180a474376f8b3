package store

import (
	"context"
	"encoding/hex"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pcx/publicservice/pcx"
)

func idemKey(org string, keyHash []byte) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: avS("IDEM#" + org + "#" + hex.EncodeToString(keyHash)), attrSK: avS("IDEM")}
}

// ClaimIdempotency stores rec unless a record with its key exists; then it returns the existing
// one and stores nothing. Records expire after ttl. Expired records that DynamoDB has not yet
// removed count as absent.
func (s *Store) ClaimIdempotency(ctx context.Context, rec *pcx.Idempotency, ttl time.Duration) (*pcx.Idempotency, error) {
	now := s.Now()
	it := idemKey(rec.OrgID, rec.KeyHash)
	it["org_id"] = avS(rec.OrgID)
	it["body_hash"] = avB(rec.BodyHash)
	it["event_id"] = avS(rec.EventID)
	it["workflow_id"] = avS(rec.WorkflowID)
	it["created_at"] = avTime(rec.CreatedAt)
	it[attrTTL] = ttlAt(rec.CreatedAt.Add(ttl))
	old, err := s.putUnlessHeld(ctx, &dynamodb.PutItemInput{
		TableName:                 &s.table,
		Item:                      it,
		ConditionExpression:       aws.String("attribute_not_exists(PK) OR #ttl < :now"),
		ExpressionAttributeNames:  map[string]string{"#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": avN(now.Unix())},
	}, idemKey(rec.OrgID, rec.KeyHash))
	switch {
	case err != nil:
		return nil, err
	case old == nil:
		return nil, nil
	case len(old) == 0:
		return nil, pcx.Errorf(pcx.EConflict, "A request with this Idempotency-Key is in progress; retry")
	}
	return decodeIdempotency(old)
}

// putUnlessHeld writes a conditional put. When the condition holds it returns nil; when it fails,
// the item that held it (an empty map if that one vanished in between), so a claim learns its
// holder in one call on AWS. DynamoDB Local may not return the item; then it is read.
func (s *Store) putUnlessHeld(ctx context.Context, in *dynamodb.PutItemInput, key map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	in.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
	_, err := s.db.PutItem(ctx, in)
	if !isConditionFailed(err) {
		return nil, translate(err)
	}
	if old := conditionItem(err); old != nil {
		return old, nil
	}
	return s.holder(ctx, key)
}

// holder reads the item that held a claim whose write failed its condition: an empty map if it
// vanished in between.
func (s *Store) holder(ctx context.Context, key map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, translate(err)
	}
	if out.Item == nil {
		return map[string]types.AttributeValue{}, nil
	}
	return out.Item, nil
}

// CompleteIdempotency records the reply of the request that claimed the key.
func (s *Store) CompleteIdempotency(ctx context.Context, rec *pcx.Idempotency) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: idemKey(rec.OrgID, rec.KeyHash),
		// Only complete a record that exists: completing one that expired and vanished would
		// create a partial record without a TTL that blocked the key for good.
		ConditionExpression: aws.String("attribute_exists(PK)"),
		UpdateExpression:    aws.String("SET run_id = :run, endpoint_count = :n"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":run": avS(rec.RunID), ":n": avN(int64(rec.EndpointCount)),
		},
	})
	if isConditionFailed(err) {
		return nil
	}
	return translate(err)
}

func decodeIdempotency(m map[string]types.AttributeValue) (*pcx.Idempotency, error) {
	it := item{m: m}
	rec := &pcx.Idempotency{
		OrgID: it.str("org_id"), BodyHash: it.bytes("body_hash"), EventID: it.str("event_id"),
		WorkflowID: it.str("workflow_id"), RunID: it.str("run_id"),
		EndpointCount: int(it.num("endpoint_count")), CreatedAt: it.time("created_at"),
	}
	if it.err != nil {
		return nil, pcx.Wrap(pcx.EInternal, it.err, "")
	}
	return rec, nil
}
