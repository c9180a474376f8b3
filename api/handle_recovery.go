package api

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/pcx/publicservice/internal/httpx"
	"github.com/pcx/publicservice/pcx"
)

// Recoveries is the recovery use cases the routes call (service/webhooks/recovery.go).
type Recoveries interface {
	Recover(ctx context.Context, org, webhookID string, since time.Time, until *time.Time) (*pcx.Recovery, error)
	Recovery(ctx context.Context, org, webhookID, id string) (*pcx.Recovery, error)
}

func handleRecover(svc Recoveries) http.Handler {
	type request struct {
		Since *string `json:"since"`
		Until *string `json:"until"`
	}
	type response struct {
		RecoveryID string `json:"recovery_id"`
		WorkflowID string `json:"workflow_id"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p := principalFrom(r.Context())
		id, err := webhookID(r)
		if err != nil {
			return err
		}
		var req request
		if err := decodeBody(r, &req, false); err != nil {
			return err
		}
		var since time.Time
		var until *time.Time
		problems := map[string]string{}
		for name, v := range map[string]*string{"since": req.Since, "until": req.Until} {
			if v == nil {
				continue
			}
			t, perr := time.Parse(time.RFC3339Nano, *v)
			if perr != nil {
				problems[name] = "must be an RFC 3339 time, e.g. 2030-01-02T03:04:05Z"
				continue
			}
			if name == "since" {
				since = t
			} else {
				until = &t
			}
		}
		if len(problems) > 0 {
			return pcx.Invalid("Invalid request body", problems)
		}
		rec, err := svc.Recover(r.Context(), p.OrgID, id, since, until)
		if err != nil {
			return err
		}
		httpx.Respond(w, http.StatusAccepted, "Recovery accepted", response{RecoveryID: rec.ID, WorkflowID: rec.WorkflowID}, nil)
		return nil
	})
}

func handleRecoveryGet(svc Recoveries) http.Handler {
	type response struct {
		RecoveryID  string     `json:"recovery_id"`
		Status      string     `json:"status"`
		Since       Timestamp  `json:"since"`
		Until       *Timestamp `json:"until"`
		EventsFound int        `json:"events_found"`
		EventsSent  int        `json:"events_sent"`
	}
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p := principalFrom(r.Context())
		id, err := webhookID(r)
		if err != nil {
			return err
		}
		rid := chi.URLParam(r, "recovery_id")
		if !pcx.ValidID("rcv", rid) {
			return pcx.Errorf(pcx.ENotFound, "Recovery not found")
		}
		rec, err := svc.Recovery(r.Context(), p.OrgID, id, rid)
		if err != nil {
			return err
		}
		httpx.Respond(w, http.StatusOK, "Recovery", response{
			RecoveryID: rec.ID, Status: rec.Status, Since: ts(rec.Since), Until: tsp(rec.Until),
			EventsFound: rec.EventsFound, EventsSent: rec.EventsSent,
		}, nil)
		return nil
	})
}
