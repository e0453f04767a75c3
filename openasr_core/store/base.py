"""The store: requests, results, predictions and the public log in two dataset repos, and the request lifecycle.

One `Store` serves the local folder and the Hub datasets alike: both hold the same files (`openasr_core.layout`)
and are reached through the same small port (`openasr_core.store.repo.Repo`). Every lifecycle rule (who may claim,
lease expiry, attempts, the log chain, exactly-once finishing) and every repair lives here once, over what was
read; `openasr_core.store.repo_io` reads and commits the repos.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from openasr_core import layout
from openasr_core.audit_events import (
    AUDIT_DROPPED,
    AUDIT_EVENTS,
    AUDIT_PROGRESS_EVENTS,
    AUDIT_REQUESTED,
    open_audit_requests,
)
from openasr_core.eventlog import ChainCheck, next_entry, verify_chain
from openasr_core.history import submission_detail
from openasr_core.records import (
    THROUGHPUT_PUBLISHED,
    AuditRecord,
    EvalSetSource,
    Lease,
    LogEntry,
    PredictionRow,
    Progress,
    Request,
    Result,
    Status,
    ThroughputResult,
    parse_time,
    read_jsonl,
)
from openasr_core.signing import audit_hash, throughput_hash
from openasr_core.store.bad_files import log_damaged
from openasr_core.store.errors import (
    Conflict,
    LeaseLost,
    Refused,
    StoreError,
    StoreUnavailable,
    ThroughputTaken,
)
from openasr_core.store.repo import LATEST, Repo
from openasr_core.store.repo_files import NoRendering, Renderer, read_pins, throughput_files, throughput_records
from openasr_core.store.repo_io import Read, RepoIO
from openasr_core.store.requests_repo import QueueEntry
from openasr_core.throughput_runs import (
    THROUGHPUT_DROPPED,
    THROUGHPUT_FAILED,
    THROUGHPUT_RENEWED,
    THROUGHPUT_STARTED,
    owed_run,
)

logger = logging.getLogger(__name__)
#: What a throughput record's own commit renders: no table (`refresh_throughput_table` writes it after the event).
NO_TABLE = NoRendering()

#: Its own names; the errors it raises live in `openasr_core.store.errors`, and the package re-exports both.
__all__ = ["Changes", "Clock", "Snapshot", "Store", "StoreState"]

_T = TypeVar("_T")


@dataclass(frozen=True)
class StoreState:
    """What a transaction sees: every request, which results are stored, and the whole log.

    `result_ids` answers `id in result_ids`; the results repo is asked only when lease expiry needs it.
    `log_length` is the `seq` of the last entry written, even when that entry is unreadable (damaged): the next
    entry follows it, so no `seq` is ever given twice."""

    requests: Mapping[str, Request]
    result_ids: Container[str]
    log: Sequence[LogEntry]
    log_length: int = -1  # -1: the last readable entry's seq

    def open_requests(self) -> Mapping[str, Request]:
        """The PENDING and RUNNING requests, without reading any closed one (a store's lazy mapping keeps them
        at hand as `open`)."""
        held = getattr(self.requests, "open", None)
        if held is not None:
            return held
        return {k: r for k, r in self.requests.items() if r.status in (Status.PENDING, Status.RUNNING)}

    def queue(self) -> Mapping[str, QueueEntry]:
        """The open requests' queue entries (status, attempts, lease, place): what scheduling reads, without
        reading what each request was submitted with."""
        held = getattr(getattr(self.requests, "open", None), "queue", None)
        if held is not None:
            return held
        return {k: QueueEntry.of(r) for k, r in self.open_requests().items()}


@dataclass
class Changes:
    """What a transaction writes, all or nothing: request files, results with predictions, new log lines.

    `renewals` are RUNNING requests whose lease (and progress) a heartbeat renewed: nothing else about them
    changed, so a backend may write them to a small file of their own instead of every open request."""

    requests: list[Request] = field(default_factory=list)
    results: list[tuple[Result, Mapping[str, Sequence[PredictionRow]]]] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    audits: list[AuditRecord] = field(default_factory=list)
    renewals: list[Request] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.requests or self.results or self.log or self.audits or self.renewals)


@dataclass(frozen=True)
class Snapshot:
    """One consistent read for the Space: the table, the queue and the log all come from it."""

    requests: Mapping[str, Request]
    results: Mapping[str, Result]
    log: Sequence[LogEntry]
    version: str
    audits: Sequence[AuditRecord] = ()  # the records the log's audit events name (all of them if the log is damaged)
    damaged: Sequence[str] = ()  # damaged files read around: "path: what is wrong" (Queue/Log pages show them)
    log_length: int = -1  # the seq of the last entry written, readable or not (-1: the readable entries' count)

    def published_audits(self) -> list[AuditRecord]:
        """Audit records whose `audit_passed`/`audit_failed` event is in the log with their exact hash, oldest first.

        The record is written before its log line; one left by a process killed in between is not shown, and
        one changed after its event was written is not shown either (`verify` reports it).
        """
        logged = {e.detail.get("audit_sha256") for e in self.log if e.event in AUDIT_EVENTS}
        return sorted((a for a in self.audits if audit_hash(a) in logged), key=lambda a: (a.finished_at, a.audit_id))

    def finished_results(self) -> list[Result]:
        """Results whose request is FINISHED: a result left by a worker that died mid-write is not shown."""
        return [
            result
            for request_id, result in self.results.items()
            if (request := self.requests.get(request_id)) is not None and request.status is Status.FINISHED
        ]

    def verify_log(self) -> ChainCheck:
        """The chain of the readable entries, and that none is missing at the end (a truncated newest chunk)."""
        check = verify_chain(self.log)
        last = self.log[-1].seq if self.log else 0
        if check.ok and self.log_length > last:
            missing = f"{last + 1}" + (f" to {self.log_length}" if self.log_length > last + 1 else "")
            return replace(check, ok=False, first_bad_seq=last + 1, reason=f"entries {missing} cannot be read")
        return check


def _after(now: datetime, seconds: float) -> str:
    return (now + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wall_clock() -> datetime:
    """The current time, aware and in UTC (the default clock of every store)."""
    return datetime.now(UTC)


Clock = Callable[[], datetime]
#: The first byte range a predictions preview asks for (200 rows of a typical eval set hold about 40 KB).
PREVIEW_BYTES = 64 * 1024


class Store(RepoIO):
    """Requests, results, predictions and the public log in a requests repo and a results repo (`Repo`s: two
    folders, or two Hub datasets); `render` makes the derived files results commits carry (card, tables).

    `clock` (an aware UTC datetime) stamps leases and log entries, and decides expiry; tests move it instead of
    sleeping. `sleep` waits between conflict retries.
    """

    #: How often a transaction is retried after a `Conflict` before giving up.
    max_conflict_retries = 8
    #: Whether audit records are stored; a store that does not must refuse audits, not drop them.
    writes_audits = True
    #: sha256 of the throughput records a `throughput_published` event vouches for, as last read from the log.
    _vouched_throughput: frozenset[str] = frozenset()
    clock: Clock = staticmethod(wall_clock)
    sleep: Callable[[float], None] = staticmethod(time.sleep)

    def __init__(
        self, requests: Repo, results: Repo, render: Renderer | None = None, clock: Clock | None = None
    ) -> None:
        super().__init__(requests, results, render)
        if clock is not None:
            self.clock = clock
        # Conflicts between processes are detected by the commit's parent; this lock only spares threads of one
        # process from racing each other into pointless conflicts.
        self._lock = threading.RLock()

    def _now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise StoreError("the store's clock must return an aware datetime (UTC)")
        return now.astimezone(UTC)

    # --- reading -------------------------------------------------------------------------------------

    def _state(self, read: Read) -> StoreState:
        view = read.view
        return StoreState(requests=view.requests, result_ids=read.stored, log=view.log, log_length=view.last_seq)

    def _current_log(self) -> Sequence[LogEntry]:
        """The log at the requests repo's head (read under the repo's lock: a folder is written a file at a time)."""
        with self.requests.exclusive():
            return self._view(self.requests.head()).log

    def snapshot(self) -> Snapshot:
        """Everything the Space shows, in one read (one head request when nothing moved, never a call per file)."""
        with self.requests.exclusive():
            head = self.requests.head()
            view = self._view(head)
            revision = self._results_revision(view)
            finished = [i for i, r in view.requests.items() if r.status is Status.FINISHED]  # reads every shard
            log = list(view.log)  # and every chunk: the board shows them all
            bad = view.problems()
            results: dict[str, Result] = {}
            audits: list[AuditRecord] = []
            if revision:
                fetch = self._fetcher(self.results, revision)
                results = self._results_reader.read(fetch, revision, finished, every_shard=not self.results.snapshots)
                audits = self._audits_reader.read(fetch, log, bad, every=log_damaged(bad))
                bad.extend(self._results_reader.bad_files())
        return Snapshot(
            requests=view.requests,
            results=results,
            log=log,
            version=f"{head}:{revision}",
            audits=audits,
            damaged=tuple(str(b) for b in bad),
            log_length=view.last_seq,
        )

    def version_sources(self, version: str) -> list[EvalSetSource]:
        """The eval-set sources of board `version`'s finished results, oldest first: the first one that streamed
        a Hub set pins its data revision for the whole version (`evaluator.eval_sets.pins_from_sources`). From
        `pins.json` (one read); a board written before it existed is read in full once, and gets the file with
        its next result."""
        pins = read_pins(self.results.read(layout.PINS_FILE, self.results.head()))
        if pins is not None:
            return pins.get(version, [])
        finished = [r for r in self.snapshot().finished_results() if r.leaderboard_version == version]
        return [s for r in sorted(finished, key=lambda r: r.finished_at) for s in r.eval_sets]

    def result(self, request_id: str) -> Result | None:
        """One stored result, read from its own file (the detail page and `verify`); None if there is none."""
        raw = self.results.read(layout.result_path(request_id), LATEST)
        return Result.from_json(raw) if raw is not None else None

    def predictions(self, request_id: str, eval_set: str, limit: int | None = None) -> list[PredictionRow]:
        """The raw predictions of one finished request on one eval set. With `limit`, only the start of the file
        is read (a byte range, grown until it holds `limit` whole lines or the whole file): the detail page
        previews 200 rows of a file that may hold megabytes."""
        path = layout.predictions_path(request_id, eval_set)
        size = PREVIEW_BYTES
        while True:
            data = self.results.read(path, LATEST, first_bytes=size if limit else None)
            if data is None:
                raise FileNotFoundError(
                    f"no predictions for request {request_id} on eval set {eval_set} in {self.results.name}"
                )
            whole = limit is None or len(data) != size  # shorter: the whole file; longer: the range was ignored
            lines = data.decode("utf-8", errors="replace").splitlines(keepends=True)
            complete = lines if whole else [line for line in lines if line.endswith("\n")]
            if whole or len(complete) > limit:  # type: ignore[operator]
                return read_jsonl(PredictionRow, "".join(complete))[:limit]
            size *= 4

    def predictions_url(self, request_id: str, eval_set: str) -> str:
        """Where a person can open those predictions (a file path locally, a Hub URL in production)."""
        return self.results.url(layout.predictions_path(request_id, eval_set))

    # --- the dataset card --------------------------------------------------------------------------

    def on_start(self) -> None:
        """The Space's start: the results repo gets its card (the `configs` that `load_dataset` reads, the public
        key) and an empty file for every table the card declares, when it lacks them; `throughput.csv` as the
        log vouches for it (a crash can leave it one publication behind)."""
        self.publish_card()
        self.refresh_throughput_table()

    def publish_card(self, force: bool = False) -> bool:
        """Write the card (and the tables it declares, when missing) to the results repo now, as the renderer
        makes them; True if a commit was made. `force=True` replaces a card that publishes another key (a
        deliberate key rotation)."""
        for _ in range(self.max_conflict_retries):
            head = functools.cache(self.results.head)  # asked only if the renderer reads the repo at all
            files = self.render.start_files(lambda path, head=head: self.results.read(path, head()), force)
            if not files:
                return False
            try:
                self._commit(self.results, files, head(), "Update the dataset card")
                return True
            except Conflict:
                continue
        raise StoreError(f"{self.results.name} kept changing while publishing the card; try again later")

    # --- the throughput track (R14): its own folders, never part of the snapshot's results ----------

    def throughput_results(self) -> dict[str, ThroughputResult]:
        """The throughput records the public log vouches for, by request id (read apart from `snapshot()` on
        purpose): each needs a `throughput_published` event naming its sha256. A record whose publication was cut
        off between the record and its event (a crash, a SIGTERM) is not shown; the next run publishes it whole."""
        records = throughput_records(self._throughput_shards(self.results.head()))
        hashes = {k: throughput_hash(r) for k, r in records.items()}
        vouched = self._vouched_throughput
        if any(h not in vouched for h in hashes.values()):  # the log is read only when a record is new to us
            logged = (
                str(e.detail.get("throughput_sha256")) for e in self._current_log() if e.event == THROUGHPUT_PUBLISHED
            )
            vouched = self._vouched_throughput = frozenset(logged)  # once logged, an event stays in the log
        return {k: r for k, r in records.items() if hashes[k] in vouched}

    @staticmethod
    def throughput_results_from(shards: Mapping[str, bytes]) -> dict[str, ThroughputResult]:
        """The records of these shards (shard name -> stored bytes), by request id."""
        return throughput_records(shards)

    def publish_throughput(
        self,
        result: ThroughputResult,
        predictions: Mapping[str, Sequence[PredictionRow]],
        actor: str = "evaluator",
        worker: str | None = None,
    ) -> LogEntry:
        """Store a throughput record with its predictions and its records shard in one step (one commit, retried
        on a concurrent commit), then log a public `throughput_published` event carrying the record's sha256
        (`verify` checks the two agree), then `throughput.csv` with it (`refresh_throughput_table`). Whole or
        absent: until the event is written the record is residue that nothing shows (`throughput_results`, the
        table), and the next attempt publishes it again.

        Only for a request whose batch-one evaluation finished: the queue runs the throughput track after it.
        Idempotent: when the log already vouches for this very record, that event is returned and nothing is
        written. `worker` (the attempt's, from its `throughput_started`) must still hold the run: one whose lease
        another worker took over publishes nothing (`ThroughputTaken`)."""
        with self._lock, self.requests.exclusive():  # the requests and the log: no results are read for this check
            done = _throughput_publishable(self._state(self._read()), result, worker)
        if done is not None:
            return done
        self._store_throughput(result, predictions)
        return self.complete_throughput(result, actor, worker)

    def _store_throughput(self, result: ThroughputResult, predictions: Mapping[str, Sequence[PredictionRow]]) -> None:
        """One results commit with the record, its predictions, its records shard and the throughput table, on top
        of the revision the shards were read at (read again and rebuilt on a conflict)."""
        for _ in range(self.max_conflict_retries):
            head = self.results.head()
            files = throughput_files(self._throughput_shards(head), result, predictions, NO_TABLE)
            try:
                self._commit(self.results, files, head, f"Throughput {result.request_id}")
                return
            except Conflict:
                continue
        raise StoreError(f"the results repo kept changing under us ({self.max_conflict_retries} conflicts)")

    def complete_throughput(self, result: ThroughputResult, actor: str, worker: str | None) -> LogEntry:
        """Log `throughput_published` for a record already stored whole (what `publish_throughput` ends with, and
        how an attempt finishes a publication cut off before its event: `throughput_residue`), unless the log
        vouches for it already."""
        detail = {
            "throughput_sha256": throughput_hash(result),
            "chosen_batch_size": result.chosen_batch_size,
            "rtfx": result.aggregate.rtfx,
        }

        def compute(state: StoreState) -> tuple[Changes | None, LogEntry]:
            done = _throughput_publishable(state, result, worker)
            if done is not None:
                return None, done
            changes = Changes()
            entry = self._log(
                state, changes.log, request_id=result.request_id, event=THROUGHPUT_PUBLISHED, actor=actor, detail=detail
            )
            return changes, entry

        entry = self._transact(compute)
        try:
            self.refresh_throughput_table()
        except StoreError as exc:  # the record is published (its event is logged); the next start writes the table
            logger.warning("throughput.csv not rewritten after %s: %s", result.request_id, exc)
        return entry

    def refresh_throughput_table(self) -> bool:
        """Commit `throughput.csv` (the card's `throughput` config) as the renderer makes it from the records the
        log vouches for (`throughput_results`), when the stored one differs; True if a commit was made. A record
        whose publication was cut off before its event, or whose run was then dropped, never gets a row; one whose
        event was logged just before a crash gets it at the next refresh (each publication, each start)."""
        for _ in range(self.max_conflict_retries):
            head = self.results.head()
            files = self.render.throughput_files(self.throughput_results().values())
            changed = {path: data for path, data in files.items() if self.results.read(path, head) != data}
            if not changed:
                return False
            try:
                self._commit(self.results, changed, head, "Throughput table: the records the log vouches for")
                return True
            except Conflict:
                continue
        raise StoreError(f"{self.results.name} kept changing while writing the throughput table; try again later")

    def throughput_residue(self, request_id: str) -> ThroughputResult | None:
        """The stored throughput record of `request_id` that no `throughput_published` event vouches for: what a
        publication cut off between its commit and its event left (None if there is none, or it is vouched)."""
        record = throughput_records(self._throughput_shards(self.results.head())).get(request_id)
        if record is None:
            return None
        vouched = {e.detail.get("throughput_sha256") for e in self._current_log() if e.event == THROUGHPUT_PUBLISHED}
        return None if throughput_hash(record) in vouched else record

    def start_throughput(self, request_id: str, worker: str, lease_s: float) -> LogEntry:
        """Take the owed throughput run of `request_id` for `lease_s` seconds: log `throughput_started` (attempt,
        worker, lease_expires_at) in one transaction that refuses (`ThroughputTaken`) when another attempt's
        lease still holds it, so two workers never run it at once; `StoreError` when nothing is owed."""

        def detail(state: StoreState) -> dict[str, object]:
            request = state.requests.get(request_id)
            if request is None or request.status is not Status.FINISHED:  # a maintainer may run one unasked
                raise StoreError(f"request {request_id} has no finished batch-one evaluation to run throughput after")
            run = owed_run(request_id, state.log)
            if run is None:
                raise StoreError(f"the throughput run of {request_id} is already published or dropped")
            now = self._now()
            if run.held(now):
                raise ThroughputTaken(f"{run.worker} holds the throughput run of {request_id} until its lease ends")
            return {"attempt": run.attempts + 1, "worker": worker, "lease_expires_at": _after(now, lease_s)}

        return self._append_event(request_id, THROUGHPUT_STARTED, worker, detail)

    def renew_throughput(self, request_id: str, worker: str, attempt: int, lease_s: float) -> LogEntry:
        """Extend the lease of a running throughput attempt by `lease_s` seconds from now: log `throughput_renewed`
        (attempt, worker, lease_expires_at). Refused (`ThroughputTaken`) when the run is no longer this attempt's
        (another worker started one after its lease ran out, it failed, or the run is closed): the ladder stops."""

        def detail(state: StoreState) -> dict[str, object]:
            run = owed_run(request_id, state.log)
            if run is None or run.attempts != attempt or run.worker != worker or run.failed_at is not None:
                raise ThroughputTaken(f"the throughput run of {request_id} is no longer attempt {attempt} of {worker}")
            return {"attempt": attempt, "worker": worker, "lease_expires_at": _after(self._now(), lease_s)}

        return self._append_event(request_id, THROUGHPUT_RENEWED, worker, detail)

    def fail_throughput(self, request_id: str, worker: str, attempt: int, reason: str, error_kind: str) -> LogEntry:
        """Log `throughput_failed`: this attempt stopped on an error (its kind from `evaluator.errors`); it ends the
        attempt's lease, and the planner retries after `[throughput] retry_after_minutes` or drops the run."""
        detail = {"attempt": attempt, "worker": worker, "reason": reason[:300], "error_kind": error_kind}
        return self._append_event(request_id, THROUGHPUT_FAILED, worker, lambda _state: detail)

    def drop_throughput(self, request_id: str, actor: str, reason: str) -> LogEntry:
        """Log `throughput_dropped` with the reason: the run's attempts are spent; the entry has no throughput
        record and batch one is untouched. Refused while an attempt holds the run, or once it is closed."""

        def detail(state: StoreState) -> dict[str, object]:
            run = owed_run(request_id, state.log)
            if run is None:
                raise StoreError(f"the throughput run of {request_id} is already published or dropped")
            if run.held(self._now()):
                raise ThroughputTaken(f"{run.worker} holds the throughput run of {request_id}")
            return {"attempts": run.attempts, "reason": reason[:300]}

        return self._append_event(request_id, THROUGHPUT_DROPPED, actor, detail)

    # --- the lifecycle -----------------------------------------------------------------------------

    def _transact(self, compute: Callable[[StoreState], tuple[Changes | None, _T]]) -> _T:
        """Read, compute, commit; on a conflict read again and recompute, so no update is ever lost. `compute`
        returns the changes to commit (none: nothing is written) and the transaction's value."""
        for attempt in range(self.max_conflict_retries):
            with self._lock, self.requests.exclusive():
                read = self._read()
                changes, value = compute(self._state(read))
                if not changes:
                    return value
                try:
                    self._commit_changes(read, changes, lambda txn, c=changes: _message(c, txn))
                    return value
                except Conflict:
                    pass
            self.sleep(min(2.0, 0.05 * 2**attempt) * (0.5 + random.random()))
        raise StoreUnavailable(
            f"the store kept changing under us ({self.max_conflict_retries} conflicts); try again later"
        )

    def _log(self, state: StoreState, pending: list[LogEntry], **kwargs: object) -> LogEntry:
        previous = pending[-1] if pending else (state.log[-1] if state.log else None)
        seq = None if pending or state.log_length < 0 else state.log_length + 1
        at = self._now().isoformat(timespec="seconds").replace("+00:00", "Z")
        entry = next_entry(previous, at=at, seq=seq, **kwargs)  # type: ignore[arg-type]
        pending.append(entry)
        return entry

    def submit(self, request: Request, check: Callable[[StoreState], None] | None = None) -> Request:
        """Write a new PENDING request and its log entry. `check` runs inside the transaction and may raise
        `Refused` (the duplicate and weekly-limit rules need the state as it is at write time)."""
        if request.status is not Status.PENDING:
            raise StoreError("a new request must be PENDING")

        def compute(state: StoreState) -> tuple[Changes, Request]:
            if request.request_id in state.requests:
                raise Refused(f"request id {request.request_id} already exists")
            if check:
                check(state)
            changes = Changes(requests=[request])
            self._log(
                state,
                changes.log,
                request_id=request.request_id,
                event="submitted",
                actor=request.submitter,
                detail=submission_detail(request),
            )
            return changes, request

        return self._transact(compute)

    def _expire(self, state: StoreState, now: datetime, max_attempts: int, changes: Changes) -> dict[str, QueueEntry]:
        """Return expired RUNNING requests to PENDING (or FAILED after `max_attempts`), logging each; the queue
        after. Only the queue is read, and the whole request only of those that change."""
        queue = dict(state.queue())  # closed requests never expire: none is read here
        for entry in state.queue().values():
            # Which results are stored is asked only where it matters (a lookup may cost a Hub request).
            if entry.status is Status.PENDING:
                if entry.attempts == 0 or entry.request_id not in state.result_ids:
                    continue
                # Its lease expired while the worker was publishing: the result landed, so it ran once.
                stored, worker = True, entry.lease.worker if entry.lease else "unknown"
            elif entry.status is not Status.RUNNING or entry.lease is None or parse_time(entry.lease.expires_at) > now:
                continue
            else:
                stored, worker = entry.request_id in state.result_ids, entry.lease.worker
            updated, event, detail = _expired(state.requests[entry.request_id], stored, worker, max_attempts)
            queue[entry.request_id] = QueueEntry.of(updated)
            changes.requests.append(updated)
            self._log(state, changes.log, request_id=entry.request_id, event=event, actor="scheduler", detail=detail)
        return queue

    def expire_leases(self, max_attempts: int) -> list[Request]:
        """Apply lease expiry now, without claiming anything (the Queue page calls this through the scheduler)."""

        def compute(state: StoreState) -> tuple[Changes, list[Request]]:
            changes = Changes()
            self._expire(state, self._now(), max_attempts, changes)
            return changes, list(changes.requests)

        return self._transact(compute)

    def claim(self, worker: str, lease_s: float, max_attempts: int, request_id: str | None = None) -> Request | None:
        """Take the oldest PENDING request for `worker` with a lease of `lease_s` seconds, atomically.

        Expired leases are handled first, so a request whose worker died is claimable again (or FAILED after
        `max_attempts`). Returns None when nothing is pending. With `request_id`, only that request is taken,
        and None means it is not PENDING (someone else holds it, or it ended): a Job started for it exits.
        """

        def compute(state: StoreState) -> tuple[Changes, Request | None]:
            now = self._now()
            changes = Changes()
            queue = self._expire(state, now, max_attempts, changes)
            pending = sorted(
                (
                    e
                    for e in queue.values()
                    if e.status is Status.PENDING and (request_id is None or e.request_id == request_id)
                ),
                key=lambda e: (e.submitted_at, e.request_id),
            )
            if not pending:
                return changes, None
            first = pending[0]
            requeued = [r for r in changes.requests if r.request_id == first.request_id]
            chosen = (requeued[-1] if requeued else state.requests[first.request_id]).replace(
                status=Status.RUNNING,
                attempts=first.attempts + 1,
                lease=_lease(worker, now, lease_s),
                progress=None,
                error=None,
            )
            changes.requests.append(chosen)
            self._log(
                state,
                changes.log,
                request_id=chosen.request_id,
                event="claimed",
                actor=worker,
                detail={"attempt": chosen.attempts, "lease_expires_at": chosen.lease.expires_at},  # type: ignore[union-attr]
            )
            return changes, chosen

        return self._transact(compute)

    def _held(self, state: StoreState, request_id: str, worker: str) -> Request:
        request = state.requests.get(request_id)
        if request is None:
            raise StoreError(f"no request {request_id} in the store")
        if request.status is not Status.RUNNING or request.lease is None or request.lease.worker != worker:
            raise LeaseLost(f"{worker} no longer holds request {request_id} (status {request.status})")
        return request

    def heartbeat(self, request_id: str, worker: str, lease_s: float, progress: Progress | None = None) -> Request:
        """Renew the lease (and persist progress). Raises `LeaseLost` if the request was taken away."""

        def compute(state: StoreState) -> tuple[Changes, Request]:
            request = self._held(state, request_id, worker)
            updated = request.replace(
                lease=_lease(worker, self._now(), lease_s),
                progress=progress if progress is not None else request.progress,
            )
            return Changes(renewals=[updated]), updated

        return self._transact(compute)

    def finish(
        self, request_id: str, worker: str, result: Result, predictions: Mapping[str, Sequence[PredictionRow]]
    ) -> Request:
        """Store the result with its predictions and mark the request FINISHED, in one atomic write."""
        if result.request_id != request_id:
            raise StoreError(f"result is for {result.request_id}, not {request_id}")

        def compute(state: StoreState) -> tuple[Changes, Request]:
            request = self._held(state, request_id, worker)
            updated = request.replace(status=Status.FINISHED, lease=None, error=None)
            changes = Changes(requests=[updated], results=[(result, predictions)])
            self._log(
                state,
                changes.log,
                request_id=request_id,
                event="finished",
                actor=worker,
                detail={
                    "avg_wer": result.aggregate.avg_wer,
                    "rtf": result.aggregate.rtf,
                    "official": result.official,
                    "gpu_class": result.hardware.gpu_class,
                },
            )
            return changes, updated

        return self._transact(compute)

    def fail(self, request_id: str, worker: str, error: str) -> Request:
        """Mark a held request FAILED with a reason a person can act on. Failures stay visible (R8)."""

        def compute(state: StoreState) -> tuple[Changes, Request]:
            request = self._held(state, request_id, worker)
            updated = request.replace(status=Status.FAILED, lease=None, error=error)
            changes = Changes(requests=[updated])
            self._log(state, changes.log, request_id=request_id, event="failed", actor=worker, detail={"error": error})
            return changes, updated

        return self._transact(compute)

    def release(self, request_id: str, worker: str, reason: str) -> Request:
        """Hand a held request back to the queue at once, logged `released` with `reason`: what a clean stop
        (SIGINT, or the SIGTERM of a Space restart) does instead of leaving it RUNNING until its lease runs out.
        The attempt is not counted (the model did nothing wrong), so restarts never fail a request."""

        def compute(state: StoreState) -> tuple[Changes, Request]:
            request = self._held(state, request_id, worker)
            attempts = max(0, request.attempts - 1)
            updated = request.replace(status=Status.PENDING, lease=None, progress=None, attempts=attempts)
            changes = Changes(requests=[updated])
            detail = {"reason": reason, "attempts": attempts}
            self._log(state, changes.log, request_id=request_id, event="released", actor=worker, detail=detail)
            return changes, updated

        return self._transact(compute)

    # --- audits (R13) ------------------------------------------------------------------------------

    def record_audit(self, record: AuditRecord, actor: str) -> LogEntry:
        """Write a signed audit record and its `audit_passed`/`audit_failed` log event in one transaction.

        The event carries the record's hash, so the log vouches for the exact record. Auditing a request that is
        not FINISHED, or writing the same audit id twice, is refused.
        """
        if not self.writes_audits:
            raise StoreError(f"{type(self).__name__} cannot store audit records yet; run audits on the local store")
        digest = audit_hash(record)

        def compute(state: StoreState) -> tuple[Changes, LogEntry]:
            request = state.requests.get(record.request_id)
            if request is None or request.status is not Status.FINISHED:
                raise StoreError(
                    f"request {record.request_id} is not a finished entry; only finished entries are audited"
                )
            if any(e.event in AUDIT_EVENTS and e.detail.get("audit_id") == record.audit_id for e in state.log):
                raise StoreError(f"audit {record.audit_id} is already recorded")
            changes = Changes(audits=[record])
            entry = self._log(
                state,
                changes.log,
                request_id=record.request_id,
                event="audit_passed" if record.passed else "audit_failed",
                actor=actor,
                detail={
                    "audit_id": record.audit_id,
                    "audit_sha256": digest,
                    "failed_checks": record.failed_checks,
                    "duration_s": record.duration_s,
                    "selection": record.selection,
                    "seed": record.seed,
                },
            )
            return changes, entry

        return self._transact(compute)

    def request_audit(self, request_id: str, actor: str, check: Callable[[StoreState], None] | None = None) -> LogEntry:
        """Log a public `audit_requested` event for a finished entry; `check` may raise `Refused` (rate limit).
        An entry whose audit is already requested and not yet run is refused."""

        def detail(state: StoreState) -> dict[str, object]:
            request = state.requests.get(request_id)
            if request is None or request.status is not Status.FINISHED:
                raise Refused(f"request {request_id} is not a finished entry; only finished entries are audited")
            if any(e.request_id == request_id for e in open_audit_requests(state.log)):
                raise Refused(f"an audit of {request_id} is already requested; it runs when the queue is empty")
            if check:
                check(state)
            return {"model_id": request.model_id, "revision": request.revision, "precision": request.precision}

        return self._append_event(request_id, AUDIT_REQUESTED, actor, detail)

    def drop_audit(self, request_id: str, actor: str, reason: str, requested: bool) -> LogEntry:
        """Log `audit_dropped`: the scheduler could not audit this entry (the reason says why); closes its request."""
        return self._append_event(
            request_id, AUDIT_DROPPED, actor, lambda _: {"reason": reason, "requested": requested}
        )

    def log_audit_progress(self, request_id: str, event: str, actor: str, detail: Mapping[str, object]) -> LogEntry:
        """Log one of an audit's attempts (`openasr_core.audits.AUDIT_PROGRESS_EVENTS`: started, inconclusive, failed to
        run); the planner counts them, and none of them ends the audit or changes the entry."""
        if event not in AUDIT_PROGRESS_EVENTS:
            raise ValueError(f"{event!r} is not an audit progress event")
        return self._append_event(request_id, event, actor, lambda _: dict(detail))

    def _append_event(
        self, request_id: str, event: str, actor: str, detail: Callable[[StoreState], dict[str, object]]
    ) -> LogEntry:
        """Append one log event in a transaction; `detail` sees the state it is appended to (and may refuse)."""

        def compute(state: StoreState) -> tuple[Changes, LogEntry]:
            changes = Changes()
            entry = self._log(state, changes.log, request_id=request_id, event=event, actor=actor, detail=detail(state))
            return changes, entry

        return self._transact(compute)


def _throughput_publishable(state: StoreState, result: ThroughputResult, worker: str | None) -> LogEntry | None:
    """The `throughput_published` event that already vouches for `result` (publishing again does nothing), or
    None when it may be published now; raises when it may not: batch one not finished, another record of the
    request already vouched for, or `worker` no longer holding the run (another attempt started since)."""
    request = state.requests.get(result.request_id)
    if request is None or request.status is not Status.FINISHED:
        raise StoreError(
            f"request {result.request_id} has no finished batch-one evaluation; the throughput track runs after it"
        )
    digest = throughput_hash(result)
    latest: LogEntry | None = None
    for entry in state.log:
        if entry.request_id != result.request_id:
            continue
        if entry.event == THROUGHPUT_PUBLISHED:
            if entry.detail.get("throughput_sha256") == digest:
                return entry
            raise StoreError(f"another throughput record of {result.request_id} is published already")
        if entry.event == THROUGHPUT_STARTED:
            latest = entry
    if worker is not None and latest is not None and latest.detail.get("worker") != worker:
        raise ThroughputTaken(
            f"{latest.detail.get('worker')} took the throughput run of {result.request_id} over; {worker} publishes nothing"
        )
    return None


def _expired(request: Request, stored: bool, worker: str, max_attempts: int) -> tuple[Request, str, dict[str, object]]:
    """What lease expiry makes of a request whose lease ran out: FINISHED when its result was stored (the worker
    died while publishing), FAILED after `max_attempts`, else PENDING again; with the log event that says so."""
    if stored:
        return (
            request.replace(status=Status.FINISHED, lease=None),
            "finished",
            {"note": "result found after the worker's lease expired"},
        )
    if request.attempts >= max_attempts:
        error = (
            f"the evaluation stopped without finishing {request.attempts} times (last worker {worker}); "
            "the model may crash or exhaust memory on this hardware. Check it loads and transcribes "
            "locally with `python -m evaluator evaluate`, then submit again."
        )
        return request.replace(status=Status.FAILED, lease=None, error=error), "failed", {"error": error}
    updated = request.replace(status=Status.PENDING, lease=None, progress=None)
    return updated, "lease_expired", {"worker": worker, "attempts": request.attempts}


def _lease(worker: str, now: datetime, lease_s: float) -> Lease:
    return Lease(worker=worker, expires_at=_after(now, lease_s))


def _message(changes: Changes, txn: str) -> str:
    """A commit title that says what happened (`claimed req-0001`), with the transaction id for tracing retries."""
    events = [f"{e.event} {e.request_id}" for e in changes.log] or [f"update {r.request_id}" for r in changes.requests]
    summary = "; ".join(events[:3]) + (f" (+{len(events) - 3})" if len(events) > 3 else "")
    return f"{summary} [txn {txn}]"
