package activities

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pcx/publicservice/internal/logs"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/pcx/publicservice/internal/metrics"
	"github.com/pcx/publicservice/internal/netguard"
	"github.com/pcx/publicservice/internal/signing"
	"github.com/pcx/publicservice/internal/slots"
	"github.com/pcx/publicservice/internal/tracing"
	"github.com/pcx/publicservice/pcx"
)

// DeliverInput names one delivery: an event to one endpoint.
type DeliverInput struct {
	EventID   string
	OrgID     string
	WebhookID string
	// SentBefore counts the sends already made elsewhere (the first attempt of a batch), so the
	// schedule continues where they left off.
	SentBefore int `json:",omitempty"`
}

// DeliverResult is the final outcome of a delivery.
type DeliverResult struct {
	Status pcx.DeliveryStatus
	// Unrecorded is set when the outcome could not be written; the workflow records it with
	// RecordOutcome, so a delivered event is never sent again just to record it.
	Unrecorded bool `json:",omitempty"`
	Attempt    pcx.Attempt
}

// Error classes recorded per attempt (last_error).
const (
	classTimeout    = "timeout"
	classConnection = "connection"
	classTLS        = "tls"
	classBlocked    = "blocked"
	classRedirect   = "redirect"
	classStatus     = "http_status"
	classGone       = "gone"
)

// maxResponseRead bounds how much of a response body is read (and discarded) so the connection
// can be reused; a receiver cannot make us read more.
const maxResponseRead = 64 << 10

// Deliver sends the event to the endpoint once. It returns a result for final outcomes and a
// retryable error, carrying the next delay, for a failed attempt with retries left.
//
// The schedule counts sends, not Temporal attempts: an attempt that fails before sending
// anything (the store is down) records that in its heartbeat details, so an outage of our own
// never uses up the endpoint's retries.
func (a *Activities) Deliver(ctx context.Context, in DeliverInput) (DeliverResult, error) {
	skipped := unsentAttempts(ctx)
	send := in.SentBefore + int(activity.GetInfo(ctx).Attempt) - skipped // the number of this send, from 1
	log := tracing.LogFields(ctx, a.Log.With()).Str("event_id", in.EventID).Str("webhook_id", in.WebhookID).Str("org_id", in.OrgID).Int("attempt", send).Logger()
	// Heartbeat for the whole attempt (slow store calls and the wait for a send slot included):
	// Temporal must not take a live, slow attempt for a dead one and send again beside it.
	stopBeats := heartbeatWhileRunning(ctx, skipped)
	defer stopBeats()
	var ev *pcx.Event
	unsent := func(err error) error {
		stopBeats() // so a late beat cannot overwrite the count notSent records
		if err != nil && ev != nil {
			a.stillPending(ctx, ev, in.WebhookID, heldDelay(err), unsentCause(err))
		}
		return notSent(ctx, skipped, err)
	}

	ev, err := a.eventOf(ctx, in.EventID, in.OrgID)
	if err != nil {
		return DeliverResult{}, unsent(err)
	}
	expires := a.expires(ev)
	w, err := a.Store.WebhookWithSecrets(ctx, in.OrgID, in.WebhookID)
	switch {
	case pcx.ErrorCode(err) == pcx.ENotFound:
		res, err := a.cancel(ctx, ev, in, pcx.CancelledEndpointDeleted, expires)
		return res, unsent(err)
	case err != nil:
		return DeliverResult{}, unsent(err)
	case w.Status != pcx.WebhookActive:
		res, err := a.cancel(ctx, ev, in, pcx.CancelledEndpointDisabled, expires)
		return res, unsent(err)
	case w.Undeliverable != "":
		if err := a.Store.RecordDelivery(ctx, ev, undeliverable(w), expires); err != nil {
			return DeliverResult{}, unsent(err)
		}
		a.noteUndeliverable(in.EventID, in.OrgID, w)
		a.Metrics.Pending.Ended(in.EventID, in.WebhookID)
		return DeliverResult{Status: pcx.DeliveryFailed}, nil
	}
	if send > len(a.Schedule)+1 {
		// Every send of the schedule happened, the last one on a worker that died before
		// recording it: give up without sending again.
		att := pcx.Attempt{At: a.Now(), ErrorClass: classTimeout}
		return a.finish(ctx, ev, w, pcx.DeliveryFailed, att, send-1, expires)
	}
	// A failing endpoint is sent only its probe; the rest wait unsent (health.go).
	if err := a.breaker(ctx, w); err != nil {
		return DeliverResult{}, unsent(err)
	}

	// Like a batch's, the wait for a slot is bounded (slotBudget), so the send that follows still
	// fits in the activity's timeout.
	slotCtx, cancel := context.WithTimeout(ctx, slotBudget)
	release, ok := a.acquire(slotCtx, in.OrgID, w, true)
	cancel()
	if !ok {
		// Not sent: this does not use up an attempt of the schedule (notSent). Back after a
		// while, spread so the refused do not return together.
		return DeliverResult{}, unsent(temporal.NewApplicationErrorWithOptions("no send slot came free; not sent", "NoSendSlot",
			temporal.ApplicationErrorOptions{NextRetryDelay: time.Duration(float64(5*time.Second) * 2 * a.Jitter()), Category: temporal.ApplicationErrorCategoryBenign}))
	}
	// As a batch's: the send ends in time to record it, the record in time to return.
	sendCtx, cancelSend := beforeDeadline(ctx, recordReserve)
	att, retryAfter := a.send(sendCtx, ev, w, send)
	release()
	cancelSend()
	a.observe(att)
	a.paced(w, att)
	recCtx, cancelRecord := beforeDeadline(ctx, returnMargin)
	defer cancelRecord()
	log.Debug().Int("status_code", att.StatusCode).Str("error_class", att.ErrorClass).Float64("duration_ms", logs.Ms(att.Duration)).Msg("delivery attempt")
	status, retry := a.decide(recCtx, w, att, send)
	a.noteHealth(recCtx, w, att)
	if !retry {
		return a.finish(recCtx, ev, w, status, att, send, expires)
	}
	if err := a.Store.RecordDelivery(recCtx, ev, attempted(w, pcx.DeliveryPending, att), expires); err != nil {
		log.Warn().Err(err).Msg("recording a failed attempt failed")
	}
	delay := NextDelay(a.Schedule[send-1], retryAfter, a.Jitter())
	a.Metrics.RetriesScheduled.Inc()
	a.stillPending(ctx, ev, w.ID, delay, metrics.PendingEndpoint)
	return DeliverResult{}, temporal.NewApplicationErrorWithOptions(
		fmt.Sprintf("attempt %d failed (%s %d); next in %s", send, att.ErrorClass, att.StatusCode, delay.Round(time.Second)),
		"DeliveryAttemptFailed",
		temporal.ApplicationErrorOptions{NextRetryDelay: delay, Category: temporal.ApplicationErrorCategoryBenign},
	)
}

// decide says what an attempt means for its delivery: delivered (a 2xx), failed for good (410
// Gone, which also disables the endpoint; an address the SSRF rules block; the last send of the
// schedule), or pending with a retry to come.
func (a *Activities) decide(ctx context.Context, w *pcx.Webhook, att pcx.Attempt, send int) (pcx.DeliveryStatus, bool) {
	switch {
	case att.ErrorClass == "":
		return pcx.DeliveryDelivered, false
	case att.ErrorClass == classGone:
		if _, err := a.disable(ctx, w, pcx.DisabledGone); err != nil {
			// Not disabled: retry; the 410 will come again and disable it then.
			return pcx.DeliveryPending, send <= len(a.Schedule)
		}
		return pcx.DeliveryFailed, false
	case att.ErrorClass == classBlocked, send > len(a.Schedule):
		return pcx.DeliveryFailed, false
	}
	return pcx.DeliveryPending, true
}

// unsentAttempts returns how many earlier attempts of this activity ended before sending, as
// recorded in its heartbeat details.
func unsentAttempts(ctx context.Context) int {
	var n int
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &n)
	}
	return n
}

// notSent passes on err from an attempt that sent nothing, first recording in the heartbeat
// details that this attempt does not count as a send. Permanent errors end the activity anyway.
func notSent(ctx context.Context, skipped int, err error) error {
	var appErr *temporal.ApplicationError
	if err == nil || errors.As(err, &appErr) && appErr.NonRetryable() {
		return err
	}
	activity.RecordHeartbeat(ctx, skipped+1)
	return err
}

// finish records a final outcome after sends sends, the last one att. If the write fails the
// outcome goes back to the workflow unrecorded rather than as an error: retrying would send the
// event again.
func (a *Activities) finish(ctx context.Context, ev *pcx.Event, w *pcx.Webhook, status pcx.DeliveryStatus, att pcx.Attempt, sends int, expires time.Time) (DeliverResult, error) {
	if status == pcx.DeliveryPending {
		status = pcx.DeliveryFailed // a 410 that could not disable the endpoint, on the last send
	}
	a.Metrics.Deliveries.WithLabelValues(string(status)).Inc()
	a.Metrics.Pending.Ended(ev.ID, w.ID)
	if status == pcx.DeliveryDelivered {
		a.delivered(ctx, ev, att, sends)
	}
	res := DeliverResult{Status: status, Attempt: att}
	if err := a.Store.RecordDelivery(ctx, ev, attempted(w, status, att), expires); err != nil {
		a.logger(ctx).Warn().Err(err).Str("event_id", ev.ID).Str("webhook_id", w.ID).Msg("recording a delivery outcome failed; the workflow will retry it")
		res.Unrecorded = true
	}
	if status == pcx.DeliveryFailed {
		a.exhausted(ctx, ev, w, att, sends)
	}
	return res, nil
}

func (a *Activities) cancel(ctx context.Context, ev *pcx.Event, in DeliverInput, reason string, expires time.Time) (DeliverResult, error) {
	d := pcx.Delivery{WebhookID: in.WebhookID, Status: pcx.DeliveryCancelled, Reason: reason}
	if err := a.Store.RecordDelivery(ctx, ev, d, expires); err != nil {
		return DeliverResult{}, err
	}
	a.Metrics.Deliveries.WithLabelValues(string(pcx.DeliveryCancelled)).Inc()
	a.Metrics.Pending.Ended(ev.ID, in.WebhookID)
	return DeliverResult{Status: pcx.DeliveryCancelled}, nil
}

// undeliverable is the record of a delivery to an endpoint this worker cannot sign for
// (w.Undeliverable): failed at once, nothing sent, with the reason. It is not retried: retrying
// cannot help until WEBHOOK_SECRETS_KEYS or the endpoint changes, and a replay delivers it then.
func undeliverable(w *pcx.Webhook) pcx.Delivery {
	return pcx.Delivery{WebhookID: w.ID, EndpointURL: w.URL, Status: pcx.DeliveryFailed, Reason: w.Undeliverable}
}

// noteUndeliverable counts and logs a delivery that undeliverable ended; the log names the event,
// the endpoint and the reason, never secret material.
func (a *Activities) noteUndeliverable(eventID, org string, w *pcx.Webhook) {
	a.Metrics.Undeliverable.Inc()
	a.Metrics.Deliveries.WithLabelValues(string(pcx.DeliveryFailed)).Inc()
	a.Log.Warn().Str("event_id", eventID).Str("webhook_id", w.ID).Str("org_id", org).Str("reason", w.Undeliverable).
		Msg("endpoint undeliverable: delivery failed without a send")
}

// RecordOutcomeInput carries an outcome Deliver could not write.
type RecordOutcomeInput struct {
	DeliverInput
	Result DeliverResult
}

// RecordOutcome writes a final outcome that Deliver could not; it is retried until it succeeds.
func (a *Activities) RecordOutcome(ctx context.Context, in RecordOutcomeInput) error {
	ev, err := a.eventOf(ctx, in.EventID, in.OrgID)
	if err != nil {
		return err
	}
	d := pcx.Delivery{WebhookID: in.WebhookID, Status: in.Result.Status, Attempt: &in.Result.Attempt}
	// The endpoint's URL goes into the record; an endpoint deleted since is recorded without.
	w, err := a.Store.Webhook(ctx, in.OrgID, in.WebhookID)
	switch {
	case err == nil:
		d.EndpointURL = w.URL
	case pcx.ErrorCode(err) != pcx.ENotFound:
		return err
	}
	return a.Store.RecordDelivery(ctx, ev, d, a.expires(ev))
}

// attempted is the record of an attempt of a delivery to w and the status it left.
func attempted(w *pcx.Webhook, status pcx.DeliveryStatus, att pcx.Attempt) pcx.Delivery {
	return pcx.Delivery{WebhookID: w.ID, EndpointURL: w.URL, Status: status, Attempt: &att}
}

// HeaderEventType names the event's type on every delivery (contract §8).
const HeaderEventType = "PCX-Event-Type"

// DeliverySpan names the client span of each delivery attempt, a child of its activity's span.
const DeliverySpan = "webhook POST"

// send POSTs the event to the endpoint, in the body its payload format asks for, signed with
// every live secret, and classifies the outcome. It returns the attempt and the receiver's
// Retry-After (0 if none). n is the number of this send, from 1.
//
// The caller holds a send slot (acquire): waiting for one is not part of the attempt, and the
// signed timestamp is the moment of sending. The attempt is a span (DeliverySpan) and carries a
// W3C traceparent, exported or not (tracing.StartSend); traceparent is not signed.
func (a *Activities) send(ctx context.Context, ev *pcx.Event, w *pcx.Webhook, n int) (att pcx.Attempt, retryAfter time.Duration) {
	now := a.Now()
	att = pcx.Attempt{At: now}
	body := ev.Body(w.PayloadFormat)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		att.ErrorClass = classConnection
		return att, 0
	}
	ctx, span := tracing.StartSend(ctx, DeliverySpan, req.Header, trace.WithAttributes(deliveryAttrs(ev, w, req, n)...))
	defer func() { endDelivery(span, att) }()
	req = req.WithContext(ctx)
	live := w.LiveSecrets(now)
	keys := make([][]byte, len(live))
	for i, s := range live {
		keys[i] = s.Key
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", a.UserAgent)
	req.Header.Set(HeaderEventType, ev.EventType())
	signing.SetHeaders(req.Header, keys, ev.ID, now, body)

	start := time.Now()
	resp, err := a.Client.Do(req)
	att.Duration = time.Since(start)
	if err != nil {
		att.ErrorClass = classify(err)
		return att, 0
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, pcx.MaxResponseBody+1))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseRead-int64(len(head))))
	resp.Body.Close()
	att.ResponseBody, att.ResponseTruncated = excerpt(head, pcx.MaxResponseBody)
	att.StatusCode = resp.StatusCode
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return att, 0
	case resp.StatusCode == http.StatusGone:
		att.ErrorClass = classGone
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		att.ErrorClass = classRedirect
	default:
		att.ErrorClass = classStatus
	}
	// An HTTP-date Retry-After is a moment: measure it from when the answer came, not from when
	// the attempt began (which would lengthen the wait by the attempt's duration).
	return att, parseRetryAfter(resp.Header.Get("Retry-After"), now.Add(att.Duration))
}

// deliveryAttrs describe a delivery attempt's span: the event, endpoint and organisation, and
// where it goes; not the URL itself, whose path and query may hold a receiver's token.
func deliveryAttrs(ev *pcx.Event, w *pcx.Webhook, req *http.Request, n int) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		attribute.String("pcx.event_id", ev.ID), attribute.String("pcx.webhook_id", w.ID),
		attribute.String("pcx.org_id", ev.OrgID), attribute.String("pcx.event_type", ev.EventType()),
		attribute.Int("pcx.attempt", n),
		semconv.HTTPRequestMethodPost, semconv.URLScheme(req.URL.Scheme), semconv.ServerAddress(req.URL.Hostname()),
	}
	if port, err := strconv.Atoi(req.URL.Port()); err == nil {
		attrs = append(attrs, semconv.ServerPort(port))
	}
	return attrs
}

// endDelivery ends an attempt's span with its outcome: the status code, and the error class of
// a failed attempt as its error.type.
func endDelivery(span trace.Span, att pcx.Attempt) {
	if att.StatusCode != 0 {
		span.SetAttributes(semconv.HTTPResponseStatusCode(att.StatusCode))
	}
	if att.ErrorClass != "" {
		span.SetAttributes(semconv.ErrorTypeKey.String(att.ErrorClass))
		span.SetStatus(codes.Error, att.ErrorClass)
	}
	span.End()
}

// excerpt is the start of a response body as an attempt keeps it: at most limit bytes of valid
// UTF-8, invalid bytes replaced and cut at a character, and whether anything was cut. head is the
// body's first limit+1 bytes (fewer if it is shorter): a character cut by that read becomes a
// replacement that the cut to limit removes.
func excerpt(head []byte, limit int) (string, bool) {
	s := strings.ToValidUTF8(string(head), "\uFFFD")
	if len(s) <= limit {
		return s, false
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut], true
}

// observe counts an attempt and its latency.
func (a *Activities) observe(att pcx.Attempt) {
	result := att.ErrorClass
	if result == "" {
		result = "success"
	}
	a.Metrics.Attempts.WithLabelValues(result).Inc()
	a.Metrics.AttemptDuration.Observe(att.Duration.Seconds())
}

// delivered observes a successful delivery's latency: from its event's acceptance (the stored
// CreatedAt) to the endpoint's response, whichever send it took. Replays and recoveries, which
// deliver an accepted event again later, are not observed: their latency is not the service's.
func (a *Activities) delivered(ctx context.Context, ev *pcx.Event, att pcx.Attempt, send int) {
	if !ownWorkflow(ctx, ev) {
		return
	}
	attempt := "retry"
	if send <= 1 {
		attempt = "first"
	}
	a.Metrics.DeliveryLatency.WithLabelValues(attempt).Observe(max(att.At.Add(att.Duration).Sub(ev.CreatedAt), 0).Seconds())
}

// stillPending notes that the delivery of ev to webhookID stays pending for cause, its next
// attempt due in retryIn (metrics.Pending: the oldest pending delivery). A replay's or a
// recovery's delivery is pending since this worker first saw it pending, not since the event was
// accepted.
func (a *Activities) stillPending(ctx context.Context, ev *pcx.Event, webhookID string, retryIn time.Duration, cause string) {
	var since time.Time
	if ownWorkflow(ctx, ev) {
		since = ev.CreatedAt
	}
	a.Metrics.Pending.Retrying(ev.ID, webhookID, since, retryIn, cause)
}

// ownWorkflow reports whether the activity runs for the event's own workflow (or one of its child
// batches, "<its ID>/<run>/batch-<n>"), which the event's acceptance started; not for a replay or
// a recovery.
func ownWorkflow(ctx context.Context, ev *pcx.Event) bool {
	if !activity.IsActivity(ctx) || ev.WorkflowID == "" {
		return true
	}
	id := activity.GetInfo(ctx).WorkflowExecution.ID
	return id == ev.WorkflowID || strings.HasPrefix(id, ev.WorkflowID+"/")
}

// unsentCause is why an attempt that sent nothing left its delivery pending: its endpoint is
// failing (held behind the probe), or the worker could not send (no slot, the store).
func unsentCause(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == DeliveryHeld {
		return metrics.PendingEndpoint
	}
	return metrics.PendingWorker
}

// acquire takes a send slot for a send to w (internal/slots: per worker, endpoint and host,
// shared fairly between organisations and between first attempts and retries), waiting at most
// until ctx ends; it returns the release and whether a slot was taken. A retry is impatient:
// it holds a Temporal activity slot while it waits, so when its organisation already holds its
// share it is refused at once and comes back later, unsent. The wait is measured.
func (a *Activities) acquire(ctx context.Context, org string, w *pcx.Webhook, retry bool) (release func(), ok bool) {
	start := time.Now()
	k := slots.Key{Org: org, Endpoint: w.ID, Host: hostOf(w.URL), Retry: retry}
	a.Metrics.SlotsWaiting.Inc()
	put, ok := a.slots.Acquire(ctx, k, retry)
	a.Metrics.SlotsWaiting.Dec()
	a.Metrics.SlotWait.Observe(time.Since(start).Seconds())
	if !ok {
		a.Metrics.SlotTimeouts.Inc()
		return nil, false
	}
	a.Metrics.SlotsInUse.Inc()
	return func() {
		a.Metrics.SlotsInUse.Dec()
		put()
	}, true
}

// hostOf is the destination host of an endpoint URL, the key of WEBHOOK_HOST_CONCURRENCY: its
// host name, whatever the port (one machine behind several ports is still one machine).
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	return strings.ToLower(u.Hostname())
}

// paced adjusts the endpoint's own bound after an attempt: a 429 or 503 halves it, a success
// raises it again by one.
func (a *Activities) paced(w *pcx.Webhook, att pcx.Attempt) {
	switch {
	case att.StatusCode == http.StatusTooManyRequests || att.StatusCode == http.StatusServiceUnavailable:
		a.slots.Slowed(w.ID)
	case att.ErrorClass == "":
		a.slots.Succeeded(w.ID)
	}
}

// classify names a transport failure.
func classify(err error) string {
	var blocked *netguard.BlockedError
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	switch {
	case errors.As(err, &blocked):
		return classBlocked
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return classTimeout
	case errors.As(err, &certErr), errors.As(err, &recordErr):
		return classTLS
	}
	return classConnection
}

// Retry-After bounds: a receiver may ask us to wait longer than the schedule, up to a day per
// attempt, never shorter.
const maxRetryAfter = 24 * time.Hour

// NextDelay is the wait before the next attempt: the scheduled delay with jitter (a factor in
// [0.8, 1.2) so endpoints recovering at once are not hit in lockstep), or the receiver's
// Retry-After when that is longer, capped at a day.
func NextDelay(scheduled, retryAfter time.Duration, jitter float64) time.Duration {
	d := time.Duration(float64(scheduled) * jitter)
	if retryAfter > d {
		d = min(retryAfter, maxRetryAfter)
	}
	return max(d, time.Second)
}

// parseRetryAfter reads a Retry-After value: seconds or an HTTP date. Bad values count as absent.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs >= int(maxRetryAfter/time.Second) {
			return maxRetryAfter // also keeps huge values from overflowing the Duration
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

// HeartbeatEvery is how often a slow attempt tells Temporal it is alive. With the workflow's
// HeartbeatTimeout a few times longer, a delivery whose worker died is retried elsewhere within
// seconds, not after the whole StartToClose timeout; fast attempts never heartbeat at all. The
// worker's heartbeat throttle (app/worker) is no longer than this, so each one reaches the server.
const HeartbeatEvery = 3 * time.Second

// heartbeatWhileRunning heartbeats until the returned stop is called, keeping the count of
// unsent attempts in the details. stop may be called more than once and waits for the
// heartbeating goroutine to end.
func heartbeatWhileRunning(ctx context.Context, skipped int) (stop func()) {
	done, ended := make(chan struct{}), make(chan struct{})
	var once sync.Once
	go func() {
		defer close(ended)
		t := time.NewTicker(HeartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, skipped)
			}
		}
	}()
	return func() {
		once.Do(func() { close(done) })
		<-ended
	}
}

// nonRetryable wraps a permanent failure so Temporal does not retry it.
func nonRetryable(kind string, err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), kind, err)
}
