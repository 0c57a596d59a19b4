#!/usr/bin/env bash
# SQS stand-in for the tests: npm fauxqs@1.9.2 (2.x needs Node 22), which
# speaks SQS's JSON protocol (the one the current aws-sdk-go-v2 uses).
#
#   sqs.sh start <statedir>   prints WACRM_TEST_SQS_ENDPOINT=http://127.0.0.1:<port>
#   sqs.sh stop <statedir>
#
# fauxqs's own CLI listens on 0.0.0.0:4566; we start its exported buildApp on
# a free loopback port instead, so nothing is reachable from outside and
# parallel runs do not collide.
#
# Where fauxqs differs from SQS we patch it to behave like SQS:
# - its body character check tests UTF-16 code units, so it refuses every
#   character above U+FFFF (emoji) that SQS accepts (#x10000-#x10FFFF).
set -euo pipefail
version=1.9.2
root=$(cd "$(dirname "$0")/../.." && pwd)
cache="$root/.cache/fauxqs"
cmd=${1:-}
state=${2:-}
[ -n "$cmd" ] && [ -n "$state" ] || {
	echo "usage: $0 start|stop <statedir>" >&2
	exit 2
}
log="$state/sqs.log"
pidfile="$state/sqs.pid"
portfile="$state/sqs.port"

# patch_fauxqs lets bodies hold characters above U+FFFF, as SQS does.
# Idempotent; fails if the line it patches is not there.
patch_fauxqs() {
	node - "$1" <<'JS'
const fs = require("node:fs");
const file = process.argv[2];
const old = String.raw`INVALID_MESSAGE_BODY_CHAR = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD]/;`;
const fixed = String.raw`INVALID_MESSAGE_BODY_CHAR = /[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;`;
const src = fs.readFileSync(file, "utf8");
if (src.includes(fixed)) process.exit(0);
if (!src.includes(old)) { console.error("patch_fauxqs: character check not found in " + file); process.exit(1); }
fs.writeFileSync(file, src.replace(old, fixed));
console.log("patch_fauxqs: body character check now allows #x10000-#x10FFFF");
JS
}

case "$cmd" in
start)
	mkdir -p "$state"
	if ! command -v node >/dev/null 2>&1; then
		echo "sqs.sh: node is not installed; fauxqs (the SQS stand-in) needs Node 20+" | tee -a "$log" >&2
		exit 1
	fi
	app="$cache/node_modules/fauxqs/dist/app.js"
	# Installed from the committed lockfile, so fauxqs's own dependencies are pinned too.
	if ! cmp -s "$root/scripts/testenv/fauxqs/package-lock.json" "$cache/package-lock.json" ||
		! grep -q "\"version\": \"$version\"" "$cache/node_modules/fauxqs/package.json" 2>/dev/null; then
		mkdir -p "$cache"
		cp "$root/scripts/testenv/fauxqs/package.json" "$root/scripts/testenv/fauxqs/package-lock.json" "$cache/"
		npm ci --prefix "$cache" --no-audit --no-fund --loglevel=error >>"$log" 2>&1
	fi
	patch_fauxqs "$cache/node_modules/fauxqs/dist/sqs/sqsTypes.js" >>"$log" 2>&1 || {
		echo "sqs.sh: could not patch fauxqs; see $log" >&2
		exit 1
	}
	rm -f "$portfile"
	# The launcher writes the port it got to $portfile once it is listening.
	FAUXQS_APP="$app" FAUXQS_PORTFILE="$portfile" nohup node --input-type=module -e '
import { writeFileSync, renameSync } from "node:fs";
import { pathToFileURL } from "node:url";
const { buildApp } = await import(pathToFileURL(process.env.FAUXQS_APP).href);
const app = buildApp({ logger: false });
const address = await app.listen({ port: 0, host: "127.0.0.1" });
const port = new URL(address).port;
writeFileSync(process.env.FAUXQS_PORTFILE + ".tmp", port);
renameSync(process.env.FAUXQS_PORTFILE + ".tmp", process.env.FAUXQS_PORTFILE);
console.log("fauxqs listening on " + address);
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => app.close().then(() => process.exit(0)));
' >>"$log" 2>&1 &
	echo $! >"$pidfile"
	for _ in $(seq 1 100); do
		if [ -s "$portfile" ]; then
			port=$(cat "$portfile")
			if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
				echo "WACRM_TEST_SQS_ENDPOINT=http://127.0.0.1:$port"
				exit 0
			fi
		fi
		if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
			echo "sqs.sh: fauxqs exited during start; see $log" >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "sqs.sh: fauxqs did not answer within 10 s; see $log" >&2
	kill "$(cat "$pidfile")" 2>/dev/null || true
	exit 1
	;;
stop)
	if [ -s "$pidfile" ]; then
		pid=$(cat "$pidfile")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$pidfile" "$portfile"
	fi
	;;
*)
	echo "usage: $0 start|stop <statedir>" >&2
	exit 2
	;;
esac
