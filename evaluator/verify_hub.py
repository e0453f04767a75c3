"""What `python -m evaluator verify owner/name` reads from the Hub by default: what the signatures and the log need.

A results repo of 10,000 entries holds about 185,000 files (a result, its predictions and maybe audits per
entry), but every signed result is repeated in the 256 records shards the board reads. So, by default, verify
fetches only:

- from the requests repo (`--requests-repo`): the log chunks (`log/<nnnnnn>.jsonl`, or layout 1's `log.jsonl`);
- from the results repo: `records/<xx>.jsonl`, `throughput-records/<xx>.jsonl`, `leaderboard/<xx>.csv`,
  `audit-records/<x>.jsonl` and `README.md` (the card that publishes the public key); on a board written before
  the audit-records shards, the audit records the log names one by one (without a log: those `audits.csv` lists).

Each repo is read at one commit (its head, asked once): one listing per folder (`records/`, `throughput-records/`,
`leaderboard/`, `audit-records/`, `log/`: one request per 1,000 entries), then one GET per file through huggingface_hub's own HTTP session (no HEAD,
nothing written to the download cache), eight at a time, with the store's retries of 429/5xx and dropped
connections (`openasr_core.store.hub_http`). The requests repo is read first: the results repo is always written before
the log event that names what it got, so every audit record the log names is in the results commit read after.

The files are written under a scratch folder in the repos' own layout, so `evaluator.verify` checks them with the
same code it checks a local folder with. The cost is bounded by the number of shards, log chunks and audits, never
by the number of results: `tests/evaluator/test_verify_hub.py` counts it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from huggingface_hub import HfApi, get_token, hf_hub_url
from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError
from huggingface_hub.hf_api import RepoFile
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

from openasr_core import layout
from openasr_core.audits import AUDIT_EVENTS
from openasr_core.dataset_card import AUDITS_TABLE_FILE, CARD_FILE
from openasr_core.store.errors import StoreError
from openasr_core.store.hub_http import HubCaller, RetryPolicy
from openasr_core.throughput_table import THROUGHPUT_TABLE_FILE

REPO_TYPE = "dataset"
#: Downloads in flight at once (what `snapshot_download` uses by default).
WORKERS = 8

_T = TypeVar("_T")


class HubReadError(RuntimeError):
    """A repo could not be read (missing, private without a token, or the Hub kept failing)."""


@dataclass
class HubRepoFiles:
    """One dataset repo at its head commit: folder listings and one-GET downloads into `folder`."""

    repo_id: str
    folder: Path
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    commit: str = ""
    fetched: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._token = get_token()
        self._call = HubCaller(self.retry, self._token)
        self.api = HfApi(token=self._token)
        self.commit = self._run("read the head of", self._head)

    def _run(self, what: str, fn: Callable[[], _T]) -> _T:
        try:
            found = self._call(what, self.repo_id, fn)
        except StoreError as exc:
            raise HubReadError(f"could not {what} {self.repo_id}: {exc}") from exc
        assert found is not None  # reads never take the `landed` path that returns None
        return found

    def _head(self) -> str:
        try:
            refs = self.api.list_repo_refs(self.repo_id, repo_type=REPO_TYPE)
        except RepositoryNotFoundError as exc:
            raise HubReadError(
                f"{self.repo_id} is not a dataset repo on the Hub that this machine can read (a private repo needs "
                "HF_TOKEN)"
            ) from exc
        for branch in refs.branches:
            if branch.name == "main":
                return str(branch.target_commit)
        raise HubReadError(f"{self.repo_id} has no main branch; does the repo have any commit?")

    def listing(self, folder: str, suffix: str = ".jsonl") -> list[str]:
        """The files directly in `folder` (not below it) whose names end with `suffix`; [] when it is absent."""

        def listed() -> list[str]:
            try:
                entries = self.api.list_repo_tree(self.repo_id, folder, repo_type=REPO_TYPE, revision=self.commit)
                return [e.path for e in entries if isinstance(e, RepoFile) and e.path.endswith(suffix)]
            except EntryNotFoundError:
                return []

        return sorted(self._run(f"list {folder}/ of", listed))

    def get(self, path: str) -> bytes | None:
        """One file at the pinned commit (one GET); None when it is not there."""
        url = hf_hub_url(self.repo_id, path, repo_type=REPO_TYPE, revision=self.commit, endpoint=self.api.endpoint)
        headers = build_hf_headers(token=self._token, library_name="open-asr-leaderboard-verify")

        def fetch() -> bytes | None:
            response = get_session().get(url, headers=headers)
            try:
                hf_raise_for_status(response)
            except EntryNotFoundError:
                return None
            return response.content

        try:
            return self._call(f"download {path}", self.repo_id, fetch)
        except StoreError as exc:
            raise HubReadError(f"could not download {path} of {self.repo_id}: {exc}") from exc

    def download(self, paths: Iterable[str]) -> list[str]:
        """Write each file that exists under `folder` at its repo path; the paths that were there."""
        wanted = [p for p in dict.fromkeys(paths) if _safe_path(p)]
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            contents = list(pool.map(self.get, wanted))
        found = []
        for path, data in zip(wanted, contents, strict=True):
            if data is None:
                continue
            target = self.folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            found.append(path)
        self.fetched.extend(found)
        return found

    def describe(self) -> str:
        return f"{self.repo_id} at {self.commit[:12]}: {len(self.fetched)} file(s)"


def _safe_path(path: str) -> bool:
    """A repo path that stays inside the scratch folder (names come from listings and the log: not trusted)."""
    try:
        return all(layout.safe_name(part, "path part") for part in path.split("/"))
    except ValueError:
        return False


def fetch_log(repo_id: str, folder: Path, retry: RetryPolicy | None = None) -> HubRepoFiles:
    """The requests repo's log chunks under `folder` (`log/`, else layout 1's `log.jsonl`)."""
    repo = HubRepoFiles(repo_id, folder, retry or RetryPolicy())
    chunks = repo.listing(layout.LOG_DIR)
    if not repo.download(chunks or [layout.LEGACY_LOG_FILE]):
        raise HubReadError(f"{repo_id} has no {layout.LOG_DIR}/ (nor log.jsonl); is it the requests repo?")
    return repo


def fetch_results(repo_id: str, folder: Path, log: Path | None, retry: RetryPolicy | None = None) -> HubRepoFiles:
    """The results repo's records and throughput records shards, table, card and the audit records the log
    names (or, without a log, those `audits.csv` lists) under `folder`."""
    repo = HubRepoFiles(repo_id, folder, retry or RetryPolicy())
    shards = repo.listing(layout.RECORDS_DIR) + repo.listing(layout.THROUGHPUT_RECORDS_DIR)
    tables = repo.listing(layout.TABLE_DIR, ".csv") or [layout.LEGACY_TABLE_FILE]
    audit_shards = repo.listing(layout.AUDIT_RECORDS_DIR)
    per_record = not audit_shards  # a board written before the audit-records shards
    derived = [AUDITS_TABLE_FILE, THROUGHPUT_TABLE_FILE]  # the card's `audits` and `throughput` configs
    repo.download([CARD_FILE, *tables, *shards, *audit_shards, *derived])
    if per_record:
        repo.download(audits_named_by_log(log) if log is not None else audits_listed(folder / AUDITS_TABLE_FILE))
    return repo


def audits_named_by_log(log: Path) -> list[str]:
    """`audits/<xx>/<id>/<audit_id>.json` of every audit event in the log (lines that do not parse are left to
    verify's log check)."""
    chunks = sorted(log.glob("*.jsonl")) if log.is_dir() else [log]
    paths = []
    for chunk in chunks:
        for line in chunk.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
                if entry.get("event") in AUDIT_EVENTS:
                    paths.append(layout.audit_path(str(entry["request_id"]), str(entry["detail"]["audit_id"])))
            except (ValueError, TypeError, KeyError, AttributeError):
                continue
    return paths


def audits_listed(table: Path) -> list[str]:
    """The `audit_file` column of `audits.csv` (its rows name each published audit record)."""
    if not table.is_file():
        return []
    with open(table, encoding="utf-8", errors="replace", newline="") as handle:
        return [row["audit_file"] for row in csv.DictReader(handle) if row.get("audit_file", "").endswith(".json")]
