"""What the Hub store costs at production scale: HTTP requests and bytes per operation, through the real client.

Seeds the Hub emulator (tests/hub_emulator.py; the REAL `huggingface_hub.HfApi` runs over it) with 10,000
finished results, 1,000 open requests and a log of 20,000 entries, then measures, each right after one commit
by another client (as in production, where every claim, heartbeat and submit moves the requests repo):
a board read (`snapshot()`), a claim, a heartbeat, a finish, a detail page (one result and its predictions),
and the wall time of a board refresh. The last line is the summary the issue asks for.

    python bench/hub_scale.py [--results 10000] [--open 1000] [--log 20000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from huggingface_hub import HfApi

from bench.table import synthetic_results
from core import layout
from core.eventlog import next_entry
from core.records import LogEntry, PredictionRow, Progress, Request, Result, Status, write_jsonl
from core.store.hub import HubStore, RetryPolicy
from core.store.repo_files import render_repos
from tests.hub_emulator import ENDPOINT, HubEmulator

REQUESTS, RESULTS = "bench/requests", "bench/results"
EVAL_SET = "librispeech_test_clean"
ROWS = [
    PredictionRow(id=f"u{i}", reference="hello world", prediction="hello world", duration_s=2.0, time_s=0.1)
    for i in range(500)
]


def _request(n: int, status: Status, result: Result | None = None) -> Request:
    return Request(
        request_id=result.request_id if result else f"20260201T000000Z-{n:08x}",
        model_id=result.model_id if result else f"open-org/open-model-{n}",
        revision=result.revision if result else f"{n:040x}",
        requested_revision="main",
        precision=result.precision if result else "float16",
        submitter=f"user{n % 500}",
        submitted_at=f"2026-02-01T{(n // 3600) % 24:02d}:{(n // 60) % 60:02d}:{n % 60:02d}Z",
        status=status,
    )


def build_data(n_results: int, n_open: int, n_log: int) -> tuple[list[Request], list[Result], list[LogEntry]]:
    """Finished requests with their results, open (PENDING) requests, and a valid hash chain of `n_log` entries."""
    results = synthetic_results(n_results)
    requests = [_request(i, Status.FINISHED, r) for i, r in enumerate(results)]
    requests += [_request(i, Status.PENDING) for i in range(n_open)]
    log: list[LogEntry] = []
    for i in range(n_log):
        request = requests[i % len(requests)]
        log.append(
            next_entry(
                log[-1] if log else None,
                request_id=request.request_id,
                event="submitted",
                actor=request.submitter,
                detail={"model_id": request.model_id},
                at="2026-02-01T00:00:00.000Z",
            )
        )
    return requests, results, log


def seed(hub: HubEmulator, requests: list[Request], results: list[Result], log: list[LogEntry]) -> None:
    """Write the data straight into the emulator in the store's own layout (one commit per repo)."""
    request_files, result_files = render_repos(requests, results, log)
    result_files[layout.predictions_path(results[0].request_id, EVAL_SET)] = write_jsonl(ROWS).encode()
    hub.push(REQUESTS, request_files)
    hub.push(RESULTS, result_files)


def measure(hub: HubEmulator, fn: Callable[[], Any]) -> tuple[int, int, float, Any]:
    """HTTP requests, bytes answered and wall seconds of one call."""
    hub.reset_counts()
    started = time.perf_counter()
    value = fn()
    return hub.count(), hub.bytes_out, time.perf_counter() - started, value


def make_store() -> HubStore:
    api = HfApi(endpoint=ENDPOINT, token="hf_bench")
    retry = RetryPolicy(attempts=3, base_delay_s=0.0, sleep=lambda _s: None)
    return HubStore(REQUESTS, RESULTS, api=api, create_repos=True, retry=retry)


def run(n_results: int, n_open: int, n_log: int) -> str:
    hub = HubEmulator()
    with hub.installed():
        reader, worker, other = make_store(), make_store(), make_store()
        started = time.perf_counter()
        requests, results, log = build_data(n_results, n_open, n_log)
        seed(hub, requests, results, log)
        detail_id = results[0].request_id  # the result seeded with predictions
        print(f"seeded in {time.perf_counter() - started:.1f}s")
        calls, size, seconds, snap = measure(hub, reader.snapshot)
        print(f"cold board read: {calls} HTTP, {size} bytes, {seconds:.2f}s, {len(snap.finished_results())} results")
        worker.snapshot()
        extra = iter(range(10_000_000, 10_000_100))

        def foreign_commit() -> None:
            other.submit(_request(next(extra), Status.PENDING))

        figures: dict[str, tuple[int, int, float]] = {}
        foreign_commit()
        calls, size, seconds, snap = measure(hub, reader.snapshot)
        figures["board_read"] = (calls, size, seconds)
        foreign_commit()
        calls, size, seconds, claimed = measure(hub, lambda: worker.claim("bench-worker", 600, 3))
        figures["claim"] = (calls, size, seconds)
        foreign_commit()
        progress = Progress(eval_set=EVAL_SET, done=10, total=500)
        figures["heartbeat"] = measure(
            hub, lambda: worker.heartbeat(claimed.request_id, "bench-worker", 600, progress)
        )[:3]
        foreign_commit()
        result = synthetic_results(1)[0]
        result = Result.from_dict({**result.to_dict(), "request_id": claimed.request_id})
        figures["finish"] = measure(
            hub, lambda: worker.finish(claimed.request_id, "bench-worker", result, {EVAL_SET: ROWS})
        )[:3]
        figures["board_refresh_after_finish"] = measure(hub, reader.snapshot)[:3]
        figures["detail"] = measure(hub, lambda: (reader.result(detail_id), reader.predictions(detail_id, EVAL_SET)))[
            :3
        ]
        for name, (calls, size, seconds) in figures.items():
            print(f"{name}: {calls} HTTP requests, {size} bytes, {seconds:.3f}s")
        return (
            f"hub_scale: results={n_results} board_read_http={figures['board_read'][0]} "
            f"board_read_bytes={figures['board_read'][1]} claim_http={figures['claim'][0]} "
            f"heartbeat_http={figures['heartbeat'][0]} finish_http={figures['finish'][0]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=10_000)
    parser.add_argument("--open", type=int, default=1_000)
    parser.add_argument("--log", type=int, default=20_000)
    args = parser.parse_args()
    print(run(args.results, args.open, args.log))


if __name__ == "__main__":
    main()
