"""Fifty visitors at once: latency of the page load and of a filter change on a real `python app.py`.

    python bench/load.py [--clients 50] [--rounds 3] [--entries 40] [--url http://127.0.0.1:7860/]

Without `--url` it starts `python app.py` on a free port, on a temporary local store holding `--entries`
SYNTHETIC signed results (made up here, never written anywhere else, ids say `bench-`), with the scheduler
off. Then `--clients` threads each run `--rounds` times: a visit (one gradio session): the page-load event
(`on_load`, what every visit runs) and one filter change (`on_filters`), sent as the browser sends them: an
event that skips gradio's queue (the page's reads, `leaderboard.pages.serving.READ_ONLY`) is one POST to
`/gradio_api/run/predict`; a queued one joins `/gradio_api/queue/join` and waits on the `/gradio_api/queue/data`
event stream. Each latency runs from the first request to the result. Prints p50/p95 per event; the last line is
`load: clients=<n> calls=<n> errors=<n> on_load_p50_s=<x> on_load_p95_s=<x> filter_p50_s=<x> filter_p95_s=<x>`.

`measure(url, clients, rounds)` and `serve_app(...)` are importable (the reliability bench runs them).
Target (issue 10): p95 under 1 s for 50 clients on loopback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from leaderboard.table import optional_columns  # noqa: E402  (after the path is set)
from tests.fixtures.app_process import running_app  # noqa: E402

TARGET_P95_S = 1.0
STARTUP_TIMEOUT_S = 90
CALL_TIMEOUT_S = 120
ALL_COLUMNS = [c.id for c in optional_columns(["ljspeech-sample"])]  # every column the board can show
#: One filter change as the page sends it: the table's layout (a `gr.State`, which the browser sends as null),
#: then the controls in `BoardPage.controls()` order: search, licenses, precisions, families, params min/max, real-time only,
#: official only, sort, columns, show flagged.
FILTER_INPUTS: list[Any] = [None, "whisper", [], ["float32"], [], None, None, False, True, "rtf", ALL_COLUMNS, False]


@dataclass(frozen=True)
class EventFigures:
    """Latencies of one event over every call of every client."""

    event: str
    calls: int
    errors: int
    p50_s: float
    p95_s: float
    max_s: float


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN without values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def figures(event: str, latencies: Sequence[float], errors: int) -> EventFigures:
    return EventFigures(
        event=event,
        calls=len(latencies) + errors,
        errors=errors,
        p50_s=statistics.median(latencies) if latencies else math.nan,
        p95_s=percentile(latencies, 95),
        max_s=max(latencies, default=math.nan),
    )


@dataclass(frozen=True)
class Endpoint:
    """One of the page's events, as the browser finds it in the page's config."""

    fn_index: int
    queued: bool  # False for events set `queue=False` (leaderboard.pages.serving.READ_ONLY)
    inputs: int


def endpoints(client: httpx.Client, base: str) -> dict[str, Endpoint]:
    """The page's named events, from the page's config."""
    config = client.get(f"{base}config").json()
    return {
        d["api_name"]: Endpoint(d["id"], queued=d.get("queue") is not False, inputs=len(d["inputs"]))
        for d in config["dependencies"]
        if d.get("api_name")
    }


def call(client: httpx.Client, base: str, endpoint: Endpoint, data: list[Any], session: str) -> float:
    """One event of the visit `session`, sent as the browser sends it; seconds until its result arrived.
    A queued event joins gradio's queue and waits on the event stream; an event outside the queue is one
    POST to `/gradio_api/run/predict` whose answer is the result."""
    start = time.perf_counter()
    body = {
        "data": data,
        "fn_index": endpoint.fn_index,
        "session_hash": session,
        "event_data": None,
        "trigger_id": None,
    }
    if not endpoint.queued:
        answer = client.post(f"{base}gradio_api/run/predict", json=body)
        if answer.status_code != 200:
            raise RuntimeError(f"event {endpoint.fn_index} failed: HTTP {answer.status_code} {answer.text[:300]}")
        answer.json()
        return time.perf_counter() - start
    joined = client.post(f"{base}gradio_api/queue/join", json=body)
    joined.raise_for_status()
    event_id = joined.json()["event_id"]
    with client.stream("GET", f"{base}gradio_api/queue/data", params={"session_hash": session}) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") == "process_completed" and message.get("event_id") == event_id:
                if not message.get("success", False):
                    raise RuntimeError(f"event {endpoint.fn_index} failed: {str(message.get('output'))[:300]}")
                return time.perf_counter() - start
    raise RuntimeError(f"event {endpoint.fn_index}: the stream closed before its result")


def measure(url: str, clients: int = 50, rounds: int = 3) -> dict[str, EventFigures]:
    """`clients` concurrent visitors, each loading the page and changing a filter `rounds` times."""
    base = url.rstrip("/") + "/"
    with httpx.Client(timeout=CALL_TIMEOUT_S) as probe:
        events = endpoints(probe, base)
    # An older checkout (`--repo`, for a before/after pair) has no layout State: its filters take the controls only.
    filters = events["on_filters"]
    plan = {"on_load": (events["on_load"], []), "on_filters": (filters, FILTER_INPUTS[-filters.inputs :])}
    if os.environ.get("LOAD_BENCH_FLOOR"):  # a trivial event: what gradio itself costs per call
        plan["page_query"] = (events["page_query"], ["", "leaderboard", None])
    latencies: dict[str, list[float]] = {name: [] for name in plan}
    errors = dict.fromkeys(plan, 0)
    lock = threading.Lock()
    start_line = threading.Barrier(clients)

    def visitor() -> None:
        with httpx.Client(timeout=CALL_TIMEOUT_S) as client:
            start_line.wait()
            for _ in range(rounds):
                session = uuid.uuid4().hex[:11]  # one visit: a page load, then a filter change
                for name, (endpoint, data) in plan.items():
                    try:
                        seconds = call(client, base, endpoint, data, session)
                    except Exception as exc:
                        with lock:
                            errors[name] += 1
                        print(f"{name}: {type(exc).__name__}: {exc}", file=sys.stderr)
                        continue
                    with lock:
                        latencies[name].append(seconds)

    threads = [threading.Thread(target=visitor) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {name: figures(name, latencies[name], errors[name]) for name in plan}


def populate(store_root: Path, entries: int) -> None:
    """`entries` SYNTHETIC finished requests, signed with the local store's own key so they are ranked."""
    from core.records import PredictionRow
    from core.signing import local_private_key, sign_result
    from core.store import LocalStore
    from tests.leaderboard.factories import make_request, make_result

    store = LocalStore(store_root)
    key = local_private_key(store_root)
    families = ("openai/whisper", "facebook/wav2vec2", "nvidia/parakeet", "usefulsensors/moonshine")
    for i in range(entries):
        model = f"{families[i % len(families)]}-bench-{i}"
        precision = ("float32", "float16", "bfloat16")[i % 3]
        store.submit(make_request(f"bench-{i}", model, precision=precision))
    for _ in range(entries):
        claimed = store.claim("bench", 600, 3)
        assert claimed is not None
        n = int(claimed.request_id.split("-")[1])
        result = make_result(
            claimed.request_id,
            claimed.model_id,
            wers={"ljspeech-sample": 0.02 + 0.3 * ((n * 37) % 100) / 100},
            rtf=10 ** (-2 + 2.5 * ((n * 53) % 100) / 100),
            precision=claimed.precision,
            version="local-v1",
            gpu_class="any",
        )
        rows = [
            PredictionRow(id=f"bench-{u}", reference="hello world", prediction="hello word", duration_s=2.0, time_s=0.1)
            for u in range(4)
        ]
        store.finish(claimed.request_id, "bench", sign_result(result, key), {"ljspeech-sample": rows})


@contextlib.contextmanager
def serve_app(
    store_root: Path, models_dir: Path, extra_env: dict[str, str] | None = None, repo: Path = REPO_ROOT
) -> Iterator[str]:
    """`python app.py` of checkout `repo` on a free loopback port over `store_root`, scheduler off; yields its
    URL. Raises `AppDidNotStart` (a RuntimeError) with the log's tail if it does not answer."""
    settings = {
        "LEADERBOARD_STORE": str(store_root),
        "LEADERBOARD_MODELS_DIR": str(models_dir),
        "LEADERBOARD_SCHEDULER": "off",
        **(extra_env or {}),
    }
    with running_app(settings, store_root.parent / "app.log", repo=repo, startup_timeout_s=STARTUP_TIMEOUT_S) as url:
        yield url


def report(results: dict[str, EventFigures], clients: int) -> str:
    lines = [f"{'event':<12} {'calls':>6} {'errors':>6} {'p50 s':>8} {'p95 s':>8} {'max s':>8}"]
    for f in results.values():
        lines.append(f"{f.event:<12} {f.calls:>6} {f.errors:>6} {f.p50_s:>8.3f} {f.p95_s:>8.3f} {f.max_s:>8.3f}")
    load, flt = results["on_load"], results["on_filters"]
    lines.append(
        f"load: clients={clients} calls={load.calls + flt.calls} errors={load.errors + flt.errors} "
        f"on_load_p50_s={load.p50_s:.3f} on_load_p95_s={load.p95_s:.3f} "
        f"filter_p50_s={flt.p50_s:.3f} filter_p95_s={flt.p95_s:.3f}"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--entries", type=int, default=40, help="synthetic results in the temporary store")
    parser.add_argument("--url", help="measure a running app instead of starting one")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="the checkout whose app.py to start")
    args = parser.parse_args(argv)
    if args.url:
        results = measure(args.url, args.clients, args.rounds)
    else:
        with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp:
            root = Path(tmp)
            populate(root / "store", args.entries)
            with serve_app(root / "store", root / "models", repo=args.repo) as url:
                measure(url, clients=2, rounds=1)  # warm-up: first imports and first renders
                results = measure(url, args.clients, args.rounds)
    print(report(results, args.clients))
    worst = max(f.p95_s for f in results.values())
    return 0 if worst < TARGET_P95_S and not any(f.errors for f in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
