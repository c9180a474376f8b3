package store_test

import (
	"testing"

	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

func TestWebhookPatchWithStatus(t *testing.T) {
	url := "https://a.example/"
	disabled := store.WebhookPatch{URL: &url}.WithStatus(pcx.WebhookDisabled, pcx.DisabledGone)
	if disabled.URL != &url || *disabled.Status != pcx.WebhookDisabled || disabled.DisabledReason != pcx.DisabledGone {
		t.Errorf("disabling: %+v, want the URL kept, status disabled, reason %q", disabled, pcx.DisabledGone)
	}
	active := disabled.WithStatus(pcx.WebhookActive, pcx.DisabledByOwner)
	if *active.Status != pcx.WebhookActive || active.DisabledReason != "" || *disabled.Status != pcx.WebhookDisabled {
		t.Errorf("enabling: %+v (the disabling patch now %+v), want status active without a reason, the first patch unchanged", active, disabled)
	}
}
