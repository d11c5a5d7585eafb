"""Tar helpers of the tests: shards made and read by Python's tarfile."""

from __future__ import annotations

import io
import tarfile
from typing import Iterable, List, Tuple


def make_tar(members: Iterable[Tuple[str, bytes]], tar_format: int = tarfile.USTAR_FORMAT) -> bytes:
    """A tar of (name, bytes) pairs, in memory (GNU_FORMAT for long names)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tar_format) as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def read_tar(data: bytes) -> List[Tuple[str, bytes]]:
    """The regular members of a tar (or tgz), in order, read by Python's tarfile."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tf:
        return [(ti.name, tf.extractfile(ti).read()) for ti in tf if ti.isreg()]


def sparse_tar(name: str = "s-0.bin", size: int = 10) -> bytes:
    """A tar of one GNU sparse file (type 'S', an empty map): tarfile reads
    it as a regular file of size bytes, AIS-Go refuses it."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        ti = tarfile.TarInfo(name)
        ti.type = tarfile.GNUTYPE_SPARSE
        ti.size = size
        tf.addfile(ti, io.BytesIO(b"x" * size))
    return buf.getvalue()
