"""How much the evaluator adds around the timed utterances, and inside them.

whisper-base on all 32 LJ Speech clips at batch size one; prints WER, RTF and the overhead ratio
(wall time of the evaluation loops / sum of the timed per-utterance times). Target: at most 1.05.

The loop wall time includes the untimed loading of each window of utterances (decode + resample into
memory, in the main thread, with nothing in the background), so the ratio shows exactly what windowed
loading adds around the timed calls.

Inside the timed calls, every RTF also pays for the evaluator's own work around the model: features, logits
processing, `generate`'s own per-step code, decoding to text. A second pass over the same clips, profiled with
cProfile (the standard library's deterministic profiler), prints the share of timed work spent outside the
model's forward passes. The forward passes are the calls of the modules the batch hook watches (the model, and
an encoder that `generate` calls on its own), timed by their `forward` functions' cumulative time; they never
nest in each other in these recipes' `generate`. cProfile's own cost per Python call inflates Python-heavy code
(generate's loop more than the tensor work), so its share is an upper bound. A third pass, unprofiled, times
each forward pass with a pair of module hooks (`perf_counter`, the device synchronized) and each utterance
around its call: the share as the evaluator runs. Target for the share: under 2 %.

    python bench/overhead.py [--device cpu|cuda|auto] [--precision float32] [--window 8] [--profile-only]
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import LogitsProcessorList

import evaluator.runner as runner
from evaluator.audio import decode_audio
from evaluator.evaluate import evaluate
from evaluator.models import Transcriber, resolve_model, synchronize
from evaluator.spec import EvalSpec
from testkit.audio import write_config

REPO = Path(__file__).resolve().parent.parent

SHARED = REPO.parent / "shared"
TARGET = 1.05
SHARE_TARGET = 0.02
WARMUP = 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--model", default=str(SHARED / "models" / "whisper-base"))
    parser.add_argument("--data", default=str(SHARED / "data" / "ljspeech-32"))
    parser.add_argument("--window", type=int, default=8, help="utterances loaded per window (product: 64)")
    parser.add_argument("--profile-only", action="store_true", help="only the profiled pass (no evaluation)")
    args = parser.parse_args()
    if not Path(args.model).is_dir() or not Path(args.data).is_dir():
        print(f"needs {args.model} and {args.data} (../shared); nothing measured")
        return 1
    if not args.profile_only:
        measure_overhead(args)
    transcriber = Transcriber(resolve_model(args.model), precision=args.precision, device=args.device)
    waveforms = [decode_audio(path, transcriber.sampling_rate) for path in sorted(Path(args.data).glob("*.flac"))]
    for waveform in waveforms[:WARMUP]:
        transcriber.transcribe(waveform)
    print_share(profile_timed_work(transcriber, waveforms), time_forward_passes(transcriber, waveforms))
    return 0


def measure_overhead(args: argparse.Namespace) -> None:
    """One evaluation as the product runs it: WER, RTF, latencies and the overhead ratio."""
    runner.WINDOW_UTTERANCES = args.window  # smaller than the set, so several windows are loaded and timed
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(
            Path(tmp),
            {"ljspeech-32": Path(args.data)},
            warmup=WARMUP,
            bootstrap_samples=1000,
            max_new_tokens=440,
            timeout_s=float("inf"),
        )
        started = time.perf_counter()
        spec = EvalSpec(args.model, request_id="bench", device=args.device, precision=args.precision)
        evaluation = evaluate(config, spec)
        total = time.perf_counter() - started
    result = evaluation.result
    score = result.datasets["ljspeech-32"]
    print(f"device            {result.hardware.gpu_name or result.hardware.cpu} ({result.hardware.gpu_class})")
    print(f"utterances        {score.utterances} ({score.audio_s:.1f} s of audio), precision {args.precision}")
    print(
        f"WER               {100 * score.wer:.2f} % (95% CI {100 * score.wer_ci95[0]:.2f}-{100 * score.wer_ci95[1]:.2f})"
    )
    print(f"RTF / RTFx        {score.rtf:.4f} / {score.rtfx:.1f}")
    print(f"latency p50/p90/p99  {score.latency_p50_s:.3f} / {score.latency_p90_s:.3f} / {score.latency_p99_s:.3f} s")
    print(f"timed sum         {evaluation.timed_s:.2f} s (windows of up to {args.window} utterances)")
    print(f"loop wall time    {evaluation.loop_wall_s:.2f} s")
    verdict = "meets" if evaluation.overhead_ratio <= TARGET else "MISSES"
    print(f"overhead ratio    {evaluation.overhead_ratio:.4f} (target <= {TARGET:.2f}: {verdict})")
    print(f"whole run         {total:.1f} s (model load, warm-up, scoring included)")


@dataclass(frozen=True)
class TimedWork:
    """Seconds of one pass: all timed calls, and the parts of them by what they do (the unprofiled pass knows
    only the forward passes)."""

    timed_s: float
    forward_s: float
    logits_s: float = 0.0
    features_s: float = 0.0
    text_s: float = 0.0

    @property
    def outside_share(self) -> float:
        """The share of timed work outside the model's forward passes."""
        return (self.timed_s - self.forward_s) / self.timed_s if self.timed_s > 0 else 0.0


def profile_timed_work(transcriber: Transcriber, waveforms: list[np.ndarray]) -> TimedWork:
    """Every waveform transcribed once at batch one under cProfile."""
    profiler = cProfile.Profile()
    profiler.enable()
    for waveform in waveforms:
        transcriber.transcribe(waveform)
    profiler.disable()
    stats = pstats.Stats(profiler)
    recipe = type(transcriber.recipe)
    forwards = {type(module).forward for module in transcriber.recipe.hooked_modules()}
    return TimedWork(
        timed_s=_cumulative(stats, Transcriber.transcribe_batch),
        forward_s=sum(_cumulative(stats, forward) for forward in forwards),
        logits_s=sum(_cumulative(stats, cls.__call__) for cls in _processor_lists()),
        features_s=_cumulative(stats, recipe.inputs),
        text_s=_cumulative(stats, getattr(recipe, "texts", None)),
    )


def time_forward_passes(transcriber: Transcriber, waveforms: list[np.ndarray]) -> TimedWork:
    """Every waveform transcribed once at batch one, no profiler: the forward passes of the modules the batch
    hook watches timed by a pre/post hook pair (only the outermost of nested calls counts), each utterance
    around its `transcribe` call. The device is synchronized at each boundary, so a GPU's queued work is counted
    where it runs."""
    forward = [0.0]
    started: list[float] = []

    def before(_module: torch.nn.Module, _args: Any) -> None:
        synchronize(transcriber.device)
        started.append(time.perf_counter())

    def after(_module: torch.nn.Module, _args: Any, _output: Any) -> None:
        synchronize(transcriber.device)
        began = started.pop()
        if not started:
            forward[0] += time.perf_counter() - began

    modules = transcriber.recipe.hooked_modules()
    handles = [module.register_forward_pre_hook(before) for module in modules]
    handles += [module.register_forward_hook(after) for module in modules]
    timed = 0.0
    try:
        for waveform in waveforms:
            began = time.perf_counter()
            transcriber.transcribe(waveform)
            timed += time.perf_counter() - began
    finally:
        for handle in handles:
            handle.remove()
    return TimedWork(timed_s=timed, forward_s=forward[0])


def _processor_lists() -> set[type[LogitsProcessorList]]:
    """`LogitsProcessorList` and every subclass defining its own `__call__` (the evaluator's `ProcessorList`,
    imported with the recipes): one of them runs each step's processors, never nested in another."""
    found: set[type[LogitsProcessorList]] = set()
    pending = [LogitsProcessorList]
    while pending:
        cls = pending.pop()
        if "__call__" in vars(cls):
            found.add(cls)
        pending.extend(cls.__subclasses__())
    return found


def _cumulative(stats: pstats.Stats, function: Callable[..., Any] | None) -> float:
    """cProfile's cumulative seconds in `function` (its own code, beneath any decorator's wrapper)."""
    if function is None:
        return 0.0
    code = inspect.unwrap(function).__code__
    key = (code.co_filename, code.co_firstlineno, code.co_name)
    entry = stats.stats.get(key)  # type: ignore[attr-defined]
    return float(entry[3]) if entry else 0.0


def print_share(work: TimedWork, unprofiled: TimedWork) -> None:
    def line(label: str, seconds: float, total: float = work.timed_s) -> None:
        print(f"  {label:<34}{seconds:8.2f} s  {100 * seconds / total:5.1f} %")

    # On a CPU the share depends on torch's threads: more make the forward passes faster, not generate's Python
    # (whisper-base here: about 1.6 % on one thread, 2.0-2.3 % on two).
    print(f"torch CPU threads {torch.get_num_threads()} (set OMP_NUM_THREADS to compare)")
    print(f"profiled pass (cProfile)  timed calls {work.timed_s:.2f} s")
    line("model forward passes", work.forward_s)
    line("logits processors", work.logits_s)
    line("features + copy to the device", work.features_s)
    line("decoding to text", work.text_s)
    rest = work.timed_s - work.forward_s - work.logits_s - work.features_s - work.text_s
    line("generate's own code and the rest", rest)
    print(f"outside-forward share, profiled    {100 * work.outside_share:.2f} % (an upper bound)")
    print(f"unprofiled pass (hooks)   timed calls {unprofiled.timed_s:.2f} s")
    line("model forward passes", unprofiled.forward_s, unprofiled.timed_s)
    verdict = "meets" if unprofiled.outside_share < SHARE_TARGET else "MISSES"
    share = 100 * unprofiled.outside_share
    print(f"outside-forward share, unprofiled  {share:.2f} % (target < {100 * SHARE_TARGET:.0f} %: {verdict})")


if __name__ == "__main__":
    sys.exit(main())
