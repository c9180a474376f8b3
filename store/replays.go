package store

import (
	"context"
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
// it writes nothing and returns the holder. over, when not "", is the workflow of a holder the
// caller found no longer running, which this claim replaces; the write is conditional on it
// still being the holder, so of two callers replacing one finished replay only one succeeds, and
// of two claiming a free event likewise. The claim expires at expires (DynamoDB's TTL; a claim
// past it counts as absent).
func (s *Store) ClaimReplay(ctx context.Context, c pcx.ReplayClaim, over string, expires time.Time) (*pcx.ReplayClaim, error) {
	it := replayClaimKey(c.EventID)
	it["event_id"] = avS(c.EventID)
	it["workflow_id"] = avS(c.WorkflowID)
	it["claimed_at"] = avTime(c.ClaimedAt)
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
	old, err := s.putUnlessHeld(ctx, in, replayClaimKey(c.EventID))
	if err != nil || old == nil {
		return nil, err
	}
	if len(old) == 0 {
		// Released between the write and the read: the caller tries again from scratch.
		return &pcx.ReplayClaim{EventID: c.EventID}, nil
	}
	oi := item{m: old}
	holder := &pcx.ReplayClaim{EventID: c.EventID, WorkflowID: oi.str("workflow_id"), ClaimedAt: oi.time("claimed_at")}
	if oi.err != nil {
		return nil, pcx.Wrap(pcx.EInternal, oi.err, "")
	}
	return holder, nil
}

// ReleaseReplay drops the event's claim if workflowID still holds it: a replay that never started
// frees the event at once instead of when its claim is found stale.
func (s *Store) ReleaseReplay(ctx context.Context, eventID, workflowID string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.table, Key: replayClaimKey(eventID),
		ConditionExpression:       aws.String("workflow_id = :wf"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":wf": avS(workflowID)},
	})
	if isConditionFailed(err) {
		return nil
	}
	return translate(err)
}
