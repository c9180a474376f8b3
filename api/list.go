package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pcx/publicservice/internal/cursor"
	"github.com/pcx/publicservice/internal/httpx"
	"github.com/pcx/publicservice/pcx"
)

// errForeignOrg answers a request that names another organisation.
var errForeignOrg = pcx.Errorf(pcx.EForbidden, "You may only act on your own organisation")

// checkOrg refuses an org_id given in a request that is not the caller's own. An absent (nil) or
// empty one means the caller's, as the contract's "org_id defaults to the caller's" reads for
// ?org_id= and {"org_id":""}. (Notify, whose org_id is required, refuses an empty one as missing
// before it asks.)
func checkOrg(p pcx.Principal, org *string) error {
	if org != nil && *org != "" && *org != p.OrgID {
		return errForeignOrg
	}
	return nil
}

// pageParams is the page a list request asks for: how many items, and the store's position to
// start after ("" for the first page).
type pageParams struct {
	limit int
	after string
}

const (
	defaultLimit = 20
	maxLimit     = 100
)

// readPage reads limit and last_evaluated_key, and opens the cursor for the caller's list: a
// cursor of another organisation or another list is refused.
func readPage(r *http.Request, cursors *cursor.Signer, list string) (pageParams, error) {
	q := r.URL.Query()
	pp := pageParams{limit: defaultLimit}
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v[0]))
		if err != nil || n < 1 || n > maxLimit || len(v) > 1 {
			return pp, pcx.Invalid("Invalid query", map[string]string{"limit": "must be an integer from 1 to 100"})
		}
		pp.limit = n
	}
	if v := q.Get("last_evaluated_key"); v != "" {
		pos, err := cursors.Open(principalFrom(r.Context()).OrgID, list, v)
		if err != nil {
			return pp, err
		}
		pp.after = pos
	}
	return pp, nil
}

// pageMeta is the meta of a list response: a cursor for the next page, or null on the last.
type pageMeta struct {
	LastEvaluatedKey *string `json:"last_evaluated_key"`
	Count            int     `json:"count"`
}

func newPageMeta(r *http.Request, cursors *cursor.Signer, list, next string, count int) pageMeta {
	m := pageMeta{Count: count}
	if next != "" {
		c := cursors.Seal(principalFrom(r.Context()).OrgID, list, next)
		m.LastEvaluatedKey = &c
	}
	return m
}

// handleList serves a paginated list of the caller's organisation: it refuses another org_id,
// opens the cursor for this list, fetches a page and answers with each item's view and the
// next cursor.
func handleList[T, V any](cursors *cursor.Signer, list, message string, fetch fetchPage[T], view func(T) V) http.Handler {
	return httpx.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		return serveList(w, r, cursors, list, message, fetch, view)
	})
}

// fetchPage reads a page of org's list after the store's position after.
type fetchPage[T any] func(ctx context.Context, org string, limit int, after string) ([]T, string, error)

// serveList is handleList's work, for a handler that reads filters of its own first.
func serveList[T, V any](w http.ResponseWriter, r *http.Request, cursors *cursor.Signer, list, message string, fetch fetchPage[T], view func(T) V) error {
	p := principalFrom(r.Context())
	for _, org := range r.URL.Query()["org_id"] {
		if err := checkOrg(p, &org); err != nil {
			return err
		}
	}
	page, err := readPage(r, cursors, list)
	if err != nil {
		return err
	}
	items, next, err := fetch(r.Context(), p.OrgID, page.limit, page.after)
	if err != nil {
		return err
	}
	data := make([]V, len(items))
	for i, it := range items {
		data[i] = view(it)
	}
	httpx.Respond(w, http.StatusOK, message, data, newPageMeta(r, cursors, list, next, len(data)))
	return nil
}

// readWindow reads the since and until of a list's query (RFC 3339 times; absent is zero).
func readWindow(r *http.Request) (since, until time.Time, err error) {
	q := r.URL.Query()
	problems := map[string]string{}
	for name, t := range map[string]*time.Time{"since": &since, "until": &until} {
		v, ok := q[name]
		if !ok {
			continue
		}
		parsed, perr := time.Parse(time.RFC3339Nano, v[0])
		if perr != nil || len(v) > 1 {
			problems[name] = "must be one RFC 3339 time, e.g. 2030-01-02T03:04:05Z"
			continue
		}
		*t = parsed
	}
	if len(problems) > 0 {
		return since, until, pcx.Invalid("Invalid query", problems)
	}
	return since, until, nil
}
