"""`verify`'s checks of the requests repo's state files: they parse, and they agree with the public log.

The store writes every status change together with its log line, so a request whose `state.json` or closed
shard entry says something its log history does not (a FINISHED request whose log stops at `claimed`, an attempt
count that does not match its `claimed` events) is a status change that was made without being logged, or a
file changed by hand. Both are reported, as are files that do not parse (the store reads around those).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from openasr_core import layout
from openasr_core.history import disagreements
from openasr_core.records import LogEntry, Request
from openasr_core.store.requests_repo import LayoutError, RequestsReader


@dataclass(frozen=True)
class RequestsCheck:
    """What the requests repo holds, as the store reads it, and every problem found in it."""

    requests: dict[str, Request]
    log: list[LogEntry]
    problems: list[tuple[str, str]]  # (where, what)


def has_state(folder: Path) -> bool:
    return (folder / layout.STATE_FILE).is_file()


def check_requests(folder: Path) -> RequestsCheck:
    """Read `state.json`, the closed shards and the log exactly as the store does, and compare them."""

    def fetch(path: str) -> bytes | None:
        target = folder / path
        return target.read_bytes() if target.is_file() else None

    try:
        view = RequestsReader().read(fetch)
    except LayoutError as exc:
        return RequestsCheck({}, [], [(layout.STATE_FILE, str(exc))])
    requests, log = dict(view.requests), list(view.log)  # every closed shard and log chunk, read once
    problems = [(f"requests/{bad.path}", f"damaged: {bad.problem}") for bad in view.problems()]
    problems += [("requests state vs log", text) for text in disagreements(requests, log)]
    return RequestsCheck(requests, log, problems)
