package pcx_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pcx/publicservice/pcx"
)

func TestCheckEventType(t *testing.T) {
	for _, ok := range []string{"transaction.updated", "a.b", "refund.created_v2", "x1.y_2.z3"} {
		require.Empty(t, pcx.CheckEventType(ok), ok)
	}
	for _, bad := range []string{"", "a", "ab", "transaction", "Transaction.updated", "transaction.", ".updated", "transaction..updated",
		"transaction.*", "1a.b", "a.1b", "a-b.c", "a.b ", "ä.b", strings.Repeat("a", 99) + ".b"} {
		require.NotEmpty(t, pcx.CheckEventType(bad), "%q", bad)
	}
	require.Contains(t, pcx.CheckEventType("pcx.test"), "reserved")
	require.Contains(t, pcx.CheckEventType("pcx.anything_else"), "reserved")
}

func TestCheckSubscription(t *testing.T) {
	require.Empty(t, pcx.CheckSubscription(nil))
	require.Empty(t, pcx.CheckSubscription([]string{"transaction.updated", "transaction.*", "refund.*", "pcx.test", "pcx.*", "a.b.*"}))
	for _, bad := range [][]string{{"*"}, {".*"}, {"transaction.**"}, {"transaction*"}, {"Transaction.*"}, {"transaction"}, {"a.*.b"}, {""},
		{"transaction.updated", "transaction.updated"}, {strings.Repeat("a", 99) + ".*"}} {
		require.NotEmpty(t, pcx.CheckSubscription(bad), "%q", bad)
	}
	many := make([]string, pcx.MaxEventTypes+1)
	for i := range many {
		many[i] = fmt.Sprintf("t%d.x", i)
	}
	require.Empty(t, pcx.CheckSubscription(many[:pcx.MaxEventTypes]))
	require.Contains(t, pcx.CheckSubscription(many), "at most 50")
	require.Contains(t, pcx.CheckSubscription([]string{"a.b", "a.b"}), "twice")
}

func TestTypeMatcher(t *testing.T) {
	for _, tc := range []struct {
		eventType string
		patterns  []string
		want      bool
	}{
		{"transaction.updated", nil, true},
		{"transaction.updated", []string{}, true},
		{"pcx.test", nil, false},
		{"pcx.endpoint.disabled", nil, false},
		{"transaction.updated", []string{"transaction.updated"}, true},
		{"transaction.updated", []string{"transaction.*"}, true},
		{"transaction.refund.created", []string{"transaction.*"}, true},
		{"transaction.refund.created", []string{"transaction.refund.*"}, true},
		{"transaction.updated", []string{"transaction.updated.*"}, false},
		{"transaction.updated", []string{"transactions.*"}, false},
		{"transactions.updated", []string{"transaction.*"}, false},
		{"transaction.updated", []string{"refund.created"}, false},
		{"pcx.test", []string{"transaction.*"}, false},
		{"pcx.test", []string{"pcx.test"}, true},
		{"pcx.test", []string{"pcx.*"}, true},
		{"pcx.endpoint.disabled", []string{"pcx.*"}, true},
		{"pcx.endpoint.disabled", []string{"pcx.test", "pcx.endpoint.*"}, true},
		{"transaction.updated", []string{"pcx.*"}, false},
	} {
		require.Equal(t, tc.want, pcx.NewTypeMatcher(tc.eventType).Subscribed(tc.patterns), "%s to %q", tc.eventType, tc.patterns)
	}
}

func TestBodyIsTheStandardEnvelope(t *testing.T) {
	payload := []byte(`{"amount": 12345678901234567890, "b":1,"a":[1, 2]}`)
	ev := &pcx.Event{ID: "evt_1", Type: "refund.created", CreatedAt: time.Date(2026, 12, 2, 6, 7, 8, 9_000_000, time.FixedZone("x", 3600)), Payload: payload}
	require.Equal(t, payload, ev.Body(pcx.PayloadRaw))
	require.Equal(t, payload, ev.Body(""), "an endpoint stored before formats is raw")
	body := ev.Body(pcx.PayloadStandard)
	require.Equal(t, `{"type":"refund.created","timestamp":"2026-12-02T05:07:08.009Z","data":`+string(payload)+`}`, string(body))
	var env struct {
		Type, Timestamp string
		Data            json.RawMessage
	}
	require.NoError(t, json.Unmarshal(body, &env))
	require.Equal(t, string(payload), string(env.Data), "data is the payload's bytes")
	require.Equal(t, body, ev.Body(pcx.PayloadStandard), "the same bytes every time")
	old := &pcx.Event{CreatedAt: ev.CreatedAt, Payload: payload}
	require.Equal(t, pcx.DefaultEventType, old.EventType(), "an event stored before types")
	require.Contains(t, string(old.Body(pcx.PayloadStandard)), `"type":"transaction.updated"`)
}

// BenchmarkTypeMatcher matches one event's type against 10,000 endpoints' subscriptions, as
// planning does for an organisation of that many: once per event, a look-up per entry.
func BenchmarkTypeMatcher(b *testing.B) {
	subs := make([][]string, 10_000)
	for i := range subs {
		switch i % 4 {
		case 0: // every non-reserved type
		case 1:
			subs[i] = []string{"transaction.*"}
		case 2:
			subs[i] = []string{"refund.created", "refund.updated", "payout.*", "pcx.endpoint.disabled", "transaction.refund.created"}
		default:
			for j := range pcx.MaxEventTypes {
				subs[i] = append(subs[i], fmt.Sprintf("type%d.event", j))
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		m := pcx.NewTypeMatcher("transaction.refund.created")
		n := 0
		for _, s := range subs {
			if m.Subscribed(s) {
				n++
			}
		}
		if n != 7_500 {
			b.Fatalf("matched %d, want 7500", n)
		}
	}
}
