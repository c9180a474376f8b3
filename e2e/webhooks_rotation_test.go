package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// Rotating a secret returns the new one once; during the grace period deliveries carry a
// signature under each live secret so receivers verify with either; with grace 0 only the new
// secret signs. Secrets never appear in reads.
func TestWebhookSecretRotation(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "")
	key := e.bootstrapKey("org-rot", "u")
	w := register(t, api.base, key, rc.url("/rot"))
	s0 := w.Secret

	deliver := func(n int) received {
		t.Helper()
		acc := notify(t, api.base, key, "org-rot", `{"n":`+strconv.Itoa(n)+`}`)
		got := rc.waitCount(t, "/rot", n, 20*time.Second)
		req := got[n-1]
		if req.header.Get("webhook-id") != acc.EventID {
			t.Fatalf("delivery %d is %s, want %s", n, req.header.Get("webhook-id"), acc.EventID)
		}
		return req
	}
	rotate := func(body any) webhookData {
		t.Helper()
		r := call(t, "POST", api.base+"/public/webhooks/"+w.WebhookID+"/rotate-secret", key, body)
		wantStatus(t, r, 200)
		if cc := r.header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("rotate Cache-Control %q, want no-store", cc)
		}
		var got webhookData
		r.decode(t, &got, nil)
		if got.WebhookID != w.WebhookID || got.EndpointURL != w.EndpointURL || got.Status != "active" || !strings.HasPrefix(got.Secret, "whsec_") {
			t.Fatalf("rotate = %s", r.body)
		}
		return got
	}

	req := deliver(1)
	if sigs := signatures(req); len(sigs) != 1 {
		t.Errorf("before any rotation: %d signatures %v, want 1", len(sigs), sigs)
	}
	if err := verifyWith(s0, req); err != nil {
		t.Fatalf("first delivery: %v", err)
	}

	// Rotation with the default grace: both secrets verify the next delivery.
	s1 := rotate(nil).Secret
	if s1 == s0 {
		t.Fatalf("rotate returned the old secret")
	}
	req = deliver(2)
	if sigs := signatures(req); len(sigs) != 2 || !strings.HasPrefix(sigs[0], "v1,") || !strings.HasPrefix(sigs[1], "v1,") {
		t.Errorf("during the grace period: signatures %v, want two v1 entries", sigs)
	}
	if err := verifyWith(s1, req); err != nil {
		t.Errorf("during the grace period the new secret does not verify: %v", err)
	}
	if err := verifyWith(s0, req); err != nil {
		t.Errorf("during the grace period the old secret does not verify: %v", err)
	}

	// Rotation with grace 0 (after a leak): only the newest secret signs from now on.
	s2 := rotate(map[string]any{"grace_period_seconds": 0}).Secret
	if s2 == s1 || s2 == s0 {
		t.Fatalf("rotate returned an old secret")
	}
	req = deliver(3)
	if err := verifyWith(s2, req); err != nil {
		t.Errorf("after a rotation with grace 0 the new secret does not verify: %v", err)
	}
	if err := verifyWith(s1, req); err == nil {
		t.Errorf("after a rotation with grace 0 the secret it replaced still verifies")
	}

	// Reads never carry a secret.
	for _, path := range []string{"/public/webhooks/" + w.WebhookID, "/public/webhooks"} {
		r := call(t, "GET", api.base+path, key, nil)
		wantStatus(t, r, 200)
		body := string(r.body)
		if strings.Contains(body, "secret") || strings.Contains(body, "whsec_") {
			t.Errorf("GET %s exposes a secret: %s", path, body)
		}
		for _, s := range []string{s0, s1, s2} {
			if strings.Contains(body, strings.TrimPrefix(s, "whsec_")) {
				t.Errorf("GET %s contains a signing secret", path)
			}
		}
	}
}

// A rotation with grace 0 straight after registration: only the new secret verifies.
func TestWebhookSecretRotationImmediate(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "")
	key := e.bootstrapKey("org-rot0", "u")
	w := register(t, api.base, key, rc.url("/rot0"))
	r := call(t, "POST", api.base+"/public/webhooks/"+w.WebhookID+"/rotate-secret", key, map[string]any{"grace_period_seconds": 0})
	wantStatus(t, r, 200)
	var rot webhookData
	r.decode(t, &rot, nil)
	if rot.Secret == w.Secret || !strings.HasPrefix(rot.Secret, "whsec_") {
		t.Fatalf("rotate = %s", r.body)
	}
	acc := notify(t, api.base, key, "org-rot0", `{"n":1}`)
	req := rc.waitCount(t, "/rot0", 1, 20*time.Second)[0]
	if req.header.Get("webhook-id") != acc.EventID {
		t.Fatalf("got %s, want %s", req.header.Get("webhook-id"), acc.EventID)
	}
	if err := verifyWith(rot.Secret, req); err != nil {
		t.Errorf("the new secret does not verify: %v", err)
	}
	if err := verifyWith(w.Secret, req); err == nil {
		t.Errorf("the secret rotated out with grace 0 still verifies")
	}
	if sigs := signatures(req); len(sigs) != 1 {
		t.Errorf("%d signatures, want 1", len(sigs))
	}
}

// A rotation with grace 0 "stops at once" every secret rotated out before it, not only the one it
// replaces: after create (s0) → rotate with the default grace (s1; s0 in its 24h grace) → rotate
// with grace 0 (s2), deliveries must be signed by s2 alone. The contract promises at most two
// signatures ("both") during a grace, and grace 0 is the response to a leak.
func TestWebhookSecretRotationGraceZeroStopsEveryOldSecret(t *testing.T) {
	t.Parallel()
	rc, e, api := deliveryStack(t, "")
	key := e.bootstrapKey("org-rotleak", "u")
	w := register(t, api.base, key, rc.url("/leak"))
	rotate := func(body any) string {
		t.Helper()
		r := call(t, "POST", api.base+"/public/webhooks/"+w.WebhookID+"/rotate-secret", key, body)
		wantStatus(t, r, 200)
		var got webhookData
		r.decode(t, &got, nil)
		return got.Secret
	}
	s0 := w.Secret
	s1 := rotate(nil)
	s2 := rotate(map[string]any{"grace_period_seconds": 0})
	acc := notify(t, api.base, key, "org-rotleak", `{"n":1}`)
	req := rc.waitCount(t, "/leak", 1, 20*time.Second)[0]
	if req.header.Get("webhook-id") != acc.EventID {
		t.Fatalf("got %s, want %s", req.header.Get("webhook-id"), acc.EventID)
	}
	if err := verifyWith(s2, req); err != nil {
		t.Errorf("the newest secret does not verify: %v", err)
	}
	if err := verifyWith(s1, req); err == nil {
		t.Errorf("the secret replaced with grace 0 still verifies")
	}
	if err := verifyWith(s0, req); err == nil {
		t.Errorf("after a rotation with grace 0, the secret rotated out before it (still in its 24h grace) still signs: "+
			"signatures %v, want only the new secret's", signatures(req))
	}
	if sigs := signatures(req); len(sigs) != 1 {
		t.Errorf("after a rotation with grace 0: %d signatures, want 1", len(sigs))
	}
}
