package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/pcx/publicservice/internal/signing"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/service/webhooks"
)

// endpointCommand reads the flags every endpoint command shares, --org-id and --webhook-id, plus
// those flags adds, and gives run the use cases as the API has them: each change is audited as
// the operator's, in the transaction of the change.
func endpointCommand(ctx context.Context, c *cli, args []string, name, summary string, flags func(fsFlags), run func(svc *webhooks.Service, org, id string) error) error {
	fs := newFlags(c, "webhooks "+name, "", summary)
	org := fs.String("org-id", "", "organisation the endpoint belongs to (required)")
	id := fs.String("webhook-id", "", "the endpoint, wh_… (required)")
	if flags != nil {
		flags(fs)
	}
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required("org-id", *org, "webhook-id", *id); err != nil {
		return err
	}
	if !pcx.ValidID("wh", *id) {
		return usageError{"--webhook-id must look like wh_<26 characters>"}
	}
	cfg, st, err := c.open(ctx)
	if err != nil {
		return err
	}
	svc := &webhooks.Service{Store: st, SecretGrace: cfg.WebhookSecretGrace, Retention: cfg.EventRetention, AuditRetention: cfg.AuditRetention}
	return storeErr(run(svc, *org, *id))
}

// fsFlags is the part of a flag set a command adds its own flags with.
type fsFlags interface {
	Duration(name string, value time.Duration, usage string) *time.Duration
	Bool(name string, value bool, usage string) *bool
}

func webhooksShow(ctx context.Context, c *cli, args []string) error {
	var asJSON *bool
	return endpointCommand(ctx, c, args, "show", "Show an endpoint: its URL, status, subscription and health (never its secrets).",
		func(fs fsFlags) { asJSON = jsonFlag(fs) },
		func(svc *webhooks.Service, org, id string) error {
			w, err := svc.Endpoint(ctx, org, id)
			if err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(c.stdout, newEndpointView(w))
			}
			printEndpoint(c, w)
			return nil
		})
}

func printEndpoint(c *cli, w *pcx.Webhook) {
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	h := w.Health
	state := "healthy"
	if h.Failing() {
		state = "failing since " + fmtTime(h.FailingSince)
	}
	for _, row := range [][2]string{
		{"WEBHOOK_ID", w.ID}, {"ORG_ID", w.OrgID}, {"ENDPOINT_URL", w.URL}, {"DESCRIPTION", oneLine(w.Description)},
		{"STATUS", string(w.Status)}, {"DISABLED_REASON", dash(pcx.DisabledReasonName(w.DisabledReason))},
		{"EVENT_TYPES", dash(fmt.Sprint(w.EventTypes))}, {"PAYLOAD_FORMAT", dash(string(w.PayloadFormat))},
		{"HEALTH", fmt.Sprintf("%s, %d consecutive failures, last success %s, last failure %s", state, h.ConsecutiveFailures, fmtTime(h.LastSuccessAt), fmtTime(h.LastFailureAt))},
		{"CREATED_AT", fmtTime(&w.CreatedAt)}, {"UPDATED_AT", fmtTime(&w.UpdatedAt)},
	} {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	_ = tw.Flush()
}

func webhooksDisable(ctx context.Context, c *cli, args []string) error {
	return webhooksSetStatus(ctx, c, args, "disable", pcx.WebhookDisabled, "Disable an endpoint: it receives nothing until enabled (webhook.disabled in the audit log).")
}

func webhooksEnable(ctx context.Context, c *cli, args []string) error {
	return webhooksSetStatus(ctx, c, args, "enable", pcx.WebhookActive, "Enable a disabled endpoint, its health started afresh (webhook.enabled in the audit log).")
}

func webhooksSetStatus(ctx context.Context, c *cli, args []string, name string, status pcx.WebhookStatus, summary string) error {
	return endpointCommand(ctx, c, args, name, summary, nil, func(svc *webhooks.Service, org, id string) error {
		w, err := svc.UpdateEndpoint(ctx, org, id, webhooks.Patch{Status: &status})
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "webhook %s (%s) is now %s\n", w.ID, w.URL, w.Status)
		return nil
	})
}

func webhooksDelete(ctx context.Context, c *cli, args []string) error {
	return endpointCommand(ctx, c, args, "delete", "Delete an endpoint: no new deliveries go to it (webhook.deleted in the audit log).", nil,
		func(svc *webhooks.Service, org, id string) error {
			if err := svc.DeleteEndpoint(ctx, org, id); err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "webhook %s deleted\n", id)
			return nil
		})
}

func webhooksRotateSecret(ctx context.Context, c *cli, args []string) error {
	var grace *time.Duration
	return endpointCommand(ctx, c, args, "rotate-secret",
		"Give an endpoint a new signing secret, printed alone on the last line (the only time it is shown); the old one keeps signing for --grace.",
		func(fs fsFlags) {
			grace = fs.Duration("grace", -1, "how long the old secret keeps signing (default WEBHOOK_SECRET_GRACE; 0 stops it at once, after a leak)")
		},
		func(svc *webhooks.Service, org, id string) error {
			var g *time.Duration
			if *grace >= 0 {
				g = grace
			}
			w, err := svc.RotateSecret(ctx, org, id, g)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "webhook %s has a new signing secret\n", w.ID)
			fmt.Fprintln(c.stdout, signing.FormatSecret(w.Secrets[0].Key))
			return nil
		})
}
