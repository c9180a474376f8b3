package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pcx/publicservice/pcx"
)

// An endpoint stored before health was kept shows healthy, zero failures and null times; a 410's
// stored reason shows as the contract's "gone"; a failing one shows its failures.
func TestWebhookDataHealth(t *testing.T) {
	show := func(w *pcx.Webhook) string {
		b, err := json.Marshal(newWebhookData(w, false))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	old := &pcx.Webhook{ID: "wh_1", Status: pcx.WebhookDisabled, DisabledReason: pcx.DisabledGone}
	got := show(old)
	for _, want := range []string{
		`"disabled_reason":"gone"`, `"disabled_at":null`,
		`"health":{"state":"healthy","consecutive_failures":0,"last_success_at":null,"last_failure_at":null}`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("old endpoint %s, want %s", got, want)
		}
	}

	at := time.Date(2030, 1, 2, 3, 4, 5, 6e6, time.UTC)
	failing := &pcx.Webhook{ID: "wh_2", Status: pcx.WebhookDisabled, DisabledReason: pcx.DisabledFailing, DisabledAt: &at,
		Health: pcx.EndpointHealth{ConsecutiveFailures: 7, LastFailureAt: &at, FailingSince: &at}}
	got = show(failing)
	for _, want := range []string{
		`"disabled_reason":"failing"`, `"disabled_at":"2030-01-02T03:04:05.006Z"`,
		`"health":{"state":"failing","consecutive_failures":7,"last_success_at":null,"last_failure_at":"2030-01-02T03:04:05.006Z"}`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("failing endpoint %s, want %s", got, want)
		}
	}
}
