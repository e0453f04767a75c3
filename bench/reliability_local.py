"""The local store under `kill -9` and damaged files, for `bench/reliability.py`.

`kill_campaign`: 4 concurrent worker processes (bench/reliability_worker.py: real store, fake evaluation step)
drain a queue while the bench SIGKILLs workers at every named point inside store writes and at random moments,
starting a fresh worker for each one killed. `corruptions`: each kind of damaged file on a small board, then the
board is read, `verify` must fail naming the file (or the missing table), and a submit, claim and finish must
still reach the table.
"""

from __future__ import annotations

import io
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from reliability_checks import Tally, count
from reliability_worker import EVAL_SET, ROWS, VERSION, open_store

from openasr_core import layout
from openasr_core.store import LocalStore
from testkit.factories import make_request, make_result

WORKER = Path(__file__).resolve().parent / "reliability_worker.py"
#: Where a worker is killed: just before (or, with +, just after) writing that file in that operation.
KILL_POINTS = (
    "claim:requests/log",
    "claim:requests/state.json",
    "claim:+requests/state.json",
    "heartbeat:requests/index.json",  # a heartbeat writes the index alone
    "finish:results/predictions",
    "finish:results/results",
    "finish:results/records",
    "finish:results/leaderboard/",
    "finish:results/README.md",
    "finish:requests/closed",
    "finish:requests/state.json",
    "finish:+requests/state.json",
)


def _submit_all(store: LocalStore, n: int, prefix: str) -> list[str]:
    ids = [f"{prefix}-{i:03d}" for i in range(n)]
    for i, request_id in enumerate(ids):
        store.submit(
            make_request(request_id, f"org/model-{i}", submitted_at=f"2026-11-27T09:{i // 60:02d}:{i % 60:02d}Z")
        )
    return ids


def _spawn(root: Path, name: str, kill_at: str | None, lease_s: float) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(WORKER), str(root), name, "--lease-s", str(lease_s), "--eval-s", "0.4"]
    if kill_at:
        command += ["--kill-at", kill_at]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_campaign(root: Path, requests: int = 24, workers: int = 4, random_kills: int = 8, seed: int = 7) -> Tally:
    """Drain `requests` with `workers` processes under every named kill point and `random_kills` random kills."""
    tally = Tally("kill -9 (named + random)", "local", workers=workers, requests=requests)
    store = open_store(root)
    ids = _submit_all(store, requests, "kill")
    rng, points = random.Random(seed), list(KILL_POINTS)
    live: dict[str, tuple[subprocess.Popen[bytes], str | None]] = {}
    started, deadline, next_random, spawned = time.monotonic(), time.monotonic() + 240, time.monotonic() + 1.5, 0
    fired: list[str] = []
    while time.monotonic() < deadline:
        for name, (process, point) in list(live.items()):
            if process.poll() is None:
                continue
            del live[name]
            if process.returncode == -signal.SIGKILL:
                tally.faults += 1
                fired += [point] if point else []
            elif process.returncode != 0:
                tally.notes.append(f"{name} exited {process.returncode}: {process.stderr.read()[-300:]!r}")  # type: ignore[union-attr]
        if not live and not _open(store):
            break
        while len(live) < workers and _open(store):
            point = points.pop(0) if points else None
            spawned += 1
            live[f"w{spawned}"] = (_spawn(root, f"w{spawned}", point, 3.0), point)
        plain = sorted(name for name, (_, point) in live.items() if point is None)  # named ones reach their point
        if random_kills and plain and time.monotonic() >= next_random:
            live[rng.choice(plain)][0].send_signal(signal.SIGKILL)
            random_kills -= 1
            next_random = time.monotonic() + rng.uniform(0.5, 1.5)
        time.sleep(0.05)
    for process, _ in live.values():
        process.kill()
    missed = sorted(set(KILL_POINTS) - set(fired))
    tally.notes.append(
        f"{spawned} worker processes, {time.monotonic() - started:.0f} s; named points fired {len(fired)}/"
        f"{len(KILL_POINTS)}" + (f" (not reached: {', '.join(missed)})" if missed else "")
    )
    fresh = open_store(root)
    count(tally, fresh.snapshot(), _table(fresh), ids)
    tally.survived = tally.faults if tally.clean else 0
    return tally


def _open(store: LocalStore) -> bool:
    return any(r.status.value in ("PENDING", "RUNNING") for r in store.snapshot().requests.values())


def _table(store: LocalStore) -> str | None:
    shards = sorted((store.results_root / layout.TABLE_DIR).glob("*.csv"))
    return "".join(path.read_text(encoding="utf-8", errors="replace") for path in shards) if shards else None


# --- damaged files ------------------------------------------------------------------------------------------


def _small_board(root: Path) -> LocalStore:
    store = open_store(root)
    for request_id in _submit_all(store, 3, "c"):
        if request_id.endswith("2"):
            break  # c-002 stays pending
        claimed = store.claim("w", 600, 3)
        assert claimed is not None and claimed.request_id == request_id
        result = make_result(request_id, claimed.model_id, wers={EVAL_SET: 0.1}, version=VERSION, signature=None)
        store.finish(request_id, "w", result, {EVAL_SET: ROWS})
    return store


def _append(path: Path, data: bytes) -> None:
    path.write_bytes(path.read_bytes() + data)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def _replace_line(path: Path, index: int, text: bytes) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    lines[index] = text
    path.write_bytes(b"".join(lines))


#: name -> (damage applied to a store root, whether the board read must report it)
CORRUPTIONS: dict[str, tuple[Callable[[Path], None], bool]] = {
    "truncated state.json": (lambda r: _truncate(r / "requests" / layout.STATE_FILE), True),
    "garbage line appended to the log": (
        lambda r: _append(r / "requests" / layout.log_chunk_path(0), b"{oops\n"),
        True,
    ),
    "log line replaced by garbage": (
        lambda r: _replace_line(r / "requests" / layout.log_chunk_path(0), 1, b"x\n"),
        True,
    ),
    "garbage closed shard line": (
        lambda r: _append(r / "requests" / layout.closed_path(layout.shard("c-000")), b"\x00\xff\n"),
        True,
    ),
    "truncated records shard": (lambda r: _truncate(r / "results" / layout.records_path(layout.shard("c-001"))), True),
    "corrupt result file": (lambda r: (r / "results" / layout.result_path("c-000")).write_bytes(b"{garbage"), False),
    "truncated predictions file": (
        lambda r: _truncate(r / "results" / layout.predictions_path("c-000", EVAL_SET)),
        False,
    ),
    "corrupt table shard": (
        lambda r: (r / "results" / layout.table_path(layout.FIRST_TABLE_SHARD)).write_bytes(b"\x00garbage,\n1,2,3\n"),
        False,
    ),
    "missing table shard": (lambda r: (r / "results" / layout.table_path(layout.FIRST_TABLE_SHARD)).unlink(), False),
}


def corruption(root: Path, name: str, base: Path) -> list[str]:
    """Apply one damage to a copy of `base`; what failed (empty when the product survived it)."""
    from evaluator import verify

    shutil.copytree(base, root)
    damage, reported = CORRUPTIONS[name]
    damage(root)
    failures = []
    try:
        snapshot = open_store(root).snapshot()
    except Exception as exc:  # the point of the bench: this must not happen
        return [f"board read raised {type(exc).__name__}: {exc}"]
    if reported and not snapshot.damaged:
        failures.append("the board read did not report the damaged file")
    out = io.StringIO()
    if verify.main([str(root)], out=out) != 1 or "FAIL" not in out.getvalue():
        failures.append(f"verify did not fail: {out.getvalue()[-200:]}")
    store = open_store(root)
    try:
        store.submit(make_request("c-new", "org/model-new", submitted_at="2026-11-28T00:00:00Z"))
        while (claimed := store.claim("w2", 600, 3)) is not None:
            result = make_result(
                claimed.request_id, claimed.model_id, wers={EVAL_SET: 0.2}, version=VERSION, signature=None
            )
            store.finish(claimed.request_id, "w2", result, {EVAL_SET: ROWS})
    except Exception as exc:
        return [*failures, f"submit/claim/finish raised {type(exc).__name__}: {exc}"]
    if "c-new" not in (_table(store) or ""):
        failures.append("the finish did not reach the table")
    return failures


def corruptions(workdir: Path) -> Tally:
    tally = Tally("damaged files", "local", requests=len(CORRUPTIONS))
    base = workdir / "base"
    _small_board(base)
    for index, name in enumerate(CORRUPTIONS):
        tally.faults += 1
        failures = corruption(workdir / f"damaged-{index}", name, base)
        if failures:
            tally.notes.append(f"{name}: {'; '.join(failures)}")
        else:
            tally.survived += 1
    return tally
