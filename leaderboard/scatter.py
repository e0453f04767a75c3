"""The WER-vs-speed plot: one point per entry, RTF on a log axis, the Pareto front drawn as a staircase.

`pareto_front` is pure and tested; `scatter_spec` only arranges plotly traces, as plain data: `scatter_figure`
makes a validated plotly figure of it, `scatter_json` the same figure's JSON without plotly's validation
(what the board sends on every filter change).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from leaderboard.table import format_params
from openasr_core.untrusted import html_text

FRONT_COLOR = "#e4572e"
_PALETTE = ("#4f46e5", "#0e9f6e", "#d97706", "#0891b2", "#db2777", "#7c3aed", "#65a30d", "#475569")


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both axes (lower x and lower y are better), by x.

    A point is dominated when another is at least as good on both axes and strictly better on one; identical
    points do not dominate each other, so both stay on the front. Points with a non-finite coordinate are
    never on the front.
    """
    finite = [i for i, (x, y) in enumerate(points) if math.isfinite(x) and math.isfinite(y)]
    finite.sort(key=lambda i: (points[i][0], points[i][1]))
    front: list[int] = []
    best_y = math.inf
    for i in finite:
        x, y = points[i]
        if y < best_y:
            front.append(i)
            best_y = y
        elif front and y == best_y and points[front[-1]] == (x, y):
            front.append(i)
    return front


def _hover(row: Mapping[str, Any]) -> str:
    """The hover label; plotly renders `<b>`, `<br>` and `<a href>` in it, so record text is escaped."""
    return _hover_text(*(row[c] for c in _HOVER_COLUMNS))


_HOVER_COLUMNS = ["model_id", "precision", "params_n", "rank", "avg_wer", "rtf", "rtfx"]


@functools.lru_cache(maxsize=16_384)
def _hover_text(
    model_id: str, precision: str, params_n: float, rank: float, avg_wer: float, rtf: float, rtfx: float
) -> str:
    """`_hover` of one entry's values, remembered: every new filter of the board plots mostly the same entries
    again, and escaping their text was half the cost of a plot of 1,000 entries."""
    params = format_params(int(params_n)) if math.isfinite(params_n) else "?"
    ranked = f"#{int(rank)}" if pd.notna(rank) else "unranked"
    return (
        f"<b>{html_text(model_id)}</b><br>{html_text(precision)} · {params} params · {ranked}<br>"
        f"avg WER {avg_wer * 100:.2f}% · RTF {rtf:.3g} · RTFx {rtfx:.3g}"
    )


def _hovers(rows: pd.DataFrame) -> list[str]:
    """`_hover` of each row, read column by column (pandas' `iterrows` builds a Series per row: 10x slower)."""
    return [_hover_text(*values) for values in zip(*(rows[c].tolist() for c in _HOVER_COLUMNS), strict=True)]


def empty_figure(message: str) -> go.Figure:
    """A blank plot that says why it is blank, instead of empty axes."""
    figure = go.Figure()
    figure.add_annotation(
        text=message, showarrow=False, font={"size": 16, "color": "#6b7280"}, x=0.5, y=0.5, xref="paper", yref="paper"
    )
    figure.update_layout(
        xaxis={"visible": False}, yaxis={"visible": False}, template="plotly_white", height=520, margin={"t": 30}
    )
    return figure


NO_RESULTS = "No results to plot yet — submit a model on the Submit tab."
ALL_FILTERED = "No entry matches the Leaderboard tab's filters — clear some of them to see points here."
NONE_VERIFIED = "No entry of this view has a verified signature, so there is nothing to plot."


def plottable(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows a plot may show: a finite WER, a positive finite RTF (a log axis), and never an entry whose
    signature failed to verify (`verified` False): an altered result must not lead the plot or its front."""
    keep = (rows["rtf"] > 0) & rows["rtf"].map(math.isfinite) & rows["avg_wer"].map(math.isfinite)
    if "verified" in rows:
        keep &= rows["verified"].map(lambda v: v is not False)
    return rows[keep]


def empty_reason(rows: pd.DataFrame, board_entries: int | None) -> str:
    """Why nothing is plotted: no results at all, the filters hid every entry, or none verifies."""
    if board_entries == 0 or (board_entries is None and rows.empty):
        return NO_RESULTS
    if not rows.empty and "verified" in rows and not rows["verified"].map(lambda v: v is not False).any():
        return NONE_VERIFIED
    return ALL_FILTERED


def scatter_figure(rows: pd.DataFrame, *, max_rtf: float = 1.0, board_entries: int | None = None) -> go.Figure:
    """Average WER (%) against RTF (log scale) for the leaderboard's raw rows, coloured by model family.

    `rows` is `BoardView.raw`: fractions, one row per entry; `board_entries` is how many entries the whole
    board has (to tell "no results yet" from "the filters hide them"). Entries with a non-positive or
    non-finite RTF cannot sit on a log axis and are left out, as are unverified ones (`plottable`).
    """
    shown = plottable(rows)
    if shown.empty:
        return empty_figure(empty_reason(rows, board_entries))
    return go.Figure(scatter_spec(shown, max_rtf))


def scatter_json(rows: pd.DataFrame, *, max_rtf: float = 1.0, board_entries: int | None = None) -> str:
    """`scatter_figure(...).to_json()`, the same JSON, without building the figure: plotly validates every
    property of a `go.Figure` as it is set, which cost about 60 ms for 1,000 points on every new filter of the
    board. The spec here is plain data (lists, strings, numbers) and its template is serialized once."""
    shown = plottable(rows)
    if shown.empty:
        return _empty_json(empty_reason(rows, board_entries))
    spec = scatter_spec(shown, max_rtf)
    layout = {**spec["layout"], "template": _template_json(spec["layout"]["template"])}
    return pio.to_json({"data": spec["data"], "layout": layout}, validate=False)


@functools.cache
def _empty_json(message: str) -> str:
    """`empty_figure(message)`'s JSON, made once per message (a validated figure costs some 60 ms each time)."""
    return empty_figure(message).to_json()


@functools.cache
def _template_json(name: str) -> dict[str, Any]:
    """A named plotly template as `to_json` writes it into a figure's layout."""
    template: dict[str, Any] = pio.templates[name].to_plotly_json()
    return template


def _family_trace(n: int, family: str, group: pd.DataFrame) -> dict[str, Any]:
    color = _PALETTE[n % len(_PALETTE)]
    return {
        "type": "scatter",
        "x": group["rtf"].tolist(),
        "y": (group["avg_wer"] * 100).tolist(),
        "mode": "markers",
        "name": html_text(family),  # from the model's config.json: plotly renders tags in names
        "marker": {
            "size": 11,
            "color": color,
            "symbol": ["circle" if o else "circle-open" for o in group["official"]],
            "line": {"width": 1.5, "color": color},
        },
        "hovertext": _hovers(group),
        "hoverinfo": "text",
    }


def scatter_spec(rows: pd.DataFrame, max_rtf: float) -> dict[str, Any]:
    """The plot of `rows` (already `plottable`, not empty) as plotly's plain figure data: one trace per family,
    the Pareto front, the real-time line; the layout names its template (`"plotly_white"`)."""
    data = [_family_trace(n, str(family), group) for n, (family, group) in enumerate(rows.groupby("family", sort=True))]
    points = list(zip(rows["rtf"].tolist(), (rows["avg_wer"] * 100).tolist(), strict=True))
    front = rows.iloc[pareto_front(points)]
    data.append(
        {
            "type": "scatter",
            "x": front["rtf"].tolist(),
            "y": (front["avg_wer"] * 100).tolist(),
            "mode": "lines+markers",
            "line": {"shape": "hv", "color": FRONT_COLOR, "width": 2, "dash": "dot"},
            "marker": {"size": 16, "color": "rgba(0,0,0,0)", "line": {"width": 2, "color": FRONT_COLOR}},
            "name": "Pareto front",
            "hovertext": _hovers(front),
            "hoverinfo": "text",
        }
    )
    # The real-time line as a trace (data coordinates on the log axis), labelled at its top.
    top = max(float((rows["avg_wer"] * 100).max()) * 1.08, 1.0)
    data.append(
        {
            "type": "scatter",
            "x": [max_rtf, max_rtf],
            "y": [0, top],
            "mode": "lines+text",
            "line": {"color": "#9ca3af", "dash": "dash", "width": 1},
            "text": ["", f"real time (RTF {max_rtf:g})"],
            "textposition": "top left",
            "textfont": {"color": "#6b7280", "size": 11},
            "hoverinfo": "skip",
            "showlegend": False,
        }
    )
    # The real-time line is always in view, however fast or slow every entry is.
    low = min(float(rows["rtf"].min()), max_rtf) / 2
    high = max(float(rows["rtf"].max()), max_rtf) * 2
    layout = {
        "template": "plotly_white",
        "height": 560,
        "margin": {"l": 60, "r": 20, "t": 30, "b": 60},
        "xaxis": {
            "title": {"text": "RTF (lower is faster; log scale)"},
            "type": "log",
            "range": [math.log10(low), math.log10(high)],
        },
        "yaxis": {"title": {"text": "Average WER (%)"}, "rangemode": "tozero"},
        "legend": {"title": {"text": "Family (hollow: unofficial)"}, "orientation": "h", "y": -0.18},
        "hoverlabel": {"bgcolor": "white"},
    }
    return {"data": data, "layout": layout}
