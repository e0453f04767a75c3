"""What `bench/reliability.py` counts after each scenario, the same for the local store and the Hub emulator.

lost:       a submitted request that did not end FINISHED with its result on the board (records shard) and its
            row in the table (`leaderboard/<xx>.csv`)
duplicated: a request finished more than once (two `finished` log events, or two table rows)
log_gaps:   a request whose state disagrees with its log history (`openasr_core.history.disagreements`), plus a broken
            hash chain, plus any damaged file the store reports after the scenario ended
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from openasr_core.history import disagreements
from openasr_core.records import Status
from openasr_core.store import Snapshot


@dataclass
class Tally:
    """One scenario's figures (a row of the printed table)."""

    scenario: str
    store: str
    faults: int = 0
    survived: int = 0
    workers: int = 0
    requests: int = 0
    bad_inputs: int = 0
    refused: int = 0
    lost: int = 0
    duplicated: int = 0
    log_gaps: int = 0
    forgeries: int = 0  # forged or damaged stores put to `verify` (pinned key)
    caught: int = 0  # those it refused
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return self.lost == self.duplicated == self.log_gaps == 0


def count(tally: Tally, snapshot: Snapshot, table_csv: str | None, submitted: Iterable[str]) -> None:
    """Fill lost / duplicated / log_gaps of `tally` from the store's state after a scenario."""
    rows = Counter(row["request_id"] for row in csv.DictReader(io.StringIO(table_csv or "")))
    finished_events = Counter(e.request_id for e in snapshot.log if e.event == "finished")
    for request_id in submitted:
        request = snapshot.requests.get(request_id)
        complete = (
            request is not None
            and request.status is Status.FINISHED
            and request_id in snapshot.results
            and rows[request_id] >= 1
        )
        if not complete:
            tally.lost += 1
            tally.notes.append(f"lost {request_id}: {request.status if request else 'missing'}")
        if finished_events[request_id] > 1 or rows[request_id] > 1:
            tally.duplicated += 1
            tally.notes.append(f"duplicated {request_id}")
    gaps = disagreements(snapshot.requests, snapshot.log)
    chain = snapshot.verify_log()
    tally.log_gaps += len(gaps) + (0 if chain.ok else 1) + len(snapshot.damaged)
    tally.notes += gaps[:3] + ([] if chain.ok else [f"chain: {chain.reason}"]) + list(snapshot.damaged)[:3]
