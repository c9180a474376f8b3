package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pcx/publicservice/app"
	"github.com/pcx/publicservice/internal/metrics"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/service/starter"
	"github.com/pcx/publicservice/service/webhooks"
	"github.com/pcx/publicservice/store"
)

func webhooksList(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "webhooks list", "", "List an organisation's webhook endpoints, newest first (never their secrets).")
	org := fs.String("org-id", "", "organisation (required)")
	limit := fs.Int("limit", 100, "how many endpoints at most (1 to 10000)")
	asJSON := jsonFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required("org-id", *org); err != nil {
		return err
	}
	if *limit < 1 || *limit > 10000 {
		return usageError{"--limit must be from 1 to 10000"}
	}
	_, st, err := c.open(ctx)
	if err != nil {
		return err
	}
	return printList(c, *asJSON, *limit, func(n int, after string) ([]*pcx.Webhook, string, error) { return st.ListWebhooks(ctx, *org, n, after) },
		newEndpointView, "WEBHOOK_ID\tSTATUS\tENDPOINT_URL\tDESCRIPTION\tCREATED_AT\tDISABLED_REASON",
		func(w io.Writer, h *pcx.Webhook) {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", h.ID, h.Status, h.URL, oneLine(h.Description), fmtTime(&h.CreatedAt), dash(h.DisabledReason))
		})
}

func oneLine(s string) string { return dash(strings.Join(strings.Fields(s), " ")) }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func eventsShow(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "events show", "EVENT_ID", "Show an event (any organisation's) and the state of each of its deliveries.")
	limit := fs.Int("limit", 1000, "how many deliveries at most")
	asJSON := jsonFlag(fs)
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	_, st, err := c.open(ctx)
	if err != nil {
		return err
	}
	ev, err := st.Event(ctx, fs.Arg(0))
	if err != nil {
		return storeErr(err)
	}
	deliveries := func(n int, after string) ([]*pcx.Delivery, string, error) {
		return st.ListDeliveries(ctx, ev.ID, n, after)
	}
	if *asJSON {
		v := eventDetailView{EventID: ev.ID, OrgID: ev.OrgID, EventType: ev.EventType(), Source: ev.Source, WorkflowID: ev.WorkflowID,
			CreatedAt: stamp(ev.CreatedAt), PayloadBytes: len(ev.Payload)}
		if v.Deliveries, err = collect(*limit, deliveries, newDeliveryView); err != nil {
			return err
		}
		return writeJSON(c.stdout, v)
	}
	fmt.Fprintf(c.stdout, "event %s\norg %s\nsource %s\ncreated %s\nworkflow %s\npayload %d bytes\n\n", ev.ID, ev.OrgID, ev.Source, fmtTime(&ev.CreatedAt), ev.WorkflowID, len(ev.Payload))
	return printList(c, false, *limit, deliveries, newDeliveryView,
		"WEBHOOK_ID\tSTATUS\tATTEMPTS\tLAST_CODE\tLAST_ERROR\tLAST_ATTEMPT_AT\tDELIVERED_AT\tENDPOINT_URL",
		func(w io.Writer, d *pcx.Delivery) {
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", d.WebhookID, d.Status, d.Attempts, statusCode(d), dash(d.LastError), fmtTime(d.LastAttemptAt), fmtTime(d.DeliveredAt), d.EndpointURL)
		})
}

// statusCode is a delivery's last status code in a column: "-" before any response.
func statusCode(d *pcx.Delivery) string {
	if d.LastStatusCode == 0 {
		return "-"
	}
	return fmt.Sprint(d.LastStatusCode)
}

func eventsReplay(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "events replay", "EVENT_ID", "Deliver an event again (same webhook-id) to every active endpoint of its organisation,\nor to the ones given. Prints the replay's workflow ID on the last line.")
	only := fs.String("webhook-ids", "", "comma-separated webhook IDs to replay to (default: all active endpoints)")
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	cfg, st, err := c.open(ctx)
	if err != nil {
		return err
	}
	ev, err := st.Event(ctx, fs.Arg(0))
	if err != nil {
		return storeErr(err)
	}
	log, err := app.NewLogger(c.stderr, "warn", "pcxctl")
	if err != nil {
		return err
	}
	tc, err := app.NewTemporalClient(cfg, log, metrics.New())
	if err != nil {
		return err
	}
	defer tc.Close()
	svc := &webhooks.Service{Store: st, Recoveries: st, Starter: &starter.Starter{Client: tc, TaskQueue: cfg.TemporalTaskQueue}, Retention: cfg.EventRetention, AuditRetention: cfg.AuditRetention}
	var ids []string
	for _, id := range strings.Split(*only, ",") {
		if id = strings.TrimSpace(id); id != "" {
			ids = append(ids, id)
		}
	}
	acc, err := svc.Replay(ctx, ev.OrgID, ev.ID, ids)
	if err != nil {
		return storeErr(err)
	}
	fmt.Fprintf(c.stdout, "replaying %s to %d endpoint(s) of %s\n%s\n", acc.EventID, acc.EndpointCount, ev.OrgID, acc.WorkflowID)
	return nil
}

// timeFlag parses an optional RFC 3339 time flag; "" is the zero time.
func timeFlag(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, usageError{fmt.Sprintf("--%s must be an RFC 3339 time, e.g. 2026-12-01T08:00:00Z", name)}
	}
	return t, nil
}

// window reads --since and --until.
func window(since, until string) (from, to time.Time, err error) {
	if from, err = timeFlag("since", since); err != nil {
		return from, to, err
	}
	if to, err = timeFlag("until", until); err != nil {
		return from, to, err
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return from, to, usageError{"--until must not be before --since"}
	}
	return from, to, nil
}

// windowList is what an organisation's list by time asks for: --org-id, --since, --until and
// --limit, declared on a flag set and checked once it is parsed.
type windowList struct {
	org, since, until *string
	limit             *int
	from, to          time.Time
}

// windowFlags declares the flags of a list of what (e.g. "events accepted").
func windowFlags(fs *flag.FlagSet, what string) *windowList {
	return &windowList{
		org:   fs.String("org-id", "", "organisation (required)"),
		since: fs.String("since", "", "only "+what+" at or after this time (RFC 3339)"),
		until: fs.String("until", "", "only "+what+" before this time (RFC 3339)"),
		limit: fs.Int("limit", 100, "how many at most (1 to 10000)"),
	}
}

// check validates the parsed flags and reads the window.
func (l *windowList) check() (err error) {
	if err := required("org-id", *l.org); err != nil {
		return err
	}
	if *l.limit < 1 || *l.limit > 10000 {
		return usageError{"--limit must be from 1 to 10000"}
	}
	l.from, l.to, err = window(*l.since, *l.until)
	return err
}

func eventsList(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "events list", "", "List an organisation's events, newest first, as GET /public/webhooks/events does (events accepted before the event list existed are not listed).")
	l := windowFlags(fs, "events accepted")
	eventType := fs.String("type", "", "only events of this type")
	asJSON := jsonFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := l.check(); err != nil {
		return err
	}
	org, limit, from, to := l.org, l.limit, l.from, l.to
	_, st, err := c.open(ctx)
	if err != nil {
		return err
	}
	f := store.EventFilter{Type: *eventType, Since: from, Until: to}
	return printList(c, *asJSON, *limit, func(n int, after string) ([]*pcx.Event, string, error) { return st.ListEvents(ctx, *org, f, n, after) },
		newEventView, "EVENT_ID\tEVENT_TYPE\tCREATED_AT\tENDPOINTS\tWORKFLOW_ID",
		func(w io.Writer, ev *pcx.Event) {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\n", ev.ID, ev.EventType(), fmtTime(&ev.CreatedAt), ev.EndpointCount, ev.WorkflowID)
		})
}

func webhooksDeliveries(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "webhooks deliveries", "", "List an endpoint's deliveries, newest event first, as GET /public/webhooks/{id}/deliveries does.")
	org := fs.String("org-id", "", "organisation (required)")
	id := fs.String("webhook-id", "", "endpoint (required)")
	status := fs.String("status", "", "only deliveries in this state: pending, delivered, failed or cancelled")
	since := fs.String("since", "", "only events accepted at or after this time (RFC 3339)")
	until := fs.String("until", "", "only events accepted before this time (RFC 3339)")
	limit := fs.Int("limit", 100, "how many deliveries at most (1 to 10000)")
	asJSON := jsonFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required("org-id", *org); err != nil {
		return err
	}
	if err := required("webhook-id", *id); err != nil {
		return err
	}
	switch pcx.DeliveryStatus(*status) {
	case "", pcx.DeliveryPending, pcx.DeliveryDelivered, pcx.DeliveryFailed, pcx.DeliveryCancelled:
	default:
		return usageError{"--status must be pending, delivered, failed or cancelled"}
	}
	if *limit < 1 || *limit > 10000 {
		return usageError{"--limit must be from 1 to 10000"}
	}
	from, to, err := window(*since, *until)
	if err != nil {
		return err
	}
	_, st, err := c.open(ctx)
	if err != nil {
		return err
	}
	if _, err := st.Webhook(ctx, *org, *id); err != nil {
		return storeErr(err) // another organisation's endpoint is not found
	}
	f := store.DeliveryFilter{Status: pcx.DeliveryStatus(*status), Since: from, Until: to}
	return printList(c, *asJSON, *limit, func(n int, after string) ([]*pcx.Delivery, string, error) {
		return st.ListEndpointDeliveries(ctx, *id, f, n, after)
	}, newEndpointDeliveryView, "EVENT_ID\tEVENT_TYPE\tSTATUS\tATTEMPTS\tLAST_STATUS_CODE\tLAST_ERROR\tLAST_ATTEMPT_AT\tDELIVERED_AT",
		func(w io.Writer, d *pcx.Delivery) {
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", d.EventID, dash(d.EventType), d.Status, d.Attempts, statusCode(d), dash(d.LastError), fmtTime(d.LastAttemptAt), fmtTime(d.DeliveredAt))
		})
}

func webhooksRecover(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "webhooks recover", "", "Make an endpoint whole for a window, as POST /public/webhooks/{id}/recover does: deliver, oldest first and\nwith their original webhook-ids, the events of the window it is subscribed to and did not receive.\nPrints the recovery's workflow ID on the last line.")
	org := fs.String("org-id", "", "organisation (required)")
	id := fs.String("webhook-id", "", "endpoint (required; active)")
	since := fs.String("since", "", "start of the window, within EVENT_RETENTION (RFC 3339, required)")
	until := fs.String("until", "", "end of the window (RFC 3339; default: now)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	for name, v := range map[string]string{"org-id": *org, "webhook-id": *id, "since": *since} {
		if err := required(name, v); err != nil {
			return err
		}
	}
	from, to, err := window(*since, *until)
	if err != nil {
		return err
	}
	var end *time.Time
	if !to.IsZero() {
		end = &to
	}
	cfg, st, err := c.open(ctx)
	if err != nil {
		return err
	}
	log, err := app.NewLogger(c.stderr, "warn", "pcxctl")
	if err != nil {
		return err
	}
	tc, err := app.NewTemporalClient(cfg, log, metrics.New())
	if err != nil {
		return err
	}
	defer tc.Close()
	svc := &webhooks.Service{Store: st, Recoveries: st, Starter: &starter.Starter{Client: tc, TaskQueue: cfg.TemporalTaskQueue}, Retention: cfg.EventRetention, AuditRetention: cfg.AuditRetention}
	r, err := svc.Recover(ctx, *org, *id, from, end)
	if err != nil {
		return storeErr(err)
	}
	fmt.Fprintf(c.stdout, "recovering %s of %s: recovery %s, events from %s to %s\n%s\n", r.WebhookID, r.OrgID, r.ID, fmtTime(&r.Since), fmtTime(r.Until), r.WorkflowID)
	return nil
}

// listAll pages through a store listing, up to limit items in pages of at most 100, handing each
// item to row: the one loop of every list command.
func listAll[T any](limit int, page func(n int, after string) ([]T, string, error), row func(T)) error {
	after, shown := "", 0
	for shown < limit {
		items, next, err := page(min(100, limit-shown), after)
		if err != nil {
			return storeErr(err)
		}
		for _, it := range items {
			row(it)
		}
		shown += len(items)
		if next == "" {
			return nil
		}
		after = next
	}
	return nil
}
