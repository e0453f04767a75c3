"""The requests repo's files <-> the store's view of the requests and the log, reading only what changed.

Layout (format 3; `openasr_core.layout` documents every file):
  `state.json`        the queue (one small `QueueEntry` per open request: its place and its status, attempts,
                      lease, progress, error), the digest of every open and closed shard and log chunk, the log's
                      length and chunk size, and the results commit. Small whatever the open requests carry.
  `open/<xx>.jsonl`   each open request as submitted (model, revision, submitter, facts, claims): what never
                      changes while it is open. Written when a request is submitted; a claim, a heartbeat or a
                      finish does not rewrite it, so a finish uploads neither the open requests nor their facts.
  `closed/<xx>.jsonl` FINISHED and FAILED requests, whole.
  `log/<nnnnnn>.jsonl` the append-only hash-chained log, `log_chunk` entries a chunk.
  `index.json`        which `state.json` is current, and the leases heartbeats renewed since.

A store written in format 2 (open requests whole in `state.json`, log chunks of 1,000) is read as it is and
written as format 3 by its next write: its open requests go to their shards then, its log keeps chunks of 1,000.

Crash safety on the local store (one file at a time): every file is written before `state.json`, and nothing a
state still names is ever taken out of a shard by the write that replaces that state: an open shard drops only
the lines of requests that neither the old nor the new state holds open (left over from earlier writes).

A backend hands `RequestsReader.read` a `fetch(path) -> bytes | None` bound to one version of the repo; the
reader fetches `state.json` only when `index.json` names another digest, then an open or closed shard or a log
chunk only when it is asked for and its digest changed. After a write the store primes the reader with the view
`requests_files` returned, so reading it back costs nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from openasr_core import layout
from openasr_core.history import recovered_request, replay
from openasr_core.records import OMIT_DEFAULT, Lease, LogEntry, Progress, Record, Request, Status
from openasr_core.store.bad_files import (
    PARSE_ERRORS,
    BadFile,
    checked_ids,
    parse_lines,
    parse_record,
    text_lines,
    with_safe_ids,
)
from openasr_core.store.repo_files import Fetch, Tail, digest_of, jsonl_line, shard_of

OPEN = (Status.PENDING, Status.RUNNING)
_R = TypeVar("_R")
#: The log chunk size of a store written in format 2.
FORMAT_2_LOG_CHUNK = 1000


class LayoutError(RuntimeError):
    """The repo is not in a layout this version reads (an older layout, or a damaged state file)."""


@dataclass(frozen=True)
class QueueEntry(Record):
    """What `state.json` keeps of an open request: its place in the queue (`submitted_at`, then the id) and what
    changes while it is open. Claims and lease expiry read these alone."""

    request_id: str
    submitted_at: str
    status: Status = field(default=Status.PENDING, metadata=OMIT_DEFAULT)
    attempts: int = field(default=0, metadata=OMIT_DEFAULT)
    lease: Lease | None = field(default=None, metadata=OMIT_DEFAULT)
    progress: Progress | None = field(default=None, metadata=OMIT_DEFAULT)
    error: str | None = field(default=None, metadata=OMIT_DEFAULT)

    @classmethod
    def of(cls, request: Request) -> QueueEntry:
        return cls(
            request_id=request.request_id,
            submitted_at=request.submitted_at,
            status=request.status,
            attempts=request.attempts,
            lease=request.lease,
            progress=request.progress,
            error=request.error,
        )

    def applied_to(self, submitted: Request) -> Request:
        """The request as it is now: what was submitted, with this entry's place, status, attempts, lease and so on
        (the queue is what orders it, so the request shows the queue's `submitted_at`)."""
        return submitted.replace(
            submitted_at=self.submitted_at,
            status=self.status,
            attempts=self.attempts,
            lease=self.lease,
            progress=self.progress,
            error=self.error,
        )


def _placeholder(entry: QueueEntry) -> Request:
    """An open request whose submission can be read nowhere (its shard line and its log event both lost): it
    keeps its place, and evaluating it fails with a message naming the missing model."""
    return entry.applied_to(
        Request(
            request_id=entry.request_id,
            model_id="",
            revision="",
            requested_revision="",
            precision="",
            submitter="unknown",
            submitted_at=entry.submitted_at,
        )
    )


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
    log_tail: bytes | None = None  # the newest chunk's bytes, as written (primes a reader's append-only reads)
    renewals: Mapping[str, Request] = field(default_factory=dict)  # leases renewed since, from `index.json`
    log_chunk: int = 0  # entries per log chunk as the state says; 0 for a new store (see `chunk_size`)

    @property
    def chunk_size(self) -> int:
        """Entries per log chunk: the state's (a format-2 store keeps 1,000), else this version's."""
        return self.log_chunk or layout.LOG_CHUNK

    @property
    def last_seq(self) -> int:
        """The `seq` of the last entry written, readable or not."""
        if self.log_length >= 0:
            return self.log_length
        last = self.log[-1] if self.log else None
        return last.seq if last is not None else 0

    def problems(self) -> list[BadFile]:
        """The damaged files met so far: the state's, and the shards' and log chunks' read since."""
        found = list(self.bad)
        requests = self.requests
        for part in (requests, getattr(requests, "open", None), self.log):
            found.extend(getattr(part, "bad", ()))
        return found


EMPTY = RequestsView(requests={}, log=[], log_length=0)


# --- the log's chunks --------------------------------------------------------------------------------------


def chunk_count(length: int, size: int) -> int:
    """How many log chunks of `size` entries hold entries `1..length`."""
    return (length + size - 1) // size


def chunked(log: Sequence[LogEntry], size: int) -> dict[int, list[LogEntry]]:
    """Log entries by the chunk their `seq` belongs in (`(seq - 1) // size`)."""
    chunks: dict[int, list[LogEntry]] = {}
    for entry in log:
        chunks.setdefault((entry.seq - 1) // size, []).append(entry)
    return chunks


def _missing_report(index: int, missing: Sequence[int]) -> str:
    shown = ", ".join(map(str, missing[:5])) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
    return f"no readable entry for seq {shown}; the hash chain breaks there"


def _gap(index: int, entries: Sequence[LogEntry], last: int, size: int) -> BadFile | None:
    """The report of a chunk whose seqs up to `last` are not all readable (a repaired chunk keeps its gap)."""
    present = {e.seq for e in entries}
    missing = [s for s in range(index * size + 1, last + 1) if s not in present]
    return BadFile(layout.log_chunk_path(index), _missing_report(index, missing), b"") if missing else None


@dataclass(frozen=True)
class _Chunk:
    """One parsed log chunk: the digest of its bytes, its readable entries, the last seq it was read up to, and
    what is wrong with it (None when nothing)."""

    digest: str
    entries: list[LogEntry]
    last: int
    bad: BadFile | None
    raw: bytes | None = None  # kept for the newest chunk only, so a reader fetches just what was appended

    def fresh(self, wanted: str | None, length: int, size: int) -> bool:
        if wanted is not None:
            return self.digest == wanted
        full = min(length, self.last - (self.last - 1) % size + size - 1)
        return self.bad is None and self.last >= full


class Log(Sequence[LogEntry]):
    """The readable log entries of one version, in `seq` order, a chunk read the first time it is needed: a
    transaction needs only the newest entry (`last`), the board all of them."""

    def __init__(
        self,
        length: int,
        load: Callable[[int], _Chunk] | None = None,
        chunks: Mapping[int, list[LogEntry]] | None = None,
        size: int = 0,
    ) -> None:
        self.length = length
        self.size = size or layout.LOG_CHUNK
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
        for index in reversed(range(chunk_count(self.length, self.size))):
            entries = self.chunk(index)
            if entries:
                return entries[-1]
        return None

    def find(self, seq: int) -> LogEntry | None:
        """The readable entry with this `seq`, if any (reads its one chunk)."""
        if not 1 <= seq <= self.length:
            return None
        return next((e for e in self.chunk((seq - 1) // self.size) if e.seq == seq), None)

    def _every(self) -> list[LogEntry]:
        if self._all is None:
            count = chunk_count(self.length, self.size)
            self._all = [entry for index in range(count) for entry in self.chunk(index)]
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


# --- open and closed requests ------------------------------------------------------------------------------

#: Reads one shard: (name, digest named by the state or None, where to report damage) -> requests by id.
ShardLoad = Callable[[str, str | None, list[BadFile]], Mapping[str, Request]]


class OpenRequests(Mapping[str, Request]):
    """The open requests of one version: their queue entries at hand, what each was submitted with read from
    its `open/<xx>.jsonl` shard the first time it is asked for. Claims and lease expiry read `queue` alone, so a
    Job claims and finishes without reading any open shard but its own request's."""

    def __init__(
        self,
        queue: Mapping[str, QueueEntry],
        digests: Mapping[str, str] | None = None,
        load: ShardLoad | None = None,
        submitted: Mapping[str, Mapping[str, Request]] | None = None,
        unsaved: Mapping[str, Request] | None = None,
        from_log: Callable[[str], Request | None] | None = None,
    ) -> None:
        self.queue = dict(queue)
        self.digests = dict(digests or {})  # shard -> digest of open/<shard>.jsonl
        self._load = load
        self._submitted: dict[str, Mapping[str, Request]] = dict(submitted or {})  # shard -> read or written
        self.unsaved = dict(unsaved or {})  # submissions in no open shard yet (format 2, or rebuilt from the log)
        self._from_log = from_log
        self.bad: list[BadFile] = []

    @classmethod
    def of(cls, requests: Mapping[str, Request]) -> OpenRequests:
        """Open requests built in memory (a format-2 state, a test, a state rebuilt from the log)."""
        return cls({k: QueueEntry.of(r) for k, r in requests.items()}, unsaved=requests)

    def shard(self, name: str) -> Mapping[str, Request]:
        """The submissions one open shard holds, read on first use."""
        if name not in self._submitted:
            digest = self.digests.get(name)
            found = self._load(name, digest, self.bad) if digest is not None and self._load is not None else {}
            self._submitted[name] = found
        return self._submitted[name]

    def loaded_shards(self) -> dict[str, Mapping[str, Request]]:
        return dict(self._submitted)

    def submitted(self, request_id: str) -> Request:
        """What the open request was submitted with; rebuilt from its `submitted` log event (and its shard marked
        for rewriting) when its shard has no line for it."""
        if request_id in self.unsaved:
            return self.unsaved[request_id]
        name = shard_of(request_id)
        found = self.shard(name).get(request_id)
        if found is not None:
            return found
        path = layout.open_path(name)
        rebuilt = self._from_log(request_id) if self._from_log is not None else None
        if rebuilt is not None:  # the log event's time is when the store wrote it, not the request's own
            rebuilt = rebuilt.replace(submitted_at=self.queue[request_id].submitted_at)
        problem = "rebuilt from its `submitted` log event" if rebuilt is not None else "and its log has none either"
        self.bad.append(BadFile(path, f"has no line for open request {request_id}; {problem}", b""))
        self.unsaved[request_id] = rebuilt or _placeholder(self.queue[request_id])
        return self.unsaved[request_id]

    def with_entries(self, changes: Mapping[str, Request]) -> OpenRequests:
        """The same version with some requests' entries replaced (renewed leases), sharing what was read."""
        queue = {**self.queue, **{k: QueueEntry.of(r) for k, r in changes.items()}}
        copy = OpenRequests(queue, self.digests, self._load, self._submitted, self.unsaved, self._from_log)
        copy.bad = self.bad
        return copy

    def __getitem__(self, key: str) -> Request:
        return self.queue[key].applied_to(self.submitted(key))

    def __contains__(self, key: object) -> bool:
        return key in self.queue

    def __iter__(self) -> Iterator[str]:
        return iter(self.queue)

    def __len__(self) -> int:
        return len(self.queue)


class Requests(Mapping[str, Request]):
    """Every request of one version of the requests repo: the open ones (`OpenRequests`), and a closed shard read
    the first time one of its requests (or all of them) is asked for. A Job claims, renews and finishes its own
    request without reading the 256 closed shards; the Space's board reads them all once and keeps them by
    digest. `state.json` is written last: where a closed shard written just before a crash disagrees, the queue
    wins."""

    def __init__(
        self,
        open_requests: OpenRequests | Mapping[str, Request],
        closed: Mapping[str, str],
        load: ShardLoad | None = None,
        shards: Mapping[str, Mapping[str, Request]] | None = None,
    ) -> None:
        self.open = open_requests if isinstance(open_requests, OpenRequests) else OpenRequests.of(open_requests)
        self.closed = dict(closed)  # shard -> digest of closed/<shard>.jsonl
        self._load = load
        self._shards: dict[str, Mapping[str, Request]] = dict(shards or {})
        self.bad: list[BadFile] = []  # damaged closed shards met so far

    def shard(self, name: str) -> Mapping[str, Request]:
        """The closed requests of one shard, read on first use."""
        if name not in self._shards:
            digest = self.closed.get(name)
            loaded = self._load(name, digest, self.bad) if digest is not None and self._load is not None else {}
            self._shards[name] = {k: r for k, r in loaded.items() if k not in self.open.queue}
        return self._shards[name]

    def loaded_shards(self) -> dict[str, Mapping[str, Request]]:
        return dict(self._shards)

    def closed_requests(self) -> Iterator[Request]:
        """Every FINISHED and FAILED request (reads the closed shards, none of the open ones)."""
        for name in sorted(self.closed):
            yield from self.shard(name).values()

    def with_open(self, changes: Mapping[str, Request]) -> Requests:
        """The same version with some open requests replaced (renewed leases), sharing what was read."""
        requests = Requests(self.open.with_entries(changes), self.closed, self._load, self._shards)
        requests.bad = self.bad
        return requests

    def __getitem__(self, key: str) -> Request:
        if key in self.open.queue:
            return self.open[key]
        try:
            name = shard_of(key)
        except ValueError:  # not a request id the layout accepts: no such request
            raise KeyError(key) from None
        found = self.shard(name).get(key)
        if found is None:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[str]:
        yield from self.open.queue
        for name in sorted(self.closed):
            yield from self.shard(name)

    def __len__(self) -> int:
        return len(self.open) + sum(len(self.shard(name)) for name in self.closed)


def _accepted(request_id: str) -> bool:
    """Whether the layout accepts this request id (a log line naming `../x` rebuilds no request)."""
    try:
        layout.safe_name(request_id, "request id")
    except ValueError:
        return False
    return True


def _submission_from_log(log: Sequence[LogEntry], request_id: str) -> Request | None:
    """An open request rebuilt from its log history (reads the whole log: only when its open shard lost it)."""
    replayed = replay(e for e in log if e.request_id == request_id).get(request_id)
    return recovered_request(replayed) if replayed is not None else None


@dataclass(frozen=True)
class _State:
    """`state.json` parsed: what `RequestsReader` binds to the repo's other files."""

    open: OpenRequests
    closed: dict[str, str]
    log_length: int
    log_chunk: int
    log_chunks: dict[int, str] | None
    results_commit: str | None


def _safe(parse: Callable[[Any], _R], items: Iterable[Any], refused: list[str]) -> list[_R]:
    """Each item parsed; one whose id the layout refuses (`../x`) is left out and named in `refused`."""
    kept: list[_R] = []
    for item in items:
        try:
            kept.append(checked_ids(parse(item)))
        except layout.UnsafeName as exc:
            refused.append(str(exc))
    return kept


def _parse_state(state: dict[str, Any], refused: list[str]) -> _State:
    """Format 3, or format 2 (open requests whole, log chunks of 1,000) read as it is. An open request whose id
    the layout refuses is left out and named in `refused` (the state is reported, and rewritten without it)."""
    version = state.get("format")
    if version == 2:
        opened = OpenRequests.of({r.request_id: r for r in _safe(Request.from_dict, state["open"], refused)})
        size = FORMAT_2_LOG_CHUNK
    elif version == layout.FORMAT:
        queue = _safe(QueueEntry.from_dict, state["queue"], refused)
        opened = OpenRequests({e.request_id: e for e in queue}, {str(k): str(v) for k, v in state["open"].items()})
        size = int(state["log_chunk"])
        if size < 1:
            raise ValueError(f"log_chunk {size} is not a positive number")
    else:
        raise LayoutError(f"{layout.STATE_FILE} has format {version!r}, expected 2 or {layout.FORMAT}")
    return _State(
        open=opened,
        closed={str(k): str(v) for k, v in dict(state["closed"]).items()},
        log_length=int(state["log_length"]),
        log_chunk=size,
        log_chunks={int(i): str(d) for i, d in state["log_chunks"].items()} if "log_chunks" in state else None,
        results_commit=state.get("results_commit"),
    )


class RequestsReader:
    """Reads the requests repo, caching open and closed shards by digest and complete log chunks forever.

    A damaged file is read around and reported in `RequestsView.bad` (see `openasr_core.store.bad_files`); a damaged
    `state.json` is rebuilt from the log and the closed shards the log points to (`recover`)."""

    def __init__(self) -> None:
        self._shards: dict[str, tuple[str, dict[str, Request], BadFile | None]] = {}  # by path
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
        refused: list[str] = []
        try:
            state = _parse_state(parse_record(dict, raw), refused)
        except LayoutError:
            raise
        except PARSE_ERRORS as exc:
            return self.recover(fetch, BadFile(layout.STATE_FILE, f"unreadable ({exc}); rebuilt from the log", raw))
        bad = (BadFile(layout.STATE_FILE, "left out: " + "; ".join(refused[:3]), raw),) if refused else ()
        view = RequestsView(
            requests=Requests(state.open, state.closed),
            log=Log(state.log_length, size=state.log_chunk),
            closed=state.closed,
            results_commit=state.results_commit,
            log_length=state.log_length,
            log_chunks=dict(state.log_chunks or {}),
            state_digest=digest_of(raw),
            log_chunk=state.log_chunk,
            bad=bad,
        )
        return self._bind(view, fetch, tail)

    def _bind(self, view: RequestsView, fetch: Fetch, tail: Tail | None) -> RequestsView:
        """`view` whose shards and log chunks not read yet are read through `fetch` (this version)."""
        requests, log = view.requests, view.log
        assert isinstance(requests, Requests) and isinstance(log, Log)
        length, digests, size = view.last_seq, dict(view.log_chunks), view.chunk_size
        count = chunk_count(length, size)
        lines = Log(
            length,
            lambda index: self._log_chunk(fetch, index, length, digests, count, size, tail),
            log.loaded_chunks(),
            size,
        )
        was = requests.open
        opened = OpenRequests(
            was.queue,
            was.digests,
            lambda name, digest, bad: self._shard(fetch, layout.open_path(name), digest, bad),
            was.loaded_shards(),
            was.unsaved,
            lambda request_id: _submission_from_log(lines, request_id),
        )
        bound = Requests(
            opened,
            requests.closed,
            lambda name, digest, bad: self._shard(fetch, layout.closed_path(name), digest, bad),
            requests.loaded_shards(),
        )
        bound.bad, lines.bad, opened.bad = list(requests.bad), list(log.bad), list(was.bad)  # still reported
        return replace(view, requests=bound, log=lines)

    def _shard(self, fetch: Fetch, path: str, digest: str | None, bad: list[BadFile]) -> dict[str, Request]:
        """An open or closed shard: requests by id, cached while the state names the same digest."""
        cached = self._shards.get(path)
        if cached is None or cached[0] != digest:
            raw = fetch(path)
            found: list[BadFile] = []
            if raw is None:
                found.append(BadFile(path, f"named in {layout.STATE_FILE} but missing", b""))
                raw = b""
            records = parse_lines(with_safe_ids(Request.from_dict), text_lines(raw), path, found, raw)
            parsed = {r.request_id: r for r in records}
            if digest_of(raw) != digest and not found:  # written after the state that names it (a crash window)
                return parsed
            cached = (digest or "", parsed, found[0] if found else None)
            self._shards[path] = cached
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
        size: int,
        tail: Tail | None = None,
    ) -> _Chunk:
        """One chunk of the log up to `length`. A cached chunk is used while the state names the same digest for
        it; a state from before digests were recorded (`digests` None) reuses complete chunks. The log is
        append-only, so the newest chunk is read from where the last read ended (`tail`), its digest checked,
        and fetched whole only when it was rewritten (a repair)."""
        wanted = digests.get(index) if digests is not None else None
        chunk = self._chunks.get(index)
        if chunk is not None and chunk.fresh(wanted, length, size):
            return chunk
        appended = self._appended(chunk, index, wanted, tail)
        return self._chunk(fetch, index, length, size, wanted, raw=appended, keep_raw=index == count - 1)

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
        return joined if digest_of(joined) == wanted else None

    def _chunk(
        self,
        fetch: Fetch,
        index: int,
        length: int,
        size: int,
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
        first, last = index * size + 1, min((index + 1) * size, length)
        by_seq: dict[int, LogEntry] = {}
        for entry in parsed:
            if first <= entry.seq <= last:
                by_seq.setdefault(entry.seq, entry)
        problems = [b.problem for b in found]
        missing = [seq for seq in range(first, last + 1) if seq not in by_seq]
        if missing:
            problems.append(_missing_report(index, missing))
        report = BadFile(path, "; ".join(problems), raw if found else b"") if problems else None
        entries = [by_seq[seq] for seq in sorted(by_seq)]
        chunk = _Chunk(digest_of(raw), entries, last, report, raw if keep_raw else None)
        if wanted is None or chunk.digest == wanted:
            self._chunks[index] = chunk
        return chunk

    def recover(self, fetch: Fetch, damaged: BadFile) -> RequestsView:
        """The view rebuilt without `state.json`: the log chunks in order, each request's state replayed from
        the log, closed requests taken from their shards where those hold them (they keep the model facts)."""
        bad = [damaged]
        by_seq: dict[int, LogEntry] = {}
        chunks: dict[int, str] = {}
        first_chunk_last = 0
        index = 0
        while (raw := fetch(layout.log_chunk_path(index))) is not None:
            path = layout.log_chunk_path(index)
            entries = parse_lines(LogEntry.from_dict, text_lines(raw), path, bad, raw)
            if index == 0:
                first_chunk_last = max((e.seq for e in entries), default=0)
            for entry in entries:
                by_seq.setdefault(entry.seq, entry)
            chunks[index] = digest_of(raw)
            index += 1
        log = [by_seq[seq] for seq in sorted(by_seq)]
        size = FORMAT_2_LOG_CHUNK if first_chunk_last > layout.LOG_CHUNK else layout.LOG_CHUNK
        requests = {
            i: r for i, state in replay(log).items() if (r := recovered_request(state)) is not None and _accepted(i)
        }
        closed: dict[str, str] = {}
        for name in sorted({shard_of(i) for i, r in requests.items() if r.status not in OPEN}):
            raw = fetch(layout.closed_path(name))
            if raw is None:
                continue
            closed[name] = digest_of(raw)
            for record in parse_lines(
                with_safe_ids(Request.from_dict), text_lines(raw), layout.closed_path(name), bad, raw
            ):
                if record.request_id in requests and requests[record.request_id].status is record.status:
                    requests[record.request_id] = record
        self._chunks.clear()
        length = log[-1].seq if log else 0
        shards: dict[str, dict[str, Request]] = {}
        for i, r in requests.items():
            if r.status not in OPEN:
                shards.setdefault(shard_of(i), {})[i] = r
        return RequestsView(
            requests=Requests(
                {i: r for i, r in requests.items() if r.status in OPEN},
                closed,
                shards={n: shards.get(n, {}) for n in closed},
            ),
            log=Log(length, chunks=chunked(log, size), size=size),
            closed=closed,
            bad=tuple(bad),
            log_length=length,
            log_chunks=chunks,
            log_chunk=size,
        )

    def prime(self, view: RequestsView) -> None:
        """Remember what a write just produced, so reading it back fetches nothing."""
        if view.state_digest is not None:
            self._state = replace(view, renewals={})
        requests = view.requests
        if isinstance(requests, Requests):
            for name, members in requests.loaded_shards().items():
                if name in view.closed:
                    self._shards[layout.closed_path(name)] = (view.closed[name], dict(members), None)
            for name, members in requests.open.loaded_shards().items():
                if name in requests.open.digests:
                    self._shards[layout.open_path(name)] = (requests.open.digests[name], dict(members), None)
        length, size = view.last_seq, view.chunk_size
        newest = chunk_count(length, size) - 1
        loaded = view.log.loaded_chunks() if isinstance(view.log, Log) else chunked(view.log, size)
        for index, entries in loaded.items():
            if index in view.log_chunks:
                last = min((index + 1) * size, length)
                raw = view.log_tail if index == newest else None
                gap = _gap(index, entries, last, size)
                self._chunks[index] = _Chunk(view.log_chunks[index], entries, last, gap, raw)


# --- writing -----------------------------------------------------------------------------------------------


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
    whatever the number of open requests). Any other writes `state.json` (the queue: about 80 bytes an open
    request), the open shards of new submissions, the closed shards of requests that closed, and the log chunks
    that got entries; damaged files it read are rewritten and their bytes set aside in `quarantine/`."""
    if renewals and not changed and not new_log and view.state_digest is not None and not view.problems():
        renewed = {**view.renewals, **{r.request_id: r for r in renewals}}
        files = {layout.INDEX_FILE: _index(view.state_digest, renewed.values(), txn)}
        return files, replace(view, requests=_with_open(view.requests, renewed), renewals=renewed)
    changed = [*changed, *(r for r in renewals if r.request_id not in {c.request_id for c in changed})]
    current = view.requests if isinstance(view.requests, Requests) else Requests(_as_open(view.requests), {})
    queue, submitted, leaving = _queue_after(current, changed)
    _read_rewritten(view, current, leaving, new_log)
    problems = view.problems()
    files: dict[str, bytes] = {b.quarantine_path: b.data for b in problems if b.data}
    damaged = {b.path for b in problems}
    closed, shards = _closed_files(current, queue, leaving, damaged, files)
    opened = _open_files(current.open, queue, submitted, damaged, files)
    log, length, chunks, log_tail = _log_files(view, new_log, {b.path for b in problems if b.data}, files)
    order = sorted(queue, key=lambda k: (queue[k].submitted_at, k))
    state = {
        "format": layout.FORMAT,
        "queue": [queue[k].to_dict() for k in order],
        "open": dict(sorted(opened.digests.items())),
        "closed": dict(sorted(closed.items())),
        "log_length": length,
        "log_chunk": view.chunk_size,
        "log_chunks": {str(i): d for i, d in sorted(chunks.items())},
        "results_commit": results_commit,
        "txn": txn,  # every write changes state.json, so a commit is never empty
    }
    data = json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    files[layout.STATE_FILE] = data
    files[layout.INDEX_FILE] = _index(digest_of(data), (), txn)
    gaps = tuple(b for b in problems if not b.data and b.path not in files)  # a gap stays reported
    return files, RequestsView(
        requests=Requests(opened, closed, current._load, shards),
        log=log,
        closed=closed,
        results_commit=results_commit,
        log_length=length,
        log_chunks=chunks,
        bad=gaps,
        state_digest=digest_of(data),
        log_tail=log_tail,
        log_chunk=view.chunk_size,
    )


def _read_rewritten(view: RequestsView, current: Requests, leaving: Iterable[str], new_log: Sequence[LogEntry]) -> None:
    """Read the closed shards and log chunks a write rewrites before planning it, so the damage found there is
    repaired by that write."""
    for name in leaving:
        current.shard(name)
    if isinstance(view.log, Log):
        for index in {(e.seq - 1) // view.chunk_size for e in new_log}:
            if index < chunk_count(view.last_seq, view.chunk_size):
                view.log.chunk(index)


def _queue_after(
    current: Requests, changed: Sequence[Request]
) -> tuple[dict[str, QueueEntry], dict[str, Request], dict[str, dict[str, Request]]]:
    """The queue once `changed` is applied, the submissions to store in open shards (new ones, and those no
    shard holds yet), and the requests that close, by closed shard."""
    queue = dict(current.open.queue)
    submitted: dict[str, Request] = {}
    leaving: dict[str, dict[str, Request]] = {}
    for request in changed:
        if request.status in OPEN:
            if request.request_id not in queue:
                submitted[request.request_id] = request
            queue[request.request_id] = QueueEntry.of(request)
        else:
            queue.pop(request.request_id, None)
            leaving.setdefault(shard_of(request.request_id), {})[request.request_id] = request
    for request_id, request in current.open.unsaved.items():
        if request_id in queue:
            submitted.setdefault(request_id, request)
    return queue, submitted, leaving


def _closed_files(
    current: Requests,
    queue: Mapping[str, QueueEntry],
    leaving: Mapping[str, Mapping[str, Request]],
    damaged: set[str],
    files: dict[str, bytes],
) -> tuple[dict[str, str], dict[str, Mapping[str, Request]]]:
    """The closed shards that change (requests closing, or damaged ones rewritten), into `files`; the digests and
    shards after."""
    closed = dict(current.closed)
    shards = dict(current.loaded_shards())
    for name in sorted({n for n in closed if layout.closed_path(n) in damaged} | set(leaving)):
        members = {**current.shard(name), **leaving.get(name, {})}
        members = {k: r for k, r in members.items() if k not in queue}
        data = "".join(jsonl_line(members[k]) for k in sorted(members)).encode("utf-8")
        files[layout.closed_path(name)] = data
        closed[name] = digest_of(data)
        shards[name] = members
    return closed, shards


def _open_files(
    opened: OpenRequests,
    queue: Mapping[str, QueueEntry],
    submitted: Mapping[str, Request],
    damaged: set[str],
    files: dict[str, bytes],
) -> OpenRequests:
    """The open shards that change (new submissions, or damaged ones rewritten), into `files`; the open requests
    after. A shard keeps every line the old or the new queue names (a crash before `state.json` is written leaves
    the old state readable) and drops those neither does."""
    digests = dict(opened.digests)
    loaded = dict(opened.loaded_shards())
    names = {shard_of(k) for k in submitted} | {n for n in digests if layout.open_path(n) in damaged}
    for name in sorted(names):
        members = {**opened.shard(name), **{k: r for k, r in submitted.items() if shard_of(k) == name}}
        members = {k: r for k, r in members.items() if k in queue or k in opened.queue}
        data = "".join(jsonl_line(members[k]) for k in sorted(members)).encode("utf-8")
        files[layout.open_path(name)] = data
        digests[name] = digest_of(data)
        loaded[name] = members
    remembered = {k: r for k, r in opened.unsaved.items() if k in queue and shard_of(k) not in names}
    return OpenRequests(queue, digests, opened._load, loaded, remembered, opened._from_log)


def _as_open(requests: Mapping[str, Request]) -> dict[str, Request]:
    """The open requests of a plain mapping (a view built in memory)."""
    return {k: r for k, r in requests.items() if r.status in OPEN}


def _log_files(
    view: RequestsView, new_log: Sequence[LogEntry], damaged: set[str], files: dict[str, bytes]
) -> tuple[Log, int, dict[int, str], bytes | None]:
    """The log chunks a transaction writes (into `files`), and the log, length, digests and newest chunk after.

    Append-only: a chunk is written when it gets new entries, or to set aside its unreadable lines (their bytes
    go to quarantine/); every readable entry keeps its `seq`, so its place never moves. Only the chunks written
    are read (a Job appending to the log reads its newest chunk, not the whole log)."""
    old, size = view.log, view.chunk_size
    length = new_log[-1].seq if new_log else view.last_seq
    chunks = dict(view.log_chunks)
    loaded = old.loaded_chunks() if isinstance(old, Log) else chunked(old, size)
    touched = {(e.seq - 1) // size for e in new_log}
    touched |= {i for i in range(chunk_count(length, size)) if layout.log_chunk_path(i) in damaged}
    log_tail = None
    for index in sorted(touched):
        before = index < chunk_count(view.last_seq, size)  # a chunk this transaction starts holds nothing yet
        present = (old.chunk(index) if isinstance(old, Log) else loaded.get(index, [])) if before else []
        entries = [*present, *(e for e in new_log if (e.seq - 1) // size == index)]
        data = "".join(jsonl_line(e) for e in entries).encode("utf-8")
        files[layout.log_chunk_path(index)] = data
        chunks[index] = digest_of(data)
        loaded[index] = entries
        if index == chunk_count(length, size) - 1:
            log_tail = data
    load = old._load if isinstance(old, Log) else None
    return Log(length, load, loaded, size), length, chunks, log_tail


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
    queue = getattr(getattr(view.requests, "open", None), "queue", None)
    renewed: dict[str, Request] = {}
    for data in records:
        try:
            request = Request.from_dict(data)
        except PARSE_ERRORS:
            continue
        current = queue.get(request.request_id) if queue is not None else view.requests.get(request.request_id)
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
