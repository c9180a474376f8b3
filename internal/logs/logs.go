// Package logs is the one vocabulary of the service's log lines: the keys the api, the worker and
// the Temporal SDK's lines (through TemporalLogger) may carry, and what each means. Operators
// write queries and alerts against these keys, so one meaning has one key everywhere: an HTTP
// status is always status_code, a duration always <name>_ms in milliseconds, error always the
// error's text (its class is error_class). TestLogKeysAreTheVocabulary fails when a line in the
// source uses a key not listed here, and TestTemporalSDKTags when a tag of the Temporal SDK would
// reach a line under a key not listed here.
package logs

import (
	"time"
)

// Key is one log key and what it means.
type Key struct {
	Name, Meaning string
}

// Keys is the vocabulary, in the order docs/operations.md lists it.
var Keys = []Key{
	// Every line.
	{"time", "when the line was written (RFC 3339, nanoseconds)"},
	{"level", "trace, debug, info, warn or error"},
	{"message", "what happened, a fixed sentence (no values in it)"},
	{"service", "api, worker or pcxctl"},
	{"component", "the library that wrote the line: temporal for the Temporal SDK's own lines"},
	{"error", "the error's text"},
	{"error_class", "a delivery failure's class: timeout, connection, tls, http_status, ..."},
	{"trace_id", "the OpenTelemetry trace the line belongs to, when there is one"},
	{"span_id", "the OpenTelemetry span the line belongs to, when there is one"},
	// Requests (the api's access log and its handlers).
	{"request_id", "the request's ID, echoed as X-Request-ID"},
	{"listener", "internal on the internal listener's lines"},
	{"method", "the HTTP method"},
	{"route", "the route pattern that matched (IDs as {placeholders}), or unmatched"},
	{"path", "the request path, any key-shaped text redacted, never the query string"},
	{"status_code", "an HTTP status code: the api's answer, or a receiver's answer to a delivery"},
	{"bytes", "the size of the response body"},
	{"duration_ms", "how long a request or a delivery attempt took, in milliseconds"},
	{"code", "a failed request's error code (contract §11), on the 5xx line"},
	{"check", "the readiness check that failed"},
	{"panic", "what a handler panicked with"},
	{"stack", "the stack of a panic"},
	// Who and what.
	{"org_id", "the organisation"},
	{"prefix", "the API key's public prefix (never the secret)"},
	{"event_id", "the PCX event (a transaction event)"},
	{"event_type", "the PCX event's type"},
	{"event_org_id", "the organisation an event belongs to, when it differs from the workflow's"},
	{"input_org_id", "the organisation a workflow was started for, when it differs from the event's"},
	{"webhook_id", "the webhook endpoint"},
	{"recovery_id", "a recovery (contract §9)"},
	{"workflow_id", "a Temporal workflow"},
	{"run_id", "a run of a Temporal workflow"},
	{"workflow_type", "a Temporal workflow's type"},
	{"child", "a child workflow's ID"},
	{"attempt", "a delivery's send number (1 for the first)"},
	{"deliveries", "how many deliveries a line is about"},
	{"failures", "consecutive failures (an endpoint's, or a planning step's)"},
	{"reason", "why an endpoint was disabled or is undeliverable"},
	{"wait_ms", "how long a workflow waits before retrying, in milliseconds"},
	// Process lines.
	{"version", "the build's version"},
	{"addr", "the api's public listen address"},
	{"internal_addr", "the api's internal listen address"},
	{"drain_ms", "how long a stopping process keeps serving while load balancers stop sending"},
	{"count", "how many search attributes were registered"},
	{"cidr", "a WEBHOOK_ALLOWED_CIDRS range"},
	{"limit", "a configured limit"},
	{"from_pepper", "the pepper version an API key was hashed under"},
	{"to_pepper", "the pepper version it was re-hashed under"},
	// The Temporal SDK's own tags, renamed (TemporalLogger).
	{"namespace", "the Temporal namespace"},
	{"worker_id", "the Temporal worker's identity"},
	{"worker_type", "WorkflowWorker, ActivityWorker, ..."},
	{"activity_id", "a Temporal activity"},
	{"activity_type", "a Temporal activity's type"},
	{"activity_run_id", "a standalone Temporal activity's run"},
	{"local_activity_type", "a Temporal local activity's type"},
	{"temporal_attempt", "a Temporal activity's or workflow task's attempt (not a delivery's send: attempt)"},
	{"history_event_id", "the ID of an event in a workflow's Temporal history (not a PCX event)"},
	{"history_event_type", "the type of an event in a workflow's Temporal history"},
	{"task_queue", "a Temporal task queue"},
	{"timer_id", "a Temporal timer"},
	{"build_id", "a Temporal worker's build ID"},
	{"side_effect_id", "a Temporal side effect"},
	{"child_workflow_id", "a Temporal child workflow"},
	{"query_type", "a Temporal query's type"},
	{"result", "what a Temporal call returned"},
	{"link_url", "a link to a Temporal page on the matter"},
	{"stack_trace", "the stack of a Temporal workflow"},
	{"task_first_event_id", "a workflow task's first history event"},
	{"task_started_event_id", "a workflow task's started history event"},
	{"previous_started_event_id", "the previous workflow task's started history event"},
	{"cached_previous_started_event_id", "the cached previous workflow task's started history event"},
	{"nexus_endpoint", "a Temporal Nexus endpoint"},
	{"nexus_operation", "a Temporal Nexus operation"},
	{"nexus_service", "a Temporal Nexus service"},
	{"panic_error", "what a workflow or activity panicked with"},
	{"panic_stack", "the stack of that panic"},
	{"update_id", "a Temporal workflow update"},
	{"update_name", "a Temporal workflow update's name"},
	{"workflow_task_duration_ms", "how long a workflow task took, in milliseconds"},
	{"payload_download_count", "payloads the Temporal SDK downloaded"},
	{"payload_download_size", "their size in bytes"},
	{"payload_download_duration_ms", "how long that took, in milliseconds"},
	{"payload_download_drivers", "the storage drivers used"},
	{"payload_upload_count", "payloads the Temporal SDK uploaded"},
	{"payload_upload_size", "their size in bytes"},
	{"payload_upload_duration_ms", "how long that took, in milliseconds"},
	{"payload_upload_drivers", "the storage drivers used"},
	{"payload_size", "a payload's size in bytes"},
	{"payload_size_limit", "the largest payload the server takes"},
	{"memo_size", "a workflow memo's size in bytes"},
	{"memo_size_limit", "the largest memo the server takes"},
}

// sdkRenames are the Temporal SDK tags whose plain snake_case would mean something else here.
var sdkRenames = map[string]string{
	"EventID":   "history_event_id",
	"EventType": "history_event_type",
	"Attempt":   "temporal_attempt",
}

// Known reports whether name is in the vocabulary.
func Known(name string) bool {
	for _, k := range Keys {
		if k.Name == name {
			return true
		}
	}
	return false
}

// Ms is a duration in the vocabulary's unit: float milliseconds, microsecond precision.
func Ms(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1000
}
