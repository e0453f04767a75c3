"""`python -m evaluator`: evaluate a model as the leaderboard would, or run the scheduled job's step once."""

from __future__ import annotations

import argparse
import importlib
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from evaluator.errors import ErrorKind, error_kind
from evaluator.eval_sets import eval_set_from_path
from evaluator.spec import EvalSpec
from openasr_core.board_files import open_store
from openasr_core.config import ConfigError, EvalSetConfig, LeaderboardConfig, load_config
from openasr_core.logs import configure_logging
from openasr_core.records import BATCH_ONE_TRACK, PRECISIONS, THROUGHPUT_TRACK, Result, ThroughputResult, write_jsonl
from openasr_core.store import Store, StoreError

if TYPE_CHECKING:
    from evaluator.evaluate import Evaluation
    from evaluator.throughput_eval import ThroughputEvaluation


def _eval_sets(config: LeaderboardConfig, names: Sequence[str] | None) -> list[EvalSetConfig] | None:
    if not names:
        return None
    chosen = []
    for name in names:
        if any(e.name == name for e in config.eval_sets):
            chosen.append(config.eval_set(name))
        elif Path(name).is_dir():
            chosen.append(eval_set_from_path(Path(name)))
        else:
            known = ", ".join(e.name for e in config.eval_sets)
            raise ConfigError(
                f"--eval-set {name!r} is neither an eval set of {config.path.name} ({known}) nor a folder"
            )
    return chosen


def result_file_name(evaluation: Evaluation | ThroughputEvaluation) -> str:
    """`result.json` for the batch-one track, `throughput.json` for the throughput track (never the same file)."""
    return "throughput.json" if isinstance(evaluation.result, ThroughputResult) else "result.json"


def write_outputs(out: Path, evaluation: Evaluation | ThroughputEvaluation) -> None:
    """Write the result file and `predictions/<set>.jsonl` into `out` all at once: a failure leaves `out` as it was."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (staging / "predictions").mkdir()
        for name, rows in evaluation.predictions.items():
            (staging / "predictions" / f"{name}.jsonl").write_text(write_jsonl(rows), encoding="utf-8")
        (staging / result_file_name(evaluation)).write_text(evaluation.result.to_json(), encoding="utf-8")
        previous = out.with_name(f".{out.name}.previous")
        if out.exists():
            shutil.rmtree(previous, ignore_errors=True)
            out.rename(previous)
        staging.rename(out)
        shutil.rmtree(previous, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def summary_table(result: Result) -> str:
    header = f"{'eval set':<24} {'utts':>5} {'WER %':>7} {'95% CI':>15} {'RTF':>8} {'RTFx':>8} {'p50 s':>7} {'p90 s':>7} {'p99 s':>7}"
    lines = [header, "-" * len(header)]
    for name, s in result.datasets.items():
        ci = f"{100 * s.wer_ci95[0]:.2f}-{100 * s.wer_ci95[1]:.2f}"
        lines.append(
            f"{name:<24} {s.utterances:>5} {100 * s.wer:>7.2f} {ci:>15} {s.rtf:>8.4f} {s.rtfx:>8.1f} "
            f"{s.latency_p50_s:>7.3f} {s.latency_p90_s:>7.3f} {s.latency_p99_s:>7.3f}"
        )
    a = result.aggregate
    lines.append("-" * len(header))
    lines.append(f"{'average / pooled':<24} {'':>5} {100 * a.avg_wer:>7.2f} {'':>15} {a.rtf:>8.4f} {a.rtfx:>8.1f}")
    hw = result.hardware
    lines.append(
        f"hardware {hw.gpu_name or hw.cpu} ({hw.gpu_class}); official: {result.official}; "
        f"meets real-time: {a.meets_realtime}; batch evidence: max {result.batch_evidence.max_batch_size}, "
        f"{result.batch_evidence.forward_calls} calls; warm-up {result.warmup_utterances}"
    )
    return "\n".join(lines)


def throughput_summary(result: ThroughputResult) -> str:
    """The ladder, the chosen size, WER at both sizes and the cost, as the CLI prints them."""
    lines = [f"{'batch size':>10} {'RTFx':>9} {'avg WER %':>10} {'best so far':>11}  sizes used"]
    for step in result.ladder:
        rtfx = "out of memory" if step.out_of_memory else f"{step.rtfx:9.2f}"
        wer = "" if step.avg_wer is None else f"{100 * step.avg_wer:10.2f}"
        lines.append(f"{step.batch_size:>10} {rtfx:>9} {wer:>10} {step.best_batch_size:>11}  {step.batch_sizes_used}")
    a = result.aggregate
    lines.append(
        f"chosen batch size {result.chosen_batch_size}: RTFx {a.rtfx:.2f}, avg WER {100 * a.avg_wer:.2f}% "
        f"(batch one {100 * a.batch_one_avg_wer:.2f}%, change {100 * a.wer_change:+.2f} points)"
    )
    if result.usd_per_1000_audio_hours is not None:
        price = result.rules["hardware_price"]
        lines.append(
            f"cost: {result.usd_per_1000_audio_hours:.4f} USD per 1,000 audio hours at {price['usd_per_hour']} USD "
            f"per machine hour ({price['source']}, {price['date']})"
        )
    return "\n".join(lines)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from evaluator.evaluate import evaluate  # torch and transformers: only when evaluating
    from evaluator.throughput_eval import evaluate_throughput

    config = load_config(args.config)
    spec = EvalSpec(
        model=args.model,
        request_id=f"local-{Path(args.out).name}",
        revision=args.revision,
        precision=args.precision,
        device=args.device,
        eval_sets=_eval_sets(config, args.eval_set),
        max_samples=args.max_samples,
    )
    run = evaluate_throughput if args.track == THROUGHPUT_TRACK else evaluate
    evaluation: Evaluation | ThroughputEvaluation = run(config, spec)
    write_outputs(Path(args.out), evaluation)
    result = evaluation.result
    print(throughput_summary(result) if isinstance(result, ThroughputResult) else summary_table(result))
    print(
        f"wrote {Path(args.out) / result_file_name(evaluation)} and {len(evaluation.predictions)} predictions file(s)"
    )
    print(f"reproduce: {result.reproduce}")
    return 0


def _cmd_run_once(args: argparse.Namespace) -> int:
    from evaluator.job import run_once

    config = load_config(args.config)
    store = open_store(config)
    if args.throughput_only:
        return _throughput_only(config, store, args)
    request = run_once(config, store, worker=args.worker, request_id=args.request_id)
    if request is None and args.request_id:
        current = store.snapshot().requests.get(args.request_id)
        if current is None:
            raise StoreError(f"no request {args.request_id} in the store; check the id on the Queue page")
        print(f"{args.request_id} is {current.status}, not PENDING: another worker has it or it ended; nothing to do")
        return 0
    if request is None:
        print("no pending request")
        return 0
    print(f"{request.request_id}: {request.status}" + (f" ({request.error})" if request.error else ""))
    return 0 if request.status == "FINISHED" else 1


def _throughput_only(config: LeaderboardConfig, store: Store, args: argparse.Namespace) -> int:
    """`run-once --throughput-only --request-id ID`: one attempt of the owed throughput run (R14) of a finished
    request, as a throughput Job runs it (the dispatcher's planner chose it); exit 0 once its record is published."""
    from evaluator.job import throughput_step
    from openasr_core.workers import default_worker_name

    if not args.request_id:
        raise StoreError("--throughput-only needs --request-id (the finished request whose throughput run is owed)")
    outcome = throughput_step(config, store, args.request_id, args.worker or default_worker_name("evaluator"))
    print(outcome)
    return 0 if outcome.endswith(": published") else 1


def _cmd_publish_results(args: argparse.Namespace) -> int:
    """Open (or find) the entry's one results PR on the model's repo (R15): the same steps as the worker's, so
    running it again after a failure or a lost answer never opens a second PR. Exit 0 the PR exists (opened now,
    adopted, or already logged), 1 this try failed (logged `results_pr_failed`; run it again later), 2 nothing
    was done (no such request, the box was not ticked, or the log could not be written)."""
    from evaluator.results_pr import RESULTS_PR_FAILED, publish_results_pr

    config = load_config(args.config)
    store = open_store(config)
    if args.request_id not in store.snapshot().requests:
        raise StoreError(f"no request {args.request_id} in the store; check the id on the Queue page")
    outcome = publish_results_pr(config, store, args.request_id, actor=args.actor)
    if outcome.url:
        how = "already opened" if outcome.event is None else "found and adopted" if outcome.adopted else "opened"
        print(f"{args.request_id}: results pull request {how}: {outcome.url}")
        return 0
    if outcome.event == RESULTS_PR_FAILED:
        print(f"{args.request_id}: no pull request: {outcome.error} (logged; running this again retries safely)")
        return 1
    print(f"{args.request_id}: nothing done: {outcome.error}")
    return 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evaluator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="evaluate one model as the leaderboard would and write the result")
    ev.add_argument("--model", required=True, help="Hub id, local folder, or <org>/<name> under the models folder")
    ev.add_argument("--revision", default=None, help="branch, tag or commit SHA (default main)")
    ev.add_argument("--precision", default="float32", choices=PRECISIONS)
    ev.add_argument("--eval-set", action="append", help="eval set name from the config, or an AudioFolder path")
    ev.add_argument("--max-samples", type=int, default=None, help="first N utterances of each set (not official)")
    ev.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ev.add_argument("--config", default=None, help="leaderboard-version TOML (default: LEADERBOARD_CONFIG or local)")
    ev.add_argument("--out", required=True, help="folder for result.json (or throughput.json) and predictions/")
    ev.add_argument(
        "--track",
        default=BATCH_ONE_TRACK,
        choices=(BATCH_ONE_TRACK, THROUGHPUT_TRACK),
        help="batch-one (the ranked board, default) or throughput (batched, on a batch-size ladder; R14)",
    )
    ev.set_defaults(func=_cmd_evaluate)
    once = sub.add_parser("run-once", help="claim one pending request from the store, evaluate it, publish it")
    once.add_argument("--config", default=None)
    once.add_argument("--worker", default=None, help="worker name recorded in the lease and the log")
    once.add_argument(
        "--request-id", default=None, help="claim exactly this request (a Job started for it); exit 0 if taken"
    )
    once.add_argument(
        "--throughput-only",
        action="store_true",
        help="with --request-id: one attempt of that finished request's owed throughput run (R14), nothing else",
    )
    once.set_defaults(func=_cmd_run_once)
    pr = sub.add_parser(
        "publish-results",
        help="open the finished entry's one results pull request on the model's repo (R15, opt-in); safe to repeat",
    )
    pr.add_argument("--request-id", required=True, help="the entry's request id (Queue page or the result file)")
    pr.add_argument("--config", default=None)
    pr.add_argument("--actor", default="evaluator", help="who the log names as opening it")
    pr.set_defaults(func=_cmd_publish_results)
    for name, summary in DELEGATED.items():
        sub.add_parser(name, help=summary, add_help=False)
    return parser


#: Subcommands with parsers of their own; they get the rest of the command line (`verify --help` works).
DELEGATED = {
    "verify": "check result signatures, predictions hashes (a Hub repo: with --deep) and the log's hash chain; exit 0 "
    "verified, 1 altered, 2 nothing checked, 3 unsigned (see `verify --help`)",
    "keygen": "make the Ed25519 key pair that signs results (see `keygen --help`)",
    "audit": "re-run a finished entry as recorded and compare every figure (see `audit --help`)",
}


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()  # INFO, without the HTTP clients' request lines (signed download URLs)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        return int(importlib.import_module(f"evaluator.{argv[0]}").main(argv[1:]))
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except Exception as exc:
        kind = error_kind(exc)  # one table (`evaluator.errors`) for every place that decides on an exception
        if kind is ErrorKind.BUG:
            raise
        later = "; it is temporary, try again later" if kind is ErrorKind.TRANSIENT else ""
        print(f"error: {exc}{later}", file=sys.stderr)
        return 2
