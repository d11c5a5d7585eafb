"""Pieces that need no cluster: templates, keys, error mapping, indexes."""

from __future__ import annotations

import gzip
import http.server
import io
import itertools
import json
import os
import socket
import tarfile
import threading
import time

import pytest

import aisgo
from aisgo.client import DsortStatus, _range_header
from aisgo.errors import error_from_response
from aisgo.index import ShardIndex
from aisgo.template import parse_template
from tars import make_tar, sparse_tar


class _QuietHandler(http.server.BaseHTTPRequestHandler):
    """A test server's handler that does not log each request."""

    def log_message(self, *args):
        pass

    def answer_json(self, status: int, value) -> None:
        """Answers with value as JSON."""
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


# The ports _free_port handed out, each held by a socket bound but not
# listening: connections to it are refused (a node down), and nothing else
# takes it meanwhile (an outgoing connection's source port, which could
# even connect to itself there). _LaterServer listens on it.
_reserved: dict = {}


def _free_port() -> int:
    """A loopback port nothing listens on (a node down, for now)."""
    import socket

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    _reserved[port] = probe
    return port


def _redirects_to(port: int, *methods: str):
    """A gateway's handler that redirects the methods to a node at port, as
    a node of the cluster does (naming its time and map version)."""

    def redirect(self):
        self.send_response(307)
        sep = "&" if "?" in self.path else "?"
        self.send_header("Location", f"http://127.0.0.1:{port}{self.path}{sep}utm=1&smv=1")
        self.send_header("Content-Length", "0")
        self.end_headers()

    return type("Gateway", (_QuietHandler,), {f"do_{method}": redirect for method in methods})


class _LaterServer:
    """Serves a handler at a port after a delay, in the background: a node
    restarting. stop() shuts it down, started or about to be."""

    def __init__(self, port: int, handler, delay: float = 1.0):
        self.server = None

        def start():
            time.sleep(delay)
            reserved = _reserved.pop(port, None)
            if reserved is None:
                self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
            else:
                # On the socket that held the port: it listens now.
                server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler, bind_and_activate=False)
                server.socket.close()
                server.socket = reserved
                server.server_address = reserved.getsockname()
                server.server_activate()
                self.server = server
            threading.Thread(target=self.server.serve_forever, daemon=True).start()

        self.thread = threading.Thread(target=start, daemon=True)
        self.thread.start()

    def stop(self):
        self.thread.join(timeout=10)
        if self.server is not None:
            self.server.shutdown()


def _serve(handler):
    """A local HTTP server of a handler class, serving from a thread until
    its shutdown()."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_templates():
    t = parse_template("shard-{000..063}.tar")
    names = list(t.names())
    assert len(names) == t.count() == 64 and names[0] == "shard-000.tar" and names[-1] == "shard-063.tar"
    assert list(parse_template("x-{0..10..5}-{00..01}").names()) == ["x-0-00", "x-0-01", "x-5-00", "x-5-01", "x-10-00", "x-10-01"]
    assert list(parse_template("n-{0..12}").names())[10] == "n-10"  # {0..12}: no padding
    assert list(parse_template("p-{0000..1000}").names())[7] == "p-0007"
    assert list(parse_template("s-@099.tar").names())[:2] == ["s-000.tar", "s-001.tar"]
    assert t.matches("shard-007.tar") and not t.matches("shard-7.tar") and not t.matches("shard-064.tar")
    assert not t.matches("shard-007.tar.idx")
    assert t.values_of("shard-012.tar") == (12,)
    # Ranges that run together split where the template puts them.
    joined = parse_template("out-{0..9}{000..999}.tar")
    assert joined.values_of("out-5123.tar") == (5, 123) and all(joined.matches(n) for n in list(joined.names())[::997])
    assert not joined.matches("out-51234.tar") and not joined.matches("out-512.tar")
    # Unpadded ranges that run together split every way the template can
    # make a name: each name it makes is matched, to the values it was
    # made of first (s-150 is 1 and 50, not 15 and 0).
    loose = parse_template("s-{1..10}{0..99}.tar")
    first = {}
    for values, name in zip(itertools.product(range(1, 11), range(100)), loose.names()):
        first.setdefault(name, values)
    assert loose.values_of("s-150.tar") == (1, 50)
    assert all(loose.values_of(name) == values for name, values in first.items())
    assert not loose.matches("s-1100.tar") and not loose.matches("s-0.tar") and not loose.matches("s-١٥.tar")
    assert not parse_template("shard-").is_range and parse_template("shard-*").prefix == "shard-"
    assert parse_template("").prefix == "" and parse_template("*").prefix == ""
    for bad in ("a-{1..}", "a-{2..1}", "a-{0..9", "a-0..9}", "a-{0..9..0}", "a-{x..y}", "a-%06d.tar", "a-@"):
        with pytest.raises(aisgo.TemplateError):
            parse_template(bad)
    # As the cluster reads them (shards/template.go): numbers past 64
    # bits (past Python's 4300-digit conversion too), names over 1024
    # bytes, a '%' without d, a width without its 0, digits that are not
    # ASCII after '@' (a gap there).
    for bad, why in (
        ("s-{0..1" + "0" * 5000 + "}", "out of range"),
        ("s-@" + "9" * 5000, "out of range"),
        ("s-{0..9223372036854775808}", "out of range"),
        ("s-{" + "0" * 1100 + ".." + "0" * 1100 + "1}", "over the limit of 1024"),
        ("x" * 1020 + "{0..99999}", "over the limit of 1024"),
        ("a%b", "must be followed by d"),
        ("5%/d", "leading 0"),
        ("x@9\u00b2", None),
    ):
        if why is None:
            assert parse_template(bad).ranges[0].gap == "\u00b2"
            continue
        with pytest.raises(aisgo.TemplateError, match=why):
            parse_template(bad)
    assert parse_template("s-{0..9223372036854775807..9223372036854775807}").count() == 2
    # Leading zeros are no digits of the number (nor of the 4300 Python
    # converts): {0..0007} is {0..7}; @0000 pads to its width.
    assert parse_template("s-{0.." + "0" * 4400 + "7}").count() == 8
    with pytest.raises(aisgo.TemplateError, match="over the limit of 1024"):
        parse_template("s-@" + "0" * 5000)


def test_split_name():
    assert aisgo.split_name("a/b/sample-1.jpg") == ("a/b/sample-1", "jpg")
    assert aisgo.split_name("a/b/sample-1.cls.json") == ("a/b/sample-1", "cls.json")
    assert aisgo.split_name("a.b/c") == ("a.b/c", "")
    assert aisgo.split_name("x.y/z.seg.png") == ("x.y/z", "seg.png")


def test_error_mapping():
    def err(status, kind="", msg="m", header=False, tcode=""):
        body = json.dumps({"status": status, "kind": kind, "message": msg, "tcode": tcode, "node": "t1"})
        if header:
            return error_from_response(status, b"", {"Hdr-Error": body})
        return error_from_response(status, body.encode())

    assert type(err(404, "not-found")) is aisgo.NotFound
    assert type(err(404, "bucket-not-found")) is aisgo.BucketNotFound
    assert type(err(404, "bucket-not-found", header=True)) is aisgo.BucketNotFound
    assert type(err(409, "bucket-exists")) is aisgo.BucketExists
    assert isinstance(err(409, "bucket-exists"), aisgo.Conflict)
    assert type(err(400, "invalid-name")) is aisgo.InvalidName
    assert isinstance(err(400, "invalid-spec"), aisgo.BadRequest)
    assert type(err(416, "range")) is aisgo.RangeNotSatisfiable
    assert type(err(503, "unavailable")) is aisgo.Unavailable
    assert type(err(503, "no-quorum")) is aisgo.NoQuorum
    assert type(err(507, "no-space")) is aisgo.NoSpace
    assert type(err(404, "job-not-found")) is aisgo.JobNotFound
    assert type(err(404, tcode="ErrBckNotFound")) is aisgo.BucketNotFound
    assert type(err(404)) is aisgo.NotFound  # an unknown kind: by status
    assert type(err(500, "io")) is aisgo.ServerError
    # An error of no kind of its own ("internal") is what its status says:
    # a 503 is asked again, a 409 is a conflict.
    assert type(err(503, "internal")) is aisgo.Unavailable
    assert type(err(409, "internal")) is aisgo.Conflict
    assert type(err(500, "internal")) is aisgo.ServerError
    assert type(err(418)) is aisgo.AisError
    # A HEAD's error in its header, UTF-8 as sent, read by http.client as
    # ISO-8859-1: the name comes back whole.
    sent = json.dumps({"status": 404, "kind": "not-found", "message": "ais://b/été.jpg: not found"}, ensure_ascii=False)
    assert error_from_response(404, b"", {"Hdr-Error": sent.encode().decode("latin-1")}).message == "ais://b/été.jpg: not found"
    e = err(404, "not-found", msg="ais://b/o: object not found")
    assert e.status == 404 and e.kind == "not-found" and e.node == "t1" and "ais://b/o" in str(e)
    plain = error_from_response(502, b"upstream died")
    assert isinstance(plain, aisgo.BadGateway) and plain.message == "upstream died"
    empty = error_from_response(503, b"")
    assert isinstance(empty, aisgo.Unavailable) and empty.message == "Service Unavailable"


def test_member_range_headers():
    from aisgo.index import IndexMember

    assert IndexMember(name="a.jpg", header_offset=0, data_offset=512, size=10).range_header() == "bytes=512-521"
    with pytest.raises(ValueError, match="empty"):
        IndexMember(name="e.cls", header_offset=1024, data_offset=1536, size=0).range_header()


def test_range_headers():
    assert _range_header((0, 9)) == "bytes=0-9"
    assert _range_header((5, None)) == "bytes=5-"
    assert _range_header((None, 3)) == "bytes=-3"
    assert _range_header(range(2, 4)) == "bytes=2-3"
    assert _range_header(slice(1, None)) == "bytes=1-"
    assert _range_header("0-1") == "bytes=0-1"
    with pytest.raises(ValueError):
        _range_header((3, 1))
    with pytest.raises(TypeError):
        _range_header(3.5)
    # A negative slice start is a suffix; other negatives are refused
    # here, not sent as a malformed header (a 416 from the node).
    assert _range_header(slice(-100, None)) == "bytes=-100"
    for bad in (slice(-100, -1), slice(2, -1), (-100, None), (-5, 3)):
        with pytest.raises(ValueError):
            _range_header(bad)


def test_dsort_status_sums_targets():
    def info(aborted=False, archived=False, phase="create", created="3"):
        return {
            "id": "srt-1",
            "phase": phase,
            "aborted": aborted,
            "archived": archived,
            "Metrics": {
                "local_extraction": {"total_count": "4", "extracted_count": "4", "extracted_record_count": "40"},
                "shard_creation": {"to_create": "5", "created_count": created, "created_record_count": "30"},
                "errors": ["boom"] if aborted else [],
            },
        }

    st = DsortStatus.from_wire("srt-1", {"t1": info(archived=True, phase="finished"), "t2": info()})
    assert not st.done and st.phase == "create" and st.total_shards == 8 and st.created_shards == 6 and st.to_create == 10
    st = DsortStatus.from_wire("srt-1", {"t1": info(archived=True), "t2": info(archived=True)})
    assert st.finished and st.done and not st.aborted
    st = DsortStatus.from_wire("srt-1", {"t1": info(archived=True), "t2": info(aborted=True)})
    assert st.aborted and st.done and not st.finished and st.errors == ["boom"]
    assert not DsortStatus.from_wire("srt-1", {}).done


def _tar(members, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        d = tarfile.TarInfo("a-dir")
        d.type = tarfile.DIRTYPE
        tf.addfile(d)
    return buf.getvalue()


def test_index_from_tar_and_json():
    long_name = "d/" + "x" * 120 + ".bin"  # a PAX header before its own
    data = _tar([("a/s-1.jpg", b"J" * 1000), (long_name, b"L" * 10), ("a/s-1.cls", b"")])
    idx = ShardIndex.from_tar(io.BytesIO(data), "shard.tar")
    assert [m.name for m in idx] == ["a/s-1.jpg", long_name, "a/s-1.cls"]  # no directory
    for m in idx:
        assert data[m.data_offset : m.data_offset + m.size] == {"a/s-1.jpg": b"J" * 1000, long_name: b"L" * 10, "a/s-1.cls": b""}[m.name]
    assert idx[0].header_offset == 0 and idx[0].data_offset == 512
    assert idx[1].data_offset - idx[1].header_offset > 512  # the PAX header counts
    assert idx["a/s-1.cls"].size == 0 and "a/s-1.jpg" in idx
    again = ShardIndex.from_json(idx.to_json())
    assert again.members == idx.members and again.shard_size == len(data) and again.shard == "shard.tar"
    doc = json.loads(idx.to_json())
    assert set(doc) == {"version", "shard", "shard_size", "format", "members"}
    assert set(doc["members"][0]) == {"name", "header_offset", "data_offset", "size"}


def test_index_of_a_cut_or_corrupt_tar_is_refused():
    """A tar cut short or with a corrupt header is not indexed by the
    members before it (tarfile stops there quietly): a dataset read by the
    index would train on part of the shard."""
    data = _tar([("s-0.bin", b"0" * 600), ("s-1.bin", b"1" * 600), ("s-2.bin", b"2" * 600)])
    third = data.index(b"s-2.bin")  # its header's offset: its name is first
    corrupt = data[:third + 100] + b"\xff" * 8 + data[third + 108:]  # its mode, not octal
    end = data.rindex(b"2" * 600) + 1024  # past the last member's padded data
    for name, bad in (("cut in a header", data[:third + 200]), ("cut after a member", data[:third]), ("corrupt header", corrupt),
                      ("a zero block, then data", data[:end] + bytes(512) + b"junk" * 128 + data[end + 1024:])):
        with pytest.raises(aisgo.ShardError):
            ShardIndex.from_tar(io.BytesIO(bad), "s.tar")
            pytest.fail(name)
    # After the end marker, data is not the archive's: indexed as the
    # cluster's reader (and GNU tar) read it.
    assert [m.name for m in ShardIndex.from_tar(io.BytesIO(data + b"junk"), "s.tar").members] == ["s-0.bin", "s-1.bin", "s-2.bin"]


def test_index_members_are_compact():
    """A dataset keeps a member per record in every worker: no __dict__
    each, and the by-name table only once a name is looked up."""
    from aisgo.index import IndexMember

    import copy
    import pickle

    m = IndexMember("a.jpg", 0, 512, 10)
    assert not hasattr(m, "__dict__")
    idx = ShardIndex(shard="s.tar", shard_size=2048, members=[m])
    assert idx._by_name is None
    assert idx["a.jpg"] is m and "a.jpg" in idx and "b.jpg" not in idx
    # Pickled into spawned DataLoader workers with the dataset, copied.
    again = pickle.loads(pickle.dumps(idx))
    assert again.members == [m] and again["a.jpg"] == m
    assert copy.copy(m) == m and copy.deepcopy(m) == m


def test_index_validation():
    good = {"version": 1, "shard": "s.tar", "shard_size": 2048, "format": "tar", "members": [{"name": "a", "header_offset": 0, "data_offset": 512, "size": 10}]}
    assert len(ShardIndex.from_dict(good)) == 1
    for bad in (
        dict(good, version=2),
        dict(good, members=[{"name": "a", "header_offset": 0, "data_offset": 512, "size": 4000}]),
        dict(good, members=[{"name": "a", "header_offset": 600, "data_offset": 512, "size": 1}]),
        dict(good, members=[{"name": "a"}]),
        {"version": 1},
    ):
        with pytest.raises(aisgo.ShardIndexError):
            ShardIndex.from_dict(bad)
    with pytest.raises(aisgo.ShardIndexError):
        ShardIndex.from_json(b"not json")


def test_distributed_rank(monkeypatch):
    if not os.environ.get("CI"):
        pytest.importorskip("torch")
    from aisgo.torch import distributed_rank

    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed_rank() == (0, 1)
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert distributed_rank() == (3, 4)
    assert distributed_rank(1, 2) == (1, 2)
    with pytest.raises(ValueError):
        distributed_rank(4, 4)


def test_package_imports_without_torch():
    import subprocess
    import sys
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = "import sys, aisgo, aisgo.index, aisgo.client; assert 'torch' not in sys.modules; print(aisgo.__version__)"
    p = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=root), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_token_is_sent(monkeypatch, tmp_path):
    """A token (given, from $AIS_AUTHN_TOKEN or from the token file) goes
    with every request as a bearer token."""

    seen = []

    class Handler(_QuietHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            seen.append(self.headers.get("Authorization"))
            body = b"[]"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = _serve(Handler)
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        token_file = tmp_path / "auth.token"
        token_file.write_text("from-file\n")
        monkeypatch.setenv("AIS_AUTHN_TOKEN_FILE", str(token_file))
        monkeypatch.delenv("AIS_AUTHN_TOKEN", raising=False)
        aisgo.Client(endpoint).list_buckets()
        monkeypatch.setenv("AIS_AUTHN_TOKEN", "from-env")
        aisgo.Client(endpoint).list_buckets()
        aisgo.Client(endpoint, token="given").list_buckets()
        aisgo.Client(endpoint, token="read-from-a-file\n").list_buckets()
        monkeypatch.delenv("AIS_AUTHN_TOKEN")
        monkeypatch.setenv("AIS_AUTHN_TOKEN_FILE", str(tmp_path / "none"))
        aisgo.Client(endpoint).list_buckets()
    finally:
        server.shutdown()
    assert seen == ["Bearer from-file", "Bearer from-env", "Bearer given", "Bearer read-from-a-file", None]
    # A line break inside is refused, and the message does not show the
    # token (requests' own error would, into a job's log).
    with pytest.raises(ValueError) as e:
        aisgo.Client(endpoint, token="secret-part\nother-part")
    assert "secret-part" not in str(e.value) and "other-part" not in str(e.value)


def test_token_file_where_the_cli_keeps_it(monkeypatch):
    """The token file is where Go's os.UserConfigDir puts ``ais auth
    login``'s, on each platform."""
    from aisgo import client as module

    monkeypatch.setenv("HOME", "/home/u")
    monkeypatch.setattr(module.sys, "platform", "darwin")
    assert module._user_config_dir() == "/home/u/Library/Application Support"
    monkeypatch.setattr(module.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", "/xdg")
    assert module._user_config_dir() == "/xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", "relative")
    assert module._user_config_dir() == ""  # none, as Go has
    monkeypatch.delenv("XDG_CONFIG_HOME")
    assert module._user_config_dir() == "/home/u/.config"


def test_tls_verification_from_env(monkeypatch):
    """An https cluster's certificates are checked as the CLI checks them."""
    import os

    for name in ("AIS_CLIENT_CA", "AIS_SKIP_VERIFY_CRT"):
        monkeypatch.delenv(name, raising=False)
    default = aisgo.Client("https://127.0.0.1:1").verify
    assert default is True or os.path.exists(default), default  # the system's CAs
    monkeypatch.setenv("AIS_SKIP_VERIFY_CRT", "true")
    assert aisgo.Client("https://127.0.0.1:1").verify is False
    monkeypatch.setenv("AIS_CLIENT_CA", "/etc/ais/ca.pem")
    assert aisgo.Client("https://127.0.0.1:1").verify is False  # skip wins, as in Go
    monkeypatch.delenv("AIS_SKIP_VERIFY_CRT")
    assert aisgo.Client("https://127.0.0.1:1").verify == "/etc/ais/ca.pem"
    assert aisgo.Client("https://127.0.0.1:1", verify=True).verify is True
    # A client certificate for a cluster that verifies its clients, as the
    # CLI takes it; half of it is refused, naming the other half.
    assert aisgo.Client("https://127.0.0.1:1")._session().cert is None
    monkeypatch.setenv("AIS_CRT", "/etc/ais/client.pem")
    with pytest.raises(ValueError, match="AIS_CRT_KEY"):
        aisgo.Client("https://127.0.0.1:1")
    monkeypatch.setenv("AIS_CRT_KEY", "/etc/ais/client.key")
    assert aisgo.Client("https://127.0.0.1:1")._session().cert == ("/etc/ais/client.pem", "/etc/ais/client.key")


def test_tar_headers_are_bounded():
    # A small tgz whose PAX header claims megabytes is refused before
    # tarfile reads the header into memory; a long name within the bound
    # reads.
    from aisgo import torch as aistorch

    def tgz(pax):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
            ti = tarfile.TarInfo("d/" + "n" * 300 + ".jpg")
            ti.size = 1
            ti.pax_headers = pax
            tf.addfile(ti, io.BytesIO(b"1"))
        return gzip.compress(buf.getvalue())

    with tarfile.open(fileobj=io.BytesIO(tgz({})), mode="r|*", tarinfo=aistorch._BoundedTarInfo) as tf:
        assert [m.name for m in tf] == ["d/" + "n" * 300 + ".jpg"]
    with pytest.raises(tarfile.ReadError, match="a header of"):
        with tarfile.open(fileobj=io.BytesIO(tgz({"comment": "a" * (3 << 20)})), mode="r|*", tarinfo=aistorch._BoundedTarInfo) as tf:
            list(tf)


def test_negative_pax_size_is_refused():
    # A PAX header's size of -1536 would have tarfile seek back to that
    # header and read it for ever (an index of a shard, with seeks).
    from aisgo.client import _BoundedTarInfo

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        a = tarfile.TarInfo("a.bin")
        a.size = 3
        tf.addfile(a, io.BytesIO(b"abc"))
        b = tarfile.TarInfo("b.bin")
        b.size = 3
        b.pax_headers = {"size": "-1536"}
        tf.addfile(b, io.BytesIO(b"xyz"))
    seen = []
    with pytest.raises(tarfile.ReadError, match="size of -1536"):
        with tarfile.open(fileobj=io.BytesIO(buf.getvalue()), mode="r:", tarinfo=_BoundedTarInfo) as tf:
            for m in itertools.islice(tf, 10):
                seen.append(m.name)
    assert seen == ["a.bin"]
    # So is one a plain header gives in base-256.
    plain = bytearray(_tar([("a.bin", b"abc"), ("b.bin", b"xyz")], fmt=tarfile.USTAR_FORMAT))
    header = 1024  # the second member's
    plain[header + 124:header + 136] = b"\xff" + (-1024 & ((1 << 88) - 1)).to_bytes(11, "big")
    plain[header + 148:header + 156] = b" " * 8
    plain[header + 148:header + 155] = b"%06o\0" % sum(plain[header:header + 512])
    seen = []
    with pytest.raises(tarfile.ReadError, match="size of -1024"):
        with tarfile.open(fileobj=io.BytesIO(bytes(plain)), mode="r:", tarinfo=_BoundedTarInfo) as tf:
            for m in itertools.islice(tf, 10):
                seen.append(m.name)
    assert seen == ["a.bin"]


def test_negative_long_name_header_size_is_refused():
    # A GNU long-name header whose own size is negative (base-256): read as
    # is, a seekable shard's rest would be read into memory at once.
    from aisgo.client import _BoundedTarInfo

    gnu = bytearray(_tar([("d/" + "n" * 120 + ".bin", b"abc")], fmt=tarfile.GNU_FORMAT))
    assert gnu[156:157] == b"L"
    gnu[124:136] = b"\xff" + (-1024 & ((1 << 88) - 1)).to_bytes(11, "big")
    gnu[148:156] = b" " * 8
    gnu[148:155] = b"%06o\0" % sum(gnu[0:512])
    with pytest.raises(tarfile.ReadError, match="a header of -1024 bytes"):
        with tarfile.open(fileobj=io.BytesIO(bytes(gnu)), mode="r:", tarinfo=_BoundedTarInfo) as tf:
            list(itertools.islice(tf, 10))


def test_client_pickled_by_an_older_version_loads():
    import pickle

    state = aisgo.Client("http://127.0.0.1:1").__getstate__()
    del state["cert"]  # an older client's had none
    again = aisgo.Client.__new__(aisgo.Client)
    again.__setstate__(pickle.loads(pickle.dumps(state)))
    assert again.cert is None and again._session().cert is None


def test_job_parts_lost_or_unknown():
    from aisgo.client import _lost_parts

    job = {"id": "j", "targets": ["t1", "t2", "t3"], "started": 100, "finished": 200, "running": False}
    nodes = [
        {"id": "t1", "started": 10, "jobs": [job]},
        {"id": "t2", "error": "connection refused"},  # silent: its part is unknown
        {"id": "t3", "started": 150, "jobs": []},  # restarted while the job ran
        {"id": "g1", "started": 150, "jobs": []},  # not a target of the job
    ]
    got = _lost_parts(nodes, "j", [job])
    assert len(got) == 2 and got[0].startswith("t2: did not answer") and got[1].startswith("t3: restarted")
    # restarted after the job ended everywhere: it forgot a part that was done
    nodes[2]["started"] = 300
    assert len(_lost_parts(nodes, "j", [job])) == 1
    # unless it keeps its ended parts (since before the job): not listing
    # it, its part was cut
    job["kind"] = "copy-bck"
    nodes[2]["jobs_since"] = {"": 50, "copy-bck": 120}  # its kind's records begin after the job
    assert len(_lost_parts(nodes, "j", [job])) == 1
    nodes[2]["jobs_since"] = {"": 200, "copy-bck": 50}
    assert [p[:3] for p in _lost_parts(nodes, "j", [job])] == ["t2:", "t3:"]
    # listing it (kept across its restart): its part is done
    nodes[2]["jobs"] = [job]
    assert len(_lost_parts(nodes, "j", [job])) == 1
    del nodes[2]["jobs_since"]
    # starting again, restarted while the job ran: not known yet
    starting = {"id": "t3", "started": 150, "starting": True, "jobs": []}
    assert _lost_parts([nodes[0], starting], "j", [job])[-1].startswith("t3: is starting")
    # a target that left the cluster: its part is not known done
    got = _lost_parts([nodes[0], nodes[2], nodes[3]], "j", [job])
    assert got == ["t2: has left the cluster: whether its part of the job was done is not known; run the job again"]


def _serve_json(answer: bytes):
    """A local server answering every GET with the JSON answer; returns
    (endpoint, shutdown)."""

    class Handler(_QuietHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = _serve(Handler)
    return f"http://127.0.0.1:{server.server_address[1]}", server.shutdown


def test_incomplete_listing_is_an_error():
    """A listing that misses an offline target's objects raises (a dataset
    would silently lose its shards), unless asked to take it."""
    endpoint, shutdown = _serve_json(b'{"entries": [{"name": "a.tar", "size": 1}], "incomplete": ["t2"]}')
    try:
        client = aisgo.Client(endpoint)
        with pytest.raises(aisgo.errors.Unavailable, match="t2"):
            list(client.list_objects("b"))
        assert [e.name for e in client.list_objects("b", allow_incomplete=True)] == ["a.tar"]
    finally:
        shutdown()


def test_put_with_a_write_only_token():
    """A token that may put and may not look: the HEAD that finds the owner
    is refused, and the PUT goes to the gateway (which redirects it)."""

    seen = []

    class Handler(_QuietHandler):
        def do_HEAD(self):  # noqa: N802 (http.server's name)
            seen.append("HEAD")
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_PUT(self):  # noqa: N802
            seen.append("PUT " + self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = _serve(Handler)
    try:
        aisgo.Client(f"http://127.0.0.1:{server.server_address[1]}").put_object("b", "o", b"data")
    finally:
        server.shutdown()
    assert seen == ["HEAD", "PUT data"]


def test_get_batch_cut_short_is_an_error():
    """A get-batch archive that ends before every entry asked for came (cut
    at a header boundary, where tarfile stops quietly) raises."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tf:
        ti = tarfile.TarInfo("b/one")
        ti.size = 3
        tf.addfile(ti, io.BytesIO(b"one"))
    endpoint, shutdown = _serve_json(out.getvalue()[:1024])  # the member, no end marker
    try:
        with pytest.raises(aisgo.AisError, match="1 of the 2 entries"):
            list(aisgo.Client(endpoint).get_batch("b", ["one", "two"]))
    finally:
        shutdown()


def test_get_batch_bounds_what_it_reads():
    """get-batch reads each entry into memory: an entry past max_member_size,
    or a long-name header past MAX_HEADER_SIZE, raises before it is read;
    an entry cut short raises too."""
    def batch(*members: tuple) -> bytes:
        return make_tar(members, tarfile.GNU_FORMAT)

    cases = [
        (batch(("b/one", b"x" * 2000)), {"max_member_size": 1000}, "b/one is 2000 bytes, more than the 1000", aisgo.AisError),
        (batch(("b/" + "n" * (aisgo.client.MAX_HEADER_SIZE + 1), b"x")), {}, "a header of", aisgo.AisError),
        (batch(("b/one", b"x" * 2000))[:512 + 1024], {}, "the archive broke off", aisgo.AnswerCut),
    ]
    for body, kwargs, want, kind in cases:
        endpoint, shutdown = _serve_json(body)
        try:
            with pytest.raises(kind, match=want) as raised:
                list(aisgo.Client(endpoint).get_batch("b", ["one"], **kwargs))
            # A refusal of the reader's is no answer cut (asked again, it
            # would be refused again).
            assert isinstance(raised.value, aisgo.AnswerCut) == (kind is aisgo.AnswerCut), raised.value
        finally:
            shutdown()
    endpoint, shutdown = _serve_json(batch(("b/one", b"x" * 1000)))
    try:
        assert list(aisgo.Client(endpoint).get_batch("b", ["one"], max_member_size=1000)) == [("b/one", b"x" * 1000)]
    finally:
        shutdown()


def test_errors_do_not_show_a_redirects_grant():
    """A target that does not answer is named without the query of the
    redirect to it: that carries an access grant, usable for a while by
    whoever reads the log."""

    class Handler(_QuietHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(307)
            self.send_header("Location", "http://127.0.0.1:1/v1/objects/b/o?agrant=s3cr3t-grant")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = _serve(Handler)
    try:
        with pytest.raises(aisgo.AisConnectionError) as e:
            aisgo.Client(f"http://127.0.0.1:{server.server_address[1]}").get_object("b", "o").read()
    finally:
        server.shutdown()
    assert "s3cr3t-grant" not in str(e.value) and "127.0.0.1:1/v1/objects/b/o" in str(e.value)
    # Nor in the exception it came from, which a traceback prints.
    assert e.value.__cause__ is None and e.value.__suppress_context__, f"the chained {e.value.__cause__ or e.value.__context__!r} is printed"


def test_put_with_a_token_refused_is_not_sent():
    """A token the cluster does not take (401: expired, bad) fails the PUT
    at the HEAD that finds the owner: its body (a stream, read once) is
    not sent to the gateway for nothing."""

    seen = []

    class Handler(_QuietHandler):
        def do_HEAD(self):  # noqa: N802 (http.server's name)
            seen.append("HEAD")
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_PUT(self):  # noqa: N802
            seen.append("PUT")
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = _serve(Handler)
    try:
        with pytest.raises(aisgo.Unauthorized):
            aisgo.Client(f"http://127.0.0.1:{server.server_address[1]}").put_object("b", "o", (chunk for chunk in [b"da", b"ta"]))
    finally:
        server.shutdown()
    assert seen == ["HEAD"], f"asked {seen}"


def test_reads_wait_for_a_node_starting():
    """A node whose port is open before it is ready answers 503: a read is
    asked again past the fixed schedule for the client's retry_time (as a
    node down is), and with the default 0 fails after it."""
    answers = []

    class Handler(_QuietHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            starting = len(answers) < 7
            answers.append(503 if starting else 200)
            if starting:
                body = b'{"status": 503, "kind": "unavailable", "message": "node g1 is starting"}'
                self.send_response(503)
            else:
                body = b"data"
                self.send_response(200)
                self.send_header("Ais-Version", "1")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = _serve(Handler)
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with pytest.raises(aisgo.Unavailable):
            aisgo.Client(endpoint).get_object("b", "o")
        answers.clear()
        assert aisgo.Client(endpoint, retry_time=30).get_object("b", "o") == b"data"
    finally:
        server.shutdown()
    assert answers[-1] == 200 and len(answers) == 8


def test_a_prefix_with_a_star_is_refused():
    """A prefix is sent as a template: '*' in it would select every name
    (tmp* all that start with tmp), so it is refused."""
    client = aisgo.Client("http://127.0.0.1:1")
    with pytest.raises(aisgo.BadRequest, match="template"):
        client.archive("b", "x.tar", prefix="tmp*")


def test_reads_wait_for_a_restarting_target():
    """A read the gateway sends to a target that is down (restarting) is
    asked again, through the gateway, for the client's retry_time; with
    the default 0 it fails at once. The datasets read with 60 s."""
    target_port = _free_port()

    class Target(_QuietHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Length", "4")
            self.send_header("Ais-Version", "1")
            self.end_headers()
            self.wfile.write(b"data")

    gateway = _serve(_redirects_to(target_port, "GET"))
    endpoint = f"http://127.0.0.1:{gateway.server_address[1]}"
    target = None
    try:
        with pytest.raises(aisgo.AisConnectionError):
            aisgo.Client(endpoint).get_object("b", "o")
        target = _LaterServer(target_port, Target)
        assert aisgo.Client(endpoint, retry_time=30).get_object("b", "o") == b"data"
    finally:
        gateway.shutdown()
        if target is not None:
            target.stop()
    with pytest.raises(ValueError, match="retry_time"):
        aisgo.Client(endpoint, retry_time=-1)


def test_puts_wait_for_a_restarting_target():
    """A PUT whose target is down (restarting) is sent again, its target
    found anew, for the client's retry_time when its body can be sent
    again; a generator's, or with the default 0, fails at once."""
    target_port = _free_port()
    received = []

    class Target(_QuietHandler):
        def do_PUT(self):  # noqa: N802 (http.server's name)
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.send_header("Ais-Version", "1")
            self.end_headers()

    gateway = _serve(_redirects_to(target_port, "HEAD"))
    endpoint = f"http://127.0.0.1:{gateway.server_address[1]}"
    target = None
    try:
        with pytest.raises(aisgo.AisConnectionError):
            aisgo.Client(endpoint).put_object("b", "o", b"data")
        with pytest.raises(aisgo.AisConnectionError):
            aisgo.Client(endpoint, retry_time=30).put_object("b", "o", (chunk for chunk in [b"da", b"ta"]))
        target = _LaterServer(target_port, Target)
        aisgo.Client(endpoint, retry_time=30).put_object("b", "o", b"data")
        assert received == [b"data"]
    finally:
        gateway.shutdown()
        if target is not None:
            target.stop()


def test_datasets_read_with_retries():
    """A dataset reads with a copy of the client that retries; the client
    given is left as it was."""
    if not os.environ.get("CI"):
        pytest.importorskip("torch")
    from aisgo import torch as torch_mod
    c = aisgo.Client("http://127.0.0.1:1")
    reading = torch_mod._retrying(c, torch_mod.DATASET_RETRY_TIME)
    assert reading is not c and reading.retry_time == 60.0 and c.retry_time == 0.0
    assert torch_mod._retrying(reading, 60.0) is reading


def test_token_stays_with_the_gateways():
    """A redirect that carries an access grant is followed without the
    token: the target needs only the grant, and never sees the token."""
    seen = {}

    class Target(_QuietHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            seen["target"] = self.headers.get("Authorization")
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    target = _serve(Target)

    class Gateway(_QuietHandler):
        def do_GET(self):  # noqa: N802
            seen["gateway"] = self.headers.get("Authorization")
            self.send_response(307)
            self.send_header("Location", f"http://127.0.0.1:{target.server_address[1]}{self.path}?agrant=g")
            self.send_header("Content-Length", "0")
            self.end_headers()

    gateway = _serve(Gateway)
    try:
        assert aisgo.Client(f"http://127.0.0.1:{gateway.server_address[1]}", token="tok").get_object("b", "o") == b"ok"
    finally:
        gateway.shutdown()
        target.shutdown()
    assert seen == {"gateway": "Bearer tok", "target": None}, seen


def test_a_located_put_keeps_the_token():
    """A PUT goes to the target a HEAD found: the grant in that redirect is
    the HEAD's, so the PUT carries the token; a GET's own redirect carries
    the grant for it, and no token."""
    seen = {}

    class Target(_QuietHandler):
        def do_PUT(self):  # noqa: N802 (http.server's name)
            seen["put"] = self.headers.get("Authorization")
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    target = _serve(Target)

    class Gateway(_QuietHandler):
        def do_HEAD(self):  # noqa: N802
            self.send_response(307)
            # As AIStore's gateway redirects (pid, utm; AIS-Go's name smv too).
            self.send_header("Location", f"http://127.0.0.1:{target.server_address[1]}{self.path}?pid=p1&utm=1&agrant=for-the-head")
            self.send_header("Content-Length", "0")
            self.end_headers()

    gateway = _serve(Gateway)
    try:
        aisgo.Client(f"http://127.0.0.1:{gateway.server_address[1]}", token="tok").put_object("b", "o", b"data")
    finally:
        gateway.shutdown()
        target.shutdown()
    assert seen == {"put": "Bearer tok"}, seen


def test_token_and_body_stay_out_of_a_foreign_redirect():
    """A redirect not made by the cluster (a load balancer's to a login
    page) gets neither the token nor, for a PUT, the object."""
    seen = {}

    class Elsewhere(_QuietHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            seen["get"] = self.headers.get("Authorization")
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def do_PUT(self):  # noqa: N802
            seen["put"] = self.headers.get("Authorization")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    elsewhere = _serve(Elsewhere)

    class Gateway(_QuietHandler):
        def redirect(self):
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{elsewhere.server_address[1]}/login")
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_HEAD = redirect  # noqa: N815

    gateway = _serve(Gateway)
    try:
        c = aisgo.Client(f"http://127.0.0.1:{gateway.server_address[1]}", token="tok")
        assert c.get_object("b", "o") == b"ok"
        with pytest.raises(aisgo.AisError, match="not a node of the cluster"):
            c.put_object("b", "o", b"data")
    finally:
        gateway.shutdown()
        elsewhere.shutdown()
    assert seen == {"get": None}, seen


def _answering_polls(polls, calls):
    """A gateway's handler that answers each GET with the next of polls
    (the last one again past them), noting its path in calls; polls may
    change in place between waits."""

    class Handler(_QuietHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            calls.append(self.path)
            body = json.dumps(polls[min(len(calls), len(polls)) - 1]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def test_job_wait_waits_for_a_silent_target(monkeypatch):
    """A target of a job that does not answer (restarting: it resumes its
    part) is waited for; one that stays silent ends the wait, after a
    grace, with its error."""

    import aisgo.client

    def job(running):
        return {"id": "download-1", "kind": "download", "targets": ["t1", "t2"], "running": running, "started": 1}

    polls = [
        {"nodes": [{"id": "t1", "jobs": [job(False)]}, {"id": "t2", "error": "connection refused"}]},
        {"nodes": [{"id": "t1", "jobs": [job(False)]}, {"id": "t2", "jobs": [job(True)]}]},
        {"nodes": [{"id": "t1", "jobs": [job(False)]}, {"id": "t2", "jobs": [job(False)]}]},
    ]
    calls = []

    Handler = _answering_polls(polls, calls)

    server = _serve(Handler)
    try:
        client = aisgo.Client(f"http://127.0.0.1:{server.server_address[1]}")
        assert client.job_wait("download-1", poll=0.001) == {"objects": 0, "bytes": 0}
        assert len(calls) >= 3
        monkeypatch.setattr(aisgo.client, "UNANSWERED_GRACE", 0.05)
        del polls[1:]
        calls.clear()
        with pytest.raises(aisgo.AisError, match="t2: did not answer"):
            client.job_wait("download-1", poll=0.001)
        # One starting (restarted: it lists the jobs it resumes once
        # started) is waited for as one silent.
        monkeypatch.setattr(aisgo.client, "UNANSWERED_GRACE", 30.0)
        polls[:] = [
            {"nodes": [{"id": "t1", "jobs": [job(False)]}, {"id": "t2", "starting": True, "started": 5, "jobs": []}]},
            {"nodes": [{"id": "t1", "jobs": [job(False)]}, {"id": "t2", "started": 5, "jobs": [job(True)]}]},
            {"nodes": [{"id": "t1", "jobs": [job(False)]}, {"id": "t2", "started": 5, "jobs": [job(False)]}]},
        ]
        calls.clear()
        assert client.job_wait("download-1", poll=0.001) == {"objects": 0, "bytes": 0}
        assert len(calls) >= 3
        # Every target starting, none listing it yet: not "no such job".
        polls[:] = [
            {"nodes": [{"id": "t1", "role": "target", "starting": True, "jobs": []}, {"id": "t2", "role": "target", "starting": True, "jobs": []}]},
            {"nodes": [{"id": "t1", "role": "target", "jobs": [job(False)]}, {"id": "t2", "role": "target", "jobs": [job(False)]}]},
        ]
        calls.clear()
        assert client.job_wait("download-1", poll=0.001) == {"objects": 0, "bytes": 0}
    finally:
        server.shutdown()


def test_job_wait_waits_through_failed_polls(monkeypatch):
    """A poll where no node that answered has the job while a target did
    not answer (it may run it), or one the gateway does not answer (it
    restarts), is waited through; past the grace, the job is not found
    (naming the silent targets)."""

    import aisgo.client

    done = {"id": "copy-1", "kind": "copy-bucket", "targets": ["t1"], "running": False, "started": 1, "objects": 3}
    polls = [
        {"nodes": [{"id": "g1", "role": "gateway"}, {"id": "t1", "role": "target", "error": "context deadline exceeded"}]},
        {"nodes": [{"id": "g1", "role": "gateway"}, {"id": "t1", "role": "target", "jobs": [done]}]},
    ]
    calls = []

    Handler = _answering_polls(polls, calls)

    server = _serve(Handler)
    try:
        client = aisgo.Client(f"http://127.0.0.1:{server.server_address[1]}")
        assert client.job_wait("copy-1", poll=0.001) == {"objects": 3, "bytes": 0}
        assert len(calls) == 2
        monkeypatch.setattr(aisgo.client, "UNANSWERED_GRACE", 0.05)
        del polls[1:]
        with pytest.raises(aisgo.JobNotFound, match="targets t1 did not answer") as caught:
            client.job_wait("copy-1", poll=0.001)
        assert isinstance(caught.value, aisgo.Unavailable)
    finally:
        server.shutdown()
    # A gateway that comes up in a moment.
    monkeypatch.setattr(aisgo.client, "UNANSWERED_GRACE", 60.0)
    polls[:] = [{"nodes": [{"id": "t1", "role": "target", "jobs": [done]}]}]
    port = _free_port()
    later = _LaterServer(port, Handler, delay=0.5)
    try:
        assert aisgo.Client(f"http://127.0.0.1:{port}").job_wait("copy-1", poll=0.05, timeout=30) == {"objects": 3, "bytes": 0}
    finally:
        later.stop()


def test_dsort_wait_rides_out_a_gateway_restart(monkeypatch):
    """A dSort wait (hours, in a training script) goes on through a gateway
    that does not answer for a moment; past the grace, it raises."""

    import aisgo.client

    class Handler(_QuietHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            body = json.dumps({"t1": {"id": "srt-1", "archived": True, "metrics": {}}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    port = _free_port()
    later = _LaterServer(port, Handler, delay=0.5)
    try:
        st = aisgo.Client(f"http://127.0.0.1:{port}").dsort_wait("srt-1", poll=0.05, timeout=30)
        assert st.done and not st.aborted
    finally:
        later.stop()
    monkeypatch.setattr(aisgo.client, "UNANSWERED_GRACE", 0.1)
    with pytest.raises(aisgo.AisConnectionError):
        aisgo.Client(f"http://127.0.0.1:{_free_port()}").dsort_wait("srt-1", poll=0.02)
    # Its timeout, run out while the cluster does not answer, is the
    # wait's timeout.
    monkeypatch.setattr(aisgo.client, "UNANSWERED_GRACE", 60.0)
    with pytest.raises(aisgo.DsortTimeout):
        aisgo.Client(f"http://127.0.0.1:{_free_port()}").dsort_wait("srt-1", poll=0.02, timeout=0.3)


def test_job_wait_polls_less_often_as_a_job_runs(monkeypatch):
    """Each poll asks every node: the wait between polls grows from the
    first to a second, not ten polls a second for an hour's job."""

    import aisgo.client

    calls = []

    class Handler(_QuietHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            calls.append(self.path)
            job = {"id": "copy-1", "kind": "copy", "targets": ["t1"], "running": len(calls) < 15, "started": 1}
            body = json.dumps({"nodes": [{"id": "t1", "jobs": [job]}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    slept = []
    monkeypatch.setattr(aisgo.client.time, "sleep", slept.append)
    server = _serve(Handler)
    try:
        client = aisgo.Client(f"http://127.0.0.1:{server.server_address[1]}")
        client.job_wait("copy-1")
    finally:
        server.shutdown()
    assert len(slept) == 14 and slept[0] == 0.1
    assert all(a < b or b == 1.0 for a, b in zip(slept, slept[1:])) and slept[-1] == 1.0
    # a poll asked for is kept
    calls.clear()
    slept.clear()
    server = _serve(Handler)
    try:
        aisgo.Client(f"http://127.0.0.1:{server.server_address[1]}").job_wait("copy-1", poll=0.05)
    finally:
        server.shutdown()
    assert slept == [0.05] * 14


def test_an_answer_cut_midway_is_a_connection_error():
    """A node that restarts while it sends a JSON answer (a listing page,
    a job's status) is an AisConnectionError, which scripts catch as an
    AisError: not a raw requests exception."""
    import socket

    class Handler(_QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"10\r\n[{\"name\": \"b\"")  # a chunk cut short
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)

    server = _serve(Handler)
    try:
        with pytest.raises(aisgo.AisError) as e:
            aisgo.Client(f"http://127.0.0.1:{server.server_address[1]}").list_buckets()
    finally:
        server.shutdown()
    assert isinstance(e.value, aisgo.AisConnectionError), repr(e.value)


def test_a_gateway_that_answers_503_is_passed_over():
    """A gateway that cannot serve (removed from the cluster, starting)
    answers 503: the next gateway given is asked at once, not the same
    one again after waits."""

    asked = []

    def server(status, body):
        class Handler(_QuietHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                asked.append(status)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        s = _serve(Handler)
        return s

    removed = server(503, {"status": 503, "kind": "unavailable", "message": "node g1 was removed from the cluster"})
    live = server(200, [{"name": "b", "provider": "ais"}])
    try:
        c = aisgo.Client(f"http://127.0.0.1:{removed.server_address[1]},http://127.0.0.1:{live.server_address[1]}")
        buckets = c.list_buckets()
    finally:
        removed.shutdown()
        live.shutdown()
    assert [b["name"] for b in buckets] == ["b"]
    assert asked == [503, 200], f"asked {asked}: the removed gateway was asked again (after waits)"


def test_an_unreachable_gateway_written_in_capitals_is_passed_over():
    """A gateway that refuses connections is passed over however its
    endpoint is written (a scheme in capitals)."""
    live, shutdown = _serve_json(json.dumps([{"name": "b", "provider": "ais"}]).encode())
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: refused
    try:
        c = aisgo.Client(f"HTTP://127.0.0.1:{port},{live.replace('http://', 'HTTP://')}")
        buckets = c.list_buckets()
    finally:
        shutdown()
    assert [b["name"] for b in buckets] == ["b"]


def test_tls_takes_the_systems_cas(monkeypatch, tmp_path):
    """An https cluster signed by a CA installed on the host is trusted, as
    by the Go client and CLI: the system's CA file, not certifi's."""
    from aisgo.client import verify_from_env

    for name in ("AIS_CLIENT_CA", "AIS_SKIP_VERIFY_CRT", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert verify_from_env() == str(bundle)
    monkeypatch.setenv("AIS_CLIENT_CA", "/etc/ais/ca.pem")
    assert verify_from_env() == "/etc/ais/ca.pem"
    monkeypatch.setenv("AIS_CLIENT_CA", "")
    monkeypatch.setenv("AIS_SKIP_VERIFY_CRT", "true")
    assert verify_from_env() is False


def test_shards_over_more_ranks_than_shards_are_refused():
    """A rank with no shard would end its epoch at once while the others
    wait for it in every collective step (a hang): refused, naming why;
    an uneven split is warned of."""
    from aisgo.torch import ShardDataset

    d = ShardDataset(None, "b", ["s-0.tar", "s-1.tar", "s-2.tar"])
    with pytest.raises(ValueError, match="3 shards .* for 4 ranks"):
        d.shards_for(0, 4)
    with pytest.warns(UserWarning, match="over 2 ranks"):
        assert d.shards_for(0, 2) == ["s-0.tar", "s-2.tar"]
    assert d.shards_for(0, 3) == ["s-0.tar"]


def test_a_gateway_that_hangs_is_passed_over():
    """A gateway that takes connections and never answers (hung, or
    dropping packets) is passed over as one that refuses them, for a
    request that can be sent again."""
    import socket

    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    accepted = []

    def accept():
        while True:
            try:
                conn, _ = hung.accept()
            except OSError:
                return
            accepted.append(conn)  # held open, never answered

    threading.Thread(target=accept, daemon=True).start()

    class Handler(_QuietHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            data = json.dumps([{"name": "b", "provider": "ais"}]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    live = _serve(Handler)
    try:
        c = aisgo.Client(f"http://127.0.0.1:{hung.getsockname()[1]},http://127.0.0.1:{live.server_address[1]}", timeout=1)
        buckets = c.list_buckets()
    finally:
        live.shutdown()
        hung.close()
        for conn in accepted:
            conn.close()
    assert [b["name"] for b in buckets] == ["b"]
    assert c.endpoint == f"http://127.0.0.1:{live.server_address[1]}"


def test_archive_of_no_names_is_refused():
    """objnames=[] (a filter that matched nothing) is not "every object"."""
    c = aisgo.Client("http://127.0.0.1:1")
    with pytest.raises(aisgo.BadRequest, match="objnames"):
        c.archive("b", "x.tar", objnames=[])
    with pytest.raises(aisgo.BadRequest, match="objnames"):
        c.archive("b", "x.tar", objnames=(n for n in ["a"] if n == "z"))


def test_prefix_that_reads_as_a_template_is_refused():
    """A prefix is sent as a template without ranges: ckpt@100 would select
    ckpt000..ckpt100, not the names that start with it."""
    c = aisgo.Client("http://127.0.0.1:1")
    for prefix in ("ckpt@100", "a{b", "x}", "5%"):
        with pytest.raises(aisgo.BadRequest, match="read as a template"):
            c.archive("b", "x.tar", prefix=prefix)
        with pytest.raises(aisgo.BadRequest, match="read as a template"):
            c.index_shards("b", prefix=prefix)


def test_reader_of_a_range_tells_the_objects_size():
    """A ranged read's meta has the object's size (as head_object), and
    its headers are looked up in any case (a proxy may lower them)."""

    class Handler(_QuietHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(206)
            self.send_header("content-range", "bytes 0-1/100")
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ab")

    server = _serve(Handler)
    try:
        c = aisgo.Client(f"http://127.0.0.1:{server.server_address[1]}")
        with c.open_object("b", "o", byte_range=(0, 1)) as r:
            assert r.read() == b"ab"
            assert r.size == 2 and r.meta["size"] == 100
            assert r.headers["Content-Range"] == "bytes 0-1/100"
    finally:
        server.shutdown()


def test_a_put_passes_over_a_gateway_that_answers_503_or_hangs():
    """A PUT first asks a gateway where the object goes (HEAD): one that
    cannot serve (503) or hangs is passed over for the next, as for any
    other request, rather than fail the PUT or wait on the same one."""
    import socket

    asked = []

    class Busy(_QuietHandler):
        def do_HEAD(self):  # noqa: N802 (http.server's name)
            asked.append("busy " + self.command)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

    class Live(_QuietHandler):
        def do_HEAD(self):  # noqa: N802 (http.server's name)
            asked.append("live " + self.command)
            self.send_response(404)  # not there yet: this node takes it
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_PUT(self):  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            asked.append("live " + self.command)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    busy, live = _serve(Busy), _serve(Live)
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)
    try:
        c = aisgo.Client(f"http://127.0.0.1:{busy.server_address[1]},http://127.0.0.1:{live.server_address[1]}")
        c.put_object("b", "o", b"data")
        assert asked == ["busy HEAD", "live HEAD", "live PUT"], asked
        asked.clear()
        c = aisgo.Client(f"http://127.0.0.1:{hung.getsockname()[1]},http://127.0.0.1:{live.server_address[1]}", timeout=1)
        c.put_object("b", "o", b"data")
        assert asked == ["live HEAD", "live PUT"], asked
    finally:
        busy.shutdown()
        live.shutdown()
        hung.close()


def test_a_prefix_with_shards_tarfile_cannot_read_is_refused():
    """Under a prefix, a shard of a format Python's tarfile cannot read
    (dSort's .tar.zst output, say) is refused by name, not left out of a
    dataset that would then silently be a part of the prefix's."""
    from types import SimpleNamespace

    from aisgo.torch import resolve_shards

    class Lister:
        def __init__(self, names):
            self.names = names

        def list_objects(self, bucket, prefix="", props=None):
            return [SimpleNamespace(name=n) for n in self.names if n.startswith(prefix)]

    assert resolve_shards(Lister(["out-0.tar", "out-0.tar.idx", "out-1.tgz"]), "b", prefix="out-") == ["out-0.tar", "out-1.tgz"]
    with pytest.raises(aisgo.DatasetError, match="out-1.tar.zst: this format is not supported"):
        resolve_shards(Lister(["out-0.tar", "out-1.tar.zst"]), "b", prefix="out-")


def _epochs_seen_per_rank(epochs_in_rank):
    """Each of two ranks (forked) forks a worker for each of two epochs;
    returns the epoch each rank's worker 0 was at, by rank. epochs_in_rank
    gives, in the rank, the _WorkerEpochs its workers count in."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()

    def worker(epochs, q):
        q.put(epochs.next(0))

    def rank(name, q):
        epochs = epochs_in_rank()
        seen = []
        for _ in range(2):  # two epochs, a worker forked anew for each
            inner = ctx.Queue()
            p = ctx.Process(target=worker, args=(epochs, inner))
            p.start()
            seen.append(inner.get(timeout=30))
            p.join(30)
        q.put((name, seen))

    ranks = [ctx.Process(target=rank, args=(name, results)) for name in ("r0", "r1")]
    for p in ranks:
        p.start()
    got = dict(results.get(timeout=60) for _ in ranks)
    for p in ranks:
        p.join(30)
    return got


def test_worker_epochs_count_per_rank_process():
    """Ranks forked from a process that made the dataset (fork-based DDP
    launchers) count their workers' epochs apart: each rank's worker 0
    is at epoch 0, then 1, whatever the other rank's did."""
    from aisgo.torch import _WorkerEpochs

    epochs = _WorkerEpochs()
    got = _epochs_seen_per_rank(lambda: epochs)
    assert got == {"r0": [0, 1], "r1": [0, 1]}, got


def test_a_gateway_that_answers_503_is_passed_over_for_an_action():
    """A gateway's 503 is work not done: an action (POST) goes to the next
    gateway at once, as the Go client sends it, not to the same one after
    waits."""

    asked = []

    def server(status):
        class Handler(_QuietHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                self.rfile.read(int(self.headers["Content-Length"]))
                asked.append(status)
                data = json.dumps({"status": status, "kind": "unavailable", "message": "starting"}).encode() if status != 200 else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return _serve(Handler)

    starting, live = server(503), server(200)
    try:
        c = aisgo.Client(f"http://127.0.0.1:{starting.server_address[1]},http://127.0.0.1:{live.server_address[1]}")
        c.create_bucket("b")
    finally:
        starting.shutdown()
        live.shutdown()
    assert asked == [503, 200], f"asked {asked}"


def test_a_proxys_503_is_not_sent_again_for_an_action():
    """A 503 no node sent (no JSON, no Ais-Node-Id: an ingress's
    "upstream reset" while a gateway restarts) may come after the gateway
    took the request: a bucket's create, a job's start, is not sent again
    (to this gateway or the next), as the Go client does; a read is."""

    asked = []

    class Handler(_QuietHandler):
        def answer(self):
            asked.append(self.command)
            if len(asked) > 1 and self.command != "POST":
                self.answer_json(200, [{"name": "b", "provider": "ais"}])
                return
            data = b"upstream connect error or disconnect/reset before headers"
            self.send_response(503)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 (http.server's name)
            self.answer()

        def do_POST(self):  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            self.answer()

    proxy, other = _serve(Handler), _serve(Handler)
    try:
        c = aisgo.Client(f"http://127.0.0.1:{proxy.server_address[1]},http://127.0.0.1:{other.server_address[1]}")
        assert [b["name"] for b in c.list_buckets()] == ["b"]
        assert asked == ["GET", "GET"], f"a read: asked {asked}"
        asked.clear()
        with pytest.raises(aisgo.AisError, match="proxy in front") as raised:
            c.create_bucket("b")
        assert raised.value.proxy and raised.value.status == 503
        assert asked == ["POST"], f"a create: asked {asked}, want it sent once"
    finally:
        proxy.shutdown()
        other.shutdown()


class _FakeResponse:
    """What ObjectReader takes of a requests.Response."""

    def __init__(self, data):
        self.raw = io.BytesIO(data)
        self.headers = {"Content-Length": str(len(data))}
        self.status_code = 200

    def close(self):
        pass


def test_object_reader_lines_across_chunks(monkeypatch):
    """Lines that cross the read-ahead's chunks, lines longer than a chunk,
    limits, and reads between lines: each byte once, in order."""
    from aisgo import client as module

    monkeypatch.setattr(module, "CHUNK_SIZE", 7)
    lines = [b"a\n", b"bcdefghijklmnopq\n", b"\n", b"rs\n", b"t" * 30 + b"\n", b"no newline"]
    data = b"".join(lines)
    r = module.ObjectReader(_FakeResponse(data), "b", "o")
    assert [r.readline() for _ in lines] == lines
    assert r.readline() == b"" and r.tell() == len(data)
    r = module.ObjectReader(_FakeResponse(data), "b", "o")
    assert r.readline(0) == b""
    assert r.readline(1) == b"a"
    assert r.readline(5) == b"\n"
    assert r.readline(10) == b"bcdefghijk"
    got = r.read(3)  # (a raw read may be short: what the read-ahead has)
    assert got and got + r.readline() == b"lmnopq\n"
    assert r.read() == data[len(lines[0]) + len(lines[1]) :]


def test_a_read_cut_midway_goes_on_from_where_it_stopped():
    """A whole object's read cut by the network (a target restarting) asks
    for the rest and goes on, nothing read twice; a rest of another
    version is an error, not a mix of two."""
    import socket

    data = bytes(range(256)) * 64
    answers = {"version": "1", "cuts": 2}

    class Handler(_QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 (http.server's name)
            start = 0
            rng = self.headers.get("Range", "")
            if rng:
                start = int(rng.removeprefix("bytes=").split("-")[0])
            answers.setdefault("validated", []).append("validate-checksum=true" in self.path)
            self.send_response(206 if rng else 200)
            self.send_header("Ais-Version", answers["version"])
            self.send_header("Content-Length", str(len(data) - start))
            if rng:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if answers["cuts"] > 0:
                answers["cuts"] -= 1
                self.wfile.write(data[start : start + 3000])  # then the connection goes
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(data[start:])

    server = _serve(Handler)
    try:
        client = aisgo.Client(f"http://127.0.0.1:{server.server_address[1]}")
        with client.open_object("b", "o") as reader:
            assert reader.read() == data
        # A checked read asks for its rest checked too.
        answers["cuts"], answers["validated"] = 1, []
        with client.open_object("b", "o", validate=True) as reader:
            assert reader.read() == data
        assert answers["validated"] == [True, True], answers["validated"]
        # Cut, and the rest is another version's.
        answers["cuts"] = 1
        with client.open_object("b", "o") as reader:
            answers["version"] = "2"
            with pytest.raises(aisgo.AisError, match="changed since the read began"):
                reader.read()
    finally:
        server.shutdown()


def _read_cut_then(status: int, kind: str, want):
    """Reads an object whose answer is cut at byte 3000 and whose rest
    (asked with a Range) is answered status: the read raises want."""
    import socket

    data = bytes(range(256)) * 64

    class Handler(_QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.headers.get("Range"):
                body = b'{"status": %d, "kind": "%s", "message": "the rest"}' % (status, kind.encode())
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_response(200)
            self.send_header("Ais-Version", "1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:3000])  # then the connection goes
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)

    server = _serve(Handler)
    try:
        client = aisgo.Client(f"http://127.0.0.1:{server.server_address[1]}")
        with client.open_object("b", "o") as reader:
            with pytest.raises(want):
                reader.read()
    finally:
        server.shutdown()


def test_a_read_whose_rest_is_refused_says_why():
    """A read cut midway whose rest is refused (the object deleted since)
    raises the refusal, not a cut to ask again in vain."""
    _read_cut_then(404, "not-found", aisgo.NotFound)


def test_a_read_whose_rest_fails_is_a_cut():
    """A read cut midway whose rest fails for a while (a node restarting
    answers 500) is a cut, to ask again, not the passing error."""
    _read_cut_then(500, "internal", aisgo.AnswerCut)


def test_an_endless_answer_is_bounded(monkeypatch):
    """An endpoint that streams without end (not an AIS node) is an error
    once past the bound on an answer, not a process out of memory."""
    monkeypatch.setattr(aisgo.client, "MAX_ANSWER", 1 << 20)

    class Handler(_QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"[" + b" " * 65535
            try:
                for _ in range(64):  # 4 MiB, bounded
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except OSError:
                pass  # the client went, as it should

    server = _serve(Handler)
    try:
        with pytest.raises(aisgo.AisError, match="more than"):
            aisgo.Client(f"http://127.0.0.1:{server.server_address[1]}").list_buckets()
    finally:
        server.shutdown()


def test_job_wait_of_an_unknown_job_is_job_not_found():
    endpoint, shutdown = _serve_json(b'{"nodes": [{"id": "t1", "jobs": []}]}')
    try:
        with pytest.raises(aisgo.JobNotFound):
            aisgo.Client(endpoint).job_wait("bogus", timeout=5)
    finally:
        shutdown()


def test_put_size_must_be_the_datas():
    """A size that is not the data's is an error, never a part of the data
    stored: a file's is checked before anything is sent, a pipe's or a
    generator's as it is sent."""
    from aisgo.client import _Body

    with pytest.raises(ValueError, match="holds 1000 bytes"):
        _Body(io.BytesIO(b"x" * 1000), 100)
    with pytest.raises(ValueError, match="holds 1000 bytes"):
        _Body(io.BytesIO(b"x" * 1000), 0)
    for data in (b"x" * 1000, bytearray(1000), memoryview(bytearray(1000))):
        with pytest.raises(ValueError, match="holds 1000 bytes"):
            _Body(data, 100)
        assert _Body(data, 1000).size == 1000
    assert _Body(io.BytesIO(b"x" * 1000), 1000).size == 1000
    # A file still growing (a log) is stored as it was when the put began.
    growing = io.BytesIO(b"x" * 1000)
    body = _Body(growing)
    growing.seek(0, io.SEEK_END)
    growing.write(b"y" * 500)
    growing.seek(0)
    assert b"".join(body.payload()) == b"x" * 1000

    class Pipe(io.RawIOBase):
        def __init__(self, data):
            self._data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            return self._data.readinto(b)

    with pytest.raises(ValueError, match="more than the 100 bytes"):
        list(_Body(Pipe(b"x" * 1000), 100).payload())
    with pytest.raises(ValueError, match="more than the 0 bytes"):
        _Body(iter([b"data"]), 0).payload()
    assert _Body(iter([]), 0).payload() == b""
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError):
            _Body(b"", bad)


def test_a_tls_failure_is_not_retried_as_a_node_away():
    """An https endpoint that does not speak TLS (or whose certificate is
    not trusted) is an error saying so, not a node away tried again."""

    class Handler(_QuietHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(200)
            self.end_headers()

    server = _serve(Handler)
    try:
        c = aisgo.Client(f"https://127.0.0.1:{server.server_address[1]}", retry_time=30)
        with pytest.raises(aisgo.AisError) as info:
            c.list_buckets()
    finally:
        server.shutdown()
    assert not isinstance(info.value, aisgo.AisConnectionError)
    assert "TLS" in str(info.value)


def test_a_tar_whose_first_member_is_named_bzh_is_a_tar():
    from aisgo.torch import _checked_stream

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("BZh9abc.jpg")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"img"))
    buf.seek(0)
    stream = _checked_stream(buf)
    with tarfile.open(fileobj=stream, mode="r|") as tf:
        assert [m.name for m in tf] == ["BZh9abc.jpg"]


def test_worker_epochs_of_ranks_spawned_with_the_dataset():
    """Ranks spawned with a dataset made in their launcher (mp.spawn(main,
    args=(ds,))) fork workers of their own: each rank's worker 0 is at
    epoch 0, then 1, whatever the other rank's did."""
    import pickle

    from aisgo.torch import _WorkerEpochs

    launcher = _WorkerEpochs()  # kept: its maker removes the file when it goes
    state = pickle.dumps(launcher)  # as spawn sends it
    got = _epochs_seen_per_rank(lambda: pickle.loads(state))  # unpickled in the rank
    assert got == {"r0": [0, 1], "r1": [0, 1]}, got


def _slow_put_sink(got: list, stall: float = 0.0, per_piece: float = 0.0) -> type:
    """A node that takes a PUT's body after stall seconds, pausing per_piece
    before each 4 MiB piece, and notes its size in got (a HEAD: 404)."""

    class Sink(_QuietHandler):
        def do_HEAD(self):  # noqa: N802 (http.server's name)
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_PUT(self):  # noqa: N802 (http.server's name)
            time.sleep(stall)
            left, total = int(self.headers["Content-Length"]), 0
            while left > 0:
                time.sleep(per_piece)
                piece = self.rfile.read(min(left, 4 << 20))
                left -= len(piece)
                total += len(piece)
            got.append(total)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Sink


def test_a_large_bytes_put_outlasts_the_connect_timeout():
    """A body of bytes goes in pieces: a node that takes it more slowly
    than the connect timeout (which bounds each send) takes it whole,
    rather than the PUT failing as a node unreachable."""
    got: list = []
    server = _serve(_slow_put_sink(got, per_piece=0.2))
    try:
        c = aisgo.Client(f"http://127.0.0.1:{server.server_address[1]}", timeout=(0.5, 10))
        data = bytes(32 << 20)
        c.put_object("b", "o", data)
        assert got == [len(data)], got
    finally:
        server.shutdown()


def test_a_put_outlasts_a_stall_longer_than_the_connect_timeout():
    """A node that stops reading an upload for longer than the connect
    timeout (its disk stalls a moment) is waited for as long as the read
    timeout, not taken for a node unreachable."""
    got: list = []
    server = _serve(_slow_put_sink(got, stall=1.5))  # past the 0.5 s connect timeout
    try:
        c = aisgo.Client(f"http://127.0.0.1:{server.server_address[1]}", timeout=(0.5, 10))
        data = bytes(64 << 20)  # more than the sockets' buffers hold
        c.put_object("b", "o", data)
        assert got == [len(data)], got
    finally:
        server.shutdown()


def test_estimates_and_job_starts_wait_past_the_read_timeout():
    """An estimate is answered once the targets read the shards' headers,
    and a job's start once every target took it: both wait for the answer
    longer than the read timeout of other requests (as the Go client)."""

    class Slow(_QuietHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(1.5)
            body = b'{"records": 1}' if self.path.startswith("/v1/sort/estimate") else b"srt-1"
            self.send_response(200)
            self.send_header("Content-Type", "application/json" if self.path.startswith("/v1/sort/estimate") else "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_DELETE = do_POST  # noqa: N815 (http.server's name)
        do_GET = do_POST  # noqa: N815 (http.server's name)

    server = _serve(Slow)
    try:
        c = aisgo.Client(f"http://127.0.0.1:{server.server_address[1]}", timeout=(1, 1))
        spec = {"input_bck": {"name": "in"}, "input_format": {"template": "x-{0..1}.tar"}, "output_format": "o-{0..1}.tar", "output_shard_size": "1MiB"}
        assert c.dsort_estimate(spec) == {"records": 1}
        assert c.dsort_start(spec) == "srt-1"
        c.dsort_abort("srt-1")
        # Bounded all the same: a gateway that never answers does not hold
        # the caller for good.
        for call in (lambda: c.dsort_abort("srt-1", timeout=0.5), lambda: c.dsort_estimate(spec, timeout=0.5)):
            try:
                call()
            except aisgo.AisTimeout:
                pass
            else:
                raise AssertionError("an abort or estimate waited past its own timeout")
        # Other requests keep the read timeout.
        try:
            c.dsort_list()
        except aisgo.AisTimeout:
            pass
        else:
            raise AssertionError("a listing waited past the read timeout")
    finally:
        server.shutdown()


def test_member_names_are_read_as_the_cluster_reads_them():
    """A shard's member names are cleaned as AIS-Go's reader cleans them
    (``./a.jpg`` is ``a.jpg``), so that an index built here agrees with one
    built by the cluster; names that climb out are refused."""
    from aisgo import member_name

    for raw, want in (("./a.jpg", "a.jpg"), ("a//b/./c.txt", "a/b/c.txt"), ("x/../y.cls", "y.cls"), ("a.b", "a.b")):
        assert member_name(raw) == want, raw
    for bad in ("", "/etc/passwd", "../x", "a/../../x", "\\x", "C:x", "a\\..\\b", "a\x00b", ".", "x/..", "./C:x", "./\\x"):
        with pytest.raises(ValueError):
            member_name(bad)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name in ("./s-1.jpg", "./s-1.cls"):
            ti = tarfile.TarInfo(name)
            ti.size = 3
            tf.addfile(ti, io.BytesIO(b"abc"))
    buf.seek(0)
    idx = ShardIndex.from_tar(buf, "s.tar")
    assert [m.name for m in idx.members] == ["s-1.jpg", "s-1.cls"]


def test_a_token_file_that_holds_no_token(monkeypatch, tmp_path):
    """A token file larger than any token, or not text, is no token (as the
    Go client reads it), not the first bytes of it nor an exception."""
    from aisgo import client as module

    monkeypatch.delenv("AIS_AUTHN_TOKEN", raising=False)
    path = tmp_path / "auth.token"
    monkeypatch.setenv("AIS_AUTHN_TOKEN_FILE", str(path))
    for data, want in ((b"tok\n", "tok"), (b"a" * (65 << 10), ""), (b"\xff\xfe", "")):
        path.write_bytes(data)
        assert module.token_from_env() == want, data[:8]
    # A FIFO with no writer: its open would block every client made (and
    # /dev/stdin's data is an upload's): no token, at once.
    fifo = tmp_path / "fifo.token"
    os.mkfifo(fifo)
    monkeypatch.setenv("AIS_AUTHN_TOKEN_FILE", str(fifo))
    done = []
    reader = threading.Thread(target=lambda: done.append(module.token_from_env()), daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():
        with open(fifo, "wb"):  # lets the blocked open go
            pass
        pytest.fail("reading a FIFO as the token file blocked")
    assert done == [""]
    # A pipe with data (an upload's, through /dev/stdin): not read.
    r, w = os.pipe()
    try:
        os.write(w, b"upload bytes")
        monkeypatch.setenv("AIS_AUTHN_TOKEN_FILE", f"/proc/self/fd/{r}")
        assert module.token_from_env() == ""
        assert os.read(r, 64) == b"upload bytes"
    finally:
        os.close(r)
        os.close(w)


def test_a_job_removal_sent_again_that_finds_it_gone_is_done():
    """A removal whose answer was lost (the connection cut once it was
    sent) goes to the next gateway, and the job not found there is the
    removal done, as the Go client has it; a 503 is work not done, and a
    removal of a job never there is JobNotFound."""
    asked = []

    class Cut(_QuietHandler):
        def do_DELETE(self):  # noqa: N802 (http.server's name)
            asked.append("cut")
            self.close_connection = True  # no answer

    class Gateway(_QuietHandler):
        def do_DELETE(self):  # noqa: N802 (http.server's name)
            asked.append("gateway")
            busy = "busy" in self.path and asked.count("gateway") == 1
            status, body = (503, b'{"message": "starting", "status": 503, "kind": "unavailable"}') if busy else (
                404, b'{"message": "no such job", "status": 404, "kind": "job-not-found"}')
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    cut, gateway = _serve(Cut), _serve(Gateway)
    try:
        c = aisgo.Client(f"http://127.0.0.1:{cut.server_address[1]},http://127.0.0.1:{gateway.server_address[1]}")
        c.dsort_remove("srt-1")
        assert asked == ["cut", "gateway"], asked
        asked.clear()
        one = aisgo.Client(f"http://127.0.0.1:{gateway.server_address[1]}")
        with pytest.raises(aisgo.JobNotFound):
            one.dsort_remove("busy-1")  # 503, then not found: never there
        assert asked == ["gateway", "gateway"], asked
        with pytest.raises(aisgo.JobNotFound):
            one.dsort_remove("srt-2")
        # A read timeout of None (wait for ever) is one for job starts too.
        aisgo.Client(f"http://127.0.0.1:{gateway.server_address[1]}", timeout=None).create_bucket("b")
    finally:
        cut.shutdown()
        gateway.shutdown()

def test_record_batches_ride_out_a_cut_answer():
    """A get-batch cut before its answer is whole (a target killed) is asked
    again while the client's retry_time lasts; a node's refusal is not."""
    from aisgo.torch import RecordDataset

    class Client:
        retry_time = 10.0

        def __init__(self, failures):
            self.failures, self.asked = list(failures), 0

        def get_batch(self, bucket, entries):
            self.asked += 1
            if self.failures:
                raise self.failures.pop(0)
            return [(None, b"data")]

    ds = RecordDataset.__new__(RecordDataset)
    ds.bucket = "b"
    ds.client = Client([aisgo.AnswerCut("the archive broke off")])
    assert ds._batch([{"objname": "s.tar"}]) == [b"data"] and ds.client.asked == 2
    # A failure of the client's own, status 0 too, is not asked again.
    ds.client = Client([aisgo.TooManyRedirects("more than 10 redirects")])
    with pytest.raises(aisgo.TooManyRedirects):
        ds._batch([{"objname": "s.tar"}])
    assert ds.client.asked == 1
    ds.client = Client([aisgo.AisError("if_checksum differs", status=412)])
    with pytest.raises(aisgo.AisError):
        ds._batch([{"objname": "s.tar"}])
    assert ds.client.asked == 1

    # A later entry's refusal cuts the answer too: the shard, changed since
    # it was indexed, is said at once, not asked for a minute.
    class Changed:
        def check_current(self, client, bucket):
            raise aisgo.ShardIndexError("the shard changed since it was indexed")

    ds.client = Client([aisgo.AnswerCut("the archive broke off")] * 3)
    with pytest.raises(aisgo.ShardIndexError):
        ds._batch([{"objname": "s.tar"}], [Changed()])
    assert ds.client.asked == 1


def test_record_reads_ride_out_a_cut_read():
    """A member read one at a time (a DataLoader without a batch size) and
    cut midway (a target killed) is read again while the client's
    retry_time lasts, as a batch is; a node's refusal is not."""
    from aisgo.torch import RecordDataset

    class Index:
        def __init__(self, failures):
            self.failures, self.asked = list(failures), 0

        def read_member(self, client, bucket, member):
            self.asked += 1
            if self.failures:
                raise self.failures.pop(0)
            return b"data"

        def check_current(self, client, bucket):
            pass

    class Client:
        retry_time = 10.0

    ds = RecordDataset.__new__(RecordDataset)
    ds.bucket, ds.client = "b", Client()
    idx = Index([aisgo.AnswerCut("reading ais://b/s.tar at byte 512: connection reset")])
    assert ds._member(idx, None) == b"data" and idx.asked == 2
    idx = Index([aisgo.AisError("not found", status=404)])
    with pytest.raises(aisgo.AisError):
        ds._member(idx, None)
    assert idx.asked == 1


def test_a_buffer_is_put_as_it_is():
    """A bytearray or a memoryview (a numpy array's) goes out whole and
    unchanged, without a copy of it in the client's memory first; a path
    whose size is refused is closed, not left to the collector."""
    import array
    import ctypes

    got = {}

    class Handler(_QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_HEAD(self):  # noqa: N802 (http.server's name)
            self.send_response(404)  # not there yet: this node takes it
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_PUT(self):  # noqa: N802 (http.server's name)
            n = int(self.headers["Content-Length"])
            got[self.path.split("?")[0]] = self.rfile.read(n)
            if self.path.startswith("/v1/objects/b/refused"):
                body = b'{"status":400,"message":"refused"}'
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = _serve(Handler)
    try:
        client = aisgo.Client(f"http://127.0.0.1:{server.server_address[1]}")
        big = bytearray(os.urandom(3 * aisgo.client.CHUNK_SIZE + 5))
        words = array.array("I", range(1000))
        client.put_object("b", "big", big)
        client.put_object("b", "words", memoryview(words))
        client.put_object("b", "small", bytearray(b"small"))
        client.put_object("b", "empty", memoryview((ctypes.c_int * 3 * 0)()))  # a shape with a zero
        assert got["/v1/objects/b/empty"] == b""
        grown = bytearray(b"grows")
        body = aisgo.client._Body(grown)
        body.close()
        grown.extend(b" after")  # the client holds no view of it past the put
        assert got["/v1/objects/b/big"] == bytes(big)
        assert got["/v1/objects/b/words"] == words.tobytes()
        assert got["/v1/objects/b/small"] == b"small"
        body = aisgo.client._Body(big)
        assert isinstance(body._bytes, memoryview) and body._bytes.obj is big  # not a copy
        body.close()
        # A PUT that failed, its exception (and traceback) kept: the
        # buffer is the caller's again all the same.
        refused = bytearray(os.urandom(2 * aisgo.client.CHUNK_SIZE + 1))
        with pytest.raises(aisgo.AisError) as kept:
            client.put_object("b", "refused", refused)
        refused.extend(b" after")
        assert kept.value is not None and got["/v1/objects/b/refused"] == bytes(refused[: 2 * aisgo.client.CHUNK_SIZE + 1])
    finally:
        server.shutdown()
    opened = []

    def tracking_open(*args, **kwargs):
        f = open(*args, **kwargs)
        opened.append(f)
        return f

    path = os.path.join(os.path.dirname(__file__), "test_units.py")
    aisgo.client.open = tracking_open
    try:
        with pytest.raises(ValueError, match="size"):
            aisgo.client._Body(path, size=1)
    finally:
        del aisgo.client.open
    assert len(opened) == 1 and opened[0].closed


def test_index_refuses_a_sparse_file():
    """A GNU sparse file's size is not that of the bytes the tar stores: an
    index of it would read the wrong bytes; it is refused, as AIS-Go's own
    index refuses it."""
    with pytest.raises(aisgo.ShardError, match="GNU sparse file"):
        ShardIndex.from_tar(io.BytesIO(sparse_tar()), "sparse.tar")


def test_dsort_wait_pauses_between_polls():
    """Each poll asks every node: a poll of 0 or less pauses a tenth of a
    second, as a job wait's does (it polled in a loop, or raised
    ValueError from time.sleep)."""

    calls = []
    done_at = [3]  # the poll that finds the job done

    class Handler(_QuietHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            calls.append(self.path)
            self.answer_json(200, {"t1": {"id": "srt-1", "archived": len(calls) >= done_at[0], "metrics": {}}})

    server = _serve(Handler)
    try:
        client = aisgo.Client(f"http://127.0.0.1:{server.server_address[1]}")
        assert client.dsort_wait("srt-1", poll=-1).done
        calls.clear()
        done_at[0] = 1 << 30
        with pytest.raises(aisgo.DsortTimeout):
            client.dsort_wait("srt-1", poll=0, timeout=0.35)
        assert 2 <= len(calls) <= 6, f"{len(calls)} polls in 0.35 s"
    finally:
        server.shutdown()
