"""How fast the leaderboard table is with 10,000 entries, and how fast `python app.py` starts.

    python bench/table.py [--entries 10000] [--filters 300] [--skip-startup] [--skip-store]

Prints:
- build: turning 10,000 results into the ranked board with display values (what happens once per store change),
- filter p50/p95: `Board.view(filters)` over a few hundred random filter combinations (what every control
  change costs), plus the same with gradio's own Dataframe serialization of the styled view, for reference,
- store read: `LocalStore.snapshot()` of 10,000 result files (informational; the Hub store reads one snapshot),
- startup: seconds from starting `python app.py` on an empty temporary store to its first HTTP 200.

The records are SYNTHETIC, made up inside this benchmark only; they are never written to a real store and never
shown as real results. Targets: build under 1 s, filter p50 under 150 ms.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from leaderboard.table import BoardInput, Filters, build_board, sort_options
from openasr_core.config import load_config
from openasr_core.records import PRECISIONS, Request, Result, Status
from testkit.app_process import AppDidNotStart, running_app
from testkit.factories import make_result

REPO_ROOT = Path(__file__).resolve().parent.parent

EVAL_SETS = tuple(e.name for e in load_config(REPO_ROOT / "configs" / "esb-v1.toml", env={}).eval_sets)
FAMILIES = {
    "whisper": "WhisperForConditionalGeneration",
    "wav2vec2": "Wav2Vec2ForCTC",
    "hubert": "HubertForCTC",
    "parakeet": "ParakeetForCTC",
    "moonshine": "MoonshineForConditionalGeneration",
    "speech2text": "Speech2TextForConditionalGeneration",
}
LICENSES = ("mit", "apache-2.0", "cc-by-4.0", "cc-by-nc-4.0", "openrail")
TARGET_BUILD_S = 1.0
TARGET_FILTER_P50_S = 0.150


def synthetic_results(n: int, seed: int = 0) -> list[Result]:
    """n made-up results of version `bench`: random but plausible numbers, ids that say they are synthetic.
    The records are built by `testkit.factories`, the one record factory of tests and benchmarks."""
    rng = random.Random(seed)
    results = []
    for i in range(n):
        family = rng.choice(list(FAMILIES))
        avg = rng.uniform(0.02, 0.4)
        rtf = 10 ** rng.uniform(-3, 0.3)
        official = rng.random() < 0.8
        results.append(
            make_result(
                f"20260101T000000Z-{i:08x}",
                f"synthetic-org-{i % 300}/synthetic-{family}-{i}",
                wers={name: max(0.0, avg * rng.uniform(0.5, 1.5)) for name in EVAL_SETS},
                rtf=rtf,
                official=official,
                precision=rng.choice(PRECISIONS),
                meets_realtime=rtf * 2 <= 1.0,
                version="bench",
                revision=f"{i:040x}",
                parameters=int(10 ** rng.uniform(7, 9.3)),
                license=rng.choice(LICENSES),
                architecture=FAMILIES[family],
                started_at="2026-01-01T00:00:00Z",
                finished_at=f"2026-01-01T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z",
                p90=rtf * 8,
                signature=None,
            )
        )
    return results


def random_filters(rng: random.Random, families: list[str]) -> Filters:
    sorts = [o.id for o in sort_options(EVAL_SETS)]
    return Filters(
        search=rng.choice(["", "", "whisper", "synthetic-org-1", "parakeet 12", "wav2vec2"]),
        licenses=tuple(rng.sample(LICENSES, rng.choice([0, 0, 1, 2]))),
        precisions=tuple(rng.sample(PRECISIONS, rng.choice([0, 0, 1, 2]))),
        families=tuple(rng.sample(families, rng.choice([0, 0, 1, 2]))),
        params_min_m=rng.choice([None, None, 50.0, 300.0]),
        params_max_m=rng.choice([None, None, 1000.0, 2000.0]),
        realtime_only=rng.random() < 0.3,
        official_only=rng.random() < 0.7,
        sort=rng.choice(sorts),
        columns=None if rng.random() < 0.5 else tuple(rng.sample(["avg_wer", "rtf", "rtfx", "params", "badges"], 3)),
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def bench_table(n: int, filters_n: int) -> tuple[float, float, float]:
    results = synthetic_results(n)
    items = [BoardInput(result=r) for r in results]
    builds = []
    for _ in range(3):
        started = time.perf_counter()
        board = build_board(items, eval_sets=EVAL_SETS)
        builds.append(time.perf_counter() - started)
    build_s = min(builds)
    print(f"build: {n} results -> ranked board in {build_s * 1000:.0f} ms (best of 3; target < {TARGET_BUILD_S:g} s)")

    rng = random.Random(1)
    combos = [random_filters(rng, board.families) for _ in range(filters_n)]
    timings, with_gradio, shown = [], [], []
    import gradio as gr

    from leaderboard.ui import styled

    component = gr.Dataframe(interactive=False)
    for filters in combos:
        started = time.perf_counter()
        view = board.view(filters)
        timings.append(time.perf_counter() - started)
        shown.append(len(view.frame))
    for filters in combos[:50]:
        started = time.perf_counter()
        view = board.view(filters)
        component.postprocess(styled(view))
        with_gradio.append(time.perf_counter() - started)
    p50, p95 = percentile(timings, 0.5), percentile(timings, 0.95)
    print(
        f"filter: {filters_n} random combinations, p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms "
        f"(target p50 < {TARGET_FILTER_P50_S * 1000:.0f} ms); rows shown: median {statistics.median(shown):.0f}, "
        f"max {max(shown)}"
    )
    print(
        f"  for reference, filter + gradio Dataframe serialization of the styled view (50 combinations): "
        f"p50 {percentile(with_gradio, 0.5) * 1000:.0f} ms, p95 {percentile(with_gradio, 0.95) * 1000:.0f} ms"
    )
    return build_s, p50, p95


def bench_store_read(n: int) -> None:
    """Write n synthetic results with FINISHED requests straight into a temporary local store's layout, then time
    one snapshot (the read every page refresh shares)."""
    from openasr_core.board_files import render_repos
    from openasr_core.files import atomic_write
    from openasr_core.store import LocalStore

    root = Path(tempfile.mkdtemp(prefix="bench-store-"))
    try:
        store = LocalStore(root)
        results = synthetic_results(n)
        requests = [
            Request(
                request_id=result.request_id,
                model_id=result.model_id,
                revision=result.revision,
                requested_revision="main",
                precision=result.precision,
                submitter="bench",
                submitted_at=result.started_at,
                status=Status.FINISHED,
            )
            for result in results
        ]
        request_files, result_files = render_repos(requests, results, [])
        for folder, files in ((store.requests_root, request_files), (store.results_root, result_files)):
            for path, data in files.items():
                atomic_write(folder / path, data)
        started = time.perf_counter()
        snapshot = store.snapshot()
        elapsed = time.perf_counter() - started
        print(
            f"store read (informational): LocalStore.snapshot() of {len(snapshot.results)} results in {elapsed:.2f} s"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def bench_startup() -> float:
    root = Path(tempfile.mkdtemp(prefix="bench-app-"))
    started = time.perf_counter()
    try:
        with running_app(
            {"LEADERBOARD_STORE": str(root / "store")}, root / "app.log", startup_timeout_s=120, poll_s=0.05
        ):
            elapsed = time.perf_counter() - started
    except AppDidNotStart as exc:
        raise SystemExit(str(exc)) from None
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"startup: python app.py (empty temporary store) -> first HTTP 200 in {elapsed:.1f} s")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--filters", type=int, default=300)
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--skip-store", action="store_true")
    args = parser.parse_args()
    print(
        f"SYNTHETIC records, generated inside this benchmark only ({args.entries} results, {len(EVAL_SETS)} eval sets)"
    )
    build_s, p50, _ = bench_table(args.entries, args.filters)
    if not args.skip_store:
        bench_store_read(args.entries)
    if not args.skip_startup:
        bench_startup()
    verdict = "met" if build_s < TARGET_BUILD_S and p50 < TARGET_FILTER_P50_S else "NOT met"
    print(f"targets (build < {TARGET_BUILD_S:g} s, filter p50 < {TARGET_FILTER_P50_S * 1000:.0f} ms): {verdict}")


if __name__ == "__main__":
    main()
