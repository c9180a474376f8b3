package pcx

import (
	"time"
)

// KeyStatus is the lifecycle state of an API key.
type KeyStatus string

// API key states. An expired key keeps its stored status; expiry is decided by ExpiresAt.
const (
	KeyActive  KeyStatus = "active"
	KeyRevoked KeyStatus = "revoked"
)

// APIKey is the stored form of an API key: its metadata and the HMAC of the full key, never the
// key itself.
type APIKey struct {
	ID         string
	Prefix     string // "pcx_<id>": public, unique, what every request looks the key up by
	OrgID      string
	UserID     string
	Name       string
	Status     KeyStatus
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	// Scopes are what the key may do, in the contract's order. A key stored before scopes
	// existed is read with AllScopes: it keeps working as it did.
	Scopes []Scope
	// CreatedBy is the api_key_id of the key that minted this one; "" for a bootstrap key (and
	// every key stored before lineage was kept).
	CreatedBy string

	SecretMAC     []byte // HMAC-SHA256 of the full key under pepper PepperVersion
	PepperVersion int
}

// Usable reports whether the key may authenticate a request at now.
func (k *APIKey) Usable(now time.Time) bool {
	if k.Status != KeyActive {
		return false
	}
	return k.ExpiresAt == nil || now.Before(*k.ExpiresAt)
}

// Principal is who a request acts for, resolved from its API key: whose it is, what it may do,
// and until when (the bounds of any key it mints).
type Principal struct {
	OrgID     string
	UserID    string
	APIKeyID  string
	Prefix    string
	Scopes    []Scope
	ExpiresAt *time.Time
}

// Principal is the key as the caller of a request.
func (k *APIKey) Principal() Principal {
	return Principal{OrgID: k.OrgID, UserID: k.UserID, APIKeyID: k.ID, Prefix: k.Prefix, Scopes: k.Scopes, ExpiresAt: k.ExpiresAt}
}

// WebhookStatus is whether an endpoint receives deliveries.
type WebhookStatus string

// Webhook endpoint states.
const (
	WebhookActive   WebhookStatus = "active"
	WebhookDisabled WebhookStatus = "disabled"
)

// Webhook is a registered HTTPS endpoint of an organisation.
type Webhook struct {
	ID          string
	OrgID       string
	URL         string
	Description string
	Status      WebhookStatus
	CreatedAt   time.Time
	UpdatedAt   time.Time
	// DisabledReason says why a disabled endpoint was disabled: one of the Disabled* reasons, or
	// whatever an older version stored.
	DisabledReason string
	// DisabledAt is when it was disabled; nil while active, and for one disabled before it was
	// kept.
	DisabledAt *time.Time
	// EventTypes are the types and prefix wildcards the endpoint subscribes to; empty: every type
	// but the reserved ones (and so for endpoints stored before subscriptions existed).
	EventTypes []string
	// PayloadFormat is the body it receives; PayloadRaw for one stored before formats existed.
	PayloadFormat PayloadFormat
	// Secrets are the signing secrets, newest first. Only the first is current; the others sign
	// too until their ExpiresAt (rotation grace). They are decrypted only where a delivery is
	// signed or a secret is shown once.
	Secrets []WebhookSecret
	// Health is how its recent deliveries went (contract §10); the zero value, healthy, for one
	// stored before health was kept.
	Health EndpointHealth
	// Undeliverable, set only by the store's reads for delivery, says why this process cannot
	// sign for the endpoint (one of the Undeliverable* reasons): its secrets do not open, or its
	// item cannot be read. Such an endpoint carries no secrets and is never sent to. It is never
	// stored and never shown by the API.
	Undeliverable string
}

// Why an endpoint was disabled (Webhook.DisabledReason). They are stored with the endpoint and
// shown in the API as disabled_reason: never change their text.
const (
	DisabledGone    = "410 Gone from the endpoint" // it answered a delivery with 410 Gone
	DisabledByOwner = "disabled by its owner"      // its owner set its status to disabled
	// DisabledFailing: it failed with no success for WEBHOOK_DISABLE_AFTER.
	DisabledFailing = "failing"
)

// DisabledReasonName is the contract's name for why an endpoint was disabled (§10): "gone" after
// a 410, "failing" after auto-disable, and any other stored reason as it is. The API and the
// pcx.endpoint.disabled event show it; the stored text stays as it always was.
func DisabledReasonName(stored string) string {
	if stored == DisabledGone {
		return "gone"
	}
	return stored
}

// EndpointHealth is an endpoint's record of consecutive failures, kept on its item so every read
// for delivery carries it. An endpoint is failing (its circuit breaker open) from the failure that
// brings ConsecutiveFailures to WEBHOOK_BREAKER_FAILURES until its next success: FailingSince is
// set then, so what "failing" means is stored once and the API needs no setting to show it.
type EndpointHealth struct {
	ConsecutiveFailures int
	LastSuccessAt       *time.Time
	LastFailureAt       *time.Time
	FailingSince        *time.Time
	// ProbeAt, while failing, is when the next probe may be claimed: the lease of the probe in
	// flight, then, after it failed, the retry schedule's next delay.
	ProbeAt *time.Time
}

// Failing reports whether the endpoint's breaker is open.
func (h EndpointHealth) Failing() bool { return h.FailingSince != nil }

// WebhookSecret is one signing secret of an endpoint: the raw key bytes (the base64 after
// "whsec_") and, for a rotated-out secret, when it stops signing.
type WebhookSecret struct {
	Key       []byte
	ExpiresAt *time.Time
}

// LiveSecrets returns the secrets that sign at now: the current one and those still in grace.
func (w *Webhook) LiveSecrets(now time.Time) []WebhookSecret {
	live := make([]WebhookSecret, 0, len(w.Secrets))
	for _, s := range w.Secrets {
		if s.ExpiresAt == nil || now.Before(*s.ExpiresAt) {
			live = append(live, s)
		}
	}
	return live
}

// Event sources (Event.Source).
const (
	SourceNotify            = "notify"
	SourceTransactionUpdate = "transaction-update"
	SourceService           = "pcx" // an operational event the service emitted
)

// Event is one accepted notification: the transaction data to deliver to every endpoint of its
// organisation.
type Event struct {
	ID         string
	OrgID      string
	WorkflowID string
	Source     string // "notify", "transaction-update", or "pcx" for an operational event
	// Type is the event type; DefaultEventType for an event stored before types existed.
	Type      string
	CreatedAt time.Time
	// Payload is transaction_data exactly as received: the bytes every endpoint gets and signs.
	Payload []byte
	// EndpointCount is the endpoint_count of the reply that accepted the event: the endpoints
	// subscribed when it was accepted (0 for an event stored before it was kept).
	EndpointCount int
}

// DeliveryStatus is where one event's delivery to one endpoint stands.
type DeliveryStatus string

// Delivery states.
const (
	DeliveryPending   DeliveryStatus = "pending"   // not yet delivered; attempts may be scheduled
	DeliveryDelivered DeliveryStatus = "delivered" // a 2xx was received
	DeliveryFailed    DeliveryStatus = "failed"    // the retry schedule is exhausted, or 410 Gone
	DeliveryCancelled DeliveryStatus = "cancelled" // the endpoint was deleted or disabled
)

// Delivery is one event's delivery to one endpoint: the record an attempt (or a cancellation)
// writes, and the state the store reads back.
//
// Records travel through workflow histories (a batch's unrecorded outcomes), which live for
// days: the JSON encoding of a record, WebhookID, URL, Status, Attempt and Reason, must never
// change. The read-only state below them is omitted when empty, which a record always leaves it,
// so a record encodes exactly as it always has.
type Delivery struct {
	EventID     string `json:",omitempty"` // the store's methods take the event ID on its own; reads set it
	WebhookID   string
	EndpointURL string `json:"URL"`
	Status      DeliveryStatus
	// Attempt is the attempt a write records with Status; nil for a status without a send (a
	// cancellation). Reads leave it nil: the attempts read back are in Log.
	Attempt *Attempt `json:",omitempty"`
	// Reason says why a delivery was cancelled or failed without a send (CancelledEndpoint*,
	// Undeliverable*); the store keeps it as LastError.
	Reason string `json:",omitempty"`
	// Run is the workflow run (its run ID) whose first-attempt batch wrote the record: a batch
	// that runs again in the same run (its workflow task was lost with a worker) returns what
	// is recorded instead of sending again. Empty for other writes, and in records written
	// before it was kept.
	Run string `json:",omitempty"`

	// The recorded state, as the store returns it.
	Attempts       int        `json:",omitempty"`
	LastStatusCode int        `json:",omitempty"`
	LastError      string     `json:",omitempty"`
	LastAttemptAt  *time.Time `json:",omitempty"`
	DeliveredAt    *time.Time `json:",omitempty"`
	// Log holds the most recent attempts, oldest first, bounded so an item never grows without
	// limit however long an endpoint fails.
	Log []Attempt `json:",omitempty"`
	// EventType and EventCreatedAt are the event's, as an endpoint's delivery list shows them
	// (zero in records written before they were kept). Reads only; never on the wire.
	EventType      string    `json:"-"`
	EventCreatedAt time.Time `json:"-"`
}

// Why a delivery was cancelled without a send (Delivery.Reason). They are stored as the
// delivery's last_error and shown in the API: never change their text.
const (
	CancelledEndpointDeleted  = "endpoint deleted"
	CancelledEndpointDisabled = "endpoint disabled"
)

// Why a delivery failed without a send (Delivery.Reason, from Webhook.Undeliverable): the worker
// cannot sign for the endpoint, and retrying cannot help until its configuration or the endpoint
// changes. They are stored as the delivery's last_error and shown in the API: never change their
// text.
const (
	UndeliverableSecret    = "endpoint secret does not decrypt under the configured WEBHOOK_SECRETS_KEYS"
	UndeliverableMalformed = "endpoint record cannot be read"
)

// Attempt is one delivery attempt as recorded.
type Attempt struct {
	At         time.Time
	StatusCode int           // 0 when no response was received
	ErrorClass string        // "" on success; e.g. "timeout", "connection", "http_status", "blocked"
	Duration   time.Duration // time until the response headers (or the failure)
	// ResponseBody is the start of the receiver's response body: at most MaxResponseBody bytes,
	// valid UTF-8 (invalid bytes replaced, cut at a character); ResponseTruncated says the body
	// was longer. Both are left out of the encoding when empty, so attempts encode as before.
	ResponseBody      string `json:",omitempty"`
	ResponseTruncated bool   `json:",omitempty"`
}

// MaxResponseBody bounds the response body an attempt keeps.
const MaxResponseBody = 4 << 10

// Idempotency remembers a notify made with an Idempotency-Key, so a repeat gets the same event
// and starts nothing new.
type Idempotency struct {
	OrgID         string
	KeyHash       []byte // SHA-256 of the Idempotency-Key: the raw key is the caller's and may be anything
	BodyHash      []byte // SHA-256 of the request body: the same key with another body is a conflict
	EventID       string
	WorkflowID    string
	RunID         string // "" until the workflow has started
	EndpointCount int
	CreatedAt     time.Time
}

// ReplayClaim is the record of an event's running replay: at most one replay of an event runs at
// a time, and the claim names the one that may.
type ReplayClaim struct {
	EventID    string
	WorkflowID string // the replay's workflow
	ClaimedAt  time.Time
}

// Recovery states.
const (
	RecoveryRunning   = "running"
	RecoveryCompleted = "completed"
)

// Recovery is the progress of one recovery of an endpoint (contract §9): the events of its window
// the endpoint had not received (EventsFound), and how many of those the recovery delivered
// (EventsSent). Its workflow's activities keep it up to date.
type Recovery struct {
	ID, OrgID, WebhookID, WorkflowID string
	Since                            time.Time
	Until                            *time.Time // nil: up to when the recovery started
	Status                           string
	EventsFound, EventsSent          int
	CreatedAt                        time.Time
}
