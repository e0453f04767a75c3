"""The throughput track's board (R14) as pure functions: its rows, its own ranking, its plot points, and the
batch-one / throughput pair the detail page shows side by side.

Nothing here reads the store or touches the batch-one board: the input is `ThroughputResult` records, a type
the batch-one table cannot take, so a throughput figure can never reach the main ranking or its
`meets_realtime`. The UI tab only has to call these and format the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import pandas as pd
import plotly.graph_objects as go

from leaderboard.scatter import empty_figure
from leaderboard.table import COST_LABEL, TIE_DECIMALS
from openasr_core.cost import cost_of_batch_one, cost_of_throughput
from openasr_core.records import Request, Result, Status, ThroughputResult
from openasr_core.untrusted import html_text, md_text


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
    #: Why the record stayed at batch size one: a family whose documented path cannot batch (R14).
    batching: str | None = None
    #: The entry's latest audit failed (R13): flagged here as on the Leaderboard, never shown as official.
    flagged: bool = False

    @property
    def rankable(self) -> bool:
        """Official, not refused by the verifier, not flagged by a failed audit, and with a finite average WER
        (the batch-one board's rule)."""
        return self.official and self.verified is not False and not self.flagged and math.isfinite(self.avg_wer)


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
        batching=result.batching,
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
    flagged: Collection[str] = (),
) -> list[ThroughputRow]:
    """The tab's rows: records of this version whose request is FINISHED, ranked by average WER (ties 1, 1, 3;
    faster RTFx first within a tie), unranked records after them. `flagged`: entries whose latest audit failed
    (R13), shown flagged and not ranked, as on the Leaderboard."""
    rows = [
        replace(throughput_row(r, verified), flagged=r.request_id in flagged)
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


def both_tracks(
    result: Result,
    throughput: ThroughputResult | None,
    verified: Callable[[ThroughputResult], bool] | None = None,
) -> TrackPair:
    """The two tracks of one entry side by side; `meets_realtime` is the batch-one verdict, always."""
    if throughput is not None and throughput.request_id != result.request_id:
        raise ValueError(f"throughput record {throughput.request_id} is not of entry {result.request_id}")
    return TrackPair(
        batch_one_rtfx=result.aggregate.rtfx,
        batch_one_avg_wer=result.aggregate.avg_wer,
        batch_one_usd_per_1000_audio_hours=cost_of_batch_one(result),
        meets_realtime=result.aggregate.meets_realtime,
        throughput=throughput_row(throughput, verified) if throughput is not None else None,
    )


# --- display: the tab's table and plot, the detail page's side-by-side section ------------------------------

THROUGHPUT_COLUMNS = (
    "Rank",
    "Model",
    "Precision",
    "Batch size",
    "Avg WER (%)",
    "Batch-one WER (%)",
    "WER change (points)",
    "RTFx",
    COST_LABEL,
    "Status",
)
NO_THROUGHPUT = (
    "No throughput results yet. Tick **Also measure offline throughput** on the Submit tab, or run "
    "`python -m evaluator evaluate --track throughput`."
)


def _money(value: float | None) -> str:
    return "" if value is None else ("∞" if not math.isfinite(value) else f"{value:,.4g}")


def _status(row: ThroughputRow) -> str:
    if row.verified is False:
        return "unverified signature"
    if row.flagged:
        return "🚩 flagged (failed audit), not ranked"
    return "official" if row.official else "unofficial (not ranked)"


def throughput_frame(rows: Sequence[ThroughputRow]) -> pd.DataFrame:
    """The tab's table: one row per record, numbers in display units. Model ids are plain text cells."""
    return pd.DataFrame(
        [
            [
                "" if r.rank is None else r.rank,
                r.model_id,
                r.precision,
                r.chosen_batch_size,
                round(100 * r.avg_wer, 2),
                round(100 * r.batch_one_avg_wer, 2),
                round(100 * r.wer_change, 2),
                float(f"{r.rtfx:.3g}") if math.isfinite(r.rtfx) else math.nan,
                _money(r.usd_per_1000_audio_hours),
                _status(r),
            ]
            for r in rows
        ],
        columns=list(THROUGHPUT_COLUMNS),
    )


def throughput_figure(rows: Sequence[ThroughputRow]) -> go.Figure:
    """Average WER (%) against RTFx (log scale; higher is faster) for the ranked rows; a note when none."""
    points = plot_points(rows)
    if not points:
        return empty_figure("No ranked throughput result to plot yet.")
    figure = go.Figure(
        go.Scatter(
            x=[p[1] for p in points],
            y=[p[2] for p in points],
            mode="markers",
            marker={"size": 11, "color": "#4f46e5"},
            hovertext=[f"<b>{html_text(m)}</b><br>RTFx {x:.3g} · avg WER {y:.2f}%" for m, x, y in points],
            hoverinfo="text",
            showlegend=False,
        )
    )
    figure.update_layout(
        template="plotly_white",
        height=520,
        margin={"l": 60, "r": 20, "t": 30, "b": 60},
        xaxis={"title": "RTFx at the chosen batch size (higher is faster; log scale)", "type": "log"},
        yaxis={"title": "Average WER (%)", "rangemode": "tozero"},
        hoverlabel={"bgcolor": "white"},
    )
    return figure


def _no_throughput(asked: bool, in_progress: str | None, state: str | None = None) -> str:
    if in_progress:
        return f"⏳ **Throughput run in progress**: {in_progress}."
    if asked and state:
        return f"**Throughput run** asked for with this submission, no record yet: {md_text(state)}."
    if asked:
        return (
            "A throughput measurement was asked for with this submission and has no record yet: it runs right "
            "after the batch-one evaluation (see the Queue tab), or it stopped (see the Log tab)."
        )
    return "No throughput measurement for this entry (ask for one with the Submit form's tick box)."


def _batch_size(row: ThroughputRow) -> str:
    if row.batching:
        return f"{row.chosen_batch_size} ({html_text(row.batching)})"
    return f"{row.chosen_batch_size} (largest used {row.max_batch_size_used})"


def tracks_markdown(
    pair: TrackPair, asked: bool = False, in_progress: str | None = None, state: str | None = None
) -> str:
    """The detail page's section: batch one and, when measured, throughput side by side (numbers only).
    Without a throughput record: `in_progress` (the run's stage and progress, while this Space runs it), else
    where the run asked for stands (`state`, from the log: owed, failed and retried when, dropped and why), else
    whether the submission asked for one (`asked`): never the advice to tick a box that was ticked."""
    cost_note = "price per machine hour recorded with each result × RTF (batch one) or ÷ RTFx (throughput)"
    t = pair.throughput
    rows = [
        ("Batch size", "1", _batch_size(t) if t else "—"),
        ("Avg WER", f"{100 * pair.batch_one_avg_wer:.2f}%", f"{100 * t.avg_wer:.2f}%" if t else "—"),
        ("RTFx", f"{pair.batch_one_rtfx:.3g}", f"{t.rtfx:.3g}" if t else "—"),
        (
            COST_LABEL,
            _money(pair.batch_one_usd_per_1000_audio_hours) or "no price recorded",
            (_money(t.usd_per_1000_audio_hours) or "no price recorded") if t else "—",
        ),
        ("Meets real time", "yes" if pair.meets_realtime else "no", "— (batch one only)"),
    ]
    lines = ["### Both tracks", "", "| | Batch one (ranked) | Throughput (offline) |", "|---|---|---|"]
    lines += [f"| {name} | {one} | {batched} |" for name, one, batched in rows]
    if t is None:
        lines += ["", _no_throughput(asked, in_progress, state)]
    else:
        lines += ["", f"WER change from batch one: {100 * t.wer_change:+.2f} points (padding can change outputs)."]
        if t.verified is False:
            lines += [
                "",
                "**The throughput record's signature does not verify**: it is not ranked on the Throughput tab.",
            ]
    return "\n".join([*lines, "", f"Cost: {cost_note}."])
