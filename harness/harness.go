// Package harness builds the deployment that the end-to-end tests (e2e), the benchmark
// (bench/cmd/pcxbench) and the soak run (soak) drive: the services' environment and its secrets,
// the table, bootstrap keys, the api and worker as processes or in-process, DynamoDB Local and
// the Temporal dev server on fixed ports so they can be restarted with their data, and the HTTPS
// receivers' certificate.
//
// It exists so that the setup exists once and the three harnesses differ only in what they drive
// and what they report. It sits above internal/testenv, which starts the dependencies and must
// stay a leaf, because it uses the service's own packages (app, store, service/apikeys).
package harness

import (
	"context"
	"fmt"
	"maps"

	"github.com/pcx/publicservice/app"
	"github.com/pcx/publicservice/internal/config"
	"github.com/pcx/publicservice/internal/keyformat"
	"github.com/pcx/publicservice/internal/testenv"
	"github.com/pcx/publicservice/pcx"
	"github.com/pcx/publicservice/service/apikeys"
	"github.com/pcx/publicservice/store"
)

// Secrets are the settings of a deployment that are never reported.
type Secrets struct {
	Peppers       string // APIKEY_PEPPERS
	SecretsKeys   string // WEBHOOK_SECRETS_KEYS
	InternalToken string // INTERNAL_TOKEN
}

// GenerateSecrets returns fresh random secrets, for a deployment that lives as long as one run.
func GenerateSecrets() Secrets {
	return Secrets{
		Peppers:       "1:" + testenv.RandomBase64(32),
		SecretsKeys:   "1:" + testenv.RandomBase64(32),
		InternalToken: testenv.RandomHex(24),
	}
}

// IsSecret reports whether the setting name holds a secret.
func IsSecret(name string) bool {
	switch name {
	case "APIKEY_PEPPERS", "WEBHOOK_SECRETS_KEYS", "INTERNAL_TOKEN", "CURSOR_KEYS":
		return true
	}
	return false
}

// Options say what deployment New builds.
type Options struct {
	// Name is the deployment's table and task queue.
	Name              string
	DynamoDBEndpoint  string
	TemporalAddress   string
	TemporalNamespace string // "default" when empty
	// Secrets are generated when zero.
	Secrets Secrets
	// Vars are further settings; they win over the ones New sets.
	Vars map[string]string
	// CreateTable creates the table (bench has `pcxctl table create` do it).
	CreateTable bool
}

// Env is one deployment's configuration: the environment its api, worker and pcxctl read, and a
// store client on its table.
type Env struct {
	// Vars is the environment; a caller may change it before it starts a service.
	Vars  map[string]string
	Store *store.Store
}

// New builds the environment of a deployment: no env file, warnings only, its own table and task
// queue, and opens a store client on it (creating the table when asked).
func New(ctx context.Context, o Options) (*Env, error) {
	sec := o.Secrets
	if sec == (Secrets{}) {
		sec = GenerateSecrets()
	}
	ns := o.TemporalNamespace
	if ns == "" {
		ns = "default"
	}
	e := &Env{Vars: map[string]string{
		"PCX_ENV_FILE":         "",
		"LOG_LEVEL":            "warn",
		"AWS_REGION":           "us-east-1",
		"DYNAMODB_ENDPOINT":    o.DynamoDBEndpoint,
		"DYNAMODB_TABLE":       o.Name,
		"TEMPORAL_ADDRESS":     o.TemporalAddress,
		"TEMPORAL_NAMESPACE":   ns,
		"TEMPORAL_TASK_QUEUE":  o.Name,
		"APIKEY_PEPPERS":       sec.Peppers,
		"WEBHOOK_SECRETS_KEYS": sec.SecretsKeys,
		"INTERNAL_TOKEN":       sec.InternalToken,
		// No load balancer is in front of a test deployment: an api stops without a drain
		// (e2e's drain test sets its own).
		"SHUTDOWN_DRAIN": "0s",
	}}
	maps.Copy(e.Vars, o.Vars)
	cfg, err := e.Config()
	if err != nil {
		return nil, err
	}
	st, err := app.NewStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if o.CreateTable {
		if _, err := st.CreateTable(ctx); err != nil {
			return nil, fmt.Errorf("create table: %w", err)
		}
	}
	e.Store = st
	return e, nil
}

// Environ is the environment as KEY=VALUE entries, plus extra maps (a later one wins).
func (e *Env) Environ(extra ...map[string]string) []string {
	return testenv.Environ(append([]map[string]string{e.Vars}, extra...)...)
}

// Config is the environment parsed as the services parse it.
func (e *Env) Config() (config.Config, error) {
	cfg, err := config.Load(e.Environ())
	if err != nil {
		return config.Config{}, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// AllowReceivers lets the deployment deliver to HTTPS receivers on loopback: loopback exempted
// from the SSRF block list, and the receivers' certificate (caFile) trusted.
func (e *Env) AllowReceivers(caFile string) {
	e.Vars["WEBHOOK_ALLOWED_CIDRS"] = "127.0.0.0/8,::1/128"
	e.Vars["WEBHOOK_CA_FILE"] = caFile
}

// BootstrapKey creates a key of org straight in the store, as `pcxctl keys create` does, and
// returns it in full.
func (e *Env) BootstrapKey(ctx context.Context, org, user, name string) (string, error) {
	cfg, err := e.Config()
	if err != nil {
		return "", err
	}
	peppers, err := cfg.Peppers()
	if err != nil {
		return "", err
	}
	svc := &apikeys.Service{Store: e.Store, Hasher: keyformat.NewHasher(peppers), AuditRetention: cfg.AuditRetention}
	// As pcxctl does it: the operator's bootstrap, audited as such.
	ctx = pcx.WithOrigin(ctx, pcx.Origin{Actor: pcx.Actor{Operator: pcx.OperatorPCXCtl}})
	full, _, err := svc.Create(ctx, apikeys.CreateInput{OrgID: org, UserID: user, Name: name})
	if err != nil {
		return "", fmt.Errorf("bootstrap key: %w", err)
	}
	return full, nil
}
