package api

import (
	"context"
	"net/http"

	"github.com/pcx/publicservice/internal/cursor"
	"github.com/pcx/publicservice/internal/httpx"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/service/audit"
)

// Audit is the audit-log use case the routes call (service/audit).
type Audit interface {
	List(ctx context.Context, org string, f audit.Filter, limit int, after string) ([]*pcx.AuditRecord, string, error)
}

// auditActor is who made a change, in exactly one of its three forms (contract §7).
type auditActor struct {
	APIKeyID *string `json:"api_key_id,omitempty"`
	Prefix   *string `json:"prefix,omitempty"`
	UserID   *string `json:"user_id,omitempty"`
	Operator string  `json:"operator,omitempty"`
	Service  string  `json:"service,omitempty"`
}

// auditEvent is an audit record as callers see it.
type auditEvent struct {
	AuditID   string     `json:"audit_id"`
	OrgID     string     `json:"org_id"`
	Action    string     `json:"action"`
	TargetID  *string    `json:"target_id"`
	Actor     auditActor `json:"actor"`
	At        Timestamp  `json:"at"`
	RequestID *string    `json:"request_id"`
	ClientIP  *string    `json:"client_ip"`
}

func newAuditEvent(rec *pcx.AuditRecord) auditEvent {
	e := auditEvent{AuditID: rec.ID, OrgID: rec.OrgID, Action: rec.Action, TargetID: optional(rec.TargetID),
		At: ts(rec.At), RequestID: optional(rec.RequestID), ClientIP: optional(rec.ClientIP)}
	a := rec.Actor
	switch a.Kind() {
	case "api_key":
		e.Actor = auditActor{APIKeyID: &a.APIKeyID, Prefix: &a.Prefix, UserID: &a.UserID}
	case "operator":
		e.Actor = auditActor{Operator: a.Operator}
	default:
		e.Actor = auditActor{Service: a.Service}
	}
	return e
}

// optional is s as a JSON string, or null when empty.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func handleAuditList(svc Audit, cursors *cursor.Signer) http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		since, until, err := readWindow(r)
		if err != nil {
			return err
		}
		q := r.URL.Query()
		f := audit.Filter{Action: q.Get("action"), TargetID: q.Get("target_id"), Since: since, Until: until}
		fetch := func(ctx context.Context, org string, limit int, after string) ([]*pcx.AuditRecord, string, error) {
			return svc.List(ctx, org, f, limit, after)
		}
		// A cursor is for the filter it came from: another filter's position means nothing here.
		return serveList(w, r, cursors, "audit-events:"+f.Action+":"+f.TargetID, "Audit events", fetch, newAuditEvent)
	})
}
