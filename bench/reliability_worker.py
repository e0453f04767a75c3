"""One worker process of `bench/reliability.py`: the real LocalStore protocol with a FAKE evaluation step.

    python bench/reliability_worker.py STORE_ROOT NAME [--kill-at OP:PATH] [--lease-s S] [--eval-s S]

It claims the oldest pending request, "evaluates" it by sleeping `--eval-s` seconds while renewing its lease,
then finishes it with a SYNTHETIC unsigned result (testkit.factories.make_result: the model is not the point here,
the store's exactly-once and logging rules are). It repeats until nothing is pending or running.

`--kill-at OP:PATH` SIGKILLs the process (no cleanup, like `kill -9`) just before it writes the first file whose
path under the store contains PATH during operation OP (`claim`, `heartbeat` or `finish`); `OP:+PATH` kills it
just after that write. The bench reads the outcome from the store, not from this process.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from pathlib import Path

from openasr_core.board_files import BoardFiles
from openasr_core.dataset_card import CardInfo
from openasr_core.records import PredictionRow, Request, Status
from openasr_core.store import LeaseLost, LocalStore, Store
from openasr_core.store import repo as local_store
from testkit.factories import make_result

REPO_ROOT = Path(__file__).resolve().parent.parent

VERSION = "reliability-v1"
EVAL_SET = "set"
ROWS = [PredictionRow(id="u1", reference="hello world", prediction="hello word", duration_s=2.0, time_s=0.2)]
MAX_ATTEMPTS = 50
_op = {"name": ""}


def open_store(root: Path) -> LocalStore:
    return LocalStore(root, render=BoardFiles(CardInfo(leaderboard_version=VERSION, eval_sets=(EVAL_SET,))))


def install_kill(root: Path, point: str) -> None:
    """Make the store's file writes SIGKILL this process at `point` (see the module doc)."""
    op, _, target = point.partition(":")
    after = target.startswith("+")
    target = target.lstrip("+")
    real = local_store.atomic_write

    def write(path: Path, data: str | bytes) -> None:
        hit = _op["name"] == op and target in path.relative_to(root).as_posix()
        if hit and not after:
            os.kill(os.getpid(), signal.SIGKILL)
        real(path, data)
        if hit:
            os.kill(os.getpid(), signal.SIGKILL)

    local_store.atomic_write = write  # type: ignore[assignment]


def evaluate(store: Store, request: Request, name: str, lease_s: float, eval_s: float, op: dict[str, str]) -> bool:
    """Sleep `eval_s` while renewing the lease every tenth of the lease; False when the lease was lost."""
    ends = time.monotonic() + eval_s
    while time.monotonic() < ends:
        time.sleep(min(lease_s / 10, max(0.0, ends - time.monotonic())))
        op["name"] = "heartbeat"
        try:
            store.heartbeat(request.request_id, name, lease_s)
        except LeaseLost:
            return False
    return True


def work(store: Store, name: str, lease_s: float, eval_s: float, op: dict[str, str] = _op) -> None:
    """Claim, evaluate (fake), finish, until nothing is pending or running; `op` names the operation under way
    (what a kill point matches). Any store: the Hub part of the bench runs this in threads."""
    while True:
        op["name"] = "claim"
        request = store.claim(name, lease_s, MAX_ATTEMPTS)
        if request is None:
            if not any(r.status in (Status.PENDING, Status.RUNNING) for r in store.snapshot().requests.values()):
                return
            time.sleep(lease_s / 5)  # someone else's lease may still run out
            continue
        if not evaluate(store, request, name, lease_s, eval_s, op):
            continue  # lost its lease: someone else has the request now
        result = make_result(
            request.request_id, request.model_id, wers={EVAL_SET: 0.1}, version=VERSION, signature=None
        )
        op["name"] = "finish"
        try:
            store.finish(request.request_id, name, result, {EVAL_SET: ROWS})
        except LeaseLost:
            continue  # lost its lease: someone else has the request now


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("root", type=Path)
    parser.add_argument("name")
    parser.add_argument("--kill-at", default=None)
    parser.add_argument("--lease-s", type=float, default=3.0)
    parser.add_argument("--eval-s", type=float, default=0.5)
    args = parser.parse_args()
    if args.kill_at:
        install_kill(args.root.resolve(), args.kill_at)
    work(open_store(args.root.resolve()), args.name, args.lease_s, args.eval_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
