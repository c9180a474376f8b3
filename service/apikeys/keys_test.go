package apikeys

import (
	"context"
	"encoding/base64"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pcx/publicservice/internal/keyformat"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

// fakeStore is an in-memory key store for unit tests of this package.
type fakeStore struct {
	mu      sync.Mutex
	keys    map[string]*pcx.APIKey
	reads   int
	touches int
	taken   int // the next `taken` creates fail with pcx.ErrPrefixTaken
	fail    error
	block   chan struct{}      // when set, reads wait on it, or until their context ends
	reading chan struct{}      // when set with block, a read sends on it once begun, then waits
	touched chan struct{}      // when set, each TouchAPIKey sends on it (buffer it)
	audits  []*pcx.AuditRecord // every record written with a change, in order
}

// opCtx is the context of the tests' changes: an operator's, so each has an actor to audit.
var opCtx = pcx.WithOrigin(context.Background(), pcx.Origin{Actor: pcx.Actor{Operator: "test"}})

func newFake() *fakeStore { return &fakeStore{keys: map[string]*pcx.APIKey{}} }

func (f *fakeStore) CreateAPIKey(_ context.Context, k *pcx.APIKey, rec *pcx.AuditRecord) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.taken > 0 {
		f.taken--
		return pcx.ErrPrefixTaken
	}
	cp := *k
	f.keys[k.Prefix] = &cp
	f.audit(rec)
	return nil
}

// audit keeps rec; callers hold mu.
func (f *fakeStore) audit(rec *pcx.AuditRecord) {
	if rec != nil {
		f.audits = append(f.audits, rec)
	}
}

// APIKeyOf is the use cases' read; reads counts only authentication's (APIKeyByPrefix).
func (f *fakeStore) APIKeyOf(_ context.Context, org, prefix string) (*pcx.APIKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[prefix]
	if !ok || k.OrgID != org {
		return nil, pcx.Errorf(pcx.ENotFound, "API key not found")
	}
	cp := *k
	return &cp, nil
}

func (f *fakeStore) UpdateAPIKey(_ context.Context, org, prefix string, p store.KeyPatch, rec *pcx.AuditRecord) (*pcx.APIKey, error) {
	return f.change(org, prefix, rec, func(k *pcx.APIKey) bool {
		if p.Name != nil {
			k.Name = *p.Name
		}
		if p.ExpiresAt != nil {
			k.ExpiresAt = p.ExpiresAt
		}
		return true
	})
}

func (f *fakeStore) RollAPIKey(_ context.Context, old *pcx.APIKey, oldExpires time.Time, next *pcx.APIKey, created, rolled *pcx.AuditRecord) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[old.Prefix]
	if !ok || k.ID != old.ID {
		return pcx.Errorf(pcx.EConflict, "changed")
	}
	k.ExpiresAt = &oldExpires
	cp := *next
	f.keys[next.Prefix] = &cp
	f.audit(created)
	f.audit(rolled)
	return nil
}

func (f *fakeStore) KeyChildren(_ context.Context, id string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for p, k := range f.keys {
		if k.CreatedBy == id {
			out = append(out, p)
		}
	}
	return out, nil
}

func (f *fakeStore) APIKeyByPrefix(ctx context.Context, prefix string) (*pcx.APIKey, error) {
	// A read sees the store as it was when the read began, as a GetItem does.
	f.mu.Lock()
	f.reads++
	fail := f.fail
	k, ok := f.keys[prefix]
	var cp pcx.APIKey
	if ok {
		cp = *k
	}
	f.mu.Unlock()
	if f.block != nil {
		if f.reading != nil {
			f.reading <- struct{}{}
		}
		select {
		case <-f.block:
		case <-ctx.Done(): // as the store translates a context that ended
			return nil, pcx.Wrap(pcx.EUnavailable, ctx.Err(), "The database did not answer in time; retry later")
		}
	}
	switch {
	case fail != nil:
		return nil, fail
	case !ok:
		return nil, pcx.Errorf(pcx.ENotFound, "API key not found")
	}
	return &cp, nil
}

func (f *fakeStore) APIKeyByID(_ context.Context, org, id string) (*pcx.APIKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.keys {
		if k.ID == id && k.OrgID == org {
			cp := *k
			return &cp, nil
		}
	}
	return nil, pcx.Errorf(pcx.ENotFound, "API key not found")
}

func (f *fakeStore) ListAPIKeys(_ context.Context, org string, _ int, _ string) ([]*pcx.APIKey, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*pcx.APIKey
	for _, k := range f.keys {
		if k.OrgID == org {
			cp := *k
			out = append(out, &cp)
		}
	}
	return out, "", nil
}

// change applies fn to org's key with the prefix, as the store's conditional writes do, and
// keeps rec when fn reports a change.
func (f *fakeStore) change(org, prefix string, rec *pcx.AuditRecord, fn func(*pcx.APIKey) bool) (*pcx.APIKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[prefix]
	if !ok || k.OrgID != org {
		return nil, pcx.Errorf(pcx.ENotFound, "API key not found")
	}
	if fn(k) {
		f.audit(rec)
	}
	cp := *k
	return &cp, nil
}

func (f *fakeStore) RevokeAPIKey(_ context.Context, org, prefix string, rec *pcx.AuditRecord) (*pcx.APIKey, bool, error) {
	changed := false
	k, err := f.change(org, prefix, rec, func(k *pcx.APIKey) bool {
		changed = k.Status != pcx.KeyRevoked
		k.Status = pcx.KeyRevoked
		return changed
	})
	return k, changed, err
}

func (f *fakeStore) ActivateAPIKey(_ context.Context, org, prefix string, rec *pcx.AuditRecord) (*pcx.APIKey, error) {
	return f.change(org, prefix, rec, func(k *pcx.APIKey) bool { k.Status = pcx.KeyActive; return true })
}

func (f *fakeStore) DeleteAPIKey(_ context.Context, org, prefix string, rec *pcx.AuditRecord) error {
	_, err := f.change(org, prefix, rec, func(*pcx.APIKey) bool { return true })
	if err == nil {
		f.mu.Lock()
		delete(f.keys, prefix)
		f.mu.Unlock()
	}
	return err
}

func (f *fakeStore) TouchAPIKey(context.Context, string, time.Time, time.Duration) error {
	f.mu.Lock()
	f.touches++
	f.mu.Unlock()
	if f.touched != nil {
		f.touched <- struct{}{}
	}
	return nil
}

func (f *fakeStore) readCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reads
}

func testHasher(t *testing.T) *keyformat.Hasher {
	t.Helper()
	ring, err := keyformat.ParsePeppers("1:" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("p", 32))))
	if err != nil {
		t.Fatal(err)
	}
	return keyformat.NewHasher(ring)
}

func newService(t *testing.T, st *fakeStore) *Service {
	return &Service{Store: st, Hasher: testHasher(t)}
}

func TestCreateValidates(t *testing.T) {
	s := newService(t, newFake())
	past := time.Now().Add(-time.Second)
	tests := []struct {
		name  string
		in    CreateInput
		field string
	}{
		{"empty name", CreateInput{OrgID: "o", UserID: "u", Name: ""}, "name"},
		{"blank name", CreateInput{OrgID: "o", UserID: "u", Name: "   "}, "name"},
		{"long name", CreateInput{OrgID: "o", UserID: "u", Name: strings.Repeat("é", 101)}, "name"},
		{"control char", CreateInput{OrgID: "o", UserID: "u", Name: "a\x00b"}, "name"},
		{"no org", CreateInput{UserID: "u", Name: "n"}, "org_id"},
		{"org with #", CreateInput{OrgID: "a#b", UserID: "u", Name: "n"}, "org_id"},
		{"long user", CreateInput{OrgID: "o", UserID: strings.Repeat("u", 129), Name: "n"}, "user_id"},
		{"past expiry", CreateInput{OrgID: "o", UserID: "u", Name: "n", ExpiresAt: &past}, "expires_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := s.Create(opCtx, tt.in)
			var pe *pcx.Error
			if !errors.As(err, &pe) || pe.Code != pcx.EInvalid || pe.Fields[tt.field] == "" {
				t.Fatalf("Create error = %v, want EInvalid naming field %q", err, tt.field)
			}
		})
	}
	// 100 characters of a multi-byte rune are fine.
	if _, _, err := s.Create(opCtx, CreateInput{OrgID: "o", UserID: "u", Name: strings.Repeat("é", 100)}); err != nil {
		t.Fatalf("Create with a 100-character name: %v", err)
	}
}

func TestCreateRetriesPrefixCollision(t *testing.T) {
	st := newFake()
	st.taken = 2
	s := newService(t, st)
	full, rec, err := s.Create(opCtx, CreateInput{OrgID: "org", UserID: "u", Name: "n"})
	if err != nil {
		t.Fatalf("Create after two collisions: %v", err)
	}
	k, err := keyformat.Parse(full)
	if err != nil || k.Prefix() != rec.Prefix {
		t.Fatalf("returned key %q does not parse to the stored prefix %q: %v", full, rec.Prefix, err)
	}
	if len(st.keys) != 1 || st.keys[rec.Prefix] == nil {
		t.Fatalf("stored %d keys, want exactly the returned one", len(st.keys))
	}
	if strings.Contains(string(rec.SecretMAC), k.Secret) {
		t.Fatal("the stored record contains the secret")
	}

	st.taken = 100
	if _, _, err := s.Create(opCtx, CreateInput{OrgID: "org", UserID: "u", Name: "n"}); pcx.ErrorCode(err) != pcx.EInternal {
		t.Fatalf("Create with endless collisions = %v, want an internal error", err)
	}
}

type authFixture struct {
	st   *fakeStore
	a    *Authenticator
	key  string
	now  time.Time
	prin pcx.Principal
}

func newAuth(t *testing.T, ttl time.Duration) *authFixture {
	st := newFake()
	s := newService(t, st)
	full, rec, err := s.Create(opCtx, CreateInput{OrgID: "org-1", UserID: "user-1", Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	f := &authFixture{st: st, key: full, now: time.Now(),
		prin: rec.Principal()}
	f.a = NewAuthenticator(st, s.Hasher, ttl, zerolog.Nop())
	f.a.now = func() time.Time { return f.now }
	return f
}

func TestAuthenticate(t *testing.T) {
	f := newAuth(t, 0)
	ctx := opCtx
	got, err := f.a.Authenticate(ctx, f.key)
	if err != nil || !reflect.DeepEqual(got, f.prin) {
		t.Fatalf("Authenticate(valid) = %+v, %v; want %+v", got, err, f.prin)
	}
	before := f.st.readCount()
	for name, header := range map[string]string{
		"missing": "", "malformed": "pcx_nope", "bad checksum": f.key[:len(f.key)-1] + flip(f.key[len(f.key)-1]),
		"bearer form": "Bearer " + f.key,
	} {
		if _, err := f.a.Authenticate(ctx, header); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("%s: Authenticate = %v, want ErrUnauthenticated", name, err)
		}
	}
	if got := f.st.readCount(); got != before {
		t.Fatalf("malformed keys caused %d store reads, want 0", got-before)
	}
	unknown, _ := keyformat.New()
	if _, err := f.a.Authenticate(ctx, unknown.String()); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("unknown key: %v, want ErrUnauthenticated", err)
	}

	// Revoked and expired keys stop authenticating.
	f.st.keys[f.prin.Prefix].Status = pcx.KeyRevoked
	if _, err := f.a.Authenticate(ctx, f.key); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("revoked key: %v, want ErrUnauthenticated", err)
	}
	f.st.keys[f.prin.Prefix].Status = pcx.KeyActive
	exp := f.now.Add(time.Second)
	f.st.keys[f.prin.Prefix].ExpiresAt = &exp
	if _, err := f.a.Authenticate(ctx, f.key); err != nil {
		t.Fatalf("key before expiry: %v", err)
	}
	f.now = exp
	if _, err := f.a.Authenticate(ctx, f.key); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("key at expiry: %v, want ErrUnauthenticated", err)
	}

	// A storage outage is a 503, never a 401.
	f.st.fail = pcx.Errorf(pcx.EUnavailable, "down")
	if _, err := f.a.Authenticate(ctx, f.key); pcx.ErrorCode(err) != pcx.EUnavailable {
		t.Fatalf("store down: %v, want EUnavailable", err)
	}
}

// A key whose stored HMAC does not match the secret presented is refused even though its prefix
// exists: the secret is what authenticates.
func TestAuthenticateWrongSecret(t *testing.T) {
	f := newAuth(t, 0)
	f.st.keys[f.prin.Prefix].SecretMAC = []byte("not the mac of this key........")
	if _, err := f.a.Authenticate(opCtx, f.key); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("wrong secret: %v, want ErrUnauthenticated", err)
	}
}

func flip(c byte) string {
	if c == 'a' {
		return "b"
	}
	return "a"
}

func TestAuthCacheTTLAndForget(t *testing.T) {
	f := newAuth(t, 2*time.Second)
	ctx := opCtx
	mustAuth := func(wantOK bool) {
		t.Helper()
		_, err := f.a.Authenticate(ctx, f.key)
		if (err == nil) != wantOK {
			t.Fatalf("Authenticate = %v, want ok=%v", err, wantOK)
		}
	}
	mustAuth(true)
	mustAuth(true)
	if r := f.st.readCount(); r != 1 {
		t.Fatalf("two requests within the TTL read the store %d times, want 1", r)
	}
	// Revoked behind this instance's back: still served from cache until the TTL, never after.
	f.st.keys[f.prin.Prefix].Status = pcx.KeyRevoked
	f.now = f.now.Add(1999 * time.Millisecond)
	mustAuth(true)
	f.now = f.now.Add(time.Millisecond)
	mustAuth(false)

	// Forget makes this instance's own change visible at once.
	f.st.keys[f.prin.Prefix].Status = pcx.KeyActive
	mustAuth(false) // the revoked record is cached until its TTL
	f.a.Forget(f.prin.Prefix)
	mustAuth(true)
	f.st.keys[f.prin.Prefix].Status = pcx.KeyRevoked
	f.a.Forget(f.prin.Prefix)
	mustAuth(false)

	// Unknown prefixes are cached too (so both failures cost the same), apart from known ones.
	unknown, _ := keyformat.New()
	before := f.st.readCount()
	for range 3 {
		if _, err := f.a.Authenticate(ctx, unknown.String()); !errors.Is(err, ErrUnauthenticated) {
			t.Fatal(err)
		}
	}
	if got := f.st.readCount() - before; got != 1 {
		t.Fatalf("3 requests with one unknown prefix read the store %d times, want 1", got)
	}
}

// Revoke, Activate and Delete hold on this instance at once, however long the cache keeps keys:
// the service tells its authenticator to forget the key it changed. A change that fails (another
// organisation's key) forgets nothing.
func TestChangesForgetTheCachedKey(t *testing.T) {
	f := newAuth(t, time.Hour)
	s := newService(t, f.st)
	s.Auth = f.a
	ctx := opCtx
	mustAuth := func(wantOK bool) {
		t.Helper()
		if _, err := f.a.Authenticate(ctx, f.key); (err == nil) != wantOK {
			t.Fatalf("Authenticate = %v, want ok=%v", err, wantOK)
		}
	}
	mustAuth(true)
	reads := f.st.readCount()
	if _, _, err := s.Revoke(ctx, "org-2", f.prin.Prefix, false); pcx.ErrorCode(err) != pcx.ENotFound {
		t.Fatalf("Revoke of another organisation's key = %v, want not found", err)
	}
	mustAuth(true)
	if got := f.st.readCount(); got != reads {
		t.Fatalf("a failed revoke made the next request read the store (%d reads, want %d)", got, reads)
	}

	k, _, err := s.Revoke(ctx, "org-1", f.prin.Prefix, false)
	if err != nil || k.Status != pcx.KeyRevoked {
		t.Fatalf("Revoke = %+v, %v; want the revoked key", k, err)
	}
	mustAuth(false)
	if k, err = s.Activate(ctx, nil, "org-1", f.prin.Prefix); err != nil || k.Status != pcx.KeyActive {
		t.Fatalf("Activate = %+v, %v; want the active key", k, err)
	}
	mustAuth(true)
	if got, err := s.Get(ctx, "org-1", f.prin.APIKeyID); err != nil || got.Prefix != f.prin.Prefix {
		t.Fatalf("Get = %+v, %v; want the key", got, err)
	}
	if list, _, err := s.List(ctx, "org-1", 10, ""); err != nil || len(list) != 1 {
		t.Fatalf("List = %d keys, %v; want the one", len(list), err)
	}
	if err := s.Delete(ctx, "org-1", f.prin.Prefix); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	mustAuth(false)
	if _, err := s.Get(ctx, "org-1", f.prin.APIKeyID); pcx.ErrorCode(err) != pcx.ENotFound {
		t.Fatalf("Get after Delete = %v, want not found", err)
	}
}

func TestAuthCacheDisabled(t *testing.T) {
	f := newAuth(t, 0)
	for range 3 {
		if _, err := f.a.Authenticate(opCtx, f.key); err != nil {
			t.Fatal(err)
		}
	}
	if r := f.st.readCount(); r != 3 {
		t.Fatalf("AUTH_CACHE_TTL=0: 3 requests read the store %d times, want 3", r)
	}
}

// A read that began before a Forget must not put its (possibly stale) result in the cache.
func TestForgetDuringReadDoesNotCacheStale(t *testing.T) {
	f := newAuth(t, time.Hour)
	f.st.block, f.st.reading = make(chan struct{}), make(chan struct{}, 1) // buffered: for the read after, too
	done := make(chan error)
	go func() {
		_, err := f.a.Authenticate(opCtx, f.key)
		done <- err
	}()
	<-f.st.reading // the read has begun: it took the cache's epoch before reaching the store
	f.a.Forget(f.prin.Prefix)
	close(f.st.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.st.keys[f.prin.Prefix].Status = pcx.KeyRevoked
	if _, err := f.a.Authenticate(opCtx, f.key); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("after Forget the pre-Forget read was cached: %v", err)
	}
}

func TestTouchIsThrottled(t *testing.T) {
	f := newAuth(t, time.Hour)
	f.st.touched = make(chan struct{}, 100)
	ctx, cancel := context.WithCancel(opCtx)
	defer cancel()
	for range 50 {
		if _, err := f.a.Authenticate(ctx, f.key); err != nil {
			t.Fatal(err)
		}
	}
	f.now = f.now.Add(TouchInterval)
	if _, err := f.a.Authenticate(ctx, f.key); err != nil {
		t.Fatal(err)
	}
	// Requests decide on their touch themselves; Run only writes what they queued.
	if n := len(f.a.touches); n != 2 {
		t.Fatalf("51 requests across two intervals queued %d last_used_at writes, want 2", n)
	}
	go f.a.Run(ctx)
	for i := range 2 {
		select {
		case <-f.st.touched:
		case <-time.After(10 * time.Second):
			t.Fatalf("Run wrote %d of the 2 queued last_used_at writes", i)
		}
	}
}
