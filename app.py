"""The Space: wires the config, the store, the pages and the background scheduler, then serves.

`python app.py` with no configuration runs the whole product on the embedded local store (`./store`): open
the page, submit a model from `store/models/<org>/<name>/` (or the Hub), and the scheduler evaluates it in
the background. Environment (besides openasr_core/config.py's): `LEADERBOARD_TICK_S` (scheduler interval, default
30 s), `LEADERBOARD_SCHEDULER=off` (serve pages only, e.g. when evaluations run elsewhere),
`LEADERBOARD_LOCAL_LOGIN=1` (show gradio's mocked login locally; needs an HF token and the Hub),
`GRADIO_SERVER_NAME`, `GRADIO_SERVER_PORT` (default 7860).
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType
from typing import TYPE_CHECKING, Any

import gradio as gr

from leaderboard.data import BoardSource
from leaderboard.inspection import HubModels, LocalModels, ModelInspector
from leaderboard.jobs.dispatcher import Dispatcher, jobs_dispatcher
from leaderboard.pages.serving import app_settings
from leaderboard.scheduler import EvalScheduler, SchedulerState, SchedulerStatus, tick_seconds
from leaderboard.ui import CSS, AppContext, Ui, on_space, show_login_button, theme
from openasr_core.activity import AUDIT as AUDIT_WORK
from openasr_core.activity import EVALUATION, WorkTracker
from openasr_core.audits import AUDIT, DROP, DROP_THROUGHPUT, THROUGHPUT, WorkPlan, plan_work
from openasr_core.board_files import open_store
from openasr_core.config import LeaderboardConfig, load_config
from openasr_core.logs import configure_logging
from openasr_core.records import Request, Result, Status
from openasr_core.signing import load_public_key, public_key_for, verify_result
from openasr_core.store import Store, StoreError
from openasr_core.store.local import REQUESTS_REPO_DIR, RESULTS_REPO_DIR
from openasr_core.throughput_runs import throughput_requested
from openasr_core.workers import default_worker_name

if TYPE_CHECKING:  # the evaluator is imported on first use only (see `evaluator_step`)
    from evaluator.spec import EvalSpec

logger = logging.getLogger("leaderboard")
SNAPSHOT_TTL_S = {"local": 2.0, "hub": 15.0}


@dataclass
class App:
    ui: Ui
    scheduler: EvalScheduler | None
    config: LeaderboardConfig
    store: Store
    dispatcher: Dispatcher | None = None  # jobs mode: its `status()` feeds the Queue page
    work: WorkTracker | None = None  # what the scheduler's step runs now (Queue, detail pages; clean stop)

    @property
    def demo(self) -> gr.Blocks:
        return self.ui.demo


def scheduler_enabled(env: os._Environ[str] | dict[str, str]) -> bool:
    return env.get("LEADERBOARD_SCHEDULER", "on").strip().lower() not in ("0", "off", "false", "no")


def signature_checker(public_key: str | None) -> Callable[[Result], bool]:
    """R9: a result is ranked only if its signature verifies under the published key."""
    if public_key is None:
        return lambda _result: False
    key = load_public_key(public_key)
    return lambda result: verify_result(result, key)


def evaluator_step(
    config: LeaderboardConfig,
    store: Store,
    worker: str | None = None,
    run_once: Callable[..., Request | None] | None = None,
    run_audit: Callable[..., str] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    work: WorkTracker | None = None,
    run_throughput: Callable[..., str] | None = None,
) -> Callable[[], str]:
    """The step the scheduler runs, described in one line for the Queue page. `plan_work` (the planner the Jobs
    dispatcher uses too) decides: evaluate, else an owed throughput run (`throughput_step`: one attempt, or the
    drop of a run whose attempts are spent), else audit. An audit attempt (`evaluator.audit.scheduled_audit`, R13)
    or the drop of an audit whose attempts are spent is carried out here; anything else runs
    `evaluator.job.run_once` (imported on first use, so the UI starts without torch; tests pass their own),
    which claims a pending request or one whose lease ran out. Built here, not in the scheduler, so that the
    scheduler never imports the evaluator. Each tick does one thing, so a submission waits behind one audit
    attempt at most. `work` (the Space's) is told what runs, for the Queue page, and carries a stop request."""
    worker = worker or default_worker_name("space")
    tracked: dict[str, WorkTracker] = {} if work is None else {"work": work}

    def step() -> str:
        plan = next_work(config, store, clock())
        if plan.action in (THROUGHPUT, DROP_THROUGHPUT):
            return throughput_step(config, store, worker, plan, run_throughput, work)
        if not store.writes_audits:
            plan = None
        if plan is not None and plan.action in (AUDIT, DROP):
            return audit_step(config, store, worker, run_audit, plan, work)
        run = run_once
        if run is None:
            from evaluator.job import run_once as run

        request = run(config, store, worker=worker, **tracked)
        if request is None:
            why = plan.reason if plan else f"{type(store).__name__} cannot record audits yet"
            return f"nothing pending; no audit: {why}"
        status = getattr(request.status, "value", request.status)
        if request.error:
            return f"{request.model_id} ({request.precision}) {status}: {request.error[:160]}"
        return f"{request.model_id} ({request.precision}) {status}"

    return step


def device_check(config: LeaderboardConfig) -> Callable[[], str | None]:
    """R1 for the scheduler: `evaluator.device_check.check_device` for this board (imported on first use, like
    the evaluator's step): None when this process may evaluate, else the one line saying why not."""

    def check() -> str | None:
        from evaluator.device_check import check_device

        return check_device(config)

    return check


def next_work(config: LeaderboardConfig, store: Store, now: datetime) -> WorkPlan:
    """`plan_work` on what the store says: the queue, this version's entries, the FINISHED requests that asked for
    a throughput run, the log's audit and throughput history."""
    snapshot = store.snapshot()
    statuses = [r.status for r in snapshot.requests.values()]
    entries = sum(1 for r in snapshot.finished_results() if r.leaderboard_version == config.version)
    return plan_work(
        pending=statuses.count(Status.PENDING),
        running=statuses.count(Status.RUNNING),
        entries=entries,
        log=snapshot.log,
        now=now,
        policy=config.audit,
        throughput_requested=throughput_requested(snapshot.requests.values()),
        throughput_policy=config.throughput,
    )


def throughput_step(
    config: LeaderboardConfig,
    store: Store,
    worker: str,
    plan: WorkPlan,
    run_throughput: Callable[..., str] | None = None,
    work: WorkTracker | None = None,
) -> str:
    """Carry out the planner's throughput decision: drop a run whose attempts are spent (`throughput_dropped`, with
    the last reason), or run one attempt (`run_throughput`, default `evaluator.job.throughput_step`: it takes the
    run's lease, logs its start and its failure, publishes whole)."""
    request_id = plan.request_id or ""
    if plan.action == DROP_THROUGHPUT:
        try:
            store.drop_throughput(request_id, worker, plan.reason)
        except StoreError as exc:  # taken up or closed meanwhile: the next tick plans again
            return f"throughput run of {request_id} not dropped: {exc}"
        return f"throughput run of {request_id} dropped: {plan.reason[:160]}"
    if run_throughput is None:
        from evaluator.job import throughput_step as run_throughput
    return run_throughput(config, store, request_id, worker, work)


def audit_step(
    config: LeaderboardConfig,
    store: Store,
    worker: str,
    run_audit: Callable[..., str] | None,
    plan: WorkPlan,
    work: WorkTracker | None = None,
) -> str:
    """Carry out the planner's audit decision: drop an audit whose attempts are spent (logged, with the last
    reason), or run one attempt (`run_audit`, default `evaluator.audit.scheduled_audit`, its re-runs shown on
    the Queue page through `work` and stopped by its stop request)."""
    if plan.action == DROP and plan.request_id:
        store.drop_audit(plan.request_id, f"audit:{worker}", plan.reason, requested=plan.requested)
        return f"audit of {plan.request_id} dropped: {plan.reason[:160]}"
    auditor = f"audit:{worker}"
    if run_audit is not None:
        return run_audit(config, store, request_id=plan.request_id, auditor=auditor)
    from evaluator.audit import scheduled_audit
    from evaluator.evaluate import evaluate

    if work is None:
        return scheduled_audit(config, store, request_id=plan.request_id, auditor=auditor)
    try:
        rerun = tracked_rerun(evaluate, work, auditor)
        return scheduled_audit(config, store, request_id=plan.request_id, auditor=auditor, evaluate_fn=rerun)
    finally:
        work.end()


def tracked_rerun(evaluate_fn: Callable[..., Any], work: WorkTracker, auditor: str) -> Callable[..., Any]:
    """An audit's `evaluate_fn` that shows each re-run as the current work (kind audit, with its progress) and
    stops at the next utterance when a stop is asked for."""
    runs = [0]

    def rerun(config: LeaderboardConfig, spec: EvalSpec, **kwargs: Any) -> Any:
        runs[0] += 1
        prefix = f"re-run {runs[0]}: "
        if runs[0] == 1:
            work.begin(AUDIT_WORK, spec.request_id, spec.model, spec.precision, auditor)
        return evaluate_fn(
            config,
            spec,
            **kwargs,
            on_progress=lambda progress: work.report_progress(progress, prefix),
            should_stop=work.stop_requested,
        )

    return rerun


def build_app(config: LeaderboardConfig | None = None, env: os._Environ[str] | dict[str, str] | None = None) -> App:
    """Everything `python app.py` serves, not yet started."""
    env = os.environ if env is None else env
    config = config or load_config(env=env)
    store = started_store(config)
    inspector = ModelInspector(LocalModels(config.models_dir), HubModels())
    public_key = public_key_for(config)
    if public_key is None:
        logger.warning("no RESULTS_PUBLIC_KEY (or RESULTS_SIGNING_KEY): no result can be verified, none is ranked")
    source = BoardSource(
        store,
        version=config.version,
        eval_sets=tuple(e.name for e in config.eval_sets),
        is_local=inspector.is_local,
        ttl_s=SNAPSHOT_TTL_S[config.store.kind],
        verified=signature_checker(public_key),
        rank_unavailable=not config.audit.unrankable_when_unavailable,
    )
    work = WorkTracker()
    background = build_background(config, store, env, source, work)
    results_location, requests_location = data_locations(config)
    ctx = AppContext(
        config=config,
        store=store,
        source=source,
        inspector=inspector,
        scheduler_status=background.status,
        wake_scheduler=background.wake,
        space=on_space(env),
        login_button=show_login_button(env),
        results_location=results_location,
        requests_location=requests_location,
        public_key=public_key,
        dispatch_status=background.dispatcher.status if background.dispatcher is not None else None,
        current_work=work.current,
    )
    scheduler, dispatcher = background.scheduler, background.dispatcher
    return App(ui=Ui(ctx), scheduler=scheduler, config=config, store=store, dispatcher=dispatcher, work=work)


def started_store(config: LeaderboardConfig) -> Store:
    """The board's store, prepared for serving (`Store.on_start`); a store that cannot be prepared now still
    serves what it can read. A local board gets its models folder, so a user can drop models there."""
    store = open_store(config)
    try:
        store.on_start()
    except StoreError as exc:  # the card is written on a later start
        logger.warning("could not prepare the store at start: %s", exc)
    if config.store.kind == "local":
        config.models_dir.mkdir(parents=True, exist_ok=True)
    return store


def data_locations(config: LeaderboardConfig) -> tuple[str, str]:
    """Where the public results and requests are, as the About page names them: the local store's folders, or
    the Hub datasets' repo ids."""
    if config.store.kind == "local":
        return str(config.store.local_root / RESULTS_REPO_DIR), str(config.store.local_root / REQUESTS_REPO_DIR)
    return config.store.results_repo or "", config.store.requests_repo or ""


@dataclass(frozen=True)
class Background:
    """What runs behind the pages: the scheduler (None when it is off), the Jobs dispatcher it ticks in jobs mode
    (else None), and how the Queue page reads its state and wakes it."""

    scheduler: EvalScheduler | None
    dispatcher: Dispatcher | None
    status: Callable[[], SchedulerStatus]
    wake: Callable[[], None]


def build_background(
    config: LeaderboardConfig,
    store: Store,
    env: os._Environ[str] | dict[str, str],
    source: BoardSource,
    work: WorkTracker,
) -> Background:
    """The scheduler `env` asks for: off (evaluations run elsewhere), dispatching Jobs (jobs mode: the Jobs' own
    hardware is what counts, so no device check here), or evaluating in this Space, its work shown by `work`."""
    if not scheduler_enabled(env):
        off = SchedulerState(
            enabled=False, interval_s=0, note="`LEADERBOARD_SCHEDULER` is off: evaluations run elsewhere."
        )
        return Background(scheduler=None, dispatcher=None, status=off.snapshot, wake=lambda: None)
    dispatcher: Dispatcher | None = None
    check: Callable[[], str | None] | None
    if config.workers.mode == "jobs":  # the Space dispatches Jobs instead of evaluating (README, "Jobs")
        dispatcher = jobs_dispatcher(config, store, env)
        step, check = dispatcher.tick, None
    else:
        step, check = evaluator_step(config, store, work=work), device_check(config)
    scheduler = EvalScheduler(step, tick_seconds(env), on_change=source.invalidate, device_problem=check, work=work)
    return Background(scheduler=scheduler, dispatcher=dispatcher, status=scheduler.status, wake=scheduler.wake)


def main() -> None:
    configure_logging()  # INFO, with the HTTP clients' request lines (signed URLs among them) held back
    # While an evaluation runs, every tick is skipped with a warning; that is the design, not news.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)  # one line per tick otherwise
    app = build_app()
    logger.info(
        "leaderboard %s on the %s store; models folder %s",
        app.config.version,
        app.config.store.kind,
        app.config.models_dir,
    )

    stop = StopSignal(app)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if app.scheduler is not None:
        atexit.register(app.scheduler.shutdown)
        app.scheduler.start()
    try:
        app.demo.launch(
            server_name=os.environ.get("GRADIO_SERVER_NAME") or None,
            server_port=int(os.environ.get("GRADIO_SERVER_PORT") or 7860),
            theme=theme(),
            css=CSS,
            app_kwargs=app_settings(),
        )
    except KeyboardInterrupt:  # a signal before gradio's own wait loop, which catches it otherwise
        pass
    finally:
        clean_stop(app, stop.reason or "the Space stopped")


#: How long a stop waits for the running step to hand its request back (a Space restart sends SIGTERM, then
#: SIGKILL some seconds later; an evaluation checks for the stop between two utterances).
STOP_GRACE_S = 8.0


class StopSignal:
    """The SIGINT/SIGTERM handler: the first signal asks the running work to stop at once and ends gradio's
    wait (as Ctrl-C does); a second one while stopping is only logged, so the hand-back is never cut short."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.reason = ""

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.reason:
            logger.warning("%s received while stopping; still handing back the running work", name)
            return
        self.reason = f"the Space was stopped ({name}); the request goes back to the queue"
        logger.warning("%s received: stopping; a running evaluation is handed back to the queue", name)
        if self.app.work is not None:
            self.app.work.request_stop(self.reason)
        raise KeyboardInterrupt


def clean_stop(app: App, reason: str, grace_s: float = STOP_GRACE_S) -> None:
    """Stop the scheduler, waiting up to `grace_s` for the running step to hand its request back, then the
    server. A step still running after that (a model still loading) gets its request handed back from here and
    the process ends at once (`os._exit(0)`): a thread left inside torch at interpreter exit aborts the process
    ("terminate called without an active exception", exit 134)."""
    finished = app.scheduler.stop(reason, grace_s) if app.scheduler is not None else True
    if not finished:
        hand_back_running(app, reason)
    app.demo.close()
    logger.info("stopped")
    sys.stdout.flush()
    sys.stderr.flush()
    if not finished:
        logging.shutdown()
        os._exit(0)


def hand_back_running(app: App, reason: str) -> None:
    """The evaluation a step did not stop in time goes back to the queue from here (its later heartbeat then
    finds the lease gone and publishes nothing)."""
    work = app.work.current() if app.work is not None else None
    if work is None or work.kind != EVALUATION:
        return  # a throughput run or an audit holds no request
    try:
        app.store.release(work.request_id, work.worker, reason)
        logger.warning("%s handed back to the queue while its step was still running", work.request_id)
    except StoreError as exc:  # LeaseLost among them: it already went back, or finished
        logger.warning("could not hand %s back (%s); its lease will return it", work.request_id, exc)


if __name__ == "__main__":
    main()
