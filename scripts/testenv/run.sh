#!/usr/bin/env bash
# Starts the protocol servers the tests talk to (each scripts/testenv/<name>.sh),
# exports their endpoints, runs the given command, and stops them again.
#
# Contract for a server script: `<name>.sh start <statedir>` installs what it
# needs (pinned, cached under .cache/), starts the server on a free loopback
# port, waits until it answers, and prints KEY=VALUE lines (endpoints) on
# stdout; `<name>.sh stop <statedir>` stops it. Logs go to <statedir>/<name>.log.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=$(mktemp -d "${TMPDIR:-/tmp}/wacrm-testenv.XXXXXX")
started=()
cleanup() {
	for s in "${started[@]}"; do "$here/$s.sh" stop "$state" || true; done
	rm -rf "$state"
}
trap cleanup EXIT INT TERM

for script in "$here"/*.sh; do
	name=$(basename "$script" .sh)
	[ "$name" = run ] && continue
	if ! out=$("$script" start "$state"); then
		echo "testenv: $name failed to start; its log:" >&2
		tail -n 40 "$state/$name.log" >&2 2>/dev/null || true
		exit 1
	fi
	started+=("$name")
	while IFS= read -r line; do
		[ -n "$line" ] && export "${line?}"
	done <<<"$out"
done
export WACRM_REQUIRE_SERVERS=1
"$@"
