#!/usr/bin/env bash
# The OpenAPI client test's tools (not a server): npm openapi-typescript
# generates TypeScript types from the served document, typescript
# type-checks a client written against them, @redocly/cli lints the
# document. Pinned in scripts/testenv/openapi/package-lock.json and
# installed once into .cache/openapi-tools.
#
#   openapi.sh start <statedir>   prints WACRM_TEST_OPENAPI_TOOLS=<dir with the tools' bin links>
#   openapi.sh stop <statedir>    nothing to stop
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
src="$root/scripts/testenv/openapi"
cache="$root/.cache/openapi-tools"
cmd=${1:-}
state=${2:-}
[ -n "$cmd" ] && [ -n "$state" ] || {
	echo "usage: $0 start|stop <statedir>" >&2
	exit 2
}
log="$state/openapi.log"

case "$cmd" in
start)
	mkdir -p "$state"
	if ! command -v node >/dev/null 2>&1; then
		echo "openapi.sh: node is not installed; the OpenAPI tools need Node 20.19+" | tee -a "$log" >&2
		exit 1
	fi
	# Reinstalled only when the committed lockfile changes.
	if ! cmp -s "$src/package-lock.json" "$cache/package-lock.json" || [ ! -x "$cache/node_modules/.bin/tsc" ]; then
		mkdir -p "$cache"
		cp "$src/package.json" "$src/package-lock.json" "$cache/"
		(cd "$cache" && npm ci --no-audit --no-fund --loglevel=error) >>"$log" 2>&1 || {
			echo "openapi.sh: npm ci failed; see $log" >&2
			exit 1
		}
	fi
	echo "WACRM_TEST_OPENAPI_TOOLS=$cache/node_modules/.bin"
	;;
stop) ;;
*)
	echo "usage: $0 start|stop <statedir>" >&2
	exit 2
	;;
esac
