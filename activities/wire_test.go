package activities_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pcx/publicservice/activities"
	"github.com/pcx/publicservice/pcx"
)

// Values recorded in workflow histories before the delivery record became pcx.Delivery (copied
// from workflows/testdata/unrecorded.json): a DeliverBatch result and a RecordOutcomes input.
const (
	recordedBatchResult    = `{"Outcomes":[{"WebhookID":"wh_ok","Status":"delivered"},{"WebhookID":"wh_unrecorded","Status":"delivered"},{"WebhookID":"wh_retry_unrecorded","Status":"pending","RetryDelay":1000000000},{"WebhookID":"wh_cancelled","Status":"cancelled"}],"Unrecorded":[{"WebhookID":"wh_unrecorded","URL":"https://receiver.example/wh_unrecorded","Status":"delivered","Attempt":{"At":"2026-05-01T12:00:00Z","StatusCode":200,"ErrorClass":"","Duration":30000000}},{"WebhookID":"wh_retry_unrecorded","URL":"https://receiver.example/wh_retry_unrecorded","Status":"pending","Attempt":{"At":"2026-05-01T12:00:00Z","StatusCode":500,"ErrorClass":"http_status","Duration":30000000}}]}`
	recordedRecordOutcomes = `{"EventID":"evt_rec_unrecorded","Records":[{"WebhookID":"wh_unrecorded","URL":"https://receiver.example/wh_unrecorded","Status":"delivered","Attempt":{"At":"2026-05-01T12:00:00Z","StatusCode":200,"ErrorClass":"","Duration":30000000}},{"WebhookID":"wh_retry_unrecorded","URL":"https://receiver.example/wh_retry_unrecorded","Status":"pending","Attempt":{"At":"2026-05-01T12:00:00Z","StatusCode":500,"ErrorClass":"http_status","Duration":30000000}}]}`
)

// recordedUnrecorded is what those values hold.
func recordedUnrecorded() []pcx.Delivery {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	return []pcx.Delivery{
		{WebhookID: "wh_unrecorded", EndpointURL: "https://receiver.example/wh_unrecorded", Status: pcx.DeliveryDelivered,
			Attempt: &pcx.Attempt{At: at, StatusCode: 200, Duration: 30 * time.Millisecond}},
		{WebhookID: "wh_retry_unrecorded", EndpointURL: "https://receiver.example/wh_retry_unrecorded", Status: pcx.DeliveryPending,
			Attempt: &pcx.Attempt{At: at, StatusCode: 500, ErrorClass: "http_status", Duration: 30 * time.Millisecond}},
	}
}

// Running workflows hold records in their histories for days: a recorded value decodes into
// today's types with the same content, and encodes back to the same bytes.
func TestRecordedDeliveryRecordsDecode(t *testing.T) {
	var res activities.BatchResult
	require.NoError(t, json.Unmarshal([]byte(recordedBatchResult), &res))
	require.Len(t, res.Outcomes, 4)
	require.Equal(t, activities.Outcome{WebhookID: "wh_retry_unrecorded", Status: pcx.DeliveryPending, RetryDelay: time.Second}, res.Outcomes[2])
	require.Equal(t, recordedUnrecorded(), res.Unrecorded)
	again, err := json.Marshal(res)
	require.NoError(t, err)
	require.Equal(t, recordedBatchResult, string(again))

	var in activities.RecordOutcomesInput
	require.NoError(t, json.Unmarshal([]byte(recordedRecordOutcomes), &in))
	require.Equal(t, activities.RecordOutcomesInput{EventID: "evt_rec_unrecorded", Records: recordedUnrecorded()}, in)
	again, err = json.Marshal(in)
	require.NoError(t, err)
	require.Equal(t, recordedRecordOutcomes, string(again))
}

// oldRecord is activities.Record as it was until pcx.Delivery replaced it.
type oldRecord struct {
	WebhookID string
	URL       string
	Status    pcx.DeliveryStatus
	Attempt   *pcx.Attempt `json:",omitempty"`
	Reason    string       `json:",omitempty"`
}

// Every kind of record a batch hands back (an attempt, a cancellation with or without a URL)
// encodes exactly as the old record did, and an old one decodes to the same fields.
func TestDeliveryRecordEncodesAsTheOldRecord(t *testing.T) {
	att := &pcx.Attempt{At: time.Date(2026, 5, 1, 12, 0, 0, 123e6, time.UTC), StatusCode: 503, ErrorClass: "http_status", Duration: 42 * time.Millisecond}
	cases := []struct {
		old oldRecord
		new pcx.Delivery
	}{
		{oldRecord{WebhookID: "wh_1", URL: "https://a.example/", Status: pcx.DeliveryPending, Attempt: att},
			pcx.Delivery{WebhookID: "wh_1", EndpointURL: "https://a.example/", Status: pcx.DeliveryPending, Attempt: att}},
		{oldRecord{WebhookID: "wh_2", Status: pcx.DeliveryCancelled, Reason: pcx.CancelledEndpointDeleted},
			pcx.Delivery{WebhookID: "wh_2", Status: pcx.DeliveryCancelled, Reason: pcx.CancelledEndpointDeleted}},
		{oldRecord{WebhookID: "wh_3", URL: "https://b.example/", Status: pcx.DeliveryCancelled, Reason: pcx.CancelledEndpointDisabled},
			pcx.Delivery{WebhookID: "wh_3", EndpointURL: "https://b.example/", Status: pcx.DeliveryCancelled, Reason: pcx.CancelledEndpointDisabled}},
	}
	for _, tc := range cases {
		oldJSON, err := json.Marshal(tc.old)
		require.NoError(t, err)
		newJSON, err := json.Marshal(tc.new)
		require.NoError(t, err)
		require.Equal(t, string(oldJSON), string(newJSON), "%s: the record's encoding", tc.old.WebhookID)

		var decoded pcx.Delivery
		require.NoError(t, json.Unmarshal(oldJSON, &decoded))
		require.Equal(t, tc.new, decoded, "%s: an old record decoded", tc.old.WebhookID)
	}
}

// An attempt without a response body encodes as before the body was kept; one with a body adds
// only its two fields, and decodes back.
func TestAttemptBodyEncoding(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	plain, err := json.Marshal(pcx.Attempt{At: at, StatusCode: 500, ErrorClass: "http_status", Duration: 30 * time.Millisecond})
	require.NoError(t, err)
	require.JSONEq(t, `{"At":"2026-05-01T12:00:00Z","StatusCode":500,"ErrorClass":"http_status","Duration":30000000}`, string(plain))
	withBody := pcx.Attempt{At: at, StatusCode: 500, ErrorClass: "http_status", Duration: 30 * time.Millisecond, ResponseBody: "nope", ResponseTruncated: true}
	b, err := json.Marshal(withBody)
	require.NoError(t, err)
	require.JSONEq(t, `{"At":"2026-05-01T12:00:00Z","StatusCode":500,"ErrorClass":"http_status","Duration":30000000,"ResponseBody":"nope","ResponseTruncated":true}`, string(b))
	var back pcx.Attempt
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, withBody, back)
}
