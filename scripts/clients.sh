#!/usr/bin/env bash
# The OpenAPI descriptions as integrators use them, with pinned tools from tools/clients (npm ci,
# only when missing): Redocly CLI lints api/openapi.yaml and api/openapi-internal.yaml with no
# error and no warning (redocly.yaml); openapi-typescript's types (clients/typescript/pcx.d.ts)
# are what the description makes today; tsc --strict accepts a typed notify call
# (clients/typescript/notify.ts) and rejects a wrong one (bad-notify.ts). make test runs it;
# `scripts/clients.sh --write` regenerates pcx.d.ts (make clients).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
T=tools/clients/node_modules/.bin
if [[ ! -x $T/redocly || ! -x $T/openapi-typescript || ! -x $T/tsc ]]; then
  echo '==> installing openapi-typescript, typescript and @redocly/cli (npm ci in tools/clients)'
  start=$SECONDS
  (cd tools/clients && npm ci --no-audit --no-fund --loglevel=error)
  echo "==> installed in $((SECONDS - start))s"
fi
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true

if [[ ${1:-} == --write ]]; then
  "$T/openapi-typescript" api/openapi.yaml -o clients/typescript/pcx.d.ts
  exit 0
fi

echo '==> redocly lint api/openapi.yaml api/openapi-internal.yaml (no errors, no warnings)'
out=$("$T/redocly" lint --format=summary api/openapi.yaml api/openapi-internal.yaml 2>&1) || { echo "$out"; exit 1; }
if grep -Eq '^(warning|error) ' <<<"$out"; then
  "$T/redocly" lint api/openapi.yaml api/openapi-internal.yaml 2>&1 | grep -v '║\|╔\|╚' || true
  echo 'redocly lint: warnings in the descriptions (fix api/openapi-all.yaml, then go generate ./api)' >&2
  exit 1
fi

echo '==> openapi-typescript api/openapi.yaml: clients/typescript/pcx.d.ts is current'
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$T/openapi-typescript" api/openapi.yaml -o "$tmp/pcx.d.ts" >/dev/null 2>&1
if ! cmp -s "$tmp/pcx.d.ts" clients/typescript/pcx.d.ts; then
  echo 'clients/typescript/pcx.d.ts is stale: run make clients' >&2
  exit 1
fi

echo '==> tsc --strict: clients/typescript/notify.ts compiles'
"$T/tsc" -p clients/typescript

echo '==> tsc --strict: clients/typescript/bad-notify.ts is refused'
if bad=$("$T/tsc" --strict --noEmit --target ES2022 --module ES2022 --moduleResolution bundler \
  --lib ES2022,DOM clients/typescript/bad-notify.ts 2>&1); then
  echo 'tsc accepted a notify body with a string transaction_data: the types no longer check it' >&2
  exit 1
fi
grep -q "bad-notify.ts(7,.*TS2322" <<<"$bad" || { echo "tsc refused bad-notify.ts for another reason: $bad" >&2; exit 1; }
echo "    refused as expected: ${bad%%$'\n'*}"
