"""The scheduled job's one step: claim the oldest pending request, evaluate it, publish or fail it.

While the evaluation runs, a heartbeat thread renews the lease and persists progress; if the lease is lost
(the store gave the request to another worker), the evaluation stops and nothing is published, so a request
is evaluated to completion at most once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from pathlib import Path
from typing import TypeVar

from core.config import LeaderboardConfig
from core.records import Progress, Request, Result, ThroughputResult
from core.signing import PRIVATE_KEY_ENV, sign_result, signing_key_for
from core.store import LeaseLost, Store, StoreError
from core.weights import WeightMismatch, check_weight_hashes
from evaluator.audio import AudioError
from evaluator.eval_sets import EvalSetError
from evaluator.evaluate import InvalidResult, evaluate
from evaluator.models import ModelLoadError
from evaluator.runner import Stopped, UtteranceTimeout

logger = logging.getLogger(__name__)
_Signable = TypeVar("_Signable", Result, ThroughputResult)

#: Errors whose message already tells the submitter what is wrong and what to do.
USER_FACING_ERRORS = (ModelLoadError, EvalSetError, AudioError, UtteranceTimeout, InvalidResult, ValueError)
SECRET_ENV_VARS = ("HF_TOKEN", "RESULTS_SIGNING_KEY")


def redact(text: str) -> str:
    """Remove secret values (the HF token, the signing key) from text bound for logs or public records."""
    for name in SECRET_ENV_VARS:
        secret = os.environ.get(name)
        if secret and len(secret) >= 8:
            text = text.replace(secret, "***")
    return text


def default_worker_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class LeaseKeeper:
    """Renews the lease every `interval_s` seconds and persists the latest progress, in a daemon thread."""

    def __init__(self, store: Store, request_id: str, worker: str, lease_s: float, interval_s: float) -> None:
        self.store, self.request_id, self.worker, self.lease_s = store, request_id, worker, lease_s
        self.interval_s = interval_s
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
            try:
                self.store.heartbeat(
                    self.request_id, self.worker, self.lease_s, progress if progress != self._sent else None
                )
                self._sent = progress
            except LeaseLost:
                logger.warning("lost the lease on %s; stopping its evaluation", self.request_id)
                self._lost.set()
                return
            except StoreError as exc:  # transient: the next beat retries, the lease has slack
                logger.warning("heartbeat for %s failed: %s", self.request_id, redact(str(exc)))


def run_once(config: LeaderboardConfig, store: Store, *, worker: str | None = None) -> Request | None:
    """Claim and evaluate one pending request. Returns the request as it ended, or None if none was pending."""
    worker = worker or default_worker_name()
    rules = config.rules
    request = store.claim(worker, rules.lease_s, rules.max_attempts)
    if request is None:
        return None
    logger.info(
        "%s claimed %s (%s@%s, %s)",
        worker,
        request.request_id,
        request.model_id,
        request.revision[:12],
        request.precision,
    )
    interval = min(rules.lease_s / 3, getattr(store, "progress_interval_s", 2.0))
    try:
        with LeaseKeeper(store, request.request_id, worker, rules.lease_s, interval) as keeper:
            evaluation = evaluate(
                config,
                request.model_id,
                request_id=request.request_id,
                revision=request.revision,
                precision=request.precision,
                model_info=request.model,
                before_load=lambda folder: check_pinned_weights(request, folder),
                on_progress=keeper.update,
                should_stop=keeper.lost,
            )
            if keeper.lost():
                raise Stopped("lease lost after the last utterance")
    except Stopped as exc:
        logger.warning("%s: %s; the request is left for lease expiry", request.request_id, exc)
        return store.snapshot().requests.get(request.request_id)
    except USER_FACING_ERRORS as exc:
        logger.warning("%s failed: %s", request.request_id, redact(str(exc)))
        return _fail(store, request, worker, redact(str(exc)))
    except Exception as exc:
        logger.exception("%s: unexpected error", request.request_id)
        return _fail(
            store,
            request,
            worker,
            redact(
                f"internal evaluator error ({type(exc).__name__}: {exc}); the maintainers were notified in the logs"
            ),
        )
    try:
        finished = store.finish(request.request_id, worker, sign(evaluation.result, config), evaluation.predictions)
    except LeaseLost as exc:
        logger.warning("%s: %s; result discarded", request.request_id, exc)
        return store.snapshot().requests.get(request.request_id)
    aggregate = evaluation.result.aggregate
    logger.info("%s finished: avg WER %.4f, RTF %.4f", request.request_id, aggregate.avg_wer, aggregate.rtf)
    if request.throughput and finished is not None and finished.status == "FINISHED":
        run_throughput(config, store, request)
    return finished


def run_throughput(config: LeaderboardConfig, store: Store, request: Request) -> bool:
    """R14: the throughput track of a request whose batch-one result is published; True if it was stored.

    It runs after the batch-one evaluation, so a failure here never touches the batch-one result or the
    request's status: it is logged for the maintainers and the entry simply has no throughput record.
    """
    from evaluator.throughput_eval import evaluate_throughput

    try:
        evaluation = evaluate_throughput(
            config,
            request.model_id,
            request_id=request.request_id,
            revision=request.revision,
            precision=request.precision,
            model_info=request.model,
            before_load=lambda folder: check_pinned_weights(request, folder),
        )
        store.publish_throughput(sign(evaluation.result, config), evaluation.predictions)
    except Exception as exc:
        logger.warning("%s: throughput track failed: %s", request.request_id, redact(f"{type(exc).__name__}: {exc}"))
        return False
    logger.info(
        "%s throughput: batch size %d, RTFx %.2f",
        request.request_id,
        evaluation.result.chosen_batch_size,
        evaluation.result.aggregate.rtfx,
    )
    return True


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


def sign(result: _Signable, config: LeaderboardConfig) -> _Signable:
    """R9: sign with the Space secret (or the local store's own key); unsigned results are not ranked."""
    key = signing_key_for(config)
    if key is None:
        logger.warning(
            "%s is not set: %s is published unsigned and will not be ranked", PRIVATE_KEY_ENV, result.request_id
        )
        return result
    return sign_result(result, key)
