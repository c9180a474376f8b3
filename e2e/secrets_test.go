package e2e

import (
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/keyformat"
)

// A full run at debug level — keys created and used (also, wrongly, in the query string),
// failed authentications, webhooks registered and rotated, events delivered after retries,
// transaction updates with right and wrong tokens — logs no API key, key secret, webhook secret,
// pepper, secrets key or internal token, and no transaction data.
func TestLogsNeverContainSecrets(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t)
	e := newEnv(t)
	e.allow(rc)
	e.vars["LOG_LEVEL"] = "debug"
	e.vars["WEBHOOK_RETRY_SCHEDULE"] = "1s"
	e.capture = &lockedBuffer{}
	api := e.startAPI()
	e.startWorker()

	root := e.bootstrapKey("org-logs", "u")
	r := call(t, "POST", api.base+"/public/api-keys/create", root, map[string]any{"name": "secret holder"})
	wantStatus(t, r, 201)
	var k keyData
	r.decode(t, &k, nil)
	keys := []string{root, k.APIKey}

	// Use the key the right way and the wrong ways.
	wantStatus(t, call(t, "GET", api.base+"/public/me", k.APIKey, nil), 200)
	wantStatus(t, call(t, "GET", api.base+"/public/me?api_key="+k.APIKey, "", nil), 401)
	parsed, _ := keyformat.Parse(k.APIKey)
	forged, _ := keyformat.WithID(rand.Reader, parsed.ID)
	keys = append(keys, forged.String())
	wantUnauthorized(t, call(t, "GET", api.base+"/public/me", forged.String(), nil))
	wantUnauthorized(t, call(t, "GET", api.base+"/public/me", k.APIKey+"x", nil))

	// Webhooks: register, rotate, deliver after a retry.
	rc.answer("/logs", 500, 200)
	hook := register(t, api.base, k.APIKey, rc.url("/logs"))
	r = call(t, "POST", api.base+"/public/webhooks/"+hook.WebhookID+"/rotate-secret", k.APIKey, nil)
	wantStatus(t, r, 200)
	var rotated webhookData
	r.decode(t, &rotated, nil)
	acc := notify(t, api.base, k.APIKey, "org-logs", `{"card":"4111111111111111"}`, "Idempotency-Key", "logs-1")
	waitDeliveries(t, api.base, k.APIKey, acc.EventID, 1, "delivered", 30*time.Second)

	// Transaction updates with the right and a wrong token.
	token := e.vars["INTERNAL_TOKEN"]
	wantStatus(t, call(t, "POST", api.internal+"/internal/transaction-updates", "", `{"org_id":"org-logs","transaction_data":{"a":1}}`, "Authorization", "Bearer "+token), 202)
	wantStatus(t, call(t, "POST", api.internal+"/internal/transaction-updates", "", `{"org_id":"org-logs","transaction_data":{"a":1}}`, "Authorization", "Bearer "+token+"x"), 401)
	req, _ := http.NewRequest("GET", api.base+"/public/me", nil)
	req.Header.Set("Authorization", "Bearer "+k.APIKey)
	if resp, err := httpClient.Do(req); err == nil {
		resp.Body.Close()
	}

	logs := e.capture.String()
	// The capture works: it holds request lines with the prefixes, which may be logged.
	if !strings.Contains(logs, `"route":"/public/me"`) || !strings.Contains(logs, parsed.Prefix()) || !strings.Contains(logs, acc.EventID) {
		t.Fatalf("captured logs lack the expected request lines (%d bytes)", len(logs))
	}
	secrets := map[string]string{
		"internal token":       token,
		"pepper":               strings.TrimPrefix(e.vars["APIKEY_PEPPERS"], "1:"),
		"secrets key":          strings.TrimPrefix(e.vars["WEBHOOK_SECRETS_KEYS"], "1:"),
		"webhook secret":       hook.Secret,
		"webhook secret bytes": strings.TrimPrefix(hook.Secret, "whsec_"),
		"rotated secret":       strings.TrimPrefix(rotated.Secret, "whsec_"),
		// Not a server secret, but customers' transaction data is not for logs either.
		"transaction data": "4111111111111111",
	}
	for i, key := range keys {
		pk, err := keyformat.Parse(key)
		if err != nil {
			t.Fatal(err)
		}
		secrets["api key "+string(rune('0'+i))] = key
		secrets["key secret "+string(rune('0'+i))] = pk.Secret
	}
	for name, secret := range secrets {
		if secret == "" {
			t.Fatalf("%s is empty: the test would prove nothing", name)
		}
		if strings.Contains(logs, secret) {
			i := strings.Index(logs, secret)
			t.Errorf("the logs contain the %s: ...%s...", name, logs[max(0, i-200):min(len(logs), i+len(secret)+50)])
		}
	}
}
