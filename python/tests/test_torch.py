"""PyTorch datasets over real dSort output on a local cluster."""

from __future__ import annotations

import io
import os
import tarfile
import uuid
from collections import Counter
from typing import Dict, List, Tuple

import pytest

if os.environ.get("CI"):
    import torch  # installed by .ci/run: missing, the suite fails
else:
    torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

import aisgo  # noqa: E402
from aisgo import Client  # noqa: E402
from aisgo.index import ShardIndex, index_name  # noqa: E402
from aisgo.torch import RecordDataset, ShardDataset, resolve_shards  # noqa: E402
from tars import make_tar, read_tar, sparse_tar  # noqa: E402

SHARDS = 8
RECORDS = 50
OUT_TEMPLATE = "out-{000..999}.tar"


def group(members: List[Tuple[str, bytes]]) -> Dict[str, Dict[str, bytes]]:
    samples: Dict[str, Dict[str, bytes]] = {}
    for name, data in members:
        key, ext = aisgo.split_name(name)
        samples.setdefault(key, {})[ext] = data
    return samples


class Dataset:
    """The dSort output the tests read, and what it must hold."""

    def __init__(self, src: str, dst: str, outputs: List[str], expected: Dict[str, Dict[str, bytes]], dsort_indexed: bool):
        self.src, self.dst, self.outputs, self.expected, self.dsort_indexed = src, dst, outputs, expected, dsort_indexed


@pytest.fixture(scope="module")
def ds(client: Client, cluster) -> Dataset:
    tag = uuid.uuid4().hex[:8]
    src, dst = f"src-{tag}", f"dst-{tag}"
    client.create_bucket(src)
    cluster.ais(
        "archive", "gen-shards", f"ais://{src}/shard-{{00..07}}.tar",
        "--records", str(RECORDS), "--record-size", "1KiB", "--exts", ".jpg,.cls", "--seed", "1",
    )
    expected: Dict[str, Dict[str, bytes]] = {}
    for i in range(SHARDS):
        expected.update(group(read_tar(client.get_object(src, f"shard-{i:02d}.tar"))))
    assert len(expected) == SHARDS * RECORDS

    spec = {
        "input_bck": {"name": src},
        "output_bck": {"name": dst},
        "input_format": {"template": "shard-{00..07}.tar"},
        "output_format": OUT_TEMPLATE,
        "output_shard_size": "40KiB",
        "algorithm": {"kind": "shuffle", "seed": "1"},
        # dSort writes <shard>.idx beside every output shard.
        "output_index": True,
    }
    try:
        job = client.dsort_start(spec)
        indexed = True
    except aisgo.BadRequest as e:
        if "output_index" not in str(e):
            raise
        # A node without output_index: the same indexes are built below
        # with Python's tarfile (dSort's output_index writes the same JSON).
        del spec["output_index"]
        job = client.dsort_start(spec)
        indexed = False
    st = client.dsort_wait(job, poll=0.1, timeout=120)
    assert st.finished and st.created_records == SHARDS * RECORDS
    outputs = [e.name for e in client.list_objects(dst) if not e.name.endswith(".idx")]
    assert len(outputs) == st.created_shards > 4
    if not indexed or not client.object_exists(dst, index_name(outputs[0])):
        indexed = False
        for name in outputs:
            ShardIndex.from_tar(io.BytesIO(client.get_object(dst, name)), name).save(client, dst)
    yield Dataset(src, dst, outputs, expected, indexed)
    client.destroy_bucket(src, missing_ok=True)
    client.destroy_bucket(dst, missing_ok=True)


def keys_of(samples) -> List[str]:
    return [s["__key__"] for s in samples]


def test_samples_are_records(client: Client, ds: Dataset):
    d = ShardDataset(client, ds.dst, OUT_TEMPLATE)
    assert d.shards == ds.outputs  # the existing names, in template order; no .idx
    got = list(d)
    assert len(got) == len(ds.expected)
    for s in got:
        want = ds.expected[s["__key__"]]
        assert set(s) == {"__key__", "__url__", "jpg", "cls"}
        assert s["jpg"] == want["jpg"] and s["cls"] == want["cls"]
        # The shard it came from, as WebDataset names it.
        assert s["__url__"] in {f"ais://{ds.dst}/{o}" for o in ds.outputs}


def test_dataloader_two_workers_each_record_once(client: Client, ds: Dataset):
    d = ShardDataset(client, ds.dst, OUT_TEMPLATE, shuffle_buffer=20, seed=3)
    loader = DataLoader(d, batch_size=None, num_workers=2)
    for epoch in range(2):
        d.set_epoch(epoch)
        keys = keys_of(loader)
        counts = Counter(keys)
        assert len(keys) == len(ds.expected)
        assert set(counts) == set(ds.expected) and max(counts.values()) == 1


def test_dataloader_batches(client: Client, ds: Dataset):
    def to_tensor(s):
        return {"key": s["__key__"], "cls": torch.tensor(int(s["cls"])), "jpg": torch.frombuffer(bytearray(s["jpg"]), dtype=torch.uint8)}

    d = ShardDataset(client, ds.dst, OUT_TEMPLATE, transform=to_tensor)
    n = 0
    for batch in DataLoader(d, batch_size=16, num_workers=2):
        assert batch["jpg"].shape[1] == 1024 and batch["jpg"].dtype == torch.uint8
        n += len(batch["key"])
    assert n == len(ds.expected)


def test_ranks_split_disjoint_and_cover(client: Client, ds: Dataset, monkeypatch):
    parts = []
    for rank in range(2):
        d = ShardDataset(client, ds.dst, OUT_TEMPLATE, shuffle_buffer=10, seed=5, rank=rank, world_size=2)
        d.set_epoch(1)
        parts.append(keys_of(DataLoader(d, batch_size=None, num_workers=2)))
    a, b = set(parts[0]), set(parts[1])
    assert a and b and not a & b
    assert a | b == set(ds.expected)
    assert len(parts[0]) + len(parts[1]) == len(ds.expected)

    # the same through RANK and WORLD_SIZE
    env_parts = []
    for rank in range(2):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        d = ShardDataset(client, ds.dst, OUT_TEMPLATE, shuffle_buffer=10, seed=5)
        d.set_epoch(1)
        env_parts.append(keys_of(d))
    assert set(env_parts[0]) | set(env_parts[1]) == set(ds.expected)
    assert not set(env_parts[0]) & set(env_parts[1])
    assert [set(p) for p in env_parts] == [a, b]

    # shard assignment: disjoint over ranks and workers, covering, every epoch
    d = ShardDataset(client, ds.dst, OUT_TEMPLATE, shuffle_buffer=10, seed=5)
    for epoch in range(3):
        got = [s for r in range(2) for w in range(3) for s in d.shards_for(r, 2, w, 3, epoch=epoch)]
        assert sorted(got) == sorted(ds.outputs)


def test_samples_per_epoch_evens_the_ranks(client: Client, ds: Dataset):
    # dSort cuts shards by size: the ranks' shards hold different numbers
    # of samples, and a DDP job would wait at each epoch's end for the
    # rank with the most. With samples_per_epoch every rank yields exactly
    # that many, over its workers, going on with its shards when they run
    # out.
    counts = []
    for rank in range(3):
        d = ShardDataset(client, ds.dst, OUT_TEMPLATE, rank=rank, world_size=3)
        counts.append(len(keys_of(d)))
    assert len(set(counts)) > 1, counts  # uneven, or the test shows nothing
    for n in (min(counts) - 1, max(counts) + 5):
        for workers in (0, 2):
            for rank in range(3):
                d = ShardDataset(client, ds.dst, OUT_TEMPLATE, shuffle_buffer=5, seed=2, rank=rank, world_size=3, samples_per_epoch=n)
                d.set_epoch(1)
                keys = keys_of(DataLoader(d, batch_size=None, num_workers=workers))
                assert len(keys) == n, (n, workers, rank, len(keys))
                assert set(keys) <= set(ds.expected)
    # More workers than a rank's shards: still the count, from the workers
    # that have shards (one past them would read another's from its start).
    world = len(ds.outputs) // 2  # two shards a rank, or three
    d = ShardDataset(client, ds.dst, OUT_TEMPLATE, rank=0, world_size=world, samples_per_epoch=7)
    workers = len(d.shards[0::world]) + 1
    keys = keys_of(DataLoader(d, batch_size=None, num_workers=workers))
    assert len(keys) == 7 and len(set(keys)) == 7, keys
    # Batched, ranks of more and fewer shards take the same steps: their
    # workers split the count alike (a partial batch each), and every
    # shard of a rank is still read.
    # (A count of every sample: each worker's part holds its shards.)
    world = next(w for w in (2, 3, 4, 5) if len(ds.outputs) % w and len(ds.outputs) // w >= 2)
    workers = len(ds.outputs) // world + 1
    total = len(set(ds.expected))
    steps, read = [], set()
    for rank in range(world):
        d = ShardDataset(client, ds.dst, OUT_TEMPLATE, rank=rank, world_size=world, samples_per_epoch=total, shuffle_shards=False)
        batches = list(DataLoader(d, batch_size=8, num_workers=workers))
        steps.append(len(batches))
        keys = [k for b in batches for k in b["__key__"]]
        assert len(keys) == total, (rank, len(keys))
        read.update(keys)
    assert len(set(steps)) == 1, steps
    assert read == set(ds.expected), len(set(ds.expected) - read)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError):
            ShardDataset(client, ds.dst, OUT_TEMPLATE, samples_per_epoch=bad)
    # A count of every sample, under a buffer bigger than them all: each
    # once (the buffer holds one pass, not copies from several).
    d = ShardDataset(client, ds.dst, OUT_TEMPLATE, shuffle_buffer=10 * total, seed=4, samples_per_epoch=total)
    keys = keys_of(d)
    assert sorted(keys) == sorted(set(ds.expected)), (len(keys), len(set(keys)))
    # A transform that keeps few, under a shuffle buffer of many passes:
    # the count, not an error.
    few = [k for k in ds.expected if k.endswith("1")]
    assert few
    d = ShardDataset(client, ds.dst, OUT_TEMPLATE, shuffle_buffer=1000, rank=0, world_size=world, samples_per_epoch=3,
                     transform=lambda s: s if s["__key__"].endswith("1") else None)
    assert len(keys_of(d)) == 3
    # Epochs that stop at the count read other shards each time (the
    # shard order is shuffled by default then), not the first ones only.
    d = ShardDataset(client, ds.dst, OUT_TEMPLATE, samples_per_epoch=3)
    firsts = set()
    for epoch in range(6):
        d.set_epoch(epoch)
        firsts.add(frozenset(keys_of(d)))
    assert len(firsts) > 1, firsts
    # A transform that drops every sample: an error, not a loop for ever.
    d = ShardDataset(client, ds.dst, OUT_TEMPLATE, shuffle_buffer=5, rank=0, world_size=world, samples_per_epoch=7, transform=lambda s: None)
    with pytest.raises(aisgo.DatasetError, match="dropped every sample"):
        list(d)


def test_samples_per_epoch_past_a_workers_empty_shard(client: Client, bucket: str):
    # One shard of four holds no sample: the worker it falls to goes on to
    # the next epoch's shards for its part, rather than fail the job.
    for i in range(3):
        client.put_object(bucket, f"s-{i}.tar", make_tar([(f"k{i}-{j}.cls", b"x") for j in range(3)]))
    client.put_object(bucket, "s-3.tar", make_tar([]))
    d = ShardDataset(client, bucket, "s-{0..3}.tar", samples_per_epoch=8)
    for epoch in range(4):
        d.set_epoch(epoch)
        keys = keys_of(DataLoader(d, batch_size=None, num_workers=4))
        assert len(keys) == 8, (epoch, keys)
    # Unshuffled, that worker reads its empty shard every pass: an error
    # naming it, not a loop for ever.
    d = ShardDataset(client, bucket, "s-{0..3}.tar", samples_per_epoch=8, shuffle_shards=False)
    with pytest.raises(Exception, match=r"worker 3 of rank 0 .*\(s-3\.tar\) hold no samples"):
        list(DataLoader(d, batch_size=None, num_workers=4))


def test_a_worker_that_reads_nothing_still_moves_to_the_next_epoch(client: Client, ds: Dataset, monkeypatch):
    # A loader stopped before one of its workers read a sample (a peek, a
    # break): that worker's next iteration is the next epoch all the same,
    # or the workers would read the shards of different orders.
    import aisgo.torch as aistorch

    d = ShardDataset(client, ds.dst, OUT_TEMPLATE, shuffle_buffer=8, seed=3)

    class Info:
        def __init__(self, worker: int):
            self.id, self.num_workers = worker, 2

    def epoch(read) -> List[str]:
        keys: List[str] = []
        for w in range(2):
            monkeypatch.setattr(aistorch, "get_worker_info", lambda w=w: Info(w))
            samples = iter(d)
            if w in read:
                keys += keys_of(samples)
        return keys

    epoch(read={0})
    keys = epoch(read={0, 1})
    assert sorted(keys) == sorted(ds.expected), (len(keys), len(set(keys)))


def test_seed_and_epoch_fix_the_order(client: Client, ds: Dataset):
    def order(seed, epoch, workers=0):
        d = ShardDataset(client, ds.dst, OUT_TEMPLATE, shuffle_buffer=64, seed=seed)
        d.set_epoch(epoch)
        if workers:
            return keys_of(DataLoader(d, batch_size=None, num_workers=workers))
        return keys_of(d)

    e0 = order(7, 0)
    assert order(7, 0) == e0
    assert order(7, 0, workers=2) == order(7, 0, workers=2)
    e1 = order(7, 1)
    assert e1 != e0 and sorted(e1) == sorted(e0)
    assert order(8, 0) != e0
    # without a shuffle the order is the shards' own
    plain = keys_of(ShardDataset(client, ds.dst, OUT_TEMPLATE))
    want = [k for name in ds.outputs for k in group(read_tar(client.get_object(ds.dst, name)))]
    assert plain == want


def test_prefix_and_whole_bucket(client: Client, ds: Dataset):
    d = ShardDataset(client, ds.dst, prefix="out-")
    assert d.shards == ds.outputs
    assert ShardDataset(client, ds.dst).shards == ds.outputs
    assert resolve_shards(client, ds.dst, "out-*") == ds.outputs
    assert resolve_shards(client, ds.dst, "out-{000..002}.tar") == ds.outputs[:3]
    assert len(list(d)) == len(ds.expected)


def test_same_size_rewrite_is_refused(client: Client, ds: Dataset):
    # A shard rewritten to the very same size (its members swapped): the
    # size check passes, the index's shard checksum does not.
    name = "same-size.tar"
    members = read_tar(client.get_object(ds.src, "shard-00.tar"))[:2]
    assert len(members) == 2 and members[0][1] != members[1][1]
    client.put_object(ds.src, name, make_tar(members))
    client.index_shards(ds.src, objnames=[name], timeout=60)
    try:
        idx = ShardIndex.load(client, ds.src, name)
        assert idx.shard_checksum and idx.shard_checksum[1] == client.head_object(ds.src, name)["checksum"]
        assert idx.read_member(client, ds.src, 0) == members[0][1]
        rd = RecordDataset(client, ds.src, [name])
        assert [it["data"] for it in rd.__getitems__([1, 0])] == [members[1][1], members[0][1]]
        swapped = make_tar([(members[0][0], members[1][1]), (members[1][0], members[0][1])])
        assert len(swapped) == idx.shard_size
        client.put_object(ds.src, name, swapped)
        with pytest.raises(aisgo.ShardIndexError, match="changed since it was indexed"):
            idx.read_member(client, ds.src, 0)
        # a batch (one get-batch request) of a dataset built before: refused too
        with pytest.raises(aisgo.ShardIndexError, match="changed since it was indexed"):
            rd.__getitems__([0, 1])
        with pytest.raises(aisgo.ShardIndexError, match="changed since it was indexed"):
            ShardIndex.load(client, ds.src, name)
    finally:
        client.delete_object(ds.src, name)
        client.delete_object(ds.src, index_name(name), missing_ok=True)


def test_record_dataset_matches_tarfile(client: Client, ds: Dataset):
    rd = RecordDataset(client, ds.dst, OUT_TEMPLATE)
    want = []
    for name in ds.outputs:
        data = client.get_object(ds.dst, name)
        members = read_tar(data)
        want.extend(members)
        # the index (dSort's, or built here) has tarfile's offsets
        idx = ShardIndex.load(client, ds.dst, name)
        built = ShardIndex.from_tar(io.BytesIO(data), name)
        assert idx.members == built.members and idx.shard_size == len(data) and idx.format == "tar"
    assert len(rd) == len(want) == 2 * len(ds.expected)
    for i, (name, data) in enumerate(want):
        item = rd[i]
        assert item == {"__key__": aisgo.split_name(name)[0], "__url__": f"ais://{ds.dst}/{rd.locate(i)[0].shard}", "name": name, "data": data}
    assert rd[-1]["name"] == want[-1][0]
    with pytest.raises(IndexError):
        rd[len(rd)]

    # a list of shards, a transform, and a DataLoader with workers
    rd2 = RecordDataset(client, ds.dst, ds.outputs[:2], transform=lambda it: (it["name"], len(it["data"])))
    assert len(rd2) == len(read_tar(client.get_object(ds.dst, ds.outputs[0]))) + len(read_tar(client.get_object(ds.dst, ds.outputs[1])))
    got = list(DataLoader(rd2, batch_size=None, num_workers=2, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert sorted(tuple(x) for x in got) == sorted(rd2[i] for i in range(len(rd2)))  # the loader makes lists of tuples

    # a batch is one get-batch request (__getitems__), the same items in the batch's order
    picks = [len(want) - 1, 0, 7, 7, 3, len(want) // 2]
    assert rd.__getitems__(picks) == [rd[i] for i in picks]
    batches = list(DataLoader(rd, batch_size=16, num_workers=2, shuffle=True, generator=torch.Generator().manual_seed(1), collate_fn=lambda b: b))
    assert sorted((it["name"], it["data"]) for b in batches for it in b) == sorted(want)
    assert all(len(b) <= 16 for b in batches)


def test_index_of_a_shard_stored_with_another_checksum_type(client: Client, ds: Dataset, new_bucket_name):
    # A shard and its index copied to a bucket of another checksum type:
    # the index's checksum cannot tell there, the size does; batches read.
    name = new_bucket_name()
    client.create_bucket(name, {"checksum": {"type": "md5"}})
    try:
        shard = "shard-00.tar"
        data = client.get_object(ds.src, shard)
        client.put_object(ds.src, "typed.tar", data)
        client.index_shards(ds.src, objnames=["typed.tar"], timeout=60)
        client.put_object(name, "typed.tar", data)
        client.put_object(name, index_name("typed.tar"), client.get_object(ds.src, index_name("typed.tar")))
        rd = RecordDataset(client, name, ["typed.tar"])
        members = read_tar(data)
        assert [it["data"] for it in rd.__getitems__([1, 0])] == [members[1][1], members[0][1]]
        # Rewritten there to the same size since: a batch is refused, not
        # read at the old offsets (the shard's own checksum tells).
        changed = bytearray(data)
        changed[rd.locate(0)[1].data_offset] ^= 0xFF
        client.put_object(name, "typed.tar", bytes(changed))
        with pytest.raises(aisgo.ShardIndexError, match="changed since it was indexed"):
            rd.__getitems__([1, 0])
    finally:
        client.delete_object(ds.src, "typed.tar")
        client.delete_object(ds.src, index_name("typed.tar"), missing_ok=True)
        for o in client.list_objects(name):
            client.delete_object(name, o.name)
        client.destroy_bucket(name)


def test_index_of_a_shard_without_checksum(client: Client, ds: Dataset, new_bucket_name):
    # A bucket with checksums off: the index keeps the shard's ETag, and a
    # shard rewritten to the same size (or shorter) is refused on every
    # read path, not read at the old offsets.
    name = new_bucket_name()
    client.create_bucket(name, {"checksum": {"type": "none"}})
    try:
        data = client.get_object(ds.src, "shard-00.tar")
        client.put_object(name, "plain.tar", data)
        client.index_shards(name, objnames=["plain.tar"], timeout=60)
        idx = ShardIndex.load(client, name, "plain.tar")
        assert idx.shard_checksum is not None and idx.shard_checksum[0] == "etag"
        members = read_tar(data)
        rd = RecordDataset(client, name, ["plain.tar"])
        assert rd[0]["data"] == members[0][1]
        assert [it["data"] for it in rd.__getitems__([1, 0])] == [members[1][1], members[0][1]]
        # Built here (from_tar) and saved, an index takes the ETag too.
        built = ShardIndex.from_tar(io.BytesIO(data), "plain.tar")
        built.save(client, name)
        assert built.shard_checksum == idx.shard_checksum
        changed = bytearray(data)
        first = idx[0]
        changed[first.data_offset] ^= 0xFF
        client.put_object(name, "plain.tar", bytes(changed))
        with pytest.raises(aisgo.ShardIndexError, match="changed since it was indexed"):
            idx.read_member(client, name, 0)
        with pytest.raises(aisgo.ShardIndexError, match="changed since it was indexed"):
            rd[0]
        with pytest.raises(aisgo.ShardIndexError, match="changed since it was indexed"):
            rd.__getitems__([1, 0])
        with pytest.raises(aisgo.ShardIndexError, match="changed since it was indexed"):
            ShardIndex.load(client, name, "plain.tar")
        # Shorter than a member's offset: said as a change, not a bare 416.
        client.put_object(name, "plain.tar", data[:1024])
        with pytest.raises(aisgo.ShardIndexError, match="changed since it was indexed"):
            rd[len(rd) - 1]
    finally:
        for o in client.list_objects(name):
            client.delete_object(name, o.name)
        client.destroy_bucket(name)


def test_record_dataset_python_built_index(client: Client, ds: Dataset):
    # the input shards have no index: build one with tarfile, as `ais archive index` would
    shards = ["shard-00.tar", "shard-01.tar"]
    with pytest.raises(aisgo.ShardIndexError, match="shard-00.tar.idx"):
        RecordDataset(client, ds.src, shards)
    want = []
    for name in shards:
        data = client.get_object(ds.src, name)
        ShardIndex.from_tar(io.BytesIO(data), name).save(client, ds.src)
        want.extend(read_tar(data))
    rd = RecordDataset(client, ds.src, shards)
    assert [(rd[i]["name"], rd[i]["data"]) for i in range(len(rd))] == want
    idx = ShardIndex.load(client, ds.src, shards[1])
    # saved with the shard's checksum (a same-size rewrite is told), and
    # not saved beside a shard of another size
    assert idx.shard_checksum == (client.head_object(ds.src, shards[1])["checksum_type"], client.head_object(ds.src, shards[1])["checksum"])
    other = ShardIndex.from_tar(io.BytesIO(make_tar([("x.bin", b"x")])), shards[1])
    with pytest.raises(aisgo.ShardIndexError, match="not the shard indexed"):
        other.save(client, ds.src)
    # an index saved before its shard is stored: saved, without a checksum
    early = ShardIndex.from_tar(io.BytesIO(make_tar([("x.bin", b"x")])), "not-yet.tar")
    early.save(client, ds.src)
    assert ShardIndex.from_json(client.get_object(ds.src, index_name("not-yet.tar"))).shard_checksum is None
    client.delete_object(ds.src, index_name("not-yet.tar"))
    assert idx.read_member(client, ds.src, want[-1][0]) == want[-1][1]
    assert aisgo.index.read_member(client, ds.src, shards[0], 0) == want[0][1]
    for name in shards:
        client.delete_object(ds.src, index_name(name))


def test_record_dataset_reads_the_shard_asked_for(client: Client, ds: Dataset):
    # A shard and its index copied under another prefix: the index still
    # names the old place, which now holds another object.
    name = "shard-00.tar"
    data = client.get_object(ds.src, name)
    idx = ShardIndex.from_tar(io.BytesIO(data), name)
    client.put_object(ds.src, "v2/" + name, data)
    client.put_object(ds.src, index_name("v2/" + name), idx.to_json())
    client.put_object(ds.src, name + ".moved", data)
    client.put_object(ds.src, name, b"\0" * len(data))  # another object now
    try:
        rd = RecordDataset(client, ds.src, ["v2/" + name])
        assert [(rd[i]["name"], rd[i]["data"]) for i in range(len(rd))] == read_tar(data)
        assert [(it["name"], it["data"]) for it in rd.__getitems__(list(range(len(rd))))] == read_tar(data)
    finally:
        client.put_object(ds.src, name, client.get_object(ds.src, name + ".moved"))
        for n in ("v2/" + name, index_name("v2/" + name), name + ".moved"):
            client.delete_object(ds.src, n)


def test_tgz_shards_stream(client: Client, cluster, bucket: str):
    cluster.ais("archive", "gen-shards", f"ais://{bucket}/z-{{0..2}}.tgz", "--records", "10", "--record-size", "256", "--exts", ".txt,.cls,.json")
    d = ShardDataset(client, bucket, "z-{0..2}.tgz")
    got = list(d)
    assert len(got) == 30 and all(set(s) == {"__key__", "__url__", "txt", "cls", "json"} for s in got)
    expected = {}
    for i in range(3):
        expected.update(group(read_tar(client.get_object(bucket, f"z-{i}.tgz"))))
    assert {s["__key__"]: {k: v for k, v in s.items() if k not in ("__key__", "__url__")} for s in got} == expected
    # RecordDataset reads members by range: a compressed shard has no
    # offsets to index, which it says, by template or by name, rather
    # than hinting at `ais archive index` (which refuses it).
    for shards in ("z-{0..2}.tgz", ["z-0.tgz"]):
        with pytest.raises(aisgo.DatasetError, match="is compressed: RecordDataset reads indexed uncompressed"):
            RecordDataset(client, bucket, shards)
    # A list is checked as a listing is: formats tarfile cannot read, and
    # indexes, named before anything is read.
    for shards, why in ((["z-0.tgz", "x.tar.lz4"], "x.tar.lz4: this format is not supported"), (["z-0.tgz", "z-0.tgz.idx"], "is a shard's index")):
        for make in (ShardDataset, RecordDataset):
            with pytest.raises(aisgo.DatasetError, match=why):
                make(client, bucket, shards)


def test_tgz_with_a_flipped_byte_is_refused(client: Client, bucket: str):
    # Random data is kept in stored deflate blocks: a flipped byte there
    # decompresses fine, only the gzip CRC tells. 62,000 bytes: the end
    # marker is within the first 64 KiB read, the record's padding past it
    # (the CRC is checked only if the rest is read too).
    for size in (200 << 10, 62000):
        data = os.urandom(size)
        good = io.BytesIO()
        with tarfile.open(fileobj=good, mode="w:gz") as tf:
            ti = tarfile.TarInfo("s-0.bin")
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        bad = bytearray(good.getvalue())
        bad[len(bad) // 2] ^= 0xFF
        client.put_object(bucket, "flipped.tgz", bytes(bad))
        client.put_object(bucket, "whole.tgz", good.getvalue())
        assert [s["bin"] for s in aisgo.torch.iter_shard(client, bucket, "whole.tgz")] == [data]
        with pytest.raises(aisgo.ShardError, match=r"ais://.*/flipped\.tgz is corrupt.*CRC"):
            list(aisgo.torch.iter_shard(client, bucket, "flipped.tgz"))


def test_bz2_and_xz_shards_stream(client: Client, bucket: str):
    members = [(f"s-{i}.{ext}", os.urandom(3000) if ext == "bin" else str(i).encode()) for i in range(4) for ext in ("bin", "cls")]
    for mode, name in (("w:bz2", "b.tar.bz2"), ("w:xz", "x.tar.xz")):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode=mode) as tf:
            for member, data in members:
                ti = tarfile.TarInfo(member)
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            link = tarfile.TarInfo("s-9.bin")
            link.type, link.linkname = tarfile.SYMTYPE, "s-0.bin"
            tf.addfile(link)
        client.put_object(bucket, name, buf.getvalue())
        # A link is not a file: skipped, with a warning naming the shard.
        with pytest.warns(UserWarning, match=rf"{name}: links"):
            got = list(aisgo.torch.iter_shard(client, bucket, name))
        assert got == [dict(__key__=f"s-{i}", __url__=f"ais://{bucket}/{name}", bin=members[2 * i][1], cls=members[2 * i + 1][1]) for i in range(4)], name
        bad = bytearray(buf.getvalue())
        bad[len(bad) // 2] ^= 0xFF
        client.put_object(bucket, "bad-" + name, bytes(bad))
        with pytest.raises(aisgo.ShardError, match=rf"bad-{name} is corrupt"):
            list(aisgo.torch.iter_shard(client, bucket, "bad-" + name))


def test_no_matching_shard(client: Client, ds: Dataset):
    with pytest.raises(aisgo.DatasetError, match=r"no shard of ais://.* matches the template 'nope-\{00\.\.09\}\.tar'"):
        ShardDataset(client, ds.dst, "nope-{00..09}.tar")
    with pytest.raises(aisgo.DatasetError, match="no tar shard"):
        ShardDataset(client, ds.dst, prefix="nope-")
    with pytest.raises(aisgo.DatasetError):
        ShardDataset(client, ds.dst, "bad-{1..}.tar")
    with pytest.raises(aisgo.BucketNotFound):
        ShardDataset(client, "no-such-bucket-" + uuid.uuid4().hex[:6], OUT_TEMPLATE)
    with pytest.raises(ValueError):
        ShardDataset(client, ds.dst, OUT_TEMPLATE, rank=2, world_size=2)


def test_corrupt_shards(client: Client, bucket: str):
    client.put_object(bucket, "bad.tar", b"this is not a tar archive, just garbage bytes " * 40)
    with pytest.raises(aisgo.ShardError, match=f"ais://{bucket}/bad.tar") as e:
        list(ShardDataset(client, bucket, "bad.tar"))
    assert e.value.shard == f"ais://{bucket}/bad.tar" and e.value.offset == 0

    good = io.BytesIO()
    with tarfile.open(fileobj=good, mode="w") as tf:
        for i in range(6):
            ti = tarfile.TarInfo(f"s-{i}.bin")
            ti.size = 2000
            tf.addfile(ti, io.BytesIO(bytes([i]) * 2000))
    data = good.getvalue()
    client.put_object(bucket, "cut.tar", data[:5000])  # truncated inside the second member
    with pytest.raises(aisgo.ShardError, match=r"cut\.tar.*offset 2560") as e:
        list(ShardDataset(client, bucket, "cut.tar"))
    assert e.value.offset == 2560
    # cut at a header boundary (after a member's data), or inside the next
    # header: tarfile alone would stop quietly there
    for cut in (2560 * 2, 2560 * 2 + 100):
        client.put_object(bucket, "cut-at-header.tar", data[:cut])
        with pytest.raises(aisgo.ShardError, match=r"cut-at-header\.tar.*without the tar end marker"):
            list(ShardDataset(client, bucket, "cut-at-header.tar"))
    # garbage in place of the third header: tarfile alone would stop quietly there
    client.put_object(bucket, "mid.tar", data[:5120] + b"\x7f" * 512 + data[5632:])
    with pytest.raises(aisgo.ShardError, match=r"mid\.tar.*offset 5120"):
        list(ShardDataset(client, bucket, "mid.tar"))
    # a zero block, then data: not the end marker (the cluster refuses it too)
    end = 6 * 2560
    client.put_object(bucket, "zero-then-data.tar", data[:end] + bytes(512) + b"\x7f" * 512 + data[end + 1024:])
    with pytest.raises(aisgo.ShardError, match=r"zero-then-data\.tar.*after a zero block"):
        list(ShardDataset(client, bucket, "zero-then-data.tar"))
    # data after the end marker is not the archive's: read as the cluster does
    client.put_object(bucket, "trailing.tar", data + b"appended later" * 100)
    assert len(list(ShardDataset(client, bucket, "trailing.tar"))) == 6
    # through DataLoader workers, the error still names the shard
    with pytest.raises(Exception, match=f"ais://{bucket}/bad.tar"):
        list(DataLoader(ShardDataset(client, bucket, "bad.tar"), batch_size=None, num_workers=2))


def test_shard_bombs_and_spoofed_keys(client: Client, bucket: str):
    # A small tgz of zeros claiming a file past the bound: refused before
    # it is read into memory.
    bomb = io.BytesIO()
    with tarfile.open(fileobj=bomb, mode="w:gz") as tf:
        ti = tarfile.TarInfo("s-0.bin")
        ti.size = 4 << 20
        tf.addfile(ti, io.BytesIO(bytes(ti.size)))
    assert len(bomb.getvalue()) < 64 << 10
    client.put_object(bucket, "bomb.tgz", bomb.getvalue())
    with pytest.raises(aisgo.ShardError, match=r"s-0\.bin is 4194304 bytes, more than the 1048576"):
        list(aisgo.torch.iter_shard(client, bucket, "bomb.tgz", max_member_size=1 << 20))
    # A GNU sparse file (whose map tarfile reads unbounded): refused.
    client.put_object(bucket, "sparse.tar", sparse_tar())
    with pytest.raises(aisgo.ShardError, match=r"sparse\.tar.*GNU sparse file"):
        list(ShardDataset(client, bucket, "sparse.tar"))
    # A file named as a sample's key, or its shard's, does not replace it.
    for field in ("key", "url"):
        spoof = io.BytesIO()
        with tarfile.open(fileobj=spoof, mode="w") as tf:
            for name in ("s-0.bin", f"s-0.__{field}__"):
                ti = tarfile.TarInfo(name)
                ti.size = 3
                tf.addfile(ti, io.BytesIO(b"abc"))
        client.put_object(bucket, "spoof.tar", spoof.getvalue())
        with pytest.raises(aisgo.ShardError, match=rf"would replace its sample's __{field}__"):
            list(ShardDataset(client, bucket, "spoof.tar"))


def test_rank_is_resolved_in_the_training_process(client: Client, ds: Dataset, monkeypatch):
    # Workers started by spawn or forkserver get the dataset pickled: the
    # rank is resolved when it is pickled, in the process that has it (a
    # worker has no process group, and would read rank 0's shards).
    import pickle

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    d = ShardDataset(client, ds.dst, OUT_TEMPLATE, shuffle_buffer=10, seed=5)
    data = pickle.dumps(d)
    rank1 = set(keys_of(d))
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")
    clone = pickle.loads(data)
    assert clone._place()[:2] == (1, 2)
    assert set(keys_of(clone)) == rank1 and rank1 != set(ds.expected)

    # In a spawned worker, the place pickled for it wins over an
    # environment that says another (a node's RANK, a process per GPU).
    import aisgo.torch as aistorch

    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    worker = pickle.loads(data)
    monkeypatch.setattr(aistorch, "get_worker_info", lambda: type("Info", (), {"id": 0, "num_workers": 1})())
    assert worker._place() == (1, 2, 0, 1)
    monkeypatch.undo()

    # Made where no rank is known (a launcher) and spawned into the ranks,
    # it takes each rank's own, not the launcher's (0 of 1).
    launched = pickle.dumps(ShardDataset(client, ds.dst, OUT_TEMPLATE, shuffle_buffer=10, seed=5))
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert set(keys_of(pickle.loads(launched))) == rank1


def test_persistent_workers_see_the_next_epoch(client: Client, ds: Dataset):
    # Persistent workers keep the dataset they were given and never see a
    # later set_epoch: each iteration is the next epoch all the same.
    d = ShardDataset(client, ds.dst, OUT_TEMPLATE, shuffle_buffer=64, seed=9)
    loader = DataLoader(d, batch_size=None, num_workers=2, persistent_workers=True)
    orders = []
    for epoch in range(2):
        d.set_epoch(epoch)
        orders.append(keys_of(loader))
    assert sorted(orders[0]) == sorted(orders[1]) == sorted(ds.expected)
    assert orders[0] != orders[1], "two epochs of persistent workers came in the same order"


def test_workers_forked_each_epoch_see_the_next_epoch(client: Client, ds: Dataset):
    # DataLoader's default: workers forked anew for each epoch, from a
    # training process that never iterates the dataset itself. Without
    # set_epoch, each iteration is still the next epoch, as after
    # set_epoch(0), set_epoch(1).
    d = ShardDataset(client, ds.dst, OUT_TEMPLATE, shuffle_buffer=64, seed=9)
    loader = DataLoader(d, batch_size=None, num_workers=2)
    orders = [keys_of(loader) for _ in range(2)]
    assert sorted(orders[0]) == sorted(orders[1]) == sorted(ds.expected)
    assert orders[0] != orders[1], "two epochs of workers forked anew came in the same order"
    fixed = []
    for epoch in range(2):
        d.set_epoch(epoch)
        fixed.append(keys_of(DataLoader(d, batch_size=None, num_workers=2)))
    assert fixed == orders
    # And a pickled copy (a spawned worker's) still iterates.
    import pickle

    assert sorted(keys_of(pickle.loads(pickle.dumps(d)))) == sorted(ds.expected)


def test_workers_spawned_each_epoch_see_the_next_epoch(client: Client, ds: Dataset):
    # Workers started anew each epoch by spawn (forkserver is Python
    # 3.14's default) get the dataset pickled, not memory shared by a
    # fork: without set_epoch, each iteration is still the next epoch, in
    # the order forked workers give after set_epoch(0), set_epoch(1).
    d = ShardDataset(client, ds.dst, OUT_TEMPLATE, shuffle_buffer=64, seed=9)
    loader = DataLoader(d, batch_size=None, num_workers=2, multiprocessing_context="spawn")
    orders = [keys_of(loader) for _ in range(2)]
    assert sorted(orders[0]) == sorted(orders[1]) == sorted(ds.expected)
    assert orders[0] != orders[1], "two epochs of workers spawned anew came in the same order"
    fixed = []
    for epoch in range(2):
        d.set_epoch(epoch)
        fixed.append(keys_of(DataLoader(d, batch_size=None, num_workers=2)))
    assert fixed == orders


def test_stale_index_is_refused(client: Client, ds: Dataset):
    # A shard written anew beside the index of its old content: reads at
    # the old offsets would return other members' bytes, each of the right
    # length. The index no longer matches the shard's size: refused.
    name = "stale-index.tar"
    old = client.get_object(ds.src, "shard-00.tar")
    client.put_object(ds.src, name, old)
    idx = ShardIndex.from_tar(io.BytesIO(old), name)
    idx.save(client, ds.src)
    try:
        assert idx.read_member(client, ds.src, 0) == read_tar(old)[0][1]
        client.put_object(ds.src, name, client.get_object(ds.src, "shard-01.tar") + bytes(512))
        with pytest.raises(aisgo.ShardIndexError, match="changed since it was indexed"):
            idx.read_member(client, ds.src, 0)
        with pytest.raises(aisgo.ShardIndexError, match="changed since it was indexed"):
            ShardIndex.load(client, ds.src, name)
        with pytest.raises(aisgo.ShardIndexError, match="changed since it was indexed"):
            RecordDataset(client, ds.src, [name])
    finally:
        client.delete_object(ds.src, name)
        client.delete_object(ds.src, index_name(name))
