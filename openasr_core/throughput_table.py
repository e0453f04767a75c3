"""`throughput.csv`: the throughput track's consolidated table in the results dataset (R14).

A file of its own, declared as its own `throughput` config in the dataset card, so `load_dataset(repo)` gives
the batch-one board and `load_dataset(repo, "throughput")` the throughput track: never one mixed table.
Every row also says `track = throughput`, so a reader who concatenates the two files can still tell them apart.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from openasr_core.records import ThroughputResult
from openasr_core.table_columns import Column, column_docs, table_cells

THROUGHPUT_TABLE_FILE = "throughput.csv"

#: The throughput table's columns (before `wer_<set>`): the record field each repeats, which fills and documents it.
THROUGHPUT_TABLE: tuple[Column, ...] = (
    Column("track", ThroughputResult),
    *(Column(n, ThroughputResult) for n in ("model_id", "revision", "precision")),
    Column("request_id", ThroughputResult, note="The full record is `throughput/<xx>/<request_id>.json`."),
    *(Column(n, ThroughputResult) for n in ("leaderboard_version", "official", "chosen_batch_size")),
    Column("max_batch_size_used", ThroughputResult, "batch_evidence.max_batch_size"),
    *(Column(n, ThroughputResult, f"aggregate.{n}") for n in ("avg_wer", "batch_one_avg_wer", "wer_change", "rtfx")),
    Column("usd_per_1000_audio_hours", ThroughputResult),
    Column(
        "hardware_price_usd_per_hour",
        text="The price the cost was computed from, as recorded in the result.",
        derive=lambda s: (s[ThroughputResult].rules.get("hardware_price") or {}).get("usd_per_hour"),
        derived_dtype="float64",
    ),
    Column("gpu_class", ThroughputResult, "hardware.gpu_class"),
    *(Column(n, ThroughputResult) for n in ("finished_at", "signature")),
)
#: The throughput table's columns (before `wer_<set>`), with what each holds; the card documents them.
THROUGHPUT_COLUMNS: dict[str, str] = column_docs(THROUGHPUT_TABLE)


def throughput_row(result: ThroughputResult) -> dict[str, Any]:
    """One throughput record as a flat row (rates are fractions; empty where the record has no value)."""
    row = table_cells(THROUGHPUT_TABLE, {ThroughputResult: result})
    for name, score in result.datasets.items():
        row[f"wer_{name}"] = score.wer
    return row


def throughput_table(results: Iterable[ThroughputResult], eval_sets: Sequence[str] = ()) -> str:
    """`throughput.csv`: one row per throughput record, best average WER first, deterministic."""
    ordered = sorted(results, key=lambda r: (r.leaderboard_version, r.aggregate.avg_wer, r.request_id))
    names = list(dict.fromkeys(eval_sets))
    for result in ordered:
        names += sorted(name for name in result.datasets if name not in names)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*THROUGHPUT_COLUMNS, *(f"wer_{n}" for n in names)], lineterminator="\n")
    writer.writeheader()
    for result in ordered:
        writer.writerow({k: ("" if v is None else v) for k, v in throughput_row(result).items()})
    return buffer.getvalue()
