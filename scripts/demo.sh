#!/usr/bin/env bash
# The README's main job: a local cluster (1 gateway, 3 targets), a
# generated dataset, a dSort reshard with progress, a check of the output
# and a summary. Everything lives under .demo/ and the cluster is stopped
# at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
DIR=${DEMO_DIR:-.demo}
PORT=${DEMO_PORT:-18080}
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
"$BIN/ais" get ais://demo-src/shard-007.tar --archpath sample-007-03.cls -
echo

echo
echo "== dSort: a global shuffle of all records into 1.5MiB tgz shards"
cat > "$DIR/spec.json" <<'SPEC'
{
  "input_bck": {"name": "demo-src"},
  "output_bck": {"name": "demo-dst"},
  "input_format": {"template": "shard-{000..063}.tar"},
  "output_format": "shuffled-{0000..9999}.tgz",
  "output_shard_size": "1.5MiB",
  "algorithm": {"kind": "shuffle", "seed": "2026"},
  "description": "make demo"
}
SPEC
cat "$DIR/spec.json"
"$BIN/ais" dsort start "$DIR/spec.json" --wait

echo
echo "== checking the output"
count=$("$BIN/ais" ls ais://demo-dst --json | grep -c '"name"')
"$BIN/ais" get ais://demo-dst/shuffled-0000.tgz "$DIR/shuffled-0000.tgz" 2>/dev/null
files=$(tar -tzf "$DIR/shuffled-0000.tgz" | wc -l)
echo "ais://demo-dst holds $count shards; shuffled-0000.tgz holds $files files, read by the system tar:"
tar -tvzf "$DIR/shuffled-0000.tgz" > "$DIR/listing.txt"
head -4 "$DIR/listing.txt"
echo "..."
member=$(sed -n 2p "$DIR/listing.txt" | awk '{print $NF}')
echo "$member holds label $("$BIN/ais" get ais://demo-dst/shuffled-0000.tgz --archpath "$member" -) (read back with archpath)"

echo
echo "== summary"
"$BIN/ais" cluster show
"$BIN/ais" dsort ls
