"""The Hub store under crashes, HTTP faults and damaged files, for `bench/reliability.py`.

The Hub emulator (testkit/hub_emulator.py) lives in one process, so this part runs there: 4 worker THREADS, each
with its own `HubStore` and the real `huggingface_hub` client over the emulator, with the same FAKE evaluation
step as the local workers. A "kill" is a `Killed` (BaseException) raised inside the worker at a named point
around a commit: nothing below it cleans up, as with `kill -9` (the thread's lease is left to expire). Meanwhile
the bench injects the Hub's failures: 5xx on reads, a commit applied whose answer is lost (5xx or dropped
connection), a 429 with `RateLimit`, another client's commit landing between a read and a write.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from reliability_checks import Tally, count
from reliability_worker import EVAL_SET, ROWS, VERSION, work

from openasr_core import layout
from openasr_core.board_files import BoardFiles
from openasr_core.dataset_card import CardInfo
from openasr_core.records import Status
from openasr_core.store.hub import HubStore, RetryPolicy
from testkit.factories import make_request, make_result
from testkit.hub_emulator import ENDPOINT, HubEmulator

REQUESTS, RESULTS = "bench/requests", "bench/results"
LEASE_S = 2.0
#: Where a worker thread dies: before/after (+) its commit to that repo during that operation.
KILL_POINTS = (
    "claim:requests",
    "claim:+requests",
    "heartbeat:requests",
    "finish:results",
    "finish:+results",  # the result and table are committed, the request is still RUNNING (item 4 on the Hub)
    "finish:requests",
)


class Killed(BaseException):
    """The simulated `kill -9` of one worker thread."""


def _table_text(hub: HubEmulator) -> str:
    """Every shard of the results repo's table, joined."""
    files = hub.files(RESULTS)
    return "".join(
        data.decode("utf-8", "replace")
        for path, data in sorted(files.items())
        if path.startswith(f"{layout.TABLE_DIR}/")
    )


def make_store(hub: HubEmulator, create: bool = False) -> HubStore:
    from huggingface_hub import HfApi

    retry = RetryPolicy(attempts=6, base_delay_s=0.01, max_delay_s=2.0)
    card = CardInfo(leaderboard_version=VERSION, eval_sets=(EVAL_SET,), results_repo=RESULTS)
    api = HfApi(endpoint=ENDPOINT, token="hf_benchTOKEN0123456789")
    return HubStore(
        REQUESTS,
        RESULTS,
        token="hf_benchTOKEN0123456789",
        api=api,
        create_repos=create,
        retry=retry,
        render=BoardFiles(card),
    )


def _with_kill(store: HubStore, point: str | None, op: dict[str, str]) -> None:
    """Make the store's commits raise `Killed` at `point` (see KILL_POINTS)."""
    if point is None:
        return
    real = store._commit
    name, _, target = point.partition(":")
    after = target.startswith("+")

    def commit(
        repo: Any, files: Any, parent: str, message: str, landed: Callable[[], bool] | None = None, **kwargs: Any
    ) -> Any:
        hit = op["name"] == name and repo.name.endswith(target.lstrip("+"))
        if hit and not after:
            raise Killed(point)
        oid = real(repo, files, parent, message, landed, **kwargs)
        if hit:
            raise Killed(point)
        return oid

    store._commit = commit  # type: ignore[method-assign]


def _thread(hub: HubEmulator, name: str, point: str | None, deaths: list[str], errors: list[str]) -> threading.Thread:
    def run() -> None:
        store, op = make_store(hub), {"name": ""}
        _with_kill(store, point, op)
        try:
            work(store, name, LEASE_S, 0.6, op)  # the fake evaluation: 0.6 s, renewing the lease
        except Killed as killed:
            deaths.append(str(killed))
        except Exception as exc:  # an operation that gave up after its retries: the worker exits, the lease expires
            errors.append(f"{name}: {type(exc).__name__}: {str(exc)[:200]}")

    return threading.Thread(target=run, name=name, daemon=True)


def _inject(hub: HubEmulator, rng: random.Random) -> str:
    """One Hub failure on the next matching request."""
    kind = rng.choice(("5xx read", "commit applied, answer lost", "dropped commit", "429", "racing commit"))
    if kind == "5xx read":
        hub.fail("resolve", 503)
    elif kind == "commit applied, answer lost":
        hub.fail("commit", 502, apply=True)
    elif kind == "dropped commit":
        hub.drop("commit", apply=True)
    elif kind == "429":
        hub.fail(
            "refs", 429, headers={"RateLimit": '"api";r=0;t=1', "RateLimit-Policy": '"fixed window";"api";q=500;w=300'}
        )
    else:
        other = make_store(hub)
        hub.before("commit", lambda: other.submit(make_request(f"race-{rng.randrange(10**9)}", "org/racer")))
    return kind


def campaign(requests: int = 16, workers: int = 4, http_faults: int = 12, seed: int = 11) -> Tally:
    """Drain `requests` with `workers` threads under every kill point and `http_faults` injected failures."""
    tally = Tally("kills + HTTP faults", "hub emulator", workers=workers, requests=requests)
    hub, rng = HubEmulator(), random.Random(seed)
    with hub.installed():
        store = make_store(hub, create=True)
        ids = [f"hub-{i:03d}" for i in range(requests)]
        for i, request_id in enumerate(ids):
            store.submit(make_request(request_id, f"org/model-{i}", submitted_at=f"2026-11-27T09:00:{i:02d}Z"))
        deaths: list[str] = []
        errors: list[str] = []
        points, live, spawned, injected = list(KILL_POINTS), [], 0, 0
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            live = [t for t in live if t.is_alive()]
            if not live and not _open(store):
                break
            while len(live) < workers and _open(store):
                spawned += 1
                thread = _thread(hub, f"t{spawned}", points.pop(0) if points else None, deaths, errors)
                thread.start()
                live.append(thread)
            if injected < http_faults and rng.random() < 0.5:
                tally.notes.append(_inject(hub, rng))
                injected += 1
            time.sleep(0.1)
        ids += [r for r in store.snapshot().requests if r.startswith("race-")]
        tally.faults = len(deaths) + injected
        tally.notes = [f"{len(deaths)} killed threads, {injected} HTTP faults: {', '.join(sorted(set(tally.notes)))}"]
        tally.notes += errors[:3]
        fresh = make_store(hub)
        table = _table_text(hub)
        count(tally, fresh.snapshot(), table, ids)
    tally.requests = len(ids)
    tally.survived = tally.faults if tally.clean else 0
    return tally


def _open(store: HubStore) -> bool:
    return any(r.status in (Status.PENDING, Status.RUNNING) for r in store.snapshot().requests.values())


def corruptions() -> Tally:
    """Damaged files pushed to the Hub repos (a stray pull request merged): read around, reported, repaired."""
    tally = Tally("damaged files", "hub emulator")
    damages: dict[str, Callable[[dict[str, bytes], dict[str, bytes]], tuple[str, str, bytes]]] = {
        "truncated state.json": lambda q, _r: (REQUESTS, layout.STATE_FILE, q[layout.STATE_FILE][:40]),
        "garbage log line": lambda q, _r: (REQUESTS, layout.log_chunk_path(0), q[layout.log_chunk_path(0)] + b"{x\n"),
        "truncated records shard": lambda _q, r: (
            RESULTS,
            layout.records_path(layout.shard("h-000")),
            r[layout.records_path(layout.shard("h-000"))][:30],
        ),
        "corrupt table shard": lambda _q, _r: (
            RESULTS,
            layout.table_path(layout.shard("h-new")),
            b"\x00,garbage\n1,2\n",
        ),
    }
    for name, damage in damages.items():
        tally.faults += 1
        tally.requests += 1
        failures = _hub_corruption(damage)
        if failures:
            tally.notes.append(f"{name}: {'; '.join(failures)}")
        else:
            tally.survived += 1
    return tally


def _hub_corruption(damage: Callable[[dict[str, bytes], dict[str, bytes]], tuple[str, str, bytes]]) -> list[str]:
    hub = HubEmulator()
    with hub.installed():
        store = make_store(hub, create=True)
        for i in range(2):
            store.submit(make_request(f"h-{i:03d}", f"org/model-{i}", submitted_at=f"2026-11-27T09:00:0{i}Z"))
            claimed = store.claim("w", 600, 3)
            result = make_result(
                claimed.request_id, claimed.model_id, wers={EVAL_SET: 0.1}, version=VERSION, signature=None
            )  # type: ignore[union-attr]
            store.finish(claimed.request_id, "w", result, {EVAL_SET: ROWS})  # type: ignore[union-attr]
        repo, path, data = damage(hub.files(REQUESTS), hub.files(RESULTS))
        hub.push(repo, {path: data})
        must_report = not path.startswith(f"{layout.TABLE_DIR}/")  # never read: rewritten with its records shard
        try:
            fresh = make_store(hub)
            reported = bool(fresh.snapshot().damaged)
            fresh.submit(make_request("h-new", "org/model-new", submitted_at="2026-11-28T00:00:00Z"))
            claimed = fresh.claim("w2", 600, 3)
            result = make_result("h-new", "org/model-new", wers={EVAL_SET: 0.2}, version=VERSION, signature=None)
            fresh.finish(claimed.request_id, "w2", result, {EVAL_SET: ROWS})  # type: ignore[union-attr]
        except Exception as exc:
            return [f"{type(exc).__name__}: {exc}"]
        failures = []
        if "h-new" not in _table_text(hub):
            failures.append("the finish did not reach the table")
        after = make_store(hub).snapshot()
        if after.requests["h-new"].status is not Status.FINISHED:
            failures.append("h-new did not finish")
        # A damaged results file is read (and reported) once state.json names a results commit that holds it.
        if must_report and not (reported or after.damaged):
            failures.append(f"{path} was never reported as damaged")
        return failures
