#!/usr/bin/env python3
"""Reads and writes TFRecord shards from the published spec alone (no
TensorFlow, no protobuf library, never the Go code under test): the
cross-checks of formats/crosscheck_test.go and the goldens of gen.py use it.

A TFRecord file is a sequence of records:

    uint64 length (little-endian)
    uint32 masked_crc32c(length bytes)
    byte   data[length]
    uint32 masked_crc32c(data)

masked_crc = ((crc >> 15) | (crc << 17)) + 0xa282ead8, crc32c is CRC-32
with the Castagnoli polynomial. Each record's data is a serialized
tf.train.Example:

    Example   { Features features = 1; }
    Features  { map<string, Feature> feature = 1; }  # entries {key = 1, value = 2}
    Feature   { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
                             Int64List int64_list = 3; } }
    BytesList { repeated bytes value = 1; }

with one bytes_list feature per member, named by its extension without the
dot, and "__key__" holding the record key.

    tfrecord_shards.py list SHARD                # JSON [[name, size, sha256], ...]
    tfrecord_shards.py write SRC OUT [key-last]  # the files under SRC, sorted
"""

import hashlib
import json
import os
import struct
import sys

KEY = "__key__"


def split(name):
    """Record key and extension of a member name: the extension is what
    follows the first dot of the base name (a base whose only dot ends it
    stays whole)."""
    base = name.rfind("/") + 1
    dot = name.find(".", base)
    if dot < 0 or dot == len(name) - 1:
        return name, ""
    return name[:dot], name[dot + 1:]


def join(key, ext):
    return key if ext == "" else key + "." + ext


def files_under(src):
    names = []
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for f in sorted(files):
            names.append(os.path.relpath(os.path.join(root, f), src))
    return names


def _table():
    poly = 0x82F63B78  # Castagnoli, reflected
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


TABLE = _table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc = TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value


def masked(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(data):
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked(crc32c(length))) + data + struct.pack("<I", masked(crc32c(data)))


def records(data):
    """Yields (offset, payload) of each record, checking both CRCs."""
    pos = 0
    while pos < len(data):
        if len(data) - pos < 12:
            raise ValueError("record header cut at offset %d" % pos)
        length_bytes = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", length_bytes)
        (length_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if masked(crc32c(length_bytes)) != length_crc:
            raise ValueError("length CRC mismatch at offset %d" % pos)
        start, end = pos + 12, pos + 12 + length
        if end + 4 > len(data):
            raise ValueError("record at offset %d runs past the end" % pos)
        payload = data[start:end]
        (data_crc,) = struct.unpack("<I", data[end:end + 4])
        if masked(crc32c(payload)) != data_crc:
            raise ValueError("data CRC mismatch at offset %d" % pos)
        yield pos, payload
        pos = end + 4


def varint(buf, pos):
    shift = value = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift >= 64:
            raise ValueError("varint overflows")


def fields(buf):
    """Yields (number, wire type, value) of a message's fields; the value of
    a length-delimited field is its bytes."""
    pos = 0
    while pos < len(buf):
        tag, pos = varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            n, pos = varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("field runs past its message")
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError("wire type %d" % wire)
        yield number, wire, value


def parse_example(payload):
    """The features of an Example as an ordered list of (name, values)."""
    features = []
    for number, wire, value in fields(payload):
        if number != 1 or wire != 2:
            continue
        for number, wire, entry in fields(value):
            if number != 1 or wire != 2:
                continue
            name, feature = "", b""
            for n, w, v in fields(entry):
                if n == 1 and w == 2:
                    name = v.decode("utf-8")
                elif n == 2 and w == 2:
                    feature = v
            values = []
            for n, w, v in fields(feature):
                if n == 1 and w == 2:
                    values += [x for m, wt, x in fields(v) if m == 1 and wt == 2]
                elif n in (2, 3):
                    raise ValueError("feature %r is not a bytes_list" % name)
            features.append((name, values))
    return features


def members(data):
    """Yields (name, bytes) of every member, in shard order."""
    for offset, payload in records(data):
        features = parse_example(payload)
        keys = [values for name, values in features if name == KEY]
        if len(keys) != 1 or len(keys[0]) != 1:
            raise ValueError("record at offset %d has no single %s" % (offset, KEY))
        key = keys[0][0].decode("utf-8", "surrogateescape")
        for name, values in features:
            if name == KEY:
                continue
            if len(values) != 1:
                raise ValueError("feature %r of %r holds %d values" % (name, key, len(values)))
            yield join(key, name), values[0]


def listing(path):
    with open(path, "rb") as f:
        data = f.read()
    return [[name, len(v), hashlib.sha256(v).hexdigest()] for name, v in members(data)]


def _varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field(number, payload):
    """A length-delimited field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def example(pairs):
    """An Example of bytes_list features, in the order given."""
    entries = b"".join(
        field(1, field(1, name.encode("utf-8")) + field(2, field(1, field(1, value))))
        for name, value in pairs)
    return field(1, entries)


def int64_example(key, name, number):
    """An Example whose feature name is an int64_list, which dSort cannot
    carry as a file."""
    int64_list = field(1, _varint(number))  # Int64List { repeated int64 value = 1 [packed] }
    entries = field(1, field(1, KEY.encode()) + field(2, field(1, field(1, key.encode()))))
    entries += field(1, field(1, name.encode()) + field(2, field(3, int64_list)))
    return field(1, entries)


def pack(pairs, key_last=False):
    """Frames one Example per record of (name, bytes) pairs."""
    out, current = [], None
    for name, data in pairs:
        key, ext = split(name)
        if current is None or current[0] != key or ext in dict(current[1]):
            current = (key, [])
            out.append(current)
        current[1].append((ext, data))
    shard = b""
    for key, values in out:
        keyed = values + [(KEY, key.encode())] if key_last else [(KEY, key.encode())] + values
        shard += frame(example(keyed))
    return shard


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
        sys.exit("usage: tfrecord_shards.py list SHARD | write SRC OUT [key-last]")


if __name__ == "__main__":
    main()
