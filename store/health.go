package store

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pcx/publicservice/pcx"
)

// An endpoint's health (pcx.EndpointHealth) lives in attributes of its own item rather than in an
// item of its own: every read of an endpoint for delivery carries it at no extra cost. An item
// without them, stored before health was kept, reads as healthy.
var healthAttrs = []string{"consecutive_failures", "last_success_at", "last_failure_at", "failing_since", "probe_at"}

func readHealth(it *item) pcx.EndpointHealth {
	return pcx.EndpointHealth{
		ConsecutiveFailures: int(it.num("consecutive_failures")),
		LastSuccessAt:       it.timePtr("last_success_at"),
		LastFailureAt:       it.timePtr("last_failure_at"),
		FailingSince:        it.timePtr("failing_since"),
		ProbeAt:             it.timePtr("probe_at"),
	}
}

// EndpointFailure is a failed attempt to record in its endpoint's health.
type EndpointFailure struct {
	At time.Time
	// Threshold is WEBHOOK_BREAKER_FAILURES: the failure that brings the count to it opens the
	// breaker; 0 never opens it.
	Threshold int
	// Known is the count of consecutive failures the caller's read of the endpoint showed.
	Known int
	// NextProbe is when, with the breaker open after this failure, the next probe may be claimed.
	NextProbe time.Time
}

// RecordEndpointFailure counts a failed attempt against org's endpoint and returns its health as
// the write left it (the count, the last failure and, while failing, failing_since and probe_at).
//
// It is one UpdateItem. Whether it opens the breaker is judged from the caller's read (Known),
// so it needs no read of its own; when concurrent failures made that read stale and the count
// went past the threshold unseen, a second, conditional write opens it: once per streak, and
// never after a success reset the count. A deleted endpoint is not written (ENotFound).
func (s *Store) RecordEndpointFailure(ctx context.Context, org, id string, f EndpointFailure) (pcx.EndpointHealth, error) {
	opens := f.Threshold > 0 && f.Known+1 >= f.Threshold
	expr := "ADD consecutive_failures :one SET last_failure_at = :at"
	vals := map[string]types.AttributeValue{":one": avN(1), ":at": avTime(f.At)}
	if opens {
		expr += ", " + openBreaker
		vals[":next"] = avTime(f.NextProbe)
	}
	h, err := s.updateHealth(ctx, org, id, expr, "attribute_exists(PK)", vals)
	if err != nil || opens || f.Threshold <= 0 || h.ConsecutiveFailures < f.Threshold {
		return h, err
	}
	vals = map[string]types.AttributeValue{":at": avTime(f.At), ":next": avTime(f.NextProbe), ":threshold": avN(int64(f.Threshold))}
	opened, err := s.updateHealth(ctx, org, id, "SET "+openBreaker, "consecutive_failures >= :threshold", vals)
	if err != nil {
		if pcx.ErrorCode(err) == pcx.ENotFound {
			return h, nil // a success reset the count since: not failing
		}
		return h, err
	}
	h.FailingSince, h.ProbeAt = opened.FailingSince, opened.ProbeAt
	return h, nil
}

// openBreaker marks an endpoint failing, from its first failure at the threshold on, and puts its
// next probe at :next.
const openBreaker = "failing_since = if_not_exists(failing_since, :at), probe_at = :next"

// RecordEndpointSuccess records a successful attempt: the count goes back to 0 and the breaker
// closes. Callers write it only when the endpoint's read showed failures, or a last success a
// while ago, so a healthy endpoint's deliveries do not cost a write each.
func (s *Store) RecordEndpointSuccess(ctx context.Context, org, id string, at time.Time) error {
	_, err := s.updateHealth(ctx, org, id,
		"SET last_success_at = :at, consecutive_failures = :zero REMOVE failing_since, probe_at",
		"attribute_exists(PK)", map[string]types.AttributeValue{":at": avTime(at), ":zero": avN(0)})
	return err
}

// ClaimProbe takes the probe lease of a failing endpoint: it reports whether this caller may send
// the one probe attempt, holding the lease until until. One caller wins however many try: the
// write is conditional on the endpoint still failing and its lease (or the wait the retry
// schedule set after the last probe) having run out at now. The others are told false.
func (s *Store) ClaimProbe(ctx context.Context, org, id string, now, until time.Time) (bool, error) {
	_, err := s.updateHealth(ctx, org, id, "SET probe_at = :until",
		"attribute_exists(failing_since) AND (attribute_not_exists(probe_at) OR probe_at <= :now)",
		map[string]types.AttributeValue{":now": avTime(now), ":until": avTime(until)})
	if pcx.ErrorCode(err) == pcx.ENotFound {
		return false, nil
	}
	return err == nil, err
}

// DisableWebhook disables org's active endpoint for reason (one of pcx's Disabled* reasons) and
// returns when; ok is false when it was not active (already disabled, or deleted), so of
// concurrent callers only one disables it and tells anyone. rec (webhook.disabled, by the
// service) is written with the change when not nil, and only if the endpoint was disabled.
func (s *Store) DisableWebhook(ctx context.Context, org, id, reason string, rec *pcx.AuditRecord) (at time.Time, ok bool, err error) {
	now := s.Now().UTC().Truncate(time.Millisecond)
	err = s.transactOne(ctx, types.TransactWriteItem{Update: &types.Update{
		TableName: &s.table, Key: webhookKey(org, id),
		ConditionExpression:      aws.String("#status = :active"),
		UpdateExpression:         aws.String("SET #status = :disabled, disabled_reason = :reason, disabled_at = :now, updated_at = :now"),
		ExpressionAttributeNames: map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":active": avS(string(pcx.WebhookActive)), ":disabled": avS(string(pcx.WebhookDisabled)),
			":reason": avS(reason), ":now": avTime(now),
		},
	}}, rec)
	if firstFailed(err) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, translate(err)
	}
	return now, true, nil
}

// updateHealth applies a health update to org's endpoint under cond and returns the attributes it
// wrote; a failed condition is ENotFound.
func (s *Store) updateHealth(ctx context.Context, org, id, expr, cond string, vals map[string]types.AttributeValue) (pcx.EndpointHealth, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: webhookKey(org, id),
		ConditionExpression:       aws.String(cond),
		UpdateExpression:          aws.String(expr),
		ExpressionAttributeValues: vals,
		ReturnValues:              types.ReturnValueUpdatedNew,
	})
	if isConditionFailed(err) {
		return pcx.EndpointHealth{}, webhookNotFound()
	}
	if err != nil {
		return pcx.EndpointHealth{}, translate(err)
	}
	return readHealth(&item{m: out.Attributes}), nil
}
