"""The scheduled job's one step: claim the oldest pending request, evaluate it, publish or fail it.

While the evaluation runs, a heartbeat thread renews the lease and persists progress; if the lease is lost
(the store gave the request to another worker), the evaluation stops and nothing is published, so a request
is evaluated to completion at most once.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from evaluator.device_check import require_device
from evaluator.errors import ErrorKind, describe, error_kind
from evaluator.eval_sets import pins_from_sources
from evaluator.evaluate import Evaluation, evaluate
from evaluator.runner import TIMED_REGION, Stopped
from evaluator.spec import EvalSpec
from openasr_core.activity import EVALUATION, THROUGHPUT, RateEta, WorkTracker
from openasr_core.claims import with_claims
from openasr_core.compute import compute_record, job_context, with_compute
from openasr_core.config import LeaderboardConfig
from openasr_core.records import PredictionRow, Progress, Request, Result, Status, ThroughputResult, parse_time
from openasr_core.redaction import redact
from openasr_core.signing import PRIVATE_KEY_ENV, sign_result, signing_key_for, verify_result
from openasr_core.store import LeaseLost, Store, StoreError, StoreUnavailable, ThroughputTaken
from openasr_core.weights import WeightMismatch, check_weight_hashes
from openasr_core.workers import default_worker_name

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from evaluator.ladder import RungProgress

logger = logging.getLogger(__name__)
_Signable = TypeVar("_Signable", Result, ThroughputResult)


class LeaseKeeper:
    """Renews the lease every `interval_s` seconds and persists the latest progress, in a daemon thread.
    `renew`: how else to renew it, returning the new end (a throughput attempt's lease lives in the log:
    `Store.renew_throughput`); it raises `LeaseLost` or `ThroughputTaken` once the work is someone else's."""

    def __init__(
        self,
        store: Store,
        request_id: str,
        worker: str,
        lease_s: float,
        interval_s: float,
        expires_at: datetime | None = None,
        renew: Callable[[], datetime | None] | None = None,
    ) -> None:
        self.store, self.request_id, self.worker, self.lease_s = store, request_id, worker, lease_s
        self.interval_s, self.renew = interval_s, renew
        #: When the lease runs out, as last granted (the claim, then each successful heartbeat).
        self.expires_at = expires_at
        self._progress: Progress | None = None
        self._sent: Progress | None = None
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{request_id}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def update(self, progress: Progress) -> None:
        self._progress = progress

    def lost(self) -> bool:
        return self._lost.is_set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            progress = self._progress
            # Beat between two timed utterances (R3: nothing else runs in a timed window); if one utterance
            # outlasts the interval, beat anyway rather than let the lease lapse.
            quiet = TIMED_REGION.acquire(timeout=self.interval_s)
            try:
                self.expires_at = self._beat(progress) or self.expires_at
            except (LeaseLost, ThroughputTaken):
                logger.warning("lost the lease on %s; stopping its evaluation", self.request_id)
                self._lost.set()
                return
            except StoreError as exc:  # transient: the next beat retries, the lease has slack
                logger.warning("heartbeat for %s failed: %s", self.request_id, redact(str(exc)))
            except Exception as exc:
                # A thread that dies here would let the lease expire under a healthy evaluation.
                logger.warning(
                    "heartbeat for %s failed unexpectedly (%s: %s); retrying on the next beat",
                    self.request_id,
                    type(exc).__name__,
                    redact(str(exc)),
                )
            finally:
                if quiet:
                    TIMED_REGION.release()

    def _beat(self, progress: Progress | None) -> datetime | None:
        """One renewal; the lease's new end."""
        if self.renew is not None:
            return self.renew()
        renewed = self.store.heartbeat(
            self.request_id, self.worker, self.lease_s, progress if progress != self._sent else None
        )
        self._sent = progress
        return parse_time(renewed.lease.expires_at) if renewed.lease is not None else None


@dataclass(frozen=True)
class PublishPolicy:
    """How long a finished evaluation keeps trying to publish through a store incident: while its lease is held
    (the keeper renews it whenever the store answers), waiting `first_wait_s` doubling up to `max_wait_s`."""

    first_wait_s: float = 5.0
    max_wait_s: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), repr=False)


#: The policy `run_once` publishes with unless it is given one.
DEFAULT_PUBLISH = PublishPolicy()


def publish(
    store: Store,
    request: Request,
    worker: str,
    result: Result,
    predictions: Mapping[str, Sequence[PredictionRow]],
    keeper: LeaseKeeper,
    policy: PublishPolicy,
) -> Request:
    """`store.finish`, retried through a Hub incident at the end of a long run (5xx for minutes, a 429 asking for
    a long wait): the signed result is kept and tried again while the lease is held. Only a lost lease, or a
    lease run out while the store stayed unreachable, gives the evaluation up."""
    wait = policy.first_wait_s
    while True:
        try:
            return store.finish(request.request_id, worker, result, predictions)
        except StoreUnavailable as exc:
            if keeper.lost() or keeper.expires_at is None or policy.now() >= keeper.expires_at:
                raise LeaseLost(f"the store stayed unreachable until the lease ran out ({exc})") from exc
            pause = max(wait, exc.retry_after_s or 0.0)  # a rate limit says how long: no sooner
            logger.warning(
                "publishing %s failed (%s); the signed result is kept, retrying in %.0f s while the lease is held",
                request.request_id,
                redact(str(exc)),
                pause,
            )
            policy.sleep(pause)
            wait = min(policy.max_wait_s, wait * 2)


def run_once(
    config: LeaderboardConfig,
    store: Store,
    *,
    worker: str | None = None,
    request_id: str | None = None,
    env: Mapping[str, str] | None = None,
    policy: PublishPolicy | None = None,
    work: WorkTracker | None = None,
) -> Request | None:
    """Claim and evaluate one pending request (only `request_id` when given, as a Job does). Returns the
    request as it ended, or None if none (or not that one) was pending. Raises `LeaseLost` when this worker
    lost its lease before publishing (it was paused or cut off past the lease): nothing of it was published.

    `work` (the Space's scheduler passes one) is told what runs, with its progress, for the Queue page, and
    carries a stop request: the evaluation then stops at the next utterance and the request is handed back
    to the queue at once (`Store.release`), and a throughput run after it is skipped or stopped.

    `env` carries what a Jobs dispatcher told this process (`openasr_core.compute`: flavor, listed price); the
    result records the GPU seconds from claim to result and their cost at that price."""
    worker = worker or default_worker_name("evaluator")
    # Fail fast: a malformed signing key raises SigningKeyError here, before any request is claimed, instead
    # of after a whole evaluation whose result could then not be signed.
    signing_key = signing_key_for(config)
    require_device(config)  # a GPU board's worker that cannot see that GPU claims nothing (one clear line)
    context = job_context(os.environ if env is None else env)
    request = _claim(store, config, worker, request_id, work)
    if request is None:
        return None
    held_since = time.monotonic()
    try:
        with _lease_keeper(store, config, request, worker) as keeper:
            evaluation = _evaluate_held(config, store, request, keeper, work)
            compute = compute_record(context, time.monotonic() - held_since)
            measured = with_claims(evaluation.result, request.claims)  # R15: beside what the repo claimed
            result = sign(with_compute(measured, compute, config.workers.flavor), signing_key)
            finished = publish(
                store, request, worker, result, evaluation.predictions, keeper, policy or DEFAULT_PUBLISH
            )
    except Stopped as exc:
        if work is not None and work.stop_requested() and not keeper.lost():
            return _hand_back(store, request, worker, work)
        raise LeaseLost(
            f"{worker} lost its lease on {request.request_id} ({exc}); it published nothing, and the request is "
            "left to whoever holds it now (or to lease expiry)"
        ) from None
    except LeaseLost as exc:
        raise LeaseLost(
            f"{worker} lost its lease on {request.request_id} before publishing ({exc}); result discarded"
        ) from None
    except Exception as exc:
        return _after_error(store, request, worker, exc)
    finally:
        if work is not None:
            work.end()
    _after_finished(config, store, request, finished, evaluation.result, signing_key, worker, work)
    return finished


def _claim(
    store: Store, config: LeaderboardConfig, worker: str, request_id: str | None, work: WorkTracker | None
) -> Request | None:
    """Claim the oldest pending request (only `request_id` when given) under the rules' lease and attempts, and
    show it as `work`'s; None when none is pending, or when `work` is stopping (then nothing is claimed)."""
    rules = config.rules
    if work is not None and work.stop_requested():
        return None
    request = store.claim(worker, rules.lease_s, rules.max_attempts, request_id=request_id)
    if request is None:
        return None
    if work is not None:
        work.begin(EVALUATION, request.request_id, request.model_id, request.precision, worker)
    what = f"{request.model_id}@{request.revision[:12]}, {request.precision}"
    logger.info("%s claimed %s (%s)", worker, request.request_id, what)
    return request


def _lease_keeper(store: Store, config: LeaderboardConfig, request: Request, worker: str) -> LeaseKeeper:
    """The keeper of a just-claimed request's lease: it beats three times a lease at least (more often where the
    store asks for fresher progress), starting from the expiry the claim granted."""
    lease_s = config.rules.lease_s
    interval = min(lease_s / 3, getattr(store, "progress_interval_s", 2.0))
    expires = parse_time(request.lease.expires_at) if request.lease else None
    return LeaseKeeper(store, request.request_id, worker, lease_s, interval, expires)


def _after_finished(
    config: LeaderboardConfig,
    store: Store,
    request: Request,
    finished: Request | None,
    result: Result,
    signing_key: Ed25519PrivateKey | None,
    worker: str,
    work: WorkTracker | None,
) -> None:
    """What follows the publication of `request`'s batch-one `result` (`finished`: the request as it ended): the
    log line, then, once it is FINISHED, what the submitter asked for beside it: the throughput run (R14) and the
    results pull request (R15)."""
    aggregate = result.aggregate
    logger.info("%s finished: avg WER %.4f, RTF %.4f", request.request_id, aggregate.avg_wer, aggregate.rtf)
    if finished is None or finished.status != "FINISHED":
        return
    if request.throughput:
        run_throughput(config, store, request, signing_key, worker, work)
    if request.publish_results:
        from evaluator.results_pr import publish_results_pr

        publish_results_pr(config, store, request.request_id, actor=worker)  # logs its outcome; never raises


def _requested_spec(config: LeaderboardConfig, store: Store, request: Request) -> EvalSpec:
    """What both tracks evaluate a request with: the request as submitted (its revision, precision and model
    facts, `EvalSpec.from_record`) on the board version's data pins."""
    pins = pins_from_sources(store.version_sources(config.version), config.eval_sets)
    return EvalSpec.from_record(request, pinned_revisions=pins)


def _weights_check(request: Request) -> Callable[[Path], None]:
    """The `before_load` of both tracks: the R4 check of the model's weights against the hashes recorded at
    submission, before any of them is loaded."""
    return functools.partial(check_pinned_weights, request)


def _evaluate_held(
    config: LeaderboardConfig, store: Store, request: Request, keeper: LeaseKeeper, work: WorkTracker | None = None
) -> Evaluation:
    """The evaluation of a claimed request, stopped as soon as the keeper loses the lease or `work` is asked to
    stop; its progress goes to the store (by the keeper) and to `work`."""

    def on_progress(progress: Progress) -> None:
        keeper.update(progress)
        if work is not None:
            work.report_progress(progress)

    def should_stop() -> bool:
        return keeper.lost() or (work is not None and work.stop_requested())

    evaluation = evaluate(
        config,
        _requested_spec(config, store, request),
        before_load=_weights_check(request),
        on_progress=on_progress,
        should_stop=should_stop,
    )
    if keeper.lost():
        raise Stopped("lease lost after the last utterance")
    return evaluation


def run_throughput(
    config: LeaderboardConfig,
    store: Store,
    request: Request,
    signing_key: Ed25519PrivateKey | None,
    worker: str = "evaluator",
    work: WorkTracker | None = None,
) -> bool:
    """R14: one attempt of the throughput run of a request whose batch-one result is published; True if its record
    is published (or was already).

    The attempt takes the run's lease first (`Store.start_throughput` logs `throughput_started`; refused while
    another worker's attempt holds it), so an attempt that dies is counted and retried by the planner once its
    lease runs out (`openasr_core.throughput_runs`). A record a previous attempt stored but could not vouch for (killed
    between its commit and its event) is published as it is when its signature is this board's; otherwise the
    ladder runs. An error is logged `throughput_failed` with its kind (`evaluator.errors`) and never touches the
    batch-one result or the request's status. `work` shows the run on the Queue page and stops it when asked to.
    """
    if work is not None and work.stop_requested():
        logger.warning("%s: throughput track not started: %s", request.request_id, work.stop_reason)
        return False
    try:
        started = store.start_throughput(request.request_id, worker, config.throughput.lease_minutes * 60)
    except StoreError as exc:  # another attempt holds it, it is closed, or the store is down: the planner decides
        logger.warning("%s: throughput run not started: %s", request.request_id, redact(str(exc)))
        return False
    attempt = int(str(started.detail.get("attempt", 1)))
    if work is not None:
        work.begin(THROUGHPUT, request.request_id, request.model_id, request.precision, worker)
    try:
        with throughput_lease(
            store, request.request_id, worker, attempt, config.throughput.lease_minutes * 60
        ) as lease:
            record = _publish_throughput(config, store, request, signing_key, worker, work, lease.lost)
    except ThroughputTaken as exc:  # another worker took the run over after our lease: it publishes, not us
        logger.warning("%s: throughput result discarded: %s", request.request_id, redact(str(exc)))
        return False
    except Exception as exc:
        _throughput_failed(store, request.request_id, worker, attempt, exc, work)
        return False
    finally:
        if work is not None:
            work.end()
    logger.info("%s throughput: batch size %d, RTFx %.2f", request.request_id, record.chosen_batch_size, record.rtfx)
    return True


def throughput_lease(store: Store, request_id: str, worker: str, attempt: int, lease_s: float) -> LeaseKeeper:
    """The keeper of a throughput attempt's lease: it renews it in the log every third of a lease while the ladder
    runs (`Store.renew_throughput`), so a ladder longer than one lease is never taken over mid-run, and says
    `lost()` once the run is no longer this attempt's."""

    def renew() -> datetime | None:
        entry = store.renew_throughput(request_id, worker, attempt, lease_s)
        return parse_time(str(entry.detail["lease_expires_at"]))

    return LeaseKeeper(store, request_id, worker, lease_s, lease_s / 3, renew=renew)


def _publish_throughput(
    config: LeaderboardConfig,
    store: Store,
    request: Request,
    signing_key: Ed25519PrivateKey | None,
    worker: str,
    work: WorkTracker | None,
    lease_lost: Callable[[], bool] = lambda: False,
) -> PublishedThroughput:
    """Publish the residue of a cut-off publication when it is this board's signed record, else run the ladder and
    publish its record; the chosen batch size and RTFx, for the log line. The ladder stops when the attempt's
    lease is lost (`lease_lost`) or a stop is asked for."""
    residue = store.throughput_residue(request.request_id)
    if residue is not None and _ours(residue, signing_key):
        logger.info("%s: publishing the throughput record a stopped attempt left unvouched", request.request_id)
        store.complete_throughput(residue, worker, worker)
        return PublishedThroughput(residue.chosen_batch_size, residue.aggregate.rtfx)
    from evaluator.throughput_eval import evaluate_throughput

    taken = ThroughputTaken(f"{worker} lost the throughput run of {request.request_id} to another attempt")
    try:
        evaluation = evaluate_throughput(
            config,
            _requested_spec(config, store, request),
            before_load=_weights_check(request),
            should_stop=lambda: lease_lost() or (work is not None and work.stop_requested()),
            on_progress=ladder_reporter(work) if work is not None else None,
        )
    except Stopped:
        if lease_lost():  # not this attempt's failure to log: the run is another attempt's now
            raise taken from None
        raise
    if lease_lost():
        raise taken
    result = sign(evaluation.result, signing_key)
    store.publish_throughput(result, evaluation.predictions, actor=worker, worker=worker)
    return PublishedThroughput(result.chosen_batch_size, result.aggregate.rtfx)


@dataclass(frozen=True)
class PublishedThroughput:
    """What the log line of a published throughput run says."""

    chosen_batch_size: int
    rtfx: float


def _ours(record: ThroughputResult, signing_key: Ed25519PrivateKey | None) -> bool:
    """Whether a stored record is this board's own: signed with its key (unsigned only on a board without one)."""
    if signing_key is None:
        return record.signature is None
    return record.signature is not None and verify_result(record, signing_key.public_key())


def _throughput_failed(
    store: Store, request_id: str, worker: str, attempt: int, exc: Exception, work: WorkTracker | None
) -> None:
    """Log `throughput_failed` for an attempt that stopped on an error (a stop asked for is a transient one: the
    run goes on after the pause); if the store cannot take the line, the attempt's lease ends it instead."""
    stopped = isinstance(exc, Stopped) and work is not None and work.stop_requested()
    kind = ErrorKind.TRANSIENT if stopped else error_kind(exc)
    reason = redact(f"stopped: {work.stop_reason}" if stopped and work is not None else describe(exc))
    logger.warning("%s: throughput attempt %d failed (%s): %s", request_id, attempt, kind, reason)
    try:
        store.fail_throughput(request_id, worker, attempt, reason, str(kind))
    except Exception as log_exc:
        logger.warning("%s: could not log the throughput failure (%s); its lease ends it", request_id, log_exc)


def throughput_step(
    config: LeaderboardConfig, store: Store, request_id: str, worker: str, work: WorkTracker | None = None
) -> str:
    """The planner's throughput step (`openasr_core.audits.THROUGHPUT`): one attempt of the owed run of `request_id`, in
    the Space's scheduler or a throughput Job (`run-once --throughput-only`); its outcome in one line."""
    signing_key = signing_key_for(config)
    request = store.snapshot().requests.get(request_id)
    if request is None or not request.throughput or request.status is not Status.FINISHED:
        return f"no throughput run owed to {request_id}"
    done = run_throughput(config, store, request, signing_key, worker, work)
    return f"throughput run of {request_id}: {'published' if done else 'not published (see the log)'}"


def ladder_reporter(work: WorkTracker) -> Callable[[RungProgress], None]:
    """The throughput ladder's progress as `work`'s: the share is by steps of the ladder (it may stop early, when
    RTFx stops improving), the ETA the rest of this step and of every step left at this step's pace (an upper
    bound: larger batches are faster)."""
    eta = RateEta()
    current = [-1]

    def report(at: RungProgress) -> None:
        if at.step != current[0]:
            current[0] = at.step
            eta.restart()
        left_here = eta.left(at.done, at.total)
        steps_left = at.steps - at.step - 1
        per_step = None if left_here is None or not at.done else (eta.clock() - eta.started) * at.total / at.done
        total_left = None if per_step is None or left_here is None else left_here + steps_left * per_step
        stage = (
            f"batch size {at.batch_size} (step {at.step + 1} of at most {at.steps}): {at.done}/{at.total} utterances"
        )
        work.report(stage, (at.step + at.done / max(at.total, 1)) / max(at.steps, 1), total_left)

    return report


def _hand_back(store: Store, request: Request, worker: str, work: WorkTracker) -> Request | None:
    """A stop was asked for mid-evaluation: the request goes back to the queue now, with a log event."""
    reason = work.stop_reason or "the worker was stopped"
    logger.warning("%s handed back to the queue: %s", request.request_id, reason)
    try:
        return store.release(request.request_id, worker, reason)
    except LeaseLost:
        return store.snapshot().requests.get(request.request_id)


def _after_error(store: Store, request: Request, worker: str, exc: Exception) -> Request | None:
    """What an evaluation's error does to its request, by its kind (`evaluator.errors`): the submitter's to fix
    fails it with the message; a transient one (the Hub down) or one this worker cannot run is raised, so the
    request is never failed for it and its lease returns it to the queue; a bug fails it as an internal error."""
    kind = error_kind(exc)
    if kind is ErrorKind.USER:
        logger.warning("%s failed: %s", request.request_id, redact(str(exc)))
        return _fail(store, request, worker, redact(str(exc)))
    if kind in (ErrorKind.TRANSIENT, ErrorKind.CANNOT_RUN):
        logger.warning("%s left to its lease (%s): %s", request.request_id, kind, redact(describe(exc)))
        raise exc
    logger.exception("%s: unexpected error", request.request_id)
    internal = f"internal evaluator error ({describe(exc)}); the maintainers were notified in the logs"
    return _fail(store, request, worker, redact(internal))


def _fail(store: Store, request: Request, worker: str, error: str) -> Request | None:
    try:
        return store.fail(request.request_id, worker, error)
    except LeaseLost:
        return store.snapshot().requests.get(request.request_id)


def check_pinned_weights(request: Request, folder: Path) -> None:
    """R4: the weights about to be loaded are the ones hashed at submission, file for file."""
    if request.model is None or not request.model.weight_files:
        raise WeightMismatch("no weight hashes were recorded at submission; submit the model again")
    check_weight_hashes(folder, request.model.weight_files)


def sign(result: _Signable, key: Ed25519PrivateKey | None) -> _Signable:
    """R9: sign with the Space secret (or the local store's own key); unsigned results are not ranked."""
    if key is None:
        logger.warning(
            "%s is not set: %s is published unsigned and will not be ranked", PRIVATE_KEY_ENV, result.request_id
        )
        return result
    return sign_result(result, key)
