#!/usr/bin/env bash
# probe.sh builds parley's interop server, grpc-go's (cmd/grpcinteropserver)
# and h2probe, runs every h2probe attack against each server, a fresh server
# process per attack so that no attack inherits another's damage, and prints
# one Markdown table per server, then the client-ping-flood rows.
#
# Environment: GO (the go command), ATTACKS (space-separated attack names;
# default all of them), PROBEFLAGS (more h2probe flags, e.g. -duration 5s).
set -uo pipefail

GO=${GO:-go}
root=$(cd "$(dirname "$0")/../../.." && pwd)
bin=$(mktemp -d)
server_pid=

stop_server() {
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
		server_pid=
	fi
}
trap 'stop_server; rm -rf "$bin"' EXIT

(cd "$root" && "$GO" build -o "$bin/parley-interop" ./examples/interop/server) || exit 1
(cd "$root/interop" && "$GO" build -o "$bin/grpc-interop" ./cmd/grpcinteropserver && "$GO" build -o "$bin/h2probe" ./cmd/h2probe) || exit 1

attacks=${ATTACKS:-$("$bin/h2probe" -list)}

# run_table NAME BINARY: one table row per attack, each against a new
# server process on a free loopback port.
run_table() {
	local name=$1 server=$2 header=-header notes=
	echo
	echo "### $name"
	echo
	for a in $attacks; do
		local port log
		port=$("$bin/h2probe" -free-port) || exit 1
		log="$bin/$name-$a.log"
		"$server" -addr "127.0.0.1:$port" 2>"$log" &
		server_pid=$!
		# shellcheck disable=SC2086
		"$bin/h2probe" -addr "127.0.0.1:$port" -pid "$server_pid" -attack "$a" -kill $header ${PROBEFLAGS:-}
		header=
		if ! kill -0 "$server_pid" 2>/dev/null || grep -q '^State:.*Z' "/proc/$server_pid/status" 2>/dev/null; then
			wait "$server_pid" 2>/dev/null
			notes+="$a: the server exited ($?); the end of its output:"$'\n'"$(tail -n 5 "$log" | cut -c1-300)"$'\n'
			server_pid=
		fi
		stop_server
	done
	if [ -n "$notes" ]; then
		echo
		printf '%s' "$notes"
	fi
}

run_table parley "$bin/parley-interop"
run_table grpc-go "$bin/grpc-interop"
echo
echo "### client-ping-flood (RSS of the client process)"
echo
# shellcheck disable=SC2086
"$bin/h2probe" -attack client-ping-flood -header ${PROBEFLAGS:-}
