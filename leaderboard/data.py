"""The one place the pages read the store: a snapshot cached for a few seconds, and the board built from it
cached by snapshot version. Every page refresh within the TTL shares one read; the board (ranking, display
values) is rebuilt only when the store's version changes, never per file or per callback.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

from leaderboard.table import Board, BoardInput, build_board
from openasr_core.audits import audit_verdicts, unavailable_entries
from openasr_core.records import Result
from openasr_core.store import Snapshot, Store

logger = logging.getLogger(__name__)
T = TypeVar("T")
MEMO_SIZE = 256


class VersionMemo:
    """A bounded, thread-safe memo of values derived from one store version (least recently used dropped).

    Each missing key is computed once however many visitors ask at the same moment (fifty page loads right
    after a new result would otherwise each render the same page): the first computes it outside the lock,
    the others wait for that result, and other keys are never blocked. A failed computation reaches every
    waiter and is not kept, so the next call tries again."""

    def __init__(self, size: int = MEMO_SIZE) -> None:
        self.size = size
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._pending: dict[Hashable, Future[Any]] = {}
        self._lock = threading.Lock()
        self.computed = 0

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
            pending = self._pending.get(key)
            first = pending is None
            if pending is None:
                pending = self._pending[key] = Future()
        if not first:
            return pending.result()
        try:
            value = compute()
        except BaseException as exc:
            with self._lock:
                del self._pending[key]
            pending.set_exception(exc)
            raise
        with self._lock:
            self.computed += 1
            self._values[key] = value
            del self._pending[key]
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        pending.set_result(value)
        return value


@dataclass(frozen=True)
class Loaded:
    """A snapshot, the board built from it, and the memo of what pages derived from that store version."""

    snapshot: Snapshot
    board: Board
    read_at: float
    memo: VersionMemo = field(default_factory=VersionMemo, compare=False, repr=False)
    board_version: str = ""

    def cached(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()` once per store version and `key`."""
        return self.memo.get(key, compute)


def board_version(snapshot: Snapshot) -> str:
    """What the board, the plot, the header and the log views are derived from: the finished results, the
    log and the damaged files. A heartbeat (a lease renewal, progress) moves the store's version but not
    this one, so an evaluation in progress does not make every visitor's page rebuild every few seconds."""
    finished = sorted((r.request_id, r.signature or r.finished_at) for r in snapshot.finished_results())
    last = snapshot.log[-1].hash if snapshot.log else ""
    key = repr((finished, len(snapshot.log), last, tuple(snapshot.damaged)))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


class BoardSource:
    """Thread-safe cache in front of `store.snapshot()`.

    `ttl_s` bounds how stale a page can be (a few seconds locally; longer on the Hub, where a snapshot costs
    API calls). A slow read stretches it: the cache holds for at least `load_factor` times the last read's
    duration, so however big the store grows, reading it takes at most about 1/`load_factor` of the time.
    `invalidate()` forces the next read, e.g. right after a submission or a finished evaluation.
    `rank_unavailable`: keep ranking entries whose model can no longer be loaded at its pinned revision (R13;
    `[audit] unrankable_when_unavailable = false`); by default they are not ranked.
    """

    def __init__(
        self,
        store: Store,
        *,
        version: str,
        eval_sets: tuple[str, ...],
        is_local: Callable[[str], bool] = lambda _model_id: False,
        verified: Callable[[Result], bool] | None = None,
        rank_unavailable: bool = False,
        ttl_s: float = 2.0,
        load_factor: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.version = version
        self.eval_sets = eval_sets
        self.is_local = is_local
        self.verified = verified
        self.rank_unavailable = rank_unavailable
        self.ttl_s = ttl_s
        self.load_factor = load_factor
        self.clock = clock
        self.last_read_s = 0.0
        self._lock = threading.Lock()
        self._reading = threading.Lock()  # held while one caller reads the store
        self._loaded: Loaded | None = None
        self._stale = False
        self.reads = 0

    @property
    def effective_ttl_s(self) -> float:
        return max(self.ttl_s, self.load_factor * self.last_read_s)

    def invalidate(self) -> None:
        """Re-read the store on the next `get`; the board and memo are kept if its version did not move."""
        with self._lock:
            self._stale = True

    def get(self) -> Loaded:
        """The cached snapshot and board, re-read from the store when older than the TTL. While one caller
        re-reads an expired snapshot, the others get the previous one at once instead of queueing behind the
        read (at 1,000 results a read costs some 50 ms, during which fifty visitors would all wait); after
        `invalidate()` (a write of this process) every caller waits for the new read."""
        with self._lock:
            current = self._loaded
            fresh = current is not None and self.clock() - current.read_at < self.effective_ttl_s
            if current is not None and not self._stale and (fresh or self._reading.locked()):
                return current
        with self._reading:
            with self._lock:  # another caller may have read the store while this one waited
                current, now = self._loaded, self.clock()
                if current is not None and not self._stale and now - current.read_at < self.effective_ttl_s:
                    return current
                self._stale = False
            loaded = self._read(current, now)
            with self._lock:
                self._loaded = loaded
            return loaded

    def _read(self, current: Loaded | None, now: float) -> Loaded:
        """A new `Loaded` from the store; the board and memo are kept when the board's version did not move."""
        try:
            snapshot = self.store.snapshot()
            self.last_read_s = max(0.0, self.clock() - now)
        except Exception as exc:
            if current is None:
                raise
            # The Hub can be briefly unreachable: keep showing the last good read, try again after the TTL.
            logger.warning("store read failed, showing the previous snapshot: %s: %s", type(exc).__name__, exc)
            return Loaded(current.snapshot, current.board, read_at=now, memo=current.memo)
        self.reads += 1
        key = board_version(snapshot)
        if current is not None and current.board_version == key:
            return Loaded(snapshot, current.board, read_at=now, memo=current.memo, board_version=key)
        return Loaded(snapshot, self.build(snapshot), read_at=now, board_version=key)

    def build(self, snapshot: Snapshot) -> Board:
        """The board of this leaderboard version: finished results only, with each request's model facts."""
        items = []
        local: dict[str, bool] = {}
        audits = audit_verdicts(snapshot.log, snapshot.audits)  # damage never lifts a flag
        gone = unavailable_entries(snapshot.log)  # deleting or gating a model does not dodge its audits
        for result in snapshot.finished_results():
            if result.leaderboard_version != self.version:
                continue
            request = snapshot.requests.get(result.request_id)
            if result.model_id not in local:
                local[result.model_id] = self.is_local(result.model_id)
            items.append(
                BoardInput(
                    result=result,
                    model=result.model or (request.model if request else None),
                    local=local[result.model_id],
                    audit=audits.get(result.request_id),
                    unavailable=gone.get(result.request_id),
                )
            )
        return build_board(
            items, eval_sets=self.eval_sets, verified=self.verified, rank_unavailable=self.rank_unavailable
        )
