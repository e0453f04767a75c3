"""Damaged store files are set aside and reported, never fatal (a stray edit or pull request can add one).

Readers parse JSON Lines one line at a time: a line that does not parse is skipped and the file is reported as
a `BadFile` (path, what is wrong, its bytes). The store shows the report (Queue and Log pages, `verify`) and, the
next time it writes that repo, keeps the damaged bytes under `quarantine/` and rewrites the file from what did
parse, so one bad line costs that line (named in the report), not the board.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from openasr_core import layout

_T = TypeVar("_T")
#: What a record's `from_dict` raises on a line that is JSON but not that record.
PARSE_ERRORS = (ValueError, TypeError, KeyError, AttributeError)


@dataclass(frozen=True)
class BadFile:
    """A file that did not fully parse: where, what is wrong, and its bytes (set aside on the next write)."""

    path: str
    problem: str
    data: bytes

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"

    @property
    def quarantine_path(self) -> str:
        return layout.quarantine_path(self.path, hashlib.sha256(self.data).hexdigest()[:12])


def parse_record(parse: Callable[[Any], _T], raw: bytes) -> _T:
    """`parse(json.loads(raw))`, raising ValueError with a short reason for anything that does not parse."""
    try:
        return parse(json.loads(raw.decode("utf-8")))
    except PARSE_ERRORS as exc:
        raise ValueError(_reason(exc)) from None


def parse_lines(parse: Callable[[Any], _T], lines: list[str], path: str, bad: list[BadFile], data: bytes) -> list[_T]:
    """Each line parsed with `parse`; lines that do not parse are skipped and `path` is added to `bad`."""
    records: list[_T] = []
    broken: list[str] = []
    for number, line in enumerate(lines, start=1):
        try:
            records.append(parse(json.loads(line)))
        except PARSE_ERRORS as exc:
            broken.append(f"line {number} ({_reason(exc)})")
    if broken:
        more = f" and {len(broken) - 3} more" if len(broken) > 3 else ""
        bad.append(BadFile(path, f"unreadable {', '.join(broken[:3])}{more}; those lines were skipped", data))
    return records


def checked_ids(record: _T) -> _T:
    """`record`, unless the layout refuses its `request_id` (or `audit_id`): a `ValueError` then says which."""
    layout.safe_name(str(getattr(record, "request_id", "")), "request id")
    audit_id = getattr(record, "audit_id", None)
    if audit_id is not None:
        layout.safe_name(str(audit_id), "audit id")
    return record


def with_safe_ids(parse: Callable[[Any], _T]) -> Callable[[Any], _T]:
    """`parse`, refusing a record whose ids the layout refuses (`../x/y`): such a line is damage, read around and
    reported like any unreadable line, and its id never becomes a path."""
    return lambda data: checked_ids(parse(data))


def log_damaged(bad: Iterable[BadFile]) -> bool:
    """Whether a damaged log chunk was read: some events may be lost (readers of the audits then read them all)."""
    return any(b.path.startswith(f"{layout.LOG_DIR}/") for b in bad)


def text_lines(raw: bytes) -> list[str]:
    """The non-empty lines of a JSON Lines file (bytes that are not UTF-8 become U+FFFD, and then fail to parse)."""
    return [line for line in raw.decode("utf-8", errors="replace").splitlines() if line.strip()]


def _reason(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]
