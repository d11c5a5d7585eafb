#!/usr/bin/env python3
"""Generates the golden shards of formats/testdata and their manifests.

Run through the Go test, which passes the directory:

    go test ./formats -run TestGolden -update

or directly: python3 formats/testdata/gen.py formats/testdata

The archives come from Python's tarfile, gzip and zipfile, the system's GNU
tar, python3-msgpack and the TFRecord script beside this one, never from the
Go code under test. Each <archive>.want lists
what a reader must return, one entry a line:

    <name> TAB <size> TAB <header offset> TAB <data offset> TAB <crc32>

(offsets are -1 except for plain tar), then either "end" or
"error <corrupt|unsupported> <offset>". Entry lines and offsets of valid
archives come from Python's own reading of the archive (TarInfo.offset and
offset_data, ZipInfo), so they check our reader against another one.
"""

import gzip
import io
import os
import posixpath
import random
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib

# Python pads tar files to 20 blocks; two blocks keep the goldens small.
tarfile.RECORDSIZE = 2 * tarfile.BLOCKSIZE

MTIME = 315532800  # 1980-01-01 UTC
rng = random.Random(42)


def blob(n):
    return bytes(rng.getrandbits(8) for _ in range(n))


def text(n):
    words = [b"alpha", b"beta", b"gamma", b"delta", b"record", b"shard"]
    out = b""
    while len(out) < n:
        out += rng.choice(words) + b" "
    return out[:n]


def info(name, data=b"", typ=tarfile.REGTYPE, linkname=""):
    ti = tarfile.TarInfo(name)
    ti.size = len(data) if typ in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    ti.type = typ
    ti.linkname = linkname
    ti.mtime = MTIME
    ti.mode = 0o755 if typ == tarfile.DIRTYPE else 0o644
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    return ti


def make_tar(members, fmt, pax_headers=None):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt, pax_headers=pax_headers or {}) as tf:
        for name, data, typ, link in members:
            tf.addfile(info(name, data, typ, link), io.BytesIO(data) if data else None)
    return buf.getvalue()


def reg(name, data):
    return (name, data, tarfile.REGTYPE, "")


def tar_manifest(data):
    lines = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        for m in tf:
            if not m.isreg():
                continue
            content = tf.extractfile(m).read()
            lines.append(entry_line(m.name, m.size, m.offset, m.offset_data, content))
    return lines


def entry_line(name, size, header, data, content):
    return "%s\t%d\t%d\t%d\t%08x" % (posixpath.normpath(name), size, header, data, zlib.crc32(content))


def tar_offsets(data):
    """Header offsets of every member, as Python reads them."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        return [m.offset for m in tf]


def write(out, name, data, lines, tail):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    with open(os.path.join(out, name + ".want"), "w") as f:
        f.write("\n".join(lines + [tail]) + "\n")


def with_checksum(header):
    """Recomputes a tar header block's checksum."""
    header = bytearray(header)
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\x00 " % sum(header)
    return bytes(header)


def gen_tar(out):
    long150 = "d" * 60 + "/" + "n" * 80 + ".jpg"
    long300 = "/".join(["segment%02d" % i + "x" * 20 for i in range(10)]) + "/sample.cls"
    ustar = make_tar([
        ("a/", b"", tarfile.DIRTYPE, ""),
        reg("a/b.jpg", blob(100)),
        reg("a/b.cls", b"17\n"),
        reg("empty.txt", b""),
        ("link", b"", tarfile.SYMTYPE, "a/b.jpg"),
        ("dev/null", b"", tarfile.CHRTYPE, ""),
        ("dev/fifo", b"", tarfile.FIFOTYPE, ""),
        reg("./dot/x.json", b'{"label": 3, "source": "golden"}\n'),
        reg("blocks.bin", blob(1024)),
    ], tarfile.USTAR_FORMAT)
    write(out, "ustar.tar", ustar, tar_manifest(ustar), "end")

    pax = make_tar([
        reg(long150, blob(700)),
        reg(long300, b"5\n"),
        reg("donn\u00e9es/\u00e9t\u00e9.txt", text(300)),
        ("hard", b"", tarfile.LNKTYPE, long150),
        reg("short.txt", text(10)),
    ], tarfile.PAX_FORMAT, pax_headers={"comment": "golden global header"})
    write(out, "pax.tar", pax, tar_manifest(pax), "end")

    gnu = make_tar([
        reg("g" * 120 + "/" + "h" * 120 + ".txt", text(513)),
        ("sym", b"", tarfile.SYMTYPE, "t" * 200),
        reg("after-long-link.bin", blob(5)),
    ], tarfile.GNU_FORMAT)
    write(out, "gnu.tar", gnu, tar_manifest(gnu), "end")

    empty = make_tar([], tarfile.USTAR_FORMAT)
    write(out, "empty.tar", empty, [], "end")

    zero = make_tar([reg("z/1.cls", b""), reg("z/1.jpg", b""), reg("z/2.cls", b"")], tarfile.USTAR_FORMAT)
    write(out, "zero.tar", zero, tar_manifest(zero), "end")

    two = make_tar([reg("one.bin", blob(2000)), reg("two.bin", blob(2000))], tarfile.USTAR_FORMAT)
    first, second = tar_offsets(two)
    truncated = two[: second + 512 + 1000]
    write(out, "truncated.tar", truncated, tar_manifest(two)[:1], "error corrupt %d" % second)

    # Cut inside the second header block: the reader sees half a header.
    cut_header = two[: second + 200]
    write(out, "cut-header.tar", cut_header, tar_manifest(two)[:1], "error corrupt %d" % second)

    bad = bytearray(two)
    bad[second + 3] ^= 0x20  # a name byte: the checksum no longer matches
    write(out, "bad-checksum.tar", bytes(bad), tar_manifest(two)[:1], "error corrupt %d" % second)

    escape = make_tar([reg("ok.txt", b"fine\n"), reg("../evil.txt", b"evil\n")], tarfile.USTAR_FORMAT)
    _, evil = tar_offsets(escape)
    write(out, "escape.tar", escape, tar_manifest(escape)[:1], "error corrupt %d" % evil)

    absolute = make_tar([reg("/etc/passwd", b"root\n")], tarfile.USTAR_FORMAT)
    write(out, "absolute.tar", absolute, [], "error corrupt 0")

    # The second member claims 100000 bytes; the shard ends long before.
    past = bytearray(two)
    header = bytearray(past[second:second + 512])
    header[124:136] = b"%011o\x00" % 100000
    past[second:second + 512] = with_checksum(header)
    write(out, "past-end.tar", bytes(past), tar_manifest(two)[:1], "error corrupt %d" % second)


def system_tar(out):
    """Archives written by GNU tar: its default (gnu) format, posix, sparse."""
    tmp = tempfile.mkdtemp()
    try:
        src = os.path.join(tmp, "src")
        os.makedirs(os.path.join(src, "dir", "sub"))
        files = {
            "dir/sample-0001.jpg": blob(3000),
            "dir/sample-0001.cls": b"42\n",
            "dir/sub/" + "long" * 40 + ".json": b'{"long": true}\n',
            "top.txt": text(50),
        }
        for name, data in files.items():
            with open(os.path.join(src, name), "wb") as f:
                f.write(data)
        common = ["tar", "--sort=name", "--mtime=@315532800", "--owner=0", "--group=0",
                  "--numeric-owner", "--mode=u=rw,go=r", "-C", src]
        for fmt, name in (("gnu", "gnutar-gnu.tar"), ("posix", "gnutar-posix.tar")):
            path = os.path.join(tmp, name)
            extra = ["--pax-option=delete=atime,delete=ctime,exthdr.name=%d/PaxHeaders/%f"] if fmt == "posix" else []
            subprocess.run(common + ["--format=" + fmt] + extra + ["-cf", path, "dir", "top.txt"], check=True)
            data = open(path, "rb").read()
            write(out, name, data, tar_manifest(data), "end")

        # A GNU sparse file: a 64 KiB hole, then data.
        sparse = os.path.join(src, "sparse.bin")
        with open(sparse, "wb") as f:
            f.truncate(64 << 10)
            f.seek(64 << 10)
            f.write(b"after the hole\n")
        path = os.path.join(tmp, "sparse.tar")
        subprocess.run(common + ["--format=gnu", "--sparse", "-cf", path, "sparse.bin"], check=True)
        data = open(path, "rb").read()
        if tarfile.open(fileobj=io.BytesIO(data)).getmembers()[0].type != tarfile.GNUTYPE_SPARSE:
            sys.exit("gen.py: this file system keeps no holes; cannot make sparse.tar")
        write(out, "sparse.tar", data, [], "error unsupported 0")
    finally:
        shutil.rmtree(tmp)


def gen_tgz(out):
    tar = make_tar([reg("x/1.jpg", blob(600)), reg("x/1.cls", b"1\n"), reg("x/2.jpg", text(4000))],
                   tarfile.PAX_FORMAT)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(tar)
    tgz = buf.getvalue()
    lines = [l.rsplit("\t", 3)[0] + "\t-1\t-1\t" + l.rsplit("\t", 1)[1] for l in tar_manifest(tar)]
    write(out, "small.tgz", tgz, lines, "end")

    big = make_tar([reg("big.bin", blob(20000))], tarfile.USTAR_FORMAT)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(big)
    write(out, "truncated.tgz", buf.getvalue()[:8000], [], "error corrupt 0")


def zip_entry_line(zf, zi, data):
    return entry_line(zi.filename, zi.file_size, -1, -1, data)


def gen_zip(out):
    buf = io.BytesIO()
    members = [
        ("dir/", None, zipfile.ZIP_STORED),
        ("dir/a.jpg", blob(900), zipfile.ZIP_STORED),
        ("dir/a.txt", text(2000), zipfile.ZIP_DEFLATED),
        ("dir/empty.cls", b"", zipfile.ZIP_DEFLATED),
        ("b.json", b'{"b": 2}\n', zipfile.ZIP_STORED),
    ]
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data, method in members:
            zi = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            zi.compress_type = method
            zi.external_attr = (0o40755 if name.endswith("/") else 0o100644) << 16
            zi.create_system = 3
            zf.writestr(zi, data or b"")
    mixed = buf.getvalue()
    lines = []
    with zipfile.ZipFile(io.BytesIO(mixed)) as zf:
        for zi in zf.infolist():
            if not zi.is_dir():
                lines.append(zip_entry_line(zf, zi, zf.read(zi)))
    write(out, "mixed.zip", mixed, lines, "end")

    # The deflated member's central-directory size claims 10 bytes fewer.
    lying = bytearray(mixed)
    with zipfile.ZipFile(io.BytesIO(mixed)) as zf:
        zi = zf.getinfo("dir/a.txt")
        local = zi.header_offset
        name_len, extra_len = struct.unpack("<HH", mixed[local + 26:local + 30])
        data_offset = local + 30 + name_len + extra_len
    at = mixed.index(b"PK\x01\x02")  # the first central-directory record
    while True:
        n = struct.unpack("<H", mixed[at + 28:at + 30])[0]
        if mixed[at + 46:at + 46 + n] == b"dir/a.txt":
            break
        at = mixed.index(b"PK\x01\x02", at + 46)
    lying[at + 24:at + 28] = struct.pack("<I", zi.file_size - 10)
    with zipfile.ZipFile(io.BytesIO(mixed)) as zf:
        before = [zip_entry_line(zf, i, zf.read(i)) for i in zf.infolist()[:2] if not i.is_dir()]
    write(out, "lying-size.zip", bytes(lying), before, "error corrupt %d" % data_offset)

    write(out, "truncated.zip", mixed[:len(mixed) - 30], [], "error corrupt -1")


def gen_records(out):
    """msgpack shards from python3-msgpack and TFRecord shards framed and
    encoded from the published spec, by the scripts beside this one; the
    entry lines come from those scripts' own readers."""
    import msgpack
    import msgpack_shards
    import tfrecord_shards

    pairs = [("x/1.jpg", blob(300)), ("x/1.cls", b"1\n"), ("x/2.jpg", text(700)),
             ("x/2.json", b'{"label": 2}\n'), ("3.txt", b"")]
    records = list(msgpack_shards.records(pairs))
    # The second record has its key last: a reader must not rely on order.
    records[1] = next(msgpack_shards.records(pairs[2:4], key_last=True))
    packed = [msgpack.packb(r, use_bin_type=True) for r in records]
    small = b"".join(packed)
    lines = [entry_line(n, len(d), -1, -1, d) for n, d in msgpack_shards.members(small)]
    write(out, "small.msgpack", small, lines, "end")
    first = [entry_line(n, len(d), -1, -1, d) for n, d in msgpack_shards.members(packed[0])]
    write(out, "truncated.msgpack", small[:len(packed[0]) + 20], first, "error corrupt %d" % len(packed[0]))
    write(out, "no-key.msgpack", msgpack.packb({"jpg": b"x"}, use_bin_type=True), [], "error unsupported 0")
    write(out, "int-value.msgpack", msgpack.packb({"__key__": "a", "cls": 3}), [], "error unsupported 0")

    tf = tfrecord_shards
    frames = [tf.frame(tf.example([(tf.KEY, b"x/1"), ("jpg", pairs[0][1]), ("cls", pairs[1][1])])),
              tf.frame(tf.example([("jpg", pairs[2][1]), ("json", pairs[3][1]), (tf.KEY, b"x/2")])),
              tf.frame(tf.example([(tf.KEY, b"3"), ("txt", b"")]))]
    small = b"".join(frames)
    lines = [entry_line(n, len(d), -1, -1, d) for n, d in tf.members(small)]
    write(out, "small.tfrecord", small, lines, "end")
    second = len(frames[0])
    first = [entry_line(n, len(d), -1, -1, d) for n, d in tf.members(frames[0])]
    bad = bytearray(small)
    bad[second + 12 + 40] ^= 0x01  # a byte of the second record's data
    write(out, "bad-crc.tfrecord", bytes(bad), first, "error corrupt %d" % second)
    bad = bytearray(small)
    bad[second + 1] ^= 0x01  # the second record's length
    write(out, "bad-length.tfrecord", bytes(bad), first, "error corrupt %d" % second)
    write(out, "truncated.tfrecord", small[:second + 100], first, "error corrupt %d" % second)
    write(out, "int64.tfrecord", tf.frame(tf.int64_example("a", "cls", 3)), [], "error unsupported 0")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    gen_tar(out)
    system_tar(out)
    gen_tgz(out)
    gen_zip(out)
    gen_records(out)


if __name__ == "__main__":
    main()
