#!/usr/bin/env bash
# Starts, stops and describes the local emulator suite fbadmin's tests use.
#
#   scripts/emulators.sh start [--record FILE] [--rules FILE] [UNIT...]
#   scripts/emulators.sh stop [UNIT...]
#   scripts/emulators.sh status [UNIT...]
#   scripts/emulators.sh env
#
# UNIT is firestore, auth or pubsub; the default is all three.
#
# - firestore: firebase-tools' Firestore emulator when Java 21+ is installed and
#   its jar is already cached (~/.cache/firebase/emulators), otherwise the
#   Google Cloud CLI's (gcloud emulators firestore start).
# - auth: firebase-tools' Auth emulator (emulator/node_modules, installed with
#   npm ci on first use).
# - pubsub: the Google Cloud CLI's Pub/Sub emulator.
#
# start launches each emulator in its own process group, waits until it
# answers, and records its pid in the run directory; starting a running
# emulator is a no-op. When an emulator that this script did not start already
# answers on a port, start uses it and stop leaves it alone. --record FILE
# appends the names of the emulators this call launched, so that a caller can
# stop exactly those. --rules FILE (or FBADMIN_FIRESTORE_RULES) starts the
# Firestore emulator with those security rules, which it then enforces for
# requests carrying an end user's ID token (fbadmin --as, fbadmin rules check);
# admin requests bypass them. Without it the emulator starts as before. A
# Firestore emulator that already runs keeps its rules: --rules then says so
# and fails (stop it first, or use another FBADMIN_FIRESTORE_PORT).
# stop stops only what start launched (the whole process
# group: TERM, then KILL after FBADMIN_STOP_TIMEOUT seconds). status prints one
# line per emulator and exits 0 when all are running, 3 otherwise. env prints
# export lines for eval "$(scripts/emulators.sh env)".
#
# Environment (defaults in brackets):
#   FBADMIN_EMULATOR_HOST_IP   address the emulators listen on [127.0.0.1]
#   FBADMIN_FIRESTORE_PORT     [8080]
#   FBADMIN_AUTH_PORT          [9099]
#   FBADMIN_PUBSUB_PORT        [8085]
#   FBADMIN_PROJECT            the emulators' own project, must start with demo- [demo-fbadmin]
#   FBADMIN_RUN_DIR            pid files, logs, generated configs [.run/emulators]
#   FBADMIN_FIRESTORE_BACKEND  auto, gcloud or firebase [auto]
#   FBADMIN_START_TIMEOUT      seconds to wait for each emulator to answer [300]
#   FBADMIN_STOP_TIMEOUT       seconds between TERM and KILL [15]
#   FBADMIN_FIRESTORE_RULES    a firestore.rules file for the Firestore emulator [none]
# firebase-tools' helper ports (emulator hub, logging, Firestore websocket) are
# left unset in the generated configs, so firebase-tools picks free ones and
# two checkouts with different ports do not collide.
#
# Exit status: 0 ok, 1 an emulator failed to start or stop, 2 usage or missing
# prerequisite, 3 (status only) not everything is running.

set -euo pipefail
FBADMIN_SCRIPT=emulators.sh
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL_UNITS=(firestore auth pubsub)
HOST_IP=${FBADMIN_EMULATOR_HOST_IP:-127.0.0.1}
FIRESTORE_PORT=${FBADMIN_FIRESTORE_PORT:-8080}
AUTH_PORT=${FBADMIN_AUTH_PORT:-9099}
PUBSUB_PORT=${FBADMIN_PUBSUB_PORT:-8085}
PROJECT=${FBADMIN_PROJECT:-demo-fbadmin}
RUN_DIR=${FBADMIN_RUN_DIR:-$FBADMIN_ROOT/.run/emulators}
START_TIMEOUT=${FBADMIN_START_TIMEOUT:-300}
STOP_TIMEOUT=${FBADMIN_STOP_TIMEOUT:-15}
RULES=${FBADMIN_FIRESTORE_RULES:-}
FIREBASE_BIN=$FBADMIN_ROOT/emulator/node_modules/.bin/firebase

usage() {
	cat >&2 <<'EOF'
usage: scripts/emulators.sh start [--record FILE] [--rules FILE] [UNIT...]
       scripts/emulators.sh stop [UNIT...]
       scripts/emulators.sh status [UNIT...]
       scripts/emulators.sh env
UNIT: firestore, auth, pubsub (default: all)
EOF
	exit 2
}

check_config() {
	fb_check_port "Firestore emulator" "$FIRESTORE_PORT" FBADMIN_FIRESTORE_PORT
	fb_check_port "Auth emulator" "$AUTH_PORT" FBADMIN_AUTH_PORT
	fb_check_port "Pub/Sub emulator" "$PUBSUB_PORT" FBADMIN_PUBSUB_PORT
	case $PROJECT in
	demo-*) ;;
	*) fb_die 2 "FBADMIN_PROJECT=$PROJECT must start with demo- so that the emulators never reach a real project" ;;
	esac
	case $START_TIMEOUT$STOP_TIMEOUT in
	*[!0-9]*) fb_die 2 "FBADMIN_START_TIMEOUT and FBADMIN_STOP_TIMEOUT must be whole seconds" ;;
	esac
}

label() {
	case $1 in
	firestore) echo Firestore ;;
	auth) echo Auth ;;
	pubsub) echo Pub/Sub ;;
	esac
}

port_of() {
	case $1 in
	firestore) echo "$FIRESTORE_PORT" ;;
	auth) echo "$AUTH_PORT" ;;
	pubsub) echo "$PUBSUB_PORT" ;;
	esac
}

port_var() {
	case $1 in
	firestore) echo FBADMIN_FIRESTORE_PORT ;;
	auth) echo FBADMIN_AUTH_PORT ;;
	pubsub) echo FBADMIN_PUBSUB_PORT ;;
	esac
}

# answers UNIT succeeds when the emulator UNIT answers on its port. Firestore
# and Pub/Sub both say "Ok" on /, so they are told apart by Pub/Sub's topic
# listing, which only Pub/Sub serves.
answers() {
	local port body
	port=$(port_of "$1")
	body=$(fb_http_get "$HOST_IP" "$port" /) || return 1
	case $1 in
	firestore)
		[[ $body == Ok* ]] || return 1
		! fb_http_get "$HOST_IP" "$port" "/v1/projects/$PROJECT/topics" >/dev/null
		;;
	pubsub)
		[[ $body == Ok* ]] || return 1
		fb_http_get "$HOST_IP" "$port" "/v1/projects/$PROJECT/topics" >/dev/null
		;;
	auth)
		[[ $body =~ \"ready\"[[:space:]]*:[[:space:]]*true ]]
		;;
	esac
}

pid_file() { echo "$RUN_DIR/$1.pid"; }
log_file() { echo "$RUN_DIR/$1.log"; }

# start_time PID prints the process's start time in clock ticks since boot
# (field 22 of /proc/PID/stat), or "-" where /proc is not available. It
# guards against killing an unrelated process that reused a recorded pid.
start_time() {
	local stat
	if [ -r "/proc/$1/stat" ] && stat=$(cat "/proc/$1/stat" 2>/dev/null); then
		stat=${stat##*) }
		# shellcheck disable=SC2086
		set -- $stat
		echo "${20}"
	else
		echo -
	fi
}

# owned_pgid UNIT prints the process group recorded for UNIT when it still
# belongs to the emulator this script started, and fails otherwise.
owned_pgid() {
	local f pid started rest now
	f=$(pid_file "$1")
	[ -f "$f" ] || return 1
	read -r pid started rest <"$f" || true
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	if kill -0 "$pid" 2>/dev/null; then
		now=$(start_time "$pid")
		if [ "$now" != - ] && [ "$started" != - ] && [ "$now" != "$started" ]; then
			return 1 # the pid was reused by another process
		fi
		echo "$pid"
		return 0
	fi
	# The leader (gcloud's python) is gone; its children may still run in the
	# group, whose id no new process can take while the group exists.
	if kill -0 -- "-$pid" 2>/dev/null; then
		echo "$pid"
		return 0
	fi
	return 1
}

backend_of() {
	local f pid started backend rest
	f=$(pid_file "$1")
	[ -f "$f" ] && read -r pid started backend rest <"$f" && echo "$backend"
}

java_major() {
	local v
	v=$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)
	case $v in
	1.*) v=${v#1.} ;;
	esac
	v=${v%%[!0-9]*}
	echo "${v:-0}"
}

# firestore_backend prints firebase or gcloud.
firestore_backend() {
	local want=${FBADMIN_FIRESTORE_BACKEND:-auto} jar cache
	case $want in
	gcloud) echo gcloud ;;
	firebase)
		command -v java >/dev/null 2>&1 || fb_missing java "Java 21 or newer (firebase-tools' Firestore emulator needs it)"
		[ "$(java_major)" -ge 21 ] ||
			fb_die 2 "FBADMIN_FIRESTORE_BACKEND=firebase needs Java 21 or newer (found $(java_major)); install it or use FBADMIN_FIRESTORE_BACKEND=gcloud"
		echo firebase
		;;
	auto)
		if command -v java >/dev/null 2>&1 && [ "$(java_major)" -ge 21 ] && [ -x "$FIREBASE_BIN" ]; then
			cache=${FIREBASE_EMULATORS_PATH:-$HOME/.cache/firebase/emulators}
			jar=$(sed -n '/"firestore"/,/}/s/.*"downloadPathRelativeToCacheDir": *"\([^"]*\)".*/\1/p' \
				"$FBADMIN_ROOT/emulator/node_modules/firebase-tools/lib/emulator/downloadableEmulatorInfo.json" 2>/dev/null | head -n 1)
			if [ -n "$jar" ] && [ -f "$cache/$jar" ]; then
				echo firebase
				return
			fi
		fi
		echo gcloud
		;;
	*) fb_die 2 "FBADMIN_FIRESTORE_BACKEND=$want: want auto, gcloud or firebase" ;;
	esac
}

# gcloud_component DIR NAME PACKAGE exits 2 when the gcloud installation has
# a platform directory but not the emulator DIR.
gcloud_component() {
	local sdk
	sdk=$(dirname "$(dirname "$(readlink -f "$(command -v gcloud)")")")
	if [ -d "$sdk/platform" ] && ! [ -d "$sdk/platform/$1" ]; then
		fb_missing "the gcloud $2" "it (apt-get install $3, or gcloud components install $1)"
	fi
}

# check_prereqs UNIT... exits 2 with one line per missing prerequisite.
check_prereqs() {
	local u need_gcloud=0 need_java=0 need_node=0
	for u in "$@"; do
		case $u in
		firestore)
			need_java=1
			if [ "$FS_BACKEND" = gcloud ]; then need_gcloud=1; else need_node=1; fi
			;;
		auth) need_node=1 ;;
		pubsub) need_java=1 need_gcloud=1 ;;
		esac
	done
	if [ $need_java = 1 ]; then fb_need_cmd java "$FB_HINT_JAVA"; fi
	if [ $need_gcloud = 1 ]; then
		fb_need_cmd gcloud "$FB_HINT_GCLOUD"
		for u in "$@"; do
			case $u in
			firestore) [ "$FS_BACKEND" = firebase ] ||
				gcloud_component cloud-firestore-emulator "Firestore emulator" google-cloud-cli-firestore-emulator ;;
			pubsub) gcloud_component pubsub-emulator "Pub/Sub emulator" google-cloud-cli-pubsub-emulator ;;
			esac
		done
	fi
	if [ $need_node = 1 ]; then
		fb_need_cmd node "$FB_HINT_NODE"
		[ -x "$FIREBASE_BIN" ] || fb_need_cmd npm "$FB_HINT_NPM"
	fi
}

# firebase_config UNIT writes the firebase.json for one firebase-tools
# emulator and prints its path.
firebase_config() {
	local dir=$RUN_DIR/$1
	mkdir -p "$dir/tmp"
	cat >"$dir/firebase.json" <<EOF
{
  "emulators": {
    "$1": { "host": "$HOST_IP", "port": $(port_of "$1") },
    "ui": { "enabled": false },
    "singleProjectMode": false
  }$(if [ "$1" = firestore ] && [ -n "$RULES" ]; then printf ',\n  "firestore": { "rules": "%s" }' "$RULES"; fi)
}
EOF
	echo "$dir/firebase.json"
}

# launch UNIT BACKEND CMD... starts CMD in a new session (so a new process
# group) with its output in the unit's log, and records the group's id.
launch() {
	local unit=$1 backend=$2 pidf tmp pid i
	shift 2
	pidf=$(pid_file "$unit")
	tmp=$pidf.new
	rm -f "$tmp"
	{
		printf '== %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"
	} >"$(log_file "$unit")"
	(
		cd "$RUN_DIR/$unit"
		exec 9>&- # the run directory's lock stays with this script
		export CLOUDSDK_CORE_DISABLE_PROMPTS=1
		export CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK=1
		export CLOUDSDK_CONFIG=$RUN_DIR/$unit/gcloud-config
		export NO_UPDATE_NOTIFIER=1 NO_COLOR=1
		export FIREBASE_CLI_DISABLE_UPDATE_CHECK=true
		export FIREBASE_DEBUG_PATH=$RUN_DIR/$unit/firebase-debug.log
		export TMPDIR=$RUN_DIR/$unit/tmp
		# $$ of the inner bash is the session and group leader, whether or not
		# setsid had to fork.
		# shellcheck disable=SC2016 # expanded by the inner bash
		exec setsid bash -c 'echo "$$" >"$0"; exec "$@"' "$tmp" "$@" \
			</dev/null >>"$(log_file "$unit")" 2>&1
	) &
	for ((i = 0; i < 100; i++)); do
		if [ -s "$tmp" ]; then
			read -r pid <"$tmp"
			echo "$pid $(start_time "$pid") $backend $HOST_IP:$(port_of "$unit")" >"$pidf"
			rm -f "$tmp"
			[ -z "$RECORD" ] || echo "$unit" >>"$RECORD"
			return 0
		fi
		sleep 0.1
	done
	fb_die 1 "$(label "$unit") emulator: the launcher wrote no pid within 10s; see $(log_file "$unit")"
}

start_unit() {
	local unit=$1 port cfg
	port=$(port_of "$unit")
	mkdir -p "$RUN_DIR/$unit/tmp"
	case $unit in
	firestore)
		if [ "$FS_BACKEND" = firebase ]; then
			cfg=$(firebase_config firestore)
			launch firestore firebase "$FIREBASE_BIN" emulators:start --only firestore \
				--project "$PROJECT" --config "$cfg"
		elif [ -n "$RULES" ]; then
			launch firestore gcloud gcloud emulators firestore start --host-port="$HOST_IP:$port" --rules="$RULES"
		else
			launch firestore gcloud gcloud emulators firestore start --host-port="$HOST_IP:$port"
		fi
		;;
	auth)
		cfg=$(firebase_config auth)
		launch auth firebase "$FIREBASE_BIN" emulators:start --only auth \
			--project "$PROJECT" --config "$cfg"
		;;
	pubsub)
		mkdir -p "$RUN_DIR/pubsub/data"
		launch pubsub gcloud gcloud beta emulators pubsub start --host-port="$HOST_IP:$port" \
			--project="$PROJECT" --data-dir="$RUN_DIR/pubsub/data"
		;;
	esac
}

# stop_group UNIT PGID stops a whole process group: TERM, then KILL.
stop_group() {
	local unit=$1 pgid=$2 i
	kill -TERM -- "-$pgid" 2>/dev/null || true
	for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
		kill -0 -- "-$pgid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 -- "-$pgid" 2>/dev/null; then
		fb_log "$(label "$unit") emulator (group $pgid) still running after ${STOP_TIMEOUT}s; sending KILL"
		kill -KILL -- "-$pgid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 -- "-$pgid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	if kill -0 -- "-$pgid" 2>/dev/null; then
		fb_log "$(label "$unit") emulator (group $pgid) survived KILL"
		return 1
	fi
	rm -f "$(pid_file "$unit")"
}

log_tail() {
	fb_log "last lines of $(log_file "$1"):"
	tail -n 30 "$(log_file "$1")" | sed 's/^/    /' >&2 || true
}

# wait_ready UNIT PGID waits until the emulator answers, fails early when its
# process group is gone.
wait_ready() {
	local unit=$1 pgid=$2 deadline=$((SECONDS + START_TIMEOUT))
	while ! answers "$unit"; do
		if ! kill -0 -- "-$pgid" 2>/dev/null; then
			fb_log "$(label "$unit") emulator exited before answering on $HOST_IP:$(port_of "$unit")"
			log_tail "$unit"
			rm -f "$(pid_file "$unit")"
			return 1
		fi
		if [ $SECONDS -ge $deadline ]; then
			fb_log "$(label "$unit") emulator did not answer on $HOST_IP:$(port_of "$unit") within ${START_TIMEOUT}s (FBADMIN_START_TIMEOUT); stopping it"
			log_tail "$unit"
			stop_group "$unit" "$pgid" || true
			return 1
		fi
		sleep 0.5
	done
}

LAUNCHED=()

# on_interrupt CODE stops what this call launched, then exits with CODE.
on_interrupt() {
	local u pgid
	trap - INT TERM
	for u in "${LAUNCHED[@]}"; do
		if pgid=$(owned_pgid "$u"); then stop_group "$u" "$pgid" || true; fi
	done
	exit "$1"
}

cmd_start() {
	local units=("$@") todo=() u pgid port failed=0 t0=$SECONDS
	local -A pgids=()
	check_prereqs "${units[@]}"
	for u in "${units[@]}"; do
		if [ "$u" = auth ] || { [ "$u" = firestore ] && [ "$FS_BACKEND" = firebase ]; }; then
			fb_npm_ci
			break
		fi
	done
	# First decide, for every emulator, whether to launch it, so that a port
	# conflict stops us before anything is launched.
	for u in "${units[@]}"; do
		port=$(port_of "$u")
		if [ "$u" = firestore ] && [ -n "$RULES" ] && { owned_pgid "$u" >/dev/null || answers "$u"; }; then
			fb_die 2 "--rules $RULES: a Firestore emulator already runs on $HOST_IP:$port and keeps its rules; stop it first (scripts/emulators.sh stop firestore, if this script started it) or start one of your own with FBADMIN_FIRESTORE_PORT=PORT"
		fi
		if pgid=$(owned_pgid "$u"); then
			pgids[$u]=$pgid
			continue
		fi
		rm -f "$(pid_file "$u")"
		if answers "$u"; then
			fb_log "$(label "$u") emulator already answers on $HOST_IP:$port but was not started by this script (run dir $RUN_DIR); using it, and stop will leave it running"
			continue
		fi
		if fb_port_open "$HOST_IP" "$port"; then
			fb_die 2 "port $port on $HOST_IP ($(label "$u") emulator) is in use by another program; choose a free port with $(port_var "$u")=PORT"
		fi
		todo+=("$u")
	done
	trap 'on_interrupt 130' INT
	trap 'on_interrupt 143' TERM
	for u in "${todo[@]}"; do
		start_unit "$u"
		pgid=$(owned_pgid "$u") || fb_die 1 "$(label "$u") emulator exited at once; see $(log_file "$u")"
		pgids[$u]=$pgid
		LAUNCHED+=("$u")
	done
	for u in "${units[@]}"; do
		[ -n "${pgids[$u]:-}" ] || continue
		if wait_ready "$u" "${pgids[$u]}"; then
			if [[ " ${LAUNCHED[*]} " == *" $u "* ]]; then
				fb_log "$(label "$u") emulator ready on $HOST_IP:$(port_of "$u") (pid ${pgids[$u]}, $(backend_of "$u"), $((SECONDS - t0))s)"
			else
				fb_log "$(label "$u") emulator already running on $HOST_IP:$(port_of "$u") (pid ${pgids[$u]})"
			fi
		else
			failed=1
		fi
	done
	trap - INT TERM
	return $failed
}

cmd_stop() {
	local u pgid failed=0
	for u in "$@"; do
		if pgid=$(owned_pgid "$u"); then
			if stop_group "$u" "$pgid"; then
				fb_log "$(label "$u") emulator stopped (pid $pgid)"
			else
				failed=1
			fi
		else
			rm -f "$(pid_file "$u")"
		fi
	done
	return $failed
}

cmd_status() {
	local u pgid state all=0
	for u in "$@"; do
		if pgid=$(owned_pgid "$u"); then
			if answers "$u"; then
				state="running  pid $pgid ($(backend_of "$u"))"
			else
				state="starting pid $pgid ($(backend_of "$u")), not answering yet"
				all=3
			fi
		elif answers "$u"; then
			state="running  (not started by this script)"
		elif fb_port_open "$HOST_IP" "$(port_of "$u")"; then
			state="stopped  (port in use by another program)"
			all=3
		else
			state="stopped"
			all=3
		fi
		printf '%-10s %-22s %s\n' "$u" "$HOST_IP:$(port_of "$u")" "$state"
	done
	return $all
}

cmd_env() {
	printf 'export FIRESTORE_EMULATOR_HOST=%q\n' "$HOST_IP:$FIRESTORE_PORT"
	printf 'export FIREBASE_AUTH_EMULATOR_HOST=%q\n' "$HOST_IP:$AUTH_PORT"
	printf 'export PUBSUB_EMULATOR_HOST=%q\n' "$HOST_IP:$PUBSUB_PORT"
	printf 'export FBADMIN_PROJECT=%q\n' "$PROJECT"
	printf 'export GCLOUD_PROJECT=%q\n' "$PROJECT"
	printf 'export GOOGLE_CLOUD_PROJECT=%q\n' "$PROJECT"
}

main() {
	local cmd=${1:-}
	[ $# -gt 0 ] && shift
	RECORD=
	while [ "$cmd" = start ] && { [ "${1:-}" = --record ] || [ "${1:-}" = --rules ]; }; do
		[ $# -ge 2 ] || usage
		case $1 in
		--record) RECORD=$2 ;;
		--rules) RULES=$2 ;;
		esac
		shift 2
	done
	if [ -n "$RULES" ]; then
		[ -r "$RULES" ] || fb_die 2 "--rules $RULES: no such readable file"
		RULES=$(cd "$(dirname "$RULES")" && pwd)/$(basename "$RULES")
	fi
	local units=("$@") u
	[ ${#units[@]} -gt 0 ] || units=("${ALL_UNITS[@]}")
	for u in "${units[@]}"; do
		case $u in
		firestore | auth | pubsub) ;;
		*) fb_log "unknown emulator $u" && usage ;;
		esac
	done
	check_config
	FS_BACKEND=gcloud
	if [ "$cmd" = start ] && [[ " ${units[*]} " == *" firestore "* ]]; then
		FS_BACKEND=$(firestore_backend)
	fi
	case $cmd in
	env)
		[ $# -eq 0 ] || usage
		cmd_env
		return
		;;
	start | stop | status) ;;
	*) usage ;;
	esac
	mkdir -p "$RUN_DIR"
	RUN_DIR=$(cd "$RUN_DIR" && pwd)
	if [ "$cmd" != status ] && command -v flock >/dev/null 2>&1; then
		exec 9>"$RUN_DIR/.lock"
		flock -w $((START_TIMEOUT * 3 + 60)) 9 || fb_die 1 "another emulators.sh holds $RUN_DIR/.lock"
	fi
	"cmd_$cmd" "${units[@]}"
}

main "$@"
