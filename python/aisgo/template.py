"""Shard-name templates, as AIStore and dSort write them, and record keys.

* bash ranges: ``shard-{0000..0099}.tar``, ``a-{0..9..2}-{00..10}.tgz``
  (each value zero-padded to the shorter of the start and end texts; the
  last range varies fastest);
* ``@`` ranges: ``shard-@0099.tar`` is ``shard-0000.tar`` ... ``shard-0099.tar``;
* anything else is a prefix (``""`` and ``"*"`` match every name).

``%06d`` templates are unbounded and name outputs only: they are refused
here.
"""

from __future__ import annotations

import itertools
import posixpath
import re
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Tuple

__all__ = ["Template", "TemplateError", "parse_template", "split_name", "MAX_NAMES"]

#: A template expands to at most this many names.
MAX_NAMES = 10_000_000


class TemplateError(ValueError):
    """A template that cannot be parsed."""


@dataclass(frozen=True)
class _Range:
    start: int
    end: int
    step: int
    width: int
    gap: str

    def values(self) -> range:
        return range(self.start, self.end + 1, self.step)

    def count(self) -> int:
        return (self.end - self.start) // self.step + 1


@dataclass(frozen=True)
class Template:
    """A parsed template: ``prefix`` then, for each range, a value and its gap."""

    text: str
    prefix: str
    ranges: Tuple[_Range, ...] = field(default=())

    @property
    def is_range(self) -> bool:
        """False for a prefix-only template."""
        return bool(self.ranges)

    def count(self) -> int:
        """How many names the template expands to (0 for a prefix)."""
        if not self.ranges:
            return 0
        n = 1
        for r in self.ranges:
            n *= r.count()
        return n

    def names(self) -> Iterator[str]:
        """Expands the template in odometer order, the last range fastest."""
        if not self.ranges:
            return iter(())
        return (
            self.prefix + "".join(str(v).zfill(r.width) + r.gap for r, v in zip(self.ranges, values))
            for values in itertools.product(*(r.values() for r in self.ranges))
        )

    def matches(self, name: str) -> bool:
        """Tells whether a name is one of the template's (or has its prefix)."""
        if not self.ranges:
            return name.startswith(self.prefix)
        return self.values_of(name) is not None

    def values_of(self, name: str) -> Optional[Tuple[int, ...]]:
        """The range values a name was made of, or None when the template
        does not make it; sorting names by them gives the template's order."""
        if not self.ranges:
            return None
        if not name.startswith(self.prefix):
            return None
        return self._split(name, len(self.prefix), 0)

    def _split(self, name: str, at: int, k: int) -> Optional[Tuple[int, ...]]:
        # Each range's digits are as wide as its values print (zero-filled
        # to its width). Two ranges that run together may split a name
        # more than one way ({1..10}{0..99} makes s-150 of 1 and 50, not
        # of 15 and 0): every split is tried, shorter digits first, so the
        # values are the smallest, those the expansion makes first.
        if k == len(self.ranges):
            return () if at == len(name) else None
        r = self.ranges[k]
        for width in range(max(r.width, len(str(r.start))), max(r.width, len(str(r.end))) + 1):
            digits = name[at : at + width]
            if len(digits) < width or not (digits.isascii() and digits.isdigit()):
                return None
            v = int(digits)
            if str(v).zfill(r.width) != digits or v < r.start or v > r.end or (v - r.start) % r.step:
                continue
            if not name.startswith(r.gap, at + width):
                continue
            rest = self._split(name, at + width + len(r.gap), k + 1)
            if rest is not None:
                return (v,) + rest
        return None

    def __str__(self) -> str:
        return self.text


# The largest number a range may hold, and the longest name it may
# make: the cluster's limits (a 64-bit integer; an object name's bytes).
_MAX_NUMBER = 2**63 - 1
MAX_NAME_LENGTH = 1024


def _number(text: str, p: str) -> int:
    if not p or not _ascii_digits(p):
        raise TemplateError(f"template {text!r}: {p!r} is not a non-negative integer")
    # Checked before int(): Python refuses to convert over 4300 digits,
    # leading zeros counted.
    significant = p.lstrip("0") or "0"
    if len(significant) > len(str(_MAX_NUMBER)) or int(significant) > _MAX_NUMBER:
        raise TemplateError(f"template {text!r}: {p!r} is out of range")
    return int(significant)


def _ascii_digits(p: str) -> bool:
    return all("0" <= c <= "9" for c in p)


def parse_template(text: str) -> Template:
    """Parses a template; raises TemplateError for a malformed one."""
    if text in ("", "*"):
        return Template(text=text, prefix="")
    if "{" in text or "}" in text:
        return _parse_bash(text)
    if "@" in text:
        return _parse_at(text)
    if text.count("%") == 1:
        _refuse_format(text)
    return Template(text=text, prefix=text[:-1] if text.endswith("*") else text)


def _refuse_format(text: str) -> None:
    """Refuses a %d template as the cluster reads it: malformed, or
    unbounded (a dataset lists its shards)."""
    verb = text.split("%", 1)[1]
    d = verb.find("d")
    if d < 0:
        raise TemplateError(f"template {text!r}: '%' must be followed by d or 0Nd, as in %06d (a prefix with a '%' is given as prefix=)")
    flags = verb[:d]
    if flags and (len(flags) < 2 or flags[0] != "0" or not _ascii_digits(flags[1:])):
        raise TemplateError(f"template {text!r}: %{flags}d: the width needs a leading 0 and digits, as in %06d")
    raise TemplateError(f"template {text!r}: a %d template is unbounded; give a range such as shard-{{0000..0099}}.tar")


def _checked(t: Template) -> Template:
    longest = len(t.prefix.encode()) + sum(max(r.width, len(str(r.end))) + len(r.gap.encode()) for r in t.ranges)
    if longest > MAX_NAME_LENGTH:
        raise TemplateError(f"template {t.text!r}: names up to {longest} bytes long, over the limit of {MAX_NAME_LENGTH}")
    if t.count() > MAX_NAMES:
        raise TemplateError(f"template {t.text!r} expands to {t.count()} names, over the limit of {MAX_NAMES}")
    return t


def _parse_bash(text: str) -> Template:
    left = text.find("{")
    if left < 0:
        raise TemplateError(f"template {text!r}: unbalanced braces: '}}' without '{{'")
    if "}" in text[:left]:
        raise TemplateError(f"template {text!r}: unbalanced braces: '}}' before the first '{{'")
    prefix = text[:left]
    rest = text[left:]
    ranges: List[_Range] = []
    while rest:
        right = rest.find("}")
        if right < 0:
            raise TemplateError(f"template {text!r}: unbalanced braces: '{{' without '}}'")
        inside = rest[1:right]
        if "{" in inside:
            raise TemplateError(f"template {text!r}: unbalanced braces: nested '{{'")
        parts = inside.split("..")
        if len(parts) not in (2, 3):
            raise TemplateError(f"template {text!r}: range {{{inside}}} is not {{start..end}} or {{start..end..step}}")
        nums = [_number(text, p) for p in parts]
        start, end = nums[0], nums[1]
        step = nums[2] if len(nums) == 3 else 1
        if start > end:
            raise TemplateError(f"template {text!r}: range {{{inside}}}: start {start} is greater than end {end}")
        if step <= 0:
            raise TemplateError(f"template {text!r}: range {{{inside}}}: step must be positive")
        rest = rest[right + 1 :]
        nxt = rest.find("{")
        if nxt < 0:
            nxt = len(rest)
        gap = rest[:nxt]
        if "}" in gap:
            raise TemplateError(f"template {text!r}: unbalanced braces: '}}' without '{{'")
        rest = rest[nxt:]
        ranges.append(_Range(start, end, step, min(len(parts[0]), len(parts[1])), gap))
    return _checked(Template(text=text, prefix=prefix, ranges=tuple(ranges)))


def _parse_at(text: str) -> Template:
    at = text.find("@")
    prefix = text[:at]
    rest = text[at:]
    ranges: List[_Range] = []
    while rest:
        digits = 1
        while digits < len(rest) and "0" <= rest[digits] <= "9":
            digits += 1
        number = rest[1:digits]
        if not number:
            raise TemplateError(f"template {text!r}: '@' must be followed by digits, as in @0999")
        end = _number(text, number)
        rest = rest[digits:]
        nxt = rest.find("@")
        if nxt < 0:
            nxt = len(rest)
        ranges.append(_Range(0, end, 1, len(number), rest[:nxt]))
        rest = rest[nxt:]
    return _checked(Template(text=text, prefix=prefix, ranges=tuple(ranges)))


def member_name(raw: str) -> str:
    """A shard member's name as AIS-Go reads it: cleaned (``./a.jpg`` is
    ``a.jpg``, ``a//b`` is ``a/b``), so that keys and indexes agree with
    the cluster's. Raises ValueError for a name that is empty, holds a
    NUL, is absolute or climbs out with ``..`` (as Windows reads it too).
    """
    if not raw:
        raise ValueError("empty member name")
    if "\x00" in raw:
        raise ValueError(f"member name {raw!r} holds a NUL")
    if raw.startswith("/") or _windows_unsafe(raw):
        raise ValueError(f"member name {raw!r} is absolute or climbs out of its directory")
    name = posixpath.normpath(raw)
    # Cleaned too: ./C:x is C:x, ./\x is \x.
    if name in (".", "..") or name.startswith("../") or _windows_unsafe(name):
        raise ValueError(f"member name {raw!r} is absolute or climbs out of its directory")
    return name


def _windows_unsafe(name: str) -> bool:
    """Whether a name is absolute or climbs out as Windows reads it, where
    \\ separates too (\\x, C:x, ..\\x)."""
    drive = len(name) >= 2 and name[1] == ":" and name[0].isascii() and name[0].isalpha()
    return name.startswith("\\") or drive or "\\" in name and ".." in re.split(r"[/\\]", name)


def split_name(name: str) -> Tuple[str, str]:
    """Splits a file name of a shard into its record key and extension.

    The extension starts at the first '.' of the last path component, as
    dSort and WebDataset group files: ``"a/b/sample-1.cls.json"`` gives
    ``("a/b/sample-1", "cls.json")``; the extension is returned without its
    leading dot, ``""`` when there is none.
    """
    base = name.rfind("/") + 1
    dot = name.find(".", base)
    if dot < 0:
        return name, ""
    return name[:dot], name[dot + 1 :]
