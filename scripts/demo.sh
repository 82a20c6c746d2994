#!/usr/bin/env bash
# The README's "main job" on the local emulators: installs what is missing
# (firebase-tools with npm ci), starts the emulator suite, seeds sample data
# and runs real work through the library and the fbadmin binary, printing each
# step. The emulators stay up afterwards so you can go on by hand; stop them
# with scripts/emulators.sh stop.
#
#   scripts/demo.sh [-n DOCS]     (default 2000 generated documents)
#
# Every run uses a fresh project ID (demo-fbadmin-demo-<time>) so runs never
# see each other's data.

# shell_join ARG... prints the arguments quoted for the shell as fbadmin's
# own printed commands are (cliout.ShellQuote): what the demo echoes pastes
# as it is (an unquoted --where 'population > 1000000' would redirect).
shell_join() {
	local safe='^[A-Za-z0-9/._:=@,+%-]+$' out=() a
	for a in "$@"; do
		if [[ $a =~ $safe ]]; then
			out+=("$a")
		else
			out+=("'${a//\'/\'\\\'\'}'")
		fi
	done
	printf '%s\n' "${out[*]}"
}

# first_record FILE prints the first line of an NDJSON file, whole.
first_record() {
	head -n 1 "$1"
}

# Sourced (as cmd/fbadmin's TestDemoPrinting does): the functions only.
[[ ${BASH_SOURCE[0]} == "$0" ]] || return 0

set -euo pipefail
FBADMIN_SCRIPT=demo.sh
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$FBADMIN_ROOT"

n=2000
while [ $# -gt 0 ]; do
	case $1 in
	-n) n=${2:?-n needs a number}; shift 2 ;;
	-h | --help) sed -n '2,12p' "$0"; exit 0 ;;
	*) fb_die 2 "unknown argument $1 (usage: scripts/demo.sh [-n DOCS])" ;;
	esac
done

fb_need_cmd go "Go 1.26 from https://go.dev/dl/"
export NO_UPDATE_NOTIFIER=1 FIREBASE_CLI_DISABLE_UPDATE_CHECK=true
fb_npm_ci
scripts/emulators.sh start
eval "$(scripts/emulators.sh env)"

project="demo-fbadmin-demo-$(date +%s)"
bin=.run/bin/fbadmin
step() { printf '\n### %s\n' "$*"; }

step "build fbadmin into $bin"
mkdir -p .run/bin
CGO_ENABLED=0 go build -o "$bin" ./cmd/fbadmin
"$bin" version

step "library: seed and work with typed repositories (project $project)"
go run ./internal/cmd/demo -project "$project" -n "$n"

fb=("$bin" --emulator --project "$project")
run() { printf '$ fbadmin %s\n' "$(shell_join "$@")"; "${fb[@]}" "$@"; }

step "CLI: read, write and query the same data"
run fs get cities/paris -o json
run fs set users/alice --data '{"name":"Alice","age":30,"balance":{"$int":"9007199254740993"},"avatar":{"$bytes":"iVBORw0K"},"home":{"$ref":"projects/'"$project"'/databases/(default)/documents/cities/paris"}}'
run fs create users --data '{"name":"Auto ID"}'
run fs query cities --where 'population > 1000000' --order-by population:desc --select name,population -o ndjson
run fs count cities --where 'country == "JP"' --sum population
run fs collections

step "CLI: export everything, delete it, import it back losslessly"
dump=".run/demo-$project.ndjson"
run fs export --out "$dump"
printf '    %s lines, first: %s\n' "$(wc -l <"$dump")" "$(first_record "$dump")"
run fs delete cities --recursive --yes
run fs import "$dump" --mode set
run fs get users/alice -o json

step "serve: the REST, GraphQL and WebSocket gateway, behind Firebase ID tokens"
# The Auth emulator issues ID tokens for its own project only, so the server
# runs on that project ($FBADMIN_PROJECT), in a collection of this run.
coll="demo-posts-$(date +%s)"
port=${FBADMIN_DEMO_SERVE_PORT:-18088}
cfg=".run/demo-serve.yaml"
cat >"$cfg" <<EOC
rules:
  - match: $coll
    allow: [read]
  - match: $coll
    allow: [write]
    claims: {admin: true}
EOC
srv=("$bin" --emulator --project "$FBADMIN_PROJECT")
printf '$ fbadmin %s\n' "$(shell_join serve --config "$cfg" --check)"
"${srv[@]}" serve --config "$cfg" --check
if command -v curl >/dev/null; then
	"${srv[@]}" serve --config "$cfg" --addr "127.0.0.1:$port" 2>.run/demo-serve.log &
	srv_pid=$!
	trap 'kill "$srv_pid" 2>/dev/null || true' EXIT
	for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
	token_of() { "${srv[@]}" auth token mint "$@" | "${srv[@]}" auth token exchange - -o ndjson | sed -n 's/.*"id_token":"\([^"]*\)".*/\1/p'; }
	admin=$(token_of demo-admin --claims '{"admin":true}')
	user=$(token_of demo-user)
	api() { printf '$ curl -X %s %s\n' "$2" "$3"; curl -s -H "Authorization: Bearer $1" -X "$2" "http://127.0.0.1:$port$3" ${4:+-H 'Content-Type: application/json' -d "$4"}; echo; }
	api "$admin" POST "/v1/docs/$coll?id=hello" '{"title":"Hello","views":{"$int":"9007199254740993"}}'
	api "$user" GET "/v1/docs/$coll/hello"
	api "$user" PATCH "/v1/docs/$coll/hello" '{"title":"mine now"}'
	api "$user" POST /v1/query '{"collection":"'"$coll"'","order_by":[{"field":"title"}],"page_size":10}'
	api "$user" POST /graphql '{"query":"{ documents(collection: \"'"$coll"'\", first: 5) { edges { node { id data } } pageInfo { hasNextPage endCursor } } }"}'
	kill -INT "$srv_pid"
	wait "$srv_pid" || true
	trap - EXIT
	printf '    server log: .run/demo-serve.log (%s lines)\n' "$(wc -l <.run/demo-serve.log)"
else
	echo "    (curl is not installed: skipping the live requests; see docs/serve.md)"
fi

step "done"
cat <<EOM
The emulators are still running (scripts/emulators.sh status). Try:
    eval "\$(scripts/emulators.sh env)"
    $bin --emulator --project $project fs query cities -o table
Stop them with: scripts/emulators.sh stop
EOM
