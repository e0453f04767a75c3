"""The results repo's files <-> the store's results, for both backends, and what both repos' readers share.

A backend hands a reader a `fetch(path) -> bytes | None` bound to one consistent version of a repo (a Hub
commit, or the local folder under its lock). `ResultsReader` fetches a records shard only when a FINISHED
request's result is missing from what it holds; `AuditsReader` fetches each audit record the log names once;
`results_files` plans what a finish writes. The requests repo's side is `openasr_core.store.requests_repo`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from openasr_core import layout
from openasr_core.audit_events import AUDIT_EVENTS
from openasr_core.records import (
    AuditRecord,
    EvalSetSource,
    LogEntry,
    PredictionRow,
    Request,
    Result,
    ThroughputResult,
    write_jsonl,
)
from openasr_core.store.bad_files import (
    PARSE_ERRORS,
    BadFile,
    checked_ids,
    parse_lines,
    parse_record,
    text_lines,
    with_safe_ids,
)

logger = logging.getLogger(__name__)

Fetch = Callable[[str], bytes | None]
#: `tail(path, start)`: the file's bytes from `start` on (b"" if none were added), or None if it is gone.
Tail = Callable[[str, int], bytes | None]


@lru_cache(maxsize=65536)
def shard_of(request_id: str) -> str:
    """`layout.shard`, cached: a board read asks it for every request id."""
    return layout.shard(request_id)


class Renderer(Protocol):
    """Turns what a write to the results repo commits into the derived files committed with it: the dataset card
    and the CSV tables. The store calls it and never renders anything itself; `openasr_core.board_files.BoardFiles`
    renders the leaderboard's files, `NoRendering` none (the store then commits the signed records alone)."""

    def columns(self, sets_by_version: Mapping[str, Sequence[str]]) -> list[str]:
        """The table's header for these eval sets by board version (what `pins.json` records)."""
        ...

    def table_files(
        self, shards: Mapping[str, Iterable[Result]], columns: Sequence[str], audits: Iterable[AuditRecord]
    ) -> dict[str, bytes]:
        """The table shards (and claims shards) of these records shards, each entry with its latest audit."""
        ...

    def card_files(self, fetch: Fetch, columns: Sequence[str]) -> dict[str, bytes]:
        """The card, when it must change for a table with `columns` (the repo as it is: `fetch`)."""
        ...

    def start_files(self, fetch: Fetch, force: bool = False) -> dict[str, bytes]:
        """What the repo (`fetch`) gets when the Space starts: the card when it must change (`force`: even over
        another public key), and an empty file for each table the card declares that it lacks."""
        ...

    def audits_files(self, published: Sequence[AuditRecord]) -> dict[str, bytes]:
        """The audits table of these published audit records."""
        ...

    def throughput_files(self, records: Iterable[ThroughputResult]) -> dict[str, bytes]:
        """The throughput table of every stored throughput record."""
        ...


class NoRendering:
    """A `Renderer` that renders nothing: the store commits the signed records alone (what the board reads)."""

    def columns(self, sets_by_version: Mapping[str, Sequence[str]]) -> list[str]:
        return []

    def table_files(
        self, shards: Mapping[str, Iterable[Result]], columns: Sequence[str], audits: Iterable[AuditRecord]
    ) -> dict[str, bytes]:
        return {}

    def card_files(self, fetch: Fetch, columns: Sequence[str]) -> dict[str, bytes]:
        return {}

    def start_files(self, fetch: Fetch, force: bool = False) -> dict[str, bytes]:
        return {}

    def audits_files(self, published: Sequence[AuditRecord]) -> dict[str, bytes]:
        return {}

    def throughput_files(self, records: Iterable[ThroughputResult]) -> dict[str, bytes]:
        return {}


def digest_of(data: bytes) -> str:
    """The digest the state names a shard or log chunk by (a cached copy is used while it matches)."""
    return hashlib.sha256(data).hexdigest()[:16]


def jsonl_line(record: Request | Result | LogEntry) -> str:
    return json.dumps(record.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"


class ResultsReader:
    """Signed results by request id, fetched a records shard at a time and only when one is missing (or, from a
    repo that may be edited in place, whenever the repo moved: a shard is parsed again only if its bytes changed)."""

    def __init__(self) -> None:
        self._shards: dict[str, dict[str, Result]] = {}
        self._fetched_at: dict[str, str] = {}
        self._digests: dict[str, str] = {}
        self._bad: dict[str, BadFile] = {}

    def read(self, fetch: Fetch, version: str, wanted: Iterable[str], every_shard: bool = False) -> dict[str, Result]:
        """The `wanted` results at `version`; `every_shard`: read again each of their shards not read at `version`
        (a folder, whose files may change without a commit), not only those missing a wanted result."""
        wanted = list(wanted)
        stale = {
            shard_of(i)
            for i in wanted
            if (every_shard or i not in self._shards.get(shard_of(i), {}))
            and self._fetched_at.get(shard_of(i)) != version
        }
        for name in sorted(stale):
            self.shard(fetch, version, name)
        return {i: r for i in wanted if (r := self._shards.get(shard_of(i), {}).get(i)) is not None}

    def shard(self, fetch: Fetch, version: str, name: str) -> dict[str, Result]:
        """One records shard at `version` (fetched unless already read there; parsed unless its bytes are the
        ones parsed last)."""
        if self._fetched_at.get(name) != version:
            path = layout.records_path(name)
            raw = fetch(path)
            digest = digest_of(raw) if raw is not None else ""
            if name not in self._shards or self._digests.get(name) != digest:
                found: list[BadFile] = []
                self._shards[name] = self.parse(raw, path, found)
                self._bad.pop(name, None)
                if found:
                    self._bad[name] = found[0]
            self._fetched_at[name] = version
            self._digests[name] = digest
        return self._shards[name]

    def bad_files(self, names: Iterable[str] | None = None) -> list[BadFile]:
        """The damaged records shards among those read (all of them, or only `names`)."""
        return [b for n, b in sorted(self._bad.items()) if names is None or n in set(names)]

    def prime(self, name: str, version: str, results: dict[str, Result]) -> None:
        """Hold a shard as a write just stored it at `version`, so reading it back fetches nothing."""
        self._digests.pop(name, None)  # its bytes are not known: a later read parses them
        self._shards[name] = dict(results)
        self._fetched_at[name] = version
        self._bad.pop(name, None)

    @staticmethod
    def parse(raw: bytes | None, path: str = "", bad: list[BadFile] | None = None) -> dict[str, Result]:
        """A records shard; unreadable lines are skipped (and reported in `bad` when given)."""
        if raw is None:
            return {}
        found: list[BadFile] = []
        records = parse_lines(with_safe_ids(Result.from_dict), text_lines(raw), path, found, raw)
        if bad is not None:
            bad.extend(found)
        return {r.request_id: r for r in records}


#: The table shards' format, recorded in `pins.json`: a board whose pins name another (or none) gets every shard
#: written again by its next finish, so all shards always share one header. 2: the `last_audit` columns.
TABLE_FORMAT = 2


def audit_shard_records(fetch: Fetch, names: Iterable[str]) -> list[AuditRecord]:
    """The audit records of the entries of these records shards: their audit-records shards (`<x>.jsonl` for
    shard `<x><y>`), read as they are; unreadable lines are skipped (the board's reader reports them)."""
    records: list[AuditRecord] = []
    for digit in sorted({name[0] for name in names}):
        raw = fetch(f"{layout.AUDIT_RECORDS_DIR}/{digit}.jsonl") or b""
        records += parse_lines(with_safe_ids(AuditRecord.from_dict), text_lines(raw), "", [], raw)
    return records


@dataclass(frozen=True)
class ResultsWrite:
    """What one write to the results repo puts there: `files` to add, `deleted` paths, and the records shards as
    they are after it (`shards`, to prime a reader with)."""

    files: dict[str, bytes]
    deleted: list[str]
    shards: dict[str, dict[str, Result]]
    columns: list[str] = field(default_factory=list)  # the table's header after it
    new_columns: bool = False  # every table shard was written with a new header: the card declares it


def results_files(
    shards: Mapping[str, Mapping[str, Result]],
    results: Sequence[tuple[Result, Mapping[str, Sequence[PredictionRow]]]],
    pins: bytes | None,
    every: Callable[[], Mapping[str, Mapping[str, Result]]],
    render: Renderer,
    rewrite: Iterable[str] = (),
    has_legacy_table: Callable[[], bool] = lambda: False,
    audits_of: Callable[[Iterable[str]], Iterable[AuditRecord]] = lambda _names: (),
    retable: Iterable[str] = (),
) -> ResultsWrite:
    """The files a finish writes to the results repo (not the card): each result and its predictions, the records
    shards they fall in, the table shards repeating those as `render` renders them (with each entry's latest audit,
    from the records `audits_of(table shard names)` returns), and `pins.json`. `retable` names table shards to render again with no record changing (an
    audit changed an entry's verdict); `shards` holds their records too.

    `shards` holds the current content of the records shards the results fall in (and of those named in
    `rewrite`: damaged shards being repaired, written even when no result falls in them). `every()` returns every
    records shard; it is called only when the whole table is written: on a board without `pins.json` (new, or
    written before the table was sharded, whose `leaderboard.csv` is then removed) and when a result brings an
    eval set the table has no column for yet (every shard gets the new header)."""
    files: dict[str, bytes] = {}
    updated = {name: dict(members) for name, members in shards.items()}
    for result, predictions in results:
        for eval_set, rows in predictions.items():
            files[layout.predictions_path(result.request_id, eval_set)] = write_jsonl(rows).encode("utf-8")
        files[layout.result_path(result.request_id)] = result.to_json().encode("utf-8")
        updated.setdefault(shard_of(result.request_id), {})[result.request_id] = result
    written = {shard_of(r.request_id) for r, _ in results} | set(rewrite)
    for name in written:
        members = sorted(updated[name].values(), key=lambda r: r.request_id)
        files[layout.records_path(name)] = "".join(jsonl_line(r) for r in members).encode("utf-8")
    current = _read_pins(pins)
    whole = current is None or any(entry.get("table") != TABLE_FORMAT for entry in current.values())
    table: Mapping[str, Mapping[str, Result]] = updated
    if whole:
        table = {**every(), **updated}
        new_pins = _pins_with({}, [r for members in table.values() for r in members.values()])
    else:
        new_pins = _pins_with(current or {}, [r for r, _ in results])
    columns = render.columns(_sets(new_pins))
    if not whole and columns != render.columns(_sets(current or {})):
        whole, table = True, {**every(), **updated}
    names = (set(table) | {layout.FIRST_TABLE_SHARD}) if whole else written | set(retable)
    shown = {name: list(table.get(name, {}).values()) for name in sorted(names)}
    files.update(render.table_files(shown, columns, audits_of(names)))
    if new_pins != current:
        files[layout.PINS_FILE] = (
            json.dumps(dict(sorted(new_pins.items())), ensure_ascii=False, indent=1) + "\n"
        ).encode()
    deleted = [layout.LEGACY_TABLE_FILE] if whole and has_legacy_table() else []
    return ResultsWrite(files, deleted, {name: updated[name] for name in written}, columns, whole)


def pinned_sets(pins: bytes | None) -> dict[str, list[str]]:
    """The eval sets of each board version, from `pins.json` as stored (the table's columns, which the card
    declares to `datasets`)."""
    return _sets(_read_pins(pins) or {})


def read_pins(raw: bytes | None) -> dict[str, list[EvalSetSource]] | None:
    """`pins.json`: per board version, the eval-set sources of its first finished result; None when the file
    is absent or unreadable (the caller then reads the results themselves)."""
    data = _read_pins(raw)
    if data is None:
        return None
    try:
        return {version: [EvalSetSource.from_dict(s) for s in entry["sources"]] for version, entry in data.items()}
    except (*PARSE_ERRORS, ValueError):
        return None


def _read_pins(raw: bytes | None) -> dict[str, dict[str, Any]] | None:
    """`pins.json` as written, None when absent or not a mapping of versions to entries (rewritten whole)."""
    if raw is None:
        return None
    try:
        data = parse_record(dict, raw)
    except (*PARSE_ERRORS, ValueError):
        return None
    if not all(isinstance(entry, dict) for entry in data.values()):
        return None
    return data


def _pins_with(current: Mapping[str, dict[str, Any]], results: Sequence[Result]) -> dict[str, dict[str, Any]]:
    """`pins.json`'s content once `results` are stored: a version's `sources` (its data pins) are its earliest
    finished result's; its `sets` every eval set any of its results has (the table's columns)."""
    pins = {version: dict(entry) for version, entry in current.items()}
    for result in sorted(results, key=lambda r: (r.finished_at, r.request_id)):
        entry = pins.get(result.leaderboard_version)
        if entry is None or result.finished_at < str(entry.get("finished_at", "")):
            sets = entry.get("sets", []) if entry is not None else []
            entry = pins[result.leaderboard_version] = {
                "finished_at": result.finished_at,
                "request_id": result.request_id,
                "sources": [s.to_dict() for s in result.eval_sets],
                "sets": list(sets),
            }
        entry["table"] = TABLE_FORMAT
        known = entry.setdefault("sets", [])
        known += [name for name in result.datasets if name not in known]
    return pins


def _sets(pins: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    return {version: [str(n) for n in entry.get("sets", [])] for version, entry in pins.items()}


def audit_files(audits: Sequence[AuditRecord], fetch: Fetch | None = None) -> dict[str, bytes]:
    """The files an audit writes to the results repo: one signed record each (sharded like the results), and,
    given `fetch` (the repo as it is), the audit-records shards with each new record appended as a line."""
    files = {layout.audit_path(a.request_id, a.audit_id): a.to_json().encode("utf-8") for a in audits}
    if fetch is None:
        return files
    for path in sorted({layout.audit_records_path(a.request_id) for a in audits}):
        existing = files.get(path) or fetch(path) or b""
        if existing and not existing.endswith(b"\n"):
            existing += b"\n"  # a torn last line stays as it is (readers skip it); the new lines start fresh
        lines = [
            jsonl_line(a)
            for a in audits
            if layout.audit_records_path(a.request_id) == path and f'"audit_id":"{a.audit_id}"'.encode() not in existing
        ]
        files[path] = existing + "".join(lines).encode("utf-8")
    return files


class AuditsReader:
    """The audit records the log names (an `audit_passed`/`audit_failed` event carries the request and audit id),
    each read once: records never change. They are read from the 16 audit-records shards (a cold read costs 16
    requests, not one per audit); a record no shard holds (a board written before the shards) from its own file.
    A record the log names but the repo lacks is skipped (and `verify` reports it)."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], AuditRecord] = {}

    def read(
        self, fetch: Fetch, log: Sequence[LogEntry], bad: list[BadFile] | None = None, every: bool = False
    ) -> list[AuditRecord]:
        """The records the log names, in log order; with `every` (the log is damaged, so some events may be lost)
        also every other record the 16 shards hold, after them: a failed audit whose event was lost still flags."""
        found = bad if bad is not None else []
        wanted = _audit_keys(log, found)
        missing = [key for key in wanted if key not in self._records]
        shards = {layout.audit_records_path(request_id) for request_id, _ in missing}
        if every:
            shards |= {f"{layout.AUDIT_RECORDS_DIR}/{digit}.jsonl" for digit in "0123456789abcdef"}
        for path in sorted(shards):
            raw = fetch(path)
            for record in parse_lines(
                with_safe_ids(AuditRecord.from_dict), text_lines(raw or b""), path, found, raw or b""
            ):
                self._records.setdefault((record.request_id, record.audit_id), record)
        for key in (k for k in missing if k not in self._records):
            raw = fetch(layout.audit_path(*key))
            if raw is None:
                continue
            try:
                self._records[key] = parse_record(AuditRecord.from_dict, raw)
            except ValueError as exc:
                found.append(BadFile(layout.audit_path(*key), f"unreadable audit record ({exc})", raw))
        named = [self._records[key] for key in wanted if key in self._records]
        others = [r for key, r in sorted(self._records.items()) if key not in set(wanted)] if every else []
        return [*named, *others]

    def prime(self, audits: Sequence[AuditRecord]) -> None:
        """Hold records a write just stored, so reading them back fetches nothing."""
        self._records.update(((a.request_id, a.audit_id), a) for a in audits)


def _audit_keys(log: Sequence[LogEntry], bad: list[BadFile]) -> list[tuple[str, str]]:
    """(request id, audit id) of every audit event in the log, in log order; an event naming an id the layout
    refuses (a path outside its folder) is reported, never fetched."""
    keys: list[tuple[str, str]] = []
    for entry in log:
        audit_id = entry.detail.get("audit_id") if entry.event in AUDIT_EVENTS else None
        if not isinstance(audit_id, str):
            continue
        try:
            layout.audit_path(entry.request_id, audit_id)
        except ValueError as exc:
            bad.append(
                BadFile(f"{layout.LOG_DIR}/ seq {entry.seq}", f"{entry.event} names no audit record: {exc}", b"")
            )
            continue
        keys.append((entry.request_id, audit_id))
    return keys


def throughput_shard(name: str, data: bytes) -> dict[str, ThroughputResult]:
    """One throughput records shard by request id; a line that does not parse is left out and logged (the
    per-entry file `throughput/<xx>/<id>.json` still holds it, and `verify` checks those)."""
    records: dict[str, ThroughputResult] = {}
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = checked_ids(ThroughputResult.from_json(line))
        except (ValueError, TypeError, KeyError) as exc:
            logger.warning(
                "%s line %d is not a throughput record: %s", layout.throughput_records_path(name), number, exc
            )
            continue
        records[record.request_id] = record
    return records


def throughput_records(shards: Mapping[str, bytes]) -> dict[str, ThroughputResult]:
    """The records of these throughput records shards (shard name -> stored bytes), by request id."""
    records: dict[str, ThroughputResult] = {}
    for name, data in sorted(shards.items()):
        records.update(throughput_shard(name, data))
    return records


def throughput_files(
    shards: Mapping[str, bytes],
    result: ThroughputResult,
    predictions: Mapping[str, Sequence[PredictionRow]],
    render: Renderer,
) -> dict[str, bytes]:
    """What publishing a throughput record writes, given the records shards as stored: its predictions, the
    record, its shard with it added, and the throughput table of every record (rendered by `render`)."""
    name = layout.shard(result.request_id)
    records = {**throughput_records(shards), result.request_id: result}
    shard = {**throughput_shard(name, shards.get(name, b"")), result.request_id: result}
    files = {
        layout.throughput_predictions_path(result.request_id, eval_set): write_jsonl(rows).encode("utf-8")
        for eval_set, rows in predictions.items()
    }
    files[layout.throughput_path(result.request_id)] = result.to_json().encode("utf-8")
    files[layout.throughput_records_path(name)] = write_jsonl(shard[k] for k in sorted(shard)).encode("utf-8")
    files.update(render.throughput_files(records.values()))
    return files
