"""Benchmarks of the PyTorch datasets, run by `aisbench -suites python`.

Given a bucket of indexed tar shards (dSort output with output_index), it
measures, and prints one JSON object per figure:

* ShardDataset through a DataLoader with 2 workers: records/s and MiB/s;
* Python's tarfile reading the same shards from a local directory (they
  are downloaded first, outside the timing): the baseline;
* RecordDataset: random access, one range GET per record, records/s; and
  the same records 64 to a get-batch request, beside it.

Usage: bench_datasets.py --endpoint URL --bucket NAME --prefix PREFIX --dir DIR
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tarfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from torch.utils.data import DataLoader  # noqa: E402

from aisgo import Client  # noqa: E402
from aisgo.torch import RecordDataset, ShardDataset, resolve_shards  # noqa: E402


def reset_peak() -> None:
    """Brings this process's peak RSS (VmHWM) down to its RSS now (Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss(children: bool = False) -> int:
    """This process's peak RSS in bytes since reset_peak; with children,
    the largest of it and of the child processes that ended (the
    DataLoader's workers)."""
    peak = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) * 1024
    if children:
        peak = max(peak, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
    return peak


def emit(name: str, seconds: float, records: int, nbytes: int, baseline: str = "", children: bool = False) -> None:
    figure = {"name": name, "seconds": seconds, "records": records, "bytes": nbytes, "baseline": baseline, "peak_rss": peak_rss(children)}
    print(json.dumps(figure), flush=True)
    reset_peak()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--dir", required=True, help="where the shards are downloaded for the tarfile baseline")
    parser.add_argument("--random-records", type=int, default=2000)
    args = parser.parse_args()
    client = Client(args.endpoint)
    shards = resolve_shards(client, args.bucket, prefix=args.prefix)

    # Baseline: tarfile over the same shards on local disk.
    os.makedirs(args.dir, exist_ok=True)
    paths = []
    for name in shards:
        path = os.path.join(args.dir, name.replace("/", "_"))
        with open(path, "wb") as f, client.open_object(args.bucket, name) as reader:
            for chunk in reader.iter_chunks():
                f.write(chunk)
        paths.append(path)
    reset_peak()
    start, records, nbytes = time.perf_counter(), 0, 0
    for path in paths:
        with tarfile.open(path, "r|*") as tf:
            for member in tf:
                if member.isfile():
                    data = tf.extractfile(member).read()
                    records += 1
                    nbytes += len(data)
    baseline = "tarfile, the same shards on local disk"
    emit(baseline, time.perf_counter() - start, records, nbytes)

    # ShardDataset, 2 DataLoader workers.
    dataset = ShardDataset(client, args.bucket, template=shards)
    loader = DataLoader(dataset, batch_size=None, num_workers=2)
    start, samples, files, nbytes = time.perf_counter(), 0, 0, 0
    for sample in loader:
        samples += 1
        for key, value in sample.items():
            if key not in ("__key__", "__url__"):
                files += 1
                nbytes += len(value)
    emit("ShardDataset, 2 DataLoader workers", time.perf_counter() - start, files, nbytes, baseline, children=True)

    # RecordDataset: random records, one range GET each.
    records_ds = RecordDataset(client, args.bucket, shards)
    rng = random.Random(1)
    picks = [rng.randrange(len(records_ds)) for _ in range(min(args.random_records, len(records_ds)))]
    start, nbytes = time.perf_counter(), 0
    for i in picks:
        nbytes += len(records_ds[i]["data"])
    single = "RecordDataset, random records"
    emit(single, time.perf_counter() - start, len(picks), nbytes)

    # The same records, 64 to a get-batch request (__getitems__, as a
    # DataLoader with a batch size calls it).
    start, nbytes = time.perf_counter(), 0
    for at in range(0, len(picks), 64):
        nbytes += sum(len(item["data"]) for item in records_ds.__getitems__(picks[at : at + 64]))
    emit("RecordDataset, random records, 64 a get-batch", time.perf_counter() - start, len(picks), nbytes, single)


if __name__ == "__main__":
    main()
