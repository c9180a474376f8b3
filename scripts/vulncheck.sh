#!/usr/bin/env bash
# govulncheck without the internet: the Go vulnerability database is built locally from the
# golang.org/x/vulndb module (its data/osv reports), which the Go module proxy serves, with the
# indexdb tool of that same module; govulncheck then reads it with -db file://.
# Update VULNDB_VERSION to the newest golang.org/x/vulndb pseudo-version to refresh the database.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
GOVULNCHECK_VERSION=${GOVULNCHECK_VERSION:-v1.9.0}
db=.tools/vulndb/$VULNDB_VERSION

if [[ ! -f $db/index/db.json ]]; then
	echo "==> building the Go vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION (first time: a few minutes)"
	src=$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[[ -d $src/data/osv ]] || { echo "vulncheck: no data/osv in $src" >&2; exit 1; }
	rm -rf "$db.tmp"
	mkdir -p "$(dirname "$db")"
	go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$db.tmp"
	mv "$db.tmp" "$db"
fi
echo "==> govulncheck@$GOVULNCHECK_VERSION ./... ($(go env GOVERSION), database golang.org/x/vulndb@$VULNDB_VERSION)"
go run "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION" -db "file://$PWD/$db" ./...
