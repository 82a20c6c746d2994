#!/usr/bin/env bash
# Builds fbadmin's release binaries as .goreleaser.yaml does, with the Go
# toolchain alone: linux, darwin and windows on amd64 and arm64, static
# (CGO_ENABLED=0), -trimpath, and the version, commit and date that
# `fbadmin version` prints injected with -ldflags -X. Prints each binary's
# SHA-256 (the checksums.txt of a release), then runs the binary of this
# machine's platform to check that it reports what was injected.
#
#   scripts/release-check.sh [OUT_DIR]
#
# OUT_DIR (default: a temporary directory, removed at the end) receives
# fbadmin_VERSION_OS_ARCH/fbadmin[.exe] and checksums.txt. The version is
# FBADMIN_VERSION, else `git describe --tags`, else v0.0.0-dev.
#
# It is not part of scripts/test.sh: six optimised builds take several
# minutes on a fresh machine (test.sh already checks that the six platforms
# compile and link, without optimisation). GoReleaser itself, pinned in
# .goreleaser.yaml's header, makes the archives of a release.
#
# Exit status: 0 when every build succeeds and the version checks out, 1
# otherwise, 2 for a missing prerequisite.

set -euo pipefail
FBADMIN_SCRIPT=release-check.sh
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fb_need_cmd go "$FB_HINT_GO"
fb_need_cmd sha256sum "coreutils"
cd "$FBADMIN_ROOT"

version=${FBADMIN_VERSION:-$(git describe --tags --always --match 'v*' 2>/dev/null || true)}
[[ $version == v* ]] || version=v0.0.0-dev
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]]; then
	commit+=-dirty
fi
# The commit's time in UTC, as GoReleaser's {{ .CommitDate }}.
date=$(TZ=UTC0 git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd 2>/dev/null ||
	date -u +%Y-%m-%dT%H:%M:%SZ)
ldflags="-s -w -X main.version=$version -X main.commit=$commit -X main.date=$date"

out=${1:-}
if [[ -z $out ]]; then
	out=$(mktemp -d)
	trap 'rm -rf "$out"' EXIT
fi
mkdir -p "$out"

rc=0
for target in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64; do
	os=${target%/*} arch=${target#*/}
	exe=fbadmin
	[[ $os == windows ]] && exe=fbadmin.exe
	dir="fbadmin_${version#v}_${os}_${arch}"
	if ! GOOS=$os GOARCH=$arch CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$dir/$exe" ./cmd/fbadmin; then
		fb_log "the build for $target failed"
		rc=1
	fi
done
(cd "$out" && find . -name 'fbadmin*' -type f | sed 's|^\./||' | sort | xargs sha256sum) | tee "$out/checksums.txt"

host="$out/fbadmin_${version#v}_$(go env GOOS)_$(go env GOARCH)/fbadmin"
[[ $(go env GOOS) == windows ]] && host+=.exe
if [[ -x $host ]]; then
	got=$("$host" version -o json)
	for want in "\"version\": \"$version\"" "\"commit\": \"$commit\"" "\"date\": \"$date\""; do
		if [[ $got != *"$want"* ]]; then
			fb_log "fbadmin version does not show $want: $got"
			rc=1
		fi
	done
	# A static binary: no dynamic section on Linux.
	if [[ $(go env GOOS) == linux ]] && command -v file >/dev/null && file "$host" | grep -q 'dynamically linked'; then
		fb_log "$host is dynamically linked"
		rc=1
	fi
fi
[[ $rc == 0 ]] && fb_log "6 binaries of fbadmin $version ($commit, $date) in $out"
exit $rc
