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

THROUGHPUT_TABLE_FILE = "throughput.csv"

#: The throughput table's columns (before `wer_<set>`), with what each holds; the card documents them.
THROUGHPUT_COLUMNS: dict[str, str] = {
    "track": "Always `throughput`: batched measurements, never part of the batch-one ranking (R14).",
    "model_id": "Model id that was evaluated.",
    "revision": "Exact commit SHA of the model.",
    "precision": "The dtype the model ran in.",
    "request_id": "Id of the request; the full record is `throughput/<request_id>.json`.",
    "leaderboard_version": "Leaderboard version (eval sets, rules, hardware price) of the measurement.",
    "official": "True when measured on the board's GPU class.",
    "chosen_batch_size": "The ladder's fastest batch size (1, 4, 16, 64, ...), at which everything below is measured.",
    "max_batch_size_used": "The largest batch the model actually saw at that size (a set's last batch is smaller).",
    "avg_wer": "Unweighted mean of per-set corpus WER at the chosen batch size, as a fraction.",
    "batch_one_avg_wer": "The same entry's average WER at batch size one (padding can change transcripts).",
    "wer_change": "avg_wer - batch_one_avg_wer.",
    "rtfx": "Seconds of audio transcribed per second of wall clock, batched, pooled over all sets.",
    "usd_per_1000_audio_hours": "Hardware price per hour / rtfx x 1000, in US dollars; empty without a price.",
    "hardware_price_usd_per_hour": "The price the cost was computed from, as recorded in the result.",
    "gpu_class": "Hardware class the numbers were measured on.",
    "finished_at": "When the evaluation finished (ISO 8601 UTC).",
    "signature": "Ed25519 signature (base64) of the record, when signed.",
}


def throughput_row(result: ThroughputResult) -> dict[str, Any]:
    """One throughput record as a flat row (rates are fractions; empty where the record has no value)."""
    price = result.rules.get("hardware_price") or {}
    row: dict[str, Any] = {
        "track": result.track,
        "model_id": result.model_id,
        "revision": result.revision,
        "precision": result.precision,
        "request_id": result.request_id,
        "leaderboard_version": result.leaderboard_version,
        "official": result.official,
        "chosen_batch_size": result.chosen_batch_size,
        "max_batch_size_used": result.batch_evidence.max_batch_size,
        "avg_wer": result.aggregate.avg_wer,
        "batch_one_avg_wer": result.aggregate.batch_one_avg_wer,
        "wer_change": result.aggregate.wer_change,
        "rtfx": result.aggregate.rtfx,
        "usd_per_1000_audio_hours": result.usd_per_1000_audio_hours,
        "hardware_price_usd_per_hour": price.get("usd_per_hour"),
        "gpu_class": result.hardware.gpu_class,
        "finished_at": result.finished_at,
        "signature": result.signature,
    }
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
