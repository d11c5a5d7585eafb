#!/usr/bin/env bash
# Runs the unit tests with the race detector. The gateway package's tests
# mostly wait (on clusters of goroutines, timers, retries): run serially
# they were the long pole of the whole run while the CPUs stayed mostly
# idle. They are cut into shards, each its own process (so each test keeps
# the package's variables to itself), run beside the other packages.
#
# Usage: scripts/unit-tests.sh [go test flags...]; GATEWAY_SHARDS (default
# 3) sets the shards.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
shards=${GATEWAY_SHARDS:-3}
if ! [[ $shards =~ ^[1-9][0-9]*$ ]]; then
	echo "unit-tests: GATEWAY_SHARDS=$shards: want a count of 1 or more" >&2
	exit 2
fi
flags=(-race -count=1 "$@")

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The same flags as the runs below: the test binary built here is reused.
# Fuzz tests run their seeds, examples their output check, as go test's.
mapfile -t tests < <("$GO" test "${flags[@]}" -list '^(Test|Fuzz|Example)' ./gateway/ | grep -E '^(Test|Fuzz|Example)')
if [ ${#tests[@]} -eq 0 ]; then
	echo "unit-tests: no gateway test found" >&2
	exit 1
fi

pids=()
names=()
others=$("$GO" list ./... | grep -v '/gateway$')
# shellcheck disable=SC2086 # the package list is split on purpose
"$GO" test "${flags[@]}" $others >"$out/others" 2>&1 &
pids+=($!)
names+=(others)
for ((shard = 0; shard < shards; shard++)); do
	# Every shards-th test of the sorted list: the slow ones spread out.
	pattern=""
	for ((i = shard; i < ${#tests[@]}; i += shards)); do
		pattern+="${pattern:+|}${tests[i]}"
	done
	[ -n "$pattern" ] || continue
	"$GO" test "${flags[@]}" -run "^(${pattern})\$" ./gateway/ >"$out/gateway-$shard" 2>&1 &
	pids+=($!)
	names+=("gateway-$shard")
done

status=0
for i in "${!pids[@]}"; do
	if ! wait "${pids[i]}"; then
		status=1
	fi
	sed "s/^ok  \t\(github.com\/aisgo\/aisgo\/gateway\)\t/ok  \t\1 (${names[i]})\t/" "$out/${names[i]}"
done
exit $status
