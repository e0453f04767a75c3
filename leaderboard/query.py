"""Filters <-> URL query string, so a view of the leaderboard can be shared as a link.

Only values that differ from the defaults are written, so the plain board has a clean URL. Reading is
forgiving: a hand-edited or stale link never breaks the page, unknown or malformed values are dropped.

| key | meaning | example |
|---|---|---|
| `q` | search words | `q=whisper` |
| `license`, `precision`, `arch` | comma-separated choices | `precision=float16,bfloat16` |
| `pmin`, `pmax` | parameter range, millions | `pmax=300` |
| `realtime` | `1`: only entries meeting the real-time constraint | |
| `official` | `0`: include unofficial entries | |
| `flagged` | `1`: include entries whose latest audit failed (R13) | |
| `claims` | `1`: only entries whose model repo claimed a WER on one of the eval sets (R15) | |
| `sort` | sort option id | `sort=rtf` |
| `cols` | shown optional columns | `cols=avg_wer,rtf` |
| `tab` | the open page, when not the Leaderboard | `tab=plot` |
| `detail` | one entry's detail page (request id) | `detail=3f2a…` |

`page_query` adds the page to the filters: the Leaderboard and the Plot carry the filters (the plot shows
the filtered view), an entry's detail is `detail=<id>` alone, every other page `tab=<id>`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

from leaderboard.table import DEFAULT_SORT, Filters

_LISTS = {"license": "licenses", "precision": "precisions", "arch": "families"}


def _join(values: tuple[str, ...]) -> str:
    return ",".join(values)


def _split(value: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))


def _number(value: str | None) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def filters_to_query(filters: Filters) -> str:
    """The query string (without `?`) for `filters`; empty for the default view."""
    params: list[tuple[str, str]] = []
    if filters.search.strip():
        params.append(("q", filters.search.strip()))
    for key, attribute in _LISTS.items():
        values = getattr(filters, attribute)
        if values:
            params.append((key, _join(values)))
    if filters.params_min_m is not None:
        params.append(("pmin", _format_number(filters.params_min_m)))
    if filters.params_max_m is not None:
        params.append(("pmax", _format_number(filters.params_max_m)))
    if filters.realtime_only:
        params.append(("realtime", "1"))
    if not filters.official_only:
        params.append(("official", "0"))
    if filters.show_flagged:
        params.append(("flagged", "1"))
    if filters.claims_only:
        params.append(("claims", "1"))
    if filters.sort != DEFAULT_SORT:
        params.append(("sort", filters.sort))
    if filters.columns is not None:
        params.append(("cols", _join(filters.columns)))
    return urlencode(params, safe=",")


def filters_from_query(params: Mapping[str, str] | str) -> Filters:
    """Filters from `gr.Request.query_params` (or a raw query string); anything unreadable keeps its default."""
    if isinstance(params, str):
        params = dict(parse_qsl(params.lstrip("?"), keep_blank_values=True))
    values: dict[str, object] = {}
    if params.get("q"):
        values["search"] = params["q"].strip()
    for key, attribute in _LISTS.items():
        if params.get(key):
            values[attribute] = _split(params[key])
    values["params_min_m"] = _number(params.get("pmin"))
    values["params_max_m"] = _number(params.get("pmax"))
    values["realtime_only"] = params.get("realtime", "").lower() in ("1", "true", "yes")
    values["official_only"] = params.get("official", "").lower() not in ("0", "false", "no")
    values["show_flagged"] = params.get("flagged", "").lower() in ("1", "true", "yes")
    values["claims_only"] = params.get("claims", "").lower() in ("1", "true", "yes")
    if params.get("sort"):
        values["sort"] = params["sort"]
    if "cols" in params:
        values["columns"] = _split(params["cols"])
    return Filters(**values)  # type: ignore[arg-type]


BOARD_TAB = "leaderboard"
DETAIL_TAB = "detail"
FILTERED_TABS = (BOARD_TAB, "plot")


def page_query(filters_query: str, tab: str | None, detail_id: str | None) -> str:
    """The query string of the page a visitor is on, so that its URL can be shared."""
    tab = tab or BOARD_TAB
    if tab == DETAIL_TAB:
        return urlencode([("detail", detail_id)]) if detail_id else urlencode([("tab", tab)])
    if tab == BOARD_TAB:
        return filters_query
    head = urlencode([("tab", tab)])
    return f"{head}&{filters_query}" if filters_query and tab in FILTERED_TABS else head
