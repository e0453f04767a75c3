"""Fifty visitors at once: latency of the page itself, its load event and filter changes on a real `python app.py`.

    python bench/load.py [--clients 50] [--rounds 3] [--entries 1000] [--store DIR] [--same-filter] [--url URL]

Without `--url` it starts `python app.py` on a free port, on a temporary local store holding `--entries`
SYNTHETIC signed results (made up here, never written anywhere else, ids say `bench-`), with the scheduler
off. Then `--clients` threads each run `--rounds` times: a visit (one gradio session): the page's HTML
(`GET /`, what a browser fetches first), the page-load event (`on_load`, what every visit runs) and one filter
change (`on_filters`), sent as the browser sends them: an event that skips gradio's queue (the page's reads,
`leaderboard.pages.serving.READ_ONLY`) is one POST to `/gradio_api/run/predict`; a queued one joins
`/gradio_api/queue/join` and waits on the `/gradio_api/queue/data` event stream. Each visit's filters differ
(`varied_filters`: search terms, precisions, families, parameter ranges, toggles, sorts and columns, drawn from a
seeded generator, so most are new to the app's caches); `--same-filter` sends one fixed filter instead (the old
bench). Each latency runs from the first request to the result. Prints p50/p95 per event; the last line is
`load: clients=<n> calls=<n> errors=<n> page_p95_s=<x> on_load_p50_s=<x> on_load_p95_s=<x> filter_p50_s=<x>
filter_p95_s=<x> p95_s=<x>` (one line; `p95_s` is the worst event's).

`measure(url, clients, rounds)`, `populated_store(...)` and `serve_app(...)` are importable (the reliability
bench runs them). A populated store is kept between runs (`STORE_CACHE`) while this checkout reads it whole.
Target (issue 26): p95 under 1 s for 50 clients on loopback at 1,000 results, varied filters and the page fetch.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import shutil
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

from leaderboard.table import optional_columns
from testkit.app_process import running_app

REPO_ROOT = Path(__file__).resolve().parent.parent

TARGET_P95_S = 1.0
STARTUP_TIMEOUT_S = 90
CALL_TIMEOUT_S = 120
ALL_COLUMNS = [c.id for c in optional_columns(["ljspeech-sample"])]  # every column the board can show
#: One filter change as the page sends it: the table's layout (a `gr.State`, which the browser sends as null),
#: then the controls in `BoardPage.controls()` order: search, licenses, precisions, families, params min/max, real-time only,
#: official only, sort, columns, show flagged.
FILTER_INPUTS: list[Any] = [
    None,
    "whisper",
    [],
    ["float32"],
    [],
    None,
    None,
    False,
    True,
    "rtf",
    ALL_COLUMNS,
    False,
    False,
]
SEARCHES = ("", "", "whisper", "wav2vec2", "parakeet", "moonshine", "bench-1", "bench-42", "openai/", "nvidia")
FAMILIES = ("whisper", "wav2vec2", "parakeet", "moonshine")
SORTS = ("avg_wer", "rtf", "latency_p90", "params", "newest", "model", "wer.ljspeech-sample")
PRECISION_CHOICES = ((), ("float32",), ("float16",), ("bfloat16",), ("float16", "bfloat16"))


def varied_filters(rng: random.Random) -> list[Any]:
    """One filter change as a visitor might make it: `FILTER_INPUTS`' shape, every control drawn from `rng`."""
    low = rng.choice((None, None, 0, 50, 100, 300))
    high = rng.choice((None, None, 500, 1000, 2000))
    columns = rng.sample(ALL_COLUMNS, rng.randint(1, len(ALL_COLUMNS)))
    return [
        None,  # the layout State: the browser sends null
        rng.choice(SEARCHES),
        [],
        list(rng.choice(PRECISION_CHOICES)),
        rng.sample(FAMILIES, rng.choice((0, 0, 1, 2))),
        low,
        high,
        rng.random() < 0.3,  # real time only
        rng.random() < 0.8,  # official only
        rng.choice(SORTS),
        columns,
        rng.random() < 0.2,  # show flagged
        rng.random() < 0.1,  # has claims
    ]


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


def fetch_page(client: httpx.Client, base: str) -> float:
    """The page's HTML, as a browser's first request; seconds until the whole answer arrived."""
    start = time.perf_counter()
    answer = client.get(base)
    if answer.status_code != 200:
        raise RuntimeError(f"GET / failed: HTTP {answer.status_code} {answer.text[:300]}")
    return time.perf_counter() - start


def measure(
    url: str, clients: int = 50, rounds: int = 3, *, varied: bool = True, seed: int = 26
) -> dict[str, EventFigures]:
    """`clients` concurrent visitors, each fetching the page, loading it and changing a filter `rounds` times;
    `varied`: each visit's filters drawn by `varied_filters` (seeded per client), else the one `FILTER_INPUTS`."""
    base = url.rstrip("/") + "/"
    with httpx.Client(timeout=CALL_TIMEOUT_S) as probe:
        events = endpoints(probe, base)
    filters = events["on_filters"]
    plan: dict[str, Endpoint | None] = {"page": None, "on_load": events["on_load"], "on_filters": filters}
    if os.environ.get("LOAD_BENCH_FLOOR"):  # a trivial event: what gradio itself costs per call
        plan["page_query"] = events["page_query"]
    latencies: dict[str, list[float]] = {name: [] for name in plan}
    errors = dict.fromkeys(plan, 0)
    lock = threading.Lock()
    start_line = threading.Barrier(clients)

    def inputs(name: str, rng: random.Random) -> list[Any]:
        if name == "on_filters":  # an older checkout (`--repo`) has no layout State: it takes the controls only
            return (varied_filters(rng) if varied else FILTER_INPUTS)[-filters.inputs :]
        return ["", "leaderboard", None] if name == "page_query" else []

    def visitor(number: int) -> None:
        rng = random.Random(seed * 1_000_003 + number)
        with httpx.Client(timeout=CALL_TIMEOUT_S) as client:
            start_line.wait()
            for _ in range(rounds):
                session = uuid.uuid4().hex[:11]  # one visit: the page, its load event, then a filter change
                for name, endpoint in plan.items():
                    try:
                        if endpoint is None:
                            seconds = fetch_page(client, base)
                        else:
                            seconds = call(client, base, endpoint, inputs(name, rng), session)
                    except Exception as exc:
                        with lock:
                            errors[name] += 1
                        print(f"{name}: {type(exc).__name__}: {exc}", file=sys.stderr)
                        continue
                    with lock:
                        latencies[name].append(seconds)

    threads = [threading.Thread(target=visitor, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {name: figures(name, latencies[name], errors[name]) for name in plan}


def populate(store_root: Path, entries: int) -> None:
    """`entries` SYNTHETIC finished requests, signed with the local store's own key so they are ranked."""
    from openasr_core.board_files import BoardFiles
    from openasr_core.records import PredictionRow
    from openasr_core.signing import local_private_key, sign_result
    from openasr_core.store import LocalStore
    from testkit.factories import make_request, make_result

    store = LocalStore(store_root, render=BoardFiles())
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


#: Where populated stores are kept between runs (a 1,000-entry store takes minutes to write through the store's
#: transactions, each one fsynced); `LOAD_BENCH_CACHE` moves it.
STORE_CACHE = Path(os.environ.get("LOAD_BENCH_CACHE") or Path(tempfile.gettempdir()) / "asr-load-bench-stores")


def populated_store(target: Path, entries: int, cache: Path = STORE_CACHE) -> None:
    """A store of `entries` SYNTHETIC results (`populate`) at `target`: copied from the cache when the store
    code of this checkout reads it whole (every entry finished), else written again and kept in the cache."""
    kept = cache / f"store-{entries}"
    if kept.is_dir():
        shutil.copytree(kept, target)
        if _reads_whole(target, entries):
            return
        shutil.rmtree(target)
    building = cache / f"building-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    populate(building / "store", entries)
    shutil.rmtree(kept, ignore_errors=True)
    try:
        (building / "store").rename(kept)
    except OSError:  # another run stored one meanwhile
        shutil.copytree(building / "store", target)
    else:
        shutil.copytree(kept, target)
    shutil.rmtree(building, ignore_errors=True)


def _reads_whole(root: Path, entries: int) -> bool:
    """Whether this checkout's store code reads `entries` finished results in the store at `root` (a cached store
    written by older code is written again rather than measured half-read)."""
    from openasr_core.store import LocalStore

    try:
        return len(LocalStore(root).snapshot().finished_results()) == entries
    except Exception:
        return False


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
    page, load, flt = results["page"], results["on_load"], results["on_filters"]
    lines.append(
        f"load: clients={clients} calls={sum(f.calls for f in results.values())} "
        f"errors={sum(f.errors for f in results.values())} page_p95_s={page.p95_s:.3f} "
        f"on_load_p50_s={load.p50_s:.3f} on_load_p95_s={load.p95_s:.3f} "
        f"filter_p50_s={flt.p50_s:.3f} filter_p95_s={flt.p95_s:.3f} p95_s={max(f.p95_s for f in results.values()):.3f}"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--entries", type=int, default=1000, help="synthetic results in the temporary store")
    parser.add_argument("--same-filter", action="store_true", help="one fixed filter change (the old bench)")
    parser.add_argument("--url", help="measure a running app instead of starting one")
    parser.add_argument("--store", type=Path, help="a store made by an earlier run to copy (else --entries are made)")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="the checkout whose app.py to start")
    args = parser.parse_args(argv)
    if args.url:
        results = measure(args.url, args.clients, args.rounds, varied=not args.same_filter)
    else:
        with tempfile.TemporaryDirectory(prefix="load-bench-") as tmp:
            root = Path(tmp)
            if args.store:
                shutil.copytree(args.store, root / "store")
            else:
                populated_store(root / "store", args.entries)
            with serve_app(root / "store", root / "models", repo=args.repo) as url:
                measure(url, clients=2, rounds=1, seed=0)  # warm-up: first imports and first renders
                results = measure(url, args.clients, args.rounds, varied=not args.same_filter)
    print(report(results, args.clients))
    worst = max(f.p95_s for f in results.values())
    return 0 if worst < TARGET_P95_S and not any(f.errors for f in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
