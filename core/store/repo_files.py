"""The repos' files <-> the store's state, for both backends, reading only what changed since the last read.

A backend hands a reader a `fetch(path) -> bytes | None` bound to one consistent version of a repo (a Hub
commit, or the local folder under its lock). `RequestsReader` reads `state.json`, then only the closed shards
whose digest changed and only the log chunks it has not seen complete; `ResultsReader` fetches a records shard
only when a FINISHED request's result is missing from what it holds. After a write, the backend seeds the
readers with what it wrote (`RequestsView` returned by `requests_files`), so its next read costs nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from core.audits import AUDIT_EVENTS
from core.dataset_card import TABLE_FILE, consolidated_table
from core.history import recovered_request, replay
from core.records import AuditRecord, LogEntry, PredictionRow, Request, Result, Status, write_jsonl
from core.store.bad_files import PARSE_ERRORS, BadFile, parse_lines, parse_record, text_lines
from core import layout

Fetch = Callable[[str], bytes | None]
OPEN = (Status.PENDING, Status.RUNNING)


class LayoutError(RuntimeError):
    """The repo is not in a layout this version reads (an older layout, or a damaged state file)."""


@lru_cache(maxsize=65536)
def _shard(request_id: str) -> str:
    return layout.shard(request_id)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _line(record: Request | Result | LogEntry) -> str:
    return json.dumps(record.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"


@dataclass(frozen=True)
class RequestsView:
    """The requests repo at one version, parsed."""

    requests: Mapping[str, Request]
    log: Sequence[LogEntry]
    closed: Mapping[str, str] = field(default_factory=dict)  # shard -> digest of closed/<shard>.jsonl
    results_commit: str | None = None
    bad: Sequence[BadFile] = ()  # damaged files read around (rewritten, their bytes set aside, on the next write)


EMPTY = RequestsView(requests={}, log=[])


class Lookup:
    """`id in lookup` asks a function: which results are stored is checked only when lease expiry needs it."""

    def __init__(self, has: Callable[[str], bool]) -> None:
        self._has = has
        self.asked = False

    def __contains__(self, item: object) -> bool:
        self.asked = True
        return isinstance(item, str) and self._has(item)


class RequestsReader:
    """Reads the requests repo, caching closed shards by digest and complete log chunks forever.

    A damaged file is read around and reported in `RequestsView.bad` (see `core.store.bad_files`); a damaged
    `state.json` is rebuilt from the log and the closed shards the log points to (`recover`)."""

    def __init__(self) -> None:
        self._closed: dict[str, tuple[str, dict[str, Request], BadFile | None]] = {}
        self._chunks: dict[int, list[LogEntry]] = {}

    def read(self, fetch: Fetch) -> RequestsView:
        raw = fetch(layout.STATE_FILE)
        if raw is None:
            if fetch(layout.LEGACY_LOG_FILE) is not None:
                raise LayoutError(f"the requests repo is in layout 1; {layout.MIGRATE_HINT}")
            return EMPTY
        try:
            state = parse_record(dict, raw)
            if state.get("format") != layout.FORMAT:
                raise LayoutError(f"{layout.STATE_FILE} has format {state.get('format')!r}, expected {layout.FORMAT}")
            closed_names, length = dict(state["closed"]), int(state["log_length"])
            open_requests = [Request.from_dict(r) for r in state["open"]]
        except PARSE_ERRORS as exc:
            return self.recover(fetch, BadFile(layout.STATE_FILE, f"unreadable ({exc}); rebuilt from the log", raw))
        bad: list[BadFile] = []
        requests: dict[str, Request] = {}
        for name, digest in sorted(closed_names.items()):
            requests.update(self._closed_shard(fetch, name, digest, bad))
        # `state.json` is written last: where a shard written just before a crash disagrees, the state wins.
        requests.update((r.request_id, r) for r in open_requests)
        return RequestsView(
            requests=requests,
            log=self._log(fetch, length, bad),
            closed=closed_names,
            results_commit=state.get("results_commit"),
            bad=tuple(bad),
        )

    def _closed_shard(self, fetch: Fetch, name: str, digest: str, bad: list[BadFile]) -> dict[str, Request]:
        cached = self._closed.get(name)
        if cached is None or cached[0] != digest:
            path = layout.closed_path(name)
            raw = fetch(path)
            found: list[BadFile] = []
            if raw is None:
                found.append(BadFile(path, f"named in {layout.STATE_FILE} but missing", b""))
                raw = b""
            records = parse_lines(Request.from_dict, text_lines(raw), path, found, raw)
            parsed = {r.request_id: r for r in records}
            if _digest(raw) != digest and not found:  # written after the state that names it (a crash window)
                return parsed
            cached = (digest, parsed, found[0] if found else None)
            self._closed[name] = cached
        if cached[2] is not None:
            bad.append(cached[2])
        return cached[1]

    def _log(self, fetch: Fetch, length: int, bad: list[BadFile]) -> list[LogEntry]:
        entries: list[LogEntry] = []
        for index in range((length + layout.LOG_CHUNK - 1) // layout.LOG_CHUNK):
            expected = min(layout.LOG_CHUNK, length - index * layout.LOG_CHUNK)
            chunk = self._chunks.get(index)
            if chunk is None or len(chunk) < expected:
                chunk = self._chunk(fetch, index, expected, bad)
            entries.extend(chunk[:expected])
        return entries

    def _chunk(self, fetch: Fetch, index: int, expected: int, bad: list[BadFile]) -> list[LogEntry]:
        """One log chunk; lines past `expected` are a crashed write's leftovers unless they do not parse."""
        path = layout.log_chunk_path(index)
        raw = fetch(path) or b""
        lines = text_lines(raw)
        found: list[BadFile] = []
        chunk = parse_lines(LogEntry.from_dict, lines[:expected], path, found, raw)
        parse_lines(LogEntry.from_dict, lines[expected:], path, found, raw)
        if len(lines) < expected:
            found.append(BadFile(path, f"holds {len(lines)} lines, {expected} expected (truncated)", raw))
        if found:
            bad.append(BadFile(path, "; ".join(b.problem for b in found), raw))
        else:
            self._chunks[index] = chunk
        return chunk

    def recover(self, fetch: Fetch, damaged: BadFile) -> RequestsView:
        """The view rebuilt without `state.json`: the log chunks in order, each request's state replayed from
        the log, closed requests taken from their shards where those hold them (they keep the model facts)."""
        bad = [damaged]
        log: list[LogEntry] = []
        index = 0
        while (raw := fetch(layout.log_chunk_path(index))) is not None:
            log.extend(parse_lines(LogEntry.from_dict, text_lines(raw), layout.log_chunk_path(index), bad, raw))
            index += 1
        replayed = replay(log)
        requests = {i: r for i, state in replayed.items() if (r := recovered_request(state)) is not None}
        closed: dict[str, str] = {}
        for name in sorted({_shard(i) for i, r in requests.items() if r.status not in OPEN}):
            raw = fetch(layout.closed_path(name))
            if raw is None:
                continue
            closed[name] = _digest(raw)
            for record in parse_lines(Request.from_dict, text_lines(raw), layout.closed_path(name), bad, raw):
                if record.request_id in requests and requests[record.request_id].status is record.status:
                    requests[record.request_id] = record
        self._chunks.clear()
        return RequestsView(requests=requests, log=log, closed=closed, bad=tuple(bad))

    def seed(self, view: RequestsView) -> None:
        """Remember what a write just produced, so reading it back fetches nothing."""
        by_shard: dict[str, dict[str, Request]] = {}
        for request in view.requests.values():
            if request.status not in OPEN:
                by_shard.setdefault(_shard(request.request_id), {})[request.request_id] = request
        for name, digest in view.closed.items():
            self._closed[name] = (digest, by_shard.get(name, {}), None)
        for index in range((len(view.log) + layout.LOG_CHUNK - 1) // layout.LOG_CHUNK):
            self._chunks[index] = list(view.log[index * layout.LOG_CHUNK : (index + 1) * layout.LOG_CHUNK])


def requests_files(
    view: RequestsView,
    changed: Sequence[Request],
    new_log: Sequence[LogEntry],
    results_commit: str | None,
    txn: str,
) -> tuple[dict[str, bytes], RequestsView]:
    """The files one transaction writes to the requests repo, and the view they make."""
    requests = dict(view.requests)
    requests.update((r.request_id, r) for r in changed)
    files: dict[str, bytes] = {b.quarantine_path: b.data for b in view.bad if b.data}
    closed = dict(view.closed)
    damaged = {b.path for b in view.bad}
    rewrite = {name for name in closed if layout.closed_path(name) in damaged}
    for name in sorted(rewrite | {_shard(r.request_id) for r in changed if r.status not in OPEN}):
        members = sorted(
            (r for r in requests.values() if r.status not in OPEN and _shard(r.request_id) == name),
            key=lambda r: r.request_id,
        )
        data = "".join(_line(r) for r in members).encode("utf-8")
        files[layout.closed_path(name)] = data
        closed[name] = _digest(data)
    log = [*view.log, *new_log]
    damaged_chunks = [i for i in range(len(log) // layout.LOG_CHUNK + 1) if layout.log_chunk_path(i) in damaged]
    if new_log or damaged_chunks:
        first = min([len(view.log) // layout.LOG_CHUNK, *damaged_chunks])
        last = max(0, len(log) - 1) // layout.LOG_CHUNK
        for index in range(first, last + 1):
            chunk = log[index * layout.LOG_CHUNK : (index + 1) * layout.LOG_CHUNK]
            files[layout.log_chunk_path(index)] = "".join(_line(e) for e in chunk).encode("utf-8")
    state = {
        "format": layout.FORMAT,
        "open": [r.to_dict() for r in sorted(requests.values(), key=lambda r: r.request_id) if r.status in OPEN],
        "closed": dict(sorted(closed.items())),
        "log_length": len(log),
        "results_commit": results_commit,
        "txn": txn,  # every write changes state.json, so a commit is never empty
    }
    files[layout.STATE_FILE] = json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return files, RequestsView(requests=requests, log=log, closed=closed, results_commit=results_commit)


class ResultsReader:
    """Signed results by request id, fetched a records shard at a time and only when one is missing."""

    def __init__(self) -> None:
        self._shards: dict[str, dict[str, Result]] = {}
        self._fetched_at: dict[str, str] = {}
        self._bad: dict[str, BadFile] = {}

    def read(self, fetch: Fetch, version: str, wanted: Iterable[str]) -> dict[str, Result]:
        wanted = list(wanted)
        stale = {
            _shard(i)
            for i in wanted
            if i not in self._shards.get(_shard(i), {}) and self._fetched_at.get(_shard(i)) != version
        }
        for name in sorted(stale):
            self.shard(fetch, version, name)
        return {i: r for i in wanted if (r := self._shards.get(_shard(i), {}).get(i)) is not None}

    def shard(self, fetch: Fetch, version: str, name: str) -> dict[str, Result]:
        """One records shard at `version` (fetched unless already read there)."""
        if self._fetched_at.get(name) != version:
            path = layout.records_path(name)
            found: list[BadFile] = []
            self._shards[name] = self.parse(fetch(path), path, found)
            self._fetched_at[name] = version
            self._bad.pop(name, None)
            if found:
                self._bad[name] = found[0]
        return self._shards[name]

    def bad_files(self, names: Iterable[str] | None = None) -> list[BadFile]:
        """The damaged records shards among those read (all of them, or only `names`)."""
        return [b for n, b in sorted(self._bad.items()) if names is None or n in set(names)]

    def seed(self, name: str, version: str, results: dict[str, Result]) -> None:
        self._shards[name] = dict(results)
        self._fetched_at[name] = version
        self._bad.pop(name, None)

    @staticmethod
    def parse(raw: bytes | None, path: str = "", bad: list[BadFile] | None = None) -> dict[str, Result]:
        """A records shard; unreadable lines are skipped (and reported in `bad` when given)."""
        if raw is None:
            return {}
        found: list[BadFile] = []
        records = parse_lines(Result.from_dict, text_lines(raw), path, found, raw)
        if bad is not None:
            bad.extend(found)
        return {r.request_id: r for r in records}


def results_files(
    shards: Mapping[str, Mapping[str, Result]],
    results: Sequence[tuple[Result, Mapping[str, Sequence[PredictionRow]]]],
    rewrite: Iterable[str] = (),
) -> tuple[dict[str, bytes], dict[str, dict[str, Result]]]:
    """The files a finish writes to the results repo (not the table or card) and the records shards it makes.

    `shards` holds the current content of the records shards the results fall in; the shards named in
    `rewrite` (repaired after damage) are written even when no result falls in them."""
    files: dict[str, bytes] = {}
    updated = {name: dict(members) for name, members in shards.items()}
    for result, predictions in results:
        for eval_set, rows in predictions.items():
            files[layout.predictions_path(result.request_id, eval_set)] = write_jsonl(rows).encode("utf-8")
        files[layout.result_path(result.request_id)] = result.to_json().encode("utf-8")
        updated.setdefault(_shard(result.request_id), {})[result.request_id] = result
    for name in {_shard(r.request_id) for r, _ in results} | set(rewrite):
        members = sorted(updated[name].values(), key=lambda r: r.request_id)
        files[layout.records_path(name)] = "".join(_line(r) for r in members).encode("utf-8")
    return files, updated


def audit_files(audits: Sequence[AuditRecord]) -> dict[str, bytes]:
    """The files an audit writes to the results repo: one signed record each, sharded like the results."""
    return {layout.audit_path(a.request_id, a.audit_id): a.to_json().encode("utf-8") for a in audits}


class AuditsReader:
    """The audit records the log names (an `audit_passed`/`audit_failed` event carries the request and audit id),
    each fetched once: records never change, so a read after a new audit costs one GET, and no listing of the
    `audits/` folders is needed. A record the log names but the repo lacks is skipped (and `verify` reports it)."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], AuditRecord] = {}

    def read(self, fetch: Fetch, log: Sequence[LogEntry], bad: list[BadFile] | None = None) -> list[AuditRecord]:
        found: list[AuditRecord] = []
        for entry in log:
            audit_id = entry.detail.get("audit_id") if entry.event in AUDIT_EVENTS else None
            if not isinstance(audit_id, str):
                continue
            key = (entry.request_id, audit_id)
            if key not in self._records:
                raw = fetch(layout.audit_path(*key))
                if raw is None:
                    continue
                try:
                    self._records[key] = parse_record(AuditRecord.from_dict, raw)
                except ValueError as exc:
                    if bad is not None:
                        bad.append(BadFile(layout.audit_path(*key), f"unreadable audit record ({exc})", raw))
                    continue
            found.append(self._records[key])
        return found

    def seed(self, audits: Sequence[AuditRecord]) -> None:
        self._records.update(((a.request_id, a.audit_id), a) for a in audits)


class TableDamaged(ValueError):
    """`leaderboard.csv` does not parse as the table we write: the caller rebuilds it from every record."""


def merge_table(existing: str | None, results: Sequence[Result], eval_sets: Sequence[str]) -> str:
    """`leaderboard.csv` with `results` added or replaced, without reading every other result again.

    Rows already in the table are kept as the text they are; the order is the full render's (version, average
    WER, request id), and new eval-set columns go before the tail columns."""
    if not existing or not existing.strip():
        return consolidated_table(results, eval_sets)
    old = csv.DictReader(io.StringIO(existing))
    columns = list(old.fieldnames or [])
    try:
        rows = {row["request_id"]: row for row in old}
        for row in rows.values():
            float(row.get("avg_wer") or "inf")
    except (KeyError, ValueError, csv.Error) as exc:
        raise TableDamaged(f"{TABLE_FILE} is damaged ({exc}); it is rebuilt from the signed records") from None
    if "request_id" not in columns or any(None in row for row in rows.values()):
        raise TableDamaged(f"{TABLE_FILE} is damaged (rows do not match its header); it is rebuilt from the records")
    fresh = csv.DictReader(io.StringIO(consolidated_table(results, eval_sets)))
    rows.update((row["request_id"], row) for row in fresh)
    tail_start = columns.index("params") if "params" in columns else len(columns)
    for name in fresh.fieldnames or []:
        if name not in columns:
            columns.insert(tail_start, name)
            tail_start += 1

    def key(row: dict[str, str]) -> tuple[str, float, str]:
        return row.get("leaderboard_version", ""), float(row.get("avg_wer") or "inf"), row["request_id"]

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", restval="")
    writer.writeheader()
    for row in sorted(rows.values(), key=key):
        writer.writerow({k: row.get(k) or "" for k in columns})
    return buffer.getvalue()


def render_repos(
    requests: Iterable[Request], results: Iterable[Result], log: Sequence[LogEntry], eval_sets: Sequence[str] = ()
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Both repos' files for a whole state at once (the migration and the benchmark's seeding write these)."""
    results = list(results)
    request_files, _ = requests_files(EMPTY, list(requests), list(log), None, "seed")
    result_files, _ = results_files({}, [(r, {}) for r in results])
    from core.dataset_card import TABLE_FILE

    result_files[TABLE_FILE] = consolidated_table(results, eval_sets).encode("utf-8")
    return request_files, result_files
