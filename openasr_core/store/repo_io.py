"""How the store reads and writes its two repos, whatever they are (`openasr_core.store.repo.Repo`): one algorithm
for the Hub and for a local folder.

Reads cost a bounded number of requests whatever the number of entries. A read asks the requests repo's head;
when it moved, it reads `state.json` at that revision, the last log chunk, and only the shards whose digest
changed (`openasr_core.store.requests_repo`). The board's results come from the records shards of the results
revision that `state.json` names (a folder: its present), fetched only for FINISHED requests whose result is not
held yet. Parsed state is kept in memory by revision; after our own commit the new state is primed under the new
revision, so reading our own write costs one head request.

Writes: one commit per repo on top of the revision read, so a commit landing in between fails with `Conflict`
and the transaction is read and computed again. A transaction that stores results or audits, finishes a request
whose result lease expiry found, or met a damaged records shard commits the results repo first (results,
predictions, records shards repaired from the per-entry result files, and the derived files the renderer makes:
table shards, the card when the columns change, `audits.csv`), then the requests repo, whose `state.json` names
that results commit. A retried write finds the identical results stored and does not commit them again; a commit
that failed ambiguously and then meets a conflict is checked (`landed`): if the head holds our log entries, the
write succeeded.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from openasr_core import layout
from openasr_core.records import AuditRecord, LogEntry, PredictionRow, Result, Status
from openasr_core.store.bad_files import parse_record
from openasr_core.store.errors import StoreError
from openasr_core.store.repo import LATEST, Repo
from openasr_core.store.repo_files import (
    AuditsReader,
    Fetch,
    NoRendering,
    Renderer,
    ResultsReader,
    ResultsWrite,
    Tail,
    audit_files,
    audit_shard_records,
    results_files,
)
from openasr_core.store.requests_repo import LayoutError, Log, Requests, RequestsReader, RequestsView, requests_files

#: Results, each with its predictions by eval set: what a finish stores.
Stored = Sequence[tuple[Result, Mapping[str, Sequence[PredictionRow]]]]


class StoredResults(Container[str]):
    """`request_id in stored`: whether its result file exists, asked of the results repo only when lease expiry
    needs it; the first question asks about every `candidate` (re-queued and running requests) at once."""

    def __init__(self, ask: Callable[[Sequence[str]], set[str]], candidates: Sequence[str]) -> None:
        self._ask = ask
        self._candidates = candidates
        self._known: set[str] | None = None
        self.asked = False

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, str):
            return False
        self.asked = True
        if self._known is None:
            self._known = self._ask(sorted({*self._candidates, item}))
        return item in self._known or (item not in self._candidates and bool(self._ask([item])))


@dataclass(frozen=True)
class Read:
    """What a transaction read: the requests repo's head and its view, and which results it asked about."""

    head: str
    view: RequestsView
    stored: StoredResults


@dataclass(frozen=True)
class _ThroughputCache:
    """The throughput records shards as last read: at which results revision, and each file's blob and bytes."""

    revision: str = ""
    blobs: Mapping[str, tuple[str, bytes]] = field(default_factory=dict)
    shards: Mapping[str, bytes] = field(default_factory=dict)


class RepoIO:
    """Reading and committing the requests repo and the results repo (see the module doc); `Store` adds the
    lifecycle on top. `render` makes the derived files a results commit carries (`NoRendering`: none)."""

    #: How many parsed revisions of the requests repo to keep (the head and the one a transaction writes against).
    cache_size = 4

    def __init__(self, requests: Repo, results: Repo, render: Renderer | None = None) -> None:
        self.requests = requests
        self.results = results
        self.render: Renderer = render if render is not None else NoRendering()
        self._cache_lock = threading.Lock()
        self._views: OrderedDict[str, RequestsView] = OrderedDict()
        self._requests_reader = RequestsReader()
        self._results_reader = ResultsReader()
        self._audits_reader = AuditsReader()
        self._throughput_cache = _ThroughputCache()
        self._results_seen: set[str] = set()

    # --- reading -----------------------------------------------------------------------------------

    @staticmethod
    def _fetcher(repo: Repo, revision: str) -> Fetch:
        return lambda path: repo.read(path, revision)

    @staticmethod
    def _tail_fetcher(repo: Repo, revision: str) -> Tail:
        return lambda path, start: repo.read(path, revision, from_byte=start)

    def _view(self, head: str) -> RequestsView:
        """The requests repo at `head`, parsed (kept by revision). A folder's files land one at a time, so its
        `index.json` is never trusted to name the current `state.json`."""
        with self._cache_lock:
            if head in self._views:
                self._views.move_to_end(head)
                return self._views[head]
        fetch, tail = self._fetcher(self.requests, head), self._tail_fetcher(self.requests, head)
        try:
            view = self._requests_reader.read(fetch, trust_index=self.requests.snapshots, tail=tail)
        except LayoutError as exc:
            raise StoreError(f"{self.requests.name}: {exc}") from exc
        self._remember(head, view)
        return view

    def _remember(self, head: str, view: RequestsView) -> None:
        with self._cache_lock:
            self._views[head] = view
            while len(self._views) > self.cache_size:
                self._views.popitem(last=False)

    def _read(self) -> Read:
        """The requests repo at its head, and a lookup of stored results for lease expiry."""
        head = self.requests.head()
        view = self._view(head)
        requests = view.requests
        candidates = (
            [i for i, e in requests.open.queue.items() if e.attempts > 0] if isinstance(requests, Requests) else []
        )
        return Read(head, view, StoredResults(self._stored_results, candidates))

    def _stored_results(self, request_ids: Sequence[str]) -> set[str]:
        """Which of these requests' result files exist, in one request; a result, once stored, is remembered (it
        never goes away)."""
        unknown = [i for i in request_ids if i not in self._results_seen]
        if unknown:
            paths = {layout.result_path(i): i for i in unknown}
            self._results_seen.update(paths[p] for p in self.results.existing(list(paths), LATEST))
        return {i for i in request_ids if i in self._results_seen}

    def _results_revision(self, view: RequestsView) -> str | None:
        """The results revision a board read takes the results from: the one the state names, else the head (a
        folder holds only its present; a state from before the commit was recorded)."""
        if not self.results.snapshots:
            return self.results.head()
        if view.results_commit:
            return view.results_commit
        return self.results.head() if view.closed else None

    def _throughput_shards(self, revision: str) -> dict[str, bytes]:
        """Every throughput records shard at `revision` by shard name: one listing (none while the revision is
        the one read last), then one read per shard whose blob changed since."""
        cache = self._throughput_cache
        if cache.revision == revision:
            return dict(cache.shards)
        fetch = self._fetcher(self.results, revision)
        blobs: dict[str, tuple[str, bytes]] = {}
        for path, blob in self.results.list(layout.THROUGHPUT_RECORDS_DIR, revision):
            cached = cache.blobs.get(path)
            if not path.endswith(".jsonl"):
                continue
            if cached is not None and blob and cached[0] == blob:
                blobs[path] = cached
            elif (data := fetch(path)) is not None:
                blobs[path] = (blob, data)
        shards = {path.rsplit("/", 1)[-1].removesuffix(".jsonl"): data for path, (_, data) in blobs.items()}
        self._throughput_cache = _ThroughputCache(revision, blobs, shards)
        return dict(shards)

    # --- committing ------------------------------------------------------------------------------

    def _commit(
        self,
        repo: Repo,
        files: Mapping[str, bytes],
        parent: str,
        message: str,
        landed: Callable[[], bool] | None = None,
        deleted: Sequence[str] = (),
    ) -> str | None:
        """Every commit of the store goes through here (the reliability bench cuts a process off at one)."""
        return repo.commit(files, parent, message, deleted=deleted, landed=landed)

    def _commit_changes(self, read: Read, changes: Any, message: Callable[[str], str]) -> None:
        """Write a transaction's `changes` (`openasr_core.store.base.Changes`) on top of what it `read`: the results
        repo first when it has anything to take, then the requests repo; `Conflict` when either moved."""
        results_commit = self._commit_results(read, changes.requests, changes.results, changes.audits)
        if results_commit is None:
            # Lease expiry looked at which results exist: name the results revision it saw.
            results_commit = self.results.head() if read.stored.asked else read.view.results_commit
        txn = uuid.uuid4().hex[:12]
        files, view = requests_files(
            read.view, changes.requests, changes.log, results_commit, txn, renewals=changes.renewals
        )
        log: Sequence[LogEntry] = changes.log
        revision = self._commit(
            self.requests, files, read.head, message(txn), landed=(lambda: self._log_has(log)) if log else None
        )
        if revision is not None:
            self._remember(revision, view)
            self._requests_reader.prime(view)

    def _log_has(self, entries: Sequence[LogEntry]) -> bool:
        """Whether the log at the head already holds `entries` (our commit was applied despite an error)."""
        log = self._view(self.requests.head()).log
        last = entries[-1]
        # By `seq`, never by position: a repaired chunk keeps its gap, so positions and seqs may differ.
        found = log.find(last.seq) if isinstance(log, Log) else next((e for e in log if e.seq == last.seq), None)
        return found is not None and found.hash == last.hash

    def _commit_results(
        self, read: Read, requests: Sequence[Any], results: Stored, audits: Sequence[AuditRecord]
    ) -> str | None:
        """One commit to the results repo, when there is anything to take: these results and audit records, the
        records lines of requests that lease expiry finished because their result file was found (the worker
        died while publishing), and the damaged records shards met. The results revision that holds them (the
        head when nothing had to change); None when nothing asked for a look at the results repo."""
        fresh = {r.request_id for r, _ in results}
        found = [r.request_id for r in requests if r.status is Status.FINISHED and r.request_id not in fresh]
        if not (results or audits or found or self._results_reader.bad_files()):
            return None
        head = self.results.head()
        fetch = self._fetcher(self.results, head)
        if (results or audits) and self._stored(results, audits, head):
            return head  # a retried write: these exact results and audits are already stored
        recovered = self._recovered(fetch, head, found)
        damaged = self._damaged_shards(fetch, head)
        written = self._results_write(read, fetch, head, [*results, *((r, {}) for r in recovered)], audits, damaged)
        files = {**written.files, **audit_files(audits, fetch)}
        if written.new_columns:  # the card declares the table's header to `datasets`
            files.update(self.render.card_files(fetch, written.columns))
        if audits:  # the log event that publishes them follows in the requests commit
            files.update(self.render.audits_files([*self._audits_reader.read(fetch, read.view.log, []), *audits]))
        if not files:
            return head
        what = [f"Result for {r.request_id}" for r, _ in results] + [f"Audit {a.audit_id}" for a in audits]
        revision = self._commit(
            self.results,
            files,
            head,
            "; ".join(what) or "Repair the records shards",
            landed=(lambda: self._stored(results, audits)) if what else None,
            deleted=written.deleted,
        )
        if revision is None:
            return self.results.head()
        for name, members in written.shards.items():
            self._results_reader.prime(name, revision, members)
        self._audits_reader.prime(audits)
        return revision

    def _results_write(
        self,
        read: Read,
        fetch: Fetch,
        head: str,
        results: Stored,
        audits: Sequence[AuditRecord],
        damaged: set[str],
    ) -> ResultsWrite:
        """What `results_files` plans for these results, with the damaged records shards rebuilt (their bytes set
        aside) and the audited entries' table shards rendered again (their verdict changed)."""
        retable = {layout.shard(a.request_id) for a in audits}
        names = {layout.shard(r.request_id) for r, _ in results} | damaged | retable
        if not names:
            return ResultsWrite({}, [], {})
        shards = {name: self._results_reader.shard(fetch, head, name) for name in names}
        set_aside = {b.quarantine_path: b.data for b in self._results_reader.bad_files(names)}
        shards.update({name: self._repaired_shard(fetch, head, name, shards[name], read.view) for name in damaged})
        written = results_files(
            shards,
            results,
            fetch(layout.PINS_FILE),
            lambda: self._every(fetch, head, read.view),
            self.render,
            rewrite=damaged,
            has_legacy_table=lambda: fetch(layout.LEGACY_TABLE_FILE) is not None,
            audits_of=lambda table: [*audit_shard_records(fetch, table), *audits],
            retable=retable,
        )
        return ResultsWrite(
            {**written.files, **set_aside}, written.deleted, written.shards, written.columns, written.new_columns
        )

    def _recovered(self, fetch: Fetch, head: str, request_ids: Sequence[str]) -> list[Result]:
        """The results of these requests (finished by lease expiry because their result was found: the worker died
        while publishing), from their records line or else their result file, so their records line, table row
        and card are written again: a crash between the result and the table never leaves an entry off the board."""
        found = []
        for request_id in request_ids:
            result = self._results_reader.shard(fetch, head, layout.shard(request_id)).get(request_id)
            result = result or _result_file(fetch(layout.result_path(request_id)))
            if result is not None:  # unreadable: the request is finished, verify reports the damaged file
                found.append(result)
        return found

    def _every(self, fetch: Fetch, head: str, view: RequestsView) -> dict[str, dict[str, Result]]:
        """Every finished result at `head` by records shard: read only when the whole table is written."""
        requests = view.requests
        closed = requests.closed_requests() if isinstance(requests, Requests) else requests.values()
        finished = [r.request_id for r in closed if r.status is Status.FINISHED]
        every: dict[str, dict[str, Result]] = {}
        for request_id, result in self._results_reader.read(fetch, head, finished).items():
            every.setdefault(layout.shard(request_id), {})[request_id] = result
        return every

    def _damaged_shards(self, fetch: Fetch, head: str) -> set[str]:
        """Records shards read as damaged that are still damaged at `head` (rewritten by this commit)."""
        names = {
            b.path.removeprefix(f"{layout.RECORDS_DIR}/").removesuffix(".jsonl")
            for b in self._results_reader.bad_files()
        }
        for name in names:
            self._results_reader.shard(fetch, head, name)
        return {name for name in names if self._results_reader.bad_files([name])}

    def _repaired_shard(
        self, fetch: Fetch, head: str, name: str, parsed: Mapping[str, Result], view: RequestsView
    ) -> dict[str, Result]:
        """A damaged records shard's readable lines plus the result file of each finished request of that shard
        whose line was lost: the per-entry files are what the shard repeats."""
        repaired = dict(parsed)
        for path, _ in self.results.list(f"{layout.RESULTS_DIR}/{name}", head):
            request_id = path.rsplit("/", 1)[-1].removesuffix(".json")
            request = view.requests.get(request_id) if request_id not in repaired else None
            if request is None or request.status is not Status.FINISHED:
                continue
            result = _result_file(fetch(path))
            if result is not None and result.request_id == request_id:  # a damaged one: `verify` names it
                repaired[request_id] = result
        return repaired

    def _stored(self, results: Stored, audits: Sequence[AuditRecord], head: str | None = None) -> bool:
        """Whether the results repo's head already holds these exact results and audit records."""
        head = head or self.results.head()
        fetch = self._fetcher(self.results, head)
        stored = all(
            self._results_reader.shard(fetch, head, layout.shard(r.request_id)).get(r.request_id) == r
            for r, _ in results
        )
        return stored and all(fetch(path) == data for path, data in audit_files(audits).items())


def _result_file(raw: bytes | None) -> Result | None:
    """One result file's record, or None when it is missing or unreadable (`verify` names a damaged one)."""
    if raw is None:
        return None
    try:
        return parse_record(Result.from_dict, raw)
    except ValueError:
        return None
