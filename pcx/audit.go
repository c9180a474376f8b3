package pcx

import (
	"context"
	"time"
)

// Audit actions (contract §7). They are stored and shown as they are: never change their text.
const (
	AuditKeyCreated      = "api_key.created"
	AuditKeyRevoked      = "api_key.revoked"
	AuditKeyActivated    = "api_key.activated"
	AuditKeyDeleted      = "api_key.deleted"
	AuditKeyRolled       = "api_key.rolled"
	AuditKeyUpdated      = "api_key.updated"
	AuditWebhookCreated  = "webhook.created"
	AuditWebhookUpdated  = "webhook.updated"
	AuditWebhookDeleted  = "webhook.deleted"
	AuditWebhookRotated  = "webhook.secret_rotated"
	AuditWebhookDisabled = "webhook.disabled"
	AuditWebhookEnabled  = "webhook.enabled"
	AuditEventReplayed   = "event.replayed"
	AuditRecoveryStarted = "webhook.recovery_started"
	AuditWebhookTestSent = "webhook.test_sent"
)

// OperatorPCXCtl is the actor of a change made with the operator CLI.
const OperatorPCXCtl = "pcxctl"

// Bounds of what a record keeps from its context, and the kinds of actor.
const (
	maxAuditRequestIDLen     = 128
	maxAuditServiceReasonLen = 200
	maxAuditClientAddrLen    = 64
	auditIDKind              = "aud"
	actorKindKey             = "api_key"
	actorKindOp              = "operator"
	actorKindService         = "service"
)

// AuditActions is every action, for validating a filter.
var AuditActions = []string{AuditKeyCreated, AuditKeyRevoked, AuditKeyActivated, AuditKeyDeleted,
	AuditKeyRolled, AuditKeyUpdated, AuditWebhookCreated, AuditWebhookUpdated, AuditWebhookDeleted,
	AuditWebhookRotated, AuditWebhookDisabled, AuditWebhookEnabled, AuditEventReplayed,
	AuditRecoveryStarted, AuditWebhookTestSent}

// Actor is who made a change: an API key, an operator's command, or the service itself. Exactly
// one of its three forms is set.
type Actor struct {
	APIKeyID, Prefix, UserID string // a request authenticated by this key
	Operator                 string // an operator command ("pcxctl")
	Service                  string // the service itself, for this reason (e.g. "failing")
}

// Kind is "api_key", "operator" or "service"; "" for the zero Actor.
func (a Actor) Kind() string {
	switch {
	case a.APIKeyID != "":
		return actorKindKey
	case a.Operator != "":
		return actorKindOp
	case a.Service != "":
		return actorKindService
	}
	return ""
}

// KeyActor is the actor of a request authenticated by p.
func KeyActor(p Principal) Actor {
	return Actor{APIKeyID: p.APIKeyID, Prefix: p.Prefix, UserID: p.UserID}
}

// Origin is who is acting in a context, and from where: what every audit record of a change made
// in it says. The API sets it for each authenticated request, pcxctl for its commands, the worker
// for the changes it makes itself.
type Origin struct {
	Actor     Actor
	RequestID string // the request's X-Request-ID; "" outside a request
	ClientIP  string // the caller's address; "" outside a request
}

type originKey struct{}

// WithOrigin returns ctx carrying o.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginFrom returns the origin ctx carries, and whether it carries one with an actor.
func OriginFrom(ctx context.Context) (Origin, bool) {
	o, ok := ctx.Value(originKey{}).(Origin)
	return o, ok && o.Actor.Kind() != ""
}

// AuditRecord is one entry of an organisation's audit log: a change, who made it, and from where.
// It is written in the same transaction as the change, so there is no change without its record
// and no record of a change that failed. It never holds a secret: only IDs, prefixes and names.
type AuditRecord struct {
	ID       string
	OrgID    string
	Action   string
	TargetID string // the key's api_key_id, the endpoint's webhook_id or the event's event_id
	Origin
	At time.Time
	// Expires is when the store may forget it (AUDIT_RETENTION after At). Never shown.
	Expires time.Time
}

// NewAuditRecord returns the record of a change about to be made in ctx: org's action on target,
// at now, kept for retention. A context with no actor is an internal error: a change that
// cannot say who made it is not made.
func NewAuditRecord(ctx context.Context, org, action, target string, now time.Time, retention time.Duration) (*AuditRecord, error) {
	o, ok := OriginFrom(ctx)
	if !ok {
		return nil, Errorf(EInternal, "a change was attempted with no actor to audit it")
	}
	o.RequestID = cut(o.RequestID, maxAuditRequestIDLen)
	o.ClientIP = cut(o.ClientIP, maxAuditClientAddrLen)
	o.Actor.Service = cut(o.Actor.Service, maxAuditServiceReasonLen)
	now = now.UTC().Truncate(time.Millisecond)
	return &AuditRecord{
		ID: NewID(auditIDKind, now), OrgID: org, Action: action, TargetID: target, Origin: o,
		At: now, Expires: now.Add(retention),
	}, nil
}

// ValidAuditID reports whether s has the shape of an audit record's ID.
func ValidAuditID(s string) bool { return ValidID(auditIDKind, s) }

// FirstAuditID is the least audit ID of records made at t or later.
func FirstAuditID(t time.Time) string { return FirstID(auditIDKind, t) }

// LastAuditID is the greatest audit ID of records made at t or earlier.
func LastAuditID(t time.Time) string { return LastID(auditIDKind, t) }

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
