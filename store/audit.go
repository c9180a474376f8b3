package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pcx/publicservice/pcx"
)

// The audit log (contract §7). A record lives in its organisation's partition, sorted by its ID
// (which sorts by time), and carries the keys of two sparse index entries, one per filter the
// API offers: by action (GSI1) and by target (GSI2). Neither index projects a record's fields,
// so a filtered page reads the records themselves by key; the unfiltered log is one query.
//
//	audit record   ORG#<org>#AUDIT   <audit_id>   GSI1: AUD#<org>#ACT#<action> / <audit_id>
//	                                             GSI2: AUD#<org>#TGT#<target_id> / <audit_id>
func orgAuditPK(org string) string            { return "ORG#" + org + "#AUDIT" }
func auditActionPK(org, action string) string { return "AUD#" + org + "#ACT#" + action }
func auditTargetPK(org, target string) string { return "AUD#" + org + "#TGT#" + target }
func auditKey(org, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: avS(orgAuditPK(org)), attrSK: avS(id)}
}

// auditPut is the write of rec that joins the transaction of the change it records: the change
// and its record are written together or not at all.
func (s *Store) auditPut(rec *pcx.AuditRecord) types.TransactWriteItem {
	it := auditKey(rec.OrgID, rec.ID)
	it[attrGSI1PK], it[attrGSI1SK] = avS(auditActionPK(rec.OrgID, rec.Action)), avS(rec.ID)
	it["audit_id"] = avS(rec.ID)
	it["org_id"] = avS(rec.OrgID)
	it["action"] = avS(rec.Action)
	it["at"] = avTime(rec.At)
	it[attrTTL] = ttlAt(rec.Expires)
	if rec.TargetID != "" {
		it[attrGSI2PK], it[attrGSI2SK] = avS(auditTargetPK(rec.OrgID, rec.TargetID)), avS(rec.ID)
		it["target_id"] = avS(rec.TargetID)
	}
	for name, v := range map[string]string{
		"actor_api_key_id": rec.Actor.APIKeyID, "actor_prefix": rec.Actor.Prefix, "actor_user_id": rec.Actor.UserID,
		"actor_operator": rec.Actor.Operator, "actor_service": rec.Actor.Service,
		"request_id": rec.RequestID, "client_ip": rec.ClientIP,
	} {
		if v != "" {
			it[name] = avS(v)
		}
	}
	return types.TransactWriteItem{Put: &types.Put{
		TableName: &s.table, Item: it, ConditionExpression: aws.String("attribute_not_exists(PK)"),
	}}
}

// withAudit returns items and, when rec is not nil, the write of rec: the transaction of a
// change with its record. Callers read the change's outcome from the first items' reasons; the
// record's put comes last.
func (s *Store) withAudit(rec *pcx.AuditRecord, items ...types.TransactWriteItem) []types.TransactWriteItem {
	if rec != nil {
		items = append(items, s.auditPut(rec))
	}
	return items
}

// transactOne writes one change with its record. The error is DynamoDB's, for the caller to
// read the change's cancellation reason (the first); a single-item write's failed condition
// comes back as a cancellation too.
func (s *Store) transactOne(ctx context.Context, change types.TransactWriteItem, rec *pcx.AuditRecord) error {
	return s.transact(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: s.withAudit(rec, change)})
}

// firstFailed reports whether a transaction was cancelled because its first item's condition
// failed.
func firstFailed(err error) bool {
	reasons := cancellationReasons(err)
	return len(reasons) > 0 && reasons[0] == "ConditionalCheckFailed"
}

// AuditFilter narrows an audit listing; zero fields do not.
type AuditFilter struct {
	Action   string
	TargetID string
	// SinceID is pcx.FirstAuditID of the earliest time asked for, UntilID pcx.LastAuditID of
	// the latest; "" for no bound.
	SinceID, UntilID string
}

// ListAuditEvents returns up to limit of org's audit records, newest first, that pass f,
// starting after the position a previous page returned (the last record's ID); next is "" on the
// last page. A filter by target uses the target's index; one by action alone, the action's; the
// action of a filter by both is checked on the target's records, which are few.
func (s *Store) ListAuditEvents(ctx context.Context, org string, f AuditFilter, limit int, after string) ([]*pcx.AuditRecord, string, error) {
	if after != "" && !pcx.ValidAuditID(after) {
		return nil, "", errBadPosition
	}
	pkAttr, skAttr, pk := attrPK, attrSK, orgAuditPK(org)
	in := &dynamodb.QueryInput{TableName: &s.table, ScanIndexForward: aws.Bool(false)}
	switch {
	case f.TargetID != "":
		in.IndexName, pkAttr, skAttr, pk = aws.String(gsi2), attrGSI2PK, attrGSI2SK, auditTargetPK(org, f.TargetID)
	case f.Action != "":
		in.IndexName, pkAttr, skAttr, pk = aws.String(gsi1), attrGSI1PK, attrGSI1SK, auditActionPK(org, f.Action)
	}
	in.KeyConditionExpression = aws.String("#pk = :pk")
	in.ExpressionAttributeNames = map[string]string{"#pk": pkAttr}
	in.ExpressionAttributeValues = map[string]types.AttributeValue{":pk": avS(pk)}
	switch {
	case f.SinceID != "" && f.UntilID != "":
		in.KeyConditionExpression = aws.String("#pk = :pk AND #sk BETWEEN :since AND :until")
	case f.SinceID != "":
		in.KeyConditionExpression = aws.String("#pk = :pk AND #sk >= :since")
	case f.UntilID != "":
		in.KeyConditionExpression = aws.String("#pk = :pk AND #sk <= :until")
	}
	if f.SinceID != "" || f.UntilID != "" {
		in.ExpressionAttributeNames["#sk"] = skAttr
	}
	if f.SinceID != "" {
		in.ExpressionAttributeValues[":since"] = avS(f.SinceID)
	}
	if f.UntilID != "" {
		in.ExpressionAttributeValues[":until"] = avS(f.UntilID)
	}
	if after != "" {
		in.ExclusiveStartKey = auditKey(org, after)
		if in.IndexName != nil {
			in.ExclusiveStartKey[pkAttr], in.ExclusiveStartKey[skAttr] = avS(pk), avS(after)
		}
	}
	var recs []*pcx.AuditRecord
	for {
		in.Limit = aws.Int32(int32(limit + 1))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, "", translate(err)
		}
		items := out.Items
		if in.IndexName != nil {
			if items, err = s.auditRecordsAt(ctx, org, items); err != nil {
				return nil, "", err
			}
		}
		for _, m := range items {
			r, err := decodeAudit(m)
			if err != nil {
				return nil, "", err
			}
			if f.Action == "" || r.Action == f.Action {
				recs = append(recs, r)
			}
		}
		if len(recs) > limit {
			return recs[:limit], recs[limit-1].ID, nil
		}
		if out.LastEvaluatedKey == nil {
			return recs, "", nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// auditRecordsAt reads the records an index query found, in the order it found them. A record
// that expired in between is left out.
func (s *Store) auditRecordsAt(ctx context.Context, org string, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, (&item{m: k}).str(attrSK))
	}
	byID := map[string]map[string]types.AttributeValue{}
	err := s.batchGet(ctx, ids, func(id string) map[string]types.AttributeValue { return auditKey(org, id) },
		func(m map[string]types.AttributeValue) error {
			byID[(&item{m: m}).str("audit_id")] = m
			return nil
		})
	if err != nil {
		return nil, err
	}
	out := make([]map[string]types.AttributeValue, 0, len(ids))
	for _, id := range ids {
		if m, ok := byID[id]; ok {
			out = append(out, m)
		}
	}
	return out, nil
}

func decodeAudit(m map[string]types.AttributeValue) (*pcx.AuditRecord, error) {
	it := item{m: m}
	r := &pcx.AuditRecord{
		ID: it.str("audit_id"), OrgID: it.str("org_id"), Action: it.str("action"), TargetID: it.str("target_id"),
		Origin: pcx.Origin{
			Actor: pcx.Actor{
				APIKeyID: it.str("actor_api_key_id"), Prefix: it.str("actor_prefix"), UserID: it.str("actor_user_id"),
				Operator: it.str("actor_operator"), Service: it.str("actor_service"),
			},
			RequestID: it.str("request_id"), ClientIP: it.str("client_ip"),
		},
		At: it.time("at"),
	}
	if it.err != nil {
		return nil, pcx.Wrap(pcx.EInternal, it.err, "")
	}
	return r, nil
}
