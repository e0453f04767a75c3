"""`python -m evaluator audit`: re-run one finished entry exactly as recorded and compare (R13).

The entry is re-evaluated with the same model at its pinned revision, the same precision, the same eval sets
at their recorded revisions and the same leaderboard version, through the very `evaluate` the job uses; the
comparisons are the pure functions of `evaluator.audit_checks`. Integrity (weights, revision, eval set data,
predictions, WER, hardware class) is exact and fails at once; speed is judged with its noise: a re-run whose
RTF is outside the hardware class's tolerance is re-run once more, and only two re-runs outside on the same
side fail it; a re-run during which the machine was busy with other work (`evaluator.load_probe`) makes the
audit *inconclusive*, never failed. A passed or failed audit is a signed `AuditRecord`, written with its
`audit_passed`/`audit_failed` log event in one store transaction (an audit killed part-way writes nothing); an
inconclusive one is an `audit_inconclusive` log event with the load it saw, and is tried again later.

Exit codes: 0 every check passed, 1 a check failed, 2 the audit could not run (the reason is printed),
3 inconclusive (the machine was busy). With `--scheduled` (the worker step of the Space and of an audit Job)
each attempt is logged `audit_started` first and its end is in the log either way (passed, failed,
inconclusive, `audit_attempt_failed` with the error's kind, or `audit_dropped`): exit 0 once it is; 2 when the
store could not be read or written.
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
from typing import TYPE_CHECKING, TextIO

from evaluator import audit_checks as checks
from evaluator.errors import ErrorKind, describe, error_kind
from evaluator.load_probe import BusyRule, LoadProbe, new_probe
from evaluator.spec import EvalSpec
from openasr_core.audits import (
    AUDIT_ATTEMPT_FAILED,
    AUDIT_INCONCLUSIVE,
    AUDIT_STARTED,
    UNAVAILABLE,
    candidates,
    new_seed,
    open_audits,
    pick_entry,
)
from openasr_core.board_files import open_store
from openasr_core.config import ConfigError, EvalSetConfig, LeaderboardConfig, load_config
from openasr_core.model_files import weight_file_hashes
from openasr_core.records import (
    AuditCheck,
    AuditRecord,
    Hardware,
    LogEntry,
    PredictionRow,
    Request,
    Result,
    RtfRun,
    UtteranceDiff,
    Verdict,
    utc_now,
)
from openasr_core.signing import sign_audit, signing_key_for
from openasr_core.store import Snapshot, Store

if TYPE_CHECKING:  # torch and transformers: imported only when an audit runs, so `audit --help` is instant
    from evaluator.evaluate import Evaluation

logger = logging.getLogger(__name__)

#: The re-run (`evaluator.evaluate.evaluate` unless a caller wraps or replaces it; None means that one), called as
#: `evaluate_fn(config, spec, probe=probe)` with the `EvalSpec` of the entry as it was measured.
EvaluateFn = Callable[..., "Evaluation"]
#: Makes the probe of one re-run (`on_gpu`: the entry was measured on a GPU); tests inject the measurements.
ProbeFactory = Callable[[bool], LoadProbe]
#: Exit code of an inconclusive audit (0 passed, 1 failed, 2 could not run).
INCONCLUSIVE_EXIT = 3


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


@dataclass(frozen=True)
class Rerun:
    """What the re-runs showed: the checks that need them, the differing utterances, each timed run's speed."""

    checks: list[AuditCheck]
    evidence: list[UtteranceDiff]
    runs: list[RtfRun]
    hardware: Hardware


def _timed_rerun(
    config: LeaderboardConfig, target: Target, eval_sets: list[EvalSetConfig], evaluate_fn: EvaluateFn, probe: LoadProbe
) -> Evaluation:
    """One re-run of the entry as it was measured (its model, revision, precision, device, sample cap and eval
    sets at their recorded revisions), its timed calls watched by `probe`."""
    return evaluate_fn(config, EvalSpec.from_record(target.result, eval_sets=eval_sets), probe=probe)


def rerun_and_compare(
    config: LeaderboardConfig,
    target: Target,
    published: dict[str, list[PredictionRow]],
    evaluate_fn: EvaluateFn,
    probe_factory: ProbeFactory,
) -> Rerun:
    """Re-run and compare; a re-run outside the RTF tolerance (integrity intact, machine quiet) is re-run once
    more to confirm. Predictions are compared exactly in every re-run."""
    result, audit = target.result, config.audit
    eval_sets = recorded_eval_sets(config, result)
    tolerance = audit.tolerance_for(result.hardware.gpu_class)
    rule = BusyRule.of(audit)
    on_gpu = result.hardware.device != "cpu"
    runs: list[RtfRun] = []
    integrity: list[AuditCheck] = []
    evidence: list[UtteranceDiff] = []
    hardware = result.hardware
    for _ in range(2):
        probe = probe_factory(on_gpu)
        evaluation = _timed_rerun(config, target, eval_sets, evaluate_fn, probe)
        rerun, hardware = evaluation.result, evaluation.result.hardware
        predictions, diffs = checks.compare_predictions(published, evaluation.predictions)
        if not integrity or predictions.verdict is not Verdict.PASS:
            integrity = [
                checks.compare_eval_sets(result.eval_sets, rerun.eval_sets),
                predictions,
                checks.compare_wer(result.aggregate.avg_wer, rerun.aggregate.avg_wer),
                checks.compare_hardware(result.hardware, rerun.hardware),
            ]
            evidence = diffs
        samples, seed = config.rules.bootstrap_samples, config.rules.bootstrap_seed
        load = probe.summary(rule)
        runs.append(
            checks.rtf_run(
                published, evaluation.predictions, rerun.aggregate.rtf, load, tolerance, samples=samples, seed=seed
            )
        )
        if runs[-1].within is not False or any(c.verdict is not Verdict.PASS for c in integrity):
            break
    rtf = checks.compare_rtf(result.aggregate.rtf, runs, tolerance, result.hardware.gpu_class)
    return Rerun([*integrity[:3], rtf, integrity[3]], evidence, runs, hardware)


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
    evaluate_fn: EvaluateFn | None = None,
    clock: Callable[[], float] = time.monotonic,
    probe_factory: ProbeFactory | None = None,
) -> AuditRecord:
    """Re-run `target` as recorded and compare; returns the signed record (not yet written to the store).
    Its `outcome` is passed, failed or inconclusive (the machine was busy: the RTF was not judged)."""
    result = target.result
    started, started_at = clock(), utc_now()
    recorded_eval_sets(config, result)  # an entry of another version cannot be re-run: say so before any work
    recorded = recorded_weights(target)
    device = str(result.rules.get("device_requested", "auto"))
    from evaluator.evaluate import evaluate  # torch and transformers: loaded here, not when the CLI starts
    from evaluator.models import resolve_model

    source = resolve_model(result.model_id, result.revision, config.models_dir)
    found = [
        checks.compare_weights(recorded, weight_file_hashes(source.folder)),
        checks.compare_revision(result.revision, source.revision),
    ]
    if any(c.verdict is not Verdict.PASS for c in found):
        why = "not re-run: the model's files changed"
        rerun = Rerun(skipped_rerun(result, why), [], [], local_hardware(device))
    else:
        published = published_predictions(store, result)
        rerun = rerun_and_compare(config, target, published, evaluate_fn or evaluate, probe_factory or new_probe)
    all_checks = found + rerun.checks
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
        hardware=rerun.hardware,
        checks=all_checks,
        passed=all(c.verdict is Verdict.PASS for c in all_checks),
        evidence=rerun.evidence,
        rtf_tolerance=config.audit.tolerance_for(result.hardware.gpu_class),
        rtf_runs=rerun.runs,
    )
    key = signing_key_for(config)
    if key is None:
        logger.warning("no signing key: audit %s is recorded unsigned", record.audit_id)
        return record
    return sign_audit(record, key)


def inconclusive_detail(record: AuditRecord) -> dict[str, object]:
    """The `audit_inconclusive` event's detail: why, the runs' paired ratios and the load each one saw."""
    rtf = next((c for c in record.checks if c.verdict is Verdict.INCONCLUSIVE), None)
    return {
        "audit_id": record.audit_id,
        "reason": (rtf.detail if rtf else "inconclusive")[:300],
        "duration_s": record.duration_s,
        "selection": record.selection,
        "seed": record.seed,
        "runs": [
            {
                "ratio": run.ratio,
                "ratio_ci95": run.ratio_ci95,
                "cpu_share": run.load.cpu_share,
                "load_1min": run.load.load_1min,
                "busy": run.load.busy,
            }
            for run in record.rtf_runs
        ],
    }


def record_outcome(store: Store, record: AuditRecord, actor: str) -> LogEntry:
    """A passed or failed audit is written with its signed record; an inconclusive one is logged as such (no
    record, no flag, and `openasr_core.audits.open_audits` keeps it open to be tried again later)."""
    if record.outcome == "inconclusive":
        return store.log_audit_progress(record.request_id, AUDIT_INCONCLUSIVE, actor, inconclusive_detail(record))
    return store.record_audit(record, actor=actor)


def _verdict_line(record: AuditRecord) -> str:
    if record.outcome == "failed":
        return f"FAILED ({', '.join(record.failed_checks)})"
    return "INCONCLUSIVE (the machine was busy: tried again later)" if record.outcome == "inconclusive" else "passed"


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
    config: LeaderboardConfig,
    store: Store,
    args: argparse.Namespace,
    out: TextIO,
    evaluate_fn: EvaluateFn | None,
    probe_factory: ProbeFactory | None = None,
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
    record = run_audit(config, store, target, auditor=auditor, evaluate_fn=evaluate_fn, probe_factory=probe_factory)
    print(checks.render_table(record), file=out)
    if not args.dry_run:
        entry = record_outcome(store, record, auditor)
        digest = entry.detail.get("audit_sha256")
        print(
            f"recorded as log entry {entry.seq} ({entry.event}" + (f", audit sha256 {digest})" if digest else ")"),
            file=out,
        )
    return {"passed": 0, "failed": 1}.get(record.outcome, INCONCLUSIVE_EXIT)


def _attempt_failed(
    store: Store, config: LeaderboardConfig, target: Target, auditor: str, exc: Exception, attempt: int, took_s: float
) -> str:
    """An attempt stopped by an error, handled by its kind (`evaluator.errors`): one this board cannot run at all
    drops the audit at once; any other (transient, the model's, a bug) is logged `audit_attempt_failed` with its
    kind and reason, and the planner tries again until `max_attempts`, then drops it with that reason. A model
    that cannot be loaded at its pinned revision at all (`ModelUnavailable`: deleted, gated, revision gone) is
    marked `unavailable` in the event, so a drop after it makes the entry one that cannot be re-run (R13,
    `openasr_core.audits.unavailable_entries`); a Hub outage is transient and never marked."""
    kind, entry = error_kind(exc), target.result.request_id
    reason = describe(exc)[:300]
    if kind is ErrorKind.BUG:
        logger.exception("audit of %s: unexpected error", entry)
    if kind is ErrorKind.CANNOT_RUN:
        store.drop_audit(entry, auditor, reason, requested=target.selection == "requested")
        return f"audit of {entry} could not run: {reason[:160]}"
    limit = config.audit.max_attempts
    detail: dict[str, object] = {
        "attempt": attempt,
        "max_attempts": limit,
        "kind": str(kind),
        "reason": reason,
        "duration_s": took_s,
    }
    from evaluator.models import ModelUnavailable  # here, not at the top: `audit --help` must not load torch

    if isinstance(exc, ModelUnavailable):
        detail[UNAVAILABLE] = True
    store.log_audit_progress(entry, AUDIT_ATTEMPT_FAILED, auditor, detail)
    return f"audit of {entry}: attempt {attempt} of {limit} failed ({kind}): {reason[:160]}"


def scheduled_audit(
    config: LeaderboardConfig,
    store: Store,
    *,
    request_id: str | None,
    auditor: str,
    evaluate_fn: EvaluateFn | None = None,
    seed: int | None = None,
    probe_factory: ProbeFactory | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """One audit attempt, the worker step of the Space and of an audit Job (requested or retried when
    `request_id` is given, else random among this version's entries, from `seed` when given): logged
    `audit_started` first, so an attempt that dies is counted; its end is logged whatever happens (see
    `_attempt_failed`, `record_outcome`). Returns one line for the Queue page."""
    snapshot = store.snapshot()
    try:
        target = choose_target(snapshot, request_id, seed, config.audit.recent_half_life_days, config.version)
    except AuditUnavailable as exc:  # cannot run at all: a named entry's audit is closed with the reason
        if request_id:
            store.drop_audit(request_id, auditor, describe(exc)[:300], requested=True)
        logger.warning("audit of %s dropped: %s", request_id or "a random entry", exc)
        return f"audit of {request_id or 'a random entry'} could not run: {str(exc)[:160]}"
    if target.seed is not None:
        logger.info("audit selection seed %d chose %s", target.seed, target.result.request_id)
    entry = target.result.request_id
    opened = next((a for a in open_audits(snapshot.log) if a.request_id == entry), None)
    if request_id and opened is not None and not opened.requested:
        target = replace(target, selection="retry")  # a random audit tried again after an inconclusive attempt
    attempt = 1 + (opened.attempts if opened else 0)
    started = {"attempt": attempt, "max_attempts": config.audit.max_attempts, "selection": target.selection}
    store.log_audit_progress(entry, AUDIT_STARTED, auditor, {**started, "seed": target.seed})
    began = clock()
    try:
        record = run_audit(
            config, store, target, auditor=auditor, evaluate_fn=evaluate_fn, probe_factory=probe_factory, clock=clock
        )
    except Exception as exc:
        return _attempt_failed(store, config, target, auditor, exc, attempt, round(clock() - began, 3))
    record_outcome(store, record, auditor)
    return f"audit of {record.model_id} ({record.precision}) {_verdict_line(record)}"


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    evaluate_fn: EvaluateFn | None = None,
    store: Store | None = None,
    probe_factory: ProbeFactory | None = None,
) -> int:
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
        store = store or open_store(config)
        if args.scheduled:
            auditor = args.auditor or default_auditor()
            line = scheduled_audit(
                config,
                store,
                request_id=args.request_id,
                auditor=auditor,
                evaluate_fn=evaluate_fn,
                seed=args.seed,
                probe_factory=probe_factory,
            )
            print(line, file=out)
            return 0
        return audit_command(config, store, args, out, evaluate_fn, probe_factory)
    except Exception as exc:
        if error_kind(exc) is ErrorKind.BUG:
            raise
        print(f"audit could not run: {exc}", file=sys.stderr)
        return 2
