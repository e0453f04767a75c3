"""Faults, damaged files, bad input and a crowd, against the real product; one table and one verdict line.

    python bench/reliability.py [--workdir DIR]

Scenarios (bench/reliability_local.py, bench/reliability_hub.py):
- local store, real subprocesses: 4 workers drain 24 requests while being `kill -9`ed at every named point
  inside store writes and at random moments (workers run the real store with a FAKE evaluation step: a short
  sleep and a synthetic result, since the model is not what is tested here);
- local store, each kind of damaged file: the board still reads and reports it, `verify` fails naming it, and a
  submit, claim and finish still reach the table;
- Hub emulator (in-process: the emulator lives in this process), 4 worker threads with the real
  `huggingface_hub` client, killed at named points around commits, under injected 5xx / lost commit answers /
  dropped connections / 429 / racing commits; and damaged files pushed to the repos;
- the bad-input list (testkit/bad_inputs.py when present, else the list below) through the Submit form's code
  path on a damaged store: every one refused, the store unchanged;
- `python app.py` started on a local store with damaged files and 1,000 SYNTHETIC signed entries, while
  `python -m evaluator run-once` evaluates a tiny RANDOM model on the bundled sample set in another process
  (one CPU thread: on the Space it runs on the GPU), and 50 concurrent clients each fetch the page, load it
  and change filters, each visit's filters different (bench/load.py `measure`; the populated store is cached
  between runs by `populated_store`).

- forged and damaged copies of a small honest store (bench/reliability_forgery.py: each case of issue 26), each
  put to `verify` with the board's key pinned; caught when it exits 1.

The last line is `reliability: faults=<n> survived=<n> bad_inputs=<n> refused=<n> lost=<n> duplicated=<n>
log_gaps=<n> forgeries=<n> caught=<n> load_p95_s=<x>`; the exit status is 1 if anything was lost, duplicated or
left out of the log, a fault was not survived, or a forgery was not caught. A bad input that was not refused shows in the table and the line (refused < bad_inputs)
and is the untrusted-input work's to fix; it does not change the exit status.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import reliability_forgery
import reliability_hub
import reliability_local
from reliability_checks import Tally
from reliability_inputs import bad_inputs

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Results on the board the crowd visits (issue 26: the p95 target holds at 1,000).
LOAD_ENTRIES = 1000


def app_under_load(workdir: Path, clients: int = 50) -> tuple[Tally, float]:
    """A damaged store served by `python app.py` while a real run-once evaluates, under `clients` visitors."""
    from load import measure, populated_store, serve_app

    from openasr_core import layout
    from openasr_core.store import LocalStore

    tally = Tally("app + run-once + 50 clients", "local", workers=1, requests=1)
    store_root, models = workdir / "store", workdir / "models"
    request_id = _tiny_request(store_root, models, populated_store)
    damaged = _damage_app_store(store_root)
    tally.faults = len(damaged)
    env = {**os.environ, "LEADERBOARD_STORE": str(store_root), "LEADERBOARD_MODELS_DIR": str(models)}
    env.pop("LEADERBOARD_CONFIG", None)
    # On the Space the evaluation runs on the GPU; here on the CPU, one thread, so it does not take every core.
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    p95 = float("nan")
    try:
        with serve_app(store_root, models) as url:
            measure(url, clients=2, rounds=1)  # warm-up, as bench/load.py does: first imports and first renders
            run = subprocess.Popen(
                [sys.executable, "-m", "evaluator", "run-once", "--worker", "bench-eval"],
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            results = measure(url, clients=clients, rounds=1)
            output, _ = run.communicate(timeout=300)
    except RuntimeError as exc:  # the app did not start: the point of the bench
        tally.notes.append(str(exc)[-500:])
        tally.lost = 1
        return tally, p95
    p95 = max(f.p95_s for f in results.values())
    errors = sum(f.errors for f in results.values())
    finished = run.returncode == 0 and f"{request_id}: FINISHED" in output
    shards = sorted((store_root / "results" / layout.TABLE_DIR).glob("*.csv"))
    table = "".join(path.read_text(encoding="utf-8", errors="replace") for path in shards)
    snapshot = LocalStore(store_root).snapshot()
    if finished and request_id in table and errors == 0:
        tally.survived = tally.faults
    else:
        tally.lost = int(request_id not in table)
        tally.notes.append(f"run-once rc={run.returncode}: {output[-400:]!r}; {errors} client errors")
    tally.notes.append(f"app started over: {', '.join(damaged)}; still reported after: {len(snapshot.damaged)}")
    tally.notes += [f"{name}: p50 {f.p50_s:.2f} s, p95 {f.p95_s:.2f} s, {f.calls} calls" for name, f in results.items()]
    return tally, p95


def _tiny_request(store_root: Path, models: Path, populated_store: Callable[[Path, int], None]) -> str:
    """1,000 synthetic signed entries (bench/load.py) and one pending request for a tiny random CTC model."""
    from openasr_core.model_files import local_revision, weight_file_hashes
    from openasr_core.records import ModelInfo
    from openasr_core.store import LocalStore
    from testkit.factories import make_request
    from testkit.tiny_models import make_tiny_ctc

    populated_store(store_root, LOAD_ENTRIES)
    folder = make_tiny_ctc(models / "bench-org" / "tiny-ctc")
    info = ModelInfo(
        license="mit", parameters=1, architecture="Wav2Vec2ForCTC", weight_files=weight_file_hashes(folder)
    )
    request = make_request(
        "bench-tiny",
        "bench-org/tiny-ctc",
        revision=local_revision(folder),
        precision="float32",
        model=info,
        submitted_at="2026-11-28T00:00:00Z",
    )
    LocalStore(store_root).submit(request)
    return request.request_id


def _damage_app_store(root: Path) -> list[str]:
    """Damage the app's store the ways a stray edit can (state.json is left: the pending request's weight
    hashes live only there, and its rebuild is covered by the damaged-files scenarios)."""
    from openasr_core import layout

    requests, results = root / "requests", root / "results"
    (requests / layout.log_chunk_path(0)).write_bytes(
        (requests / layout.log_chunk_path(0)).read_bytes() + b"{garbage\n"
    )
    closed = sorted((requests / layout.CLOSED_DIR).glob("*.jsonl"))[0]
    closed.write_bytes(closed.read_bytes() + b"\x00\xff not json\n")
    records = sorted((results / layout.RECORDS_DIR).glob("*.jsonl"))[0]
    records.write_bytes(records.read_bytes()[:50])
    next(iter(sorted((results / layout.RESULTS_DIR).rglob("*.json")))).write_bytes(b"{truncated")
    table_shard = results / layout.table_path(layout.FIRST_TABLE_SHARD)
    table_shard.parent.mkdir(parents=True, exist_ok=True)  # a store filled without a renderer has no table yet
    table_shard.write_bytes(b"\x00garbage,\n1,2,3\n")
    return [
        "garbage log line",
        "garbage closed shard line",
        "truncated records shard",
        "corrupt result file",
        "corrupt table shard",
    ]


def table(tallies: list[Tally]) -> str:
    header = (
        f"{'scenario':<30} {'store':<13} {'faults':>6} {'survived':>8} {'workers':>7} {'requests':>8} "
        f"{'bad in':>6} {'refused':>7} {'lost':>4} {'dup':>3} {'gaps':>4} {'forged':>6} {'caught':>6}"
    )
    lines = [header, "-" * len(header)]
    for t in tallies:
        lines.append(
            f"{t.scenario:<30} {t.store:<13} {t.faults:>6} {t.survived:>8} {t.workers:>7} {t.requests:>8} "
            f"{t.bad_inputs:>6} {t.refused:>7} {t.lost:>4} {t.duplicated:>3} {t.log_gaps:>4} {t.forgeries:>6} "
            f"{t.caught:>6}"
        )
        lines += [f"    {note}" for note in t.notes[:8]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None, help="keep the stores here (default: a temp folder)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="reliability-"))
    started = time.monotonic()
    try:
        tallies = [
            reliability_local.kill_campaign(workdir / "kills"),
            reliability_local.corruptions(workdir / "damaged"),
            reliability_hub.campaign(),
            reliability_hub.corruptions(),
            bad_inputs(workdir / "inputs"),
            reliability_forgery.forgeries(workdir / "forged"),
        ]
        app, p95 = app_under_load(workdir / "app")
        tallies.append(app)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(table(tallies))
    total = {
        k: sum(getattr(t, k) for t in tallies)
        for k in (
            "faults",
            "survived",
            "bad_inputs",
            "refused",
            "lost",
            "duplicated",
            "log_gaps",
            "forgeries",
            "caught",
        )
    }
    print(f"({time.monotonic() - started:.0f} s, {threading.active_count()} threads left)")
    print(
        f"reliability: faults={total['faults']} survived={total['survived']} bad_inputs={total['bad_inputs']} "
        f"refused={total['refused']} lost={total['lost']} duplicated={total['duplicated']} "
        f"log_gaps={total['log_gaps']} forgeries={total['forgeries']} caught={total['caught']} load_p95_s={p95:.2f}"
    )
    ok = total["lost"] == total["duplicated"] == total["log_gaps"] == 0 and total["survived"] == total["faults"]
    ok = ok and total["caught"] == total["forgeries"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
