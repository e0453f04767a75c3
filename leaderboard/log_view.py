"""The Log page: the public hash-chained log (R8), newest first, searchable, with the chain's verdict. Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import pandas as pd

from leaderboard.table import escape_markdown
from openasr_core.eventlog import ChainCheck
from openasr_core.records import LogEntry

LOG_COLUMNS = ("#", "Time (UTC)", "Event", "Request", "Actor", "Detail", "Hash")
EVENT_ICONS = {
    "submitted": "📝",
    "claimed": "⚙️",
    "finished": "✅",
    "failed": "❌",
    "lease_expired": "⏱️",
    "released": "↩️",
    "audit_requested": "🙋",
    "audit_passed": "🔍",
    "audit_failed": "🚩",
    "audit_dropped": "⏭️",
}


_HEX = re.compile(r"^[0-9a-f]{40,64}$")


def _short(value: object) -> object:
    """Long hashes cut to 12 characters, inside lists and dicts too (a submission's weight-file hashes)."""
    if isinstance(value, str):
        return value[:12] + "…" if _HEX.match(value) else value
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_short(v) for v in value]
    return value


def _value(value: object) -> str:
    """Short display of one detail value: floats to 4 significant digits, long hashes cut to 12 characters."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str):
        return str(_short(value))
    return json.dumps(_short(value), ensure_ascii=False)


def _detail(detail: dict[str, object]) -> str:
    return "; ".join(f"{k}={_value(v)}" for k, v in detail.items())


def _full_detail(detail: dict[str, object]) -> str:
    return " ".join(f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in detail.items())


def log_frame(entries: Sequence[LogEntry], search: str = "", limit: int | None = 500) -> pd.DataFrame:
    """Newest first; every word of `search` must appear in the entry (event, request, actor, detail, hash)."""
    terms = search.lower().split()
    rows = []
    for entry in reversed(entries):
        detail = _detail(entry.detail)
        full = _full_detail(entry.detail)
        haystack = f"{entry.seq} {entry.at} {entry.event} {entry.request_id} {entry.actor} {full} {entry.hash}"
        if terms and not all(t in haystack.lower() for t in terms):
            continue
        rows.append(
            {
                "#": entry.seq,
                "Time (UTC)": entry.at.replace("T", " ").replace("Z", ""),
                "Event": f"{EVENT_ICONS.get(entry.event, '•')} {entry.event}",
                "Request": entry.request_id,
                "Actor": entry.actor,
                "Detail": detail,
                "Hash": entry.hash[:12] + "…",
            }
        )
        if limit is not None and len(rows) >= limit:
            break
    return pd.DataFrame(rows, columns=list(LOG_COLUMNS))


def chain_markdown(check: ChainCheck) -> str:
    """The verdict banner: verified with the entry count, or where and why the chain breaks."""
    if check.ok:
        if check.entries == 0:
            return "✅ **The log is empty** — the chain starts with the first submission."
        return (
            f"✅ **The hash chain verifies**: all {check.entries} entries link to the one before, and none was "
            "edited, dropped or reordered."
        )
    return (
        f"❌ **The hash chain is broken at entry {check.first_bad_seq}**: {check.reason}. Entries from there on "
        "cannot be trusted; maintainers: restore the log file from the requests dataset's history."
    )


def damaged_markdown(damaged: Sequence[str], limit: int = 10) -> str:
    """A warning naming the store files that were set aside (read around), or "" when every file is sound."""
    if not damaged:
        return ""
    lines = [f"- {escape_markdown(text[:300])}" for text in damaged[:limit]]
    if len(damaged) > limit:
        lines.append(f"- … and {len(damaged) - limit} more")
    return (
        f"⚠️ **{len(damaged)} damaged store file(s) were set aside**: the board is built from what could be read, "
        "and the next write keeps each file's bytes under `quarantine/` and rewrites it. Maintainers: check the "
        "repo's history for who changed them; `python -m evaluator verify` lists them too.\n\n" + "\n".join(lines)
    )
