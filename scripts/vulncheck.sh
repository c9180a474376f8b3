#!/usr/bin/env bash
# govulncheck without the internet: the Go vulnerability database is built locally from the
# golang.org/x/vulndb module (its data/osv reports), which the Go module proxy serves, with the
# indexdb tool of that same module; govulncheck then reads it with -db file://.
# Update VULNDB_VERSION to the newest golang.org/x/vulndb pseudo-version to refresh the database.
#
# A pinned database goes stale without a sound, so its age is printed and checked first: older than
# VULNDB_MAX_AGE_DAYS (default 30) fails when the module proxy serves a newer one, and warns on
# stderr when it serves nothing newer. The age is that of the vulndb commit the reports come from
# (the pseudo-version's timestamp): the reports in the module carry no dates of their own, so the
# built index says "modified 0001-01-01". `vulncheck.sh --check-age` does only the check.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
VULNDB_MAX_AGE_DAYS=${VULNDB_MAX_AGE_DAYS:-30}
GOVULNCHECK_VERSION=${GOVULNCHECK_VERSION:-v1.9.0}
db=.tools/vulndb/$VULNDB_VERSION

die() { printf 'vulncheck: %s\n' "$*" >&2; exit 1; }

# ---- the database's age ------------------------------------------------------------------------
[[ $VULNDB_MAX_AGE_DAYS =~ ^[0-9]+$ ]] || die "VULNDB_MAX_AGE_DAYS=$VULNDB_MAX_AGE_DAYS: want a number of days"
# A pseudo-version is vX.Y.Z-[0.]YYYYMMDDHHMMSS-<12 hex>, the commit time in UTC.
[[ $VULNDB_VERSION =~ [.-]([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})-[0-9a-f]{12}$ ]] ||
	die "VULNDB_VERSION=$VULNDB_VERSION is not a pseudo-version (vX.Y.Z-YYYYMMDDHHMMSS-commit): its date is the database's age"
r=("${BASH_REMATCH[@]}")
modified="${r[1]}-${r[2]}-${r[3]}T${r[4]}:${r[5]}:${r[6]}Z"
age_days=$((($(date +%s) - $(date -u -d "$modified" +%s)) / 86400))
echo "==> Go vulnerability database golang.org/x/vulndb@$VULNDB_VERSION: modified $modified, $age_days days old (limit VULNDB_MAX_AGE_DAYS=$VULNDB_MAX_AGE_DAYS)"
if ((age_days > VULNDB_MAX_AGE_DAYS)); then
	# Too old: stale only if the proxy serves a newer one (the module proxy may lag vulndb's
	# commits by weeks; failing then would block every change with nothing to update to).
	# VULNDB_LATEST stands in for the proxy's answer in tests.
	latest=${VULNDB_LATEST:-$(go list -m -f '{{.Version}}' golang.org/x/vulndb@latest 2>/dev/null)} ||
		die "the vulnerability database is $age_days days old, older than $VULNDB_MAX_AGE_DAYS, and the module proxy did not say whether a newer one exists (go list -m golang.org/x/vulndb@latest failed)"
	if [[ $latest != "$VULNDB_VERSION" ]]; then
		die "the vulnerability database is $age_days days old, older than $VULNDB_MAX_AGE_DAYS: vulnerabilities published since $modified would be missed.
Refresh it: set VULNDB_VERSION in scripts/vulncheck.sh to the newest pseudo-version, $latest
  (go list -m -f '{{.Version}}' golang.org/x/vulndb@latest)
(or, for one run, raise VULNDB_MAX_AGE_DAYS)"
	fi
	printf '%s\n' "vulncheck: WARNING: the vulnerability database is $age_days days old, older than $VULNDB_MAX_AGE_DAYS, but it is the newest the module proxy serves ($latest): vulnerabilities published since $modified are not checked" >&2
fi
[[ ${1:-} == --check-age ]] && exit 0

if [[ ! -f $db/index/db.json ]]; then
	echo "==> building the Go vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION (first time: a few minutes)"
	src=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[[ -d $src/data/osv ]] || die "no data/osv in $src"
	rm -rf "$db.tmp"
	mkdir -p "$(dirname "$db")"
	go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$db.tmp"
	mv "$db.tmp" "$db"
fi
echo "==> govulncheck@$GOVULNCHECK_VERSION ./... ($(go env GOVERSION), database golang.org/x/vulndb@$VULNDB_VERSION)"
go run "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION" -db "file://$PWD/$db" ./...
