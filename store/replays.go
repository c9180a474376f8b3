package store

import (
	"context"
	"maps"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pcx/publicservice/pcx"
)

func replayClaimKey(eventID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: avS(eventPK(eventID)), attrSK: avS("REPLAY")}
}

// ClaimReplay makes c the event's one running replay, unless another replay holds the claim: then
// it writes nothing and returns the holder (claim). rec (event.replayed) is written with the
// claim when not nil, and only if the claim is won.
func (s *Store) ClaimReplay(ctx context.Context, c pcx.ReplayClaim, over string, expires time.Time, rec *pcx.AuditRecord) (*pcx.ReplayClaim, error) {
	wf, at, held, err := s.claim(ctx, replayClaimKey(c.EventID), "event_id", c.EventID, c.WorkflowID, c.ClaimedAt, over, expires, rec)
	if err != nil || !held {
		return nil, err
	}
	return &pcx.ReplayClaim{EventID: c.EventID, WorkflowID: wf, ClaimedAt: at}, nil
}

// ReleaseReplay drops the event's claim if workflowID still holds it: a replay that never started
// frees the event at once instead of when its claim is found stale.
func (s *Store) ReleaseReplay(ctx context.Context, eventID, workflowID string) error {
	return s.releaseClaim(ctx, replayClaimKey(eventID), workflowID)
}

// claim writes the claim item key (with the attribute idAttr = id naming what it claims) for
// workflowID, unless another workflow holds it: then it writes nothing and returns the holder's
// workflow and claim time with held set (a holder's workflow of "" means the claim was released
// between the write and the read: the caller tries again from scratch). over, when not "", is the
// workflow of a holder the caller found no longer running, which this claim replaces; the write
// is conditional on it still being the holder, so of two callers replacing one finished holder
// only one succeeds, and of two claiming a free item likewise. The claim expires at expires
// (DynamoDB's TTL; a claim past it counts as absent).
func (s *Store) claim(ctx context.Context, key map[string]types.AttributeValue, idAttr, id, workflowID string, claimedAt time.Time, over string, expires time.Time, rec *pcx.AuditRecord) (
	holder string, holderAt time.Time, held bool, err error) {
	it := maps.Clone(key)
	it[idAttr] = avS(id)
	it["workflow_id"] = avS(workflowID)
	it["claimed_at"] = avTime(claimedAt)
	it[attrTTL] = ttlAt(expires)
	in := &dynamodb.PutItemInput{
		TableName:                 &s.table,
		Item:                      it,
		ConditionExpression:       aws.String("attribute_not_exists(PK) OR #ttl < :now"),
		ExpressionAttributeNames:  map[string]string{"#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": avN(s.Now().Unix())},
	}
	if over != "" {
		in.ConditionExpression = aws.String("workflow_id = :over")
		in.ExpressionAttributeNames = nil
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":over": avS(over)}
	}
	old, err := s.putUnlessHeldAudited(ctx, in, key, rec)
	if err != nil || old == nil {
		return "", time.Time{}, false, err
	}
	oi := item{m: old}
	holder, holderAt = oi.str("workflow_id"), oi.time("claimed_at")
	if len(old) > 0 && oi.err != nil {
		return "", time.Time{}, false, pcx.Wrap(pcx.EInternal, oi.err, "")
	}
	return holder, holderAt, true, nil
}

// putUnlessHeldAudited is putUnlessHeld with rec written in the same transaction when not nil.
func (s *Store) putUnlessHeldAudited(ctx context.Context, in *dynamodb.PutItemInput, key map[string]types.AttributeValue, rec *pcx.AuditRecord) (map[string]types.AttributeValue, error) {
	if rec == nil {
		return s.putUnlessHeld(ctx, in, key)
	}
	err := s.transactOne(ctx, types.TransactWriteItem{Put: &types.Put{
		TableName: in.TableName, Item: in.Item, ConditionExpression: in.ConditionExpression,
		ExpressionAttributeNames: in.ExpressionAttributeNames, ExpressionAttributeValues: in.ExpressionAttributeValues,
	}}, rec)
	if !firstFailed(err) {
		return nil, translate(err)
	}
	return s.holder(ctx, key)
}

// releaseClaim drops the claim item key if workflowID still holds it.
func (s *Store) releaseClaim(ctx context.Context, key map[string]types.AttributeValue, workflowID string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.table, Key: key,
		ConditionExpression:       aws.String("workflow_id = :wf"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":wf": avS(workflowID)},
	})
	if isConditionFailed(err) {
		return nil
	}
	return translate(err)
}
