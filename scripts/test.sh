#!/usr/bin/env bash
# Runs fbadmin's checks and tests against the local emulator suite. This is
# the test command the README names and the one CI runs (.ci/run).
#
#   scripts/test.sh [go test flags] [./package...]
#
# 1. Installs firebase-tools (npm ci in emulator/) when it is missing or older
#    than emulator/package-lock.json, and (as root) the Debian packages dbus
#    and gnome-keyring for the Secret Service test when they are missing,
#    and chromium for the console's browser tests (FBADMIN_CHROMIUM names
#    another Chrome or Chromium binary).
# 2. Starts the emulators that are not running yet (scripts/emulators.sh
#    start) and exports their hosts.
#    Starts the PostgreSQL test cluster the same way when it is not running
#    (scripts/postgres.sh start; FBADMIN_SKIP_POSTGRES=1 skips it, and the
#    tests that need it then skip, or fail under CI=true).
# 3. Checks: gofmt -l, go vet, staticcheck (go tool staticcheck; set
#    FBADMIN_SKIP_STATICCHECK=1 to skip it), golangci-lint with
#    .golangci.yml (the layering rules; installed at a pinned version on
#    first use; FBADMIN_SKIP_LINT=1 skips it) and, when the whole tree is
#    tested, go build of cmd/fbadmin for linux, darwin and windows on amd64
#    and arm64 with CGO_ENABLED=0 (FBADMIN_SKIP_CROSSBUILD=1 skips them).
# 4. go test -race -count=1 -timeout $FBADMIN_TEST_TIMEOUT [args] ./...
#    It includes TestDocExamples (cmd/fbadmin/docexamples_test.go), which
#    runs every ```sh example of README.md and docs/*.md, in order, as
#    pasted, against these emulators (-run TestDocExamples for it alone).
# 5. Stops the emulators (and PostgreSQL) this run started, also when
#    something failed or the run was interrupted; emulators that were
#    already running stay up.
#
# Arguments go to go test. When one of them starts with ./ the arguments name
# the packages (vet and staticcheck then check those only); otherwise ./... is
# tested. The emulator ports and run directory follow scripts/emulators.sh's
# variables (FBADMIN_FIRESTORE_PORT, FBADMIN_RUN_DIR, ...).
#
# Exit status: go test's status; 1 when the tests pass but a check failed; 2
# for a missing prerequisite.

set -euo pipefail
FBADMIN_SCRIPT=test.sh
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FBADMIN_ROOT"

fb_need_cmd go "$FB_HINT_GO"
export NO_UPDATE_NOTIFIER=1 FIREBASE_CLI_DISABLE_UPDATE_CHECK=true

pkgs=()
for arg in "$@"; do
	case $arg in
	./* | ../*) pkgs+=("$arg") ;;
	esac
done
default_pkgs=()
if [ ${#pkgs[@]} -eq 0 ]; then
	pkgs=(./...)
	default_pkgs=(./...)
fi

record=$(mktemp "${TMPDIR:-/tmp}/fbadmin-started.XXXXXX")
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if grep -qx postgres "$record" 2>/dev/null; then
		scripts/postgres.sh stop || fb_log "could not stop the PostgreSQL cluster this run started; see scripts/postgres.sh status"
	fi
	if grep -qvx postgres "$record" 2>/dev/null; then
		# shellcheck disable=SC2046 # one word per emulator name
		scripts/emulators.sh stop $(grep -vx postgres "$record" | sort -u) ||
			fb_log "could not stop every emulator this run started; see scripts/emulators.sh status"
	fi
	rm -f "$record"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$SECONDS
# timed NAME CMD... runs CMD, logging how long it took; returns its status.
timed() {
	local name=$1 start=$SECONDS rc=0
	shift
	fb_log "$name ..."
	"$@" || rc=$?
	if [ $rc -eq 0 ]; then
		fb_log "$name: ok ($((SECONDS - start))s)"
	else
		fb_log "$name: FAILED with status $rc ($((SECONDS - start))s)"
	fi
	return $rc
}

fb_npm_ci
# The Secret Service that auth/session's TestSecretService starts for itself
# (a private D-Bus session bus and gnome-keyring); root installs the Debian
# packages when they are missing.
if ! command -v dbus-daemon >/dev/null 2>&1 || ! command -v gnome-keyring-daemon >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		fb_log "installing dbus and gnome-keyring with apt-get (for the keyring test)"
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q dbus gnome-keyring >/dev/null 2>&1 ||
			{ apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q dbus gnome-keyring >/dev/null 2>&1; }; } ||
			fb_log "warning: apt-get install dbus gnome-keyring failed; auth/session's TestSecretService will fail under CI=true"
	else
		fb_log "warning: dbus-daemon or gnome-keyring-daemon is missing (apt-get install dbus gnome-keyring); TestSecretService will skip, or fail under CI=true"
	fi
fi
# Headless Chromium for the console's browser tests (console/browser_test.go,
# through chromedp); root installs the Debian package when it is missing.
# FBADMIN_CHROMIUM names another binary.
if [ -n "${FBADMIN_CHROMIUM:-}" ]; then
	[ -x "$FBADMIN_CHROMIUM" ] || command -v "$FBADMIN_CHROMIUM" >/dev/null 2>&1 ||
		fb_log "warning: FBADMIN_CHROMIUM=$FBADMIN_CHROMIUM is not an executable; the console's browser tests will fail under CI=true"
elif ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 &&
	! command -v google-chrome >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		fb_log "installing chromium with apt-get (for the console's browser tests)"
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 ||
			{ apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; }; } ||
			fb_log "warning: apt-get install chromium failed; the console's browser tests will fail under CI=true"
	else
		fb_log "warning: chromium is missing (apt-get install chromium, or set FBADMIN_CHROMIUM); the console's browser tests will skip, or fail under CI=true"
	fi
fi
timed "start emulators" scripts/emulators.sh start --record "$record"
eval "$(scripts/emulators.sh env)"
if [ "${FBADMIN_SKIP_POSTGRES:-}" = 1 ]; then
	fb_log "PostgreSQL skipped (FBADMIN_SKIP_POSTGRES=1)"
else
	timed "start postgres" scripts/postgres.sh start --record "$record"
	eval "$(scripts/postgres.sh env)"
fi
fb_log "FIRESTORE_EMULATOR_HOST=$FIRESTORE_EMULATOR_HOST FIREBASE_AUTH_EMULATOR_HOST=$FIREBASE_AUTH_EMULATOR_HOST PUBSUB_EMULATOR_HOST=$PUBSUB_EMULATOR_HOST FBADMIN_PROJECT=$FBADMIN_PROJECT"

# go_files prints, NUL-separated, the Go files of the packages checked: the
# whole tree for ./..., one directory for ./dir.
go_files() {
	local p
	for p in "${pkgs[@]}"; do
		case $p in
		... | */...)
			p=${p%...}
			find "${p:-.}" \( -path ./.git -o -path ./.run -o -path ./emulator/node_modules -o -name testdata \) -prune \
				-o -name '*.go' -print0
			;;
		*) find "$p" -maxdepth 1 -name '*.go' -print0 ;;
		esac
	done
}

gofmt_check() {
	local out f
	out=$(go_files | xargs -0 -r gofmt -l)
	if [ -n "$out" ]; then
		fb_log "not gofmt-formatted (run gofmt -w on them):"
		while IFS= read -r f; do printf '    %s\n' "$f"; done <<<"$out" >&2
		return 1
	fi
}

staticcheck_check() {
	if [ "${FBADMIN_SKIP_STATICCHECK:-}" = 1 ]; then
		fb_log "staticcheck skipped (FBADMIN_SKIP_STATICCHECK=1)"
		return 0
	fi
	if ! go tool -n staticcheck >/dev/null 2>&1; then
		fb_log "staticcheck is not a tool of go.mod (go get -tool honnef.co/go/tools/cmd/staticcheck@v0.8.2); skipped"
		return 0
	fi
	go tool staticcheck "${pkgs[@]}"
}

# golangci-lint runs the linters of .golangci.yml (depguard's layering rules
# above all) at this version, installed with go install from the Go module
# proxy into GOBIN (or GOPATH/bin) when it is missing or another version;
# later runs reuse it.
GOLANGCI_LINT_VERSION=v2.15.0

golangci_lint_check() {
	if [ "${FBADMIN_SKIP_LINT:-}" = 1 ]; then
		fb_log "golangci-lint skipped (FBADMIN_SKIP_LINT=1)"
		return 0
	fi
	local dir bin gopath
	dir=$(go env GOBIN)
	if [ -z "$dir" ]; then
		gopath=$(go env GOPATH)
		dir=${gopath%%:*}/bin
	fi
	bin=$dir/golangci-lint
	if ! "$bin" version 2>/dev/null | grep -q "version ${GOLANGCI_LINT_VERSION#v} "; then
		fb_log "installing golangci-lint $GOLANGCI_LINT_VERSION into $dir (once; later runs reuse it)"
		CGO_ENABLED=0 go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION" || return
	fi
	"$bin" run "${pkgs[@]}"
}

# cross_build builds the binary for every released platform, without cgo:
# a platform-specific call (a Unix-only syscall, say) breaks one of them.
# Each platform compiles the whole dependency tree once (minutes on a fresh
# machine, seconds from the build cache), so the builds skip what only the
# machine code needs: optimisation and inlining (-N -l, as debuggers build)
# and the symbol table (-s -w). What compiles and links is the same.
cross_build() {
	local target rc=0
	for target in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64; do
		GOOS=${target%/*} GOARCH=${target#*/} CGO_ENABLED=0 \
			go build -gcflags='all=-N -l' -ldflags='-s -w' -o /dev/null ./cmd/fbadmin ||
			{ fb_log "the build for $target failed"; rc=1; }
	done
	return $rc
}

checks_failed=0
timed "gofmt" gofmt_check || checks_failed=1
timed "go vet" go vet "${pkgs[@]}" || checks_failed=1
timed "staticcheck" staticcheck_check || checks_failed=1
timed "golangci-lint" golangci_lint_check || checks_failed=1
if [ "${FBADMIN_SKIP_CROSSBUILD:-}" = 1 ]; then
	fb_log "cross-build skipped (FBADMIN_SKIP_CROSSBUILD=1)"
elif [ ${#default_pkgs[@]} -gt 0 ]; then # the whole tree: not for a run of named packages
	timed "cross-build (6 platforms)" cross_build || checks_failed=1
fi

race=(-race)
if [ "$(go env CGO_ENABLED)" != 1 ]; then
	fb_log "warning: go test -race needs cgo and a C compiler (e.g. apt-get install gcc); running without -race"
	race=()
fi
test_rc=0
timed "go test" go test "${race[@]}" -count=1 -timeout "${FBADMIN_TEST_TIMEOUT:-25m}" "$@" "${default_pkgs[@]}" || test_rc=$?

fb_log "total $((SECONDS - t0))s"
if [ $test_rc -ne 0 ]; then
	exit $test_rc
fi
if [ $checks_failed -ne 0 ]; then
	fb_log "tests passed but a check failed (see above)"
	exit 1
fi
