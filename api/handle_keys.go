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

// Keys is the API-key use cases the routes call (service/apikeys). Revoke, Activate and Delete
// make their change visible to this instance's authentication at once: the handlers have no
// cache to tell.
type Keys interface {
	Create(ctx context.Context, in apikeys.CreateInput) (string, *pcx.APIKey, error)
	Get(ctx context.Context, org, id string) (*pcx.APIKey, error)
	List(ctx context.Context, org string, limit int, after string) ([]*pcx.APIKey, string, error)
	Revoke(ctx context.Context, org, prefix string) (*pcx.APIKey, error)
	Activate(ctx context.Context, org, prefix string) (*pcx.APIKey, error)
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
	CreatedAt  Timestamp  `json:"created_at"`
	ExpiresAt  *Timestamp `json:"expires_at"`
	LastUsedAt *Timestamp `json:"last_used_at"`
	RevokedAt  *Timestamp `json:"revoked_at"`
}

func newKeyMetadata(k *pcx.APIKey) keyMetadata {
	return keyMetadata{
		APIKeyID: k.ID, Prefix: k.Prefix, Name: k.Name, OrgID: k.OrgID, UserID: k.UserID,
		Status: string(k.Status), CreatedAt: ts(k.CreatedAt), ExpiresAt: tsp(k.ExpiresAt),
		LastUsedAt: tsp(k.LastUsedAt), RevokedAt: tsp(k.RevokedAt),
	}
}

func handleKeyCreate(keys Keys) http.Handler {
	type request struct {
		Name      *string `json:"name"`
		ExpiresAt *string `json:"expires_at"`
		OrgID     *string `json:"org_id"`
	}
	type response struct {
		keyMetadata
		APIKey string `json:"api_key"`
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
		in := apikeys.CreateInput{OrgID: p.OrgID, UserID: p.UserID}
		if req.Name == nil {
			return pcx.Invalid("Invalid request body", map[string]string{"name": "is required"})
		}
		in.Name = *req.Name
		if req.ExpiresAt != nil {
			t, err := time.Parse(time.RFC3339Nano, *req.ExpiresAt)
			if err != nil {
				return pcx.Invalid("Invalid request body", map[string]string{"expires_at": "must be an RFC 3339 time, e.g. 2030-01-02T15:04:05Z"})
			}
			t = t.UTC().Truncate(time.Millisecond)
			in.ExpiresAt = &t
		}
		full, k, err := keys.Create(r.Context(), in)
		if err != nil {
			return err
		}
		w.Header().Set("Cache-Control", "no-store")
		httpx.Respond(w, http.StatusCreated, "API key created; store it now, it will not be shown again",
			response{keyMetadata: newKeyMetadata(k), APIKey: full}, nil)
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

// handleKeyChange serves revoke and activate: change the caller's key named by prefix and answer
// with its metadata.
func handleKeyChange(change func(ctx context.Context, org, prefix string) (*pcx.APIKey, error), message string) http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		prefix := chi.URLParam(r, "key")
		if !pcx.ValidKeyPrefix(prefix) {
			return errKeyNotFound
		}
		k, err := change(r.Context(), principalFrom(r.Context()).OrgID, prefix)
		if err != nil {
			return err
		}
		httpx.Respond(w, http.StatusOK, message, newKeyMetadata(k), nil)
		return nil
	})
}

func handleKeyDelete(keys Keys) http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		prefix := chi.URLParam(r, "key")
		if !pcx.ValidKeyPrefix(prefix) {
			return errKeyNotFound
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
		OrgID    string `json:"org_id"`
		UserID   string `json:"user_id"`
		APIKeyID string `json:"api_key_id"`
		Prefix   string `json:"prefix"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p := principalFrom(r.Context())
		httpx.Respond(w, http.StatusOK, "Authenticated", response{OrgID: p.OrgID, UserID: p.UserID, APIKeyID: p.APIKeyID, Prefix: p.Prefix}, nil)
		return nil
	})
}
