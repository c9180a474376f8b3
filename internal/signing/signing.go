// Package signing signs webhook deliveries the Standard Webhooks way (standardwebhooks.com):
// webhook-id, webhook-timestamp and webhook-signature headers, the signature being
// "v1,<base64 HMAC-SHA256(key, id.timestamp.body)>". During a secret rotation every live secret
// signs and the signatures are space-separated, so receivers verifying with either the old or the
// new secret accept the delivery.
package signing

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix marks a signing secret, as in Standard Webhooks ("whsec_<base64>").
const SecretPrefix = "whsec_"

// SecretLen is the number of random bytes in a new secret (the spec allows 24 to 64).
const SecretLen = 32

// Header names.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// NewSecret returns fresh random key bytes from crypto/rand.
func NewSecret() []byte {
	b := make([]byte, SecretLen)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return b
}

// FormatSecret returns the secret as shown to its owner: "whsec_" and the standard base64 of the
// key bytes (the bytes the HMAC uses).
func FormatSecret(key []byte) string { return SecretPrefix + base64.StdEncoding.EncodeToString(key) }

// Signature returns the webhook-signature value for body sent as message id at ts, one "v1,"
// entry per key.
func Signature(keys [][]byte, id string, ts time.Time, body []byte) string {
	unix := strconv.FormatInt(ts.Unix(), 10)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(unix))
		m.Write([]byte{'.'})
		m.Write(body)
		parts = append(parts, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	return strings.Join(parts, " ")
}

// SetHeaders sets the three Standard Webhooks headers on h.
func SetHeaders(h http.Header, keys [][]byte, id string, ts time.Time, body []byte) {
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, Signature(keys, id, ts, body))
}
