"""The leaderboard table: one row per finished result, ranked, filtered, sorted and shaped for `gr.Dataframe`.

Pure. `build_board` turns results (each with what the submission check learned about its model) into a
`Board` once per store snapshot; `Board.view(filters)` then only masks, sorts and selects columns of a frame
whose display values were computed at build time, so filtering 10,000 rows costs a few vectorised pandas
operations (`bench/table.py` measures it).

Ranking: only official results of the current leaderboard version are ranked (and, when a `verified`
predicate is given, only those it accepts); an entry whose latest audit failed (R13) is flagged, not ranked,
and left out of the default view until a later audit passes; an entry whose model can no longer be loaded at
its pinned revision cannot be audited, says so, and is not ranked either (unless the config keeps it). Rank is by average WER; results whose average WER is equal at
the displayed precision (0.01 percentage points) share a rank (1, 1, 3) and a medal, and are listed faster
first. Rates in records are fractions; the table shows percentages.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from leaderboard.conditions import BUSY, conditions_label, load_state
from openasr_core.audits import AuditVerdict, Unavailable
from openasr_core.claims import average_gap
from openasr_core.cost import cost_of_batch_one
from openasr_core.families import family_for
from openasr_core.licenses import shown_license
from openasr_core.records import HUB_REPO_ID, PRECISIONS, AuditRecord, ModelInfo, Result
from openasr_core.untrusted import md_text

HUB_URL = "https://huggingface.co/"
MEDALS: Mapping[int, str] = {1: "🥇", 2: "🥈", 3: "🥉"}
#: Average WERs (fractions) equal after rounding to this many decimals tie: 0.01 percentage points.
TIE_DECIMALS = 4
UNKNOWN_FAMILY = "unknown"

_ARCH_SUFFIX = re.compile(r"(ForConditionalGeneration|ForSpeechToText|ForSpeechSeq2Seq|ForCTC|Model)$")


# --- entries and ranking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardInput:
    """One finished result with what the submission check learned about its model (the request's `model`
    when the result does not carry it), and whether the model id names a local folder rather than a Hub repo."""

    result: Result
    model: ModelInfo | None = None
    local: bool = False
    #: The entry's audit verdict (R13; `openasr_core.audits.audit_verdicts`, or a published record), if it was audited.
    audit: AuditVerdict | AuditRecord | None = None
    #: Set when the model can no longer be loaded at its pinned revision (R13; `openasr_core.audits.unavailable_entries`).
    unavailable: Unavailable | None = None


@dataclass(frozen=True)
class BoardEntry:
    """One row of the leaderboard, in record units (fractions, seconds)."""

    request_id: str
    model_id: str
    revision: str
    precision: str
    avg_wer: float
    rtf: float
    rtfx: float
    latency_p90_s: float
    meets_realtime: bool
    dataset_wer: Mapping[str, float]
    parameters: int | None
    license: str | None
    architecture: str | None
    family: str
    official: bool
    verified: bool | None
    local: bool
    gpu_class: str
    finished_at: str
    rank: int | None = None
    audited_at: str | None = None
    audit_passed: bool | None = None  # the latest audit's verdict; None: never audited
    #: Batch-one cost (R14): the price recorded in the result's rules x RTF x 1000; None when none was recorded.
    usd_per_1000_audio_hours: float | None = None
    #: R15: mean of measured minus claimed WER, in points, over the eval sets the model repo claimed; None when it
    #: claimed none. A fact shown on request, never ranked or sorted on by default.
    claims_gap: float | None = None
    #: R13: when the model was found no longer loadable at its pinned revision (it cannot be audited); None: it was
    #: not. `unavailable_ranked`: the board's config keeps such an entry ranked (`[audit]
    #: unrankable_when_unavailable = false`).
    unavailable_since: str | None = None
    unavailable_ranked: bool = False
    #: Issue 25 item 7: the hardware class and the machine's load during the timed calls (`leaderboard.conditions`).
    conditions: str = ""
    busy: bool = False

    @property
    def flagged(self) -> bool:
        """The latest audit failed (R13): shown only on request, never ranked, until an audit passes."""
        return self.audit_passed is False

    @property
    def unavailable(self) -> bool:
        """The model can no longer be loaded at its pinned revision, so the entry cannot be audited (R13)."""
        return self.unavailable_since is not None

    @property
    def rankable(self) -> bool:
        """Official, not refused by the verifier, not flagged by an audit, auditable (unless the config keeps
        unavailable models ranked), and with a finite average WER."""
        return unranked_reason(self) is None


#: Why an entry is not ranked, as pages say it (also the refusal of an audit request).
UNOFFICIAL = "it is unofficial (not measured on this board's hardware and rules)"
UNVERIFIED = "its signature does not verify"
FLAGGED = "its latest audit failed"
UNAVAILABLE_TEXT = "model no longer available at its pinned revision: cannot be audited"
NO_WER = "it has no average WER"


def unranked_reason(entry: BoardEntry) -> str | None:
    """Why `entry` is left out of the ranking, or None when it is ranked."""
    if not entry.official:
        return UNOFFICIAL
    if entry.verified is False:
        return UNVERIFIED
    if entry.flagged:
        return FLAGGED
    if entry.unavailable and not entry.unavailable_ranked:
        return UNAVAILABLE_TEXT
    if not math.isfinite(entry.avg_wer):
        return NO_WER
    return None


def architecture_family(architecture: str | None) -> str:
    """`WhisperForConditionalGeneration` -> `whisper`, `ParakeetForTDT` -> `parakeet_tdt`: the filter's families,
    by `openasr_core.families`' `model_type`; a class no longer supported keeps its name's stem."""
    if not architecture:
        return UNKNOWN_FAMILY
    family = family_for(architecture)
    if family is not None:
        return family.model_type
    stem = _ARCH_SUFFIX.sub("", architecture) or architecture
    if stem == "SpeechEncoderDecoder":
        return "speech-encoder-decoder"
    return stem.lower()


def worst_latency_p90(result: Result) -> float:
    """The slowest eval set's p90 latency: per-set percentiles cannot be pooled exactly, so the table shows the
    conservative one (the detail page lists every set's p50/p90/p99)."""
    values = [score.latency_p90_s for score in result.datasets.values()]
    return max(values) if values else math.nan


def make_entry(
    item: BoardInput, verified: Callable[[Result], bool] | None = None, rank_unavailable: bool = False
) -> BoardEntry:
    """The unranked row for one result; `rank_unavailable` keeps an entry whose model is gone rankable."""
    result, model = item.result, item.model or item.result.model
    return BoardEntry(
        request_id=result.request_id,
        model_id=result.model_id,
        revision=result.revision,
        precision=result.precision,
        avg_wer=result.aggregate.avg_wer,
        rtf=result.aggregate.rtf,
        rtfx=result.aggregate.rtfx,
        latency_p90_s=worst_latency_p90(result),
        meets_realtime=result.aggregate.meets_realtime,
        dataset_wer={name: score.wer for name, score in result.datasets.items()},
        parameters=model.parameters if model and model.parameters > 0 else None,
        license=shown_license(model.license) if model and model.license else None,  # "unknown" if malformed
        architecture=model.architecture if model else None,
        family=architecture_family(model.architecture if model else None),
        official=result.official,
        verified=None if verified is None else bool(verified(result)),
        local=item.local,
        gpu_class=result.hardware.gpu_class,
        finished_at=result.finished_at,
        audited_at=item.audit.finished_at if item.audit else None,
        audit_passed=item.audit.passed if item.audit else None,
        usd_per_1000_audio_hours=cost_of_batch_one(result),
        claims_gap=average_gap(result),
        unavailable_since=item.unavailable.at if item.unavailable else None,
        unavailable_ranked=rank_unavailable,
        conditions=conditions_label(result),
        busy=load_state(result.load) == BUSY,
    )


def _order_key(entry: BoardEntry) -> tuple[float, float, str, str]:
    rtf = entry.rtf if math.isfinite(entry.rtf) else math.inf
    return (round(entry.avg_wer, TIE_DECIMALS), rtf, entry.finished_at, entry.request_id)


def rank_entries(entries: Iterable[BoardEntry]) -> list[BoardEntry]:
    """Assign competition ranks (1, 1, 3) by average WER to the rankable entries; the rest get `rank=None`.

    Returned in board order: ranked entries first (best first; faster first within a tie), then the others
    by average WER.
    """
    entries = list(entries)
    ranked = sorted((e for e in entries if e.rankable), key=_order_key)
    others = sorted(
        (e for e in entries if not e.rankable),
        key=lambda e: (math.isnan(e.avg_wer), e.avg_wer if math.isfinite(e.avg_wer) else math.inf, e.request_id),
    )
    out: list[BoardEntry] = []
    previous_wer: float | None = None
    rank = 0
    for position, entry in enumerate(ranked, start=1):
        wer = round(entry.avg_wer, TIE_DECIMALS)
        if wer != previous_wer:
            rank, previous_wer = position, wer
        out.append(_with_rank(entry, rank))
    out.extend(_with_rank(e, None) for e in others)
    return out


def _with_rank(entry: BoardEntry, rank: int | None) -> BoardEntry:
    return BoardEntry(**{**entry.__dict__, "rank": rank})


# --- display helpers --------------------------------------------------------------------------------------


def escape_markdown(text: str) -> str:
    """Markdown that shows `text` as typed: no italics in `org/my_model_v2`, no HTML, link or autolink from
    a crafted id (`openasr_core.untrusted.md_text`)."""
    return md_text(text)


def model_url(model_id: str) -> str:
    return HUB_URL + model_id


def model_cell(entry: BoardEntry) -> str:
    """The Model column: medal, then a link to the Hub page, or the plain id marked local (no broken link)."""
    medal = MEDALS.get(entry.rank or 0, "")
    name = escape_markdown(entry.model_id)
    if entry.local or not HUB_REPO_ID.match(entry.model_id):  # a malformed stored id gets no link
        body = f"{name} *(local)*" if entry.local else name
    else:
        body = f"[{name}]({model_url(entry.model_id)})"
    return f"{medal} {body}" if medal else body


def format_params(parameters: int | None) -> str:
    """39_000_000 -> '39M', 1_550_000_000 -> '1.55B', None -> ''."""
    if not parameters:
        return ""
    for divisor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if parameters >= divisor:
            value = parameters / divisor
            return f"{value:.3g}{suffix}"
    return str(parameters)


def badges(entry: BoardEntry) -> str:
    """Official / unofficial (with the hardware), real-time, and the verification state when it was checked."""
    parts = ["✅ official" if entry.official else f"⚠️ unofficial ({entry.gpu_class})"]
    if entry.meets_realtime:
        parts.append("⚡ real-time")
    if entry.busy:
        parts.append("🐢 timed on a busy machine")
    if entry.verified is True:
        parts.append("🔏 verified")
    elif entry.verified is False:
        parts.append("❌ unverified")
    if entry.flagged:
        parts.append("🚩 failed audit")
    if entry.unavailable:
        parts.append(f"🚫 {UNAVAILABLE_TEXT}")
    return " · ".join(parts)


def audit_cell(entry: BoardEntry) -> str:
    """The Last audit column: the verdict and the day of the latest audit, empty when never audited; the day an
    audit found the model gone when it cannot be re-run (a failed audit's flag shows first)."""
    if entry.unavailable_since is not None and not entry.flagged:
        return f"🚫 cannot be re-run {entry.unavailable_since[:10]}"
    if entry.audited_at is None:
        return ""
    day = entry.audited_at[:10]
    return f"🚩 failed {day}" if entry.flagged else f"✅ passed {day}"


# --- columns, filters, sorting ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A table column: `id` is what the URL and the column picker use, `label` what the header shows;
    `default`: shown on a plain board (False: only when the viewer picks it)."""

    id: str
    label: str
    datatype: str
    default: bool = True


RANK = Column("rank", "Rank", "number")
COST_COLUMN = "cost"
COST_LABEL = "$ per 1,000 audio hours"
MODEL = Column("model", "Model", "markdown")
CLAIMS_COLUMN = "claims_gap"
CLAIMS_LABEL = "Claimed vs measured (avg gap, pts)"


def dataset_column_id(eval_set: str) -> str:
    return f"wer.{eval_set}"


def optional_columns(eval_sets: Sequence[str]) -> list[Column]:
    """Columns the viewer may hide, in display order (rank and model are always shown). Badges come right after
    the model, so "official", "verified" and a failed audit stay in view however many eval sets the board has."""
    return [
        Column("badges", "Badges", "str"),
        Column("avg_wer", "Avg WER (%)", "number"),
        Column("rtf", "RTF", "number"),
        Column("rtfx", "RTFx", "number"),
        Column("latency_p90", "p90 latency (s)", "number"),
        Column(COST_COLUMN, COST_LABEL, "number"),
        *(Column(dataset_column_id(name), f"{name} (%)", "number") for name in eval_sets),
        Column("params", "Params", "str"),
        Column("precision", "Precision", "str"),
        Column("license", "License", "str"),
        Column("audit", "Last audit", "str"),
        Column(CLAIMS_COLUMN, CLAIMS_LABEL, "number", default=False),
    ]


@dataclass(frozen=True)
class SortOption:
    id: str
    label: str
    column: str
    ascending: bool


def sort_options(eval_sets: Sequence[str]) -> list[SortOption]:
    """What the Sort control offers: average WER first (the default)."""
    return [
        SortOption("avg_wer", "Average WER (best first)", "avg_wer", True),
        SortOption("rtf", "RTF (fastest first)", "rtf", True),
        SortOption("latency_p90", "p90 latency (lowest first)", "latency_p90_s", True),
        SortOption("params", "Parameters (smallest first)", "params_n", True),
        SortOption("newest", "Newest first", "finished_at", False),
        SortOption("model", "Model name (A-Z)", "model_lower", True),
        *(SortOption(dataset_column_id(n), f"WER on {n} (best first)", dataset_column_id(n), True) for n in eval_sets),
    ]


DEFAULT_SORT = "avg_wer"


@dataclass(frozen=True)
class Filters:
    """What the viewer chose; the defaults are the board a new visitor sees (official results only).

    Empty tuples mean "any". `params_min_m`/`params_max_m` are millions of parameters; rows whose parameter
    count is unknown are left out once either bound is set. `columns=None` shows the default columns.
    """

    search: str = ""
    licenses: tuple[str, ...] = ()
    precisions: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    params_min_m: float | None = None
    params_max_m: float | None = None
    realtime_only: bool = False
    official_only: bool = True
    sort: str = DEFAULT_SORT
    columns: tuple[str, ...] | None = None
    show_flagged: bool = False  # include entries whose latest audit failed (R13)
    claims_only: bool = False  # only entries whose model repo claimed a WER on one of the eval sets (R15)


# --- the board --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BoardView:
    """What one filter combination shows: which of the board's rows (`rows`, positions in the board's frame, in
    display order) under which columns (rank and model first). Its display frame (`frame`) and raw rows (`raw`,
    fractions, for the plot and the CSV) are built only when read: a page that sends precomputed cells (see
    `leaderboard.pages.board`) never builds them, which is most of what a filter change cost at 1,000 results."""

    source: pd.DataFrame
    rows: np.ndarray
    columns: tuple[Column, ...]
    total: int
    flagged_hidden: int = 0  # entries that match the filters but are hidden as flagged by a failed audit

    @property
    def empty(self) -> bool:
        return len(self.rows) == 0

    @property
    def shown(self) -> int:
        return len(self.rows)

    @property
    def conditions(self) -> list[str]:
        """The measuring conditions of the shown rows (`leaderboard.conditions.conditions_label`), in display order."""
        return self.source["conditions"].to_numpy()[self.rows].tolist()

    @property
    def datatypes(self) -> list[str]:
        return [c.datatype for c in self.columns]

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.columns]

    @functools.cached_property
    def request_ids(self) -> tuple[str, ...]:
        return tuple(self.source["request_id"].to_numpy()[self.rows].tolist())

    @functools.cached_property
    def raw(self) -> pd.DataFrame:
        return self.source.iloc[self.rows]

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        frame = self.raw[[f"show:{c.id}" for c in self.columns]]
        frame.columns = self.labels
        return frame.reset_index(drop=True)


@dataclass(frozen=True)
class Board:
    """All rows of one snapshot, ranked, with display values precomputed; `view(filters)` only selects."""

    entries: tuple[BoardEntry, ...]
    eval_sets: tuple[str, ...]
    frame: pd.DataFrame
    columns: tuple[Column, ...] = field(default=())

    @property
    def licenses(self) -> list[str]:
        return sorted({e.license for e in self.entries if e.license})

    @property
    def families(self) -> list[str]:
        return sorted({e.family for e in self.entries})

    @property
    def precisions(self) -> list[str]:
        return list(PRECISIONS)

    @property
    def flagged_count(self) -> int:
        return sum(1 for e in self.entries if e.flagged)

    @property
    def ranked_count(self) -> int:
        return sum(1 for e in self.entries if e.rank is not None)

    def entry(self, request_id: str) -> BoardEntry | None:
        for entry in self.entries:
            if entry.request_id == request_id:
                return entry
        return None

    def mask(self, filters: Filters) -> np.ndarray:
        """Which rows pass the filters, as a boolean array over the frame's rows (numpy, not pandas: a pandas
        boolean Series aligns its index at every step, a third of a filter change's cost at 1,000 rows)."""
        frame = self.frame
        keep = np.ones(len(frame), dtype=bool)
        if filters.official_only:
            keep &= frame["official"].to_numpy()
        if filters.realtime_only:
            keep &= frame["meets_realtime"].to_numpy()
        for column, wanted in (
            ("license_raw", filters.licenses),
            ("precision", filters.precisions),
            ("family", filters.families),
        ):
            if wanted:
                keep &= frame[column].isin(wanted).to_numpy()
        params = frame["params_n"].to_numpy()
        if filters.params_min_m is not None:
            keep &= params >= filters.params_min_m * 1e6
        if filters.params_max_m is not None:
            keep &= params <= filters.params_max_m * 1e6
        texts = frame["search_text"].tolist() if filters.search.strip() else []
        for term in filters.search.lower().split():
            keep &= np.array([term in text for text in texts], dtype=bool)
        if filters.claims_only:
            keep &= frame["has_claims"].to_numpy()
        if not filters.show_flagged:
            keep &= ~frame["flagged"].to_numpy()
        return keep

    def view(self, filters: Filters) -> BoardView:
        """The rows and columns `filters` asks for, sorted."""
        shown = self.mask(replace(filters, show_flagged=True))
        flagged = self.frame["flagged"].to_numpy()
        hidden = 0 if filters.show_flagged else int((shown & flagged).sum())
        positions = np.flatnonzero(shown & ~flagged if hidden else shown)
        options = {o.id: o for o in sort_options(self.eval_sets)}
        option = options.get(filters.sort, options[DEFAULT_SORT])
        return BoardView(
            source=self.frame,
            rows=self._sorted(positions, option),
            columns=(RANK, MODEL, *self.visible_columns(filters.columns)),
            total=len(self.frame),
            flagged_hidden=hidden,
        )

    def _sorted(self, positions: np.ndarray, option: SortOption) -> np.ndarray:
        """`positions` (ascending, i.e. in board order) ordered by `option`, ties kept in board order and
        missing numbers last whichever the direction."""
        if option.id == DEFAULT_SORT:
            return positions
        values = self.frame[option.column].to_numpy()[positions]
        if values.dtype.kind == "f":
            missing = np.isnan(values)
            keys = values[~missing]
            order = np.argsort(keys if option.ascending else -keys, kind="stable")
            return np.concatenate([positions[~missing][order], positions[missing]])
        keys = values.tolist()
        order = sorted(range(len(keys)), key=keys.__getitem__, reverse=not option.ascending)  # stable both ways
        return positions[np.array(order, dtype=np.intp)]

    def full_view(self) -> BoardView:
        """Every row, in board order, under every column: what per-row caches of a store version are made of."""
        return self.view(Filters(official_only=False, show_flagged=True, columns=tuple(c.id for c in self.columns)))

    def visible_columns(self, ids: Sequence[str] | None) -> list[Column]:
        """The optional columns to show, in display order; unknown ids are ignored, None means the defaults."""
        if ids is None:
            return [c for c in self.columns if c.default]
        wanted = set(ids)
        return [c for c in self.columns if c.id in wanted]


def build_board(
    items: Iterable[BoardInput],
    *,
    eval_sets: Sequence[str],
    verified: Callable[[Result], bool] | None = None,
    rank_unavailable: bool = False,
) -> Board:
    """Rank and precompute the display values of every row (see the module doc for the ranking rules).

    `eval_sets` orders the per-dataset columns; eval sets that appear only in results are appended.
    `verified`, when given, decides which results may be ranked; the others stay visible, labelled.
    `rank_unavailable` keeps entries whose model can no longer be loaded ranked (R13; default: not ranked).
    Built column by column (numbers vectorised), so 10,000 rows take well under a second.
    """
    entries = rank_entries(make_entry(item, verified, rank_unavailable) for item in items)
    names = list(eval_sets)
    known = set(names)
    for entry in entries:
        for name in entry.dataset_wer:
            if name not in known:
                names.append(name)
                known.add(name)
    data = {**_fact_columns(entries), **_display_columns(entries)}
    for shown, column, rounded in (
        ("avg_wer", "avg_wer", percent_array),
        ("rtf", "rtf", significant_array),
        ("rtfx", "rtfx", significant_array),
        ("latency_p90", "latency_p90_s", significant_array),
        (COST_COLUMN, COST_COLUMN, significant_array),
    ):
        data[f"show:{shown}"] = rounded(data[column])
    data[f"show:{CLAIMS_COLUMN}"] = np.round(data[CLAIMS_COLUMN], 2)
    for name in names:
        column = dataset_column_id(name)
        data[column] = np.array([e.dataset_wer.get(name, math.nan) for e in entries], dtype=float)
        data[f"show:{column}"] = percent_array(data[column])
    frame = pd.DataFrame(data)
    frame["search_text"] = frame["search_text"].astype(str)
    return Board(entries=tuple(entries), eval_sets=tuple(names), frame=frame, columns=tuple(optional_columns(names)))


def _fact_columns(entries: Sequence[BoardEntry]) -> dict[str, Any]:
    """The board frame's columns of facts, in record units: what filters, sorts, the plot and the CSV read."""
    nan = math.nan
    return {
        "board_order": np.arange(len(entries)),
        "request_id": [e.request_id for e in entries],
        "model_id": [e.model_id for e in entries],
        "model_lower": [e.model_id.lower() for e in entries],
        "search_text": [f"{e.model_id} {e.architecture or ''} {e.family}".lower() for e in entries],
        "revision": [e.revision for e in entries],
        "precision": [e.precision for e in entries],
        "license_raw": [e.license or "" for e in entries],
        "family": [e.family for e in entries],
        "architecture": [e.architecture or "" for e in entries],
        "params_n": np.array([float(e.parameters) if e.parameters else nan for e in entries], dtype=float),
        "avg_wer": np.array([e.avg_wer for e in entries], dtype=float),
        "rtf": np.array([e.rtf for e in entries], dtype=float),
        "rtfx": np.array([e.rtfx for e in entries], dtype=float),
        "latency_p90_s": np.array([e.latency_p90_s for e in entries], dtype=float),
        COST_COLUMN: np.array([_or_nan(e.usd_per_1000_audio_hours) for e in entries], dtype=float),
        CLAIMS_COLUMN: np.array([_or_nan(e.claims_gap) for e in entries], dtype=float),
        "has_claims": np.array([e.claims_gap is not None for e in entries], dtype=bool),
        "meets_realtime": np.array([e.meets_realtime for e in entries], dtype=bool),
        "official": np.array([e.official for e in entries], dtype=bool),
        "verified": [e.verified for e in entries],
        "local": np.array([e.local for e in entries], dtype=bool),
        "gpu_class": [e.gpu_class for e in entries],
        "conditions": [e.conditions for e in entries],
        "finished_at": [e.finished_at for e in entries],
        "flagged": np.array([e.flagged for e in entries], dtype=bool),
        "audited_at": [e.audited_at or "" for e in entries],
        "audit_passed": pd.array([e.audit_passed for e in entries], dtype="boolean"),
        # Ranks stay integers with gaps (not 1.0, 2.0, NaN) for both the display and the CSV.
        "rank": pd.array([e.rank for e in entries], dtype="Int64"),
    }


def _display_columns(entries: Sequence[BoardEntry]) -> dict[str, Any]:
    """The board frame's text columns as the table shows them (`show:<column id>`); the number columns' display
    values are rounded from the fact columns by `build_board`."""
    return {
        "show:rank": pd.Series([e.rank for e in entries], dtype=object),
        "show:model": [model_cell(e) for e in entries],
        "show:params": [format_params(e.parameters) for e in entries],
        "show:precision": [e.precision for e in entries],
        "show:license": [e.license or "" for e in entries],
        "show:badges": [badges(e) for e in entries],
        "show:audit": [audit_cell(e) for e in entries],
    }


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


def percent_array(fractions: np.ndarray) -> np.ndarray:
    """Fractions as percentages with two decimals; NaN (an empty cell) for inf/nan."""
    values = np.where(np.isfinite(fractions), fractions, np.nan)
    return np.round(values * 100, 2)


def significant_array(values: np.ndarray, digits: int = 3) -> np.ndarray:
    """`significant` for a whole column at once."""
    out = np.full(values.shape, np.nan)
    finite = np.isfinite(values)
    out[finite & (values == 0)] = 0.0
    nonzero = finite & (values != 0)
    if nonzero.any():
        magnitude = np.floor(np.log10(np.abs(values[nonzero])))
        scale = 10.0 ** (digits - 1 - magnitude)
        out[nonzero] = np.round(values[nonzero] * scale) / scale
    return out


def csv_frame(view: BoardView, eval_sets: Sequence[str]) -> pd.DataFrame:
    """The filtered view as a plain table for the CSV download: ids and numbers, percentages named as such."""
    raw = view.raw
    out = pd.DataFrame(
        {
            "rank": raw["rank"],
            "model_id": raw["model_id"],
            "revision": raw["revision"],
            "precision": raw["precision"],
            "avg_wer_pct": raw["avg_wer"] * 100,
            "rtf": raw["rtf"],
            "rtfx": raw["rtfx"],
            "latency_p90_s": raw["latency_p90_s"],
            "usd_per_1000_audio_hours": raw[COST_COLUMN],
            **{f"wer_pct.{n}": raw[dataset_column_id(n)] * 100 for n in eval_sets if dataset_column_id(n) in raw},
            "parameters": raw["params_n"],
            "license": raw["license_raw"],
            "architecture": raw["architecture"],
            "official": raw["official"],
            "meets_realtime": raw["meets_realtime"],
            "gpu_class": raw["gpu_class"],
            "last_audit_at": raw["audited_at"],
            "last_audit_passed": raw["audit_passed"],
            "claims_avg_gap_points": raw[CLAIMS_COLUMN],
            "request_id": raw["request_id"],
        }
    )
    return out.reset_index(drop=True)
