# shellcheck shell=bash disable=SC2034 # the FB_HINT_* are used by the scripts that source this
# Shared helpers for fbadmin's scripts. Source it from bash; do not run it.
#
# Everything here logs to stderr: stdout belongs to the calling script.

FBADMIN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FBADMIN_SCRIPT=${FBADMIN_SCRIPT:-$(basename "$0")}

# fb_log MESSAGE... prints one line to stderr, prefixed with the script name.
fb_log() {
	printf '%s: %s\n' "$FBADMIN_SCRIPT" "$*" >&2
}

# fb_die CODE MESSAGE... logs MESSAGE and exits with CODE.
fb_die() {
	local code=$1
	shift
	fb_log "$*"
	exit "$code"
}

# fb_missing WHAT HINT exits 2 with one line naming what to install.
fb_missing() {
	fb_die 2 "missing prerequisite: $1 not found on PATH; install $2"
}

# fb_need_cmd CMD HINT exits 2 when CMD is not on PATH.
fb_need_cmd() {
	command -v "$1" >/dev/null 2>&1 || fb_missing "$1" "$2"
}

# Install hints, shared so every script says the same thing.
FB_HINT_JAVA="a Java runtime, 17 or newer (e.g. apt-get install openjdk-17-jre-headless)"
FB_HINT_NODE="Node.js 20 or newer with npm (https://nodejs.org/ or apt-get install nodejs npm)"
FB_HINT_NPM="npm, which comes with Node.js 20 or newer (https://nodejs.org/)"
FB_HINT_GCLOUD="the Google Cloud CLI with its Firestore and Pub/Sub emulators (apt-get install google-cloud-cli google-cloud-cli-firestore-emulator google-cloud-cli-pubsub-emulator)"
FB_HINT_GO="Go 1.26 or newer (https://go.dev/dl/)"

# fb_check_port NAME VALUE VARIABLE exits 2 unless VALUE is a TCP port number.
fb_check_port() {
	case $2 in
	'' | *[!0-9]*) fb_die 2 "$3=$2 is not a port number (for the $1)" ;;
	esac
	if [ "$2" -lt 1 ] || [ "$2" -gt 65535 ]; then
		fb_die 2 "$3=$2 is out of range 1-65535 (for the $1)"
	fi
}

# fb_port_open HOST PORT succeeds when something accepts TCP connections
# there.
fb_port_open() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# fb_http_get HOST PORT PATH prints the body of an HTTP GET, or fails. Uses
# curl when present and bash's /dev/tcp otherwise.
fb_http_get() {
	if command -v curl >/dev/null 2>&1; then
		curl -fsS --max-time 3 "http://$1:$2$3" 2>/dev/null
		return
	fi
	# shellcheck disable=SC2016 # expanded by the inner bash
	timeout 3 bash -c '
		exec 3<>"/dev/tcp/$0/$1" || exit 1
		printf "GET %s HTTP/1.0\r\nHost: %s:%s\r\nConnection: close\r\n\r\n" "$2" "$0" "$1" >&3
		sed "1,/^\r\{0,1\}$/d" <&3' "$1" "$2" "$3" 2>/dev/null
}

# fb_npm_ci installs emulator/node_modules with `npm ci` when it is missing or
# older than emulator/package-lock.json. Concurrent callers wait for each
# other. Install scripts are skipped: the only ones in the tree are re2's
# (an optional native regex engine for Hosting, which compiles C++ when no
# prebuilt binary can be downloaded) and protobufjs' version notice; the
# emulators need neither.
fb_npm_ci() {
	local dir=$FBADMIN_ROOT/emulator
	local stamp=$dir/node_modules/.package-lock.json
	if [ -f "$stamp" ] && ! [ "$dir/package-lock.json" -nt "$stamp" ]; then
		return 0
	fi
	fb_need_cmd node "$FB_HINT_NODE"
	fb_need_cmd npm "$FB_HINT_NPM"
	mkdir -p "$FBADMIN_ROOT/.run"
	(
		if command -v flock >/dev/null 2>&1; then
			exec 8>"$FBADMIN_ROOT/.run/npm-ci.lock"
			flock 8
		fi
		# Another caller may have finished the install while we waited.
		if [ -f "$stamp" ] && ! [ "$dir/package-lock.json" -nt "$stamp" ]; then
			exit 0
		fi
		fb_log "installing firebase-tools into emulator/node_modules (npm ci; takes a few minutes)"
		local start=$SECONDS
		cd "$dir" &&
			NO_UPDATE_NOTIFIER=1 npm_config_update_notifier=false \
				npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2 ||
			fb_die 1 "npm ci failed in $dir; see the npm output above"
		fb_log "npm ci done in $((SECONDS - start))s"
	) || exit
}
