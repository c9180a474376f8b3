package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

type webhookData struct {
	WebhookID      string `json:"webhook_id"`
	OrgID          string `json:"org_id"`
	EndpointURL    string `json:"endpoint_url"`
	Description    string `json:"description"`
	Status         string `json:"status"`
	DisabledReason string `json:"disabled_reason"`
	Secret         string `json:"secret"`
	CreatedAt      string `json:"created_at"`
}

type acceptedData struct {
	EventID       string `json:"event_id"`
	WorkflowID    string `json:"workflow_id"`
	RunID         string `json:"run_id"`
	EndpointCount int    `json:"endpoint_count"`
}

type deliveryData struct {
	WebhookID   string `json:"webhook_id"`
	EndpointURL string `json:"endpoint_url"`
	deliveryState
	AttemptLog []struct {
		At                string  `json:"at"`
		StatusCode        *int    `json:"status_code"`
		Error             *string `json:"error"`
		ResponseBody      string  `json:"response_body"`
		ResponseTruncated bool    `json:"response_truncated"`
	} `json:"attempt_log"`
}

// deliveryState is where a delivery stands, in the event status and an endpoint's delivery list.
type deliveryState struct {
	Status         string  `json:"status"`
	Attempts       int     `json:"attempts"`
	LastStatusCode *int    `json:"last_status_code"`
	LastError      *string `json:"last_error"`
	LastAttemptAt  *string `json:"last_attempt_at"`
	DeliveredAt    *string `json:"delivered_at"`
}

type eventData struct {
	EventID    string         `json:"event_id"`
	OrgID      string         `json:"org_id"`
	WorkflowID string         `json:"workflow_id"`
	CreatedAt  string         `json:"created_at"`
	Deliveries []deliveryData `json:"deliveries"`
}

// register creates an endpoint and returns it with its secret.
func register(t *testing.T, base, key, url string) webhookData {
	t.Helper()
	r := call(t, "POST", base+"/public/webhooks", key, map[string]any{"endpoint_url": url, "description": "test receiver"})
	wantStatus(t, r, 201)
	var w webhookData
	r.decode(t, &w, nil)
	return w
}

// notify posts an event and returns the 202's data.
func notify(t *testing.T, base, key, org, data string, headers ...string) acceptedData {
	t.Helper()
	body := fmt.Sprintf(`{"org_id":%q,"transaction_data":%s}`, org, data)
	r := call(t, "POST", base+"/public/webhooks/notify", key, body, headers...)
	wantStatus(t, r, 202)
	var a acceptedData
	r.decode(t, &a, nil)
	return a
}

func eventStatus(t *testing.T, base, key, eventID string) eventData {
	t.Helper()
	r := call(t, "GET", base+"/public/webhooks/events/"+eventID+"?limit=100", key, nil)
	wantStatus(t, r, 200)
	var ev eventData
	r.decode(t, &ev, nil)
	return ev
}

// waitDeliveries waits until every delivery of the event has the wanted status.
func waitDeliveries(t *testing.T, base, key, eventID string, n int, status string, within time.Duration) eventData {
	t.Helper()
	var ev eventData
	eventually(t, within, fmt.Sprintf("%d deliveries of %s %s", n, eventID, status), func() bool {
		ev = eventStatus(t, base, key, eventID)
		if len(ev.Deliveries) != n {
			return false
		}
		for _, d := range ev.Deliveries {
			if d.Status != status {
				return false
			}
		}
		return true
	})
	return ev
}

func TestWebhookDeliveryEndToEnd(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "")
	key := e.bootstrapKey("org-hooks", "u")

	hooks := []webhookData{
		register(t, api.base, key, rc.url("/a")),
		register(t, api.base, key, rc.url("/b")),
		register(t, api.base, key, rc.localhostURL("/c")),
	}
	for _, h := range hooks {
		if !strings.HasPrefix(h.Secret, "whsec_") || h.OrgID != "org-hooks" || h.Status != "active" {
			t.Fatalf("registered %+v", h)
		}
	}
	// A payload with odd spacing and unicode: receivers must get these exact bytes.
	data := `{ "amount": 1250,  "currency":"EUR", "note": "caf\u00e9 ✓", "nested": {"a": [1, 2.50, null]} }`
	acc := notify(t, api.base, key, "org-hooks", data)
	if !strings.HasPrefix(acc.EventID, "evt_") || acc.WorkflowID != "webhook-event-"+acc.EventID || acc.RunID == "" || acc.EndpointCount != 3 {
		t.Fatalf("notify = %+v", acc)
	}
	ev := waitDeliveries(t, api.base, key, acc.EventID, 3, "delivered", 30*time.Second)
	for _, d := range ev.Deliveries {
		if d.Attempts != 1 || d.LastStatusCode == nil || *d.LastStatusCode != 200 || d.DeliveredAt == nil || len(d.AttemptLog) != 1 {
			t.Fatalf("delivery %+v, want one 200 attempt", d)
		}
	}
	for i, path := range []string{"/a", "/b", "/c"} {
		got := rc.requests(path)
		if len(got) != 1 {
			t.Fatalf("%s received %d requests, want 1", path, len(got))
		}
		req := got[0]
		if !bytes.Equal(req.body, []byte(data)) {
			t.Fatalf("%s body = %q, want the exact bytes %q", path, req.body, data)
		}
		if req.header.Get("webhook-id") != acc.EventID || req.header.Get("Content-Type") != "application/json" || !strings.HasPrefix(req.header.Get("User-Agent"), "PCX-Webhooks/") {
			t.Fatalf("%s headers %v", path, req.header)
		}
		wh, err := standardwebhooks.NewWebhook(hooks[i].Secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := wh.Verify(req.body, req.header); err != nil {
			t.Fatalf("%s: the official Standard Webhooks verifier rejected the delivery: %v", path, err)
		}
	}
}
