"""Shard indexes: where each member of an uncompressed tar shard lies.

AIS-Go writes an index object named ``<shard>.idx`` beside a tar shard
(``ais archive index ais://b/shard.tar``, or dSort with
``"output_index": true``)::

    {"version": 1, "shard": "shard-0001.tar", "shard_size": 20480, "format": "tar",
     "shard_checksum": {"type": "xxhash", "value": "..."},
     "members": [{"name": "sample-1.jpg", "header_offset": 0, "data_offset": 512, "size": 1000}, ...]}

``header_offset`` is where the member's first tar header block starts,
``data_offset`` where its data starts and ``size`` its data size: a member is
read with one range GET of ``[data_offset, data_offset + size)``.
``shard_checksum`` (in indexes AIS-Go writes) is the shard object's
checksum (its ETag, type ``etag``, in a bucket with checksums off): a shard rewritten to the same size since it was indexed is
refused, not read at the old offsets.

Example::

    idx = ShardIndex.load(client, "images", "shard-0001.tar")
    data = idx.read_member(client, "images", "sample-1.jpg")
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union

from . import errors
from .errors import ShardIndexError
from .template import member_name

if TYPE_CHECKING:  # pragma: no cover
    from .client import Client

__all__ = ["ShardIndex", "IndexMember", "read_member", "INDEX_SUFFIX", "INDEX_VERSION", "index_name", "is_index_name"]

#: Ends the name of a shard's index object.
INDEX_SUFFIX = ".idx"

#: The version of the index format read and written here.
INDEX_VERSION = 1

#: The type of a ``shard_checksum`` that is the shard's ETag: of a shard
#: without checksum (a bucket with checksums off).
ETAG = "etag"


def index_name(shard: str) -> str:
    """The name of a shard's index object."""
    return shard + INDEX_SUFFIX


def is_index_name(name: str) -> bool:
    """Tells whether an object name is a shard index's."""
    return name.endswith(INDEX_SUFFIX)


@dataclass(frozen=True)
class IndexMember:
    """One member (file) of an indexed shard."""

    # Slots: a dataset of millions of records keeps one of these each, in
    # every DataLoader worker.
    __slots__ = ("name", "header_offset", "data_offset", "size")

    def __reduce__(self) -> Tuple[Any, Tuple[str, int, int, int]]:
        # Frozen slots refuse the setattr pickle and copy restore with:
        # built anew (a RecordDataset goes to spawned DataLoader workers).
        return (IndexMember, (self.name, self.header_offset, self.data_offset, self.size))

    name: str
    header_offset: int
    data_offset: int
    size: int

    @property
    def end(self) -> int:
        """The offset just past the member's data."""
        return self.data_offset + self.size

    def range_header(self) -> str:
        """The Range header that reads this member's data (an empty member
        has none: no range reads zero bytes)."""
        if self.size <= 0:
            raise ValueError(f"member {self.name} is empty: there is no range to read (its data is b'')")
        return f"bytes={self.data_offset}-{self.data_offset + self.size - 1}"


@dataclass
class ShardIndex:
    """The index of one shard."""

    shard: str
    shard_size: int
    members: List[IndexMember] = field(default_factory=list)
    format: str = "tar"
    version: int = INDEX_VERSION
    #: The shard object's checksum as indexed, ``(type, value)``, when the
    #: index has one: a read checks the shard it reads against it.
    shard_checksum: Optional[Tuple[str, str]] = None
    _by_name: Optional[Dict[str, IndexMember]] = field(default=None, init=False, repr=False, compare=False)

    def _names(self) -> Dict[str, IndexMember]:
        """The members by name, made at the first lookup by name (a
        dataset reading by position never needs it)."""
        if self._by_name is None:
            self._by_name = {m.name: m for m in self.members}  # a later duplicate wins, as in dSort
        return self._by_name

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[IndexMember]:
        return iter(self.members)

    def __getitem__(self, key: Union[int, str]) -> IndexMember:
        """The i-th member, or the member of that name."""
        if isinstance(key, str):
            try:
                return self._names()[key]
            except KeyError:
                raise KeyError(f"shard {self.shard} has no member {key!r}") from None
        return self.members[key]

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    # -- encoding --------------------------------------------------------------

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "") -> "ShardIndex":
        """Decodes an index and checks that every member lies within the shard."""
        where = source or "a shard index"
        if not isinstance(d, Mapping):
            raise ShardIndexError(f"{where}: want a JSON object")
        version = d.get("version")
        if version != INDEX_VERSION:
            raise ShardIndexError(f"{where}: version {version!r} is not {INDEX_VERSION}")
        try:
            shard = str(d["shard"])
            shard_size = int(d["shard_size"])
            raw_members = d.get("members") or []
            members = [
                IndexMember(str(m["name"]), int(m["header_offset"]), int(m["data_offset"]), int(m["size"])) for m in raw_members
            ]
            raw_sum = d.get("shard_checksum")
            shard_checksum = (str(raw_sum["type"]), str(raw_sum["value"])) if raw_sum else None
        except (KeyError, TypeError, ValueError) as exc:
            raise ShardIndexError(f"{where}: malformed: {exc!r}") from exc
        for m in members:
            if m.header_offset < 0 or m.data_offset < m.header_offset or m.size < 0 or m.end > shard_size:
                raise ShardIndexError(f"{where}: member {m.name!r} lies outside the shard ({shard_size} bytes)")
        return cls(
            shard=shard, shard_size=shard_size, members=members, format=str(d.get("format") or "tar"), version=version, shard_checksum=shard_checksum
        )

    @classmethod
    def from_json(cls, data: Union[str, bytes], *, source: str = "") -> "ShardIndex":
        """Decodes an index from its JSON text."""
        try:
            d = json.loads(data)
        except ValueError as exc:
            raise ShardIndexError(f"{source or 'a shard index'}: not JSON: {exc}") from exc
        return cls.from_dict(d, source=source)

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {
            "version": self.version,
            "shard": self.shard,
            "shard_size": self.shard_size,
            "format": self.format,
        }
        if self.shard_checksum:
            d["shard_checksum"] = {"type": self.shard_checksum[0], "value": self.shard_checksum[1]}
        d["members"] = [{"name": m.name, "header_offset": m.header_offset, "data_offset": m.data_offset, "size": m.size} for m in self.members]
        return d

    def to_json(self) -> bytes:
        """Encodes the index as AIS-Go writes it."""
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    # -- building ----------------------------------------------------------------

    @classmethod
    def from_tar(cls, fileobj: IO[bytes], shard: str, shard_size: Optional[int] = None) -> "ShardIndex":
        """Indexes an uncompressed tar read from a seekable file object.

        Only regular files are members (as AIS-Go indexes them); a member's
        ``header_offset`` is that of its first header block, extended (PAX,
        GNU long name) headers included.
        """
        if shard_size is None:
            pos = fileobj.tell()
            shard_size = fileobj.seek(0, 2)
            fileobj.seek(pos)
        from .client import _BoundedTarInfo, _check_tar_end  # (client imports nothing of this module's)

        members = []
        try:
            # Bounded headers, and no GNU sparse file: its size is not that
            # of the bytes stored, which a read by offset would cut wrong.
            with tarfile.open(fileobj=fileobj, mode="r:", tarinfo=_BoundedTarInfo) as tf:
                for ti in tf:
                    if ti.isreg():
                        # Named as the cluster's index names it.
                        members.append(IndexMember(member_name(ti.name), ti.offset, ti.offset_data, ti.size))
                # Not an index of the members before a corrupt header, or
                # of a shard cut short.
                _check_tar_end(tf)
        except (tarfile.TarError, ValueError, IndexError, RecursionError) as exc:
            raise errors.ShardError(f"shard {shard}: cannot index: {exc}", shard=shard) from exc
        return cls(shard=shard, shard_size=int(shard_size), members=members)

    # -- the cluster ----------------------------------------------------------------

    @classmethod
    def load(cls, client: "Client", bucket: str, shard: str) -> "ShardIndex":
        """Reads the index object ``<shard>.idx`` of a shard in a bucket.

        Raises ShardIndexError when it is missing or malformed.
        """
        name = index_name(shard)
        try:
            data = client.get_object(bucket, name)
        except errors.BucketNotFound:
            raise
        except errors.NotFound as exc:
            raise ShardIndexError(
                f"shard ais://{bucket}/{shard} has no index ais://{bucket}/{name}: write it with "
                f"'ais archive index ais://{bucket}/{shard}' (or dSort's \"output_index\": true)",
                status=404,
                kind="not-found",
            ) from exc
        idx = cls.from_json(data, source=f"ais://{bucket}/{name}")
        if idx.shard != shard and idx.shard.rsplit("/", 1)[-1] != shard.rsplit("/", 1)[-1]:
            raise ShardIndexError(f"ais://{bucket}/{name} indexes {idx.shard!r}, not {shard!r}")
        # The shard read is the one asked for, beside its index: an index
        # copied with its shard under another prefix still names the old
        # place, where another object (or none) may be now.
        idx.shard = shard
        # An index left over from another shard of the name reads other
        # members' bytes at its offsets, each of the right length.
        idx.check_current(client, bucket)
        return idx

    def check_current(self, client: "Client", bucket: str) -> None:
        """Raises ShardIndexError when the shard in the bucket now is not
        the one indexed (its size or checksum differs): one HEAD."""
        meta = client.head_object(bucket, self.shard)
        size = meta.get("size")
        if self.shard_checksum and self.shard_checksum[0] != ETAG and meta.get("checksum_type") and str(meta["checksum_type"]) != self.shard_checksum[0]:
            # Stored again with another checksum type (a copy to a bucket
            # of another type): its checksum cannot tell, the size does.
            self.shard_checksum = None
        if size == self.shard_size:
            self.check_shard(bucket, {"Ais-Checksum-Type": str(meta.get("checksum_type") or ""), "Ais-Checksum-Value": str(meta.get("checksum") or ""),
                                      "ETag": str(meta.get("etag") or "")})
            if not self.shard_checksum:
                # Of the indexed size, and without a checksum to tell: the
                # shard's own from now on, so the reads that follow (a
                # batch's offsets) tell it rewritten to the same size.
                if meta.get("checksum_type") and meta.get("checksum"):
                    self.shard_checksum = (str(meta["checksum_type"]), str(meta["checksum"]))
                elif meta.get("etag"):
                    self.shard_checksum = (ETAG, str(meta["etag"]))
        if size is not None and size != self.shard_size:
            raise ShardIndexError(
                f"ais://{bucket}/{index_name(self.shard)} indexes a shard of {self.shard_size} bytes, ais://{bucket}/{self.shard} has {size}: "
                f"the shard changed since it was indexed (index it again: 'ais archive index ais://{bucket}/{self.shard}')"
            )

    def save(self, client: "Client", bucket: str) -> None:
        """Writes the index beside its shard, as ``<shard>.idx``.

        An index without the shard's checksum (one built here, from_tar)
        takes the shard's in the bucket, when it is there: readers then
        tell a shard rewritten to the same size. Raises ShardIndexError
        when the shard there is not of the indexed size.
        """
        if not self.shard_checksum:
            try:
                meta = client.head_object(bucket, self.shard)
            except errors.BucketNotFound:
                raise
            except errors.NotFound:
                meta = {}  # indexed before it is stored: no checksum to take
            if meta.get("size") is not None and meta.get("size") != self.shard_size:
                raise ShardIndexError(
                    f"ais://{bucket}/{self.shard} has {meta.get('size')} bytes, the index was built from {self.shard_size}: "
                    "not the shard indexed"
                )
            if meta.get("checksum_type") and meta.get("checksum"):
                self.shard_checksum = (str(meta["checksum_type"]), str(meta["checksum"]))
            elif meta.get("etag"):
                # A bucket with checksums off: its ETag tells its writes apart.
                self.shard_checksum = (ETAG, str(meta["etag"]))
        client.put_object(bucket, index_name(self.shard), self.to_json())

    def check_shard(self, bucket: str, headers: Mapping[str, str]) -> None:
        """Raises ShardIndexError when the shard a GET answered with is not
        the one indexed (its checksum, or of a shard without one its ETag,
        differs from the index's)."""
        if not self.shard_checksum:
            return
        got = _checksum_of(headers, self.shard_checksum[0])
        if got and got[0] == self.shard_checksum[0] and got[1].lower() != self.shard_checksum[1].lower():
            raise ShardIndexError(
                f"ais://{bucket}/{self.shard} has {'ETag' if got[0] == ETAG else 'checksum'} {got[1]}, its index says {self.shard_checksum[1]}: "
                f"the shard changed since it was indexed (index it again: 'ais archive index ais://{bucket}/{self.shard}')"
            )

    def read_member(self, client: "Client", bucket: str, member: Union[int, str, IndexMember]) -> bytes:
        """Reads one member's data with one range GET of the shard.

        ``member`` is a member, its name or its position in the index.
        """
        m = member if isinstance(member, IndexMember) else self[member]
        if m.size == 0:
            return b""
        with client.open_object(bucket, self.shard, byte_range=(m.data_offset, m.end - 1)) as r:
            total = _range_total(r.headers.get("Content-Range", ""))
            self.check_shard(bucket, r.headers)
            data = r.read()
        if total is not None and total != self.shard_size:
            raise ShardIndexError(
                f"ais://{bucket}/{self.shard} has {total} bytes, its index says {self.shard_size}: the shard changed since it was indexed"
            )
        if len(data) != m.size:
            raise ShardIndexError(
                f"ais://{bucket}/{self.shard}: member {m.name!r} at {m.data_offset}: read {len(data)} bytes, the index says {m.size} "
                "(the shard changed since it was indexed?)"
            )
        return data


def _checksum_of(headers: Mapping[str, str], want: str = "") -> Optional[Tuple[str, str]]:
    """The object checksum a GET answers with (``Ais-Checksum-*``); its
    ETag when ``want`` is ``etag`` (an index of a shard without checksum)."""
    if want == ETAG:
        value = headers.get("ETag", "").strip()
        return (ETAG, value.strip('"')) if value and not value.startswith("W/") else None
    ctype, value = headers.get("Ais-Checksum-Type", ""), headers.get("Ais-Checksum-Value", "")
    return (ctype, value) if ctype and value else None


def _range_total(content_range: str) -> Optional[int]:
    """The object size a Content-Range answer gives (``bytes 0-9/100``)."""
    total = content_range.rpartition("/")[2]
    return int(total) if total.isdigit() else None


def read_member(client: "Client", bucket: str, shard: str, member: Union[int, str, IndexMember]) -> bytes:
    """Loads a shard's index and reads one member (one range GET)."""
    return ShardIndex.load(client, bucket, shard).read_member(client, bucket, member)
