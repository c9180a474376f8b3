package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pcx/publicservice/internal/testenv"
)

// TestExampleReceiver runs examples/receiver as an integrator would — its own binary, HTTPS with
// its own certificate, the secret from registration — and checks that it accepts PCX's real
// deliveries, processes the event once, acknowledges a replay of it without processing it
// again, takes the standard payload format as well as the raw one, and dispatches on the event
// type.
func TestExampleReceiver(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := writeCertFiles(t, dir)
	e := newEnv(t)
	e.h.AllowReceivers(certFile)
	api := e.startAPI()
	e.startWorker()
	key := e.bootstrapKey("org-example", "u")
	bin := buildCommand(t, dir, "./examples/receiver")

	port, err := testenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	hook := register(t, api.base, key, fmt.Sprintf("https://127.0.0.1:%d/webhooks/pcx", port))
	p, err := testenv.Start("example-receiver", dir, []string{"PCX_WEBHOOK_SECRET=" + hook.Secret, "RECEIVER_TLS_CERT=" + certFile, "RECEIVER_TLS_KEY=" + keyFile},
		bin, "-addr", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	if err := p.WaitFor(20*time.Second, func() error {
		if !bytes.Contains(readFile(t, p.LogPath()), []byte("listening on https://")) {
			return fmt.Errorf("not listening yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	data := `{"transaction_id":"tx-42","amount":"99.90","currency":"EUR"}`
	acc := notify(t, api.base, key, "org-example", data)
	d := waitDelivery(t, api.base, key, acc.EventID, hook.WebhookID, "delivered", 1, 30*time.Second)
	if d.Attempts != 1 || *d.LastStatusCode != 200 {
		t.Fatalf("delivery to the example %+v, want accepted at the first attempt", d)
	}
	processed := processedLines(t, p.LogPath(), acc.EventID)
	if len(processed) != 1 || string(processed[0]) != data {
		t.Fatalf("the example processed %q, want the event's data once", processed)
	}

	// A replay repeats the webhook-id: the example answers 200 and does not process it again.
	wantStatus(t, call(t, "POST", api.base+"/public/webhooks/events/"+acc.EventID+"/replay", key, nil), 202)
	d = waitDelivery(t, api.base, key, acc.EventID, hook.WebhookID, "delivered", 2, 30*time.Second)
	if codes := d.attemptCodes(); len(codes) != 2 || codes[1] != 200 {
		t.Fatalf("replayed delivery attempts %v, want a 200 acknowledgement", codes)
	}
	if processed := processedLines(t, p.LogPath(), acc.EventID); len(processed) != 1 {
		t.Fatalf("after the replay the example processed the event %d times, want once", len(processed))
	}
	if !bytes.Contains(readFile(t, p.LogPath()), []byte(`"transaction_data"`)) {
		t.Fatal("the example printed no event")
	}

	// payload_format standard: the example (-payload-format auto, its default) unwraps the
	// Standard Webhooks envelope and processes the same data.
	wantStatus(t, call(t, "PATCH", api.base+"/public/webhooks/"+hook.WebhookID, key, map[string]any{"payload_format": "standard"}), 200)
	data = `{"transaction_id":"tx-43","amount":"1.50","currency":"EUR"}`
	acc = notify(t, api.base, key, "org-example", data)
	waitDelivery(t, api.base, key, acc.EventID, hook.WebhookID, "delivered", 1, 30*time.Second)
	if processed := processedLines(t, p.LogPath(), acc.EventID); len(processed) != 1 || string(processed[0]) != data {
		t.Fatalf("in the standard format the example processed %q, want the event's data once", processed)
	}

	// It dispatches on PCX-Event-Type: a type it has no case for is acknowledged and logged,
	// not processed.
	r := call(t, "POST", api.base+"/public/webhooks/notify", key, `{"org_id":"org-example","event_type":"refund.created","transaction_data":{"refund_id":"rf-1"}}`)
	wantStatus(t, r, 202)
	var typed acceptedData
	r.decode(t, &typed, nil)
	d = waitDelivery(t, api.base, key, typed.EventID, hook.WebhookID, "delivered", 1, 30*time.Second)
	if *d.LastStatusCode != 200 || len(processedLines(t, p.LogPath(), typed.EventID)) != 0 ||
		!bytes.Contains(readFile(t, p.LogPath()), []byte(typed.EventID+`: event type "refund.created" is not handled here`)) {
		t.Fatalf("refund.created: delivery %+v; the example should acknowledge it and log it unhandled", d)
	}
}

// processedLines returns the transaction_data of each event line the example printed for eventID.
func processedLines(t *testing.T, logPath, eventID string) []json.RawMessage {
	t.Helper()
	var got []json.RawMessage
	for _, line := range bytes.Split(readFile(t, logPath), []byte("\n")) {
		var ev struct {
			WebhookID       string          `json:"webhook_id"`
			TransactionData json.RawMessage `json:"transaction_data"`
		}
		if json.Unmarshal(line, &ev) == nil && ev.WebhookID == eventID {
			got = append(got, ev.TransactionData)
		}
	}
	return got
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeCertFiles writes a self-signed certificate for 127.0.0.1, ::1 and localhost and its key as
// PEM files, as an integrator's receiver would be configured with.
func writeCertFiles(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM, _, err := testenv.SelfSignedCert("example receiver")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "receiver-cert.pem"), filepath.Join(dir, "receiver-key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
