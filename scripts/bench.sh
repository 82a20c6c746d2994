#!/usr/bin/env bash
# Runs one of fbadmin's benchmarks against the local emulator suite.
#
#   scripts/bench.sh NAME [args...]
#
# NAME is a program under internal/cmd/bench/ (run without NAME to list them).
# The emulators that are not running are started first and stopped
# afterwards; those already running stay up. For NAME postgres, so is
# scripts/postgres.sh's PostgreSQL cluster (FBADMIN_POSTGRES_DSN exported).
# The benchmark runs as `go run ./internal/cmd/bench/NAME args...` with the
# emulators' variables exported; its stdout passes through untouched, so its
# last line (the JSON result) stays last. This script's own messages go to
# stderr.
#
# Exit status: the benchmark's; 2 for an unknown NAME or a missing
# prerequisite.

set -euo pipefail
FBADMIN_SCRIPT=bench.sh
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FBADMIN_ROOT"

# available prints the names of the main packages under internal/cmd/bench
# (mains, so above the libraries, not in internal/).
available() {
	local d
	for d in internal/cmd/bench/*/; do
		d=${d%/}
		if grep -qs '^package main$' "$d"/*.go; then
			echo "${d#internal/cmd/bench/}"
		fi
	done
}

name=${1:-}
if [ -z "$name" ] || [[ $name == -* ]] || [[ $name == */* ]] || ! available | grep -x -- "$name" >/dev/null; then
	[ -z "$name" ] || fb_log "unknown benchmark: $name"
	{
		echo "usage: scripts/bench.sh NAME [args...]"
		echo "benchmarks:"
		available | sed 's/^/  /' | grep . || echo "  (none yet under internal/cmd/bench)"
	} >&2
	exit 2
fi
shift

fb_need_cmd go "$FB_HINT_GO"

record=$(mktemp "${TMPDIR:-/tmp}/fbadmin-started.XXXXXX")
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if grep -qx postgres "$record"; then
		scripts/postgres.sh stop >&2 ||
			fb_log "could not stop the PostgreSQL this run started; see scripts/postgres.sh status"
	fi
	if grep -vqx postgres "$record"; then
		# shellcheck disable=SC2046 # one word per emulator name
		scripts/emulators.sh stop $(grep -vx postgres "$record" | sort -u) >&2 ||
			fb_log "could not stop every emulator this run started; see scripts/emulators.sh status"
	fi
	rm -f "$record"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

scripts/emulators.sh start --record "$record" >&2
eval "$(scripts/emulators.sh env)"
# The postgres benchmark needs scripts/postgres.sh's cluster as well: started
# when it is not running, stopped afterwards, like the emulators.
if [ "$name" = postgres ]; then
	scripts/postgres.sh start --record "$record" >&2
	eval "$(scripts/postgres.sh env)"
fi
fb_log "running internal/cmd/bench/$name against FIRESTORE_EMULATOR_HOST=$FIRESTORE_EMULATOR_HOST FIREBASE_AUTH_EMULATOR_HOST=$FIREBASE_AUTH_EMULATOR_HOST PUBSUB_EMULATOR_HOST=$PUBSUB_EMULATOR_HOST"
rc=0
go run "./internal/cmd/bench/$name" "$@" || rc=$?
exit $rc
