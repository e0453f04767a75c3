"""Paired whole-process evaluations of two or more checkouts: is one evaluator faster, with the same transcripts?

Runs `python -m evaluator evaluate` from each checkout in turn on the same model and eval set (the real
whisper-base on the 32 LJ Speech clips of ../shared by default, float32 on the CPU; `--device cuda` on a GPU),
round after round, the order rotated each round because on a shared machine the first run of a round is often
the slower. Every process gets the same torch threads (`--threads`, else torch's default). Each run's predictions
give its Σ timed (the sum of the per-utterance times R3 publishes), its RTFx and its transcripts. Prints each
round, then each later checkout's Σ timed against each earlier one's, round by round (one slow round on a shared
machine moves the mean more than the median: both are printed). Last line, with the mean ratio of each pair:

    paired_evaluate: rounds=<n> threads=<n|default> <later>/<earlier>=<mean ratio> ... transcripts=identical|DIFFER

    python bench/paired_evaluate.py before=/path/to/old/checkout after=. [--rounds 6] [--threads 1]

A checkout is any folder with the evaluator's code (a `git worktree add` of an older commit); its own code is
imported (`PYTHONPATH`), with this environment's packages.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@dataclass(frozen=True)
class Run:
    """One evaluation process: what its predictions say."""

    label: str
    round: int
    timed_s: float
    audio_s: float
    texts: tuple[tuple[str, str], ...]  # (utterance id, prediction), sorted by id

    @property
    def rtfx(self) -> float:
        return self.audio_s / self.timed_s if self.timed_s else float("inf")


def read_run(label: str, round_: int, out: Path) -> Run:
    """A run's figures from its `predictions/*.jsonl` (the layout every version of the evaluator writes)."""
    paths = sorted(out.glob("predictions/*.jsonl"))
    rows = [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.strip()]
    if not rows:
        raise SystemExit(f"{label} round {round_}: no predictions under {out}:\n{_log_tail(out)}")
    return Run(
        label=label,
        round=round_,
        timed_s=sum(row["time_s"] for row in rows),
        audio_s=sum(row["duration_s"] for row in rows),
        texts=tuple(sorted((row["id"], row["prediction"]) for row in rows)),
    )


def round_orders(labels: list[str], rounds: int) -> list[list[str]]:
    """Each round's order: the labels rotated by one each round, so each takes every position in turn."""
    return [labels[i % len(labels) :] + labels[: i % len(labels)] for i in range(rounds)]


def ratios(runs: list[Run], label: str, base: str) -> list[float]:
    """`label`'s Σ timed over `base`'s, per round that has both."""
    by_round: dict[int, dict[str, Run]] = {}
    for run in runs:
        by_round.setdefault(run.round, {})[run.label] = run
    return [r[label].timed_s / r[base].timed_s for _, r in sorted(by_round.items()) if label in r and base in r]


def evaluate_once(label: str, tree: Path, round_: int, args: argparse.Namespace, work: Path) -> Run:
    out = work / f"{label}-{round_}"
    command = [sys.executable, "-m", "evaluator", "evaluate", "--model", args.model, "--eval-set", args.data]
    command += ["--precision", args.precision, "--device", args.device, "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    with open(f"{out}.log", "w") as log:
        done = subprocess.run(command, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{label} round {round_}: the evaluation failed (exit {done.returncode}):\n{_log_tail(out)}")
    return read_run(label, round_, out)


def _log_tail(out: Path, lines: int = 20) -> str:
    """The end of a run's log, shown on failure (the work folder is temporary and goes with the exit)."""
    return "\n".join(Path(f"{out}.log").read_text(errors="replace").splitlines()[-lines:])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "checkouts", nargs="+", help="label=folder, at least two; each later one is compared with each earlier one"
    )
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads of every run (default: torch's)")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--model", default=str(SHARED / "models" / "whisper-base"))
    parser.add_argument("--data", default=str(SHARED / "data" / "ljspeech-32"))
    args = parser.parse_args()
    trees = dict(item.split("=", 1) for item in args.checkouts if "=" in item)
    if len(trees) < 2 or len(trees) != len(args.checkouts):
        parser.error("give at least two checkouts as label=folder, with distinct labels")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    labels = list(trees)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="paired-evaluate-") as tmp:
        for round_, order in enumerate(round_orders(labels, args.rounds), start=1):
            for label in order:
                run = evaluate_once(label, Path(trees[label]).resolve(), round_, args, Path(tmp))
                runs.append(run)
                print(f"round {round_} {label:<10} Σ timed {run.timed_s:8.3f} s  RTFx {run.rtfx:6.2f}", flush=True)
    summary = []
    for position, base in enumerate(labels):
        for label in labels[position + 1 :]:
            each = ratios(runs, label, base)
            listed = ", ".join(f"{value:.3f}" for value in each)
            mean, median = statistics.mean(each), statistics.median(each)
            print(f"{label}/{base} Σ timed per round: {listed}; mean {mean:.3f}, median {median:.3f}")
            summary.append(f"{label}/{base}={mean:.3f}")
    for label in labels:
        mine = [run.rtfx for run in runs if run.label == label]
        print(f"{label} RTFx: mean {statistics.mean(mine):.2f} (min {min(mine):.2f}, max {max(mine):.2f})")
    identical = len({run.texts for run in runs}) == 1
    threads = args.threads or "default"
    transcripts = "identical" if identical else "DIFFER"
    print(f"paired_evaluate: rounds={args.rounds} threads={threads} {' '.join(summary)} transcripts={transcripts}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
