"""The client against a real local cluster: every method, errors, big objects, paging."""

from __future__ import annotations

import io
import json
import os
import resource
import subprocess
import sys
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest

import aisgo
from aisgo import Client

PYROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from tars import make_tar, read_tar  # noqa: E402


# -- buckets -------------------------------------------------------------------


def test_bucket_lifecycle(client: Client, new_bucket_name):
    name = new_bucket_name()
    client.create_bucket(name)
    assert name in [b["name"] for b in client.list_buckets()]
    props = client.bucket_props(name)
    assert props["provider"] == "ais"
    assert props["checksum"]["type"]
    assert client.bucket_exists(name)
    with pytest.raises(aisgo.BucketExists) as e:
        client.create_bucket(name)
    assert e.value.status == 409 and e.value.kind == "bucket-exists"
    assert isinstance(e.value, aisgo.Conflict)
    client.create_bucket(name, exist_ok=True)
    client.destroy_bucket(name)
    assert name not in [b["name"] for b in client.list_buckets()]
    assert not client.bucket_exists(name)
    with pytest.raises(aisgo.BucketNotFound):
        client.destroy_bucket(name)
    client.destroy_bucket(name, missing_ok=True)


def test_create_bucket_with_props(client: Client, new_bucket_name):
    name = new_bucket_name()
    client.create_bucket(name, {"checksum": {"type": "md5"}})
    try:
        assert client.bucket_props(name)["checksum"]["type"] == "md5"
        meta = client.put_object(name, "o", b"abc")
        assert meta["checksum_type"] == "md5"
        assert meta["checksum"] == "900150983cd24fb0d6963f7d28e17f72"
    finally:
        client.destroy_bucket(name)


# -- objects -------------------------------------------------------------------


def test_put_get_head_delete(client: Client, bucket: str, tmp_path):
    meta = client.put_object(bucket, "dir/hello world.txt", b"hello, world")
    assert meta["size"] == 12 and meta["checksum"] and meta["version"] == "1"
    assert client.get_object(bucket, "dir/hello world.txt") == b"hello, world"

    head = client.head_object(bucket, "dir/hello world.txt")
    assert head["size"] == 12
    assert head["checksum"] == meta["checksum"] and head["checksum_type"] == "xxhash"
    assert head["version"] == "1"
    assert isinstance(head["atime"], int) and head["atime"] > 0
    assert client.object_exists(bucket, "dir/hello world.txt")

    # a second PUT is a new version
    assert client.put_object(bucket, "dir/hello world.txt", bytearray(b"v2"))["version"] == "2"
    assert client.get_object(bucket, "dir/hello world.txt") == b"v2"

    # from a path, a file object, a generator (chunked), a generator with a size
    p = tmp_path / "f.bin"
    p.write_bytes(os.urandom(300_000))
    client.put_object(bucket, "from-path", str(p))
    client.put_object(bucket, "from-pathlike", p)
    with open(p, "rb") as f:
        f.seek(1000)
        client.put_object(bucket, "from-file", f)
    client.put_object(bucket, "from-gen", (bytes([i]) * 1000 for i in range(50)))
    assert client.put_object(bucket, "from-gen-sized", (b"x" * 10 for _ in range(7)), size=70)["size"] == 70
    client.put_object(bucket, "empty", b"")
    data = p.read_bytes()
    assert client.get_object(bucket, "from-path") == data
    assert client.get_object(bucket, "from-pathlike") == data
    assert client.get_object(bucket, "from-file") == data[1000:]
    assert client.get_object(bucket, "from-gen") == b"".join(bytes([i]) * 1000 for i in range(50))
    assert client.get_object(bucket, "from-gen-sized") == b"x" * 70
    assert client.get_object(bucket, "empty") == b""
    assert client.head_object(bucket, "empty")["size"] == 0

    # custom metadata, a checksum the target verifies
    client.put_object(bucket, "custom", b"abc", custom={"k 1": "v=1,2"})
    assert client.head_object(bucket, "custom")["custom"] == {"k 1": "v=1,2"}
    client.put_object(bucket, "md5", b"abc", checksum=("md5", "900150983cd24fb0d6963f7d28e17f72"))
    with pytest.raises(aisgo.BadRequest):
        client.put_object(bucket, "md5-bad", b"abc", checksum=("md5", "00000000000000000000000000000000"))
    assert not client.object_exists(bucket, "md5-bad")

    client.delete_object(bucket, "dir/hello world.txt")
    assert not client.object_exists(bucket, "dir/hello world.txt")
    with pytest.raises(aisgo.NotFound):
        client.get_object(bucket, "dir/hello world.txt")
    with pytest.raises(aisgo.NotFound):
        client.delete_object(bucket, "dir/hello world.txt")
    client.delete_object(bucket, "dir/hello world.txt", missing_ok=True)


def test_put_data_of_wrong_size(client: Client, bucket: str):
    with pytest.raises(ValueError):
        client.put_object(bucket, "short", (b"x" for _ in range(3)), size=10)
    with pytest.raises(TypeError):
        client.put_object(bucket, "bad", 12345)  # type: ignore[arg-type]


def test_ranges(client: Client, bucket: str):
    data = bytes(range(256)) * 40
    client.put_object(bucket, "r", data)
    assert client.get_object(bucket, "r", byte_range=(10, 19)) == data[10:20]
    assert client.get_object(bucket, "r", byte_range=(10000, None)) == data[10000:]
    assert client.get_object(bucket, "r", byte_range=(None, 5)) == data[-5:]
    assert client.get_object(bucket, "r", byte_range=range(3, 7)) == data[3:7]
    assert client.get_object(bucket, "r", byte_range=slice(100, 200)) == data[100:200]
    assert client.get_object(bucket, "r", byte_range="bytes=0-0") == data[:1]
    with client.open_object(bucket, "r", byte_range=(5, 104)) as r:
        assert r.size == 100
        assert r.read(10) == data[5:15]
        assert r.read() == data[15:105]
    with pytest.raises(aisgo.RangeNotSatisfiable) as e:
        client.get_object(bucket, "r", byte_range=(len(data), len(data) + 10))
    assert e.value.status == 416
    with pytest.raises(ValueError):
        client.get_object(bucket, "r", byte_range=(10, 5))
    # The last bytes of an empty object are none (the server answers 200).
    client.put_object(bucket, "empty", b"")
    assert client.get_object(bucket, "empty", byte_range=(None, 4096)) == b""
    assert client.get_object(bucket, "empty", byte_range=slice(-4096, None)) == b""
    # Its first bytes are none too (as of any object shorter than asked);
    # a range past byte 0 of it is not satisfiable.
    assert client.get_object(bucket, "empty", byte_range=(0, 99)) == b""
    assert client.get_object(bucket, "empty", byte_range=(0, None)) == b""
    with pytest.raises(aisgo.RangeNotSatisfiable):
        client.get_object(bucket, "empty", byte_range=(1, 99))


def test_archpath(client: Client, bucket: str):
    tar = make_tar([("a/sample-1.jpg", b"JPEG1"), ("a/sample-1.cls", b"7"), ("a/sample-2.jpg", b"JPEG2")])
    client.put_object(bucket, "shard.tar", tar)
    assert client.get_object(bucket, "shard.tar", archpath="a/sample-1.cls") == b"7"
    assert client.get_object(bucket, "shard.tar", archpath="a/sample-2.jpg") == b"JPEG2"
    with pytest.raises(aisgo.NotFound):
        client.get_object(bucket, "shard.tar", archpath="a/none.jpg")
    # a range of one file, as of an object
    assert client.get_object(bucket, "shard.tar", archpath="a/sample-2.jpg", byte_range=(1, 3)) == b"PEG"


def test_get_batch(client: Client, bucket: str):
    tar = make_tar([("s-1.jpg", b"JPEG1"), ("s-1.cls", b"7")])
    client.put_object(bucket, "shard.tar", tar)
    for i in range(12):
        client.put_object(bucket, f"obj-{i:02d}", b"x" * i)
    entries = [f"obj-{i:02d}" for i in reversed(range(12))] + [{"objname": "shard.tar", "archpath": "s-1.cls"}]
    got = list(client.get_batch(bucket, entries))
    assert [n for n, _ in got] == [f"{bucket}/obj-{i:02d}" for i in reversed(range(12))] + [f"{bucket}/shard.tar/s-1.cls"]
    assert got[0][1] == b"x" * 11 and got[-1][1] == b"7"
    # what is missing comes under __404__/, or fails the request
    got = list(client.get_batch(bucket, ["obj-01", "nosuch"], continue_on_error=True, only_obj_name=True))
    assert got == [("obj-01", b"x"), ("__404__/nosuch", b"")]
    with pytest.raises(aisgo.NotFound):
        list(client.get_batch(bucket, ["nosuch", "obj-01"]))
    with pytest.raises(aisgo.BadRequest):
        list(client.get_batch(bucket, [{"objname": "../escape"}]))


def test_streamed_reads_keep_their_connections(cluster, bucket: str, monkeypatch):
    # Streamed reads (open_object, get_object, get_batch) follow the
    # gateway's redirect and read the tar's padding: the connections go
    # back to the pool open, not one new TCP connection per read.
    import urllib3.connection

    made = []
    new_conn = urllib3.connection.HTTPConnection._new_conn
    monkeypatch.setattr(urllib3.connection.HTTPConnection, "_new_conn", lambda self: made.append(self.port) or new_conn(self))
    c = Client(cluster.endpoint)
    c.put_object(bucket, "reuse", b"r" * 1000)
    c.put_object(bucket, "reuse-2", b"s" * 10)
    for _ in range(20):
        with c.open_object(bucket, "reuse") as r:
            assert r.read() == b"r" * 1000
        assert [d for _, d in c.get_batch(bucket, ["reuse", "reuse-2"])] == [b"r" * 1000, b"s" * 10]
    per_node = {port: made.count(port) for port in set(made)}
    assert per_node and all(n <= 2 for n in per_node.values()), f"TCP connections made per node: {per_node}"


def test_archive(client: Client, bucket: str):
    for i in range(6):
        client.put_object(bucket, f"raw/{i}.txt", f"text {i}".encode())
    client.archive(bucket, "packed.tar", template="raw/{3..5}.txt", base_name_only=True)
    assert read_tar(client.get_object(bucket, "packed.tar")) == [(f"{i}.txt", f"text {i}".encode()) for i in (3, 4, 5)]
    client.archive(bucket, "packed.tar", objnames=["raw/0.txt"], append=True)
    assert [n for n, _ in read_tar(client.get_object(bucket, "packed.tar"))] == ["3.txt", "4.txt", "5.txt", "raw/0.txt"]
    with pytest.raises(aisgo.AisError, match="gone.txt"):
        client.archive(bucket, "bad.tar", objnames=["raw/1.txt", "gone.txt"])
    assert not client.object_exists(bucket, "bad.tar")
    with pytest.raises(aisgo.BadRequest):
        client.archive(bucket, "x.rar", prefix="raw/")


def test_open_object_streams(client: Client, bucket: str):
    data = os.urandom(3 * (1 << 20) + 17)
    client.put_object(bucket, "s", data)
    with client.open_object(bucket, "s") as r:
        assert r.size == len(data)
        assert r.meta["checksum"]
        chunks = list(r.iter_chunks(1 << 20))
        assert all(len(c) <= 1 << 20 for c in chunks)
        assert b"".join(chunks) == data
        assert r.tell() == len(data)
    assert r.closed
    # a file-like object: io and tarfile work on it
    with client.open_object(bucket, "s") as r:
        buf = io.BufferedReader(r, 4096)
        assert buf.read(5) == data[:5]
        assert buf.read(100) == data[5:105]


def test_object_reader_lines(client: Client, bucket: str):
    # A JSONL manifest read line by line: each line whole, in few reads of
    # the network (io's readline asks for a byte at a time); reads mixed
    # with lines keep their place.
    lines = [json.dumps({"i": i, "name": f"img-{i}.jpg"}).encode() + b"\n" for i in range(2000)]
    data = b"".join(lines) + b"last line without newline"
    client.put_object(bucket, "manifest.jsonl", data)
    with client.open_object(bucket, "manifest.jsonl") as r:
        fetches = []
        raw_read = r._raw.read
        r._raw.read = lambda n=None: fetches.append(n) or raw_read(n)
        got = list(r)
        assert got == lines + [b"last line without newline"]
        assert r.tell() == len(data) and len(fetches) <= 3
    with client.open_object(bucket, "manifest.jsonl") as r:
        assert r.readline() == lines[0]
        assert r.read(5) == lines[1][:5]
        assert r.readline(3) == lines[1][5:8]
        assert r.readline() == lines[1][8:]
        assert r.tell() == len(lines[0]) + len(lines[1])
        rest = r.read()
        assert rest == data[len(lines[0]) + len(lines[1]) :]


def test_errors(client: Client, bucket: str):
    with pytest.raises(aisgo.NotFound) as e:
        client.get_object(bucket, "missing")
    assert not isinstance(e.value, aisgo.BucketNotFound)
    assert e.value.status == 404 and e.value.kind == "not-found" and "missing" in str(e.value)
    with pytest.raises(aisgo.NotFound) as e:
        client.head_object(bucket, "missing")  # the error comes in Hdr-Error
    assert e.value.kind == "not-found" and e.value.message
    assert not client.object_exists(bucket, "missing")

    for call in (
        lambda: client.get_object("no-such-bucket-x", "o"),
        lambda: client.head_object("no-such-bucket-x", "o"),
        lambda: client.put_object("no-such-bucket-x", "o", b"1"),
        lambda: client.bucket_props("no-such-bucket-x"),
        lambda: list(client.list_objects("no-such-bucket-x")),
        lambda: client.object_exists("no-such-bucket-x", "o"),
    ):
        with pytest.raises(aisgo.BucketNotFound) as e:
            call()
        assert e.value.status == 404 and e.value.kind == "bucket-not-found"
        assert isinstance(e.value, aisgo.NotFound)

    with pytest.raises(aisgo.BadRequest) as e:
        client.create_bucket("bad name!")
    assert e.value.status == 400 and isinstance(e.value, aisgo.InvalidName)
    with pytest.raises(aisgo.BadRequest):
        client.create_bucket("")
    with pytest.raises(aisgo.BadRequest):
        client.put_object(bucket, "a/../escape", b"1")  # not folded into "escape" on the way
    assert not client.object_exists(bucket, "escape")
    with pytest.raises(aisgo.BadRequest):
        client.bucket_props("..")
    with pytest.raises(aisgo.BadRequest):
        client.dsort_start({"input_bck": {"name": bucket}})  # no input_format
    with pytest.raises(aisgo.JobNotFound):
        client.dsort_status("srt-nosuchjob")


def test_bad_endpoint():
    c = Client("http://127.0.0.1:1", timeout=5)
    with pytest.raises(aisgo.AisConnectionError) as e:
        c.list_buckets()
    msg = str(e.value)
    assert "http://127.0.0.1:1" in msg and "unreachable" in msg
    assert isinstance(e.value, ConnectionError) and isinstance(e.value, aisgo.AisError)
    with pytest.raises(aisgo.AisConnectionError, match="127.0.0.1:1"):
        c.put_object("b", "o", b"x")
    with pytest.raises(aisgo.AisConnectionError, match="127.0.0.1:1"):
        c.get_object("b", "o")
    with pytest.raises(ValueError):
        Client("localhost:8080")  # no scheme


def test_failover_to_second_gateway(cluster, bucket: str):
    c = Client(f"http://127.0.0.1:1,{cluster.endpoint}", timeout=5)
    c.put_object(bucket, "fo", b"ok")
    assert c.get_object(bucket, "fo") == b"ok"
    assert c.endpoint == cluster.endpoint


def test_no_failover_of_a_post_that_may_have_been_acted_on(cluster, bucket: str):
    # A gateway that takes the request and drops the connection may have
    # acted on it: a POST is not sent to the next gateway, a GET is.
    import socket
    import threading

    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    seen = []

    def drop():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            seen.append(conn.recv(65536).split(b" ", 1)[0])
            conn.close()

    threading.Thread(target=drop, daemon=True).start()
    try:
        c = Client(f"http://127.0.0.1:{srv.getsockname()[1]},{cluster.endpoint}", timeout=5)
        with pytest.raises(aisgo.AisConnectionError):
            c.create_bucket(bucket + "-twice")
        assert seen == [b"POST"]
        assert not Client(cluster.endpoint).bucket_exists(bucket + "-twice")
        c.put_object(bucket, "again", b"ok")  # a PUT may be sent twice
        assert c.endpoint == cluster.endpoint
        # A PUT that is an action (an archive appending to a shard) starts
        # work: once sent, it is not sent again either.
        seen.clear()
        c = Client(f"http://127.0.0.1:{srv.getsockname()[1]},{cluster.endpoint}", timeout=5)
        with pytest.raises(aisgo.AisConnectionError):
            c.archive(bucket, "shard.tar", objnames=["again"], append=True)
        assert seen == [b"PUT"]
    finally:
        srv.close()


def test_list_objects_pages(client: Client, bucket: str):
    n = 5000
    names = [f"obj-{i:05d}" for i in range(n)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda name: client.put_object(bucket, name, name.encode()), names))
    client.put_object(bucket, "other/x", b"12345")

    pages = []
    token, uuid = "", ""
    while True:
        entries, token, uuid = client.list_objects_page(bucket, prefix="obj-", page_size=1000, continuation_token=token, uuid=uuid)
        pages.append(entries)
        if not token:
            break
    assert len(pages) >= 5 and all(len(p) <= 1000 for p in pages)

    listed = list(client.list_objects(bucket, prefix="obj-", page_size=1000))
    assert [e.name for e in listed] == names  # every page walked, in name order
    assert all(e.size == 9 for e in listed)  # sizes come as strings on the wire
    everything = list(client.list_objects(bucket, page_size=1000, props="name,size,checksum,version"))
    assert len(everything) == n + 1
    assert everything[-1].name == "other/x" and everything[-1].size == 5 and everything[-1].checksum
    assert [e.name for e in client.list_objects(bucket, prefix="other/")] == ["other/x"]


def _peak_rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def test_one_gib_streaming(client: Client, bucket: str):
    size = 1 << 30
    block = os.urandom(1 << 20)

    def blocks():
        for i in range(size // len(block)):
            yield block if i % 2 == 0 else block[::-1]

    want_crc = 0
    for b in blocks():
        want_crc = zlib.crc32(b, want_crc)

    _reset_peak_rss()
    before = _peak_rss_kib()
    meta = client.put_object(bucket, "big", blocks(), size=size)
    assert meta["size"] == size
    assert client.head_object(bucket, "big")["size"] == size

    crc, n = 0, 0
    with client.open_object(bucket, "big") as r:
        assert r.size == size
        for chunk in r.iter_chunks():
            crc = zlib.crc32(chunk, crc)
            n += len(chunk)
    grown_mib = (_peak_rss_kib() - before) / 1024
    assert n == size and crc == want_crc
    assert grown_mib < 200, f"peak RSS grew by {grown_mib:.0f} MiB while streaming 1 GiB"
    # a range at the end of a big object
    assert client.get_object(bucket, "big", byte_range=(size - 10, size - 1)) == block[::-1][-10:]
    client.delete_object(bucket, "big")


def test_cluster_status(client: Client):
    st = client.cluster_status()
    roles = sorted(n["role"] for n in st["nodes"])
    assert roles == ["gateway", "target", "target"]
    assert st["map_version"] > 0 and st["primary"]
    assert client.health()["status"] == "ok"
    smap = client.cluster_map()
    assert smap


def test_dsort_start_status_wait_abort(client: Client, cluster, new_bucket_name):
    src, dst = new_bucket_name(), new_bucket_name()
    client.create_bucket(src)
    try:
        cluster.ais("archive", "gen-shards", f"ais://{src}/in-{{0..3}}.tar", "--records", "20", "--record-size", "512", "--exts", ".bin,.cls")
        spec = {
            "input_bck": {"name": src},
            "output_bck": {"name": dst},
            "input_format": {"template": "in-{0..3}.tar"},
            "output_format": "out-{00..99}.tar",
            "output_shard_size": "8KiB",
            "algorithm": {"kind": "alphanumeric"},
            "description": "pytest dsort",
        }
        # the estimate counts what the job will make, and starts nothing
        est = client.dsort_estimate(spec)
        assert est["records"] == 80 and est["input_shards"] == 4 and est["output_shards"] > 0
        assert est["first_shard"].startswith("out-") and est["forecast"]["total_time"] > 0
        with pytest.raises(aisgo.AisError, match="dsort_estimate"):
            client.dsort_start(dict(spec, dry_run="estimate"))
        assert not any(j.get("description") == "pytest dsort" for j in client.dsort_list(regex="pytest dsort"))

        job = client.dsort_start(spec)
        assert job
        seen = []
        st = client.dsort_wait(job, progress=seen.append, poll=0.1, timeout=60)
        assert seen and seen[-1] is st
        assert st.finished and not st.aborted and st.done
        assert st.extracted_shards == 4 and st.total_shards == 4
        assert st.created_records == 80 and st.created_shards == st.to_create > 0
        assert st.created_shards == est["output_shards"]
        assert set(st.targets)  # per-target metrics
        outs = [e.name for e in client.list_objects(dst) if not e.name.endswith(".idx")]
        assert len(outs) == st.created_shards
        assert any(j.get("id") == job for j in client.dsort_list(regex="pytest dsort"))
        client.dsort_remove(job)

        # abort: a job of many shards is stopped; waiting reports it
        spec2 = dict(spec, output_bck={"name": dst + "-2"}, output_format="o-{0000..9999}.tar", output_shard_size="1KiB")
        for attempt in range(3):
            job2 = client.dsort_start(dict(spec2, output_bck={"name": f"{dst}-2-{attempt}"}))
            try:
                client.dsort_abort(job2)
                break
            except aisgo.JobFinished:
                # it finished before the abort came: nothing to abort,
                # and the abort is tried again on another run
                assert client.dsort_wait(job2, timeout=60).finished
        else:
            pytest.fail("each of 3 jobs finished before its abort came: the abort was not tested")
        with pytest.raises(aisgo.DsortAborted) as e:
            client.dsort_wait(job2, poll=0.1, timeout=60)
        assert e.value.job_id == job2 and job2 in str(e.value)
        st2 = client.dsort_wait(job2, poll=0.1, timeout=60, raise_on_abort=False)
        assert st2.aborted and st2.done and not st2.finished
        # a wait that times out names the job; a small job may finish
        # before the first look, which is then not a timeout
        job3 = client.dsort_start(dict(spec2, output_bck={"name": dst + "-3"}))
        try:
            st3 = client.dsort_wait(job3, poll=0.05, timeout=0)
            assert st3.finished and st3.done
        except aisgo.DsortTimeout as e:
            assert job3 in str(e)
        assert client.dsort_wait(job3, poll=0.05, timeout=60).finished
    finally:
        for b in (src, dst, dst + "-3", *(f"{dst}-2-{i}" for i in range(3))):
            client.destroy_bucket(b, missing_ok=True)


def test_client_pickles(client: Client, bucket: str):
    import pickle

    c2 = pickle.loads(pickle.dumps(client))
    c2.put_object(bucket, "p", b"1")
    assert c2.get_object(bucket, "p") == b"1"
    err = pickle.loads(pickle.dumps(aisgo.NotFound("gone", status=404, kind="not-found")))
    assert isinstance(err, aisgo.NotFound) and err.status == 404 and err.kind == "not-found"


# -- the command line ------------------------------------------------------------


def _cli(cluster, *args, input=None, cwd=None):
    env = cluster.env()
    env["PYTHONPATH"] = PYROOT + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "aisgo", *args], env=env, capture_output=True, input=input, timeout=60, cwd=cwd)


def test_cli(cluster, client: Client, bucket: str, tmp_path):
    p = _cli(cluster, "--help")
    assert p.returncode == 0 and b"ls" in p.stdout and b"get" in p.stdout and b"put" in p.stdout and b"AIS_ENDPOINT" in p.stdout

    src = tmp_path / "in.bin"
    src.write_bytes(b"cli data")
    assert _cli(cluster, "put", str(src), f"ais://{bucket}/x/in.bin").returncode == 0
    assert _cli(cluster, "put", str(src), f"ais://{bucket}/y/").returncode == 0
    assert _cli(cluster, "put", "-", f"ais://{bucket}/stdin", input=b"piped").returncode == 0
    assert client.get_object(bucket, "y/in.bin") == b"cli data"
    assert client.get_object(bucket, "stdin") == b"piped"

    p = _cli(cluster, "ls", f"ais://{bucket}/x/", "--json")
    assert p.returncode == 0 and json.loads(p.stdout) == [{"name": "x/in.bin", "size": 8}]
    p = _cli(cluster, "ls")
    assert p.returncode == 0 and f"ais://{bucket}".encode() in p.stdout

    p = _cli(cluster, "get", f"ais://{bucket}/x/in.bin", "-")
    assert p.returncode == 0 and p.stdout == b"cli data"
    dest = tmp_path / "out.bin"
    assert _cli(cluster, "get", f"ais://{bucket}/x/in.bin", str(dest)).returncode == 0
    assert dest.read_bytes() == b"cli data"

    # Named after an object whose base name is "-": a file, not stdout.
    client.put_object(bucket, "logs/-", b"dash")
    p = _cli(cluster, "get", f"ais://{bucket}/logs/-", cwd=tmp_path)
    assert p.returncode == 0 and p.stdout == b"" and (tmp_path / "-").read_bytes() == b"dash"
    # A name's control characters are escaped, not sent to the terminal.
    client.put_object(bucket, "esc/a\x1b[2K\rclean.tar", b"")
    p = _cli(cluster, "ls", f"ais://{bucket}/esc/")
    assert p.returncode == 0 and b"\x1b" not in p.stdout and b"esc/a\\x1b[2K\\rclean.tar" in p.stdout, p.stdout

    p = _cli(cluster, "get", f"ais://{bucket}/none", "-")
    assert p.returncode == 1 and b"not found" in p.stderr
    p = _cli(cluster, "--endpoint", "http://127.0.0.1:1", "ls")
    assert p.returncode == 1 and b"http://127.0.0.1:1" in p.stderr
