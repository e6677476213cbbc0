#!/usr/bin/env bash
# Measures parley's server against grpc-go's with a load client the
# project does not contain: ghz (a grpc-go client) drives unary calls with
# protobuf payloads against parley's interop server (examples/interop/server)
# and grpc-go's own interop server, in interleaved rounds, on loopback.
#
# Settings (environment): ROUNDS (3), DURATION (4s), CONCS ("1 32"),
# PARLEY_PORT (10100), GRPC_PORT (10101), GHZ_VERSION, GRPC_VERSION.
set -euo pipefail

GO=${GO:-go}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4s}
CONCS=${CONCS:-1 32}
PARLEY_PORT=${PARLEY_PORT:-10100}
GRPC_PORT=${GRPC_PORT:-10101}
GHZ_VERSION=${GHZ_VERSION:-v0.93.0}
GRPC_VERSION=${GRPC_VERSION:-v1.85.0}

root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$bin"
}
trap cleanup EXIT

echo "installing ghz $GHZ_VERSION and grpc-go's interop server $GRPC_VERSION"
GOBIN=$bin $GO install "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION"
GOBIN=$bin $GO install "google.golang.org/grpc/interop/server@$GRPC_VERSION"
mv "$bin/server" "$bin/grpc-interop-server"
(cd "$root" && $GO build -o "$bin/parley-interop-server" ./examples/interop/server)

"$bin/parley-interop-server" -addr "127.0.0.1:$PARLEY_PORT" >"$bin/parley.log" 2>&1 &
pids+=($!)
"$bin/grpc-interop-server" -port "$GRPC_PORT" >"$bin/grpc.log" 2>&1 &
pids+=($!)

body=$(head -c 64 /dev/zero | base64 -w0)
data="{\"response_size\":64,\"payload\":{\"body\":\"$body\"}}"
ghz() {
	"$bin/ghz" --insecure --proto "$root/examples/interop/test.proto" \
		--import-paths "$root/examples/interop" \
		--call grpc.testing.TestService.UnaryCall -d "$data" "$@"
}

# Both servers answer before the rounds start.
for port in "$PARLEY_PORT" "$GRPC_PORT"; do
	ok=
	for _ in $(seq 50); do
		if ghz -n 1 -c 1 "127.0.0.1:$port" 2>/dev/null | grep -q '\[OK\]'; then ok=1; break; fi
		sleep 0.2
	done
	[ -n "$ok" ] || { echo "no server answering on 127.0.0.1:$port" >&2; exit 1; }
done

# rps prints the requests a second of one run, failing on any error
# but those of the calls in flight when ghz ends the run (it closes its
# connection under them: "transport is closing", or cancels them).
rps() {
	out=$(ghz -c "$1" -z "$DURATION" "127.0.0.1:$2")
	if echo "$out" | sed -n '/Error distribution/,$p' | grep '^ *\[' | grep -vq 'transport is closing\|context canceled\|code = Canceled'; then
		echo "$out" >&2
		echo "errors against 127.0.0.1:$2" >&2
		exit 1
	fi
	echo "$out" | awk '/Requests\/sec/ {print $2}'
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A got
for r in $(seq "$ROUNDS"); do
	for c in $CONCS; do
		for s in parley grpc; do
			port=$PARLEY_PORT
			[ "$s" = grpc ] && port=$GRPC_PORT
			v=$(rps "$c" "$port")
			got[$s.$c]="${got[$s.$c]:-} $v"
			echo "round $r/$ROUNDS  unary, $c caller(s)  $s: $v requests/s"
		done
	done
done

echo
echo "| unary, ghz $GHZ_VERSION, protobuf | parley (median) | grpc-go $GRPC_VERSION (median) | parley ×grpc-go |"
echo "| --- | --: | --: | --: |"
for c in $CONCS; do
	p=$(echo "${got[parley.$c]}" | tr ' ' '\n' | grep . | median)
	g=$(echo "${got[grpc.$c]}" | tr ' ' '\n' | grep . | median)
	echo "| $c caller(s) | $p | $g | $(awk -v p="$p" -v g="$g" 'BEGIN {printf "%.2f", p/g}') |"
done
