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
)

// Store is what the key use cases need from storage. Every call but CreateAPIKey is scoped by
// organisation: another organisation's key is not found.
type Store interface {
	// CreateAPIKey returns pcx.ErrPrefixTaken when another key has the prefix.
	CreateAPIKey(ctx context.Context, k *pcx.APIKey) error
	APIKeyByID(ctx context.Context, org, id string) (*pcx.APIKey, error)
	ListAPIKeys(ctx context.Context, org string, limit int, after string) ([]*pcx.APIKey, string, error)
	RevokeAPIKey(ctx context.Context, org, prefix string) (*pcx.APIKey, error)
	ActivateAPIKey(ctx context.Context, org, prefix string) (*pcx.APIKey, error)
	DeleteAPIKey(ctx context.Context, org, prefix string) error
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
}

// CreateInput is what a new key needs.
type CreateInput struct {
	OrgID     string
	UserID    string
	Name      string
	ExpiresAt *time.Time
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
	if len(problems) > 0 {
		return pcx.Invalid("Invalid request body", problems)
	}
	return nil
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
	if err := in.Validate(now); err != nil {
		return "", nil, err
	}
	r := s.Rand
	if r == nil {
		r = rand.Reader
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
			ExpiresAt: in.ExpiresAt, SecretMAC: mac, PepperVersion: version,
		}
		err = s.Store.CreateAPIKey(ctx, rec)
		if err == nil {
			return k.String(), rec, nil
		}
		if !errors.Is(err, pcx.ErrPrefixTaken) {
			return "", nil, err
		}
	}
	return "", nil, pcx.Wrap(pcx.EInternal, errors.New("keys: prefix collisions exhausted the attempts"), "")
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

// Revoke marks org's key revoked and keeps its record; revoking it again changes nothing.
func (s *Service) Revoke(ctx context.Context, org, prefix string) (*pcx.APIKey, error) {
	return s.change(ctx, org, prefix, s.Store.RevokeAPIKey)
}

// Activate makes org's revoked key active again, unless it has expired (EConflict).
func (s *Service) Activate(ctx context.Context, org, prefix string) (*pcx.APIKey, error) {
	return s.change(ctx, org, prefix, s.Store.ActivateAPIKey)
}

// change applies a change to org's key with prefix and, once it has succeeded, makes this
// instance's cache forget the key.
func (s *Service) change(ctx context.Context, org, prefix string, apply func(ctx context.Context, org, prefix string) (*pcx.APIKey, error)) (*pcx.APIKey, error) {
	k, err := apply(ctx, org, prefix)
	if err != nil {
		return nil, err
	}
	s.forget(prefix)
	return k, nil
}

// Delete removes org's key for good.
func (s *Service) Delete(ctx context.Context, org, prefix string) error {
	if err := s.Store.DeleteAPIKey(ctx, org, prefix); err != nil {
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
