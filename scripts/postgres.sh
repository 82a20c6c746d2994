#!/usr/bin/env bash
# Starts, stops and describes the throwaway PostgreSQL 15 cluster that the
# postgres sink's tests use (listeners/postgressink, internal/pgtest).
#
#   scripts/postgres.sh start [--record FILE]
#   scripts/postgres.sh stop
#   scripts/postgres.sh status
#   scripts/postgres.sh env
#
# start creates a cluster with initdb (superuser fbadmin, trust
# authentication, so no password exists anywhere) in the cluster directory
# and starts it with pg_ctl on 127.0.0.1:PORT, its Unix socket in the same
# directory. As root, both run as the postgres user (runuser) on a directory
# that user owns; otherwise they run as the current user. When the binaries
# are missing, root gets them with apt-get install postgresql-15; anyone
# else gets a hint. Starting a running cluster is a no-op; when something
# other than this script's cluster answers on the port, start uses it and
# stop leaves it alone, as scripts/emulators.sh does. --record FILE appends
# "postgres" to FILE when this call started the cluster, so that the caller
# (scripts/test.sh) stops exactly what it started.
#
# stop stops the cluster this script started (pg_ctl stop -m fast) and
# deletes its directory: nothing in it is worth keeping. status prints one
# line and exits 0 when the cluster answers, 3 otherwise. env prints the
# export line for eval "$(scripts/postgres.sh env)".
#
# Environment (defaults in brackets):
#   FBADMIN_POSTGRES_PORT   [54329]
#   FBADMIN_POSTGRES_DIR    the cluster directory [${TMPDIR:-/tmp}/fbadmin-postgres/PORT]
#   FBADMIN_POSTGRES_BIN    directory of initdb and pg_ctl [/usr/lib/postgresql/15/bin]
#
# Exit status: 0 ok, 1 the cluster failed to start or stop, 2 usage or
# missing prerequisite, 3 (status only) not running.

set -euo pipefail
FBADMIN_SCRIPT=postgres.sh
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT=${FBADMIN_POSTGRES_PORT:-54329}
BASE=${TMPDIR:-/tmp}/fbadmin-postgres
DIR=${FBADMIN_POSTGRES_DIR:-$BASE/$PORT}
BIN=${FBADMIN_POSTGRES_BIN:-/usr/lib/postgresql/15/bin}
HOST=127.0.0.1
DATA=$DIR/data
LOG=$DIR/postgres.log
HINT_PG="PostgreSQL 15 (apt-get install postgresql-15), or set FBADMIN_POSTGRES_BIN to the directory of its initdb and pg_ctl"

usage() {
	cat >&2 <<'EOF'
usage: scripts/postgres.sh start [--record FILE]
       scripts/postgres.sh stop
       scripts/postgres.sh status
       scripts/postgres.sh env
EOF
	exit 2
}

# as_owner CMD... runs CMD as the cluster's owner: the postgres user when we
# are root (PostgreSQL refuses to run as root), else the current user. The
# lock on fd 9 stays with this script: the server must not inherit it.
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@" 9>&-
	else
		"$@" 9>&-
	fi
}

need_binaries() {
	if [ -x "$BIN/initdb" ] && [ -x "$BIN/pg_ctl" ]; then
		return 0
	fi
	if [ "$(id -u)" != 0 ]; then
		fb_die 2 "missing prerequisite: $BIN/initdb and $BIN/pg_ctl not found; install $HINT_PG"
	fi
	fb_log "PostgreSQL binaries not found in $BIN; installing postgresql-15 with apt-get (running as root)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql-15 >&2 ||
		fb_die 2 "apt-get install -y postgresql-15 failed; install $HINT_PG"
	[ -x "$BIN/initdb" ] && [ -x "$BIN/pg_ctl" ] ||
		fb_die 2 "postgresql-15 is installed but $BIN has no initdb/pg_ctl; set FBADMIN_POSTGRES_BIN"
}

# ours succeeds when the cluster in DATA is running (its postmaster is
# alive).
ours() {
	[ -f "$DATA/postmaster.pid" ] && [ -x "$BIN/pg_ctl" ] &&
		as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

# answers succeeds when a server accepts connections on the port.
answers() {
	if [ -x "$BIN/pg_isready" ]; then
		"$BIN/pg_isready" -q -h "$HOST" -p "$PORT" -t 2
	else
		fb_port_open "$HOST" "$PORT"
	fi
}

cmd_start() {
	local record=$1 t0=$SECONDS
	if ours; then
		fb_log "PostgreSQL already running on $HOST:$PORT (cluster $DATA)"
		return 0
	fi
	if answers; then
		fb_log "PostgreSQL already answers on $HOST:$PORT but was not started by this script (dir $DIR); using it, and stop will leave it running"
		return 0
	fi
	if fb_port_open "$HOST" "$PORT"; then
		fb_die 2 "port $PORT on $HOST is in use by another program; choose a free port with FBADMIN_POSTGRES_PORT=PORT"
	fi
	need_binaries
	# A directory left by a crash or a killed run: throw it away.
	rm -rf "$DIR"
	mkdir -p "$DIR"
	if [ "$(id -u)" = 0 ]; then
		: >"$LOG"
		chown postgres: "$DIR" "$LOG"
		chmod 700 "$DIR"
		runuser -u postgres -- test -x "$DIR" ||
			fb_die 2 "the postgres user cannot reach $DIR (a parent directory is not searchable); set FBADMIN_POSTGRES_DIR or TMPDIR elsewhere"
	fi
	as_owner "$BIN/initdb" -D "$DATA" -A trust -U fbadmin -E UTF8 --locale=C.UTF-8 >"$LOG" 2>&1 || {
		fb_log "initdb failed; last lines of $LOG:"
		tail -n 20 "$LOG" | sed 's/^/    /' >&2
		return 1
	}
	if ! as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
		-o "-p $PORT -k $DIR -c listen_addresses=$HOST -c max_connections=300" start >/dev/null; then
		fb_log "PostgreSQL did not start on $HOST:$PORT; last lines of $LOG:"
		tail -n 20 "$LOG" | sed 's/^/    /' >&2
		return 1
	fi
	[ -z "$record" ] || echo postgres >>"$record"
	fb_log "PostgreSQL ready on $HOST:$PORT (cluster $DATA, $((SECONDS - t0))s)"
}

cmd_stop() {
	if ! [ -f "$DATA/postmaster.pid" ]; then
		[ -d "$DATA" ] && rm -rf "$DIR"
		return 0
	fi
	if ours && ! as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null; then
		fb_log "could not stop PostgreSQL (cluster $DATA); see $LOG"
		return 1
	fi
	rm -rf "$DIR"
	fb_log "PostgreSQL stopped ($HOST:$PORT)"
}

cmd_status() {
	local state rc=0
	if ours && answers; then
		state="running  (cluster $DATA)"
	elif answers; then
		state="running  (not started by this script)"
	elif fb_port_open "$HOST" "$PORT"; then
		state="stopped  (port in use by another program)"
		rc=3
	else
		state=stopped
		rc=3
	fi
	printf '%-10s %-22s %s\n' postgres "$HOST:$PORT" "$state"
	return $rc
}

cmd_env() {
	# Single-quoted: the DSN holds no quote, and ? stays unescaped.
	printf "export FBADMIN_POSTGRES_DSN='%s'\n" "postgres://fbadmin@$HOST:$PORT/postgres?sslmode=disable"
}

main() {
	local cmd=${1:-} record=
	[ $# -gt 0 ] && shift
	if [ "$cmd" = start ] && [ "${1:-}" = --record ]; then
		[ $# -ge 2 ] || usage
		record=$2
		shift 2
	fi
	[ $# -eq 0 ] || usage
	fb_check_port PostgreSQL "$PORT" FBADMIN_POSTGRES_PORT
	case $cmd in
	env) cmd_env ;;
	status) cmd_status ;;
	start | stop)
		mkdir -p "$(dirname "$DIR")"
		if command -v flock >/dev/null 2>&1; then
			exec 9>"$(dirname "$DIR")/.lock-$PORT"
			flock -w 180 9 || fb_die 1 "another postgres.sh holds $(dirname "$DIR")/.lock-$PORT"
		fi
		if [ "$cmd" = start ]; then cmd_start "$record"; else cmd_stop; fi
		;;
	*) usage ;;
	esac
}

main "$@"
