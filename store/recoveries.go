package store

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pcx/publicservice/pcx"
)

// An endpoint's recoveries live in the partition WH#<webhook_id>: one claim item (RECOVERY),
// naming the recovery that may run, and one progress item per recovery (RCV#<recovery_id>).
func endpointPK(webhookID string) string { return "WH#" + webhookID }
func recoveryClaimKey(webhookID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: avS(endpointPK(webhookID)), attrSK: avS("RECOVERY")}
}
func recoveryKey(webhookID, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: avS(endpointPK(webhookID)), attrSK: avS("RCV#" + id)}
}

// ClaimRecovery makes workflowID the endpoint's one running recovery, unless another holds the
// claim: then it writes nothing and returns the holder with held set (claim; over as there).
func (s *Store) ClaimRecovery(ctx context.Context, webhookID, workflowID string, claimedAt time.Time, over string, expires time.Time) (
	holder string, holderAt time.Time, held bool, err error) {
	return s.claim(ctx, recoveryClaimKey(webhookID), "webhook_id", webhookID, workflowID, claimedAt, over, expires, nil)
}

// ReleaseRecovery drops the endpoint's recovery claim if workflowID still holds it.
func (s *Store) ReleaseRecovery(ctx context.Context, webhookID, workflowID string) error {
	return s.releaseClaim(ctx, recoveryClaimKey(webhookID), workflowID)
}

// CreateRecovery stores a recovery's progress item, running with nothing found yet, with rec
// (webhook.recovery_started) when not nil; it expires at expires.
func (s *Store) CreateRecovery(ctx context.Context, r *pcx.Recovery, expires time.Time, rec *pcx.AuditRecord) error {
	it := recoveryKey(r.WebhookID, r.ID)
	it["recovery_id"] = avS(r.ID)
	it["org_id"] = avS(r.OrgID)
	it["webhook_id"] = avS(r.WebhookID)
	it["workflow_id"] = avS(r.WorkflowID)
	it["since"] = avTime(r.Since)
	if r.Until != nil {
		it["until"] = avTime(*r.Until)
	}
	it["status"] = avS(pcx.RecoveryRunning)
	it["events_found"] = avN(0)
	it["events_sent"] = avN(0)
	it["created_at"] = avTime(r.CreatedAt)
	it[attrTTL] = ttlAt(expires)
	return translate(s.transactOne(ctx, types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: it}}, rec))
}

// RecordRecoveryProgress sets a recovery's counts, and its status to completed when done. The
// counts are totals, not increments, so a retried write changes nothing.
func (s *Store) RecordRecoveryProgress(ctx context.Context, webhookID, id string, found, sent int, done bool) error {
	status := pcx.RecoveryRunning
	if done {
		status = pcx.RecoveryCompleted
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: recoveryKey(webhookID, id),
		UpdateExpression:         aws.String("SET events_found = :f, events_sent = :s, #status = :st"),
		ConditionExpression:      aws.String("attribute_exists(PK)"),
		ExpressionAttributeNames: map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":f": avN(int64(found)), ":s": avN(int64(sent)), ":st": avS(status),
		},
	})
	if isConditionFailed(err) {
		return recoveryNotFound()
	}
	return translate(err)
}

func recoveryNotFound() error { return pcx.Errorf(pcx.ENotFound, "Recovery not found") }

// RecoveryOf returns org's recovery id of the endpoint webhookID; another organisation's is not
// found.
func (s *Store) RecoveryOf(ctx context.Context, org, webhookID, id string) (*pcx.Recovery, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: recoveryKey(webhookID, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, translate(err)
	}
	it := item{m: out.Item}
	if out.Item == nil || it.str("org_id") != org {
		return nil, recoveryNotFound()
	}
	r := &pcx.Recovery{
		ID: it.str("recovery_id"), OrgID: org, WebhookID: it.str("webhook_id"), WorkflowID: it.str("workflow_id"),
		Since: it.time("since"), Until: it.timePtr("until"), Status: it.str("status"),
		EventsFound: int(it.num("events_found")), EventsSent: int(it.num("events_sent")), CreatedAt: it.time("created_at"),
	}
	if it.err != nil {
		return nil, pcx.Wrap(pcx.EInternal, it.err, "")
	}
	return r, nil
}

// DeliveryStatusesTo returns the status of the endpoint's delivery of each of the events, by
// event ID, in batched consistent reads (one read unit per record of up to 4 KB); an event the
// endpoint has no record of is absent from the map.
func (s *Store) DeliveryStatusesTo(ctx context.Context, webhookID string, eventIDs []string) (map[string]pcx.DeliveryStatus, error) {
	out := make(map[string]pcx.DeliveryStatus, len(eventIDs))
	keyOf := func(eventID string) map[string]types.AttributeValue { return deliveryKey(eventID, webhookID) }
	err := s.batchGet(ctx, eventIDs, keyOf, func(m map[string]types.AttributeValue) error {
		it := item{m: m}
		out[strings.TrimPrefix(it.str(attrPK), "EVT#")] = pcx.DeliveryStatus(it.str("status"))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
