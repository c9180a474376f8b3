package main

import (
	"context"
	"fmt"
	"io"

	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/service/audit"
)

func auditList(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "audit list", "", "List an organisation's audit log, newest first, as GET /public/audit-events does: every change of a key or an endpoint, every replay, recovery and test send, who made it and from where.")
	l := windowFlags(fs, "records made")
	action := fs.String("action", "", "only records of this action (e.g. api_key.revoked)")
	target := fs.String("target-id", "", "only records of this key, endpoint or event ID")
	asJSON := jsonFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := l.check(); err != nil {
		return err
	}
	org, limit := l.org, l.limit
	f := audit.Filter{Action: *action, TargetID: *target, Since: l.from, Until: l.to}
	flagOf := map[string]string{"action": "--action", "target_id": "--target-id", "until": "--until"}
	for field, problem := range f.Check() {
		return usageError{flagOf[field] + " " + problem} // the first problem is enough to act on
	}
	_, st, err := c.open(ctx)
	if err != nil {
		return err
	}
	svc := &audit.Service{Store: st}
	return printList(c, *asJSON, *limit, func(n int, after string) ([]*pcx.AuditRecord, string, error) { return svc.List(ctx, *org, f, n, after) },
		newAuditView, "AT\tACTION\tTARGET_ID\tACTOR\tREQUEST_ID\tCLIENT_IP\tAUDIT_ID",
		func(w io.Writer, r *pcx.AuditRecord) {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", fmtTime(&r.At), r.Action, dash(r.TargetID), actorText(r.Actor),
				dash(r.RequestID), dash(r.ClientIP), r.ID)
		})
}

// actorText is an actor in one column: the key (prefix and user), the operator or the service.
func actorText(a pcx.Actor) string {
	switch a.Kind() {
	case "api_key":
		return fmt.Sprintf("key %s (%s, user %s)", a.Prefix, a.APIKeyID, a.UserID)
	case "operator":
		return "operator " + a.Operator
	}
	return "service (" + a.Service + ")"
}
