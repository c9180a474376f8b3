// Package apikeys is the API-key use cases shared by the HTTP API and the operator CLI: creating a
// key (validation, generation, the prefix-collision retry), reading, listing, revoking,
// activating and deleting keys, and authenticating a request's key with a short-lived cache
// whose entries are never served past their TTL.
package apikeys

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pcx/publicservice/internal/keyformat"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/store"
)

// Store is what the key use cases need from storage. Every call but CreateAPIKey is scoped by
// organisation: another organisation's key is not found. Each change takes its audit record and
// writes it in the same transaction.
type Store interface {
	// CreateAPIKey returns pcx.ErrPrefixTaken when another key has the prefix.
	CreateAPIKey(ctx context.Context, k *pcx.APIKey, rec *pcx.AuditRecord) error
	APIKeyByID(ctx context.Context, org, id string) (*pcx.APIKey, error)
	APIKeyOf(ctx context.Context, org, prefix string) (*pcx.APIKey, error)
	ListAPIKeys(ctx context.Context, org string, limit int, after string) ([]*pcx.APIKey, string, error)
	// RevokeAPIKey reports whether it changed the key; revoking a revoked key writes nothing.
	RevokeAPIKey(ctx context.Context, org, prefix string, rec *pcx.AuditRecord) (*pcx.APIKey, bool, error)
	ActivateAPIKey(ctx context.Context, org, prefix string, rec *pcx.AuditRecord) (*pcx.APIKey, error)
	UpdateAPIKey(ctx context.Context, org, prefix string, p store.KeyPatch, rec *pcx.AuditRecord) (*pcx.APIKey, error)
	RollAPIKey(ctx context.Context, old *pcx.APIKey, oldExpires time.Time, next *pcx.APIKey, created, rolled *pcx.AuditRecord) error
	// KeyChildren returns the prefixes of the keys the key with id minted.
	KeyChildren(ctx context.Context, id string) ([]string, error)
	DeleteAPIKey(ctx context.Context, org, prefix string, rec *pcx.AuditRecord) error
}

// Service holds the key use cases.
type Service struct {
	Store  Store
	Hasher *keyformat.Hasher
	// Rand is the entropy source (crypto/rand.Reader when nil).
	Rand io.Reader
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Auth is this instance's authenticator. Revoke, Activate and Delete tell it to forget the
	// key they changed, so the change holds at once on this instance (elsewhere within the cache
	// TTL). nil when nothing in the process caches keys (the operator CLI).
	Auth *Authenticator
	// AuditRetention is how long the audit records of changes are kept (AUDIT_RETENTION).
	AuditRetention time.Duration
}

// CreateInput is what a new key needs.
type CreateInput struct {
	OrgID     string
	UserID    string
	Name      string
	ExpiresAt *time.Time
	// Scopes are the new key's; nil: the creator's (every scope for a bootstrap key).
	Scopes []pcx.Scope
	// Creator is the key that mints this one, which bounds it (scopes, expiry); nil for a
	// bootstrap key, which an operator creates.
	Creator *pcx.Principal
}

// Limits on the inputs.
const (
	MaxNameLen = 100
	MaxIDLen   = 128
	// createAttempts bounds the retries on a prefix collision. With 36^10 prefixes a second
	// attempt is already vanishingly rare; a tenth means something is wrong.
	createAttempts = 5
)

// Validate checks a new key's input and returns per-field problems.
func (in CreateInput) Validate(now time.Time) error {
	problems := map[string]string{}
	if msg := CheckName(in.Name); msg != "" {
		problems["name"] = msg
	}
	if msg := CheckID(in.OrgID); msg != "" {
		problems["org_id"] = msg
	}
	if msg := CheckID(in.UserID); msg != "" {
		problems["user_id"] = msg
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(now) {
		problems["expires_at"] = "must be in the future"
	}
	if in.Scopes != nil && len(in.Scopes) == 0 {
		problems["scopes"] = "must name at least one scope"
	}
	if c := in.Creator; c != nil {
		if s, ok := pcx.ScopesWithin(in.Scopes, c.Scopes); !ok {
			problems["scopes"] = "must be within the scopes of the key creating it; it lacks " + string(s)
		}
		if msg := checkExpiryWithin(in.ExpiresAt, c); msg != "" && problems["expires_at"] == "" {
			problems["expires_at"] = msg
		}
	}
	if len(problems) > 0 {
		return pcx.Invalid("Invalid request body", problems)
	}
	return nil
}

// checkExpiryWithin returns a problem with an expiry a key set by caller may not have, or "": a
// key never outlives the key that made or changed it.
func checkExpiryWithin(exp *time.Time, caller *pcx.Principal) string {
	if caller == nil || caller.ExpiresAt == nil {
		return ""
	}
	if exp == nil || exp.After(*caller.ExpiresAt) {
		return "must not be later than the expiry of the calling key (" + caller.ExpiresAt.UTC().Format(time.RFC3339) + ")"
	}
	return ""
}

// withCreator is in with what it leaves to its creator filled in: the creator's scopes, and the
// creator's expiry when it expires and in sets none.
func (in CreateInput) withCreator() CreateInput {
	if in.Scopes != nil {
		in.Scopes = pcx.OrderedScopes(in.Scopes)
	}
	if in.Creator == nil {
		if in.Scopes == nil {
			in.Scopes = pcx.AllScopes
		}
		return in
	}
	if in.Scopes == nil {
		in.Scopes = in.Creator.Scopes
	}
	if in.ExpiresAt == nil && in.Creator.ExpiresAt != nil {
		exp := *in.Creator.ExpiresAt
		in.ExpiresAt = &exp
	}
	return in
}

// CheckName returns a problem with a key name, or "".
func CheckName(name string) string {
	n := utf8.RuneCountInString(name)
	switch {
	case strings.TrimSpace(name) == "":
		return "is required"
	case n > MaxNameLen:
		return "must be at most 100 characters"
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return "must not contain control characters"
	}
	return ""
}

// CheckID returns a problem with an organisation or user ID, or "". IDs come from PCX's other
// systems; they are opaque here but must fit a storage key: 1 to 128 of [A-Za-z0-9._:-].
func CheckID(id string) string {
	if id == "" {
		return "is required"
	}
	if len(id) > MaxIDLen {
		return "must be at most 128 characters"
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return "may contain only letters, digits, '.', '_', ':' and '-'"
		}
	}
	return ""
}

// Create validates the input, draws a key, and stores its HMAC. It returns the full key, which
// is never stored and must be shown to the caller this once, and the stored record.
func (s *Service) Create(ctx context.Context, in CreateInput) (string, *pcx.APIKey, error) {
	now := s.now()
	in = in.withCreator()
	if err := in.Validate(now); err != nil {
		return "", nil, err
	}
	return s.mint(ctx, in, func(k *pcx.APIKey) error {
		rec, err := s.record(ctx, k.OrgID, pcx.AuditKeyCreated, k.ID)
		if err != nil {
			return err
		}
		return s.Store.CreateAPIKey(ctx, k, rec)
	})
}

// mint draws a key for in and stores it with store, drawing again on a prefix collision. It
// returns the full key, which is never stored and must be shown to the caller this once, and the
// stored record.
func (s *Service) mint(ctx context.Context, in CreateInput, store func(*pcx.APIKey) error) (string, *pcx.APIKey, error) {
	now := s.now()
	r := s.Rand
	if r == nil {
		r = rand.Reader
	}
	createdBy := ""
	if in.Creator != nil {
		createdBy = in.Creator.APIKeyID
	}
	for range createAttempts {
		k, err := keyformat.Generate(r)
		if err != nil {
			return "", nil, pcx.Wrap(pcx.EInternal, err, "")
		}
		mac, version := s.Hasher.MAC(k)
		rec := &pcx.APIKey{
			ID: pcx.NewID("key", now), Prefix: k.Prefix(), OrgID: in.OrgID, UserID: in.UserID,
			Name: in.Name, Status: pcx.KeyActive, CreatedAt: now.UTC().Truncate(time.Millisecond),
			ExpiresAt: in.ExpiresAt, Scopes: in.Scopes, CreatedBy: createdBy,
			SecretMAC: mac, PepperVersion: version,
		}
		err = store(rec)
		if err == nil {
			return k.String(), rec, nil
		}
		if !errors.Is(err, pcx.ErrPrefixTaken) {
			return "", nil, err
		}
	}
	return "", nil, pcx.Wrap(pcx.EInternal, errors.New("keys: prefix collisions exhausted the attempts"), "")
}

// record returns the audit record of org's action on target, made now by ctx's actor.
func (s *Service) record(ctx context.Context, org, action, target string) (*pcx.AuditRecord, error) {
	return pcx.NewAuditRecord(ctx, org, action, target, s.now(), s.AuditRetention)
}

// Get returns org's key with the id.
func (s *Service) Get(ctx context.Context, org, id string) (*pcx.APIKey, error) {
	return s.Store.APIKeyByID(ctx, org, id)
}

// List returns up to limit of org's keys, newest first, after the store's position after; next is
// the position after this page, "" on the last.
func (s *Service) List(ctx context.Context, org string, limit int, after string) (keys []*pcx.APIKey, next string, err error) {
	return s.Store.ListAPIKeys(ctx, org, limit, after)
}

// MaxCascade bounds the keys one cascading revoke follows: a lineage deeper or wider than this
// is not one any organisation builds by hand, and the revoke must finish within one request.
const MaxCascade = 1000

// Revoke marks org's key revoked and keeps its record; revoking it again changes nothing. With
// cascade it also revokes every key the key minted, transitively. It returns the key and how
// many keys this call revoked (those revoked before are not counted). A cascade that fails part
// way leaves what it revoked revoked; calling again finishes it.
func (s *Service) Revoke(ctx context.Context, org, prefix string, cascade bool) (*pcx.APIKey, int, error) {
	root, err := s.revokeOne(ctx, org, prefix)
	if err != nil {
		return nil, 0, err
	}
	n := 0
	if root.changed {
		n = 1
	}
	if !cascade {
		return root.key, n, nil
	}
	seen := map[string]bool{root.key.ID: true}
	queue := []string{root.key.ID}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		children, err := s.Store.KeyChildren(ctx, id)
		if err != nil {
			return nil, n, err
		}
		for _, p := range children {
			if len(seen) >= MaxCascade {
				return nil, n, pcx.Errorf(pcx.EConflict, "The key has more than %d descendants; revoke them in parts", MaxCascade)
			}
			r, err := s.revokeOne(ctx, org, p)
			if pcx.ErrorCode(err) == pcx.ENotFound {
				continue // deleted since it was listed
			}
			if err != nil {
				return nil, n, err
			}
			if r.changed {
				n++
			}
			if !seen[r.key.ID] {
				seen[r.key.ID] = true
				queue = append(queue, r.key.ID)
			}
		}
	}
	return root.key, n, nil
}

type revoked struct {
	key     *pcx.APIKey
	changed bool
}

// revokeOne revokes one key with its audit record and makes this instance forget it.
func (s *Service) revokeOne(ctx context.Context, org, prefix string) (revoked, error) {
	k, err := s.Store.APIKeyOf(ctx, org, prefix)
	if err != nil {
		return revoked{}, err
	}
	rec, err := s.record(ctx, org, pcx.AuditKeyRevoked, k.ID)
	if err != nil {
		return revoked{}, err
	}
	k, changed, err := s.Store.RevokeAPIKey(ctx, org, prefix, rec)
	if err != nil {
		return revoked{}, err
	}
	s.forget(prefix)
	return revoked{key: k, changed: changed}, nil
}

// Activate makes org's revoked key active again, unless it has expired (EConflict). A caller may
// only activate a key within its own bounds (bounded).
func (s *Service) Activate(ctx context.Context, caller *pcx.Principal, org, prefix string) (*pcx.APIKey, error) {
	k, err := s.bounded(ctx, caller, org, prefix)
	if err != nil {
		return nil, err
	}
	rec, err := s.record(ctx, org, pcx.AuditKeyActivated, k.ID)
	if err != nil {
		return nil, err
	}
	k, err = s.Store.ActivateAPIKey(ctx, org, prefix, rec)
	if err != nil {
		return nil, err
	}
	s.forget(prefix)
	return k, nil
}

// errExceedsCaller refuses a change that would let a key act beyond its own bounds.
var errExceedsCaller = &pcx.Error{Code: pcx.EForbidden, Reason: "exceeds_caller",
	Message: "This API key cannot change a key with scopes or an expiry beyond its own"}

// bounded reads org's key with prefix for a change by caller that could widen what it can do
// (activate, roll, change its expiry): the key must not exceed the caller, its scopes within the
// caller's and, when the caller expires, its expiry no later. nil caller (an operator) is bound
// by nothing.
func (s *Service) bounded(ctx context.Context, caller *pcx.Principal, org, prefix string) (*pcx.APIKey, error) {
	k, err := s.Store.APIKeyOf(ctx, org, prefix)
	if err != nil || caller == nil {
		return k, err
	}
	if _, ok := pcx.ScopesWithin(k.Scopes, caller.Scopes); !ok {
		return nil, errExceedsCaller
	}
	if checkExpiryWithin(k.ExpiresAt, caller) != "" {
		return nil, errExceedsCaller
	}
	return k, nil
}

// Patch is a change of a key's metadata; nil fields stay as they are.
type Patch struct {
	Name      *string
	ExpiresAt *time.Time
}

// Update renames org's key or sets its expiry: in the future, and never later than the caller's
// own expiry.
func (s *Service) Update(ctx context.Context, caller *pcx.Principal, org, prefix string, p Patch) (*pcx.APIKey, error) {
	problems := map[string]string{}
	if p.Name != nil {
		if msg := CheckName(*p.Name); msg != "" {
			problems["name"] = msg
		}
	}
	if p.ExpiresAt != nil {
		if !p.ExpiresAt.After(s.now()) {
			problems["expires_at"] = "must be in the future"
		} else if msg := checkExpiryWithin(p.ExpiresAt, caller); msg != "" {
			problems["expires_at"] = msg
		}
	}
	if len(problems) > 0 {
		return nil, pcx.Invalid("Invalid request body", problems)
	}
	// One read: a new expiry could extend what the key may do, so only then is it bounded.
	var bound *pcx.Principal
	if p.ExpiresAt != nil {
		bound = caller
	}
	k, err := s.bounded(ctx, bound, org, prefix)
	if err != nil {
		return nil, err
	}
	rec, err := s.record(ctx, org, pcx.AuditKeyUpdated, k.ID)
	if err != nil {
		return nil, err
	}
	k, err = s.Store.UpdateAPIKey(ctx, org, prefix, store.KeyPatch{Name: p.Name, ExpiresAt: p.ExpiresAt}, rec)
	if err != nil {
		return nil, err
	}
	s.forget(prefix)
	return k, nil
}

// MaxRollOverlap bounds how long a rolled key keeps working beside its successor.
const MaxRollOverlap = 7 * 24 * time.Hour

// Roll replaces org's active key with a new one of the same name, user and scopes, minted by
// caller (created_by), and makes the old key expire after overlap (at once for 0; sooner if it
// expired sooner). The new key keeps the old one's expiry, bounded by the caller's. It returns the
// full new key, shown this once, and its record.
func (s *Service) Roll(ctx context.Context, caller *pcx.Principal, org, prefix string, overlap time.Duration) (string, *pcx.APIKey, error) {
	if overlap < 0 || overlap > MaxRollOverlap {
		return "", nil, pcx.Invalid("Invalid request body", map[string]string{"expires_in_seconds": "must be between 0 and 604800"})
	}
	old, err := s.bounded(ctx, caller, org, prefix)
	if err != nil {
		return "", nil, err
	}
	now := s.now()
	if !old.Usable(now) {
		return "", nil, pcx.Errorf(pcx.EConflict, "Only an active, unexpired API key can be rolled")
	}
	oldExpires := now.Add(overlap).UTC().Truncate(time.Millisecond)
	if old.ExpiresAt != nil && old.ExpiresAt.Before(oldExpires) {
		oldExpires = *old.ExpiresAt
	}
	in := CreateInput{OrgID: org, UserID: old.UserID, Name: old.Name, ExpiresAt: old.ExpiresAt, Scopes: old.Scopes, Creator: caller}
	rolled, err := s.record(ctx, org, pcx.AuditKeyRolled, old.ID)
	if err != nil {
		return "", nil, err
	}
	full, next, err := s.mint(ctx, in, func(k *pcx.APIKey) error {
		created, err := s.record(ctx, org, pcx.AuditKeyCreated, k.ID)
		if err != nil {
			return err
		}
		return s.Store.RollAPIKey(ctx, old, oldExpires, k, created, rolled)
	})
	if err != nil {
		return "", nil, err
	}
	s.forget(prefix)
	return full, next, nil
}

// Delete removes org's key for good.
func (s *Service) Delete(ctx context.Context, org, prefix string) error {
	k, err := s.Store.APIKeyOf(ctx, org, prefix)
	if err != nil {
		return err
	}
	rec, err := s.record(ctx, org, pcx.AuditKeyDeleted, k.ID)
	if err != nil {
		return err
	}
	if err := s.Store.DeleteAPIKey(ctx, org, prefix, rec); err != nil {
		return err
	}
	s.forget(prefix)
	return nil
}

// forget drops a key this service has just changed from this instance's cache.
func (s *Service) forget(prefix string) {
	if s.Auth != nil {
		s.Auth.Forget(prefix)
	}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
