"""`python -m evaluator audit`: re-run one finished entry exactly as recorded and compare (R13).

The entry is re-evaluated with the same model at its pinned revision, the same precision, the same eval sets
at their recorded revisions and the same leaderboard version, through the very `evaluate` the job uses; the
comparisons are the pure functions of `evaluator.audit_checks`. The outcome is a signed `AuditRecord`, written
with its `audit_passed`/`audit_failed` log event in one store transaction: an audit killed part-way writes
nothing, and is simply picked again later.

Exit codes: 0 every check passed, 1 a check failed, 2 the audit could not run (the reason is printed). With
`--scheduled` (what an audit Job runs in jobs mode) the outcome is in the log either way: 0 once it is
recorded, passed, failed or dropped; 2 when the store could not be read or written.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TextIO

from core.audits import candidates, new_seed, pick_entry
from core.config import ConfigError, EvalSetConfig, LeaderboardConfig, load_config
from core.model_files import weight_file_hashes
from core.records import (
    AuditCheck,
    AuditRecord,
    Hardware,
    PredictionRow,
    Request,
    Result,
    UtteranceDiff,
    Verdict,
    utc_now,
)
from core.signing import sign_audit, signing_key_for
from core.store import Snapshot, Store, StoreError, open_store
from evaluator import audit_checks as checks
from evaluator.audio import AudioError
from evaluator.eval_sets import EvalSetError
from evaluator.evaluate import Evaluation, InvalidResult, evaluate
from evaluator.models import ModelLoadError, resolve_model
from evaluator.runner import UtteranceTimeout

logger = logging.getLogger(__name__)

#: Errors that mean "the audit could not run" (exit 2), as opposed to a check that failed (exit 1).
CANNOT_RUN = (ConfigError, ModelLoadError, EvalSetError, AudioError, UtteranceTimeout, InvalidResult, StoreError)

EvaluateFn = Callable[..., Evaluation]


class AuditUnavailable(RuntimeError):
    """The audit could not run (no such entry, another leaderboard version, nothing recorded to compare)."""


@dataclass(frozen=True)
class Target:
    """The entry to audit and how it was chosen."""

    request: Request
    result: Result
    selection: str
    seed: int | None


def choose_target(
    snapshot: Snapshot, request_id: str | None, seed: int | None, half_life_days: float, version: str | None = None
) -> Target:
    """The named entry, or one picked at random (weighted to the top and to recent entries) from `seed`; with
    `version`, the random pick is among that leaderboard version's entries only (the scheduler's board)."""
    finished = {
        r.request_id: r
        for r in snapshot.finished_results()
        if version is None or request_id is not None or r.leaderboard_version == version
    }
    if request_id is not None:
        if request_id not in finished:
            request = snapshot.requests.get(request_id)
            state = f"its status is {request.status}" if request else "there is no such request"
            raise AuditUnavailable(f"request {request_id} is not a finished entry ({state})")
        return Target(snapshot.requests[request_id], finished[request_id], "requested", None)
    if not finished:
        raise AuditUnavailable("the store has no finished entry to audit")
    seed = new_seed() if seed is None else seed
    chosen = pick_entry(candidates(finished.values()), seed, half_life_days)
    return Target(snapshot.requests[chosen.request_id], finished[chosen.request_id], "random", seed)


def recorded_eval_sets(config: LeaderboardConfig, result: Result) -> list[EvalSetConfig]:
    """The entry's eval sets from the config, each Hub set pinned to the revision the entry recorded."""
    if result.leaderboard_version != config.version:
        raise AuditUnavailable(
            f"the entry was measured under leaderboard version {result.leaderboard_version!r}, this config is "
            f"{config.version!r} ({config.path}); audit it with that version's config (--config)"
        )
    if not result.eval_sets:
        raise AuditUnavailable(f"request {result.request_id} recorded no eval set sources to re-run")
    chosen = []
    for source in result.eval_sets:
        try:
            eval_set = config.eval_set(source.name)
        except ConfigError as exc:
            raise AuditUnavailable(str(exc)) from exc
        if eval_set.hub_id and source.revision:
            eval_set = replace(eval_set, revision=source.revision)
        chosen.append(eval_set)
    return chosen


def recorded_weights(target: Target) -> dict[str, str]:
    model = target.result.model or target.request.model
    if model is None or not model.weight_files:
        raise AuditUnavailable(f"request {target.result.request_id} recorded no weight hashes to compare (R4)")
    return dict(model.weight_files)


def new_audit_id(now: datetime | None = None) -> str:
    """Sortable and unique, like request ids: `20261128T060000Z-` and 8 random hex digits."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(4)


def default_auditor() -> str:
    return f"audit:{socket.gethostname()}:{os.getpid()}"


def local_hardware(device: str) -> Hardware:
    """This machine's fingerprint, for an audit that stopped before re-running anything."""
    import torch

    from evaluator.fingerprint import hardware_fingerprint

    wants_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    return hardware_fingerprint(torch.device("cuda" if wants_cuda else "cpu"))


def compare_rerun(
    target: Target,
    evaluation: Evaluation,
    published: dict[str, list[PredictionRow]],
    tolerance: float,
) -> tuple[list[AuditCheck], list[UtteranceDiff]]:
    """The checks that need the re-run: eval set data, predictions, WER, RTF and hardware class."""
    result, rerun = target.result, evaluation.result
    predictions, evidence = checks.compare_predictions(published, evaluation.predictions)
    return [
        checks.compare_eval_sets(result.eval_sets, rerun.eval_sets),
        predictions,
        checks.compare_wer(result.aggregate.avg_wer, rerun.aggregate.avg_wer),
        checks.compare_rtf(result.aggregate.rtf, rerun.aggregate.rtf, tolerance),
        checks.compare_hardware(result.hardware, rerun.hardware),
    ], evidence


def published_predictions(store: Store, result: Result) -> dict[str, list[PredictionRow]]:
    try:
        return {name: store.predictions(result.request_id, name) for name in result.datasets}
    except FileNotFoundError as exc:
        raise AuditUnavailable(f"the published predictions cannot be read: {exc}") from exc


def skipped_rerun(result: Result, why: str) -> list[AuditCheck]:
    return [
        checks.skipped("eval set data", f"{len(result.eval_sets)} set(s)", why),
        checks.skipped("predictions", sum(s.utterances for s in result.datasets.values()), why),
        checks.skipped("avg WER", result.aggregate.avg_wer, why),
        checks.skipped("RTF", result.aggregate.rtf, why),
        checks.skipped("hardware class", result.hardware.gpu_class, why),
    ]


def run_audit(
    config: LeaderboardConfig,
    store: Store,
    target: Target,
    *,
    auditor: str,
    evaluate_fn: EvaluateFn = evaluate,
    clock: Callable[[], float] = time.monotonic,
) -> AuditRecord:
    """Re-run `target` as recorded and compare; returns the signed record (not yet written to the store)."""
    result = target.result
    started, started_at = clock(), utc_now()
    eval_sets = recorded_eval_sets(config, result)
    recorded = recorded_weights(target)
    device = str(result.rules.get("device_requested", "auto"))
    source = resolve_model(result.model_id, result.revision, config.models_dir)
    found = [
        checks.compare_weights(recorded, weight_file_hashes(source.folder)),
        checks.compare_revision(result.revision, source.revision),
    ]
    evidence: list[UtteranceDiff] = []
    if any(c.verdict is not Verdict.PASS for c in found):
        rerun_checks, hardware = skipped_rerun(result, "not re-run: the model's files changed"), local_hardware(device)
    else:
        published = published_predictions(store, result)
        evaluation = evaluate_fn(
            config,
            result.model_id,
            request_id=result.request_id,
            revision=result.revision,
            precision=result.precision,
            device=device,
            eval_sets=eval_sets,
            max_samples=result.rules.get("max_samples"),
            model_info=result.model,
        )
        rerun_checks, evidence = compare_rerun(target, evaluation, published, config.audit.rtf_tolerance)
        hardware = evaluation.result.hardware
    all_checks = found + rerun_checks
    record = AuditRecord(
        audit_id=new_audit_id(),
        request_id=result.request_id,
        model_id=result.model_id,
        revision=result.revision,
        precision=result.precision,
        leaderboard_version=result.leaderboard_version,
        started_at=started_at,
        finished_at=utc_now(),
        duration_s=round(clock() - started, 3),
        auditor=auditor,
        selection=target.selection,
        seed=target.seed,
        hardware=hardware,
        checks=all_checks,
        passed=all(c.verdict is Verdict.PASS for c in all_checks),
        evidence=evidence,
        rtf_tolerance=config.audit.rtf_tolerance,
    )
    key = signing_key_for(config)
    if key is None:
        logger.warning("no signing key: audit %s is recorded unsigned", record.audit_id)
        return record
    return sign_audit(record, key)


# --- the command ------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evaluator audit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--request-id", default=None, help="the finished entry to audit (default: pick at random)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random pick (printed when not given)")
    parser.add_argument("--config", default=None, help="leaderboard-version TOML (default: LEADERBOARD_CONFIG)")
    parser.add_argument("--auditor", default=None, help="name recorded as the audit's actor in the log")
    parser.add_argument("--dry-run", action="store_true", help="compare and print, but write nothing")
    parser.add_argument(
        "--scheduled",
        action="store_true",
        help="run as the board's scheduler does (what an audit Job runs): a random pick among this version's "
        "entries, and an entry that cannot be re-run is logged as audit_dropped, closing its request",
    )
    return parser


def audit_command(
    config: LeaderboardConfig, store: Store, args: argparse.Namespace, out: TextIO, evaluate_fn: EvaluateFn
) -> int:
    """Choose, re-run, compare, print, record. Returns the exit code."""
    target = choose_target(store.snapshot(), args.request_id, args.seed, config.audit.recent_half_life_days)
    if target.seed is not None:
        logger.info("audit selection seed %d chose %s", target.seed, target.result.request_id)
        print(
            f"picked {target.result.request_id} at random with seed {target.seed} "
            f"(--seed {target.seed} makes the same choice)",
            file=out,
        )
    auditor = args.auditor or default_auditor()
    record = run_audit(config, store, target, auditor=auditor, evaluate_fn=evaluate_fn)
    print(checks.render_table(record), file=out)
    if not args.dry_run:
        entry = store.record_audit(record, actor=auditor)
        print(
            f"recorded as log entry {entry.seq} ({entry.event}, audit sha256 {entry.detail['audit_sha256']})", file=out
        )
    return 0 if record.passed else 1


#: Errors after which the scheduler drops an audit (logged `audit_dropped`) instead of retrying it next tick:
#: the entry cannot be re-run as recorded. Anything else (the store or the network briefly down) is retried.
DROP = (AuditUnavailable, ConfigError, ModelLoadError, EvalSetError, AudioError, UtteranceTimeout, InvalidResult)


def scheduled_audit(
    config: LeaderboardConfig,
    store: Store,
    *,
    request_id: str | None,
    auditor: str,
    evaluate_fn: EvaluateFn = evaluate,
    seed: int | None = None,
) -> str:
    """One audit run by the board's scheduler, in the Space or as an audit Job (requested when `request_id` is
    given, else random among this version's entries, from `seed` when given), recorded in the store; returns
    one line for the Queue page. An audit that cannot run is logged as `audit_dropped` with its reason, which
    closes its request; a killed one writes nothing."""
    snapshot = store.snapshot()
    target: Target | None = None
    try:
        target = choose_target(snapshot, request_id, seed, config.audit.recent_half_life_days, config.version)
        record = run_audit(config, store, target, auditor=auditor, evaluate_fn=evaluate_fn)
    except DROP as exc:
        entry = request_id or (target.result.request_id if target else "")
        if entry:
            store.drop_audit(entry, auditor, f"{type(exc).__name__}: {exc}"[:300], requested=request_id is not None)
        logger.warning("audit of %s dropped: %s", entry or "a random entry", exc)
        return f"audit of {entry or 'a random entry'} could not run: {str(exc)[:160]}"
    if target.seed is not None:
        logger.info("audit selection seed %d chose %s", target.seed, target.result.request_id)
    store.record_audit(record, actor=auditor)
    verdict = "passed" if record.passed else f"FAILED ({', '.join(record.failed_checks)})"
    return f"audit of {record.model_id} ({record.precision}) {verdict}"


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    evaluate_fn: EvaluateFn = evaluate,
    store: Store | None = None,
) -> int:
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
        store = store or open_store(config)
        if args.scheduled:
            auditor = args.auditor or default_auditor()
            line = scheduled_audit(
                config, store, request_id=args.request_id, auditor=auditor, evaluate_fn=evaluate_fn, seed=args.seed
            )
            print(line, file=out)
            return 0
        return audit_command(config, store, args, out, evaluate_fn)
    except (AuditUnavailable, *CANNOT_RUN) as exc:
        print(f"audit could not run: {exc}", file=sys.stderr)
        return 2
