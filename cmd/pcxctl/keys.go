package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pcx/publicservice/app"
	"github.com/pcx/publicservice/internal/config"
	"github.com/pcx/publicservice/internal/keyformat"
	"github.com/pcx/publicservice/internal/keyring"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/service/apikeys"
	"github.com/pcx/publicservice/store"
)

var errNotFound = errors.New("not found")

// open loads the configuration and connects to the store.
func (c *cli) open(ctx context.Context) (config.Config, *store.Store, error) {
	cfg, err := config.Load(c.environ)
	if err != nil {
		return cfg, nil, err
	}
	st, err := app.NewStore(ctx, cfg)
	return cfg, st, err
}

// openKeys is open for the key commands, which need the API-key peppers too.
func (c *cli) openKeys(ctx context.Context) (config.Config, *store.Store, *keyring.Keyring, error) {
	cfg, st, err := c.open(ctx)
	if err != nil {
		return cfg, nil, nil, err
	}
	peppers, err := cfg.Peppers()
	return cfg, st, peppers, err
}

// storeErr turns a store error into pcxctl's: not-found errors exit 3.
func storeErr(err error) error {
	if pcx.ErrorCode(err) == pcx.ENotFound {
		return fmt.Errorf("%w: %s", errNotFound, pcx.ErrorMessage(err))
	}
	var pe *pcx.Error
	if errors.As(err, &pe) && len(pe.Fields) > 0 {
		msg := pe.Message
		for f, p := range pe.Fields {
			msg += fmt.Sprintf("; %s %s", f, p)
		}
		return usageError{msg}
	}
	return err
}

func keysCreate(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "keys create", "", "Create an API key straight in the store (bootstrap an organisation's first key).\nThe full key is printed alone on the last line of standard output; it is never shown again.")
	org := fs.String("org-id", "", "organisation the key belongs to (required)")
	user := fs.String("user-id", "", "user the key acts for (required)")
	name := fs.String("name", "", "name of the key, 1 to 100 characters (required)")
	expires := fs.String("expires-at", "", "optional expiry, RFC 3339 (e.g. 2030-01-02T15:04:05Z)")
	scopes := fs.String("scopes", "", "comma-separated scopes (default: all of "+strings.Join(pcx.ScopeNames(pcx.AllScopes), ",")+")")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required("org-id", *org, "user-id", *user, "name", *name); err != nil {
		return err
	}
	in := apikeys.CreateInput{OrgID: *org, UserID: *user, Name: *name}
	if *scopes != "" {
		list, msg := pcx.ParseScopes(strings.Split(*scopes, ","))
		if msg != "" {
			return usageError{"--scopes " + msg}
		}
		in.Scopes = list
	}
	if *expires != "" {
		t, err := time.Parse(time.RFC3339Nano, *expires)
		if err != nil {
			return usageError{"--expires-at must be an RFC 3339 time"}
		}
		t = t.UTC().Truncate(time.Millisecond)
		in.ExpiresAt = &t
	}
	cfg, st, peppers, err := c.openKeys(ctx)
	if err != nil {
		return err
	}
	svc := &apikeys.Service{Store: st, Hasher: keyformat.NewHasher(peppers), AuditRetention: cfg.AuditRetention}
	full, k, err := svc.Create(ctx, in)
	if err != nil {
		return storeErr(err)
	}
	fmt.Fprintf(c.stdout, "created API key %s (prefix %s) for org %s, user %s, scopes %s\n", k.ID, k.Prefix, k.OrgID, k.UserID,
		strings.Join(pcx.ScopeNames(k.Scopes), ","))
	fmt.Fprintln(c.stdout, full)
	return nil
}

func keysList(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "keys list", "", "List an organisation's API keys, newest first.")
	org := fs.String("org-id", "", "organisation (required)")
	limit := fs.Int("limit", 100, "how many keys at most (1 to 1000)")
	asJSON := jsonFlag(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required("org-id", *org); err != nil {
		return err
	}
	if *limit < 1 || *limit > 1000 {
		return usageError{"--limit must be from 1 to 1000"}
	}
	_, st, err := c.open(ctx)
	if err != nil {
		return err
	}
	keys := &apikeys.Service{Store: st}
	return printList(c, *asJSON, *limit, func(n int, after string) ([]*pcx.APIKey, string, error) { return keys.List(ctx, *org, n, after) },
		newKeyView, "API_KEY_ID\tPREFIX\tSTATUS\tNAME\tUSER_ID\tCREATED_AT\tEXPIRES_AT\tLAST_USED_AT",
		func(w io.Writer, k *pcx.APIKey) {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, k.Status, k.Name, k.UserID,
				fmtTime(&k.CreatedAt), fmtTime(k.ExpiresAt), fmtTime(k.LastUsedAt))
		})
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func keysRevoke(ctx context.Context, c *cli, args []string) error {
	var cascade *bool
	return keysChange(ctx, c, args, "revoke", "Revoke an API key (it gets 401 within AUTH_CACHE_TTL everywhere).",
		func(fs *flag.FlagSet) {
			cascade = fs.Bool("cascade", false, "also revoke every key it minted, transitively")
		},
		func(s *apikeys.Service, ctx context.Context, org, prefix string) (*pcx.APIKey, string, error) {
			k, n, err := s.Revoke(ctx, org, prefix, *cascade)
			return k, fmt.Sprintf("; %d key(s) revoked by this command", n), err
		})
}

func keysActivate(ctx context.Context, c *cli, args []string) error {
	return keysChange(ctx, c, args, "activate", "Re-activate a revoked API key that has not expired.", nil,
		func(s *apikeys.Service, ctx context.Context, org, prefix string) (*pcx.APIKey, string, error) {
			k, err := s.Activate(ctx, nil, org, prefix) // an operator is bound by no key
			return k, "", err
		})
}

func keysChange(ctx context.Context, c *cli, args []string, verb, summary string, flags func(*flag.FlagSet),
	change func(s *apikeys.Service, ctx context.Context, org, prefix string) (*pcx.APIKey, string, error)) error {
	fs := newFlags(c, "keys "+verb, "", summary)
	org := fs.String("org-id", "", "organisation the key belongs to (required)")
	prefix := fs.String("prefix", "", "the key's prefix, pcx_<id> (required)")
	if flags != nil {
		flags(fs)
	}
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := required("org-id", *org, "prefix", *prefix); err != nil {
		return err
	}
	if !pcx.ValidKeyPrefix(*prefix) {
		return usageError{"--prefix must look like pcx_<6 to 12 of a-z0-9>"}
	}
	cfg, st, err := c.open(ctx)
	if err != nil {
		return err
	}
	// The key service, as the API uses it; this process caches no keys, so it has no
	// authenticator to tell (the API instances see the change within AUTH_CACHE_TTL).
	k, more, err := change(&apikeys.Service{Store: st, AuditRetention: cfg.AuditRetention}, ctx, *org, *prefix)
	if err != nil {
		return storeErr(err)
	}
	fmt.Fprintf(c.stdout, "API key %s (%s) is now %s%s\n", k.ID, k.Prefix, k.Status, more)
	return nil
}

func tableCreate(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "table create", "", "Create the DynamoDB table (DYNAMODB_TABLE) with its indexes and TTL if it does not exist; give an existing table the indexes it lacks.")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	cfg, st, err := c.open(ctx)
	if err != nil {
		return err
	}
	created, err := st.CreateTable(ctx)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(c.stdout, "created table %s\n", cfg.DynamoDBTable)
	} else {
		fmt.Fprintf(c.stdout, "table %s already exists\n", cfg.DynamoDBTable)
	}
	return nil
}

func probe(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "probe", "URL", "GET a URL; exit 0 on a 2xx, 1 otherwise. For container health checks.")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait")
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", fs.Arg(0), nil)
	if err != nil {
		return usageError{err.Error()}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %d", fs.Arg(0), resp.StatusCode)
	}
	return nil
}
