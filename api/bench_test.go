package api

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/internal/cursor"
	"github.com/pcx/publicservice/internal/keyformat"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/service/apikeys"
)

// oneKeyStore holds a single API key record in memory: what the authenticator reads once per
// AUTH_CACHE_TTL.
type oneKeyStore struct{ key *pcx.APIKey }

func (s oneKeyStore) APIKeyByPrefix(_ context.Context, prefix string) (*pcx.APIKey, error) {
	if prefix != s.key.Prefix {
		return nil, pcx.Errorf(pcx.ENotFound, "no key")
	}
	k := *s.key
	return &k, nil
}

func (oneKeyStore) TouchAPIKey(context.Context, string, time.Time, time.Duration) error { return nil }
func (oneKeyStore) RehashAPIKey(context.Context, string, int, []byte, int) error        { return nil }

// BenchmarkAuthOverhead compares, in process and without the network, what the api spends on
// GET /healthz and on GET /public/me with a valid key and a warm cache: the whole middleware chain,
// the real authenticator (parse, checksum, cache, HMAC) and the JSON reply. make bench measures
// the same over loopback; this isolates the api's own share for profiling:
//
//	go test ./api -run '^$' -bench AuthOverhead -cpuprofile /tmp/cpu.out
func BenchmarkAuthOverhead(b *testing.B) {
	pepper := make([]byte, 32)
	_, _ = rand.Read(pepper)
	peppers, err := keyformat.ParsePeppers("1:" + base64.StdEncoding.EncodeToString(pepper))
	if err != nil {
		b.Fatal(err)
	}
	hasher := keyformat.NewHasher(peppers)
	k, err := keyformat.New()
	if err != nil {
		b.Fatal(err)
	}
	mac, version := hasher.MAC(k)
	st := oneKeyStore{&pcx.APIKey{ID: "key_1", Prefix: k.Prefix(), OrgID: "org-1", UserID: "user-1", Status: pcx.KeyActive, SecretMAC: mac, PepperVersion: version, CreatedAt: time.Now()}}
	auth := apikeys.NewAuthenticator(st, hasher, time.Hour, zerolog.Nop())
	h := NewServer(Deps{Log: zerolog.Nop(), Auth: auth, AuthFailures: NewFailureLimiter(30), Keys: &fakeKeys{}, Webhooks: noWebhookService{},
		Cursors: cursor.NewSigner([]byte("k"), time.Hour), RequestTimeout: 10 * time.Second})

	for _, tc := range []struct{ name, path, key string }{{"healthz", "/healthz", ""}, {"me", "/public/me", k.String()}} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			req.RemoteAddr = "127.0.0.1:40000"
			if tc.key != "" {
				req.Header.Set("X-API-Key", tc.key)
			}
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", tc.path, w.Code, w.Body)
				}
			}
		})
	}
}
