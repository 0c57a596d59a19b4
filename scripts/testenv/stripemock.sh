#!/usr/bin/env bash
# Stripe's API stand-in for the tests: github.com/stripe/stripe-mock, built
# with `go install` at a pinned version into .cache/stripe-mock/.
#
#   stripemock.sh start <statedir>   prints WACRM_TEST_STRIPE_URL=http://127.0.0.1:<port>
#   stripemock.sh stop <statedir>
set -euo pipefail
version=v0.203.0
root=$(cd "$(dirname "$0")/../.." && pwd)
cache="$root/.cache/stripe-mock/$version"
cmd=${1:-}
state=${2:-}
[ -n "$cmd" ] && [ -n "$state" ] || {
	echo "usage: $0 start|stop <statedir>" >&2
	exit 2
}
log="$state/stripemock.log"
pidfile="$state/stripemock.pid"

case "$cmd" in
start)
	mkdir -p "$state" "$cache"
	bin="$cache/stripe-mock"
	if [ ! -x "$bin" ]; then
		(cd "$cache" && GOBIN="$cache" GOFLAGS=-mod=mod go install "github.com/stripe/stripe-mock@$version") >>"$log" 2>&1 || {
			echo "stripemock.sh: go install stripe-mock@$version failed; see $log" >&2
			exit 1
		}
	fi
	port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
	# stripe-mock also serves HTTPS on :12112 on every interface unless told
	# otherwise: a free loopback port keeps two runs (or a stale one) apart.
	nohup "$bin" -http-addr "127.0.0.1:$port" -https-addr 127.0.0.1:0 >>"$log" 2>&1 &
	echo $! >"$pidfile"
	for _ in $(seq 1 100); do
		if curl -fsS -H "Authorization: Bearer sk_test_123" "http://127.0.0.1:$port/v1/customers" >/dev/null 2>&1; then
			echo "WACRM_TEST_STRIPE_URL=http://127.0.0.1:$port"
			exit 0
		fi
		if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
			echo "stripemock.sh: stripe-mock exited during start; see $log" >&2
			exit 1
		fi
		sleep 0.1
	done
	echo "stripemock.sh: stripe-mock did not answer within 10 s; see $log" >&2
	kill "$(cat "$pidfile")" 2>/dev/null || true
	exit 1
	;;
stop)
	if [ -s "$pidfile" ]; then
		pid=$(cat "$pidfile")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$pidfile"
	fi
	;;
*)
	echo "usage: $0 start|stop <statedir>" >&2
	exit 2
	;;
esac
