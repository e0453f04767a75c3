"""The embedded default store: the two dataset repos as two folders under one root, on the local disk.

Every file is written atomically (temp file in the same folder, fsync, rename), and every transaction holds
an exclusive `fcntl` lock on `<root>/.lock`, so several processes can claim at once and each request is
claimed once. Within one transaction files are written results-first and `state.json` last (it names the
log length and closed shards, so log lines or shards written before a crash are ignored until the next write
replaces them): a crash can leave a result whose request is still RUNNING (handled by lease expiry), never a
FINISHED request without a result, nor a status change without its log line.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from openasr_core import layout
from openasr_core.audits import latest_audits
from openasr_core.dataset_card import (
    AUDITS_TABLE_FILE,
    CARD_FILE,
    CardInfo,
    audits_table,
    render_card,
)
from openasr_core.files import atomic_write
from openasr_core.records import PredictionRow, Result, Status, read_jsonl
from openasr_core.store.bad_files import BadFile, log_damaged
from openasr_core.store.base import Changes, Clock, Snapshot, Store, StoreError, StoreState
from openasr_core.store.repo_files import (
    AuditsReader,
    Fetch,
    ResultsReader,
    audit_files,
    audit_shard_records,
    results_files,
)
from openasr_core.store.requests_repo import LayoutError, Lookup, RequestsReader, RequestsView, requests_files

REQUESTS_REPO_DIR = layout.LOCAL_REQUESTS_DIR
RESULTS_REPO_DIR = layout.LOCAL_RESULTS_DIR


class LocalStore(Store):
    """The two repos as two folders; same files and same reading code as the Hub store (`openasr_core.store.requests_repo`, `openasr_core.store.repo_files`)."""

    writes_audits = True

    def __init__(self, root: str | os.PathLike[str], card: CardInfo | None = None, clock: Clock | None = None) -> None:
        self.root = Path(root)
        self.card = card
        if clock is not None:
            self.clock = clock
        self._requests_reader = RequestsReader()
        self._results_reader = ResultsReader()
        self._audits_reader = AuditsReader()
        self._read_views: dict[str, RequestsView] = {}
        self.requests_root = self.root / REQUESTS_REPO_DIR
        self.results_root = self.root / RESULTS_REPO_DIR
        for folder in (self.requests_root, self.results_root):
            folder.mkdir(parents=True, exist_ok=True)
        if (self.requests_root / layout.LEGACY_LOG_FILE).exists() and not (
            self.requests_root / layout.STATE_FILE
        ).exists():
            raise StoreError(f"the local store {self.root} is in layout 1; {layout.MIGRATE_HINT}")

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        with open(self.root / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    def _fetcher(root: Path) -> Fetch:
        def fetch(path: str) -> bytes | None:
            target = root / path
            return target.read_bytes() if target.is_file() else None

        return fetch

    def _view(self) -> RequestsView:
        try:
            # The local disk is read in full every time (it costs nothing), never trusting `index.json`'s digest:
            # a crash between writing `state.json` and `index.json` must not hide the newer state.
            return self._requests_reader.read(self._fetcher(self.requests_root), trust_index=False)
        except LayoutError as exc:
            raise StoreError(f"the local store {self.root}: {exc}") from exc

    def _version(self) -> str:
        """Changes with any write and with any hand edit of the state, a closed shard or a records shard, so
        the Space rebuilds (and re-verifies) its board at once."""
        stamps = [
            (str(p.relative_to(self.root)), p.stat().st_mtime_ns, p.stat().st_size)
            for folder in (
                self.requests_root / layout.CLOSED_DIR,
                self.results_root / layout.RECORDS_DIR,
                self.results_root / layout.THROUGHPUT_RECORDS_DIR,  # R14: a throughput write moves it too
            )
            for p in sorted(folder.glob("*.jsonl"))
        ]
        for state in (self.requests_root / layout.STATE_FILE, self.requests_root / layout.INDEX_FILE):
            if state.exists():  # the index moves with every heartbeat: the Queue shows fresh progress
                stamps.append((state.name, state.stat().st_mtime_ns, state.stat().st_size))
        return hashlib.sha256(repr(stamps).encode()).hexdigest()[:16]

    def _results(self, finished: list[str]) -> dict[str, Result]:
        fetch = self._fetcher(self.results_root)
        found: dict[str, Result] = {}
        for name in sorted({layout.shard(i) for i in finished}):
            path = self.results_root / layout.records_path(name)
            stamp = f"{path.stat().st_mtime_ns}-{path.stat().st_size}" if path.exists() else "absent"
            found.update(self._results_reader.shard(fetch, stamp, name))
        return {i: found[i] for i in finished if i in found}

    def _has_result(self, request_id: str) -> bool:
        return (self.results_root / layout.result_path(request_id)).is_file()

    def _read_state(self) -> tuple[StoreState, str]:
        view = self._view()
        token = uuid.uuid4().hex
        # The transaction writes from the view it computed on (under the same lock): what reading it found (a
        # damaged shard, a request rebuilt from the log) is repaired by that write.
        self._read_views = {token: view}
        return StoreState(
            requests=view.requests, result_ids=Lookup(self._has_result), log=view.log, log_length=view.last_seq
        ), token

    def _write(self, token: str, changes: Changes) -> None:
        records = audit_files(changes.audits, self._fetcher(self.results_root))
        for path, data in records.items():  # before the log line that makes it public
            atomic_write(self.results_root / path, data)
        recovered = self._recovered_results(changes)
        repair = {Path(b.path).stem for b in self._results_reader.bad_files()}
        retable = {layout.shard(a.request_id) for a in changes.audits}  # the audited rows get the new verdict
        if changes.results or recovered or repair or retable:
            results = [*changes.results, *((r, {}) for r in recovered)]
            self._write_results(Changes(results=results), repair, retable)
        view = self._read_views.pop(token, None) or self._view()
        files, _ = requests_files(
            view, changes.requests, changes.log, None, uuid.uuid4().hex[:12], renewals=changes.renewals
        )
        last = [files.pop(name) if name in files else None for name in (layout.STATE_FILE, layout.INDEX_FILE)]
        for path, data in files.items():
            atomic_write(self.requests_root / path, data)
        for name, data in zip((layout.STATE_FILE, layout.INDEX_FILE), last, strict=True):
            if data is not None:  # the state last of all but its index (a heartbeat writes the index alone)
                atomic_write(self.requests_root / name, data)
        if changes.audits or not (self.results_root / AUDITS_TABLE_FILE).exists():
            self._write_audits_table()

    def _write_audits_table(self) -> None:
        """`audits.csv` of the published audits, after the log line that publishes the newest one."""
        view = self._view()
        audits = self._audits_reader.read(self._fetcher(self.results_root), view.log, [])
        published = Snapshot(requests={}, results={}, log=view.log, version="", audits=audits)
        atomic_write(self.results_root / AUDITS_TABLE_FILE, audits_table(published.published_audits()))

    def _recovered_results(self, changes: Changes) -> list[Result]:
        """Results of requests that lease expiry marks FINISHED because their result file was found (the worker
        died while publishing): their records shard, table row and card are written again, so a crash between
        the result and the table never leaves a finished entry off the board."""
        fresh = {r.request_id for r, _ in changes.results}
        found = []
        for request in changes.requests:
            if request.status is Status.FINISHED and request.request_id not in fresh:
                result = _result_file(self.results_root / layout.result_path(request.request_id))
                if result is not None:  # unreadable: the request is finished, verify reports the damaged file
                    found.append(result)
        return found

    def _repaired_shard(self, name: str, parsed: dict[str, Result]) -> dict[str, Result]:
        """A damaged records shard's readable lines plus every readable result file of that shard: the per-entry
        files are the source the shard repeats, so the lines lost to the damage come back."""
        repaired = dict(parsed)
        for path in sorted((self.results_root / layout.RESULTS_DIR / name).glob("*.json")):
            result = _result_file(path)
            if result is not None:
                repaired.setdefault(result.request_id, result)
        return repaired

    def _write_results(self, changes: Changes, repair: set[str] | None = None, retable: set[str] | None = None) -> None:
        """Results, predictions, records shards, table and card; `repair`: damaged records shards to rebuild;
        `retable`: table shards to render again (an audit changed a verdict; its record is already written)."""
        repair, retable = repair or set(), retable or set()
        names = {layout.shard(r.request_id) for r, _ in changes.results} | repair | retable
        fetch = self._fetcher(self.results_root)
        bad: list[BadFile] = []
        shards = {
            name: ResultsReader.parse(fetch(layout.records_path(name)), layout.records_path(name), bad)
            for name in names
        }
        shards.update({name: self._repaired_shard(name, shards[name]) for name in repair})
        written = results_files(
            shards,
            changes.results,
            fetch(layout.PINS_FILE),
            self._every,
            rewrite=repair,
            has_legacy_table=(self.results_root / layout.LEGACY_TABLE_FILE).exists,
            audits_of=lambda table: latest_audits(audit_shard_records(fetch, table)),
            retable=retable,
        )
        files = {**written.files, **{b.quarantine_path: b.data for b in bad}}  # a damaged shard's bytes, set aside
        if self.card is not None:
            files[CARD_FILE] = render_card(self.card, written.columns).encode("utf-8")
        for path, data in files.items():
            atomic_write(self.results_root / path, data)
        for path in written.deleted:  # after the table shards that replace it
            (self.results_root / path).unlink(missing_ok=True)

    def _every(self) -> dict[str, dict[str, Result]]:
        """Every records shard (read only when the whole table is written)."""
        folder = self.results_root / layout.RECORDS_DIR
        return {path.stem: ResultsReader.parse(path.read_bytes()) for path in sorted(folder.glob("*.jsonl"))}

    def snapshot(self) -> Snapshot:
        with self._exclusive():
            view = self._view()
            version = self._version()
            finished = [i for i, r in view.requests.items() if r.status is Status.FINISHED]
            log = list(view.log)
            results = self._results(finished)
            bad = [*view.problems(), *self._results_reader.bad_files()]
            fetch = self._fetcher(self.results_root)
            audits = self._audits_reader.read(fetch, log, bad, every=log_damaged(bad))
        return Snapshot(
            requests=view.requests,
            results=results,
            log=log,
            version=version,
            audits=audits,
            damaged=tuple(str(b) for b in bad),
            log_length=view.last_seq,
        )

    def result(self, request_id: str) -> Result | None:
        path = self.results_root / layout.result_path(request_id)
        return Result.from_json(path.read_bytes()) if path.is_file() else None

    def predictions(self, request_id: str, eval_set: str, limit: int | None = None) -> list[PredictionRow]:
        path = self.results_root / layout.predictions_path(request_id, eval_set)
        if not path.exists():
            raise FileNotFoundError(f"no predictions for request {request_id} on eval set {eval_set} ({path})")
        return read_jsonl(PredictionRow, path.read_text(encoding="utf-8"))[:limit]

    def predictions_url(self, request_id: str, eval_set: str) -> str:
        return str(self.results_root / layout.predictions_path(request_id, eval_set))

    def _put_throughput_files(self, files: Mapping[str, bytes], message: str) -> None:
        """Predictions first, the record and its shard next, the table last, each atomically, under the lock."""
        with self._exclusive():
            for path, data in files.items():
                atomic_write(self.results_root / path, data)

    def _throughput_shards(self) -> dict[str, bytes]:
        folder = self.results_root / layout.THROUGHPUT_RECORDS_DIR
        return {p.stem: p.read_bytes() for p in sorted(folder.glob("*.jsonl")) if p.is_file()}


def _result_file(path: Path) -> Result | None:
    """One result file, or None when it is missing or unreadable (`verify` names a damaged one)."""
    try:
        return Result.from_json(path.read_bytes())
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None
