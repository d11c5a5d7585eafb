"""aisgo: a Python client of AIS-Go, an object store with AIStore's REST API.

The package needs only the standard library and ``requests``. PyTorch
datasets live in :mod:`aisgo.torch`, which imports torch when it is itself
imported.

>>> from aisgo import Client
>>> c = Client("http://127.0.0.1:8080")        # or $AIS_ENDPOINT
>>> c.create_bucket("b")
>>> c.put_object("b", "hello.txt", b"hi")
>>> c.get_object("b", "hello.txt")
b'hi'
"""

from .client import DEFAULT_TIMEOUT, MAX_REDIRECTS, Client, DsortStatus, ObjectEntry, ObjectReader
from .errors import (
    AisConnectionError,
    AisError,
    AisTimeout,
    AlreadyExists,
    AnswerCut,
    BadGateway,
    BadRequest,
    BucketExists,
    BucketNotFound,
    ChecksumMismatch,
    Conflict,
    Corrupt,
    DatasetError,
    DsortAborted,
    DsortTimeout,
    InvalidName,
    JobBusy,
    JobFinished,
    JobNotFound,
    JobUnknown,
    NoQuorum,
    NoSpace,
    NotFound,
    NotImplementedByServer,
    RangeNotSatisfiable,
    ServerError,
    ShardError,
    ShardIndexError,
    TooManyRedirects,
    Unauthorized,
    Unavailable,
)
from .index import IndexMember, ShardIndex
from .template import Template, TemplateError, member_name, parse_template, split_name

__version__ = "0.1.0"

__all__ = [
    "Client",
    "DsortStatus",
    "ObjectEntry",
    "ObjectReader",
    "DEFAULT_TIMEOUT",
    "MAX_REDIRECTS",
    "ShardIndex",
    "IndexMember",
    "Template",
    "TemplateError",
    "parse_template",
    "split_name",
    "member_name",
    "AisError",
    "AisConnectionError",
    "AisTimeout",
    "AlreadyExists",
    "AnswerCut",
    "BadGateway",
    "BadRequest",
    "BucketExists",
    "BucketNotFound",
    "ChecksumMismatch",
    "Conflict",
    "Corrupt",
    "DatasetError",
    "DsortAborted",
    "DsortTimeout",
    "InvalidName",
    "JobBusy",
    "JobFinished",
    "JobNotFound",
    "JobUnknown",
    "NoQuorum",
    "NoSpace",
    "NotFound",
    "NotImplementedByServer",
    "RangeNotSatisfiable",
    "ServerError",
    "ShardError",
    "ShardIndexError",
    "TooManyRedirects",
    "Unauthorized",
    "Unavailable",
    "__version__",
]
