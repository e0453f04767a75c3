"""How much the evaluator adds around the timed utterances.

whisper-base on all 32 LJ Speech clips at batch size one; prints WER, RTF and the overhead ratio
(wall time of the evaluation loops / sum of the timed per-utterance times). Target: at most 1.05.

The loop wall time includes the untimed loading of each window of utterances (decode + resample into
memory, in the main thread, with nothing in the background), so the ratio shows exactly what windowed
loading adds around the timed calls.

    python bench/overhead.py [--device cpu|cuda|auto] [--precision float32] [--window 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import evaluator.runner as runner  # noqa: E402
from evaluator.evaluate import evaluate  # noqa: E402
from tests.fixtures.audio import write_config  # noqa: E402

SHARED = REPO.parent / "shared"
TARGET = 1.05


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--model", default=str(SHARED / "models" / "whisper-base"))
    parser.add_argument("--data", default=str(SHARED / "data" / "ljspeech-32"))
    parser.add_argument("--window", type=int, default=8, help="utterances loaded per window (product: 64)")
    args = parser.parse_args()
    runner.WINDOW_UTTERANCES = args.window  # smaller than the set, so several windows are loaded and timed
    if not Path(args.model).is_dir() or not Path(args.data).is_dir():
        print(f"needs {args.model} and {args.data} (../shared); nothing measured")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(
            Path(tmp),
            {"ljspeech-32": Path(args.data)},
            warmup=2,
            bootstrap_samples=1000,
            max_new_tokens=440,
            timeout_s=float("inf"),
        )
        started = time.perf_counter()
        evaluation = evaluate(config, args.model, request_id="bench", device=args.device, precision=args.precision)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
