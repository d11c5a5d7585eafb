"""A tiny command line over the client: ``python -m aisgo {ls,get,put} ...``.

Examples::

    python -m aisgo ls                          # buckets
    python -m aisgo ls ais://images/2024/       # objects under a prefix
    python -m aisgo put ./cat.jpg ais://images/cat.jpg
    python -m aisgo get ais://images/cat.jpg -  # to stdout
    python -m aisgo get ais://images/shard-0001.tar --archpath sample-1.cls -
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from typing import Optional, Sequence, Tuple

from .client import CHUNK_SIZE, Client
from .errors import AisError


def parse_uri(uri: str) -> Tuple[str, str]:
    """Splits ``ais://BUCKET/NAME`` (or ``BUCKET/NAME``) into bucket and name."""
    rest = uri
    if "://" in uri:
        provider, rest = uri.split("://", 1)
        if provider != "ais":
            raise ValueError(f"{uri}: only ais:// buckets are served")
    bucket, _, name = rest.partition("/")
    if not bucket:
        raise ValueError(f"{uri}: want ais://BUCKET[/NAME]")
    return bucket, name


def printable(text: str) -> str:
    """``text`` with its control characters escaped: a name or message from
    the cluster is any user's text, and an escape sequence in it would
    drive the terminal of whoever lists it (as the Go CLI escapes them)."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def cmd_ls(c: Client, args: argparse.Namespace) -> int:
    if not args.uri:
        buckets = c.list_buckets()
        if args.json:
            print(json.dumps(buckets, indent=1))
        else:
            for b in buckets:
                print(printable(f"{b.get('provider', 'ais')}://{b['name']}"))
        return 0
    bucket, prefix = parse_uri(args.uri)
    n = 0
    entries = []
    for e in c.list_objects(bucket, prefix=prefix, page_size=args.page_size, props="name,size"):
        n += 1
        if args.json:
            entries.append({"name": e.name, "size": e.size})
        else:
            print(f"{printable(e.name)}\t{e.size if args.bytes else _size(e.size)}")
        if args.limit and n >= args.limit:
            break
    if args.json:
        print(json.dumps(entries, indent=1))
    return 0


def cmd_get(c: Client, args: argparse.Namespace) -> int:
    bucket, name = parse_uri(args.uri)
    if not name:
        raise ValueError(f"{args.uri}: want ais://BUCKET/NAME")
    dest = args.dest
    if dest is None:
        # Named after the object: a file, even one named "-" (only a
        # destination given as "-" is stdout).
        dest = os.path.join(".", os.path.basename(args.archpath or name))
        if os.path.basename(dest) in ("", ".", ".."):
            raise ValueError(f"{printable(args.uri)}: no file name to take from it; give a destination")
    with c.open_object(bucket, name, archpath=args.archpath) as r:
        if dest == "-":
            out = sys.stdout.buffer
            for chunk in r.iter_chunks():
                out.write(chunk)
            out.flush()
        else:
            if os.path.isdir(dest):
                dest = os.path.join(dest, os.path.basename(args.archpath or name))
            # A new file of its own (O_EXCL) beside the destination: a
            # planted symlink is not written through, nor another file
            # overwritten; it goes on failure.
            # (A short prefix: the destination's own name may be as long
            # as a file's name can be.)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(dest)), prefix=".aisgo-get-")
            mask = os.umask(0)
            os.umask(mask)
            os.fchmod(fd, 0o666 & ~mask)  # the mode a plain open gives, not mkstemp's 0600
            try:
                with os.fdopen(fd, "wb") as f:
                    shutil.copyfileobj(r, f, CHUNK_SIZE)
                    # On disk before it takes the name: a crash leaves
                    # the old file or the whole new one, not an empty one.
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, dest)
            except BaseException:
                os.unlink(tmp)
                raise
            print(printable(f"GET ais://{bucket}/{name}{' (' + args.archpath + ')' if args.archpath else ''} -> {dest}"), file=sys.stderr)
    return 0


def cmd_put(c: Client, args: argparse.Namespace) -> int:
    bucket, name = parse_uri(args.uri)
    if not name or name.endswith("/"):
        if args.src == "-":
            raise ValueError("put from stdin needs an object name: ais://BUCKET/NAME")
        name = (name or "") + os.path.basename(args.src)
    if args.src == "-":
        meta = c.put_object(bucket, name, sys.stdin.buffer)
    else:
        meta = c.put_object(bucket, name, args.src)
    print(printable(f"PUT {args.src} -> ais://{bucket}/{name} ({meta.get('size')} bytes)"), file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m aisgo", description="A tiny AIS-Go client: list, get and put objects.")
    p.add_argument(
        "--endpoint",
        default=os.environ.get("AIS_ENDPOINT") or "http://localhost:8080",
        help="gateway URL (default: $AIS_ENDPOINT, else http://localhost:8080)",
    )
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the network (default 120)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    ls = sub.add_parser("ls", help="list buckets, or the objects of ais://BUCKET[/PREFIX]")
    ls.add_argument("uri", nargs="?", help="ais://BUCKET[/PREFIX]; none lists the buckets")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.add_argument("--bytes", action="store_true", help="sizes in bytes")
    ls.add_argument("--limit", type=int, default=0, help="list at most this many objects")
    ls.add_argument("--page-size", type=int, default=0, help="objects per page asked of the gateway (0: its maximum)")
    ls.set_defaults(func=cmd_ls)

    get = sub.add_parser("get", help="read ais://BUCKET/NAME into a file or '-' (stdout)")
    get.add_argument("uri", help="ais://BUCKET/NAME")
    get.add_argument("dest", nargs="?", help="a file, a directory or '-' (default: the object's base name)")
    get.add_argument("--archpath", help="read this file out of a tar/tgz/zip shard")
    get.set_defaults(func=cmd_get)

    put = sub.add_parser("put", help="write a file (or '-', stdin) to ais://BUCKET/NAME")
    put.add_argument("src", help="a file or '-'")
    put.add_argument("uri", help="ais://BUCKET/NAME (or ais://BUCKET/PREFIX/ to keep the file's name)")
    put.set_defaults(func=cmd_put)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        c = Client(args.endpoint, timeout=(10.0, args.timeout))
        return int(args.func(c, args) or 0)
    except BrokenPipeError:
        return 0
    except (AisError, ValueError, OSError) as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
