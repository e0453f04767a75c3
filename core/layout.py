"""File paths inside the two dataset repos; the local store uses the same paths under two folders.

requests repo: `requests/<request_id>.json`, `log.jsonl`
results repo:  `results/<request_id>.json`, `predictions/<request_id>/<eval_set>.jsonl`,
               `audits/<request_id>/<audit_id>.json` (one signed record per audit of that entry),
               `throughput/<request_id>.json`, `throughput/<request_id>/<eval_set>.jsonl` (R14: the throughput
               track lives in its own folder, so nothing that reads `results/` can ever see it)
local store:   `<root>/requests/` holds the requests repo's files, `<root>/results/` the results repo's

A leaf module (it imports nothing of the project), so the stores, the dataset card and `verify` all import it
plainly, without a cycle through `core.store`.
"""

from __future__ import annotations

import re

LOG_FILE = "log.jsonl"
LOCAL_REQUESTS_DIR = "requests"
LOCAL_RESULTS_DIR = "results"
REQUESTS_DIR = "requests"
RESULTS_DIR = "results"
PREDICTIONS_DIR = "predictions"
AUDITS_DIR = "audits"
THROUGHPUT_DIR = "throughput"

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def safe_name(value: str, what: str) -> str:
    """Refuse names that could escape a folder or clash on case-insensitive file systems' separators."""
    if not _SAFE.match(value) or ".." in value:
        raise ValueError(f"{what} {value!r} may only contain letters, digits, '.', '_' and '-'")
    return value


def request_path(request_id: str) -> str:
    return f"{REQUESTS_DIR}/{safe_name(request_id, 'request id')}.json"


def result_path(request_id: str) -> str:
    return f"{RESULTS_DIR}/{safe_name(request_id, 'request id')}.json"


def predictions_path(request_id: str, eval_set: str) -> str:
    return f"{PREDICTIONS_DIR}/{safe_name(request_id, 'request id')}/{safe_name(eval_set, 'eval set name')}.jsonl"


def audit_path(request_id: str, audit_id: str) -> str:
    return f"{AUDITS_DIR}/{safe_name(request_id, 'request id')}/{safe_name(audit_id, 'audit id')}.json"


def throughput_path(request_id: str) -> str:
    return f"{THROUGHPUT_DIR}/{safe_name(request_id, 'request id')}.json"


def throughput_predictions_path(request_id: str, eval_set: str) -> str:
    return f"{THROUGHPUT_DIR}/{safe_name(request_id, 'request id')}/{safe_name(eval_set, 'eval set name')}.jsonl"
