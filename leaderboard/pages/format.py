"""Pure helpers behind the Leaderboard page: controls -> `Filters`, the status line, cell formats, column
widths, the CSV download, the empty-board messages and the page header."""

from __future__ import annotations

import csv
import hashlib
import io
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from leaderboard.conditions import mixed_conditions_note
from leaderboard.data import Loaded
from leaderboard.table import DEFAULT_SORT, Board, BoardView, Filters, csv_frame, sort_options
from openasr_core.config import ANY_GPU_CLASS, LeaderboardConfig
from openasr_core.files import atomic_write
from openasr_core.untrusted import md_text

CSV_DIR = Path(tempfile.gettempdir()) / "asr-leaderboard-csv"
CSV_KEEP = 200


def filters_from_controls(
    search: str | None,
    licenses: Sequence[str] | None,
    precisions: Sequence[str] | None,
    families: Sequence[str] | None,
    params_min: float | None,
    params_max: float | None,
    realtime_only: bool | None,
    official_only: bool | None,
    sort: str | None,
    columns: Sequence[str] | None,
    show_flagged: bool | None = False,
    claims_only: bool | None = False,
    *,
    all_columns: Sequence[str],
    default_columns: Sequence[str] | None = None,
) -> Filters:
    """The controls' values as `Filters`; showing the default columns (`default_columns`, else every one) is
    `columns=None`, so the URL stays short."""
    chosen = tuple(c for c in all_columns if c in set(columns or ()))
    defaults = all_columns if default_columns is None else default_columns
    return Filters(
        search=(search or "").strip(),
        licenses=tuple(licenses or ()),
        precisions=tuple(precisions or ()),
        families=tuple(families or ()),
        params_min_m=params_min if params_min else None,
        params_max_m=params_max if params_max is not None and params_max > 0 else None,
        realtime_only=bool(realtime_only),
        official_only=bool(official_only),
        sort=sort or DEFAULT_SORT,
        columns=None if set(chosen) == set(defaults) else chosen,
        show_flagged=bool(show_flagged),
        claims_only=bool(claims_only),
    )


def sanitize(filters: Filters, board: Board) -> Filters:
    """Drop what this board cannot show (an unknown sort or column id from an old link)."""
    sorts = {o.id for o in sort_options(board.eval_sets)}
    columns = filters.columns
    if columns is not None:
        known = {c.id for c in board.columns}
        columns = tuple(c for c in columns if c in known)
    return Filters(
        **{
            **filters.__dict__,
            "sort": filters.sort if filters.sort in sorts else DEFAULT_SORT,
            "columns": columns,
        }
    )


def plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def status_line(view: BoardView, filters: Filters) -> str:
    sort = {o.id: o.label for o in sort_options(())}.get(filters.sort, filters.sort)
    if filters.sort.startswith("wer."):
        sort = f"WER on {md_text(filters.sort[4:])}"  # an eval-set name from the stored results
    shown = f"Showing **{view.shown}** of {plural(view.total, 'entry', 'entries')}"
    scope = " (official only)" if filters.official_only else " (official and unofficial)"
    hidden = "" if filters.show_flagged else _flagged_note(view)
    mixed = mixed_conditions_note(view.conditions)
    conditions = f"\n\n{md_text(mixed)}" if mixed else ""
    return f"{shown}{scope}{hidden} · sorted by {sort.lower()} · click a row for its details{conditions}"


def _flagged_note(view: BoardView) -> str:
    """How many entries a failed audit hides from this view (R13), so a reader knows the toggle exists."""
    flagged = int(view.flagged_hidden)
    return f" · {plural(flagged, 'entry', 'entries')} flagged by a failed audit hidden" if flagged else ""


def number_text(value: Any) -> str:
    """How a number cell reads: '0.0123', '6.05', '250', '1,000'; empty for a missing value."""
    if value is None or isinstance(value, str) or pd.isna(value):
        return ""
    number = float(value)
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    if abs(number) >= 100:
        return f"{number:.0f}"
    return f"{number:.3g}"


def cell_formats(view: BoardView) -> dict[str, Callable[[Any], str]]:
    """How each number column of the view reads (two decimals for percentages, whole ranks); by label."""
    formats: dict[str, Callable[[Any], str]] = {}
    for label, datatype in zip(view.labels, view.datatypes, strict=True):
        if datatype != "number":
            continue
        if label.endswith("(%)"):
            formats[label] = lambda v: "" if v is None or pd.isna(v) else f"{float(v):.2f}"
        elif label == "Rank":
            formats[label] = lambda v: "" if v is None or pd.isna(v) else str(int(v))
        else:
            formats[label] = number_text
    return formats


def styled(view: BoardView) -> Any:
    """The view's frame with display formats (two decimals for percentages) while cells stay numbers, so
    clicking a header still sorts numerically."""
    return view.frame.style.format(cell_formats(view))


def display_values(view: BoardView) -> list[list[Any]]:
    """What `styled(view)` shows in each cell, row by row, without pandas' Styler: to read them gradio has the
    Styler lay out a whole HTML table first (about 50 ms at 1,000 rows, on every new filter). Columns without a
    format show their value as the Styler's default does: a float with six decimals, anything else as it is."""
    formats = cell_formats(view)
    columns = [
        [formats[label](v) for v in view.frame[label].tolist()]
        if label in formats
        else [f"{v:.6f}" if isinstance(v, float) else v for v in view.frame[label].tolist()]
        for label in view.frame.columns
    ]
    return [list(row) for row in zip(*columns, strict=True)]


#: The default columns of a one-set board add up to 1,314 px, inside the 1,336 px a 1,400 px window leaves, so the
#: Badges and Last audit columns show without scrolling sideways (each extra eval set adds one default width).
_WIDTHS = {"Rank": "56px", "Model": "220px", "Badges": "190px", "Precision": "92px", "License": "84px"}


def column_widths(view: BoardView) -> list[str]:
    """Narrow rank, wide model name, the rest sized to their content class."""
    return [_WIDTHS.get(label, "84px") for label in view.labels]


@dataclass(frozen=True)
class CsvLines:
    """The CSV download of a whole board cut into its header and one line per row (board order): made once per
    store version, so a view's CSV is its rows' lines joined, the same text `csv_frame(...).to_csv` writes."""

    header: str
    lines: tuple[str, ...]

    def text(self, view: BoardView) -> str:
        return self.header + "".join(self.lines[i] for i in view.rows.tolist())


def csv_lines(board: Board) -> CsvLines:
    """`CsvLines` of `board`: pandas writes the whole board once; each record is written back on its own by
    the same writer pandas uses (csv, minimal quoting), which reproduces it byte for byte, quoted newlines
    included."""
    text = csv_frame(board.full_view(), board.eval_sets).to_csv(index=False, lineterminator="\n")
    records = csv.reader(io.StringIO(text, newline=""))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    lines = []
    for record in records:
        writer.writerow(record)
        lines.append(out.getvalue())
        out.seek(0)
        out.truncate()
    return CsvLines(lines[0], tuple(lines[1:]))


def write_csv(
    view: BoardView,
    eval_sets: Sequence[str],
    folder: Path = CSV_DIR,
    keep: int = CSV_KEEP,
    lines: CsvLines | None = None,
) -> str:
    """The filtered view as a CSV file named by its content (so repeated views reuse one file), written
    atomically (two visitors may ask for the same view at once); only the newest `keep` files are kept.
    `lines`: the board's `csv_lines`, to join instead of writing the view's frame."""
    text = lines.text(view) if lines is not None else csv_frame(view, eval_sets).to_csv(index=False)
    data = text.encode("utf-8")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"open-asr-leaderboard-{hashlib.sha256(data).hexdigest()[:12]}.csv"
    if not path.exists():
        atomic_write(path, data)
        old = sorted(folder.glob("open-asr-leaderboard-*.csv"), key=lambda p: p.stat().st_mtime, reverse=True)[keep:]
        for stale in old:
            stale.unlink(missing_ok=True)
    return str(path)


def empty_message(board: Board, view: BoardView) -> str:
    if not board.entries:
        return (
            '<div class="lb-empty">🎙️ <b>No results yet — submit a model.</b><br>Open the <b>Submit</b> tab, enter '
            "a model id, and it is evaluated in the background; its row appears here when it finishes.</div>"
        )
    if view.empty:
        return (
            '<div class="lb-empty">No entries match these filters. Clear the search or some filters '
            "(unofficial entries are hidden while <b>Official only</b> is ticked, entries flagged by a failed "
            "audit while <b>Show flagged</b> is not).</div>"
        )
    return ""


def header_html(config: LeaderboardConfig, loaded: Loaded | None) -> str:
    hardware = (
        "any hardware (local board)" if config.rules.gpu_class == ANY_GPU_CLASS else f"NVIDIA {config.rules.gpu_class}"
    )
    stats = ""
    if loaded is not None:
        check = loaded.snapshot.verify_log()
        log_state = "public log verifies ✅" if check.ok else "public log chain broken ❌"
        stats = (
            f"{plural(loaded.board.ranked_count, 'ranked entry', 'ranked entries')} · measured on {hardware}, "
            "batch size one · "
            f"version <code>{config.version}</code> · {plural(len(config.eval_sets), 'eval set', 'eval sets')} · "
            f"{log_state}"
        )
    return f"""<div class="lb-header">
<h1>🎙️ {config.title}</h1>
<p>Speech-recognition models ranked by word error rate and batch-one speed, every number measured by this
Space's own evaluator on fixed hardware, pinned revisions and a public, tamper-evident log.</p>
<div class="lb-stats">{stats}</div>
</div>"""
