#!/usr/bin/env bash
# DynamoDB Local for the dynamo adapter's tests (see scripts/testenv/run.sh).
#   dynamodb.sh start <statedir>  prints WACRM_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:<port>
#   dynamodb.sh stop <statedir>
# The official DynamoDB Local jar ships inside a pinned npm package; it is
# unpacked once into .cache/dynamodb-local and reused.
set -euo pipefail
pkg=amplify-dynamodb-simulator@2.9.30
root=$(cd "$(dirname "$0")/../.." && pwd)
cache="$root/.cache/dynamodb-local"
dir="$cache/package/emulator"

cmd=${1:-}
state=${2:-}
if [ -z "$cmd" ] || [ -z "$state" ]; then
	echo "usage: $0 start|stop <statedir>" >&2
	exit 2
fi
mkdir -p "$state"
state=$(cd "$state" && pwd)
pidfile="$state/dynamodb.pid"
log="$state/dynamodb.log"

install() {
	[ -f "$dir/DynamoDBLocal.jar" ] && return 0
	command -v npm >/dev/null || { echo "dynamodb.sh: npm not found; install Node.js 20 with npm" >&2; return 1; }
	local tmp
	tmp=$(mktemp -d "$root/.cache/dynamodb-local.XXXXXX")
	if ! (cd "$tmp" && npm pack --silent "$pkg" >/dev/null && tar xzf ./*.tgz && rm -f ./*.tgz) ||
		[ ! -f "$tmp/package/emulator/DynamoDBLocal.jar" ]; then
		rm -rf "$tmp"
		echo "dynamodb.sh: could not unpack DynamoDBLocal.jar from $pkg" >&2
		return 1
	fi
	rm -rf "$cache"
	mv "$tmp" "$cache" # rename last, so a half-done install is never reused
}

free_port() {
	node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
	mkdir -p "$root/.cache"
	command -v java >/dev/null || { echo "dynamodb.sh: java not found; install a Java 17 runtime (e.g. openjdk-17-jre-headless)" >&2; exit 1; }
	install >>"$log" 2>&1 || { echo "dynamodb.sh: installing $pkg failed, see $log" >&2; exit 1; }
	local port
	port=$(free_port)
	# DynamoDB Local has no bind-address option; it listens on all interfaces,
	# on a random port, in memory, for the life of the test run only. It runs
	# in the state dir because it writes a metadata file into its cwd.
	(
		cd "$state"
		exec nohup java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
			-Djava.library.path="$dir/DynamoDBLocal_lib" \
			-jar "$dir/DynamoDBLocal.jar" -inMemory -disableTelemetry -port "$port" \
			>>"$log" 2>&1 </dev/null
	) &
	echo $! >"$pidfile"
	for _ in $(seq 1 300); do
		if answers "$port"; then
			echo "WACRM_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:$port"
			return 0
		fi
		kill -0 "$(cat "$pidfile")" 2>/dev/null || { echo "dynamodb.sh: DynamoDB Local exited, see $log" >&2; exit 1; }
		sleep 0.1
	done
	echo "dynamodb.sh: DynamoDB Local did not answer on port $port within 30s, see $log" >&2
	stop
	exit 1
}

stop() {
	[ -f "$pidfile" ] || return 0
	local pid
	pid=$(cat "$pidfile")
	if kill "$pid" 2>/dev/null; then
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
}

case "$cmd" in
start) start ;;
stop) stop ;;
*) echo "usage: $0 start|stop <statedir>" >&2; exit 2 ;;
esac
