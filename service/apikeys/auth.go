package apikeys

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sync/singleflight"

	"github.com/pcx/publicservice/internal/keyformat"
	"github.com/pcx/publicservice/internal/ratelimit"
	"github.com/pcx/publicservice/pcx"
)

// ErrUnauthenticated is the one answer to every key that does not authenticate, whatever the
// reason: missing, malformed, unknown, wrong secret, revoked, expired or deleted.
var ErrUnauthenticated = pcx.Errorf(pcx.EUnauthenticated, "API Key is missing")

// LookupStore is what authentication needs from storage.
type LookupStore interface {
	APIKeyByPrefix(ctx context.Context, prefix string) (*pcx.APIKey, error)
	TouchAPIKey(ctx context.Context, prefix string, at time.Time, minInterval time.Duration) error
	RehashAPIKey(ctx context.Context, prefix string, oldVersion int, mac []byte, newVersion int) error
}

// Cache bounds. Unknown prefixes get their own, smaller map so a flood of invented keys cannot
// evict the entries of real ones.
const (
	maxKnown   = 100_000
	maxUnknown = 10_000
	// TouchInterval is how stale last_used_at may be: at most one write per key per interval.
	TouchInterval = time.Minute
	touchQueue    = 1024
)

type entry struct {
	key     *pcx.APIKey // nil: no key has this prefix
	expires time.Time
}

// Authenticator resolves an X-API-Key value to a Principal.
//
// Records are cached per prefix for ttl (0 disables caching). An entry is never used after its
// expiry, so a revoke or delete on any instance takes effect everywhere within ttl; Forget drops
// an entry at once on the instance that changed the key. The secret is verified on every request
// (one HMAC), so the cache never holds anything that authenticates by itself.
type Authenticator struct {
	store  LookupStore
	hasher *keyformat.Hasher
	ttl    time.Duration
	now    func() time.Time
	log    zerolog.Logger

	mu      sync.Mutex
	known   map[string]entry
	unknown map[string]entry
	epoch   uint64 // bumped by Forget: reads begun before it must not fill the cache
	touched map[string]time.Time
	group   singleflight.Group
	touches chan touch
	// rehashes queues keys that authenticated under an older pepper, to be stored under the
	// newest; rehashing holds their prefixes while queued, so each is queued once.
	rehashes  chan rehash
	rehashing map[string]bool
	joined    func() // tests: called once a cache miss has joined (or started) its store read

	// StoreReads, when set, is the global budget of store reads for prefixes the cache does not
	// hold (AUTH_UNKNOWN_READS_PER_SECOND): each read takes a token, given back when the prefix
	// turns out to exist, so only reads of invented prefixes spend it. With none left, a prefix
	// the cache does not hold is refused (503, Retry-After) without a read, whatever it is, so
	// the refusal says nothing about which prefixes exist; a key the cache holds is unaffected.
	// nil: reads are unbounded.
	StoreReads *ratelimit.Buckets
}

// storeReadsKey is the one key of the global StoreReads budget.
const storeReadsKey = ""

type touch struct {
	prefix string
	at     time.Time
}

type rehash struct {
	key        keyformat.Key
	oldVersion int
}

// NewAuthenticator returns an Authenticator. Call Run to record last_used_at.
func NewAuthenticator(store LookupStore, hasher *keyformat.Hasher, ttl time.Duration, log zerolog.Logger) *Authenticator {
	return &Authenticator{
		store: store, hasher: hasher, ttl: ttl, now: time.Now, log: log,
		known: map[string]entry{}, unknown: map[string]entry{}, touched: map[string]time.Time{},
		touches: make(chan touch, touchQueue), rehashes: make(chan rehash, touchQueue), rehashing: map[string]bool{},
	}
}

// Authenticate checks the X-API-Key value. It returns ErrUnauthenticated for any key that does
// not authenticate, and an EUnavailable error when storage cannot answer (the caller gets a 503,
// never a 401 it might act on by discarding a good key).
func (a *Authenticator) Authenticate(ctx context.Context, header string) (pcx.Principal, error) {
	k, err := keyformat.Parse(header)
	if err != nil {
		return pcx.Principal{}, ErrUnauthenticated
	}
	rec, err := a.lookup(ctx, k.Prefix())
	if err != nil {
		return pcx.Principal{}, err
	}
	if rec == nil {
		a.hasher.VerifyNothing(k) // the same work as a wrong secret
		return pcx.Principal{}, ErrUnauthenticated
	}
	now := a.now()
	if !a.hasher.Verify(k, rec.PepperVersion, rec.SecretMAC) || !rec.Usable(now) {
		return pcx.Principal{}, ErrUnauthenticated
	}
	a.noteUse(rec.Prefix, now)
	if rec.PepperVersion != a.hasher.CurrentVersion() {
		a.noteRehash(k, rec.PepperVersion)
	}
	return rec.Principal(), nil
}

// Forget drops any cached state of prefix, after this instance revoked, activated or deleted it.
func (a *Authenticator) Forget(prefix string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.known, prefix)
	delete(a.unknown, prefix)
	a.epoch++
}

// sharedReadTimeout bounds a cache miss's store read, which runs for every caller that joined it
// and so on none of their contexts. It is below the default REQUEST_TIMEOUT (10s): a read that
// hangs ends as a 503 for whoever still waits, never as a read left running.
const sharedReadTimeout = 3 * time.Second

// flight is the outcome of one shared store read, with the moment the read began.
type flight struct {
	rec   *pcx.APIKey
	began time.Time
}

// lookup returns the record for prefix, nil if there is none.
//
// Concurrent misses of one prefix share one store read. The read is no caller's: it runs on its
// own context (detached from the caller who started it, bounded by sharedReadTimeout), so a
// client that goes away fails nobody else's request, and each caller waits for it only as long
// as its own context allows. A caller is never served a read that began more than the TTL before
// it asked: that read may predate a revoke by more than AUTH_CACHE_TTL, so the caller reads again.
func (a *Authenticator) lookup(ctx context.Context, prefix string) (*pcx.APIKey, error) {
	if a.ttl <= 0 {
		return a.fetch(ctx, prefix)
	}
	asked := a.now()
	// A flight joined after an earlier one ended began after asked, so this loops at most twice.
	for {
		a.mu.Lock()
		e, ok := a.known[prefix]
		if !ok {
			e, ok = a.unknown[prefix]
		}
		epoch := a.epoch
		a.mu.Unlock()
		if ok && asked.Before(e.expires) {
			return e.key, nil
		}
		// Keyed by the cache epoch: a Forget starts a new flight, so nobody who asks after a
		// revoke joins a read that began before it.
		ch := a.group.DoChan(prefix+"#"+strconv.FormatUint(epoch, 10), func() (any, error) {
			began := a.now()
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedReadTimeout)
			defer cancel()
			rec, err := a.fetch(rctx, prefix)
			if err != nil {
				return nil, err
			}
			a.store1(prefix, rec, epoch, began.Add(a.ttl))
			return flight{rec: rec, began: began}, nil
		})
		if a.joined != nil {
			a.joined()
		}
		select {
		case <-ctx.Done():
			// As the store answers a read its caller's context ended: a 503, never a 401.
			return nil, pcx.Wrap(pcx.EUnavailable, ctx.Err(), "The database did not answer in time; retry later")
		case res := <-ch:
			if res.Err != nil {
				return nil, res.Err
			}
			f := res.Val.(flight)
			if asked.Before(f.began.Add(a.ttl)) { // the rule of a cache entry, which expires TTL after its read began
				return f.rec, nil
			}
		}
	}
}

func (a *Authenticator) fetch(ctx context.Context, prefix string) (*pcx.APIKey, error) {
	if wait := a.StoreReads.Take(storeReadsKey); wait > 0 {
		return nil, ratelimit.Error{Err: errReadsSpent, Wait: wait}
	}
	rec, err := a.store.APIKeyByPrefix(ctx, prefix)
	if pcx.ErrorCode(err) == pcx.ENotFound {
		return nil, nil
	}
	if rec != nil {
		a.StoreReads.Refund(storeReadsKey)
	}
	return rec, err
}

// errReadsSpent is the 503 of a cache miss when the StoreReads budget is spent: retryable, never
// the 401, since the key may be valid.
var errReadsSpent = pcx.Errorf(pcx.EUnavailable, "Too many API keys to check at the moment; retry later")

func (a *Authenticator) store1(prefix string, rec *pcx.APIKey, epoch uint64, expires time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if epoch != a.epoch {
		return // a Forget happened while reading: the result may predate it
	}
	m, limit := a.known, maxKnown
	if rec == nil {
		m, limit = a.unknown, maxUnknown
	}
	if len(m) >= limit {
		evict(m, a.now())
	}
	m[prefix] = entry{key: rec, expires: expires}
}

// evict removes expired entries, and if that frees too little, about a tenth of the rest.
func evict(m map[string]entry, now time.Time) {
	for k, e := range m {
		if !now.Before(e.expires) {
			delete(m, k)
		}
	}
	drop := len(m) / 10
	for k := range m {
		if drop <= 0 {
			break
		}
		delete(m, k)
		drop--
	}
}

// noteUse queues a last_used_at write at most once per TouchInterval per key on this instance,
// and never blocks a request: when the queue is full the touch is dropped.
func (a *Authenticator) noteUse(prefix string, now time.Time) {
	a.mu.Lock()
	last, ok := a.touched[prefix]
	if ok && now.Sub(last) < TouchInterval {
		a.mu.Unlock()
		return
	}
	if len(a.touched) >= maxKnown {
		clear(a.touched)
	}
	a.touched[prefix] = now
	a.mu.Unlock()
	select {
	case a.touches <- touch{prefix, now}:
	default:
	}
}

// noteRehash queues k, which authenticated under the older pepper oldVersion, to be stored under
// the newest pepper, once per key while queued; like noteUse it never blocks a request (a full
// queue drops it, and the key's next use queues it again).
func (a *Authenticator) noteRehash(k keyformat.Key, oldVersion int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.rehashing[k.Prefix()] {
		return
	}
	select {
	case a.rehashes <- rehash{key: k, oldVersion: oldVersion}:
		a.rehashing[k.Prefix()] = true
	default:
	}
}

// storeRehash stores r's key under the newest pepper, then drops its cache entry, which holds the
// MAC under the old one.
func (a *Authenticator) storeRehash(ctx context.Context, r rehash) {
	prefix := r.key.Prefix()
	mac, version := a.hasher.MAC(r.key)
	err := a.store.RehashAPIKey(ctx, prefix, r.oldVersion, mac, version)
	if err != nil {
		a.log.Warn().Err(err).Str("prefix", prefix).Msg("re-hashing an API key under the newest pepper failed")
	} else {
		a.log.Info().Str("prefix", prefix).Int("from_pepper", r.oldVersion).Int("to_pepper", version).Msg("API key re-hashed under the newest pepper")
	}
	a.Forget(prefix)
	a.mu.Lock()
	delete(a.rehashing, prefix)
	a.mu.Unlock()
}

// Run writes queued last_used_at updates and re-hashes until ctx ends.
func (a *Authenticator) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-a.rehashes:
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			a.storeRehash(wctx, r)
			cancel()
		case t := <-a.touches:
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := a.store.TouchAPIKey(wctx, t.prefix, t.at, TouchInterval); err != nil {
				a.log.Warn().Err(err).Str("prefix", t.prefix).Msg("recording last_used_at failed")
			}
			cancel()
		}
	}
}
