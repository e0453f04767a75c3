"""Replay a week of submissions through the real queue and the real Jobs dispatcher, on a simulated clock.

    python bench/scale_week.py [--submissions 60] [--seed 13] [--tick-min 10]

What is real: the LocalStore (claims, leases, expiry, exactly-once finishing, in a temp folder, its clock
pointed at the simulated one), the dispatcher (`leaderboard.jobs`: plan, `HubJobs` over the real `HfApi`), and
the HTTP between them and the Jobs emulator (testkit/jobs_emulator.py). What is simulated: the evaluations.

Workload model (stated, not measured): ~60 submissions arrive uniformly at random over 7 days; sizes are
Whisper-like, tiny 39 M (20 %), base 74 M (20 %), small 244 M (25 %), medium 769 M (20 %), large 1.55 B
(15 %). One evaluation takes `10 min load + 40 h of audio x RTF`, with batch-one RTF on an A10G of
`0.02 + 0.12 x parameters / 1e9` (tiny ~1 h, large ~8.4 h), scattered by a log-normal factor (sigma 0.2).
That is ~190 GPU hours a week: more than one GPU's 168.

Settings: the Space's single GPU (one worker claiming the oldest request, no faults), and Jobs at
max_parallel_jobs = 1, 4, 8 with faults: 4 % of Job runs crash mid-way, 2 % vanish, and the Space restarts
once mid-week (a fresh dispatcher adopts the running Jobs). With Jobs, audits (R13) also run as Jobs when the
queue is empty (30 simulated minutes each, at the board's [audit] cadence); their GPU time is in the cost.
The Space setting runs no audits. Queue wait = submission to the start of the
evaluation that finished. Cost: Jobs at the listed a10g-small price per minute of running time (failed runs
included); the Space at the same hourly price for every hour it is up until the queue drains.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import random
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from huggingface_hub import HfApi

from leaderboard.jobs.dispatcher import Dispatcher
from leaderboard.jobs.jobs_api import APP_LABEL, HubJobs, JobRequestSpec
from openasr_core.board_files import BoardFiles
from openasr_core.compute import job_cost_usd
from openasr_core.config import REPO_ROOT, LeaderboardConfig, WorkersConfig, load_config
from openasr_core.records import ModelInfo, Request, Status, parse_time
from openasr_core.store import LocalStore
from testkit.factories import make_result
from testkit.hub_emulator import HubEmulator
from testkit.jobs_emulator import HARDWARE, JobsEmulator, SimClock
from testkit.jobs_sim import JobWorkers

START = datetime(2026, 11, 2, tzinfo=UTC)
SIZES = ((39_000_000, 0.20), (74_000_000, 0.20), (244_000_000, 0.25), (769_000_000, 0.20), (1_550_000_000, 0.15))
AUDIO_HOURS, LOAD_S, RTF_FLOOR, RTF_PER_B = 40.0, 600.0, 0.02, 0.12
PRICE_PER_MIN = next(h["unitCostMicroUSD"] for h in HARDWARE if h["name"] == "a10g-small") / 1e6
TOKEN, NAMESPACE = "hf_bench_token", "leaderboard-org"
HORIZON = timedelta(days=40)


@dataclass(frozen=True)
class Submission:
    request: Request
    arrives: datetime
    eval_s: float


@dataclass(frozen=True)
class Outcome:
    name: str
    waits_h: list[float]
    makespan_h: float
    gpu_hours: float
    cost_usd: float
    lost: int
    duplicated: int


def workload(n: int, seed: int) -> list[Submission]:
    """`n` submissions at uniform random times over 7 days, sizes and evaluation times from the stated model."""
    rng = random.Random(seed)
    arrivals = sorted(START + timedelta(seconds=rng.uniform(0, 7 * 86400)) for _ in range(n))
    subs = []
    for i, arrives in enumerate(arrivals):
        params = rng.choices([s for s, _ in SIZES], weights=[w for _, w in SIZES])[0]
        rtf = (RTF_FLOOR + RTF_PER_B * params / 1e9) * math.exp(rng.gauss(0, 0.2))
        request = Request(
            request_id=f"{arrives:%Y%m%dT%H%M%SZ}-{i:08x}",
            model_id=f"bench/model-{i}",
            revision="b" * 40,
            requested_revision="main",
            precision="float16",
            submitter=f"user-{i % 17}",
            submitted_at=arrives.isoformat().replace("+00:00", "Z"),
            model=ModelInfo(license="mit", parameters=params, architecture="WhisperForConditionalGeneration"),
        )
        subs.append(Submission(request, arrives, LOAD_S + AUDIO_HOURS * 3600 * rtf))
    return subs


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def _arrive(store: LocalStore, subs: list[Submission], now: datetime, next_index: int) -> int:
    while next_index < len(subs) and subs[next_index].arrives <= now:
        store.submit(subs[next_index].request)
        next_index += 1
    return next_index


def _waits(store: LocalStore, started: dict[str, datetime], subs: list[Submission]) -> tuple[list[float], float, int]:
    snap = store.snapshot()
    waits = [
        (started[s.request.request_id] - s.arrives).total_seconds() / 3600
        for s in subs
        if s.request.request_id in started
    ]
    finished = [parse_time(r.finished_at) for r in snap.results.values()]
    makespan = (max(finished) - subs[0].arrives).total_seconds() / 3600 if finished else float("nan")
    lost = sum(1 for s in subs if snap.requests.get(s.request.request_id, s.request).status is not Status.FINISHED)
    return waits, makespan, lost


def _config(max_parallel: int) -> LeaderboardConfig:
    """The official board's config in jobs mode, with the bench's duration model; leases of an hour, renewed
    when they would run out within two ticks (a real worker renews every few seconds; fewer writes here)."""
    base = load_config(REPO_ROOT / "configs" / "esb-v1.toml", env={})
    base = dataclasses.replace(base, rules=dataclasses.replace(base.rules, lease_s=3600.0))
    workers = WorkersConfig(
        mode="jobs",
        space_id=f"{NAMESPACE}/asr-leaderboard",
        max_parallel_jobs=max_parallel,
        audio_hours=AUDIO_HOURS,
        rtf_floor=RTF_FLOOR,
        rtf_per_billion_params=RTF_PER_B,
        startup_s=LOAD_S,
    )
    return dataclasses.replace(base, workers=workers)


def run_space(subs: list[Submission], tick: timedelta, root: Path) -> Outcome:
    """One GPU in the Space: claim the oldest request when idle, evaluate, finish; the real store throughout."""
    clock = SimClock(START)
    store, rules = LocalStore(root, render=BoardFiles(), clock=clock), _config(1).rules
    started: dict[str, datetime] = {}
    busy: tuple[Request, datetime] | None = None
    arrived = 0
    while clock.now < START + HORIZON:
        arrived = _arrive(store, subs, clock.now, arrived)
        if busy and busy[1] <= clock.now:
            request, ends = busy
            result = make_result(
                request.request_id,
                request.model_id,
                started_at=_iso(started[request.request_id]),
                finished_at=_iso(ends),
            )
            store.finish(request.request_id, "space", result, {})
            busy = None
        if busy is None:
            claimed = store.claim("space", 10 * 86400.0, rules.max_attempts)
            if claimed is not None:
                started[claimed.request_id] = clock.now
                eval_s = next(s.eval_s for s in subs if s.request.request_id == claimed.request_id)
                busy = (claimed, clock.now + timedelta(seconds=eval_s))
            elif arrived == len(subs):
                break
        clock.advance(tick.total_seconds() if busy is None else min(tick, busy[1] - clock.now).total_seconds() or 1)
    waits, makespan, lost = _waits(store, started, subs)
    gpu_h = sum(s.eval_s for s in subs if s.request.request_id in started) / 3600
    return Outcome("space (1 GPU)", waits, makespan, gpu_h, makespan * PRICE_PER_MIN * 60, lost, 0)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _fate(rng: random.Random) -> Callable[[Request, int], str]:
    def fate(_request: Request, _attempt: int) -> str:
        roll = rng.random()
        return "ERROR" if roll < 0.04 else "VANISH" if roll < 0.06 else "COMPLETED"

    return fate


def _duplicated(emulator: JobsEmulator, workers: JobWorkers, end: datetime) -> int:
    """Requests evaluated to completion twice, or with two Jobs alive at the same time."""
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for job in [*emulator.jobs.values(), *emulator.vanished.values()]:
        request_id = job.spec["command"][-1]
        spans.setdefault(request_id, []).append((job.created_at, job.finished_at or end))
    overlapping = {
        rid
        for rid, items in spans.items()
        if any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(items) for b in items[i + 1 :])
    }
    return len(overlapping | {rid for rid, n in workers.finished.items() if n > 1})


def run_jobs(subs: list[Submission], max_parallel: int, tick: timedelta, root: Path, seed: int) -> Outcome:
    """The real dispatcher on the simulated clock against the Jobs emulator, with crashes, vanishings and one
    Space restart mid-week."""
    clock, config = SimClock(START), _config(max_parallel)
    store = LocalStore(root, render=BoardFiles(), clock=clock)
    durations = {s.request.request_id: s.eval_s for s in subs}
    workers = JobWorkers(
        store,
        config.rules,
        config.workers.flavor,
        lambda r: durations[r.request_id],
        _fate(random.Random(seed)),
        version=config.version,  # results of the board's version: audits are due and run on Jobs too
    )
    emulator = JobsEmulator(clock, tokens={TOKEN: NAMESPACE}, script=workers.script, on_end=workers.on_end)
    spec = JobRequestSpec(
        image=config.workers.job_image,
        command=("python", "-m", "evaluator", "run-once", "--config", "configs/esb-v1.toml"),
        audit_command=("python", "-m", "evaluator", "audit", "--scheduled", "--config", "configs/esb-v1.toml"),
        flavor=config.workers.flavor,
        env={},
        secrets={"HF_TOKEN": TOKEN},
        labels={"app": APP_LABEL, "leaderboard": config.version},
    )

    def new_dispatcher() -> Dispatcher:
        return Dispatcher(config, store, HubJobs(HfApi(token=TOKEN), NAMESPACE, spec, clock), clock, [TOKEN])

    dispatcher, restart_at, arrived, ticks = new_dispatcher(), START + timedelta(days=3.5), 0, 0
    hub = HubEmulator()
    hub.mount(emulator.handle)  # one emulator serves the Hub's repo routes and the Jobs API
    with hub.installed():
        while clock.now < START + HORIZON:
            arrived = _arrive(store, subs, clock.now, arrived)
            emulator.refresh()
            workers.heartbeat({job.id for job in emulator.active()}, renew_within=clock.now + 2 * tick)
            if restart_at is not None and clock.now >= restart_at:
                dispatcher, restart_at = new_dispatcher(), None  # the Space restarted
            dispatcher.tick()
            ticks += 1
            if arrived == len(subs) and ticks % 6 == 0 and _drained(store):
                break
            clock.advance(_until_next_event(clock.now, tick, subs, arrived, emulator, workers, restart_at))
        started = {rid: span[0] for rid, span in workers.evaluated.items()}
        waits, makespan, lost = _waits(store, started, subs)
    jobs = [*emulator.jobs.values(), *emulator.vanished.values()]
    held = [((job.finished_at or clock.now) - job.started_at).total_seconds() for job in jobs if job.started_at]
    gpu_s = sum(held)
    cost = sum(job_cost_usd(seconds, PRICE_PER_MIN) for seconds in held)  # each Job billed per started minute
    dup = _duplicated(emulator, workers, clock.now)
    return Outcome(f"jobs x{max_parallel}", waits, makespan, gpu_s / 3600, cost, lost, dup)


def _until_next_event(
    now: datetime,
    tick: timedelta,
    subs: list[Submission],
    arrived: int,
    emulator: JobsEmulator,
    workers: JobWorkers,
    restart_at: datetime | None,
) -> float:
    """Seconds to the first tick at or after the next thing that can change a decision (an arrival, a Job
    starting or ending, a lease to renew or running out, the restart). Ticks in between would find nothing
    new, so skipping them changes no decision and saves store reads; the tick grid is kept."""
    events = [
        subs[arrived].arrives if arrived < len(subs) else None,
        emulator.next_transition(),
        workers.next_event(now, 2 * tick),
        restart_at,
    ]
    upcoming = [at for at in events if at is not None]
    if not upcoming:
        return tick.total_seconds()
    ticks = max(1, math.ceil((min(upcoming) - now) / tick))
    return ticks * tick.total_seconds()


def _drained(store: LocalStore) -> bool:
    return all(r.status in (Status.FINISHED, Status.FAILED) for r in store.snapshot().requests.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=60)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--tick-min", type=float, default=10.0, help="simulated minutes between scheduler ticks")
    args = parser.parse_args(argv)
    subs = workload(args.submissions, args.seed)
    tick = timedelta(minutes=args.tick_min)
    demand = sum(s.eval_s for s in subs) / 3600
    print(f"{len(subs)} submissions over 7 days, {demand:.0f} GPU hours of evaluation by the stated model")
    print(
        f"{'setting':<14} {'wait p50 h':>10} {'wait p95 h':>10} {'makespan h':>10} {'GPU h':>7} {'cost $':>8} lost dup"
    )
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="scale_week-") as tmp:
        outcomes.append(run_space(subs, tick, Path(tmp) / "space"))
        for n in (1, 4, 8):
            outcomes.append(run_jobs(subs, n, tick, Path(tmp) / f"jobs{n}", args.seed + n))
    for o in outcomes:
        print(
            f"{o.name:<14} {_percentile(o.waits_h, 50):>10.1f} {_percentile(o.waits_h, 95):>10.1f} "
            f"{o.makespan_h:>10.1f} {o.gpu_hours:>7.1f} {o.cost_usd:>8.2f} {o.lost:>4} {o.duplicated:>3}"
        )
    space, jobs4 = outcomes[0], outcomes[2]
    lost = sum(o.lost for o in outcomes)
    duplicated = sum(o.duplicated for o in outcomes)
    print(
        f"scale_week: submissions={len(subs)} space_p95_wait_h={_percentile(space.waits_h, 95):.1f} "
        f"jobs4_p95_wait_h={_percentile(jobs4.waits_h, 95):.1f} jobs4_cost_usd={jobs4.cost_usd:.2f} "
        f"lost={lost} duplicated={duplicated}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
