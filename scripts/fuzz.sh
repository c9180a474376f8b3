#!/usr/bin/env bash
# scripts/fuzz.sh [FUZZTIME]: a fuzz smoke run — every fuzz target in the module for FUZZTIME
# each (default 10s). `go test -fuzz` takes one target per invocation, so they run one by one.
# A crasher found is written to the package's testdata/fuzz/ and fails the run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fuzztime=${1:-${FUZZTIME:-10s}}
mapfile -t files < <(grep -rl --include='*_test.go' --exclude-dir=.git --exclude-dir=.tools \
	--exclude-dir=.run --exclude-dir=node_modules --exclude-dir=testdata 'func Fuzz' . | sort)

targets=()
for f in "${files[@]}"; do
	dir=$(dirname "$f")
	while read -r name; do
		[[ -n $name ]] && targets+=("$dir $name")
	done < <(sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(.*/\1/p' "$f")
done
if ((${#targets[@]} == 0)); then
	echo '==> fuzz: no fuzz targets found'
	exit 0
fi

echo "==> fuzz: ${#targets[@]} target(s), $fuzztime each"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
failed=()
for t in "${targets[@]}"; do
	read -r dir name <<<"$t"
	echo "==> fuzz $name ($dir) for $fuzztime"
	if go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$dir" 2>&1 | tee "$log"; then
		continue
	fi
	# Go's fuzz coordinator can report a bare "context deadline exceeded" when -fuzztime ends while
	# a worker is busy (go.dev/issue/75804, fixed in Go 1.27, not in 1.26.x); it shows up on loaded
	# machines. That is not a finding: no failing input is written. Tolerate exactly that case, and
	# only once the seed corpus (and any saved crashers) replays clean.
	if grep -q 'context deadline exceeded' "$log" && ! grep -qE 'Failing input written to|panic:|build failed' "$log"; then
		echo "==> $name: bare 'context deadline exceeded' at the end of -fuzztime, no failing input (go.dev/issue/75804); replaying the corpus"
		if go test -count=1 -run="^${name}\$" "$dir"; then
			echo "WARNING: $name: counted as passed (known Go fuzzing shutdown race, not a finding)"
			continue
		fi
	fi
	failed+=("$name ($dir)")
done
if ((${#failed[@]})); then
	printf 'fuzz: FAILED: %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "==> fuzz: all ${#targets[@]} target(s) passed"
