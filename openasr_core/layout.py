"""File paths inside the two dataset repos; the local store uses the same paths under two folders.

requests repo:
  `state.json`             the queue: one small entry per open (PENDING/RUNNING) request with its place, status,
                           attempts, lease and progress; the version of each open and closed shard and log
                           chunk, the log's length and chunk size, and the results commit the requests were
                           written against. Written in the same commit as the log lines that explain the change,
                           so every status change is in the public log or did not happen.
  `index.json`             small, written by every commit: the digest of `state.json` (a reader fetches that
                           only when it changed) and the leases heartbeats renewed since (a heartbeat writes this
                           file alone, not every open request).
  `open/<xx>.jsonl`        each open request as submitted (model, revision, submitter, model facts, claims), one
                           per line, in 256 shards by request id: written when a request is submitted, never by a
                           claim, heartbeat or finish.
  `closed/<xx>.jsonl`      FINISHED and FAILED requests, one per line, in 256 shards by request id.
  `log/<nnnnnn>.jsonl`     the append-only hash-chained log, in chunks of `LOG_CHUNK` entries; full chunks
                           never change again, so a reader fetches only the last one after a commit.
results repo:
  `records/<xx>.jsonl`     every signed result, one per line, in 256 shards (what the board reads).
  `results/<xx>/<request_id>.json`, `predictions/<xx>/<request_id>/<set>.jsonl`: one result and its raw
                           predictions, for the detail page, `verify` and people browsing the repo.
  `audits/<xx>/<request_id>/<audit_id>.json` one signed record per audit of that entry (R13).
  `audit-records/<x>.jsonl` the same signed audit records, one per line, in 16 shards by the first hex digit of the
                           request's shard: what the board and `verify` read (16 requests, not one per audit).
  `throughput-records/<xx>.jsonl`, `throughput/<xx>/<request_id>.json`, `throughput/<xx>/<request_id>/<set>.jsonl`,
  `throughput.csv`: the throughput track (R14), sharded like results but in folders of its own, so nothing that
                           reads the batch-one results can ever see it.
  `leaderboard/<xx>.csv`   the table (`load_dataset`'s default config), one shard per records shard, written in the
                           same commit as the records shard it repeats; `leaderboard/00.csv` always exists (header
                           only on an empty board). Every shard has the same header, so they load as one table.
  `claims/<xx>.csv`        what each entry's model repo claimed beside what was measured (R15; the card's `claims`
                           config), sharded and written like the table, `claims/00.csv` always there.
  `README.md`              the dataset card (see `openasr_core.dataset_card`).
  `pins.json`              per board version, the eval-set sources (with the data revision each streamed) of
                           its first finished result: the version's data pins, read by a Job in one request.

`<xx>` is the first two hex digits of the request id's sha256, so no folder holds more than 256 entries and
`results/<xx>/`, `predictions/<xx>/` reach the Hub's 10,000-files-per-folder limit only past 2.5 million
results. Layout 1 (`requests/<id>.json`, `log.jsonl`, `results/<id>.json`, `predictions/<id>/`), a development
layout never released, is refused with a message saying so.
local store: `<root>/requests/` holds the requests repo's files, `<root>/results/` the results repo's.

A leaf module (it imports nothing of the project), so the stores, the dataset card and `verify` all import it
plainly, without a cycle through `openasr_core.store`.
"""

from __future__ import annotations

import hashlib
import re

STATE_FILE = "state.json"
PINS_FILE = "pins.json"
INDEX_FILE = "index.json"
CLOSED_DIR = "closed"
OPEN_DIR = "open"
LOG_DIR = "log"
RECORDS_DIR = "records"
TABLE_DIR = "leaderboard"
CLAIMS_DIR = "claims"
#: The shard of the table that always exists, so the default config has a file on an empty board.
FIRST_TABLE_SHARD = "00"
#: The unsharded table written before `leaderboard/<xx>.csv`: removed when the shards are first written.
LEGACY_TABLE_FILE = "leaderboard.csv"
RESULTS_DIR = "results"
PREDICTIONS_DIR = "predictions"
AUDITS_DIR = "audits"
AUDIT_RECORDS_DIR = "audit-records"
THROUGHPUT_DIR = "throughput"
THROUGHPUT_RECORDS_DIR = "throughput-records"
LOCAL_REQUESTS_DIR = "requests"
LOCAL_RESULTS_DIR = "results"
#: Entries per log chunk in a new store: the newest chunk is uploaded whole with every write, so it stays small
#: (about 150 KB at 250 entries); a store written in format 2 keeps the 1,000 it was written with.
LOG_CHUNK = 250
FORMAT = 3

#: Layout 1's log, looked for only to refuse such a store with a message saying so.
LEGACY_LOG_FILE = "log.jsonl"
MIGRATE_HINT = "that development layout was never released and this version does not read it: start a new store"

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class UnsafeName(ValueError):
    """A name that would not stay inside its folder (`../x`, `a/b`): refused wherever it would become a path."""


def safe_name(value: str, what: str) -> str:
    """Refuse names that could escape a folder or clash on case-insensitive file systems' separators."""
    if not _SAFE.match(value) or ".." in value:
        raise UnsafeName(f"{what} {value!r} may only contain letters, digits, '.', '_' and '-'")
    return value


def shard(request_id: str) -> str:
    """The shard of a request id: two hex digits, stable across runs and machines."""
    return hashlib.sha256(safe_name(request_id, "request id").encode()).hexdigest()[:2]


def open_path(shard_name: str) -> str:
    return f"{OPEN_DIR}/{shard_name}.jsonl"


def closed_path(shard_name: str) -> str:
    return f"{CLOSED_DIR}/{shard_name}.jsonl"


def log_chunk_path(index: int) -> str:
    return f"{LOG_DIR}/{index:06d}.jsonl"


def records_path(shard_name: str) -> str:
    return f"{RECORDS_DIR}/{shard_name}.jsonl"


def table_path(shard_name: str) -> str:
    return f"{TABLE_DIR}/{shard_name}.csv"


def claims_path(shard_name: str) -> str:
    return f"{CLAIMS_DIR}/{shard_name}.csv"


def result_path(request_id: str) -> str:
    return f"{RESULTS_DIR}/{shard(request_id)}/{request_id}.json"


def predictions_path(request_id: str, eval_set: str) -> str:
    return f"{PREDICTIONS_DIR}/{shard(request_id)}/{request_id}/{safe_name(eval_set, 'eval set name')}.jsonl"


def audit_path(request_id: str, audit_id: str) -> str:
    return f"{AUDITS_DIR}/{shard(request_id)}/{request_id}/{safe_name(audit_id, 'audit id')}.json"


def audit_records_path(request_id: str) -> str:
    """The audit-records shard of a request's audits (16 shards: audits are one in every few results)."""
    return f"{AUDIT_RECORDS_DIR}/{shard(request_id)[0]}.jsonl"


QUARANTINE_DIR = "quarantine"


def quarantine_path(path: str, digest: str) -> str:
    """Where a damaged file's bytes are set aside when the store rewrites it (same repo, never read back)."""
    return f"{QUARANTINE_DIR}/{path}.{digest}"


def throughput_path(request_id: str) -> str:
    return f"{THROUGHPUT_DIR}/{shard(request_id)}/{request_id}.json"


def throughput_predictions_path(request_id: str, eval_set: str) -> str:
    return f"{THROUGHPUT_DIR}/{shard(request_id)}/{request_id}/{safe_name(eval_set, 'eval set name')}.jsonl"


def throughput_records_path(shard_name: str) -> str:
    return f"{THROUGHPUT_RECORDS_DIR}/{shard_name}.jsonl"
