"""The throughput track's board (R14) as pure functions: its rows, its own ranking, its plot points, and the
batch-one / throughput pair the detail page shows side by side.

Nothing here reads the store or touches the batch-one board: the input is `ThroughputResult` records, a type
the batch-one table cannot take, so a throughput figure can never reach the main ranking or its
`meets_realtime`. The UI tab only has to call these and format the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from core.cost import cost_of_batch_one, cost_of_throughput
from core.records import Request, Result, Status, ThroughputResult
from leaderboard.table import TIE_DECIMALS


@dataclass(frozen=True)
class ThroughputRow:
    """One throughput record as the tab shows it; `rank` is None for a record that is not ranked."""

    request_id: str
    model_id: str
    revision: str
    precision: str
    chosen_batch_size: int
    max_batch_size_used: int
    avg_wer: float
    batch_one_avg_wer: float
    wer_change: float
    rtfx: float
    usd_per_1000_audio_hours: float | None
    official: bool
    verified: bool | None
    finished_at: str
    rank: int | None = None

    @property
    def rankable(self) -> bool:
        """Official, not refused by the verifier, and with a finite average WER (the batch-one board's rule)."""
        return self.official and self.verified is not False and math.isfinite(self.avg_wer)


def throughput_row(
    result: ThroughputResult, verified: Callable[[ThroughputResult], bool] | None = None
) -> ThroughputRow:
    """The unranked row; the cost comes from the price the record itself recorded (R14)."""
    return ThroughputRow(
        request_id=result.request_id,
        model_id=result.model_id,
        revision=result.revision,
        precision=result.precision,
        chosen_batch_size=result.chosen_batch_size,
        max_batch_size_used=result.batch_evidence.max_batch_size,
        avg_wer=result.aggregate.avg_wer,
        batch_one_avg_wer=result.aggregate.batch_one_avg_wer,
        wer_change=result.aggregate.wer_change,
        rtfx=result.aggregate.rtfx,
        usd_per_1000_audio_hours=cost_of_throughput(result),
        official=result.official,
        verified=None if verified is None else bool(verified(result)),
        finished_at=result.finished_at,
    )


def _order_key(row: ThroughputRow) -> tuple[float, float, str, str]:
    rtfx = row.rtfx if math.isfinite(row.rtfx) else 0.0
    return (round(row.avg_wer, TIE_DECIMALS), -rtfx, row.finished_at, row.request_id)


def throughput_board(
    records: Iterable[ThroughputResult],
    requests: Mapping[str, Request],
    *,
    leaderboard_version: str,
    verified: Callable[[ThroughputResult], bool] | None = None,
) -> list[ThroughputRow]:
    """The tab's rows: records of this version whose request is FINISHED, ranked by average WER (ties 1, 1, 3;
    faster RTFx first within a tie), unranked records after them."""
    rows = [
        throughput_row(r, verified)
        for r in records
        if r.leaderboard_version == leaderboard_version
        and (request := requests.get(r.request_id)) is not None
        and request.status is Status.FINISHED
    ]
    ranked = sorted((r for r in rows if r.rankable), key=_order_key)
    out: list[ThroughputRow] = []
    for index, row in enumerate(ranked):
        tied = out and round(out[-1].avg_wer, TIE_DECIMALS) == round(row.avg_wer, TIE_DECIMALS)
        out.append(replace(row, rank=out[-1].rank if tied else index + 1))
    return out + sorted((r for r in rows if not r.rankable), key=_order_key)


def plot_points(rows: Iterable[ThroughputRow]) -> list[tuple[str, float, float]]:
    """(model id, RTFx, WER %) for the tab's WER-against-RTFx plot, ranked rows with a finite RTFx only."""
    return [(r.model_id, r.rtfx, 100 * r.avg_wer) for r in rows if r.rank is not None and math.isfinite(r.rtfx)]


@dataclass(frozen=True)
class TrackPair:
    """What the detail page shows for one entry: its batch-one figures and, when measured, its throughput ones."""

    batch_one_rtfx: float
    batch_one_avg_wer: float
    batch_one_usd_per_1000_audio_hours: float | None
    meets_realtime: bool
    throughput: ThroughputRow | None


def both_tracks(result: Result, throughput: ThroughputResult | None) -> TrackPair:
    """The two tracks of one entry side by side; `meets_realtime` is the batch-one verdict, always."""
    if throughput is not None and throughput.request_id != result.request_id:
        raise ValueError(f"throughput record {throughput.request_id} is not of entry {result.request_id}")
    return TrackPair(
        batch_one_rtfx=result.aggregate.rtfx,
        batch_one_avg_wer=result.aggregate.avg_wer,
        batch_one_usd_per_1000_audio_hours=cost_of_batch_one(result),
        meets_realtime=result.aggregate.meets_realtime,
        throughput=throughput_row(throughput) if throughput is not None else None,
    )
