package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// maxBody bounds what the receiver reads. PCX sends transaction_data of at most 256 KiB; a
// little more leaves room without letting a stranger stream gigabytes at the handler.
const maxBody = 512 << 10

// Event is one delivery, as handed to the application once its signature checked out.
type Event struct {
	ID   string // webhook-id: the PCX event_id, the same on every retry and replay
	Type string // the event type: PCX-Event-Type, or the envelope's type in the standard format
	// Timestamp is when PCX accepted the event (the envelope's timestamp); "" in the raw format.
	Timestamp string
	Data      json.RawMessage // transaction_data, byte for byte as PCX received it
}

// HeaderEventType names the event's type on every delivery. Deliveries from a PCX without event
// types lack it: those are all DefaultEventType.
const (
	HeaderEventType  = "PCX-Event-Type"
	DefaultEventType = "transaction.updated"
)

// PayloadFormat is the body the endpoint was registered to receive (its payload_format).
type PayloadFormat string

const (
	// FormatRaw: the body is transaction_data as PCX received it.
	FormatRaw PayloadFormat = "raw"
	// FormatStandard: the body is the Standard Webhooks envelope {"type","timestamp","data"}.
	FormatStandard PayloadFormat = "standard"
	// FormatAuto takes a body that is exactly such an envelope, its type the PCX-Event-Type
	// header's, as the standard format and any other as raw: it keeps working while the
	// endpoint's payload_format is changed. Use raw or standard when your own transaction_data
	// could have exactly the keys type, timestamp and data.
	FormatAuto PayloadFormat = "auto"
)

// ParsePayloadFormat reads a -payload-format value.
func ParsePayloadFormat(s string) (PayloadFormat, error) {
	switch f := PayloadFormat(s); f {
	case FormatRaw, FormatStandard, FormatAuto:
		return f, nil
	}
	return "", fmt.Errorf("payload format %q: want raw, standard or auto", s)
}

// errNotEnvelope is a standard-format body that is not the envelope.
var errNotEnvelope = errors.New("not a Standard Webhooks envelope")

// unwrap returns the event a verified body carries, in format f.
func unwrap(f PayloadFormat, id, headerType string, body []byte) (Event, error) {
	if headerType == "" {
		headerType = DefaultEventType
	}
	raw := Event{ID: id, Type: headerType, Data: body}
	if f == FormatRaw {
		return raw, nil
	}
	var env map[string]json.RawMessage
	var typ, ts string
	ok := json.Unmarshal(body, &env) == nil && len(env) == 3 &&
		json.Unmarshal(env["type"], &typ) == nil && typ != "" &&
		json.Unmarshal(env["timestamp"], &ts) == nil && ts != "" &&
		len(env["data"]) > 0 && env["data"][0] == '{'
	switch {
	case ok && typ == headerType:
		return Event{ID: id, Type: typ, Timestamp: ts, Data: env["data"]}, nil
	case f == FormatAuto:
		return raw, nil
	case ok:
		// The envelope's type is signed, the header is not: they must agree.
		return Event{}, fmt.Errorf("%w: its type %q is not the %s %q", errNotEnvelope, typ, HeaderEventType, headerType)
	}
	return Event{}, errNotEnvelope
}

// Receiver is an http.Handler for PCX webhook deliveries: it verifies the Standard Webhooks
// signature (and the 5-minute timestamp window) with the official library, hands each event to
// process once, and acknowledges repeats of an event it already processed without processing
// them again — PCX delivers at least once, so retries after a lost acknowledgement, replays and
// resets repeat a webhook-id.
type Receiver struct {
	wh      *standardwebhooks.Webhook
	format  PayloadFormat
	process func(Event) error
	seen    *seenIDs
}

// NewReceiver returns a Receiver verifying with secret ("whsec_…", shown once when the endpoint
// was registered or its secret rotated) that calls process for every new event. window is how
// long an event ID is remembered; it should outlast PCX's retry schedule (about 3 days). format
// is the endpoint's payload_format (or FormatAuto).
func NewReceiver(secret string, format PayloadFormat, window time.Duration, process func(Event) error) (*Receiver, error) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, fmt.Errorf("webhook secret: %w", err)
	}
	if _, err := ParsePayloadFormat(string(format)); err != nil {
		return nil, err
	}
	return &Receiver{wh: wh, format: format, process: process, seen: newSeenIDs(window, 1_000_000)}, nil
}

// ServeHTTP answers 2xx only for an event that is processed (now or before): any other answer
// makes PCX retry, which is what a receiver wants when it could not take the event.
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	status, msg := rc.receive(w, r)
	if status == http.StatusConflict {
		w.Header().Set("Retry-After", "5") // PCX waits at least this long before the next try
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

func (rc *Receiver) receive(w http.ResponseWriter, r *http.Request) (int, string) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "POST only"
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, "body too large"
	case err != nil:
		return http.StatusBadRequest, "reading body failed"
	}
	// Verify before anything else: an unsigned request is not from PCX, whatever it says.
	if err := rc.wh.Verify(body, r.Header); err != nil {
		return http.StatusUnauthorized, "invalid signature"
	}
	id := r.Header.Get("webhook-id")
	ev, err := unwrap(rc.format, id, r.Header.Get(HeaderEventType), body)
	if err != nil {
		// Signed by PCX but not in the format this receiver expects: the endpoint's
		// payload_format and -payload-format differ. PCX retries, so fix either and it arrives.
		return http.StatusBadRequest, err.Error()
	}
	switch rc.seen.claim(id) {
	case claimDone:
		return http.StatusOK, "duplicate " + id + ": already processed"
	case claimBusy:
		return http.StatusConflict, "event " + id + " is being processed"
	}
	if err := rc.process(ev); err != nil {
		rc.seen.release(id) // not processed: PCX's retry gets another chance
		return http.StatusInternalServerError, "processing failed"
	}
	rc.seen.done(id)
	return http.StatusOK, "processed " + id
}

// seenIDs remembers event IDs for a window, in memory. A real receiver keeps them where it keeps
// the effects of processing — a unique constraint on the event ID in the same database
// transaction — so that a crash between the two cannot process an event twice; this example
// keeps the idea and leaves out the database.
type seenIDs struct {
	mu     sync.Mutex
	window time.Duration
	max    int
	ids    map[string]seenID
}

type seenID struct {
	busy    bool
	expires time.Time
}

type claimResult int

const (
	claimNew claimResult = iota
	claimBusy
	claimDone
)

func newSeenIDs(window time.Duration, max int) *seenIDs {
	return &seenIDs{window: window, max: max, ids: map[string]seenID{}}
}

// claim marks id as being processed when it is new, and says what it was otherwise.
func (s *seenIDs) claim(id string) claimResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if e, ok := s.ids[id]; ok && (e.busy || now.Before(e.expires)) {
		if e.busy {
			return claimBusy
		}
		return claimDone
	}
	if len(s.ids) >= s.max {
		s.prune(now)
	}
	s.ids[id] = seenID{busy: true}
	return claimNew
}

func (s *seenIDs) done(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[id] = seenID{expires: time.Now().Add(s.window)}
}

func (s *seenIDs) release(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ids, id)
}

// prune drops expired IDs; when that is not enough it drops the oldest finished ones down to
// half of max, so memory stays bounded (a repeat of a forgotten event is then processed again:
// the at-least-once case). Pruning happens once per max/2 new IDs, so its sort is cheap overall.
func (s *seenIDs) prune(now time.Time) {
	finished := make([]string, 0, len(s.ids))
	for id, e := range s.ids {
		switch {
		case e.busy:
		case !now.Before(e.expires):
			delete(s.ids, id)
		default:
			finished = append(finished, id)
		}
	}
	if len(s.ids) < s.max {
		return
	}
	sort.Slice(finished, func(i, j int) bool { return s.ids[finished[i]].expires.Before(s.ids[finished[j]].expires) })
	for _, id := range finished {
		if len(s.ids) <= s.max/2 {
			break
		}
		delete(s.ids, id)
	}
}
