"""A client of AIS-Go's REST API (NVIDIA AIStore's API), on ``requests``.

The client talks to a gateway. Gateways redirect object requests to the
target that owns the object (``GET`` with 301, ``PUT``/``HEAD``/``DELETE``
with 307); the client follows these redirects itself, at most
:data:`MAX_REDIRECTS` hops, so that it controls how a body is sent:

* a ``PUT`` first asks the gateway where the object lives (a ``HEAD`` that
  is not followed: the gateway answers with the owner target's URL) and
  sends its body once, straight to that target. A body is never pushed to a
  gateway that would only redirect it, so a generator or a pipe works and a
  1 GiB file is sent once (but with a token that may put and may not look,
  whose HEAD is refused: the body then goes to the gateway and, redirected,
  again to the target, which a generator or a pipe cannot be);
* a body is re-sent on a later redirect (the cluster map changed meanwhile)
  only when it can be rewound (bytes, a seekable file, a path).

Answers with status 503 (a target starting, a leader election) are tried
again a few times when the request can be sent again.

Example::

    from aisgo import Client

    c = Client("http://127.0.0.1:8080")
    c.create_bucket("images")
    c.put_object("images", "cat.jpg", b"...")
    with c.open_object("images", "big.tar") as r:
        for chunk in r.iter_chunks():
            ...
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import json
import os
import sys
import ssl
import stat
import re
import tarfile
import threading
import time
from dataclasses import dataclass, field
from typing import (
    IO,
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter

from . import errors
from .errors import AisConnectionError, AisError, AisTimeout, AnswerCut, TooManyRedirects

__all__ = [
    "Client",
    "ObjectReader",
    "ObjectEntry",
    "DsortStatus",
    "MAX_REDIRECTS",
    "DEFAULT_TIMEOUT",
    "PutData",
]

#: How many redirects one request may follow (a gateway to a target, then
#: a target to another while a new cluster map spreads).
MAX_REDIRECTS = 8

#: (connect, read) timeouts in seconds. The read timeout bounds each wait
#: for bytes, not a whole transfer.
DEFAULT_TIMEOUT: Tuple[float, float] = (10.0, 120.0)

#: Pauses between the attempts of a request a node answered with 503.
RETRY_DELAYS: Tuple[float, ...] = (0.1, 0.3, 1.0, 2.0)

#: Size of the pieces a file body is sent in and a reader yields by default.
CHUNK_SIZE = 1 << 20

_REDIRECTS = (301, 302, 303, 307, 308)

#: What put_object takes: bytes, a binary file object, a path, or an
#: iterable of bytes chunks.
PutData = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", IO[bytes], Iterable[bytes]]

Timeout = Union[None, float, Tuple[float, float]]


def _escape_segment(seg: str) -> str:
    # "." and ".." are escaped so that no URL library folds them away
    # (a/../b would silently become b): the node sees and judges them.
    if seg in (".", ".."):
        return seg.replace(".", "%2E")
    return quote(seg, safe="")


def _escape_object(name: str) -> str:
    """Escapes each '/'-separated segment of an object name for a URL path."""
    return "/".join(_escape_segment(seg) for seg in name.split("/"))


def _selection(what: str, objnames: Optional[Sequence[str]], template: str, prefix: str) -> Dict[str, Any]:
    """The objects a job over many selects, in AIStore's shape: names, or a
    template (a prefix is a template without ranges); none, every object."""
    if objnames is not None:
        objnames = list(objnames)
        if not objnames:
            # Sent empty, it would read as no list: every object.
            raise errors.BadRequest(f"{what}: objnames is empty; give at least one name")
    if sum(1 for given in (objnames, template, prefix) if given) > 1:
        raise errors.BadRequest(f"{what}: give objnames, template or prefix, not two")
    if objnames:
        return {"objnames": objnames}
    if prefix and any(c in prefix for c in "{}@%*"):
        # Sent as a template, ckpt@100 would select ckpt000..ckpt100, and
        # tmp* every name starting tmp.
        raise errors.BadRequest(f"{what}: prefix {prefix!r} has '{{', '}}', '@', '%' or '*', which would be read as a template; select those objects with template= or by name")
    if template or prefix:
        return {"template": template or prefix}
    return {}


def _bucket_path(bucket: str) -> str:
    if not isinstance(bucket, str) or bucket == "":
        raise errors.InvalidName("a bucket name is required", kind="invalid-name")
    if bucket in (".", "..") or "/" in bucket:
        raise errors.InvalidName(f"bucket name {bucket!r} is not allowed", kind="invalid-name")
    return "/v1/buckets/" + _escape_segment(bucket)


def _object_path(bucket: str, name: str) -> str:
    if not isinstance(name, str) or name == "":
        raise errors.InvalidName("an object name is required", kind="invalid-name")
    return _bucket_path(bucket).replace("/v1/buckets/", "/v1/objects/", 1) + "/" + _escape_object(name)


# Methods a gateway may be sent twice.
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

#: How long a request that starts a job waits for its answer at least (a
#: gateway asks every target first), as the Go client's JobStartTimeout.
JOB_START_TIMEOUT = 180.0

_UNSET: Any = object()
#: A read timeout for the requests made in a block (see _reading); None
#: waits for the answer as long as it takes.
_READ_TIMEOUT: contextvars.ContextVar[Any] = contextvars.ContextVar("aisgo_read_timeout", default=_UNSET)


#: LONG_ANSWER bounds, in seconds, the wait for an answer a node gives
#: once its work is done (an estimate, an abort): long, but not for ever.
LONG_ANSWER = 30 * 60.0


@contextlib.contextmanager
def _reading(read: Optional[float]) -> Iterator[None]:
    """Requests made in the block wait ``read`` seconds for their answer
    (None: as long as it takes): those the node answers once its work is
    done (an estimate, an abort)."""
    token = _READ_TIMEOUT.set(read)
    try:
        yield
    finally:
        _READ_TIMEOUT.reset(token)


def _never_connected(exc: BaseException) -> bool:
    """Whether a connection error happened before a connection was made
    (refused, unresolvable): the request was not sent."""
    seen: Optional[BaseException] = exc
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, urllib3.exceptions.NewConnectionError):
            return True
        reason = getattr(seen, "reason", None)
        if isinstance(reason, BaseException):
            seen = reason
        elif seen.args and isinstance(seen.args[0], BaseException):
            seen = seen.args[0]
        else:
            seen = seen.__cause__ or seen.__context__
    return False


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _shown(url: str) -> str:
    """A URL as errors show it: without its query, which after a redirect
    carries the target's access grant (usable for a while by whoever reads
    the log)."""
    return _origin(url) + urlsplit(url).path


def _reason(exc: BaseException) -> str:
    """The most telling cause of a transport error, e.g. 'Connection refused'."""
    seen = set()
    todo: List[Optional[BaseException]] = [exc]
    while todo:
        cur = todo.pop(0)
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.strerror:
            return str(cur.strerror)
        reason = getattr(cur, "reason", None)  # urllib3's MaxRetryError
        todo.append(reason if isinstance(reason, BaseException) else None)
        todo.extend(a for a in cur.args if isinstance(a, BaseException))
        todo.extend((cur.__cause__, cur.__context__))
    text = str(exc)
    # urllib3's phrase: "...: Failed to establish a new connection: [Errno 111] Connection refused"
    marker = "Failed to establish a new connection: "
    if marker in text:
        text = text.split(marker, 1)[1].rstrip(")'\"")
    # urllib3 names the URL with its query: the access grant of a redirect.
    return re.sub(r"\?[^\s)'\"]*", "", text)


# MAX_MEMBER_SIZE bounds a file of a shard read into memory: a small
# compressed shard may claim files of many gigabytes.
MAX_MEMBER_SIZE = 1 << 30

# MAX_HEADER_SIZE bounds a long-name or PAX header, which tarfile reads
# whole before the file it describes (as Go's archive/tar does).
MAX_HEADER_SIZE = 1 << 20


class _HeaderTooLarge(tarfile.ReadError):
    """A tar header past MAX_HEADER_SIZE: a refusal of the reader's, which
    the same archive would meet again, not an answer cut."""


class _SparseRefused(tarfile.ReadError):
    """A GNU sparse file: refused, as AIS-Go's reader refuses it (its map
    is read into memory unbounded, and its size is not its bytes')."""


class _BoundedTarInfo(tarfile.TarInfo):
    """A TarInfo that refuses long-name and PAX headers past MAX_HEADER_SIZE
    before tarfile reads them into memory, and GNU sparse files."""

    def _proc_gnulong(self, tarfile_):  # type: ignore[override]
        self._check_header_size()
        return super()._proc_gnulong(tarfile_)  # type: ignore[misc]

    def _proc_sparse(self, tarfile_):  # type: ignore[override]
        raise _SparseRefused(f"{self.name!r} is a GNU sparse file, which AIS-Go does not read")

    def _proc_gnusparse_00(self, next_, *args):  # type: ignore[override]
        raise _SparseRefused(f"{next_.name!r} is a GNU sparse file, which AIS-Go does not read")

    _proc_gnusparse_01 = _proc_gnusparse_00
    _proc_gnusparse_10 = _proc_gnusparse_00

    def _proc_pax(self, tarfile_):  # type: ignore[override]
        self._check_header_size()
        member = super()._proc_pax(tarfile_)  # type: ignore[misc]
        if member.size < 0:
            # Taken as is, tarfile seeks back to the header, and reads it
            # again for ever (CVE-2025-8194, in unpatched interpreters).
            raise tarfile.ReadError(f"a PAX header gives member {member.name!r} a size of {member.size}")
        return member

    @classmethod
    def fromtarfile(cls, tarfile_):  # type: ignore[override]
        try:
            member = super().fromtarfile(tarfile_)
        except tarfile.EOFHeaderError:
            # A zero block: the archive's end marker. tarfile stops as
            # quietly at a missing or cut header (a shard cut short).
            tarfile_._aisgo_end_marker = True  # type: ignore[attr-defined]
            raise
        if member.size < 0:
            # A size in base-256 below zero: taken as is, tarfile seeks
            # back to the header, and reads it again for ever.
            raise tarfile.ReadError(f"member {member.name!r} has a size of {member.size}")
        return member

    def _check_header_size(self) -> None:
        if self.size < 0:
            # Read as is, a negative count reads the rest of the file.
            raise tarfile.ReadError(f"a header of {self.size} bytes")
        if self.size > MAX_HEADER_SIZE:
            raise _HeaderTooLarge(f"a header of {self.size} bytes, more than the {MAX_HEADER_SIZE} a header may be")


def _check_tar_end(tf: tarfile.TarFile) -> None:
    """Raises tarfile.ReadError unless a tar read with _BoundedTarInfo to
    its last member ended at its end marker, two zero blocks: tarfile stops
    as quietly at a header it cannot parse, at none (a shard cut short), or
    at one zero block, as at the marker. What follows the marker is not the
    archive's (GNU tar and the cluster's readers ignore it too)."""
    if not getattr(tf, "_aisgo_end_marker", False):
        raise tarfile.ReadError("the shard ends without the tar end marker (cut short?)")
    stream = tf.fileobj
    if stream is None:
        return
    # The marker's second block: tarfile read the first.
    block = b""
    while len(block) < tarfile.BLOCKSIZE:
        chunk = stream.read(tarfile.BLOCKSIZE - len(block))
        if not chunk:
            break
        block += chunk
    if block.strip(b"\0"):
        raise tarfile.ReadError(f"data that is not a tar header at offset {tf.offset + tarfile.BLOCKSIZE}, after a zero block")
    # Read to the end all the same: a gzip stream checks its CRC and length
    # only at its end (what follows the marker is not looked at).
    while stream.read(1 << 16):
        pass


class _Body:
    """A request body as sent on each hop, rewound when it can be."""

    def __init__(self, data: Any, size: Optional[int] = None) -> None:
        self._close: Optional[IO[bytes]] = None
        self._file: Optional[IO[bytes]] = None
        self._iter: Optional[Iterable[bytes]] = None
        self._bytes: Optional[bytes] = None
        self._start = 0
        self._snapshot = False  # a seekable file's size, read exactly
        self.sent = False
        self.count: Optional[int] = None
        if data is None:
            self._bytes = b""
        elif isinstance(data, bytes):
            self._bytes = data
        elif isinstance(data, (bytearray, memoryview)):
            # Sent from where it is, not copied: a buffer of gigabytes
            # would take twice its memory.
            view = memoryview(data)
            if view.nbytes == 0:
                self._bytes = b""  # (a view of zeros in its shape does not cast)
            else:
                self._bytes = view.cast("B") if view.c_contiguous else view.tobytes()  # type: ignore[assignment]
        elif isinstance(data, (str, os.PathLike)):
            f = open(os.fspath(data), "rb")
            self._close = f
            self._file = f
        elif hasattr(data, "read"):
            self._file = data  # type: ignore[assignment]
        elif isinstance(data, Iterable):
            self._iter = data
        else:
            raise TypeError(f"put data must be bytes, a file object, a path or an iterable of bytes, not {type(data).__name__}")
        try:
            self._measure(size)
        except BaseException:
            self.close()  # a path opened above
            raise

    def _measure(self, size: Optional[int]) -> None:
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
            raise ValueError(f"put data: size {size!r}: want a whole number of bytes, 0 or more")
        self.size: Optional[int] = size
        self.rewindable = self._bytes is not None
        if self._bytes is not None:
            if size is not None and size != len(self._bytes):
                raise ValueError(f"put data: size {size}, but the data holds {len(self._bytes)} bytes")
            self.size = len(self._bytes)
        elif self._file is not None:
            end: Optional[int] = None
            try:
                if self._file.seekable():
                    self._start = self._file.tell()
                    end = self._file.seek(0, io.SEEK_END)
                    self._file.seek(self._start)
                    self.rewindable = True
            except (OSError, AttributeError, ValueError):
                self.rewindable = False
            if end is not None:
                # A size that is not the file's would store a part of it,
                # or fail once sent.
                if self.size is not None and self.size != end - self._start:
                    raise ValueError(f"put data: size {self.size}, but the file holds {end - self._start} bytes from its position")
                self.size = end - self._start
                # Its bytes as of now: a file still growing (a log) is
                # stored as it was, as before.
                self._snapshot = True

    def payload(self) -> Any:
        """What to hand to requests for one hop."""
        if self.sent:
            if not self.rewind():
                raise AisError("the request was redirected after its body was sent, and the body cannot be rewound (pass bytes, a seekable file or a path)")
        self.sent = True
        if self._bytes is not None and len(self._bytes) <= CHUNK_SIZE:
            return bytes(self._bytes)
        if self._bytes is not None:
            # In pieces: a socket's timeout while sending is the connect
            # timeout, and bounds each piece's send, not the whole body.
            view = memoryview(self._bytes)
            return _SizedChunks(iter(view[i : i + CHUNK_SIZE] for i in range(0, len(view), CHUNK_SIZE)), len(view))
        if self._file is not None:
            # A pipe to its end: more than the size announced fails the
            # request (_SizedChunks), rather than store the first bytes. A
            # seekable file's size was checked: that many bytes.
            chunks = _file_chunks(self._file, self.size if self._snapshot else None)
        else:
            assert self._iter is not None
            chunks = _bytes_chunks(self._iter)
        if self.size is not None:
            sized = _SizedChunks(chunks, self.size)
            if self.size == 0:
                for _ in sized:  # raises when the data holds any
                    pass
                return b""
            return sized
        return self._counted(chunks)  # sent chunked

    def _counted(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        self.count = 0
        for chunk in chunks:
            self.count += len(chunk)
            yield chunk

    @property
    def length(self) -> Optional[int]:
        """The body's size: the one known beforehand, else the bytes sent."""
        return self.size if self.size is not None else self.count

    def rewind(self) -> bool:
        if self._bytes is not None:
            return True
        if self._file is not None and self.rewindable:
            self._file.seek(self._start)
            return True
        return False

    def close(self) -> None:
        if self._close is not None:
            self._close.close()
        # The caller's buffer is its own again (a view held, by a
        # traceback, say, would keep a bytearray from being resized).
        self._bytes = None


def _file_chunks(f: IO[bytes], size: Optional[int]) -> Iterator[bytes]:
    left = size
    while left is None or left > 0:
        n = CHUNK_SIZE if left is None else min(CHUNK_SIZE, left)
        chunk = f.read(n)
        if not chunk:
            break
        if left is not None:
            left -= len(chunk)
        yield bytes(chunk)


def _bytes_chunks(it: Iterable[bytes]) -> Iterator[bytes]:
    for chunk in it:
        if not isinstance(chunk, (bytes, bytearray, memoryview)):
            raise TypeError(f"put data: an iterable must yield bytes, not {type(chunk).__name__}")
        if len(chunk):
            yield bytes(chunk)


class _SizedChunks:
    """Chunks of a known total size: requests sends them with Content-Length."""

    def __init__(self, chunks: Iterator[bytes], size: int) -> None:
        self._chunks = chunks
        self._size = size

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        for chunk in self._chunks:
            sent += len(chunk)
            if sent > self._size:
                raise ValueError(f"put data: more than the {self._size} bytes announced")
            yield chunk
        if sent != self._size:
            raise ValueError(f"put data: {sent} bytes instead of the {self._size} announced")


@dataclass
class ObjectEntry:
    """One object of a listing. ``size`` is in bytes (the wire has a string)."""

    name: str
    size: int = 0
    checksum: str = ""
    atime: str = ""
    version: str = ""
    flags: int = 0
    #: every field the node sent, as is
    raw: Dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_wire(cls, e: Mapping[str, Any]) -> "ObjectEntry":
        return cls(
            name=str(e.get("name", "")),
            size=_int(e.get("size")),
            checksum=str(e.get("checksum", "") or ""),
            atime=str(e.get("atime", "") or ""),
            version=str(e.get("version", "") or ""),
            flags=_int(e.get("flags")),
            raw=dict(e),
        )


def _int(v: Any) -> int:
    """Reads a counter that the wire may carry as a string."""
    if v is None or v == "":
        return 0
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)):
        return int(v)
    try:
        return int(str(v))
    except ValueError:
        try:
            return int(float(str(v)))
        except ValueError:
            return 0


@dataclass
class DsortStatus:
    """A dSort job summed over its targets (``GET /v1/sort?uuid=ID``).

    As AIStore and the Go client decide: a job is *aborted* when any target
    says so, *finished* when every target archived it; it is *done* when
    either holds.
    """

    job_id: str
    targets: Dict[str, Any]
    aborted: bool = False
    finished: bool = False
    phase: str = ""
    description: str = ""
    errors: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    total_shards: int = 0
    extracted_shards: int = 0
    extracted_bytes: int = 0
    extracted_records: int = 0
    to_create: int = 0
    created_shards: int = 0
    created_bytes: int = 0
    created_records: int = 0

    @property
    def done(self) -> bool:
        """The job ended, finished or aborted."""
        return self.aborted or self.finished

    @classmethod
    def from_wire(cls, job_id: str, per_target: Mapping[str, Any]) -> "DsortStatus":
        st = cls(job_id=job_id, targets=dict(per_target))
        if not per_target:
            return st
        ranks = {"init": 0, "extract": 1, "sort": 2, "create": 3, "finished": 4}
        finished = True
        phase: Optional[str] = None
        for info in per_target.values():
            if not isinstance(info, Mapping):
                continue
            m = info.get("Metrics") or {}
            ex = m.get("local_extraction") or {}
            cr = m.get("shard_creation") or {}
            st.aborted = st.aborted or bool(info.get("aborted")) or bool(m.get("aborted"))
            finished = finished and bool(info.get("archived"))
            p = str(info.get("phase") or "")
            if phase is None or ranks.get(p, 0) < ranks.get(phase, 0):
                phase = p
            st.description = st.description or str(m.get("description") or "")
            st.total_shards += _int(ex.get("total_count"))
            st.extracted_shards += _int(ex.get("extracted_count"))
            st.extracted_bytes += _int(ex.get("extracted_size"))
            st.extracted_records += _int(ex.get("extracted_record_count"))
            st.to_create += _int(cr.get("to_create"))
            st.created_shards += _int(cr.get("created_count"))
            st.created_bytes += _int(cr.get("created_size"))
            st.created_records += _int(cr.get("created_record_count"))
            for w in m.get("warnings") or []:
                st.warnings.append(str(w))
            for e in m.get("errors") or []:
                if str(e) not in st.errors:
                    st.errors.append(str(e))
        st.finished = finished and not st.aborted
        st.phase = phase or ""
        return st


class ObjectReader(io.RawIOBase):
    """A streaming reader of one object (or a byte range, or an archived file).

    It reads from the network as the caller reads; nothing is buffered
    beyond the transport's small buffers, so an object of any size can be
    read in constant memory. Use it as a context manager, or close it.

    Attributes:
        bucket, name: the object.
        size: bytes the answer carries (``Content-Length``), or None.
        headers: the answer's headers.
    """

    def __init__(self, resp: requests.Response, bucket: str, name: str, reopen: Optional[Callable[[int], requests.Response]] = None) -> None:
        super().__init__()
        self._resp = resp
        self._raw = resp.raw
        self.bucket = bucket
        self.name = name
        # A whole object's read cut by the network (a target restarting)
        # goes on from where it stopped: reopen(offset) asks for the rest,
        # which must be of the same version.
        self._reopen = reopen if resp.status_code == 200 and any(_identity(resp.headers)) else None
        self._resumes = 0
        # Case-insensitive, as HTTP's names are (a proxy may lower them).
        self.headers: Mapping[str, str] = requests.structures.CaseInsensitiveDict(resp.headers)
        cl = resp.headers.get("Content-Length")
        self.size: Optional[int] = int(cl) if cl is not None and cl.isdigit() else None
        self._pos = 0
        self._fetched = 0  # from the network; _pos is what the caller has
        # Read ahead by readline, handed out first from _off on (a slice
        # of the rest at each line would copy the chunk again and again).
        self._buf = b""
        self._off = 0

    @property
    def meta(self) -> Dict[str, Any]:
        """The object's metadata from the answer's headers (as head_object):
        its size is the object's, not this answer's, for a range too."""
        size = self.size
        total = self.headers.get("Content-Range", "").rpartition("/")[2]
        if self._resp.status_code == 206 and total.isdigit():
            size = int(total)
        return _meta_from_headers(self.headers, size)

    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        """Bytes read so far."""
        return self._pos

    def _fetch(self, n: int) -> bytes:
        if self.closed:
            raise ValueError("read of a closed object reader")
        while True:
            try:
                data = self._raw.read(n)
            except Exception as exc:  # urllib3's ProtocolError, ReadTimeoutError...
                if self._resume():
                    continue
                if "timed out" in str(exc).lower() or "timeout" in type(exc).__name__.lower():
                    raise AisTimeout(f"reading ais://{self.bucket}/{self.name} at byte {self._fetched}: timed out: {exc}") from exc
                raise AnswerCut(f"reading ais://{self.bucket}/{self.name} at byte {self._fetched}: {_reason(exc)}") from exc
            if not data and n > 0 and self.size is not None and self._fetched < self.size:
                if self._resume():
                    continue
                raise AnswerCut(f"reading ais://{self.bucket}/{self.name}: the answer ended at byte {self._fetched} of {self.size}")
            self._fetched += len(data)
            return data

    def _resume(self) -> bool:
        """Asks for the rest of the object after a cut read; False when it
        cannot (not a whole object's read, resumed too often, no answer)."""
        if self._reopen is None or self._resumes >= MAX_RESUMES:
            return False
        self._resumes += 1
        try:
            resp = self._reopen(self._fetched)
        except (errors.NotFound, errors.Unauthorized, errors.BadRequest):
            # A refusal (the object deleted since, the token revoked) is
            # the answer: taken for a cut, it would be asked again in vain.
            raise
        except AisError:
            return False  # (the cut read's own error says it: asked again, it may come whole)
        total = resp.headers.get("Content-Range", "").rpartition("/")[2]
        if resp.status_code != 206 or _identity(resp.headers) != _identity(self.headers) or not total.isdigit() or int(total) != self.size:
            resp.close()
            raise AnswerCut(f"reading ais://{self.bucket}/{self.name}: cut at byte {self._fetched}, and the object changed since the read began (another version): read it again")
        self._resp.close()
        self._resp, self._raw = resp, resp.raw
        return True

    def _read_raw(self, n: int) -> bytes:
        if self._off < len(self._buf) and n > 0:
            data = self._buf[self._off : self._off + n]
            self._off += len(data)
        else:
            data = self._fetch(n)
        self._pos += len(data)
        return data

    def readline(self, size: Optional[int] = -1) -> bytes:
        """Reads a line (up to and with ``b"\\n"``, at most ``size`` bytes),
        fetching ahead in chunks (io's own readline asks for a byte at a
        time): ``for line in reader`` reads a JSONL manifest quickly."""
        limit = -1 if size is None else size
        parts = []
        got = 0
        while got != limit:
            if self._off == len(self._buf):
                chunk = self._fetch(CHUNK_SIZE)
                if not chunk:
                    break
                self._buf, self._off = chunk, 0
            stop = len(self._buf) if limit < 0 else min(len(self._buf), self._off + limit - got)
            end = self._buf.find(b"\n", self._off, stop)
            cut = end + 1 if end >= 0 else stop
            parts.append(self._buf[self._off : cut])
            got += cut - self._off
            self._off = cut
            if end >= 0:
                break
        line = b"".join(parts)
        self._pos += len(line)
        return line

    def read(self, size: int = -1) -> bytes:
        """Reads up to ``size`` bytes (all that is left when negative)."""
        if size is None or size < 0:
            return self.readall()
        return self._read_raw(size)

    def readall(self) -> bytes:
        parts = []
        while True:
            chunk = self._read_raw(CHUNK_SIZE)
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        data = self._read_raw(len(view))
        view[: len(data)] = data
        return len(data)

    def iter_chunks(self, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        """Yields the rest of the object in pieces of at most ``chunk_size`` bytes."""
        while True:
            chunk = self._read_raw(chunk_size)
            if not chunk:
                return
            yield chunk

    def close(self) -> None:
        if not self.closed:
            try:
                self._resp.close()
            finally:
                super().close()

    def __enter__(self) -> "ObjectReader":
        return self


# MAX_RESUMES bounds how often one read of an object goes on after a cut.
MAX_RESUMES = 3


def _identity(h: Mapping[str, str]) -> Tuple[str, str, str]:
    """What tells one version of an object from another in an answer."""
    hl = {k.lower(): v for k, v in h.items()}
    return hl.get("ais-version", ""), hl.get("ais-checksum-value", ""), hl.get("etag", "")


def _meta_from_headers(h: Mapping[str, str], size: Optional[int]) -> Dict[str, Any]:
    hl = {k.lower(): v for k, v in h.items()}
    atime: Optional[int] = None
    if hl.get("ais-atime", "").lstrip("-").isdigit():
        atime = int(hl["ais-atime"])
    custom: Dict[str, str] = {}
    from urllib.parse import unquote_plus

    for part in filter(None, hl.get("ais-custom-md", "").split(",")):
        k, _, v = part.partition("=")
        custom[unquote_plus(k)] = unquote_plus(v)
    return {
        "size": size,
        "checksum_type": hl.get("ais-checksum-type", ""),
        "checksum": hl.get("ais-checksum-value", ""),
        "version": hl.get("ais-version", ""),
        "atime": atime,  # Unix nanoseconds
        "custom": custom,
        "etag": _strong_etag(hl.get("etag", "")),
    }


def _strong_etag(value: str) -> str:
    """An ETag header's value unquoted; "" for a weak one or none."""
    value = value.strip()
    return "" if value.startswith("W/") else value.strip('"')


def verify_from_env() -> Union[bool, str]:
    """TLS verification as the CLI does it: none with AIS_SKIP_VERIFY_CRT,
    else AIS_CLIENT_CA's, else the system's CAs (as Go's clients take them;
    requests alone would take certifi's, without a private CA installed on
    the host)."""
    if os.environ.get("AIS_SKIP_VERIFY_CRT", "").strip().lower() in ("1", "t", "true", "yes"):
        return False
    ca = os.environ.get("AIS_CLIENT_CA", "")
    if ca:
        return ca
    return _system_cas()


def cert_from_env() -> Optional[Tuple[str, str]]:
    """The client certificate and key of AIS_CRT and AIS_CRT_KEY (a cluster
    that verifies its clients asks for them), as the CLI takes them."""
    crt, key = os.environ.get("AIS_CRT", ""), os.environ.get("AIS_CRT_KEY", "")
    if bool(crt) != bool(key):
        raise ValueError("AIS_CRT and AIS_CRT_KEY go together: set both, the client certificate and its key")
    return (crt, key) if crt else None


def _system_cas() -> Union[bool, str]:
    """The system's CA file (or directory), as OpenSSL finds it; True
    (certifi's) when there is none."""
    paths = ssl.get_default_verify_paths()
    for f in (os.environ.get("SSL_CERT_FILE"), paths.cafile, paths.openssl_cafile):
        if f and os.path.isfile(f):
            return f
    for d in (os.environ.get("SSL_CERT_DIR"), paths.capath, paths.openssl_capath):
        if d and os.path.isdir(d):
            return d
    return True


def _user_config_dir() -> str:
    """The directory Go's os.UserConfigDir names, where ``ais auth login``
    keeps its token: per platform, as Go has it; "" where Go has none (a
    relative $XDG_CONFIG_HOME, no %AppData%), as the CLI then keeps no
    token."""
    if sys.platform == "darwin":
        return os.path.join(os.path.expanduser("~"), "Library", "Application Support")
    if sys.platform.startswith("win"):
        return os.environ.get("AppData", "")
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    if xdg:
        return xdg if os.path.isabs(xdg) else ""
    return os.path.join(os.path.expanduser("~"), ".config")


def token_from_env() -> str:
    """The token of ``$AIS_AUTHN_TOKEN``, else of the token file; "" when none."""
    token = os.environ.get("AIS_AUTHN_TOKEN", "").strip()
    if token:
        return token
    path = os.environ.get("AIS_AUTHN_TOKEN_FILE")
    if not path:
        config = _user_config_dir()
        if not config:
            return ""
        path = os.path.join(config, "ais", "cli", "auth.token")
    try:
        # Opened without waiting, and read only as a regular file (as the
        # Go client): a FIFO's open would block every client made, and a
        # pipe's (/dev/stdin's) data is an upload's, not a token.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return ""
            data = f.read((64 << 10) + 1)
        # Not a token: larger than any, or not text (as the Go client).
        return "" if len(data) > 64 << 10 else data.decode().strip()
    except (OSError, ValueError):
        return ""



def _spec_bytes(spec: Union[Mapping[str, Any], str, bytes]) -> bytes:
    """A dSort spec as the body of a request: a dict as JSON, text as is."""
    if isinstance(spec, Mapping):
        return json.dumps(spec).encode()
    if isinstance(spec, str):
        return spec.encode()
    return bytes(spec)


def _redirect_to(url: str, loc: str, method: str) -> str:
    """Where a redirect sends a request: never from https to plain http,
    where the token and the body would go in the clear."""
    target = urljoin(url, loc)
    if urlsplit(url).scheme == "https" and urlsplit(target).scheme != "https":
        raise AisError(f"{method} {_shown(url)}: refused a redirect from https to {urlsplit(target).scheme}://{urlsplit(target).netloc}",
                       status=0, method=method, path=urlsplit(url).path)
    return target


def _cluster_made(url: str) -> bool:
    """A redirect a node of the cluster made: it names the redirect's time
    and its gateway (AIStore's, AIS-Go's) or its map version (AIS-Go's
    target sending a client to the primary); a load balancer's or a login
    page's does not."""
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    return "utm" in query and ("pid" in query or "smv" in query)


# _SEND_TIMEOUT is the wait (seconds; None: none) that bounds each send of
# a request once its connection is made: its read timeout, not the connect
# timeout urllib3 sends it under.
_SEND_TIMEOUT: contextvars.ContextVar[Any] = contextvars.ContextVar("aisgo_send_timeout", default=_UNSET)


class _SendTimeoutMixin:
    """A connection whose sends after the first (the connection made, the
    headers out) wait as long as _SEND_TIMEOUT says."""

    def send(self, data: Any) -> None:
        timeout = _SEND_TIMEOUT.get()
        sock = getattr(self, "sock", None)
        if timeout is not _UNSET and sock is not None:
            sock.settimeout(timeout)
        super().send(data)  # type: ignore[misc]


class _SendTimeoutConnection(_SendTimeoutMixin, urllib3.connection.HTTPConnection):
    pass


class _SendTimeoutHTTPSConnection(_SendTimeoutMixin, urllib3.connection.HTTPSConnection):
    pass


class _SendTimeoutPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _SendTimeoutConnection


class _SendTimeoutHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _SendTimeoutHTTPSConnection


# UNANSWERED_GRACE is how long (seconds) a wait for a job goes on, once no
# node runs it, while a target of the job does not answer.
UNANSWERED_GRACE = 60.0


def _kept_since(node: Mapping[str, Any], kind: str) -> int:
    """Since when (Unix ns) a target lists its ended parts of jobs of a kind
    across its restarts (0: not known), as api.NodeStatus.KeptSince."""
    since = node.get("jobs_since") or {}
    if not isinstance(since, Mapping):
        return 0
    return int(since.get(kind, since.get("", 0)) or 0)


def _lost_parts(nodes: List[Mapping[str, Any]], job_id: str, jobs: List[Mapping[str, Any]]) -> List[str]:
    """The parts of a job that ended whose outcome is not known: a target the
    job names that did not answer, that restarted while the job ran and
    has no record of it, or that has left the cluster (as the Go client
    tells them)."""
    targets = {t for j in jobs for t in (j.get("targets") or [])}
    started = min((int(j.get("started") or 0) for j in jobs), default=0)
    ended = max((int(j.get("finished") or 0) for j in jobs), default=0)
    running = any(j.get("running") for j in jobs)
    kind = next((str(j.get("kind") or "") for j in jobs), "")
    present = {n.get("id", "") for n in nodes}
    out = [f"{t}: has left the cluster: whether its part of the job was done is not known; run the job again"
           for t in sorted(targets - present)]
    for n in nodes:
        node = n.get("id", "")
        if node not in targets:
            continue
        has = any(j.get("id") == job_id for j in (n.get("jobs") or []))
        if n.get("error"):
            out.append(f"{node}: did not answer, its part of the job is unknown: {n['error']}")
        elif has or int(n.get("started") or 0) <= started:
            continue
        elif not running and int(n.get("started") or 0) >= ended and not (0 < _kept_since(n, kind) < started):
            # Restarted after the job ended everywhere, keeping no record
            # of its parts from before: it forgot a part done.
            continue
        elif n.get("starting"):
            # Restarted, it resumes its jobs (downloads) before it lists them.
            out.append(f"{node}: is starting: its part of the job (resumed, if it resumes it) is not known yet")
        else:
            # (One that keeps its ended parts lists a part done.)
            out.append(f"{node}: restarted while the job ran and has no record of it: its part of the job is lost")
    return out

class Client:
    """A client of an AIS-Go (or AIStore) cluster through its gateway.

    Args:
        endpoint: the gateway's URL, e.g. ``"http://127.0.0.1:8080"``;
            default ``$AIS_ENDPOINT``, else ``http://localhost:8080``. A
            comma-separated list names several gateways: the client moves to
            the next when one cannot be reached.
        timeout: seconds, or (connect, read) seconds, for each network
            wait (not a whole transfer); None waits forever.
        pool_size: kept-alive connections per node, for threaded use.
        verify: TLS verification for https endpoints (as requests takes it);
            default ``$AIS_CLIENT_CA`` (a CA file) when set, none when
            ``$AIS_SKIP_VERIFY_CRT`` is true, else the system's CAs.
        token: the user's token, for a cluster that checks tokens; default
            ``$AIS_AUTHN_TOKEN``, else the file ``$AIS_AUTHN_TOKEN_FILE``
            names, else ``~/.config/ais/cli/auth.token`` (where
            ``ais auth login`` keeps it), else none.
        retry_time: seconds a GET or HEAD (or a request that never left)
            through the gateway is tried again, with growing pauses, when
            its node cannot be reached or does not answer, so that a
            target restarting (a rolling upgrade) does not fail a training
            job's reads; the default 0 fails at once (a script asking
            whether the cluster is up). The PyTorch datasets read with
            60 s. A PUT whose body can be sent again (bytes, a seekable
            file, a path) is tried again the same way, its target found
            anew; one of a generator, and a get-batch cut midway, are
            not.

    The client is safe to use from several threads, and to pickle into
    DataLoader workers (each process opens its own connections).
    """

    def __init__(
        self,
        endpoint: Optional[str] = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        *,
        pool_size: int = 32,
        verify: Union[bool, str, None] = None,
        token: Optional[str] = None,
        retry_time: float = 0.0,
    ) -> None:
        if endpoint is None:
            endpoint = os.environ.get("AIS_ENDPOINT") or "http://localhost:8080"
        gateways = [g.strip().rstrip("/") for g in str(endpoint).split(",") if g.strip()]
        if not gateways:
            raise ValueError("an endpoint is required, e.g. http://localhost:8080")
        for g in gateways:
            parts = urlsplit(g)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"endpoint {g!r}: want http://HOST:PORT or https://HOST:PORT")
        self._gateways = gateways
        self.timeout = timeout
        if retry_time < 0:
            raise ValueError(f"retry_time {retry_time}: cannot be negative")
        self.retry_time = retry_time
        self.pool_size = pool_size
        self.verify = verify if verify is not None else verify_from_env()
        self.cert = cert_from_env()
        self.token = (token if token is not None else token_from_env()).strip()
        if not self.token.isprintable():
            # (Not shown: the message would carry the token into logs.)
            raise ValueError("the token has a line break or another control character inside: give the token alone")
        self._lock = threading.Lock()
        self._sess: Optional[requests.Session] = None
        self._sess_pid = 0

    # -- plumbing -------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The URL of the gateway in use."""
        return self._gateways[0]

    def __repr__(self) -> str:
        return f"Client({self.endpoint!r})"

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        state["_sess"] = None
        state["_sess_pid"] = 0
        del state["_lock"]
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.__dict__.setdefault("cert", None)  # pickled by an older client
        self._lock = threading.Lock()

    def close(self) -> None:
        """Closes the kept-alive connections."""
        with self._lock:
            if self._sess is not None:
                self._sess.close()
                self._sess = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _session(self) -> requests.Session:
        pid = os.getpid()
        s = self._sess
        if s is not None and self._sess_pid == pid:
            return s
        with self._lock:
            if self._sess is None or self._sess_pid != pid:
                # A forked child must not share its parent's sockets.
                s = requests.Session()
                s.trust_env = False  # a cluster is reached directly, never through a proxy
                # A pool per node: one per node of a large cluster, each
                # kept (past the number of pools kept, each new node's
                # would close another's connections).
                adapter = HTTPAdapter(pool_connections=1024, pool_maxsize=self.pool_size, max_retries=0)
                adapter.poolmanager.pool_classes_by_scheme = {"http": _SendTimeoutPool, "https": _SendTimeoutHTTPSPool}
                s.mount("http://", adapter)
                s.mount("https://", adapter)
                s.verify = self.verify
                s.cert = self.cert
                s.headers["User-Agent"] = "aisgo-python"
                if self.token:
                    s.headers["Authorization"] = "Bearer " + self.token
                self._sess, self._sess_pid = s, pid
            return self._sess

    def _is_gateway(self, url: str) -> bool:
        """Whether url is at a gateway the client was given (the same host
        upgraded to https too: an ingress's redirect)."""
        parts = urlsplit(url)
        for g in self._gateways:
            given = urlsplit(g)
            if given.netloc.lower() == parts.netloc.lower() and (given.scheme == parts.scheme or parts.scheme == "https"):
                return True
        return False

    def _url(self, base: str, path: str, params: Optional[Mapping[str, Any]]) -> str:
        url = base + path
        if params:
            query = {k: v for k, v in params.items() if v is not None}
            if query:
                url += "?" + urlencode(query)
        return url

    def _send(
        self, method: str, url: str, *, headers: Optional[Mapping[str, str]], data: Any, stream: bool, gateway: bool, followed: bool = False
    ) -> requests.Response:
        """One HTTP exchange, no redirects followed. ``followed``: the URL is
        a redirect's, answered to this very request."""
        hdrs: Dict[str, Optional[str]] = dict(headers or {})
        if followed and self.token and "agrant=" in urlsplit(url).query:
            # The redirect's grant, made for this request, authorizes this
            # hop (a target): the token stays with the gateways (None drops
            # the session's header). A located PUT's grant is a HEAD's: not so.
            hdrs["Authorization"] = None
        elif followed and self.token and not (self._is_gateway(url) or _cluster_made(url)):
            # Sent elsewhere (a load balancer's redirect to a login
            # page): the token is not.
            hdrs["Authorization"] = None
        timeout = self._timeout_now()
        # urllib3 sends the body under the connect timeout (each piece's
        # sendall): a target that stalls a moment mid-upload (its disk)
        # would fail the PUT as unreachable. Once connected, the read
        # wait bounds each send (_SendTimeoutConnection).
        send_timeout = _SEND_TIMEOUT.set(timeout[1] if isinstance(timeout, tuple) else timeout)
        try:
            return self._session().request(
                method,
                url,
                headers=hdrs,
                data=data,
                stream=stream,
                allow_redirects=False,
                timeout=timeout,
            )
        # The causes are not chained: their text holds the whole URL, and
        # a redirect's carries an access grant (a traceback would log it).
        except requests.exceptions.ConnectTimeout:
            raise AisTimeout(
                f"{'AIS endpoint' if gateway else 'node'} {_origin(url)} did not accept a connection in time ({method} {_shown(url)})",
                method=method,
                path=urlsplit(url).path,
                url=_origin(url),
                sent=False,
            ) from None
        except requests.exceptions.SSLError as exc:
            # Not a node away: trying again (or another gateway) would fail
            # the same way.
            raise AisError(
                f"{_origin(url)}: TLS: {_reason(exc)} ({method} {_shown(url)}): is its certificate's CA trusted ($AIS_CLIENT_CA)?",
                method=method,
                path=urlsplit(url).path,
            ) from None
        # requests sends a chunked body (a generator) on a connection of
        # its own, and lets urllib3's refusal through unwrapped.
        except (requests.exceptions.ConnectionError, urllib3.exceptions.NewConnectionError) as exc:
            who = "AIS endpoint" if gateway else "node"
            raise AisConnectionError(
                f"{who} {_origin(url)} is unreachable: {method} {_shown(url)}: {_reason(exc)}",
                url=_origin(url),
                method=method,
                path=urlsplit(url).path,
                sent=not isinstance(exc, urllib3.exceptions.NewConnectionError) and not _never_connected(exc),
            ) from None
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
            # The answer was cut (the node restarted mid-body): a failure
            # of the connection, tried again as one when the request can be.
            raise AisConnectionError(
                f"{_origin(url)} cut its answer: {method} {_shown(url)}: {_reason(exc)}",
                url=_origin(url),
                method=method,
                path=urlsplit(url).path,
                sent=True,
            ) from None
        except requests.exceptions.Timeout:
            raise AisTimeout(f"{method} {_shown(url)}: no answer within {self.timeout} s", method=method, path=urlsplit(url).path, url=_origin(url)) from None
        except requests.exceptions.InvalidURL as exc:
            raise errors.BadRequest(f"{method} {_shown(url)}: invalid URL: {_reason(exc)}", method=method) from None
        finally:
            _SEND_TIMEOUT.reset(send_timeout)

    def _timeout_now(self) -> Any:
        """The timeout of a request now: the client's, or its read part
        as _reading set it."""
        read = _READ_TIMEOUT.get()
        if read is _UNSET:
            return self.timeout
        connect = self.timeout[0] if isinstance(self.timeout, tuple) else self.timeout
        return (connect, read)

    def _do(
        self,
        method: str,
        path: str,
        *,
        params: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, str]] = None,
        json_body: Any = None,
        body: Optional[_Body] = None,
        stream: bool = False,
        first_hop: Optional[str] = None,
        once: bool = False,
        resent: Optional[List[bool]] = None,
    ) -> requests.Response:
        """Sends a request, follows redirects and raises AisError on failure.

        ``first_hop`` replaces the gateway as the first URL (a target found
        beforehand). 503 answers are tried again when the request can be.
        ``once``: a request that reached a gateway is not sent to another
        (its second sending would not answer as the first did). ``resent``
        gets True when the request went again after a sending that may
        have arrived (a connection cut once it was sent).
        """
        hdrs = dict(headers or {})
        payload: Any = None
        if json_body is not None:
            payload = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        # An action sent by PUT or POST starts work (a job, an archive
        # that appends): once sent, it is not sent again to another gateway.
        action = method != "GET" and isinstance(json_body, Mapping) and "action" in json_body
        replayable = method in _IDEMPOTENT and not action and not once
        # A job's start waits for every target's answer first.
        if (action or method == "POST" and path in ("/v1/sort", "/v1/download")) and _READ_TIMEOUT.get() is _UNSET:
            read = self.timeout[1] if isinstance(self.timeout, tuple) else self.timeout
            with _reading(None if read is None else max(read, JOB_START_TIMEOUT)):
                return self._do(method, path, params=params, headers=headers, json_body=json_body, body=body, stream=stream, first_hop=first_hop, once=once, resent=resent)
        attempt = 0
        deadline, pause = time.monotonic() + getattr(self, "retry_time", 0.0), 0.2
        while True:
            try:
                return self._do_once(method, path, params, hdrs, payload, body, stream, first_hop, replayable, resent)
            except (AisConnectionError, AisTimeout) as exc:
                # A node down a while (a target restarting, its gateway
                # still sending its objects' reads there): asked again
                # through the gateway, when sending twice is safe.
                if first_hop is not None or (exc.sent and method not in ("GET", "HEAD")) or time.monotonic() + pause > deadline:
                    raise
                if body is not None and not body.rewind():
                    raise
                if body is not None:
                    body.sent = False
                time.sleep(pause)
                pause = min(2 * pause, 5.0)
            except errors.Unavailable as exc:
                if isinstance(exc, errors.NoQuorum):
                    raise
                if exc.proxy and not replayable:
                    # A proxy's 503 may come after the gateway took the
                    # request: a second job, a second append, is not sent.
                    raise
                # Past the fixed schedule, a node restarting (its port
                # open, not ready yet) is waited for as long as
                # retry_time lets, as one down is.
                if attempt >= len(RETRY_DELAYS):
                    if not replayable or time.monotonic() + pause > deadline:
                        raise
                    delay, pause = pause, min(2 * pause, 5.0)
                else:
                    delay = RETRY_DELAYS[attempt]
                if body is not None and not body.rewind():
                    raise
                if body is not None:
                    body.sent = False
                time.sleep(delay)
                attempt += 1

    def _do_once(
        self,
        method: str,
        path: str,
        params: Optional[Mapping[str, Any]],
        headers: Dict[str, str],
        payload: Optional[bytes],
        body: Optional[_Body],
        stream: bool,
        first_hop: Optional[str],
        replayable: bool,
        resent: Optional[List[bool]] = None,
    ) -> requests.Response:
        tried: List[str] = []
        while True:
            gateway = self.endpoint
            url = first_hop or self._url(gateway, path, params)
            try:
                return self._follow(method, url, headers, payload, body, stream, at_gateway=first_hop is None)
            except (AisConnectionError, AisTimeout) as exc:
                # Another gateway, when the request never reached this one
                # (or may be sent twice): a POST the gateway may have acted
                # on before the connection broke is not sent again. A
                # gateway that hangs (powered off, dropping packets) is
                # passed over as one that refuses.
                if first_hop is not None or exc.url != _origin(gateway) or len(self._gateways) < 2:
                    raise
                if exc.sent and not replayable:
                    raise
                if not self._pass_over(gateway, tried, body):
                    raise
                if exc.sent and resent is not None:
                    resent.append(True)
            except errors.Unavailable as exc:
                # A gateway that cannot serve (removed from the cluster,
                # starting): the next one is asked before any wait, as the
                # Go client does, whatever the request (a gateway's 503 is
                # work not done; a proxy's is not known to be). A quorum
                # lost is every gateway's answer.
                if (
                    getattr(exc, "from_gateway", None) != _origin(gateway)
                    or first_hop is not None
                    or len(self._gateways) < 2
                    or isinstance(exc, errors.NoQuorum)
                    or exc.proxy and not replayable
                ):
                    raise
                if not self._pass_over(gateway, tried, body):
                    raise

    def _pass_over(self, gateway: str, tried: List[str], body: Optional[_Body]) -> bool:
        """Moves on from a gateway that failed a request to the next one
        given; False when every gateway was tried, or the body cannot be
        sent again."""
        tried.append(gateway)
        if len(tried) >= len(self._gateways):
            return False
        if body is not None:
            if not body.rewind():
                return False
            body.sent = False
        self._next_gateway(gateway)
        return True

    def _follow(
        self,
        method: str,
        url: str,
        headers: Dict[str, str],
        payload: Optional[bytes],
        body: Optional[_Body],
        stream: bool,
        at_gateway: bool,
    ) -> requests.Response:
        for hop in range(MAX_REDIRECTS + 1):
            data = body.payload() if body is not None else payload
            # Always streamed by requests: an answer not asked streamed is
            # read here, bounded (_read_answer), not whole into memory.
            resp = self._send(method, url, headers=headers, data=data, stream=True, gateway=at_gateway and hop == 0, followed=hop > 0)
            if resp.status_code in _REDIRECTS:
                loc = resp.headers.get("Location")
                _read_limited(resp, 64 << 10)  # read to its end: the connection goes back to the pool
                resp.close()
                if not loc:
                    raise AisError(f"{method} {_shown(url)}: a redirect without a Location", status=resp.status_code, method=method, path=urlsplit(url).path)
                url = _redirect_to(url, loc, method)
                if hop >= 2:
                    time.sleep(0.02 * hop)  # nodes disagree while a new map spreads
                continue
            if resp.status_code >= 300:
                try:
                    # (A HEAD's reads as none, its connection released.)
                    text = _read_limited(resp, 64 << 10)
                finally:
                    resp.close()
                err = errors.error_from_response(resp.status_code, text, resp.headers, method=method, path=urlsplit(url).path)
                if at_gateway and hop == 0 and isinstance(err, errors.Unavailable):
                    err.from_gateway = _origin(url)  # another gateway may answer
                raise err
            if not stream:
                _read_answer(resp, method, url)
            return resp
        raise TooManyRedirects(f"{method} {_shown(url)}: more than {MAX_REDIRECTS} redirects", method=method, path=urlsplit(url).path)

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        resp = self._do(method, path, **kw)
        try:
            if not resp.content:
                return None
            return resp.json()
        except ValueError as exc:
            raise AisError(f"{method} {path}: the answer is not JSON: {resp.text[:200]!r}", status=resp.status_code) from exc
        finally:
            resp.close()

    # -- buckets ----------------------------------------------------------

    def create_bucket(self, bucket: str, props: Optional[Mapping[str, Any]] = None, *, exist_ok: bool = False) -> None:
        """Creates an ais bucket, with some properties (a partial props object) if given.

        Raises BucketExists when it exists (unless ``exist_ok``), BadRequest
        (InvalidName) for a name the store refuses.
        """
        msg: Dict[str, Any] = {"action": "create-bck"}
        if props:
            msg["value"] = dict(props)
        try:
            self._do("POST", _bucket_path(bucket), json_body=msg).close()
        except errors.BucketExists:
            if not exist_ok:
                raise

    def destroy_bucket(self, bucket: str, *, missing_ok: bool = False) -> None:
        """Removes a bucket and every object in it."""
        try:
            self._do("DELETE", _bucket_path(bucket), json_body={"action": "destroy-bck"}).close()
        except errors.BucketNotFound:
            if not missing_ok:
                raise

    def list_buckets(self) -> List[Dict[str, Any]]:
        """Returns every bucket as ``{"name": ..., "provider": ...}``."""
        out = self._json("GET", "/v1/buckets")
        return list(out or [])

    def bucket_props(self, bucket: str) -> Dict[str, Any]:
        """Returns a bucket's properties (``HEAD /v1/buckets/B``, header ``Ais-Bucket-Props``)."""
        resp = self._do("HEAD", _bucket_path(bucket))
        resp.close()
        raw = resp.headers.get("Ais-Bucket-Props", "")
        try:
            return dict(json.loads(raw)) if raw else {}
        except ValueError as exc:
            raise AisError(f"bucket {bucket}: cannot decode Ais-Bucket-Props {raw[:100]!r}") from exc

    def bucket_exists(self, bucket: str) -> bool:
        """Tells whether a bucket exists."""
        try:
            self.bucket_props(bucket)
            return True
        except errors.NotFound:
            return False

    def list_objects_page(
        self,
        bucket: str,
        *,
        prefix: str = "",
        page_size: int = 0,
        props: str = "name,size",
        continuation_token: str = "",
        uuid: str = "",
        start_after: str = "",
        allow_incomplete: bool = False,
    ) -> Tuple[List[ObjectEntry], str, str]:
        """Returns one page of a listing: (entries, continuation token, uuid).

        An empty token means the listing is complete. ``page_size`` 0 is the
        node's maximum (10,000). A page that misses the objects of targets
        offline raises Unavailable naming them, unless ``allow_incomplete``.
        """
        value: Dict[str, Any] = {"props": props, "time_format": "RFC3339Nano"}
        if prefix:
            value["prefix"] = prefix
        if page_size:
            value["pagesize"] = int(page_size)
        if continuation_token:
            value["continuation_token"] = continuation_token
        if uuid:
            value["uuid"] = uuid
        if start_after:
            value["start_after"] = start_after
        page = self._json("GET", _bucket_path(bucket), json_body={"action": "list", "value": value}) or {}
        missing = page.get("incomplete") or []
        if missing and not allow_incomplete:
            raise errors.Unavailable(
                f"the listing of ais://{bucket} misses the objects of target(s) {', '.join(missing)} (offline): retry, or pass allow_incomplete=True",
                status=503,
            )
        entries = [ObjectEntry.from_wire(e) for e in page.get("entries") or []]
        return entries, str(page.get("continuation_token") or ""), str(page.get("uuid") or "")

    def list_objects(
        self, bucket: str, prefix: str = "", page_size: int = 0, props: str = "name,size", allow_incomplete: bool = False
    ) -> Iterator[ObjectEntry]:
        """Yields every object of a bucket (under ``prefix``) in name order, page by page.

        ``props`` is a comma-separated list of what to return: name, size,
        checksum, atime, version... Sizes are ints. With a target offline
        it raises Unavailable (a dataset listed then would miss its shards),
        unless ``allow_incomplete``.
        """
        token, uuid = "", ""
        while True:
            entries, token, uuid = self.list_objects_page(
                bucket, prefix=prefix, page_size=page_size, props=props, continuation_token=token, uuid=uuid, allow_incomplete=allow_incomplete
            )
            yield from entries
            if not token:
                return

    # -- objects ------------------------------------------------------------

    def _locate(self, bucket: str, name: str) -> str:
        """Finds the URL a write of the object goes to, without sending data.

        The gateway answers a HEAD of an object with a redirect to its owner
        target; that Location serves the PUT as well. A node that answers
        itself (a target reached directly) is the place. A gateway that
        cannot be reached, hangs, or cannot serve (503) is passed over for
        the next, as any request's; when every one said 503, they are asked
        again after a pause.
        """
        path = _object_path(bucket, name)
        last: Optional[AisError] = None
        for attempt in range(len(RETRY_DELAYS) + 1):
            if attempt:
                time.sleep(RETRY_DELAYS[attempt - 1])
            busy = False
            for _ in range(len(self._gateways)):
                gateway = self.endpoint
                url = self._url(gateway, path, None)
                try:
                    resp = self._send("HEAD", url, headers=None, data=None, stream=False, gateway=True)
                except (AisConnectionError, AisTimeout) as exc:
                    last = exc
                    self._next_gateway(gateway)
                    continue
                resp.close()
                if resp.status_code in _REDIRECTS and resp.headers.get("Location"):
                    target = _redirect_to(url, resp.headers["Location"], "PUT")
                    if not (self._is_gateway(target) or _cluster_made(target)):
                        # Neither the token nor the body goes there.
                        raise AisError(f"PUT {_shown(url)}: the look for its target was sent to {_origin(target)}, not a node of the cluster "
                                       "(a load balancer or a login page in front of it?): the object is not sent there",
                                       status=resp.status_code, method="PUT", path=path)
                    return target
                if resp.status_code < 300:
                    return url
                err = errors.error_from_response(resp.status_code, b"", resp.headers, method="HEAD", path=path)
                if type(err) is errors.NotFound:
                    return url  # the object is not there yet: this node is its owner
                if isinstance(err, errors.Unauthorized) and err.status == 403:
                    # May put, may not look (a write-only token): the PUT
                    # goes to the gateway, which redirects it (or refuses
                    # it); a body that cannot be rewound fails then, saying
                    # so (requests sends no Expect: 100-continue).
                    return url
                if isinstance(err, errors.Unavailable) and not isinstance(err, errors.NoQuorum):
                    last, busy = err, True
                    self._next_gateway(gateway)
                    continue
                raise err
            if not busy:
                break  # none answered: a pause would not change that
        assert last is not None
        raise last

    def _next_gateway(self, gateway: str) -> None:
        """Makes the gateway after this one the first asked."""
        with self._lock:
            if len(self._gateways) > 1 and self._gateways[0] == gateway:
                self._gateways = self._gateways[1:] + self._gateways[:1]

    def put_object(
        self,
        bucket: str,
        name: str,
        data: PutData,
        *,
        size: Optional[int] = None,
        checksum: Optional[Tuple[str, str]] = None,
        custom: Optional[Mapping[str, str]] = None,
    ) -> Dict[str, Any]:
        """Stores an object and returns its metadata (as head_object, without atime).

        Args:
            data: bytes; a binary file object (read from its position; a
                seekable one can be re-sent on a redirect); a path (str or
                os.PathLike) of a file to upload; or an iterable of bytes
                chunks (a generator), sent chunked unless ``size`` is given.
                Data is streamed: a file or generator of any size is never
                held in memory.
            size: the size of a file object or iterable, when known.
            checksum: ``(type, value)``, e.g. ``("md5", "...")``, verified by
                the target before the object becomes visible.
            custom: custom metadata kept with the object.
        """
        headers: Dict[str, str] = {}
        if checksum:
            headers["Ais-Checksum-Type"], headers["Ais-Checksum-Value"] = checksum
        if custom:
            from urllib.parse import quote_plus

            headers["Ais-Custom-Md"] = ",".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in custom.items())
        body = _Body(data, size)
        deadline, pause = time.monotonic() + self.retry_time, 0.2
        try:
            while True:
                try:
                    target = self._locate(bucket, name)
                    resp = self._do("PUT", _object_path(bucket, name), headers=headers, body=body, first_hop=target)
                    resp.close()
                    break
                except (AisConnectionError, AisTimeout, errors.Unavailable) as exc:
                    # Its target restarting (a rolling upgrade), or the map
                    # moving: found again, and sent again when it can be.
                    if isinstance(exc, errors.NoQuorum) or time.monotonic() + pause > deadline or not body.rewind():
                        raise
                    body.sent = False
                    time.sleep(pause)
                    pause = min(2 * pause, 5.0)
        finally:
            body.close()
        meta = _meta_from_headers(resp.headers, body.length)
        meta.pop("atime", None)
        return meta

    def _get(self, bucket: str, name: str, byte_range: Optional[Any], archpath: Optional[str], validate: bool) -> requests.Response:
        params: Dict[str, Any] = {}
        if archpath:
            params["archpath"] = archpath
        if validate:
            params["validate-checksum"] = "true"
        headers: Dict[str, str] = {}
        rng = _range_header(byte_range)
        if rng:
            headers["Range"] = rng
        return self._do("GET", _object_path(bucket, name), params=params, headers=headers, stream=True)

    def get_object(
        self,
        bucket: str,
        name: str,
        byte_range: Optional[Any] = None,
        archpath: Optional[str] = None,
        *,
        validate: bool = False,
    ) -> bytes:
        """Reads an object (or part of it) into memory.

        Args:
            byte_range: ``(start, end)`` inclusive, ``(start, None)`` to the
                end, ``range(start, stop)``, a ``slice``, or a Range header
                value such as ``"bytes=0-99"`` or ``"bytes=-100"`` (the last
                100 bytes).
            archpath: a file inside a tar, tgz or zip shard to read instead.
            validate: have the target verify the checksum first.

        Use open_object for large objects.
        """
        with self.open_object(bucket, name, byte_range=byte_range, archpath=archpath, validate=validate) as r:
            return r.read()

    def open_object(
        self,
        bucket: str,
        name: str,
        byte_range: Optional[Any] = None,
        archpath: Optional[str] = None,
        *,
        validate: bool = False,
    ) -> ObjectReader:
        """Opens an object for streaming reads; arguments as get_object.

        The reader reads from the network as it is read: an object of any
        size passes through constant memory. Close it (or use ``with``).
        """
        rng = _range_header(byte_range) or ""
        try:
            resp = self._get(bucket, name, byte_range, archpath, validate)
        except errors.RangeNotSatisfiable:
            if not rng.startswith("bytes=0-"):
                raise
            # Only an empty object has no byte 0: its range from the start
            # is its nothing, as of any object shorter than the range.
            resp = self._get(bucket, name, None, archpath, validate)
            if resp.headers.get("Content-Length") != "0":
                resp.close()  # (written meanwhile: the range's answer stands)
                raise
        # The last bytes of an empty object are none: the cluster answers
        # the whole (empty) object, a 200.
        empty = resp.status_code == 200 and resp.headers.get("Content-Length") == "0" and (rng.startswith("bytes=-") or rng.startswith("bytes=0-"))
        if byte_range is not None and resp.status_code != 206 and not empty:
            # A server that ignored the range sends other bytes than asked.
            resp.close()
            raise errors.AisError(f"GET ais://{bucket}/{name}: asked for a range, answered {resp.status_code} without it", status=resp.status_code)
        reopen = None
        if byte_range is None and not archpath:
            # The rest is checked as the start was.
            reopen = lambda offset: self._get(bucket, name, (offset, None), None, validate)  # noqa: E731
        return ObjectReader(resp, bucket, name, reopen)

    def head_object(self, bucket: str, name: str) -> Dict[str, Any]:
        """Returns an object's metadata: ``size``, ``checksum_type``,
        ``checksum`` (value), ``version``, ``atime`` (Unix ns), ``custom``,
        ``etag`` (unquoted; "" when not told)."""
        resp = self._do("HEAD", _object_path(bucket, name))
        resp.close()
        cl = resp.headers.get("Content-Length")
        size = int(cl) if cl is not None and cl.isdigit() else None
        return _meta_from_headers(resp.headers, size)

    def object_exists(self, bucket: str, name: str) -> bool:
        """Tells whether an object exists (BucketNotFound still raises)."""
        try:
            self.head_object(bucket, name)
            return True
        except errors.BucketNotFound:
            raise
        except errors.NotFound:
            return False

    def delete_object(self, bucket: str, name: str, *, missing_ok: bool = False) -> None:
        """Removes an object. Raises NotFound when it is missing, unless ``missing_ok``."""
        try:
            self._do("DELETE", _object_path(bucket, name)).close()
        except errors.BucketNotFound:
            raise
        except errors.NotFound:
            if not missing_ok:
                raise

    def get_batch(
        self,
        bucket: str,
        entries: Iterable[Union[str, Mapping[str, Any]]],
        *,
        continue_on_error: bool = False,
        only_obj_name: bool = False,
        max_member_size: int = MAX_MEMBER_SIZE,
    ) -> Iterator[Tuple[str, bytes]]:
        """Yields ``(name, data)`` for many objects, or files of shards, in
        the order given, from one get-batch request (AIStore's
        ``/v1/ml/moss``): one streamed tar, read as it arrives.

        An entry is an object name or a dict in AIStore's shape
        (``objname``, and ``archpath`` for a file of a shard, ``bucket`` for
        another bucket). Names are ``BUCKET/OBJECT[/ARCHPATH]``
        (``OBJECT[/ARCHPATH]`` with ``only_obj_name``). With
        ``continue_on_error`` what is missing comes as ``__404__/NAME`` with
        no data; otherwise it raises NotFound (before the first entry, or
        as a broken stream after). An entry larger than ``max_member_size``
        (each is read into memory) raises too.
        """
        items = [{"objname": e} if isinstance(e, str) else dict(e) for e in entries]
        req = {"in": items, "coer": continue_on_error, "onob": only_obj_name, "strm": True}
        path = _bucket_path(bucket).replace("/v1/buckets/", "/v1/ml/moss/", 1)
        resp = self._do("GET", path, json_body=req, stream=True)
        got = 0
        try:
            # Bounded as a dataset's shards are: each file is read into
            # memory, and tarfile reads a long-name or PAX header whole.
            with tarfile.open(fileobj=resp.raw, mode="r|", bufsize=64 << 10, tarinfo=_BoundedTarInfo) as tar:
                for member in tar:
                    # tarfile keeps every header it read, in stream mode
                    # too: a batch of a million entries would hold them.
                    tar.members = []
                    if member.size > max_member_size:
                        # (413: the caller's bound, which asking again does not move.)
                        raise AisError(f"get-batch from {bucket}: {member.name} is {member.size} bytes, more than the {max_member_size} an entry read into memory may be (max_member_size)", status=413, method="GET", path=path)
                    f = tar.extractfile(member)
                    data = f.read() if f is not None else b""
                    if len(data) != member.size:
                        raise tarfile.ReadError(f"{member.name}: {len(data)} of {member.size} bytes")
                    yield member.name, data
                    got += 1
            # tarfile stops quietly at a cut header: every entry asked
            # for comes (a missing one as __404__/, or the request fails).
            if got != len(items):
                raise tarfile.ReadError(f"{got} of the {len(items)} entries asked for came")
        except (tarfile.TarError, requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            # (A connection cut mid-body is urllib3's ProtocolError.)
            if isinstance(exc, (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError)) or isinstance(exc.__context__, urllib3.exceptions.TimeoutError):
                raise AisTimeout(f"get-batch from {bucket}: no bytes of the archive within {self.timeout} s: {exc}", method="GET", path=path) from exc
            if isinstance(exc, _HeaderTooLarge):
                raise AisError(f"get-batch from {bucket}: {exc}", status=413, method="GET", path=path) from exc
            raise AnswerCut(f"get-batch from {bucket}: the archive broke off: {exc}", method="GET", path=path) from exc
        finally:
            resp.close()

    def archive(
        self,
        bucket: str,
        archname: str,
        *,
        objnames: Optional[Sequence[str]] = None,
        template: str = "",
        prefix: str = "",
        to_bucket: str = "",
        mime: str = "",
        base_name_only: bool = False,
        include_src_bucket: bool = False,
        append: bool = False,
        continue_on_error: bool = False,
        wait: bool = True,
        timeout: Optional[float] = None,
    ) -> str:
        """Writes objects of ``bucket`` into one shard ``archname`` (in
        ``to_bucket``, else the same bucket), in order: ``objnames``, a
        ``template``, or every object under ``prefix`` (all when none).
        AIStore's ``archive`` action, run as a job on the shard's owner
        target; the shard is stored whole or not at all. Returns the job id,
        after the job ended when ``wait`` (raising AisError if it failed).
        """
        value: Dict[str, Any] = {"archname": archname, "template": template or prefix}
        value.update(_selection("archive", objnames, template, prefix))
        if to_bucket:
            value["tobck"] = {"name": to_bucket, "provider": "ais"}
        for key, on in (("mime", mime), ("bnonly", base_name_only), ("isbn", include_src_bucket), ("aate", append), ("coer", continue_on_error)):
            if on:
                value[key] = on
        resp = self._do("PUT", _bucket_path(bucket), json_body={"action": "archive", "value": value})
        try:
            job_id = resp.text.strip()
        finally:
            resp.close()
        if wait:
            self.job_wait(job_id, timeout=timeout)
        return job_id

    def index_shards(
        self,
        bucket: str,
        *,
        objnames: Optional[Sequence[str]] = None,
        template: str = "",
        prefix: str = "",
        wait: bool = True,
        timeout: Optional[float] = None,
    ) -> str:
        """Writes a shard index (``<shard>.idx``, see aisgo.index) beside each
        tar shard of ``bucket`` that ``objnames``, a ``template`` or a
        ``prefix`` selects (every one when none), as ``ais archive index``
        does; returns the job's id, once it ended unless ``wait`` is False."""
        value = _selection("index_shards", objnames, template, prefix)
        resp = self._do("POST", _bucket_path(bucket), json_body={"action": "index-shard", "value": value})
        try:
            job_id = resp.text.strip()
        finally:
            resp.close()
        if wait:
            self.job_wait(job_id, timeout=timeout)
        return job_id

    def job_wait(self, job_id: str, poll: Optional[float] = None, timeout: Optional[float] = None) -> Dict[str, Any]:
        """Waits for a cluster job (not dSort: see dsort_wait) to end on
        every node; returns ``{"objects", "bytes"}`` summed over the nodes and
        raises AisError naming the nodes' errors if it failed. Each poll asks
        every node: without ``poll`` (seconds between polls) the wait grows
        from 0.1 s to a second."""
        deadline = None if timeout is None else time.monotonic() + timeout
        silent_since: Optional[float] = None
        missed_since: Optional[float] = None
        wait = 0.1 if poll is None or poll <= 0 else poll
        while True:
            # A poll the cluster does not answer (a gateway restarting), or
            # one where no node that answered has the job while a target
            # did not answer (it may run it), is waited through for a
            # while, as a silent target of the job is.
            missed: Optional[AisError] = None
            jobs: List[Dict[str, Any]] = []
            nodes: List[Dict[str, Any]] = []
            try:
                # Narrowed to the job: what a user granted its bucket, not
                # the cluster, may read.
                answer = self._json("GET", "/v1/cluster", params={"what": "status", "job": job_id}) or {}
                nodes = list(answer.get("nodes") or [])
            except (AisConnectionError, AisTimeout, errors.Unavailable) as exc:
                missed = exc
            if missed is None:
                jobs = [j for n in nodes for j in (n.get("jobs") or []) if j.get("id") == job_id]
                # (One starting lists the jobs it resumes once started.)
                silent_targets = sorted(n.get("id", "") for n in nodes if (n.get("error") or n.get("starting")) and n.get("role") in ("target", "all"))
                if not jobs and not silent_targets:
                    raise errors.JobNotFound(f"job {job_id} is on no node", kind="job-not-found")
                if not jobs:
                    missed = errors.JobUnknown(f"job {job_id}: no node that answered has it, and targets {', '.join(silent_targets)} did not answer",
                                               kind="job-not-found")
            if missed is not None:
                if missed_since is None:
                    missed_since = time.monotonic()
                if time.monotonic() - missed_since > UNANSWERED_GRACE:
                    raise missed
                if deadline is not None and time.monotonic() > deadline:
                    raise AisTimeout(f"job {job_id}: no answer after {timeout} s: {missed}")
                time.sleep(wait if deadline is None else max(0.0, min(wait, deadline - time.monotonic())))
                continue
            missed_since = None
            targets = {t for j in jobs for t in (j.get("targets") or [])}
            silent = [n for n in nodes if n.get("id") in targets and (n.get("error") or n.get("starting") and not any(j.get("id") == job_id for j in (n.get("jobs") or [])))]
            if any(j.get("running") for j in jobs) or not silent:
                silent_since = None
            elif silent_since is None:
                silent_since = time.monotonic()
            # A target of the job that does not answer may be restarting
            # (it resumes its part): waited for a while.
            waiting = silent_since is not None and time.monotonic() - silent_since <= UNANSWERED_GRACE
            if not any(j.get("running") for j in jobs) and not waiting:
                failed = [j["error"] for j in jobs if j.get("error")]
                failed += _lost_parts(nodes, job_id, jobs)
                if failed or any(j.get("aborted") for j in jobs):
                    raise AisError(f"job {job_id} failed: {'; '.join(failed) or 'aborted'}")
                return {"objects": sum(int(j.get("objects", 0)) for j in jobs), "bytes": sum(int(j.get("bytes", 0)) for j in jobs)}
            if deadline is not None and time.monotonic() > deadline:
                raise AisTimeout(f"job {job_id} still runs after {timeout} s")
            time.sleep(wait if deadline is None else max(0.0, min(wait, deadline - time.monotonic())))
            if poll is None:
                wait = min(1.0, wait * 1.5)

    # -- dSort --------------------------------------------------------------

    def dsort_start(self, spec: Union[Mapping[str, Any], str, bytes]) -> str:
        """Starts a dSort job and returns its id.

        ``spec`` is a dict (AIStore's field names: input_bck, output_bck,
        input_format, output_format, output_shard_size, algorithm, ...) or
        its JSON/YAML text. A spec with ``"dry_run": "estimate"`` starts no
        job: use :meth:`dsort_estimate`.
        """
        resp = self._do("POST", "/v1/sort", headers={"Content-Type": "application/json"}, body=_Body(_spec_bytes(spec)))
        try:
            if resp.headers.get("Content-Type", "").startswith("application/json"):
                raise AisError('the spec asks for an estimate ("dry_run": "estimate"), which starts no job: use dsort_estimate',
                               status=resp.status_code)
            return resp.text.strip()
        finally:
            resp.close()

    def dsort_estimate(self, spec: Union[Mapping[str, Any], str, bytes], timeout: Optional[float] = LONG_ANSWER) -> dict:
        """What a dSort job of ``spec`` would do, without running it
        (``POST /v1/sort/estimate``): records, input and output bytes, the
        output shards (``output_shards``, ``first_shard``, ``last_shard``),
        each target's memory need and measured rates, and a ``forecast``
        of each phase in nanoseconds. The targets read only the input
        shards' headers; nothing is written. ``timeout`` bounds the wait
        for the answer in seconds (None: no bound).
        """
        # As long as reading every input shard's headers takes (all of a
        # compressed shard), as the Go client waits: bounded all the
        # same, or a gateway whose host vanished holds the caller for good.
        with _reading(timeout):
            return self._json("POST", "/v1/sort/estimate", headers={"Content-Type": "application/json"}, body=_Body(_spec_bytes(spec))) or {}

    def dsort_status(self, job_id: str) -> DsortStatus:
        """Returns a job's progress summed over its targets (``.targets`` has each target's metrics)."""
        out = self._json("GET", "/v1/sort", params={"uuid": job_id}) or {}
        return DsortStatus.from_wire(job_id, out)

    def dsort_wait(
        self,
        job_id: str,
        progress: Optional[Callable[[DsortStatus], Any]] = None,
        poll: float = 0.5,
        timeout: Optional[float] = None,
        *,
        raise_on_abort: bool = True,
    ) -> DsortStatus:
        """Waits for a job to end and returns its final status.

        ``progress`` is called with each status polled (every ``poll``
        seconds). Raises DsortAborted when the job was aborted (unless
        ``raise_on_abort`` is false) and DsortTimeout after ``timeout``
        seconds.
        """
        # Each poll asks every node: not in a loop without a pause.
        poll = poll if poll > 0 else 0.1
        deadline = None if timeout is None else time.monotonic() + timeout
        missed_since: Optional[float] = None
        while True:
            try:
                st = self.dsort_status(job_id)
            except (AisConnectionError, AisTimeout, errors.Unavailable) as exc:
                # The cluster did not answer (a gateway restarting): asked
                # again, for UNANSWERED_GRACE at most.
                now = time.monotonic()
                missed_since = now if missed_since is None else missed_since
                if deadline is not None and now >= deadline:
                    raise errors.DsortTimeout(f"dsort job {job_id}: no answer within {timeout} s: {exc}") from exc
                if now - missed_since > UNANSWERED_GRACE:
                    raise
                wait = max(poll, 0.1)
                time.sleep(wait if deadline is None else max(0.0, min(wait, deadline - now)))
                continue
            missed_since = None
            if progress is not None:
                progress(st)
            if st.done:
                if st.aborted and raise_on_abort:
                    why = "; ".join(st.errors) if st.errors else "no reason given"
                    raise errors.DsortAborted(f"dsort job {job_id} aborted: {why}", job_id=job_id, errors=st.errors)
                return st
            if deadline is not None and time.monotonic() >= deadline:
                raise errors.DsortTimeout(
                    f"dsort job {job_id} did not finish within {timeout} s (phase {st.phase or '?'}, "
                    f"extracted {st.extracted_shards}/{st.total_shards} shards, created {st.created_shards}/{st.to_create})"
                )
            wait = poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic()))
            time.sleep(wait)

    def dsort_abort(self, job_id: str, timeout: Optional[float] = LONG_ANSWER) -> None:
        """Aborts a running job: every target stops and removes what it
        wrote. ``timeout`` bounds the wait for the answer in seconds (None:
        no bound)."""
        # Answered once the targets stopped (as long as that takes); not
        # sent to another gateway once sent: a second abort of a job that
        # ended is refused.
        with _reading(timeout):
            self._do("DELETE", "/v1/sort/abort", params={"uuid": job_id}, once=True).close()

    def dsort_remove(self, job_id: str) -> None:
        """Forgets a finished job."""
        # Sent again after a sending that may have arrived (its answer
        # lost), the second may find the job gone though the first removed
        # it: done, as the Go client has it.
        resent: List[bool] = []
        try:
            self._do("DELETE", "/v1/sort", params={"uuid": job_id}, resent=resent).close()
        except errors.JobNotFound:
            if not resent:
                raise

    def dsort_list(self, regex: str = "", only_active: bool = False) -> List[Dict[str, Any]]:
        """Lists jobs (each summed over its targets); ``regex`` filters by description or id."""
        params: Dict[str, Any] = {}
        if regex:
            params["regex"] = regex
        if only_active:
            params["only_active"] = "true"
        return list(self._json("GET", "/v1/sort", params=params) or [])

    # -- cluster ------------------------------------------------------------

    def cluster_status(self) -> Dict[str, Any]:
        """Returns every node's status (``GET /v1/cluster?what=status``):
        ``uuid``, ``map_version``, ``primary``, ``nodes`` (id, role, url, state, jobs...)."""
        return dict(self._json("GET", "/v1/cluster", params={"what": "status"}) or {})

    def cluster_map(self) -> Dict[str, Any]:
        """Returns the cluster map (``GET /v1/cluster?what=smap``)."""
        return dict(self._json("GET", "/v1/cluster", params={"what": "smap"}) or {})

    def health(self) -> Dict[str, Any]:
        """Returns the gateway's health (``GET /v1/health``); raises when it is not ready."""
        return dict(self._json("GET", "/v1/health") or {})


MAX_ANSWER = 256 << 20
"""The most a non-streamed answer may hold (the Go client's bound on a
JSON answer): past it, an error, not a process out of memory (an endpoint
that is not an AIS node, streaming)."""


def _read_answer(resp: requests.Response, method: str, url: str) -> bytes:
    """Reads a non-streamed answer's body, up to MAX_ANSWER, into resp
    (its content, text and json() then read it)."""
    limit = MAX_ANSWER
    chunks: List[bytes] = []
    total = 0
    try:
        while True:
            chunk = resp.raw.read(min(1 << 20, limit + 1 - total), decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise AisError(f"{method} {_shown(url)}: the answer is more than {limit} bytes", status=resp.status_code, method=method, path=urlsplit(url).path)
    except AisError:
        resp.close()
        raise
    except Exception as exc:  # urllib3's ProtocolError, ReadTimeoutError...
        resp.close()
        # As _send maps them: a cut is a failure of the connection, tried
        # again as one when the request can be.
        if "timed out" in str(exc).lower() or "timeout" in type(exc).__name__.lower():
            raise AisTimeout(f"{method} {_shown(url)}: the answer timed out: {_reason(exc)}", method=method, path=urlsplit(url).path, url=_origin(url)) from None
        raise AisConnectionError(
            f"{_origin(url)} cut its answer: {method} {_shown(url)}: {_reason(exc)}", url=_origin(url), method=method, path=urlsplit(url).path, sent=True
        ) from None
    data = b"".join(chunks)
    resp._content = data
    resp._content_consumed = True
    return data


def _read_limited(resp: requests.Response, limit: int) -> bytes:
    try:
        data = resp.raw.read(limit, decode_content=True)
        return data or b""
    except Exception:
        return b""


def _range_header(r: Any) -> Optional[str]:
    """The Range header of a byte range in any of the forms get_object takes."""
    if r is None:
        return None
    if isinstance(r, str):
        r = r.strip()
        return r if r.startswith("bytes=") else "bytes=" + r
    if isinstance(r, range):
        if r.step != 1 or r.stop <= r.start or r.start < 0:
            raise ValueError(f"byte range {r!r}: want a non-empty range with step 1")
        return f"bytes={r.start}-{r.stop - 1}"
    if isinstance(r, slice):
        if r.step not in (None, 1):
            raise ValueError("byte range: a slice must have step 1")
        start = r.start or 0
        if start < 0 and r.stop is None:
            return f"bytes={start}"  # the last -start bytes: bytes=-N
        if start < 0 or (r.stop is not None and r.stop < 0):
            raise ValueError(f"byte range {r!r}: only a suffix (slice(-n, None)) may be negative")
        if r.stop is None:
            return f"bytes={start}-"
        if r.stop <= start:
            raise ValueError(f"byte range {r!r} is empty")
        return f"bytes={start}-{r.stop - 1}"
    if isinstance(r, Sequence) and len(r) == 2:
        start, end = r
        if start is None:
            if end is None or end <= 0:
                raise ValueError("byte range: (None, n) wants n > 0, the length of the suffix")
            return f"bytes=-{int(end)}"
        if int(start) < 0:
            raise ValueError(f"byte range {r!r}: a negative start; (None, n) reads the last n bytes")
        if end is None:
            return f"bytes={int(start)}-"
        if int(end) < int(start):
            raise ValueError(f"byte range {r!r}: want 0 <= start <= end (end inclusive)")
        return f"bytes={int(start)}-{int(end)}"
    raise TypeError(f"byte range: want (start, end), range, slice or 'bytes=...', not {type(r).__name__}")
