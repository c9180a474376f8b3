// Package audit is the audit-log use case (contract §7): reading an organisation's records. The
// records themselves are written by the store in the transaction of each change, from the record
// the change's use case builds (pcx.NewAuditRecord); nothing here writes.
package audit

import (
	"context"
	"slices"
	"time"

	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

// Store is what reading the log needs.
type Store interface {
	ListAuditEvents(ctx context.Context, org string, f store.AuditFilter, limit int, after string) ([]*pcx.AuditRecord, string, error)
}

// Service reads audit logs.
type Service struct {
	Store Store
}

// Filter narrows a listing; zero fields do not.
type Filter struct {
	Action   string
	TargetID string
	Since    time.Time
	Until    time.Time
}

// targetKinds are the kinds of ID a record names as its target.
var targetKinds = []string{"key", "wh", "evt"}

// Check returns the problems of f, per query parameter.
func (f Filter) Check() map[string]string {
	problems := map[string]string{}
	if f.Action != "" && !slices.Contains(pcx.AuditActions, f.Action) {
		problems["action"] = "is not an audit action; see the API reference for the list"
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		problems["until"] = "must not be before since"
	}
	if f.TargetID != "" && !slices.ContainsFunc(targetKinds, func(k string) bool { return pcx.ValidID(k, f.TargetID) }) {
		problems["target_id"] = "must be an api_key_id, webhook_id or event_id"
	}
	return problems
}

// List returns up to limit of org's records, newest first, passing f, after the store's
// position after; next is the position after this page, "" on the last.
func (s *Service) List(ctx context.Context, org string, f Filter, limit int, after string) ([]*pcx.AuditRecord, string, error) {
	if p := f.Check(); len(p) > 0 {
		return nil, "", pcx.Invalid("Invalid query", p)
	}
	sf := store.AuditFilter{Action: f.Action, TargetID: f.TargetID}
	if !f.Since.IsZero() {
		sf.SinceID = pcx.FirstAuditID(f.Since)
	}
	if !f.Until.IsZero() {
		sf.UntilID = pcx.LastAuditID(f.Until.Add(-time.Millisecond)) // until is excluded, as in the other lists
	}
	return s.Store.ListAuditEvents(ctx, org, sf, limit, after)
}
