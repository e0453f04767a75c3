"""The public log's hash chain (R8): pure functions, no I/O.

Each entry's `hash` is the sha256 of the canonical JSON of every other field, `prev_hash` included, so
editing, dropping or reordering any entry breaks the chain at that entry and every one after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openasr_core.records import LogEntry, utc_now

GENESIS_HASH = "0" * 64


def canonical_json(data: Any) -> bytes:
    """The byte form that hashes and signatures are computed over: sorted keys, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(entry: LogEntry) -> str:
    body = entry.to_dict()
    body.pop("hash")
    return hashlib.sha256(canonical_json(body)).hexdigest()


def next_entry(
    previous: LogEntry | None,
    *,
    request_id: str,
    event: str,
    actor: str,
    detail: dict[str, Any] | None = None,
    at: str | None = None,
    seq: int | None = None,
) -> LogEntry:
    """The entry that follows `previous` (or starts the log), with its hash filled in. `seq` overrides the
    number when entries after `previous` were written but cannot be read (damaged): a number is never reused."""
    draft = LogEntry(
        seq=seq if seq is not None else (previous.seq + 1 if previous else 1),
        at=at or utc_now(),
        request_id=request_id,
        event=event,
        actor=actor,
        detail=dict(detail or {}),
        prev_hash=previous.hash if previous else GENESIS_HASH,
        hash="",
    )
    return LogEntry(**{**draft.__dict__, "hash": entry_hash(draft)})


@dataclass(frozen=True)
class ChainCheck:
    """Whether the chain verifies; if not, the first entry that breaks it and why."""

    ok: bool
    entries: int
    first_bad_seq: int | None = None
    reason: str | None = None


def verify_chain(entries: Sequence[LogEntry]) -> ChainCheck:
    prev_hash = GENESIS_HASH
    for position, entry in enumerate(entries, start=1):
        if entry.seq != position:
            return ChainCheck(False, len(entries), entry.seq, f"entry {position} has seq {entry.seq}")
        if entry.prev_hash != prev_hash:
            return ChainCheck(
                False, len(entries), entry.seq, f"seq {entry.seq}: prev_hash does not match entry {position - 1}"
            )
        if entry_hash(entry) != entry.hash:
            return ChainCheck(
                False, len(entries), entry.seq, f"seq {entry.seq}: content does not match its hash (edited)"
            )
        prev_hash = entry.hash
    return ChainCheck(True, len(entries))
