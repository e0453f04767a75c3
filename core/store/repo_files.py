"""The repos' files <-> the store's state, for both backends, reading only what changed since the last read.

A backend hands a reader a `fetch(path) -> bytes | None` bound to one consistent version of a repo (a Hub
commit, or the local folder under its lock). `RequestsReader` reads `state.json`, then only the closed shards
whose digest changed and only the log chunks it has not seen complete; `ResultsReader` fetches a records shard
only when a FINISHED request's result is missing from what it holds. After a write, the backend seeds the
readers with what it wrote (`RequestsView` returned by `requests_files`), so its next read costs nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from core import layout
from core.audits import AUDIT_EVENTS
from core.dataset_card import board_columns, table_shard
from core.history import recovered_request, replay
from core.records import AuditRecord, EvalSetSource, LogEntry, PredictionRow, Request, Result, Status, write_jsonl
from core.store.bad_files import PARSE_ERRORS, BadFile, parse_lines, parse_record, text_lines

Fetch = Callable[[str], bytes | None]
#: `tail(path, start)`: the file's bytes from `start` on (b"" if none were added), or None if it is gone.
Tail = Callable[[str, int], bytes | None]
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
    """The requests repo at one version, parsed.

    `log` holds the readable entries in `seq` order; `log_length` is the highest `seq` written, even when an
    entry is unreadable (its place stays empty and the chain breaks there, for everyone to see). `log_chunks`
    maps each log chunk to the digest of its bytes, so a reader knows which cached chunk is stale.
    """

    requests: Mapping[str, Request]
    log: Sequence[LogEntry]
    closed: Mapping[str, str] = field(default_factory=dict)  # shard -> digest of closed/<shard>.jsonl
    results_commit: str | None = None
    bad: Sequence[BadFile] = ()  # damaged files read around (rewritten, their bytes set aside, on the next write)
    log_length: int = -1  # -1: the entries' count (a view built in memory)
    log_chunks: Mapping[int, str] = field(default_factory=dict)
    state_digest: str | None = None  # of the `state.json` this view was read from (or written as)
    log_tail: bytes | None = None  # the newest chunk's bytes, as written (seeds a reader's append-only reads)
    renewals: Mapping[str, Request] = field(default_factory=dict)  # leases renewed since, from `index.json`

    @property
    def last_seq(self) -> int:
        """The `seq` of the last entry written, readable or not."""
        if self.log_length >= 0:
            return self.log_length
        last = self.log[-1] if self.log else None
        return last.seq if last is not None else 0

    def problems(self) -> list[BadFile]:
        """The damaged files met so far: those of the state, and of the closed shards and log chunks read since."""
        found = list(self.bad)
        for part in (self.requests, self.log):
            found.extend(getattr(part, "bad", ()))
        return found


EMPTY = RequestsView(requests={}, log=[], log_length=0)


class Lookup:
    """`id in lookup` asks a function: which results are stored is checked only when lease expiry needs it."""

    def __init__(self, has: Callable[[str], bool]) -> None:
        self._has = has
        self.asked = False

    def __contains__(self, item: object) -> bool:
        self.asked = True
        return isinstance(item, str) and self._has(item)


def chunk_count(length: int) -> int:
    """How many log chunks hold entries `1..length`."""
    return (length + layout.LOG_CHUNK - 1) // layout.LOG_CHUNK


def chunked(log: Sequence[LogEntry]) -> dict[int, list[LogEntry]]:
    """Log entries by the chunk their `seq` belongs in (`(seq - 1) // LOG_CHUNK`)."""
    chunks: dict[int, list[LogEntry]] = {}
    for entry in log:
        chunks.setdefault((entry.seq - 1) // layout.LOG_CHUNK, []).append(entry)
    return chunks


def _gap(index: int, entries: Sequence[LogEntry], last: int) -> BadFile | None:
    """The report of a chunk whose seqs up to `last` are not all readable (a repaired chunk keeps its gap)."""
    present = {e.seq for e in entries}
    missing = [s for s in range(index * layout.LOG_CHUNK + 1, last + 1) if s not in present]
    if not missing:
        return None
    shown = ", ".join(map(str, missing[:5])) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return BadFile(layout.log_chunk_path(index), f"no readable entry for seq {shown}; the hash chain breaks there", b"")


@dataclass(frozen=True)
class _Chunk:
    """One parsed log chunk: the digest of its bytes, its readable entries, the last seq it was read up to, and
    what is wrong with it (None when nothing)."""

    digest: str
    entries: list[LogEntry]
    last: int
    bad: BadFile | None
    raw: bytes | None = None  # kept for the newest chunk only, so a reader fetches just what was appended

    def fresh(self, wanted: str | None, length: int) -> bool:
        if wanted is not None:
            return self.digest == wanted
        full = min(length, self.last - (self.last - 1) % layout.LOG_CHUNK + layout.LOG_CHUNK - 1)
        return self.bad is None and self.last >= full


class Requests(Mapping[str, Request]):
    """Every request of one version of the requests repo: the open ones at hand, a closed shard read the first
    time one of its requests (or all of them) is asked for. A Job claims, renews and finishes its own open request
    without reading the 256 closed shards; the Space's board reads them all once and keeps them by digest.
    `state.json` is written last: where a closed shard written just before a crash disagrees, the open list wins."""

    def __init__(
        self,
        open_requests: Mapping[str, Request],
        closed: Mapping[str, str],
        load: Callable[[str, str, list[BadFile]], Mapping[str, Request]] | None = None,
        shards: Mapping[str, Mapping[str, Request]] | None = None,
    ) -> None:
        self.open = dict(open_requests)
        self.closed = dict(closed)  # shard -> digest of closed/<shard>.jsonl
        self._load = load
        self._shards: dict[str, Mapping[str, Request]] = dict(shards or {})
        self.bad: list[BadFile] = []  # damaged closed shards met so far

    def shard(self, name: str) -> Mapping[str, Request]:
        """The closed requests of one shard, read on first use."""
        if name not in self._shards:
            digest = self.closed.get(name)
            loaded = self._load(name, digest, self.bad) if digest is not None and self._load is not None else {}
            self._shards[name] = {k: r for k, r in loaded.items() if k not in self.open}
        return self._shards[name]

    def loaded_shards(self) -> dict[str, Mapping[str, Request]]:
        return dict(self._shards)

    def with_open(self, changes: Mapping[str, Request]) -> Requests:
        """The same version with some open requests replaced (renewed leases), sharing what was read."""
        requests = Requests({**self.open, **changes}, self.closed, self._load, self._shards)
        requests.bad = self.bad
        return requests

    def __getitem__(self, key: str) -> Request:
        if key in self.open:
            return self.open[key]
        try:
            name = _shard(key)
        except ValueError:  # not a request id the layout accepts: no such request
            raise KeyError(key) from None
        found = self.shard(name).get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[str]:
        yield from self.open
        for name in sorted(self.closed):
            yield from self.shard(name)

    def __len__(self) -> int:
        return len(self.open) + sum(len(self.shard(name)) for name in self.closed)


class Log(Sequence[LogEntry]):
    """The readable log entries of one version, in `seq` order, a chunk read the first time it is needed: a
    transaction needs only the newest entry (`last`), the board all of them."""

    def __init__(
        self,
        length: int,
        load: Callable[[int], _Chunk] | None = None,
        chunks: Mapping[int, list[LogEntry]] | None = None,
    ) -> None:
        self.length = length
        self._load = load
        self._chunks: dict[int, list[LogEntry]] = dict(chunks or {})
        self.bad: list[BadFile] = []
        self._all: list[LogEntry] | None = None

    def chunk(self, index: int) -> list[LogEntry]:
        if index not in self._chunks:
            if self._load is None:
                return []
            loaded = self._load(index)
            if loaded.bad is not None:
                self.bad.append(loaded.bad)
            self._chunks[index] = loaded.entries
        return self._chunks[index]

    def loaded_chunks(self) -> dict[int, list[LogEntry]]:
        return dict(self._chunks)

    def last(self) -> LogEntry | None:
        """The newest readable entry (reads the newest chunk, and earlier ones only if it holds none)."""
        for index in reversed(range(chunk_count(self.length))):
            entries = self.chunk(index)
            if entries:
                return entries[-1]
        return None

    def find(self, seq: int) -> LogEntry | None:
        """The readable entry with this `seq`, if any (reads its one chunk)."""
        if not 1 <= seq <= self.length:
            return None
        return next((e for e in self.chunk((seq - 1) // layout.LOG_CHUNK) if e.seq == seq), None)

    def _every(self) -> list[LogEntry]:
        if self._all is None:
            self._all = [entry for index in range(chunk_count(self.length)) for entry in self.chunk(index)]
        return self._all

    def __getitem__(self, index: Any) -> Any:  # an int gives an entry, a slice a list
        if index == -1:
            last = self.last()
            if last is None:
                raise IndexError("the log holds no readable entry")
            return last
        return self._every()[index]

    def __len__(self) -> int:
        return len(self._every())

    def __bool__(self) -> bool:
        return self.last() is not None

    def __iter__(self) -> Iterator[LogEntry]:
        return iter(self._every())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


class RequestsReader:
    """Reads the requests repo, caching closed shards by digest and complete log chunks forever.

    A damaged file is read around and reported in `RequestsView.bad` (see `core.store.bad_files`); a damaged
    `state.json` is rebuilt from the log and the closed shards the log points to (`recover`)."""

    def __init__(self) -> None:
        self._closed: dict[str, tuple[str, dict[str, Request], BadFile | None]] = {}
        self._chunks: dict[int, _Chunk] = {}
        self._state: RequestsView | None = None

    def read(self, fetch: Fetch, trust_index: bool = True, tail: Tail | None = None) -> RequestsView:
        """The repo's view: `state.json` (fetched only when `index.json` names another digest than the one read
        last, if `trust_index`) with the leases renewed since. A repo written before `index.json` existed is
        read from `state.json` alone."""
        index, index_bad = _read_index(fetch)
        cached = self._state
        if trust_index and cached is not None and index.get("state") == cached.state_digest:
            view = self._bind(cached, fetch, tail)  # the same state: what is not read yet comes from this version
        else:
            view = self._read_state(fetch, tail)
            self._state = view
        if index_bad is not None:
            view = replace(view, bad=(*view.bad, index_bad))
        return _renewed(view, index.get("renewed", []))

    def _read_state(self, fetch: Fetch, tail: Tail | None = None) -> RequestsView:
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
            digests = {int(i): str(d) for i, d in state["log_chunks"].items()} if "log_chunks" in state else None
        except PARSE_ERRORS as exc:
            return self.recover(fetch, BadFile(layout.STATE_FILE, f"unreadable ({exc}); rebuilt from the log", raw))
        view = RequestsView(
            requests=Requests({r.request_id: r for r in open_requests}, closed_names),
            log=Log(length),
            closed=closed_names,
            results_commit=state.get("results_commit"),
            log_length=length,
            log_chunks=dict(digests or {}),
            state_digest=_digest(raw),
        )
        return self._bind(view, fetch, tail)

    def _bind(self, view: RequestsView, fetch: Fetch, tail: Tail | None) -> RequestsView:
        """`view` whose closed shards and log chunks not read yet are read through `fetch` (this version)."""
        requests, log = view.requests, view.log
        assert isinstance(requests, Requests) and isinstance(log, Log)
        length, digests = view.last_seq, dict(view.log_chunks)
        count = chunk_count(length)
        bound = Requests(
            requests.open,
            requests.closed,
            lambda name, digest, bad: self._closed_shard(fetch, name, digest, bad),
            requests.loaded_shards(),
        )
        lines = Log(
            length, lambda index: self._log_chunk(fetch, index, length, digests, count, tail), log.loaded_chunks()
        )
        bound.bad, lines.bad = list(requests.bad), list(log.bad)  # what was read stays reported
        return replace(view, requests=bound, log=lines)

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

    def _log_chunk(
        self,
        fetch: Fetch,
        index: int,
        length: int,
        digests: Mapping[int, str] | None,
        count: int,
        tail: Tail | None = None,
    ) -> _Chunk:
        """One chunk of the log up to `length`. A cached chunk is used while the state names the same digest for
        it; a state from before digests were recorded (`digests` None) reuses complete chunks. The log is
        append-only, so the newest chunk is read from where the last read ended (`tail`), its digest checked,
        and fetched whole only when it was rewritten (a repair)."""
        wanted = digests.get(index) if digests is not None else None
        chunk = self._chunks.get(index)
        if chunk is not None and chunk.fresh(wanted, length):
            return chunk
        appended = self._appended(chunk, index, wanted, tail)
        return self._chunk(fetch, index, length, wanted, raw=appended, keep_raw=index == count - 1)

    @staticmethod
    def _appended(chunk: _Chunk | None, index: int, wanted: str | None, tail: Tail | None) -> bytes | None:
        """The chunk's bytes as the state names them, from the cached bytes and what was appended; None when
        that cannot be had that way (no cache, no tail reader, or the chunk was rewritten)."""
        if chunk is None or chunk.raw is None or tail is None or wanted is None:
            return None
        added = tail(layout.log_chunk_path(index), len(chunk.raw))
        if added is None:
            return None
        joined = chunk.raw + added
        return joined if _digest(joined) == wanted else None

    def _chunk(
        self,
        fetch: Fetch,
        index: int,
        length: int,
        wanted: str | None,
        raw: bytes | None = None,
        keep_raw: bool = False,
    ) -> _Chunk:
        """One log chunk, its entries placed by `seq`. Lines past `length` are a crashed write's leftovers unless
        they do not parse; a `seq` of the chunk that no readable line holds is reported (the chain breaks there)."""
        path = layout.log_chunk_path(index)
        if raw is None:
            raw = fetch(path) or b""
        found: list[BadFile] = []
        parsed = parse_lines(LogEntry.from_dict, text_lines(raw), path, found, raw)
        first, last = index * layout.LOG_CHUNK + 1, min((index + 1) * layout.LOG_CHUNK, length)
        by_seq: dict[int, LogEntry] = {}
        for entry in parsed:
            if first <= entry.seq <= last:
                by_seq.setdefault(entry.seq, entry)
        problems = [b.problem for b in found]
        missing = [seq for seq in range(first, last + 1) if seq not in by_seq]
        if missing:
            shown = ", ".join(map(str, missing[:5])) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            problems.append(f"no readable entry for seq {shown}; the hash chain breaks there")
        report = BadFile(path, "; ".join(problems), raw if found else b"") if problems else None
        entries = [by_seq[seq] for seq in sorted(by_seq)]
        chunk = _Chunk(_digest(raw), entries, last, report, raw if keep_raw else None)
        if wanted is None or chunk.digest == wanted:
            self._chunks[index] = chunk
        return chunk

    def recover(self, fetch: Fetch, damaged: BadFile) -> RequestsView:
        """The view rebuilt without `state.json`: the log chunks in order, each request's state replayed from
        the log, closed requests taken from their shards where those hold them (they keep the model facts)."""
        bad = [damaged]
        by_seq: dict[int, LogEntry] = {}
        chunks: dict[int, str] = {}
        index = 0
        while (raw := fetch(layout.log_chunk_path(index))) is not None:
            for entry in parse_lines(LogEntry.from_dict, text_lines(raw), layout.log_chunk_path(index), bad, raw):
                by_seq.setdefault(entry.seq, entry)
            chunks[index] = _digest(raw)
            index += 1
        log = [by_seq[seq] for seq in sorted(by_seq)]
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
        length = log[-1].seq if log else 0
        open_now = {i: r for i, r in requests.items() if r.status in OPEN}
        shards: dict[str, dict[str, Request]] = {}
        for i, r in requests.items():
            if r.status not in OPEN:
                shards.setdefault(_shard(i), {})[i] = r
        return RequestsView(
            requests=Requests(open_now, closed, shards={n: shards.get(n, {}) for n in closed}),
            log=Log(length, chunks=chunked(log)),
            closed=closed,
            bad=tuple(bad),
            log_length=length,
            log_chunks=chunks,
        )

    def seed(self, view: RequestsView) -> None:
        """Remember what a write just produced, so reading it back fetches nothing."""
        if view.state_digest is not None:
            self._state = replace(view, renewals={})
        requests = view.requests
        if isinstance(requests, Requests):
            for name, members in requests.loaded_shards().items():
                if name in view.closed:
                    self._closed[name] = (view.closed[name], dict(members), None)
        length = view.last_seq
        newest = chunk_count(length) - 1
        loaded = view.log.loaded_chunks() if isinstance(view.log, Log) else chunked(view.log)
        for index, entries in loaded.items():
            if index in view.log_chunks:
                last = min((index + 1) * layout.LOG_CHUNK, length)
                raw = view.log_tail if index == newest else None
                self._chunks[index] = _Chunk(view.log_chunks[index], entries, last, _gap(index, entries, last), raw)


def requests_files(
    view: RequestsView,
    changed: Sequence[Request],
    new_log: Sequence[LogEntry],
    results_commit: str | None,
    txn: str,
    renewals: Sequence[Request] = (),
) -> tuple[dict[str, bytes], RequestsView]:
    """The files one transaction writes to the requests repo, and the view they make.

    A transaction that only renews leases writes `index.json` alone (a few hundred bytes a running request,
    whatever the number of open requests); any other folds the renewals into `state.json`."""
    if renewals and not changed and not new_log and view.state_digest is not None and not view.problems():
        renewed = {**view.renewals, **{r.request_id: r for r in renewals}}
        files = {layout.INDEX_FILE: _index(view.state_digest, renewed.values(), txn)}
        return files, replace(view, requests=_with_open(view.requests, renewed), renewals=renewed)
    changed = [*changed, *(r for r in renewals if r.request_id not in {c.request_id for c in changed})]
    current = view.requests if isinstance(view.requests, Requests) else _as_requests(view.requests)
    open_now = dict(current.open)
    leaving: dict[str, dict[str, Request]] = {}
    for request in changed:
        if request.status in OPEN:
            open_now[request.request_id] = request
        else:
            open_now.pop(request.request_id, None)
            leaving.setdefault(_shard(request.request_id), {})[request.request_id] = request
    for name in leaving:  # read what this write rewrites first, so the damage found there is repaired now
        current.shard(name)
    if isinstance(view.log, Log):
        for index in {(e.seq - 1) // layout.LOG_CHUNK for e in new_log}:
            if index < chunk_count(view.last_seq):
                view.log.chunk(index)
    problems = view.problems()
    files: dict[str, bytes] = {b.quarantine_path: b.data for b in problems if b.data}
    closed = dict(view.closed)
    damaged = {b.path for b in problems}
    shards = dict(current.loaded_shards())
    for name in sorted({n for n in closed if layout.closed_path(n) in damaged} | set(leaving)):
        members = {**current.shard(name), **leaving.get(name, {})}
        members = {k: r for k, r in members.items() if k not in open_now}
        data = "".join(_line(members[k]) for k in sorted(members)).encode("utf-8")
        files[layout.closed_path(name)] = data
        closed[name] = _digest(data)
        shards[name] = members
    log, length, chunks, log_tail = _log_files(view, new_log, {b.path for b in problems if b.data}, files)
    state = {
        "format": layout.FORMAT,
        "open": [open_now[k].to_dict() for k in sorted(open_now)],
        "closed": dict(sorted(closed.items())),
        "log_length": length,
        "log_chunks": {str(i): d for i, d in sorted(chunks.items())},
        "results_commit": results_commit,
        "txn": txn,  # every write changes state.json, so a commit is never empty
    }
    data = json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    files[layout.STATE_FILE] = data
    files[layout.INDEX_FILE] = _index(_digest(data), (), txn)
    gaps = tuple(b for b in problems if not b.data and b.path not in files)  # a gap stays reported
    return files, RequestsView(
        requests=Requests(open_now, closed, shards=shards),
        log=log,
        closed=closed,
        results_commit=results_commit,
        log_length=length,
        log_chunks=chunks,
        bad=gaps,
        state_digest=_digest(data),
        log_tail=log_tail,
    )


def _as_requests(requests: Mapping[str, Request]) -> Requests:
    """A plain mapping of requests (a view built in memory) as open requests and closed shards."""
    shards: dict[str, dict[str, Request]] = {}
    for key, request in requests.items():
        if request.status not in OPEN:
            shards.setdefault(_shard(key), {})[key] = request
    open_now = {k: r for k, r in requests.items() if r.status in OPEN}
    return Requests(open_now, {name: "" for name in shards}, shards=shards)


def _log_files(
    view: RequestsView, new_log: Sequence[LogEntry], damaged: set[str], files: dict[str, bytes]
) -> tuple[Log, int, dict[int, str], bytes | None]:
    """The log chunks a transaction writes (into `files`), and the log, length, digests and newest chunk after.

    Append-only: a chunk is written when it gets new entries, or to set aside its unreadable lines (their bytes
    go to quarantine/); every readable entry keeps its `seq`, so its place never moves. Only the chunks written
    are read (a Job appending to the log reads its newest chunk, not the whole log)."""
    old = view.log
    length = new_log[-1].seq if new_log else view.last_seq
    chunks = dict(view.log_chunks)
    loaded = old.loaded_chunks() if isinstance(old, Log) else chunked(old)
    touched = {(e.seq - 1) // layout.LOG_CHUNK for e in new_log}
    touched |= {i for i in range(chunk_count(length)) if layout.log_chunk_path(i) in damaged}
    log_tail = None
    for index in sorted(touched):
        before = index < chunk_count(view.last_seq)  # a chunk this transaction starts holds nothing yet
        present = (old.chunk(index) if isinstance(old, Log) else loaded.get(index, [])) if before else []
        entries = [*present, *(e for e in new_log if (e.seq - 1) // layout.LOG_CHUNK == index)]
        data = "".join(_line(e) for e in entries).encode("utf-8")
        files[layout.log_chunk_path(index)] = data
        chunks[index] = _digest(data)
        loaded[index] = entries
        if index == chunk_count(length) - 1:
            log_tail = data
    load = old._load if isinstance(old, Log) else None
    return Log(length, load, loaded), length, chunks, log_tail


def _index(state_digest: str, renewed: Iterable[Request], txn: str) -> bytes:
    """`index.json`: which `state.json` is current, and the leases renewed since it was written."""
    body = {
        "format": layout.FORMAT,
        "state": state_digest,
        "renewed": [r.to_dict() for r in sorted(renewed, key=lambda r: r.request_id)],
        "txn": txn,  # every write changes this file, so a commit is never empty
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _read_index(fetch: Fetch) -> tuple[dict[str, Any], BadFile | None]:
    """`index.json` as a dict ({} when absent); a damaged one is reported and ignored (the next write replaces
    it), which costs at most the leases heartbeats renewed since the last state: lease expiry's slack covers it."""
    raw = fetch(layout.INDEX_FILE)
    if raw is None:
        return {}, None
    try:
        index = parse_record(dict, raw)
        if not isinstance(index.get("renewed", []), list):
            raise ValueError("`renewed` is not a list")
        return index, None
    except (ValueError, TypeError) as exc:
        return {}, BadFile(layout.INDEX_FILE, f"unreadable ({exc}); ignored, rewritten on the next write", raw)


def _renewed(view: RequestsView, records: Iterable[Any]) -> RequestsView:
    """`view` with the leases `index.json` renewed: each applies only to the same claim of a request that
    `state.json` still holds RUNNING (a renewal written before a crash cannot revive a finished request)."""
    renewed: dict[str, Request] = {}
    for data in records:
        try:
            request = Request.from_dict(data)
        except PARSE_ERRORS:
            continue
        current = view.requests.get(request.request_id)
        if (
            current is not None
            and current.status is Status.RUNNING
            and request.status is Status.RUNNING
            and current.attempts == request.attempts
            and current.lease is not None
            and request.lease is not None
            and current.lease.worker == request.lease.worker
        ):
            renewed[request.request_id] = request
    if not renewed:
        return view
    return replace(view, requests=_with_open(view.requests, renewed), renewals=renewed)


def _with_open(requests: Mapping[str, Request], changes: Mapping[str, Request]) -> Mapping[str, Request]:
    if isinstance(requests, Requests):
        return requests.with_open(changes)
    return {**requests, **changes}


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


@dataclass(frozen=True)
class ResultsWrite:
    """What one write to the results repo puts there: `files` to add, `deleted` paths, and the records shards as
    they are after it (`shards`, to seed a reader with)."""

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
    rewrite: Iterable[str] = (),
    has_legacy_table: Callable[[], bool] = lambda: False,
) -> ResultsWrite:
    """The files a finish writes to the results repo (not the card): each result and its predictions, the records
    shards they fall in, the table shards repeating those, and `pins.json`.

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
        updated.setdefault(_shard(result.request_id), {})[result.request_id] = result
    written = {_shard(r.request_id) for r, _ in results} | set(rewrite)
    for name in written:
        members = sorted(updated[name].values(), key=lambda r: r.request_id)
        files[layout.records_path(name)] = "".join(_line(r) for r in members).encode("utf-8")
    current = _read_pins(pins)
    whole = current is None or any("sets" not in entry for entry in current.values())
    table: Mapping[str, Mapping[str, Result]] = updated
    if whole:
        table = {**every(), **updated}
        new_pins = _pins_with({}, [r for members in table.values() for r in members.values()])
    else:
        new_pins = _pins_with(current or {}, [r for r, _ in results])
    columns = board_columns(_sets(new_pins))
    if not whole and columns != board_columns(_sets(current or {})):
        whole, table = True, {**every(), **updated}
    names = (set(table) | {layout.FIRST_TABLE_SHARD}) if whole else written
    for name in sorted(names):
        files[layout.table_path(name)] = table_shard(table.get(name, {}).values(), columns).encode("utf-8")
    if new_pins != current:
        files[layout.PINS_FILE] = (
            json.dumps(dict(sorted(new_pins.items())), ensure_ascii=False, indent=1) + "\n"
        ).encode()
    deleted = [layout.LEGACY_TABLE_FILE] if whole and has_legacy_table() else []
    return ResultsWrite(files, deleted, {name: updated[name] for name in written}, columns, whole)


def table_header(pins: bytes | None) -> list[str]:
    """The header every table shard has, from `pins.json` as stored (what the card declares to `datasets`)."""
    return board_columns(_sets(_read_pins(pins) or {}))


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
        known = entry.setdefault("sets", [])
        known += [name for name in result.datasets if name not in known]
    return pins


def _sets(pins: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    return {version: [str(n) for n in entry.get("sets", [])] for version, entry in pins.items()}


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


def render_repos(
    requests: Iterable[Request], results: Iterable[Result], log: Sequence[LogEntry]
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Both repos' files for a whole state at once (the benchmarks' seeding writes these)."""
    request_files, _ = requests_files(EMPTY, list(requests), list(log), None, "seed")
    written = results_files({}, [(r, {}) for r in results], None, dict)
    return request_files, written.files
