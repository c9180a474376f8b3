package api

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pcx/publicservice/internal/httpx"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/service/apikeys"
)

// Keys is the API-key use cases the routes call (service/apikeys). Changes make themselves visible
// to this instance's authentication at once: the handlers have no cache to tell. The caller's
// principal bounds what a change may grant (lineage, contract §6).
type Keys interface {
	Create(ctx context.Context, in apikeys.CreateInput) (string, *pcx.APIKey, error)
	Get(ctx context.Context, org, id string) (*pcx.APIKey, error)
	List(ctx context.Context, org string, limit int, after string) ([]*pcx.APIKey, string, error)
	Update(ctx context.Context, caller *pcx.Principal, org, prefix string, p apikeys.Patch) (*pcx.APIKey, error)
	Revoke(ctx context.Context, org, prefix string, cascade bool) (*pcx.APIKey, int, error)
	Activate(ctx context.Context, caller *pcx.Principal, org, prefix string) (*pcx.APIKey, error)
	Roll(ctx context.Context, caller *pcx.Principal, org, prefix string, overlap time.Duration) (string, *pcx.APIKey, error)
	Delete(ctx context.Context, org, prefix string) error
}

// keyMetadata is a key as callers see it: never the key, never its hash.
type keyMetadata struct {
	APIKeyID   string     `json:"api_key_id"`
	Prefix     string     `json:"prefix"`
	Name       string     `json:"name"`
	OrgID      string     `json:"org_id"`
	UserID     string     `json:"user_id"`
	Status     string     `json:"status"`
	Scopes     []string   `json:"scopes"`
	CreatedBy  *string    `json:"created_by"`
	CreatedAt  Timestamp  `json:"created_at"`
	ExpiresAt  *Timestamp `json:"expires_at"`
	LastUsedAt *Timestamp `json:"last_used_at"`
	RevokedAt  *Timestamp `json:"revoked_at"`
}

func newKeyMetadata(k *pcx.APIKey) keyMetadata {
	m := keyMetadata{
		APIKeyID: k.ID, Prefix: k.Prefix, Name: k.Name, OrgID: k.OrgID, UserID: k.UserID,
		Status: string(k.Status), Scopes: pcx.ScopeNames(k.Scopes), CreatedAt: ts(k.CreatedAt), ExpiresAt: tsp(k.ExpiresAt),
		LastUsedAt: tsp(k.LastUsedAt), RevokedAt: tsp(k.RevokedAt),
	}
	if k.CreatedBy != "" {
		m.CreatedBy = &k.CreatedBy
	}
	return m
}

// newKeyResponse is a key as its creation shows it: its metadata and, this once, the full key.
type newKeyResponse struct {
	keyMetadata
	APIKey string `json:"api_key"`
}

// respondNewKey answers with a key just minted, never to be cached.
func respondNewKey(w http.ResponseWriter, message, full string, k *pcx.APIKey) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Location", "/public/api-keys/"+k.ID)
	httpx.Respond(w, http.StatusCreated, message, newKeyResponse{keyMetadata: newKeyMetadata(k), APIKey: full}, nil)
}

// parseExpiry reads an expires_at field.
func parseExpiry(v string) (*time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return nil, pcx.Invalid("Invalid request body", map[string]string{"expires_at": "must be an RFC 3339 time, e.g. 2030-01-02T15:04:05Z"})
	}
	t = t.UTC().Truncate(time.Millisecond)
	return &t, nil
}

func handleKeyCreate(keys Keys) http.Handler {
	type request struct {
		Name      *string   `json:"name"`
		ExpiresAt *string   `json:"expires_at"`
		OrgID     *string   `json:"org_id"`
		Scopes    *[]string `json:"scopes"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p := principalFrom(r.Context())
		var req request
		if err := decodeBody(r, &req, false); err != nil {
			return err
		}
		if err := checkOrg(p, req.OrgID); err != nil {
			return err
		}
		in := apikeys.CreateInput{OrgID: p.OrgID, UserID: p.UserID, Creator: &p}
		if req.Name == nil {
			return pcx.Invalid("Invalid request body", map[string]string{"name": "is required"})
		}
		in.Name = *req.Name
		if req.ExpiresAt != nil {
			t, err := parseExpiry(*req.ExpiresAt)
			if err != nil {
				return err
			}
			in.ExpiresAt = t
		}
		if req.Scopes != nil {
			scopes, msg := pcx.ParseScopes(*req.Scopes)
			if msg != "" {
				return pcx.Invalid("Invalid request body", map[string]string{"scopes": msg})
			}
			in.Scopes = scopes
		}
		full, k, err := keys.Create(r.Context(), in)
		if err != nil {
			return err
		}
		respondNewKey(w, "API key created; store it now, it will not be shown again", full, k)
		return nil
	})
}

var errKeyNotFound = pcx.Errorf(pcx.ENotFound, "API key not found")

func handleKeyGet(keys Keys) http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id := chi.URLParam(r, "key")
		if !pcx.ValidID("key", id) {
			return errKeyNotFound
		}
		k, err := keys.Get(r.Context(), principalFrom(r.Context()).OrgID, id)
		if err != nil {
			return err
		}
		httpx.Respond(w, http.StatusOK, "API key", newKeyMetadata(k), nil)
		return nil
	})
}

// keyPrefix is the key a route names by prefix; any other shape names no key.
func keyPrefix(r *http.Request) (string, error) {
	prefix := chi.URLParam(r, "key")
	if !pcx.ValidKeyPrefix(prefix) {
		return "", errKeyNotFound
	}
	return prefix, nil
}

// keyPrefixAndBody reads the key a route names by prefix and decodes the request body into dst
// (an absent body leaves dst as it is when optional).
func keyPrefixAndBody(r *http.Request, dst any, optional bool) (string, error) {
	prefix, err := keyPrefix(r)
	if err != nil {
		return "", err
	}
	return prefix, decodeBody(r, dst, optional)
}

func handleKeyUpdate(keys Keys) http.Handler {
	type request struct {
		Name      *string `json:"name"`
		ExpiresAt *string `json:"expires_at"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		var req request
		prefix, err := keyPrefixAndBody(r, &req, false)
		if err != nil {
			return err
		}
		if req.Name == nil && req.ExpiresAt == nil {
			return pcx.Invalid("Invalid request body", map[string]string{"name": "give at least one of name, expires_at"})
		}
		patch := apikeys.Patch{Name: req.Name}
		if req.ExpiresAt != nil {
			if patch.ExpiresAt, err = parseExpiry(*req.ExpiresAt); err != nil {
				return err
			}
		}
		p := principalFrom(r.Context())
		k, err := keys.Update(r.Context(), &p, p.OrgID, prefix, patch)
		if err != nil {
			return err
		}
		httpx.Respond(w, http.StatusOK, "API key updated", newKeyMetadata(k), nil)
		return nil
	})
}

func handleKeyRevoke(keys Keys) http.Handler {
	type request struct {
		Cascade *bool `json:"cascade"`
	}
	type response struct {
		keyMetadata
		RevokedCount int `json:"revoked_count"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		var req request
		prefix, err := keyPrefixAndBody(r, &req, true)
		if err != nil {
			return err
		}
		k, n, err := keys.Revoke(r.Context(), principalFrom(r.Context()).OrgID, prefix, req.Cascade != nil && *req.Cascade)
		if err != nil {
			return err
		}
		httpx.Respond(w, http.StatusOK, "API key revoked", response{keyMetadata: newKeyMetadata(k), RevokedCount: n}, nil)
		return nil
	})
}

func handleKeyActivate(keys Keys) http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		prefix, err := keyPrefix(r)
		if err != nil {
			return err
		}
		p := principalFrom(r.Context())
		k, err := keys.Activate(r.Context(), &p, p.OrgID, prefix)
		if err != nil {
			return err
		}
		httpx.Respond(w, http.StatusOK, "API key activated", newKeyMetadata(k), nil)
		return nil
	})
}

// defaultRollOverlap is how long a rolled key keeps working when the request does not say.
const defaultRollOverlap = 24 * time.Hour

func handleKeyRoll(keys Keys) http.Handler {
	type request struct {
		ExpiresInSeconds *int64 `json:"expires_in_seconds"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		var req request
		prefix, err := keyPrefixAndBody(r, &req, true)
		if err != nil {
			return err
		}
		overlap := defaultRollOverlap
		if req.ExpiresInSeconds != nil {
			secs := *req.ExpiresInSeconds
			if secs < 0 || secs > int64(apikeys.MaxRollOverlap/time.Second) {
				return pcx.Invalid("Invalid request body", map[string]string{"expires_in_seconds": "must be between 0 and 604800"})
			}
			overlap = time.Duration(secs) * time.Second
		}
		p := principalFrom(r.Context())
		full, k, err := keys.Roll(r.Context(), &p, p.OrgID, prefix, overlap)
		if err != nil {
			return err
		}
		respondNewKey(w, "API key rolled; store the new key now, it will not be shown again", full, k)
		return nil
	})
}

func handleKeyDelete(keys Keys) http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		prefix, err := keyPrefix(r)
		if err != nil {
			return err
		}
		if err := keys.Delete(r.Context(), principalFrom(r.Context()).OrgID, prefix); err != nil {
			return err
		}
		httpx.Respond(w, http.StatusOK, "API key deleted", nil, nil)
		return nil
	})
}

func handleMe() http.Handler {
	type response struct {
		OrgID     string     `json:"org_id"`
		UserID    string     `json:"user_id"`
		APIKeyID  string     `json:"api_key_id"`
		Prefix    string     `json:"prefix"`
		Scopes    []string   `json:"scopes"`
		ExpiresAt *Timestamp `json:"expires_at"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p := principalFrom(r.Context())
		httpx.Respond(w, http.StatusOK, "Authenticated", response{OrgID: p.OrgID, UserID: p.UserID, APIKeyID: p.APIKeyID,
			Prefix: p.Prefix, Scopes: pcx.ScopeNames(p.Scopes), ExpiresAt: tsp(p.ExpiresAt)}, nil)
		return nil
	})
}
