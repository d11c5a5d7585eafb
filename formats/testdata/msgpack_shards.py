#!/usr/bin/env python3
"""Reads and writes msgpack shards with Debian's python3-msgpack, never with
the Go code under test: the cross-checks of formats/crosscheck_test.go and
the goldens of gen.py use it.

A shard is a stream of msgpack maps, one per record, as WebDataset loaders
read them: {"__key__": key, "jpg": bytes, "cls": bytes, ...}; the member
"a/b.jpg" is field "jpg" of record "a/b".

    msgpack_shards.py list SHARD                # JSON [[name, size, sha256], ...]
    msgpack_shards.py write SRC OUT [key-last]  # the files under SRC, sorted
"""

import hashlib
import io
import json
import os
import sys

import msgpack

KEY = "__key__"


def split(name):
    """Record key and field of a member name: the field is what follows the
    first dot of the base name (a base whose only dot ends it stays whole)."""
    base = name.rfind("/") + 1
    dot = name.find(".", base)
    if dot < 0 or dot == len(name) - 1:
        return name, ""
    return name[:dot], name[dot + 1:]


def join(key, field):
    return key if field == "" else key + "." + field


def text(s):
    return s.decode("utf-8", "surrogateescape") if isinstance(s, bytes) else s


def members(data):
    """Yields (name, bytes) of every member, in shard order."""
    for record in msgpack.Unpacker(io.BytesIO(data), raw=False):
        if not isinstance(record, dict) or KEY not in record:
            raise ValueError("record without %s: %r" % (KEY, record))
        key = text(record[KEY])
        for field, value in record.items():
            if field == KEY:
                continue
            if isinstance(value, str):
                value = value.encode()
            yield join(key, text(field)), value


def listing(path):
    with open(path, "rb") as f:
        data = f.read()
    return [[name, len(v), hashlib.sha256(v).hexdigest()] for name, v in members(data)]


def files_under(src):
    names = []
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for f in sorted(files):
            names.append(os.path.relpath(os.path.join(root, f), src))
    return names


def records(pairs, key_last=False):
    """Groups consecutive (name, bytes) by record into WebDataset dicts."""
    out, current = [], None
    for name, data in pairs:
        key, field = split(name)
        if current is None or current[0] != key or field in current[1]:
            current = (key, {})
            out.append(current)
        current[1][field] = data
    for key, fields in out:
        if key_last:
            yield dict(list(fields.items()) + [(KEY, key)])
        else:
            yield dict([(KEY, key)] + list(fields.items()))


def pack(pairs, key_last=False):
    return b"".join(msgpack.packb(r, use_bin_type=True) for r in records(pairs, key_last))


def main():
    if sys.argv[1] == "list":
        json.dump(listing(sys.argv[2]), sys.stdout)
    elif sys.argv[1] == "write":
        src, out = sys.argv[2], sys.argv[3]
        pairs = []
        for n in files_under(src):
            with open(os.path.join(src, n), "rb") as f:
                pairs.append((n, f.read()))
        with open(out, "wb") as f:
            f.write(pack(pairs, key_last=sys.argv[4:] == ["key-last"]))
    else:
        sys.exit("usage: msgpack_shards.py list SHARD | write SRC OUT [key-last]")


if __name__ == "__main__":
    main()
