# scripts/progress.sh — sourced by run.sh and tools.sh: the first build and install take minutes,
# and a terminal that prints nothing for minutes looks hung. While a step runs, a line says how long
# it has been running: every 15 s on a terminal, every 30 s otherwise (a CI log stays short).
# PCX_PROGRESS_SECONDS sets the interval (tests use 1).

# running PID: is it a child of this shell, still running? (kill -0 would also accept a pid
# that is no longer our child.)
running() {
	local r
	r=$(jobs -pr)
	[[ $'\n'$r$'\n' == *$'\n'$1$'\n'* ]]
}

# wait_progress PID DESC: waits for the background child PID, printing "    still DESC… 45s" at
# each interval, and returns its exit status. It polls, so this shell's traps run within 0.2 s.
wait_progress() {
	local pid=$1 desc=$2 start=${EPOCHREALTIME//[!0-9]/} every=30 next elapsed rc=0
	[[ -t 1 ]] && every=15
	every=${PCX_PROGRESS_SECONDS:-$every}
	next=$every
	while running "$pid"; do
		elapsed=$(((${EPOCHREALTIME//[!0-9]/} - start) / 1000000)) # EPOCHREALTIME: SECONDS is off by up to 1 s
		if ((elapsed >= next)); then
			printf '    still %s… %ds\n' "$desc" "$elapsed"
			next=$((next + every))
		fi
		sleep 0.2
	done
	wait "$pid" || rc=$?
	return "$rc"
}

# with_progress DESC CMD...: runs CMD in the background under wait_progress. A SIGTERM, SIGINT or
# SIGHUP to this shell stops CMD too (a background child ignores the terminal's Ctrl-C).
with_progress() {
	local desc=$1 pid rc=0
	shift
	"$@" &
	pid=$!
	# shellcheck disable=SC2064 # the pid is fixed now
	trap "kill -TERM $pid 2>/dev/null; exit 143" TERM INT HUP
	wait_progress "$pid" "$desc" || rc=$?
	trap - TERM INT HUP
	return "$rc"
}
