"""The production store: two dataset repos on the Hugging Face Hub, the same files as the local store.

requests repo: `requests/<request_id>.json`, `log.jsonl`
results repo:  `results/<request_id>.json`, `predictions/<request_id>/<set>.jsonl`, `leaderboard.csv`, `README.md`

Reads: `dataset_info` gives each repo's head commit sha (and its file list); the files are then fetched with
ONE `snapshot_download(revision=<that sha>)` per repo, so a read is consistent and names the commit it read.
Parsed trees are cached by commit sha: reading an unchanged repo costs one `dataset_info` call.
Transactions only download the requests repo (request files and the log); the ids of stored results come
from the results repo's file list, so a claim or heartbeat never downloads results or predictions.

Writes: `create_commit` with several files in one atomic commit and `parent_commit=<the sha we read>`.
The Hub answers 412 when the branch moved since; that becomes `Conflict`, and the base class re-reads and
recomputes, so two workers can never both win a claim and no update is lost. A finish writes the results repo
first (result, predictions, consolidated table, card; its own commit, also with `parent_commit`), then the
requests repo. If the second commit conflicts, the retried transaction finds the identical result already
stored and does not commit it again. Results are keyed by request id, so any rewrite is idempotent.

Errors: 429 and 5xx (and network errors) are retried with bounded exponential backoff that honours
`Retry-After`. A commit that failed ambiguously (the server may have applied it) and then meets a 412 is
checked: if the log now holds our entries, the write succeeded. The token is never logged or put in a message.
"""

from __future__ import annotations

import email.utils
import importlib
import logging
import os
import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import (
    HfHubHTTPError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from core.dataset_card import CARD_FILE, TABLE_FILE, CardInfo, consolidated_table, parse_front_matter, render_card
from core.redaction import redact
from core.records import LogEntry, PredictionRow, Request, Result, ThroughputResult, read_jsonl, write_jsonl
from core import layout
from core.store.base import Changes, Conflict, Snapshot, Store, StoreError, StoreState

if TYPE_CHECKING:
    from core.config import LeaderboardConfig

logger = logging.getLogger(__name__)

REPO_TYPE = "dataset"
CREATE_REPOS_ENV = "LEADERBOARD_CREATE_REPOS"
CACHE_DIR_ENV = "LEADERBOARD_HUB_CACHE"

_REQUESTS_PATTERNS = [f"{layout.REQUESTS_DIR}/*.json", layout.LOG_FILE]
_RESULTS_PATTERNS = [f"{layout.RESULTS_DIR}/*.json", TABLE_FILE, CARD_FILE]

_T = TypeVar("_T")


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Network-level errors of whichever HTTP client this huggingface_hub uses (httpx2 in 2.x, httpx in 1.x)."""
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module_name in ("httpx2", "httpx"):
        try:
            found.append(importlib.import_module(module_name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


_TRANSPORT_ERRORS = _transport_errors()


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff for transient Hub errors (429, 5xx, network)."""

    attempts: int = 6
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return max(0.0, retry_after)
        return min(self.max_delay_s, self.base_delay_s * 2**attempt) * (0.5 + random.random() / 2)


def _status(exc: HfHubHTTPError) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (`Retry-After`: seconds or an HTTP date), if it said."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True)
class _RequestsTree:
    """The requests repo at one commit, parsed."""

    sha: str
    requests: dict[str, Request]
    log: list[LogEntry]
    log_text: str


@dataclass(frozen=True)
class _ResultsTree:
    """The results repo at one commit, parsed (predictions are fetched on demand, not here)."""

    sha: str
    results: dict[str, Result]
    raw: dict[str, str]
    files: frozenset[str]
    table: str | None
    card: str | None


class HubStore(Store):
    """Requests and results in two Hub dataset repos; see the module doc for the read and write protocol."""

    #: How many parsed commits of each repo to keep (the head and the one a transaction is writing against).
    cache_size = 4
    #: How often a worker persists progress (each heartbeat is a commit; the Hub has an hourly commit quota per
    #: repo, so a few workers at 2 s would be throttled). `evaluator.job` reads this attribute.
    progress_interval_s = 120.0

    def __init__(
        self,
        requests_repo: str,
        results_repo: str,
        *,
        token: str | None = None,
        api: Any | None = None,
        create_repos: bool = False,
        private: bool = False,
        card: CardInfo | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not requests_repo or not results_repo or requests_repo == results_repo:
            raise StoreError("set REQUESTS_REPO and RESULTS_REPO to two different dataset repos (owner/name)")
        self.requests_repo = requests_repo
        self.results_repo = results_repo
        self._token = token or None
        self.api = api if api is not None else HfApi(token=self._token)
        self.card = card
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.retry = retry or RetryPolicy()
        self._lock = threading.RLock()
        self._cache_lock = threading.Lock()
        self._requests_cache: OrderedDict[str, _RequestsTree] = OrderedDict()
        self._results_cache: OrderedDict[str, _ResultsTree] = OrderedDict()
        logger.info("Hub store: requests in dataset %s, results in dataset %s", requests_repo, results_repo)
        if create_repos:
            self.create_repos(private=private)

    def __repr__(self) -> str:
        return f"HubStore(requests_repo={self.requests_repo!r}, results_repo={self.results_repo!r})"

    @classmethod
    def from_config(cls, config: LeaderboardConfig, env: Mapping[str, str] | None = None) -> HubStore:
        """The store the config names. `HF_TOKEN` authenticates; `LEADERBOARD_CREATE_REPOS=1` creates missing
        repos; the card publishes `RESULTS_PUBLIC_KEY` (or the key derived from `RESULTS_SIGNING_KEY`)."""
        from core.signing import public_key_from_env

        env = os.environ if env is None else env
        if not config.store.requests_repo or not config.store.results_repo:
            raise StoreError("the Hub store needs both REQUESTS_REPO and RESULTS_REPO")
        return cls(
            config.store.requests_repo,
            config.store.results_repo,
            token=env.get("HF_TOKEN") or None,
            create_repos=env.get(CREATE_REPOS_ENV, "").strip().lower() in {"1", "true", "yes"},
            card=CardInfo.from_config(config, public_key=public_key_from_env(env)),
            cache_dir=env.get(CACHE_DIR_ENV) or None,
        )

    # --- calling the Hub ---------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return redact(text, [self._token])

    def _call(
        self,
        what: str,
        repo_id: str,
        fn: Callable[..., _T],
        *args: Any,
        landed: Callable[[], bool] | None = None,
        **kwargs: Any,
    ) -> _T | None:
        """Call the Hub, retrying transient failures; map the rest to store errors that say what to do.

        A 412 becomes `Conflict`, unless an earlier try of this same call failed ambiguously and `landed()`
        shows that it was applied after all (then None is returned: the write is done).
        """
        ambiguous = False
        for attempt in range(self.retry.attempts):
            try:
                return fn(*args, **kwargs)
            except OfflineModeIsEnabled as exc:
                raise StoreError(f"cannot {what} on {repo_id}: HF_HUB_OFFLINE is set; unset it to use the Hub") from exc
            except HfHubHTTPError as exc:
                status = _status(exc)
                if status == 412:
                    if ambiguous and landed is not None and landed():
                        logger.info("Hub %s on %s: an earlier try was applied after all", what, repo_id)
                        return None
                    raise Conflict(f"{repo_id} moved while we were writing ({what}); re-reading") from exc
                if status == 429 or (status is not None and status >= 500):
                    ambiguous = ambiguous or status != 429  # a 5xx may have been applied; a 429 was not
                    self._backoff(what, repo_id, attempt, exc, str(status))
                    continue
                raise self._store_error(what, repo_id, exc) from exc
            except _TRANSPORT_ERRORS as exc:
                ambiguous = True
                self._backoff(what, repo_id, attempt, exc, type(exc).__name__)
        raise AssertionError("unreachable")  # pragma: no cover - _backoff raises on the last attempt

    def _backoff(self, what: str, repo_id: str, attempt: int, exc: BaseException, reason: str) -> None:
        retry_after = _retry_after(exc)
        if attempt + 1 >= self.retry.attempts:
            raise StoreError(
                f"the Hub kept failing on {what} for {repo_id} ({reason}) after {self.retry.attempts} tries; "
                "check https://status.huggingface.co and try again later"
            ) from exc
        if retry_after is not None and retry_after > self.retry.max_delay_s:
            raise StoreError(
                f"the Hub rate-limited {what} for {repo_id} and asks to wait {retry_after:.0f}s; try again later"
            ) from exc
        delay = self.retry.delay(attempt, retry_after)
        logger.warning(
            "Hub %s on %s failed (%s); retry %d/%d in %.1fs",
            what,
            repo_id,
            reason,
            attempt + 1,
            self.retry.attempts - 1,
            delay,
        )
        self.retry.sleep(delay)

    def _store_error(self, what: str, repo_id: str, exc: HfHubHTTPError) -> StoreError:
        status = _status(exc)
        if isinstance(exc, RepositoryNotFoundError) or status == 404:
            return StoreError(
                f"dataset repo {repo_id} was not found or HF_TOKEN cannot read it ({what}); create it "
                f"(or start once with {CREATE_REPOS_ENV}=1) and give the token access"
            )
        if status in (401, 403):
            return StoreError(
                f"HF_TOKEN is not allowed to {what} on {repo_id} ({status}); use a token with write access"
            )
        if isinstance(exc, RevisionNotFoundError):
            return Conflict(f"{repo_id} moved while we were reading ({what}); re-reading")
        first_line = self._redact(str(exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return StoreError(f"the Hub refused {what} on {repo_id} ({status}): {first_line}")

    def _head(self, repo_id: str) -> tuple[str, frozenset[str]]:
        """The head commit sha of a repo and the paths of its files, in one call."""
        info = self._call("dataset_info", repo_id, self.api.dataset_info, repo_id)
        if info is None or not info.sha:
            raise StoreError(f"the Hub returned no commit for {repo_id}; does the repo have any commit?")
        return info.sha, frozenset(s.rfilename for s in (info.siblings or []))

    def _download(self, repo_id: str, sha: str, patterns: list[str]) -> Path:
        folder = self._call(
            "snapshot_download",
            repo_id,
            self.api.snapshot_download,
            repo_id,
            repo_type=REPO_TYPE,
            revision=sha,
            allow_patterns=patterns,
            cache_dir=self.cache_dir,
        )
        return Path(str(folder))

    # --- reading -----------------------------------------------------------------------------------

    def _cached(self, cache: OrderedDict[str, Any], sha: str, load: Callable[[], _T]) -> _T:
        with self._cache_lock:
            if sha in cache:
                cache.move_to_end(sha)
                return cache[sha]
        value = load()
        with self._cache_lock:
            cache[sha] = value
            while len(cache) > self.cache_size:
                cache.popitem(last=False)
        return value

    def _requests_tree(self, sha: str) -> _RequestsTree:
        def load() -> _RequestsTree:
            folder = self._download(self.requests_repo, sha, _REQUESTS_PATTERNS)
            requests: dict[str, Request] = {}
            for path in sorted((folder / layout.REQUESTS_DIR).glob("*.json")):
                request = Request.from_json(path.read_bytes())
                requests[request.request_id] = request
            log_path = folder / layout.LOG_FILE
            log_text = log_path.read_text(encoding="utf-8") if log_path.exists() else ""
            return _RequestsTree(sha=sha, requests=requests, log=read_jsonl(LogEntry, log_text), log_text=log_text)

        return self._cached(self._requests_cache, sha, load)

    def _results_tree(self, sha: str, files: frozenset[str]) -> _ResultsTree:
        def load() -> _ResultsTree:
            folder = self._download(self.results_repo, sha, _RESULTS_PATTERNS)
            raw = {p.stem: p.read_text(encoding="utf-8") for p in sorted((folder / layout.RESULTS_DIR).glob("*.json"))}
            table, card = folder / TABLE_FILE, folder / CARD_FILE
            return _ResultsTree(
                sha=sha,
                results={request_id: Result.from_json(text) for request_id, text in raw.items()},
                raw=raw,
                files=files,
                table=table.read_text(encoding="utf-8") if table.exists() else None,
                card=card.read_text(encoding="utf-8") if card.exists() else None,
            )

        return self._cached(self._results_cache, sha, load)

    @staticmethod
    def _result_ids(files: Iterable[str]) -> frozenset[str]:
        ids = set()
        for name in files:
            path = PurePosixPath(name)
            if len(path.parts) == 2 and path.parts[0] == layout.RESULTS_DIR and path.suffix == ".json":
                ids.add(path.stem)
        return frozenset(ids)

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        # Conflicts between processes are detected by the Hub (parent_commit); this lock only spares threads of
        # one process from racing each other into pointless 412s.
        with self._lock:
            yield

    def _read_state(self) -> tuple[StoreState, str]:
        requests_sha, _ = self._head(self.requests_repo)
        results_sha, results_files = self._head(self.results_repo)
        tree = self._requests_tree(requests_sha)
        state = StoreState(requests=tree.requests, result_ids=self._result_ids(results_files), log=tree.log)
        return state, f"{requests_sha}:{results_sha}"

    def snapshot(self) -> Snapshot:
        requests_sha, _ = self._head(self.requests_repo)
        results_sha, results_files = self._head(self.results_repo)
        requests = self._requests_tree(requests_sha)
        results = self._results_tree(results_sha, results_files)
        return Snapshot(
            requests=requests.requests,
            results=results.results,
            log=requests.log,
            version=f"{requests_sha}:{results_sha}",
        )

    def predictions(self, request_id: str, eval_set: str) -> list[PredictionRow]:
        path = layout.predictions_path(request_id, eval_set)
        sha, files = self._head(self.results_repo)
        if path not in files:
            raise FileNotFoundError(
                f"no predictions for request {request_id} on eval set {eval_set} in {self.results_repo}"
            )
        local = self._call(
            "hf_hub_download",
            self.results_repo,
            self.api.hf_hub_download,
            self.results_repo,
            path,
            repo_type=REPO_TYPE,
            revision=sha,
            cache_dir=self.cache_dir,
        )
        return read_jsonl(PredictionRow, Path(str(local)).read_text(encoding="utf-8"))

    def predictions_url(self, request_id: str, eval_set: str) -> str:
        endpoint = str(getattr(self.api, "endpoint", None) or "https://huggingface.co").rstrip("/")
        return f"{endpoint}/datasets/{self.results_repo}/blob/main/{layout.predictions_path(request_id, eval_set)}"

    def throughput_results(self) -> dict[str, ThroughputResult]:
        """The throughput records at the results repo's head (downloaded apart from the batch-one results)."""
        sha, files = self._head(self.results_repo)
        if not any(PurePosixPath(f).parts[0] == layout.THROUGHPUT_DIR for f in files):
            return {}
        folder = self._download(self.results_repo, sha, [f"{layout.THROUGHPUT_DIR}/*.json"])
        paths = sorted((folder / layout.THROUGHPUT_DIR).glob("*.json"))
        return {p.stem: ThroughputResult.from_json(p.read_bytes()) for p in paths}

    # --- writing -----------------------------------------------------------------------------------

    def _put_throughput_files(self, files: Mapping[str, str], message: str) -> None:
        """One commit to the results repo on top of its head; a concurrent commit makes it fail, not clobber."""
        head, _ = self._head(self.results_repo)
        self._commit(self.results_repo, files, head, message)


    def _commit(
        self,
        repo_id: str,
        files: Mapping[str, str | bytes],
        parent: str,
        message: str,
        landed: Callable[[], bool] | None = None,
    ) -> None:
        def operations() -> list[CommitOperationAdd]:
            # Fresh objects per try: create_commit mutates the operations it is given.
            return [
                CommitOperationAdd(
                    path_in_repo=path, path_or_fileobj=data.encode("utf-8") if isinstance(data, str) else data
                )
                for path, data in files.items()
            ]

        def attempt() -> Any:
            return self.api.create_commit(
                repo_id,
                operations(),
                commit_message=message,
                repo_type=REPO_TYPE,
                parent_commit=parent,
            )

        self._call("create_commit", repo_id, attempt, landed=landed)

    def _write(self, token: str, changes: Changes) -> None:
        requests_sha, _, results_sha = token.partition(":")
        if changes.results:
            self._write_results(results_sha, changes.results)
        else:
            # A lease-expiry decision depends on which results exist; refuse to act on a stale view of them.
            current, _ = self._head(self.results_repo)
            if current != results_sha:
                raise Conflict(f"{self.results_repo} moved since we read it; re-reading")
        if not (changes.requests or changes.log):
            return
        tree = self._requests_tree(requests_sha)
        files: dict[str, str] = {layout.request_path(r.request_id): r.to_json() for r in changes.requests}
        if changes.log:
            files[layout.LOG_FILE] = tree.log_text + write_jsonl(changes.log)
        self._commit(
            self.requests_repo,
            files,
            requests_sha,
            _message(changes),
            landed=(lambda: self._log_has(changes.log)) if changes.log else None,
        )

    def _log_has(self, entries: Sequence[LogEntry]) -> bool:
        """Whether the log at the head already holds `entries` (our commit was applied despite an error)."""
        sha, _ = self._head(self.requests_repo)
        log = self._requests_tree(sha).log
        last = entries[-1]
        return len(log) >= last.seq and log[last.seq - 1].hash == last.hash

    def _write_results(
        self, results_sha: str, results: Sequence[tuple[Result, Mapping[str, Sequence[PredictionRow]]]]
    ) -> None:
        """One commit to the results repo: new results, their predictions, the table and the card."""
        head, head_files = self._head(self.results_repo)
        if head != results_sha:
            raise Conflict(f"{self.results_repo} moved since we read it; re-reading")
        tree = self._results_tree(results_sha, head_files)
        files: dict[str, str] = {}
        merged = dict(tree.results)
        for result, predictions in results:
            text = result.to_json()
            merged[result.request_id] = result
            paths = {
                layout.predictions_path(result.request_id, name): write_jsonl(rows)
                for name, rows in predictions.items()
            }
            if tree.raw.get(result.request_id) == text and set(paths) <= tree.files:
                continue  # a retried finish: this exact result and its predictions are already stored
            files.update(paths)
            files[layout.result_path(result.request_id)] = text
        eval_sets = tuple(self.card.eval_sets) if self.card else ()
        table = consolidated_table(merged.values(), eval_sets)
        if table != tree.table:
            files[TABLE_FILE] = table
        card = self._card_update(tree.card)
        if card is not None:
            files[CARD_FILE] = card
        if not files:
            return
        ids = ", ".join(r.request_id for r, _ in results)
        self._commit(self.results_repo, files, results_sha, f"Result for {ids}")

    def _card_update(self, existing: str | None) -> str | None:
        """The new README.md, or None to leave the card as it is.

        A process without a public key never overwrites a card, and one whose key differs from the published
        key never replaces it: rotating the key is a deliberate act (`publish_card(force=True)`), because every
        result signed before would stop verifying against the card.
        """
        if self.card is None:
            return None
        rendered = render_card(self.card)
        if rendered == existing:
            return None
        if existing is not None:
            published = parse_front_matter(existing).get("public_key")
            if self.card.public_key is None:
                return None
            if published and published != self.card.public_key:
                logger.warning(
                    "the results card of %s publishes another public key than this process signs with; "
                    "its results will not verify until the card is updated deliberately",
                    self.results_repo,
                )
                return None
        return rendered

    # --- setup -------------------------------------------------------------------------------------

    def create_repos(self, private: bool = False) -> None:
        """Create both dataset repos if they are missing, and publish the card if the results repo has none."""
        for repo_id in (self.requests_repo, self.results_repo):
            self._call(
                "create_repo",
                repo_id,
                self.api.create_repo,
                repo_id,
                repo_type=REPO_TYPE,
                exist_ok=True,
                private=private,
            )
        self.publish_card()

    def publish_card(self, force: bool = False) -> bool:
        """Write README.md (and the table) to the results repo now; True if a commit was made.

        `force=True` replaces a card that publishes another key (a deliberate key rotation).
        """
        if self.card is None:
            return False
        for _ in range(self.max_conflict_retries):
            sha, files = self._head(self.results_repo)
            tree = self._results_tree(sha, files)
            card = render_card(self.card) if force else self._card_update(tree.card)
            changes: dict[str, str] = {}
            if card is not None and card != tree.card:
                changes[CARD_FILE] = card
            table = consolidated_table(tree.results.values(), tuple(self.card.eval_sets))
            if table != tree.table:
                changes[TABLE_FILE] = table
            if not changes:
                return False
            try:
                self._commit(self.results_repo, changes, sha, "Update the dataset card")
                return True
            except Conflict:
                continue
        raise StoreError(f"{self.results_repo} kept changing while publishing the card; try again later")


def _message(changes: Changes) -> str:
    """A commit title that says what happened (`claimed req-0001`), with a unique id for tracing retries."""
    events = [f"{e.event} {e.request_id}" for e in changes.log] or [f"update {r.request_id}" for r in changes.requests]
    summary = "; ".join(events[:3]) + (f" (+{len(events) - 3})" if len(events) > 3 else "")
    return f"{summary} [txn {uuid.uuid4().hex[:12]}]"
