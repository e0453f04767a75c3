"""The embedded default store: the two dataset repos as two folders under one root, on the local disk.

Every file is written atomically (temp file in the same folder, fsync, rename), and every transaction holds
an exclusive `fcntl` lock on `<root>/.lock`, so several processes can claim at once and each request is
claimed once. Within one transaction files are written results-first and log-last, so a crash can leave a
result whose request is still RUNNING (handled by lease expiry), never a FINISHED request without a result.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from core.dataset_card import (
    AUDITS_TABLE_FILE,
    CARD_FILE,
    TABLE_FILE,
    CardInfo,
    audits_table,
    consolidated_table,
    render_card,
)
from core import layout
from core.files import atomic_write
from core.records import AuditRecord, LogEntry, PredictionRow, Request, Result, ThroughputResult, read_jsonl, write_jsonl
from core.store.base import Changes, Snapshot, Store, StoreState

REQUESTS_REPO_DIR = layout.LOCAL_REQUESTS_DIR
RESULTS_REPO_DIR = layout.LOCAL_RESULTS_DIR


class LocalStore(Store):
    writes_audits = True

    def __init__(self, root: str | os.PathLike[str], card: CardInfo | None = None) -> None:
        self.root = Path(root)
        self.card = card
        self._results_cache: dict[str, tuple[tuple[int, int], Result]] = {}
        self.requests_root = self.root / REQUESTS_REPO_DIR
        self.results_root = self.root / RESULTS_REPO_DIR
        for folder in (self.requests_root / layout.REQUESTS_DIR, self.results_root / layout.RESULTS_DIR):
            folder.mkdir(parents=True, exist_ok=True)

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

    def _read_requests(self) -> dict[str, Request]:
        requests = {}
        for path in sorted((self.requests_root / layout.REQUESTS_DIR).glob("*.json")):
            request = Request.from_json(path.read_bytes())
            requests[request.request_id] = request
        return requests

    def _read_log(self) -> list[LogEntry]:
        path = self.requests_root / layout.LOG_FILE
        return read_jsonl(LogEntry, path.read_text(encoding="utf-8")) if path.exists() else []

    def _result_ids(self) -> frozenset[str]:
        return frozenset(p.stem for p in (self.results_root / layout.RESULTS_DIR).glob("*.json"))

    def _read_state(self) -> tuple[StoreState, str]:
        state = StoreState(requests=self._read_requests(), result_ids=self._result_ids(), log=self._read_log())
        return state, str(len(state.log))

    def _write(self, token: str, changes: Changes) -> None:
        for audit in changes.audits:  # before the log line that makes it public (see Snapshot.published_audits)
            atomic_write(self.results_root / layout.audit_path(audit.request_id, audit.audit_id), audit.to_json())
        for result, predictions in changes.results:
            for eval_set, rows in predictions.items():
                atomic_write(
                    self.results_root / layout.predictions_path(result.request_id, eval_set), write_jsonl(rows)
                )
            atomic_write(self.results_root / layout.result_path(result.request_id), result.to_json())
        if changes.results:
            self._write_table_and_card()
        for request in changes.requests:
            atomic_write(self.requests_root / layout.request_path(request.request_id), request.to_json())
        if changes.log:
            log_path = self.requests_root / layout.LOG_FILE
            existing = log_path.read_text(encoding="utf-8") if log_path.exists() else ""
            atomic_write(log_path, existing + write_jsonl(changes.log))
        if changes.audits or not (self.results_root / AUDITS_TABLE_FILE).exists():
            self._write_audits_table()

    def _write_audits_table(self) -> None:
        """`audits.csv` of the published audits, after the log line that publishes the newest one."""
        published = Snapshot(requests={}, results={}, log=self._read_log(), version="", audits=self._read_audits())
        atomic_write(self.results_root / AUDITS_TABLE_FILE, audits_table(published.published_audits()))

    def _result(self, path: Path) -> Result:
        """A parsed result file, re-parsed only when the file changed (results are written once, read often)."""
        stat = path.stat()
        key = (stat.st_mtime_ns, stat.st_size)
        cached = self._results_cache.get(path.name)
        if cached is None or cached[0] != key:
            cached = (key, Result.from_json(path.read_bytes()))
            self._results_cache[path.name] = cached
        return cached[1]

    def _write_table_and_card(self) -> None:
        """The consolidated table and the dataset card, as the Hub store commits them with each result."""
        results = [
            Result.from_json(p.read_bytes()) for p in sorted((self.results_root / layout.RESULTS_DIR).glob("*.json"))
        ]
        eval_sets = tuple(self.card.eval_sets) if self.card else ()
        atomic_write(self.results_root / TABLE_FILE, consolidated_table(results, eval_sets))
        if self.card is not None:
            atomic_write(self.results_root / CARD_FILE, render_card(self.card))

    def snapshot(self) -> Snapshot:
        with self._exclusive():
            requests = self._read_requests()
            log = self._read_log()
            results = {path.stem: self._result(path) for path in sorted((self.results_root / layout.RESULTS_DIR).glob("*.json"))}
        # Any change to a request, a result or the log changes the version, so the Space rebuilds (and
        # re-verifies) its board even after a hand edit of a file.
        stamps = sorted(
            (p.name, p.stat().st_mtime_ns, p.stat().st_size)
            for folder in (
                self.requests_root / layout.REQUESTS_DIR,
                self.results_root / layout.RESULTS_DIR,
                self.results_root / layout.THROUGHPUT_DIR,  # R14: a throughput write moves the version too
            )
            for p in folder.glob("*.json")
        )
        version = hashlib.sha256(repr((len(log), stamps)).encode()).hexdigest()[:16]
        return Snapshot(requests=requests, results=results, log=log, version=version, audits=self._read_audits())

    def _read_audits(self) -> list[AuditRecord]:
        """Every audit record file; `Snapshot.published_audits` keeps those the log vouches for."""
        folder = self.results_root / layout.AUDITS_DIR
        return [AuditRecord.from_json(p.read_bytes()) for p in sorted(folder.glob("*/*.json"))]

    def predictions(self, request_id: str, eval_set: str) -> list[PredictionRow]:
        path = self.results_root / layout.predictions_path(request_id, eval_set)
        if not path.exists():
            raise FileNotFoundError(f"no predictions for request {request_id} on eval set {eval_set} ({path})")
        return read_jsonl(PredictionRow, path.read_text(encoding="utf-8"))

    def predictions_url(self, request_id: str, eval_set: str) -> str:
        return str(self.results_root / layout.predictions_path(request_id, eval_set))

    def _put_throughput_files(self, files: Mapping[str, str], message: str) -> None:
        """Predictions first, the record next, the table last, each atomically, under the store's lock."""
        with self._exclusive():
            for path, text in files.items():
                atomic_write(self.results_root / path, text)

    def throughput_results(self) -> dict[str, ThroughputResult]:
        folder = self.results_root / layout.THROUGHPUT_DIR
        paths = sorted(p for p in folder.glob("*.json") if p.is_file())
        return {p.stem: ThroughputResult.from_json(p.read_bytes()) for p in paths}
