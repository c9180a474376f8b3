package signing

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// The spec's own example (standard-webhooks spec, "Signature scheme").
func TestSpecVector(t *testing.T) {
	key, _ := base64.StdEncoding.DecodeString("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	got := Signature([][]byte{key}, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Signature = %s, want %s", got, want)
	}
}

// The official Go verifier accepts our headers, with one secret and during a rotation with two.
func TestOfficialVerifierAccepts(t *testing.T) {
	oldKey, newKey := NewSecret(), NewSecret()
	body := []byte(`{"amount":1250,"currency":"EUR","note":"caf\u00e9 <b>&</b>"}`)
	now := time.Now()
	for name, keys := range map[string][][]byte{"one secret": {newKey}, "rotation": {newKey, oldKey}} {
		h := http.Header{}
		SetHeaders(h, keys, "evt_01jabc", now, body)
		for _, k := range keys {
			wh, err := standardwebhooks.NewWebhook(FormatSecret(k))
			if err != nil {
				t.Fatal(err)
			}
			if err := wh.Verify(body, h); err != nil {
				t.Errorf("%s: official verifier rejected: %v (signature %s)", name, err, h.Get(HeaderSignature))
			}
		}
		if n := len(strings.Fields(h.Get(HeaderSignature))); n != len(keys) {
			t.Errorf("%s: %d signatures, want %d", name, n, len(keys))
		}
	}
	// A different body or secret is refused.
	h := http.Header{}
	SetHeaders(h, [][]byte{newKey}, "evt_01jabc", now, body)
	wh, _ := standardwebhooks.NewWebhook(FormatSecret(oldKey))
	if err := wh.Verify(body, h); err == nil {
		t.Error("verifier accepted a signature made with another secret")
	}
	wh, _ = standardwebhooks.NewWebhook(FormatSecret(newKey))
	if err := wh.Verify(append(body, ' '), h); err == nil {
		t.Error("verifier accepted a changed body")
	}
}

func TestSecretFormat(t *testing.T) {
	s := FormatSecret(NewSecret())
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
	if !strings.HasPrefix(s, "whsec_") || err != nil || len(raw) < 24 || len(raw) > 64 {
		t.Fatalf("secret %q: want whsec_ + base64 of 24-64 bytes (%d, %v)", s, len(raw), err)
	}
}
