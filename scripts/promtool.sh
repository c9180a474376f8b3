#!/usr/bin/env bash
# Checks and tests the Prometheus alert rules in deploy/prometheus with the pinned promtool
# (scripts/tools.sh installs it into .tools/bin; PCX_PROMTOOL_BIN points at another): `promtool
# check rules` on alerts.yaml, then `promtool test rules` on alerts_test.yaml. make test runs it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
PROMTOOL=${PCX_PROMTOOL_BIN:-$PWD/.tools/bin/promtool}
[[ -x $PROMTOOL ]] || { echo "promtool: $PROMTOOL not found; run make tools" >&2; exit 1; }

echo '==> promtool check rules deploy/prometheus/alerts.yaml'
"$PROMTOOL" check rules deploy/prometheus/alerts.yaml
echo '==> promtool test rules deploy/prometheus/alerts_test.yaml'
"$PROMTOOL" test rules deploy/prometheus/alerts_test.yaml
