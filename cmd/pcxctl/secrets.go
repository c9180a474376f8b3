package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/pcx/publicservice/store"
)

// errFindings: a check found what it looks for; exit code 4.
var errFindings = errors.New("found")

func webhooksCheckSecrets(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "webhooks check-secrets", "", "Scan every organisation's endpoints and list those with a secret sealed under a key version\n"+
		"that WEBHOOK_SECRETS_KEYS does not hold (their deliveries fail as undeliverable), or under a\n"+
		"version given to --without (run it before removing that version). Opens no secret.\n"+
		"Exits 4 when it lists any.")
	asJSON := jsonFlag(fs)
	removed, pageSize, err := parseScan(fs, args, "without", "comma-separated key versions to treat as removed, e.g. 1")
	if err != nil {
		return err
	}
	cfg, st, err := c.open(ctx)
	if err != nil {
		return err
	}
	keys, err := cfg.SecretsKeys()
	if err != nil {
		return err
	}
	have := map[int]bool{}
	for _, v := range keys.Versions() {
		have[v] = !slices.Contains(removed, v)
	}
	r := checkSecretsView{Endpoints: []sealedEndpointView{}, SecretsPerVersion: []keyVersionCount{}}
	perVersion := map[int]int{}
	err = st.ScanWebhookKeyVersions(ctx, pageSize, func(kv store.WebhookKeyVersions) error {
		r.Scanned++
		missing := []int{}
		for _, v := range kv.Versions {
			perVersion[v]++
			if !have[v] && !slices.Contains(missing, v) {
				missing = append(missing, v)
			}
		}
		if len(missing) > 0 {
			r.Endpoints = append(r.Endpoints, sealedEndpointView{OrgID: kv.OrgID, WebhookID: kv.WebhookID, Status: string(kv.Status),
				KeyVersions: kv.Versions, MissingVersions: missing})
		}
		return nil
	})
	if err != nil {
		return storeErr(err)
	}
	r.Found = len(r.Endpoints)
	for _, v := range slices.Sorted(maps.Keys(perVersion)) {
		r.SecretsPerVersion = append(r.SecretsPerVersion, keyVersionCount{KeyVersion: v, Secrets: perVersion[v]})
	}
	if err := printCheckSecrets(c, *asJSON, r); err != nil {
		return err
	}
	if r.Found > 0 {
		return fmt.Errorf("%w %d endpoint(s) with a secret under a missing key version", errFindings, r.Found)
	}
	return nil
}

func printCheckSecrets(c *cli, asJSON bool, r checkSecretsView) error {
	if asJSON {
		return writeJSON(c.stdout, r)
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ORG_ID\tWEBHOOK_ID\tSTATUS\tKEY_VERSIONS\tMISSING")
	for _, e := range r.Endpoints {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", e.OrgID, e.WebhookID, e.Status, versionList(e.KeyVersions), versionList(e.MissingVersions))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, n := range r.SecretsPerVersion {
		fmt.Fprintf(c.stdout, "key version %d: %d secret(s)\n", n.KeyVersion, n.Secrets)
	}
	fmt.Fprintf(c.stdout, "%d endpoint(s) scanned, %d with a secret under a missing key version\n", r.Scanned, r.Found)
	return nil
}

// parseScan parses the flags of a command that scans the table for key versions: the versions
// flag name lists (about to be removed) and --page-size.
func parseScan(fs *flag.FlagSet, args []string, name, usage string) (versions []int, pageSize int, err error) {
	list := fs.String(name, "", usage)
	size := fs.Int("page-size", 100, "items per scan request (1 to 1000)")
	if err := parse(fs, args, 0); err != nil {
		return nil, 0, err
	}
	if *size < 1 || *size > 1000 {
		return nil, 0, usageError{"--page-size must be from 1 to 1000"}
	}
	for _, f := range strings.Split(*list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v < 1 {
			return nil, 0, usageError{fmt.Sprintf("--%s: %q is not a key version", name, f)}
		}
		versions = append(versions, v)
	}
	return versions, *size, nil
}

// keysPepperVersions counts the stored API keys per pepper version, so an operator knows when an
// old APIKEY_PEPPERS version may be removed: keys are re-hashed under the newest pepper when they
// authenticate, and one left under an old version stops working once it is removed.
func keysPepperVersions(ctx context.Context, c *cli, args []string) error {
	fs := newFlags(c, "keys pepper-versions", "", "Scan every API key and count them by the APIKEY_PEPPERS version their hash is under.\n"+
		"Keys move to the newest pepper when they next authenticate. Exits 4 when a key is left under\n"+
		"a version given to --retire (run it before removing that version). Reads no secret.")
	asJSON := jsonFlag(fs)
	retiring, pageSize, err := parseScan(fs, args, "retire", "comma-separated pepper versions about to be removed, e.g. 1")
	if err != nil {
		return err
	}
	_, st, peppers, err := c.openKeys(ctx)
	if err != nil {
		return err
	}
	counts, err := st.APIKeyPepperVersions(ctx, pageSize)
	if err != nil {
		return storeErr(err)
	}
	newest, _ := peppers.Current()
	r := pepperVersionsView{Versions: []pepperVersionView{}, Retiring: append([]int{}, retiring...)}
	for _, v := range slices.Sorted(maps.Keys(counts)) {
		_, ok := peppers.Key(v)
		pv := pepperVersionView{PepperVersion: v, Keys: counts[v], Newest: v == newest, Configured: ok, Retiring: slices.Contains(retiring, v)}
		if pv.Retiring {
			r.LeftToRetire += pv.Keys
		}
		r.Versions = append(r.Versions, pv)
	}
	if *asJSON {
		if err := writeJSON(c.stdout, r); err != nil {
			return err
		}
	} else {
		printPepperVersions(c, r)
	}
	if r.LeftToRetire > 0 {
		return fmt.Errorf("%w %d key(s) under a pepper version to retire", errFindings, r.LeftToRetire)
	}
	return nil
}

func printPepperVersions(c *cli, r pepperVersionsView) {
	for _, v := range r.Versions {
		note := ""
		switch {
		case v.Retiring:
			note = " (to retire)"
		case !v.Configured:
			note = " (not in APIKEY_PEPPERS: these keys do not authenticate)"
		case v.Newest:
			note = " (newest)"
		}
		fmt.Fprintf(c.stdout, "pepper version %d: %d key(s)%s\n", v.PepperVersion, v.Keys, note)
	}
	if r.LeftToRetire == 0 && len(r.Retiring) > 0 {
		fmt.Fprintf(c.stdout, "no key is left under pepper version %s: it may be removed\n", versionList(r.Retiring))
	}
}

func versionList(vs []int) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ",")
}
