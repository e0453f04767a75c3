"""`python app.py` whose background work pauses at a gate the test opens: `python -m testkit.gated_app`.

A tiny model's throughput run or audit ends within a second or two, sooner than a page refreshes, so a browser
could not be sure to see one running. Here the first progress report of each gated kind of work (named in
`TESTKIT_GATED_KINDS`, comma-separated, e.g. `throughput,audit`) writes `<kind>.reached` in `TESTKIT_GATE_DIR`
and waits until the test writes `<kind>.released` there (or a stop is asked for, so a signal still ends the
app). Everything else is the app's own code: the run holds the scheduler as long work does, and the pages show
what its `WorkTracker` says.
"""

from __future__ import annotations

import os
import runpy
import time
from pathlib import Path

from openasr_core.activity import WorkTracker

POLL_S = 0.05


def reached(gate_dir: Path, kind: str) -> Path:
    return gate_dir / f"{kind}.reached"


def released(gate_dir: Path, kind: str) -> Path:
    return gate_dir / f"{kind}.released"


def install_gate(gate_dir: Path, kinds: set[str]) -> None:
    """Make `WorkTracker.report` hold the first report of each kind in `kinds` until the test releases it."""
    report = WorkTracker.report

    def gated_report(self: WorkTracker, stage: str, fraction: float, eta_s: float | None) -> None:
        report(self, stage, fraction, eta_s)
        work = self.current()
        if work is None or work.kind not in kinds:
            return
        reached(gate_dir, work.kind).touch()
        while not released(gate_dir, work.kind).exists() and not self.stop_requested():
            time.sleep(POLL_S)

    WorkTracker.report = gated_report  # type: ignore[method-assign]


def main() -> None:
    gate_dir = Path(os.environ["TESTKIT_GATE_DIR"])
    install_gate(gate_dir, {kind for kind in os.environ.get("TESTKIT_GATED_KINDS", "").split(",") if kind})
    runpy.run_path("app.py", run_name="__main__")  # as `python app.py` in the working folder would


if __name__ == "__main__":
    main()
