"""How much one entry's RTF moves from run to run on this machine: the noise an audit must tolerate (R13).

Evaluates one model several times back to back, exactly as the board does (the real whisper-base of
../shared/models on the LJ Speech clips of ../shared/data/ljspeech-32 by default, float32 on the CPU; any model
on a GPU with `--device cuda`), each run watched by the audit's load probe, and prints each run's RTF, its
paired time ratio against the first run with the 95% bootstrap interval the audit uses, and how busy the
machine was. The spread is what `[audit] rtf_tolerance_by_class` is set from (the config cites it). Last line:

    rtf_noise: runs=<n> rtf_cv=<std/mean of the runs' RTF> max_rel_dev=<max |RTF/mean - 1|>

    python bench/rtf_noise.py [--runs 5] [--max-samples N] [--device cpu|cuda] [--precision float32]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from evaluator.audit_checks import paired_ratio, paired_times
from evaluator.evaluate import Evaluation, evaluate
from evaluator.load_probe import BusyRule, LoadProbe, nvml_reader
from evaluator.spec import EvalSpec
from testkit.audio import write_config

REPO = Path(__file__).resolve().parent.parent

SHARED = REPO.parent / "shared"
RULE = BusyRule(min_cpu_share=0.6, max_load_excess=0.5)  # the [audit] defaults


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--model", default=str(SHARED / "models" / "whisper-base"))
    parser.add_argument("--data", default=str(SHARED / "data" / "ljspeech-32"))
    parser.add_argument("--max-samples", type=int, default=None, help="first N clips only (default: all)")
    return parser.parse_args()


def _spread(rtfs: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(rtfs)
    cv = statistics.stdev(rtfs) / mean if len(rtfs) > 1 else 0.0
    return cv, max(abs(r / mean - 1) for r in rtfs)


def main() -> int:
    args = _arguments()
    if not Path(args.model).is_dir() or not Path(args.data).is_dir():
        print(f"needs {args.model} and {args.data} (../shared); nothing measured")
        return 1
    on_gpu = args.device == "cuda"
    runs: list[Evaluation] = []
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(
            Path(tmp), {"clips": Path(args.data)}, warmup=2, max_new_tokens=440, timeout_s=float("inf")
        )
        for number in range(1, args.runs + 1):
            probe = LoadProbe(on_gpu=on_gpu, gpu=nvml_reader() if on_gpu else None)
            spec = EvalSpec(
                args.model,
                request_id=f"noise-{number}",
                device=args.device,
                precision=args.precision,
                max_samples=args.max_samples,
            )
            evaluation = evaluate(config, spec, probe=probe)
            runs.append(evaluation)
            load = probe.summary(RULE)
            before, after = paired_times(runs[0].predictions, evaluation.predictions)
            ratio, (low, high) = paired_ratio(before, after, samples=2000, seed=0)
            print(
                f"run {number}: RTF {evaluation.result.aggregate.rtf:.4f}, time ratio to run 1 {ratio:.4f} "
                f"(95% CI {low:.4f}-{high:.4f}), CPU share {load.cpu_share:.0%} of {load.threads:g} thread(s), "
                f"load {load.load_1min:.2f} on {load.cpu_count} core(s)"
                + (f"; BUSY: {load.busy}" if load.busy else ""),
                flush=True,
            )
    hardware = runs[0].result.hardware
    rtfs = [run.result.aggregate.rtf for run in runs]
    cv, max_dev = _spread(rtfs)
    print(
        f"hardware: {hardware.gpu_name or hardware.cpu} ({hardware.gpu_class}), {len(runs[0].predictions['clips'])} clips"
    )
    print(f"rtf_noise: runs={len(rtfs)} rtf_cv={cv:.4f} max_rel_dev={max_dev:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
