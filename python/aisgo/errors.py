"""Exceptions raised by the AIS-Go client.

Every error a node returns is a JSON body (or, for ``HEAD``, the same JSON
in the ``Hdr-Error`` header)::

    {"message": "...", "status": 404, "kind": "not-found", "tcode": "ErrNotFound", ...}

:func:`error_from_response` turns it into the subclass of :class:`AisError`
that matches its ``kind`` (falling back on the HTTP status when the kind is
unknown), so callers write ``except aisgo.NotFound:``.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Mapping, Optional, Type

__all__ = [
    "AisError",
    "AisConnectionError",
    "AisTimeout",
    "AnswerCut",
    "BadRequest",
    "InvalidName",
    "ChecksumMismatch",
    "Unauthorized",
    "NotFound",
    "BucketNotFound",
    "JobNotFound",
    "Conflict",
    "AlreadyExists",
    "BucketExists",
    "JobBusy",
    "JobFinished",
    "RangeNotSatisfiable",
    "NoSpace",
    "Corrupt",
    "ServerError",
    "NotImplementedByServer",
    "BadGateway",
    "Unavailable",
    "NoQuorum",
    "JobUnknown",
    "TooManyRedirects",
    "DsortAborted",
    "DsortTimeout",
    "ShardError",
    "ShardIndexError",
    "DatasetError",
    "error_from_response",
]


class AisError(Exception):
    """Base class of every error of this package.

    Attributes:
        status: HTTP status of the answer (0 when no answer came).
        kind: the error's kind on the wire (``"not-found"``, ...), or ``""``.
        message: the node's message.
        tcode: AIStore's type code (``"ErrNotFound"``, ...), when given.
        node: id of the node that answered, when given.
        method, path: the request that failed.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        kind: str = "",
        tcode: str = "",
        node: str = "",
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.kind = kind
        self.tcode = tcode
        self.node = node
        self.method = method
        self.path = path
        #: A server error no node of the cluster sent (no JSON, no
        #: ``Ais-Node-Id``): a proxy's in front, which may have passed the
        #: request on before it failed.
        self.proxy = False

    def __str__(self) -> str:
        parts = []
        if self.status:
            parts.append(f"status {self.status}")
        if self.kind:
            parts.append(f"kind {self.kind}")
        if self.node:
            parts.append(f"node {self.node}")
        where = f"{self.method} {self.path}: " if self.method and self.path else ""
        suffix = f" ({', '.join(parts)})" if parts else ""
        return f"{where}{self.message}{suffix}"


class AisConnectionError(AisError, ConnectionError):
    """A node could not be reached (connection refused, DNS, reset...).

    ``url`` is the address that failed.
    """

    def __init__(self, message: str, *, url: str = "", method: str = "", path: str = "", sent: bool = True) -> None:
        super().__init__(message, kind="unreachable", method=method, path=path)
        self.url = url
        # False when no connection was made: the request never left.
        self.sent = sent

    def __str__(self) -> str:
        return self.message


class AisTimeout(AisError, TimeoutError):
    """A node did not answer in time.

    ``url`` is the address that did not answer; ``sent`` is False when no
    connection was made (the request never left).
    """

    def __init__(self, message: str, *, url: str = "", method: str = "", path: str = "", sent: bool = True) -> None:
        super().__init__(message, method=method, path=path)
        self.url = url
        self.sent = sent

    def __str__(self) -> str:
        return self.message


class AnswerCut(AisError):
    """An answer that broke off midway (a node killed or restarting cut
    it, or its object changed meanwhile): asked again, it may come whole."""


class BadRequest(AisError, ValueError):
    """400: the request was malformed (a bad name, a bad spec, ...)."""


class InvalidName(BadRequest):
    """400 ``invalid-name``: a bucket or object name the store refuses."""


class ChecksumMismatch(BadRequest):
    """``bad-checksum``: the data does not match its checksum."""


class Unauthorized(AisError, PermissionError):
    """401: the request is not allowed."""


class NotFound(AisError, LookupError):
    """404: an object (or, for subclasses, a bucket or a job) does not exist."""


class BucketNotFound(NotFound):
    """404 ``bucket-not-found``."""


class JobNotFound(NotFound):
    """404 ``job-not-found``: no such job (dSort, ...)."""


class Conflict(AisError):
    """409: the request conflicts with the current state."""


class AlreadyExists(Conflict):
    """409 ``exists``."""


class BucketExists(AlreadyExists):
    """409 ``bucket-exists``."""


class JobBusy(Conflict):
    """409 ``job-busy``: a job of that kind already runs."""


class JobFinished(Conflict):
    """410 ``job-finished``: the job already finished."""


class RangeNotSatisfiable(AisError):
    """416: the byte range lies outside the object."""


class NoSpace(AisError):
    """507: the targets are out of space."""


class ServerError(AisError):
    """5xx: the node failed (``internal``, ``io``)."""


class Corrupt(ServerError):
    """``corrupt``: the stored data is damaged."""


class NotImplementedByServer(AisError):
    """501: the node does not implement the request."""


class BadGateway(ServerError):
    """502: something the node had to fetch could not be had."""


class Unavailable(AisError):
    """503: the cluster (or a target) cannot serve the request now."""


class NoQuorum(Unavailable):
    """503 ``no-quorum``: the gateways cannot agree on a change now."""


class JobUnknown(JobNotFound, Unavailable):
    """No node that answered has the job, and a target did not answer (it
    may be running it): both not found and unavailable."""


class TooManyRedirects(AisError):
    """A request was redirected more times than allowed."""


class DsortAborted(AisError):
    """A dSort job ended aborted. ``job_id`` and ``errors`` tell why."""

    def __init__(self, message: str, *, job_id: str = "", errors: Optional[list] = None) -> None:
        super().__init__(message, kind="job-aborted")
        self.job_id = job_id
        self.errors = list(errors or [])

    def __str__(self) -> str:
        return self.message


class DsortTimeout(AisError, TimeoutError):
    """A dSort job did not finish within the time given to wait for it."""

    def __str__(self) -> str:
        return self.message


class ShardError(AisError):
    """A shard cannot be read: corrupt, truncated or of an unknown format.

    ``shard`` is its name (``ais://bucket/name``), ``offset`` the byte
    offset where reading failed, when known.
    """

    def __init__(self, message: str, *, shard: str = "", offset: Optional[int] = None) -> None:
        super().__init__(message, kind="corrupt-shard")
        self.shard = shard
        self.offset = offset

    def __str__(self) -> str:
        return self.message


class DatasetError(AisError, ValueError):
    """A dataset cannot be built: no shard matches, a format is not supported..."""

    def __str__(self) -> str:
        return self.message


class ShardIndexError(AisError):
    """A shard index (``<shard>.idx``) is missing, malformed or inconsistent."""

    def __str__(self) -> str:
        return self.message


# kind on the wire -> exception class.
_KINDS: Dict[str, Type[AisError]] = {
    "not-found": NotFound,
    "node-not-found": NotFound,
    "bucket-not-found": BucketNotFound,
    "job-not-found": JobNotFound,
    "exists": AlreadyExists,
    "bucket-exists": BucketExists,
    "job-exists": AlreadyExists,
    "conflict": Conflict,
    "duplicate-node": Conflict,
    "node-elsewhere": Conflict,
    "stale-map": Conflict,
    "job-busy": JobBusy,
    "job-running": JobBusy,
    "job-finished": JobFinished,
    "job-phase": Conflict,
    "bad-request": BadRequest,
    "invalid-name": InvalidName,
    "invalid-props": BadRequest,
    "invalid-spec": BadRequest,
    "invalid-job-id": BadRequest,
    "invalid-init": BadRequest,
    "size-mismatch": BadRequest,
    "unknown-checksum": BadRequest,
    "bad-checksum": ChecksumMismatch,
    "range": RangeNotSatisfiable,
    "no-space": NoSpace,
    "corrupt": Corrupt,
    "io": ServerError,
    "internal": ServerError,
    "unavailable": Unavailable,
    "no-targets": Unavailable,
    "no-quorum": NoQuorum,
    "not-implemented": NotImplementedByServer,
    "unauthorized": Unauthorized,
    "bad-gateway": BadGateway,
}

# AIStore's type codes, for nodes that send a tcode and no kind.
_TCODES: Dict[str, Type[AisError]] = {
    "ErrNotFound": NotFound,
    "ErrObjNotFound": NotFound,
    "ErrBckNotFound": BucketNotFound,
    "ErrRemoteBckNotFound": BucketNotFound,
    "ErrBucketAlreadyExists": BucketExists,
    "ErrRangeNotSatisfiable": RangeNotSatisfiable,
    "ErrCapExceeded": NoSpace,
    "ErrXactNotFound": JobNotFound,
    "ErrInvalidName": InvalidName,
    "ErrUnauthorized": Unauthorized,
}

_STATUSES: Dict[int, Type[AisError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Unauthorized,
    404: NotFound,
    409: Conflict,
    410: JobFinished,
    416: RangeNotSatisfiable,
    501: NotImplementedByServer,
    502: BadGateway,
    503: Unavailable,
    507: NoSpace,
}


def error_class(kind: str, status: int, tcode: str = "") -> Type[AisError]:
    """Returns the exception class of an error's kind, type code or status."""
    # "internal" is any error of no kind of its own, whatever its status
    # (a 503 to ask again, a 409): the status says more.
    if kind in _KINDS and kind != "internal":
        return _KINDS[kind]
    if tcode in _TCODES:
        return _TCODES[tcode]
    if status in _STATUSES:
        return _STATUSES[status]
    if status >= 500:
        return ServerError
    return AisError


def error_from_response(status: int, body: Any, headers: Optional[Mapping[str, str]] = None, *, method: str = "", path: str = "") -> AisError:
    """Builds the exception of a failed answer.

    ``body`` is the answer's body (bytes or str; ignored when the
    ``Hdr-Error`` header carries the JSON, as HEAD answers do).
    """
    raw: Any = None
    if headers is not None:
        raw = headers.get("Hdr-Error") or None
        if isinstance(raw, str):
            # Sent as UTF-8 bytes, read by http.client as ISO-8859-1: the
            # bytes again, as sent (a name in another script in it).
            try:
                raw = raw.encode("latin-1")
            except UnicodeEncodeError:
                pass
    if raw is None:
        raw = body
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8", "replace")
    text = (raw or "").strip()
    info: Dict[str, Any] = {}
    if text.startswith("{"):
        try:
            decoded = json.loads(text)
            if isinstance(decoded, dict):
                info = decoded
        except ValueError:
            info = {}
    message = str(info.get("message") or text or _reason(status))
    kind = str(info.get("kind") or "")
    tcode = str(info.get("tcode") or "")
    # Every node names itself and says its error in JSON: a server error
    # with neither is a proxy's in front (an ingress's "upstream reset"
    # while a gateway restarts), as the Go client reads it.
    proxy = status >= 500 and not info and headers is not None and not headers.get("Ais-Node-Id")
    if proxy:
        line = message.split("\n", 1)[0][:200]
        message = f"answered {status} {_reason(status)} by no node of the cluster (a proxy in front?): {line}"
    cls = error_class(kind, status, tcode)
    err = cls(
        message,
        status=status,
        kind=kind,
        tcode=tcode,
        node=str(info.get("node") or ""),
        method=str(info.get("method") or method),
        path=str(info.get("url_path") or path),
    )
    err.proxy = proxy
    return err


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"
