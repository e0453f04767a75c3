"""The production store: two Hub dataset repos holding the same files as the local store (`openasr_core.layout`).

Reads cost a bounded number of HTTP requests whatever the number of entries. A read asks the requests repo's
head (`list_repo_refs`: one small request); when it moved, it GETs `state.json` at that commit, the last log
chunk, and only the shards whose digest changed (`openasr_core.store.requests_repo`). The board's results come from
the records shards of the results commit that `state.json` names, fetched only for FINISHED requests whose
result it does not hold yet: after a finish, one shard. One result's file and predictions are fetched only
when the detail page or `verify` asks. Files are fetched straight from `resolve/<commit>/<path>` through
huggingface_hub's own HTTP session (one GET each, no HEAD, nothing written to a download cache), and parsed
state is kept in memory by commit. After our own commit, the new state is seeded under the commit's oid, so
reading our own write costs one head request.

Writes: `create_commit` of several files with `parent_commit=<the commit we read>`; the Hub answers 412 when
the branch moved, which becomes `Conflict`, and the base class re-reads and recomputes, so two workers never
both win a claim and no update is lost. Every write changes `state.json` (it carries a transaction id), so a
commit is never empty (the client drops unchanged files and, when nothing is left, would return the head
without checking `parent_commit`). A finish commits the results repo first (result, predictions, records
shard, table) and then the requests repo, whose `state.json` names that results commit; a retried finish finds
the identical result stored and does not commit it again. An audit does the same with its record
(`audits/<xx>/<id>/<audit_id>.json`, table untouched); readers fetch the records the log's audit events name.

Errors: whatever their type (HTTP 408/429/5xx, a dropped connection, the client's `LocalEntryNotFoundError`),
transient failures are retried with bounded backoff that honours the `RateLimit` header (`"api";r=0;t=55`) and
`Retry-After`. A missing revision is told apart from a missing repo. A commit that failed ambiguously and then
meets a 412 is checked: if the head holds our log entries, the write succeeded. The token is never logged or
put in a message.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from huggingface_hub import CommitOperation, CommitOperationAdd, CommitOperationDelete, HfApi, hf_hub_url
from huggingface_hub.errors import EntryNotFoundError
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

from openasr_core import layout
from openasr_core.audits import latest_audits
from openasr_core.dataset_card import (
    AUDITS_TABLE_FILE,
    CARD_FILE,
    CardInfo,
    audits_table,
    board_columns,
    claims_shard,
    parse_front_matter,
    render_card,
    table_shard,
)
from openasr_core.records import AuditRecord, EvalSetSource, LogEntry, PredictionRow, Result, Status, read_jsonl
from openasr_core.store.bad_files import log_damaged, parse_record
from openasr_core.store.base import Changes, Clock, Conflict, Snapshot, Store, StoreError, StoreState
from openasr_core.store.hub_http import CREATE_REPOS_ENV, HubCaller, RetryPolicy
from openasr_core.store.repo_files import (
    AuditsReader,
    Fetch,
    ResultsReader,
    ResultsWrite,
    Tail,
    audit_files,
    audit_shard_records,
    read_pins,
    results_files,
    table_header,
)
from openasr_core.store.requests_repo import (
    LayoutError,
    Log,
    Lookup,
    Requests,
    RequestsReader,
    RequestsView,
    requests_files,
)
from openasr_core.throughput_table import THROUGHPUT_TABLE_FILE, throughput_table

if TYPE_CHECKING:
    from openasr_core.config import LeaderboardConfig

__all__ = ["CREATE_REPOS_ENV", "HubStore", "RetryPolicy"]

logger = logging.getLogger(__name__)

REPO_TYPE = "dataset"
#: The first byte range a predictions preview asks for (200 rows of a typical eval set hold about 40 KB).
PREVIEW_BYTES = 64 * 1024


class HubStore(Store):
    """Requests and results in two Hub dataset repos; see the module doc for the read and write protocol."""

    writes_audits = True
    #: How many parsed commits of the requests repo to keep (the head and the one a transaction writes against).
    cache_size = 4
    #: How often a worker persists progress (each heartbeat is a commit; see the README's commit budget).
    #: `evaluator.job` reads this attribute.
    progress_interval_s = 300.0

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
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not requests_repo or not results_repo or requests_repo == results_repo:
            raise StoreError("set REQUESTS_REPO and RESULTS_REPO to two different dataset repos (owner/name)")
        self.requests_repo = requests_repo
        self.results_repo = results_repo
        self._token = token or None
        self.api = api if api is not None else HfApi(token=self._token)
        self.card = card
        self.retry = retry or RetryPolicy()
        self._call = HubCaller(self.retry, self._token)
        if clock is not None:
            self.clock = clock
        self._lock = threading.RLock()
        self._cache_lock = threading.Lock()
        self._views: OrderedDict[str, RequestsView] = OrderedDict()
        self._requests_reader = RequestsReader()
        self._results_reader = ResultsReader()
        self._audits_reader = AuditsReader()
        self._throughput_cache: dict[str, Any] = {}
        self._results_seen: set[str] = set()
        logger.info("Hub store: requests in dataset %s, results in dataset %s", requests_repo, results_repo)
        if create_repos:
            self.create_repos(private=private)

    def __repr__(self) -> str:
        return f"HubStore(requests_repo={self.requests_repo!r}, results_repo={self.results_repo!r})"

    @classmethod
    def from_config(cls, config: LeaderboardConfig, env: Mapping[str, str] | None = None) -> HubStore:
        """The store the config names. `HF_TOKEN` authenticates; `LEADERBOARD_CREATE_REPOS=1` creates missing
        repos; the card publishes `RESULTS_PUBLIC_KEY` (or the key derived from `RESULTS_SIGNING_KEY`)."""
        from openasr_core.signing import public_key_from_env

        env = os.environ if env is None else env
        if not config.store.requests_repo or not config.store.results_repo:
            raise StoreError("the Hub store needs both REQUESTS_REPO and RESULTS_REPO")
        return cls(
            config.store.requests_repo,
            config.store.results_repo,
            token=env.get("HF_TOKEN") or None,
            create_repos=env.get(CREATE_REPOS_ENV, "").strip().lower() in {"1", "true", "yes"},
            card=CardInfo.from_config(config, public_key=public_key_from_env(env)),
        )

    # --- calling the Hub ---------------------------------------------------------------------------

    def _head(self, repo_id: str) -> str:
        """The head commit of a repo's main branch: one small request."""
        refs = self._call("list_repo_refs", repo_id, lambda: self.api.list_repo_refs(repo_id, repo_type=REPO_TYPE))
        for branch in getattr(refs, "branches", None) or []:
            if branch.name == "main":
                return str(branch.target_commit)
        raise StoreError(f"{repo_id} has no main branch; does the repo have any commit?")

    def _get(
        self, repo_id: str, path: str, revision: str, first_bytes: int | None = None, from_byte: int | None = None
    ) -> tuple[bytes, str] | None:
        """One file at a revision (only its first `first_bytes` bytes, or its bytes from `from_byte` on, if
        given), and the commit it was read at; None if the file does not exist there."""
        url = hf_hub_url(repo_id, path, repo_type=REPO_TYPE, revision=revision, endpoint=self.api.endpoint)
        headers = build_hf_headers(token=self._token, library_name="open-asr-leaderboard")
        if first_bytes is not None:
            headers["Range"] = f"bytes=0-{first_bytes - 1}"
        elif from_byte is not None:
            headers["Range"] = f"bytes={from_byte}-"

        def fetch() -> tuple[bytes, str] | None:
            response = get_session().get(url, headers=headers)
            if response.status_code == 416:  # the range starts at the end: nothing was added
                return b"", response.headers.get("X-Repo-Commit", revision)
            try:
                hf_raise_for_status(response)
            except EntryNotFoundError:
                return None
            return response.content, response.headers.get("X-Repo-Commit", revision)

        return self._call(f"download {path}", repo_id, fetch)

    def _fetcher(self, repo_id: str, revision: str) -> Fetch:
        def fetch(path: str) -> bytes | None:
            found = self._get(repo_id, path, revision)
            return found[0] if found else None

        return fetch

    def _tail_fetcher(self, repo_id: str, revision: str) -> Tail:
        def tail(path: str, start: int) -> bytes | None:
            found = self._get(repo_id, path, revision, from_byte=start)
            return found[0] if found else None

        return tail

    # --- reading -----------------------------------------------------------------------------------

    def _view(self, sha: str) -> RequestsView:
        with self._cache_lock:
            if sha in self._views:
                self._views.move_to_end(sha)
                return self._views[sha]
        try:
            view = self._requests_reader.read(
                self._fetcher(self.requests_repo, sha), tail=self._tail_fetcher(self.requests_repo, sha)
            )
        except LayoutError as exc:
            raise StoreError(f"{self.requests_repo}: {exc}") from exc
        self._remember(sha, view)
        return view

    def _remember(self, sha: str, view: RequestsView) -> None:
        with self._cache_lock:
            self._views[sha] = view
            while len(self._views) > self.cache_size:
                self._views.popitem(last=False)

    def _stored_results(self, request_ids: Sequence[str]) -> set[str]:
        """Which of these requests' result files exist, in one request (the Hub's paths-info); a result, once
        stored, is remembered (it never goes away)."""
        unknown = [i for i in request_ids if i not in self._results_seen]
        if unknown:
            paths = {layout.result_path(i): i for i in unknown}

            def ask() -> list[str]:
                found = self.api.get_paths_info(self.results_repo, list(paths), repo_type=REPO_TYPE, revision="main")
                return [str(item.path) for item in found]

            self._results_seen.update(paths[p] for p in self._call("paths-info", self.results_repo, ask) or [])
        return {i for i in request_ids if i in self._results_seen}

    @contextmanager
    def _exclusive(self) -> Iterator[None]:
        # Conflicts between processes are detected by the Hub (parent_commit); this lock only spares threads of
        # one process from racing each other into pointless 412s.
        with self._lock:
            yield

    def _read_state(self) -> tuple[StoreState, str]:
        sha = self._head(self.requests_repo)
        view = self._view(sha)
        # Lease expiry asks whether a re-queued or expired request's result landed: all of them at once, once.
        candidates = (
            [i for i, e in view.requests.open.queue.items() if e.attempts > 0]
            if isinstance(view.requests, Requests)
            else []
        )
        stored: list[set[str]] = []

        def has(request_id: str) -> bool:
            if not stored:
                stored.append(self._stored_results(sorted({*candidates, request_id})))
            return request_id in stored[0] or (
                request_id not in candidates and bool(self._stored_results([request_id]))
            )

        self._lookup = Lookup(has)
        return StoreState(requests=view.requests, result_ids=self._lookup, log=view.log, log_length=view.last_seq), sha

    def _results_commit(self, view: RequestsView) -> str | None:
        if view.results_commit:
            return view.results_commit
        return self._head(self.results_repo) if view.closed else None  # a state from before it was recorded

    def snapshot(self) -> Snapshot:
        sha = self._head(self.requests_repo)
        view = self._view(sha)
        results_commit = self._results_commit(view)
        results: dict[str, Result] = {}
        audits: list[AuditRecord] = []
        finished = [i for i, r in view.requests.items() if r.status is Status.FINISHED]  # reads every shard
        log = list(view.log)  # and every chunk: the board shows them all
        bad = view.problems()
        if results_commit:
            fetch = self._fetcher(self.results_repo, results_commit)
            results = self._results_reader.read(fetch, results_commit, finished)
            audits = self._audits_reader.read(fetch, log, bad, every=log_damaged(bad))
            bad.extend(self._results_reader.bad_files())
        return Snapshot(
            requests=view.requests,
            results=results,
            log=log,
            version=f"{sha}:{results_commit}",
            audits=audits,
            damaged=tuple(str(b) for b in bad),
            log_length=view.last_seq,
        )

    def version_sources(self, version: str) -> list[EvalSetSource]:
        """From `pins.json` (one request), not from every result; a board written before it existed is read
        in full once (`Store.version_sources`), and gets the file with its next result."""
        head = self._head(self.results_repo)
        pins = read_pins(self._fetcher(self.results_repo, head)(layout.PINS_FILE))
        if pins is None:
            return super().version_sources(version)
        return pins.get(version, [])

    def result(self, request_id: str) -> Result | None:
        found = self._get(self.results_repo, layout.result_path(request_id), "main")
        return Result.from_json(found[0]) if found else None

    def predictions(self, request_id: str, eval_set: str, limit: int | None = None) -> list[PredictionRow]:
        """With `limit`, only the start of the file is downloaded (a byte range, doubled until it holds `limit`
        whole lines or the whole file): the detail page previews 200 rows of a file that may hold megabytes."""
        path = layout.predictions_path(request_id, eval_set)
        size = PREVIEW_BYTES
        while True:
            found = self._get(self.results_repo, path, "main", first_bytes=size if limit else None)
            if found is None:
                raise FileNotFoundError(
                    f"no predictions for request {request_id} on eval set {eval_set} in {self.results_repo}"
                )
            data, _ = found
            whole = limit is None or len(data) != size  # shorter: the whole file; longer: the range was ignored
            lines = data.decode("utf-8", errors="replace").splitlines(keepends=True)
            complete = lines if whole else [line for line in lines if line.endswith("\n")]
            if whole or len(complete) > limit:
                return read_jsonl(PredictionRow, "".join(complete))[:limit]
            size *= 4

    def _throughput_shards(self) -> dict[str, bytes]:
        """The throughput records shards at the results repo's head: one listing (none while the head has not
        moved), then one download per shard whose blob changed since the last read (records are cached like
        results, so the Throughput tab after an unrelated commit costs two requests)."""
        head = self._head(self.results_repo)
        self._throughput_head = head
        if self._throughput_cache.get("head") == head:
            return dict(self._throughput_cache["shards"])
        folder = layout.THROUGHPUT_RECORDS_DIR

        def listing() -> list[tuple[str, str]]:
            try:
                entries = self.api.list_repo_tree(self.results_repo, folder, repo_type=REPO_TYPE, revision=head)
                return [(e.path, str(getattr(e, "blob_id", ""))) for e in entries if e.path.endswith(".jsonl")]
            except EntryNotFoundError:
                return []

        fetch = self._fetcher(self.results_repo, head)
        known: dict[str, tuple[str, bytes]] = self._throughput_cache.get("blobs", {})
        blobs: dict[str, tuple[str, bytes]] = {}
        for path, blob in self._call(f"list {folder}", self.results_repo, listing) or []:
            cached = known.get(path)
            if cached is not None and blob and cached[0] == blob:
                blobs[path] = cached
            elif (data := fetch(path)) is not None:
                blobs[path] = (blob, data)
        shards = {path.rsplit("/", 1)[-1].removesuffix(".jsonl"): data for path, (_, data) in blobs.items()}
        self._throughput_cache = {"head": head, "blobs": blobs, "shards": shards}
        return dict(shards)

    def _put_throughput_files(self, files: Mapping[str, bytes], message: str) -> None:
        """One commit to the results repo on top of the head the shards were read at; a commit in between
        fails it with `Conflict` and the base class rebuilds the files on the new head."""
        parent = getattr(self, "_throughput_head", None) or self._head(self.results_repo)
        self._commit(self.results_repo, files, parent, message)

    def predictions_url(self, request_id: str, eval_set: str) -> str:
        endpoint = str(getattr(self.api, "endpoint", None) or "https://huggingface.co").rstrip("/")
        return f"{endpoint}/datasets/{self.results_repo}/blob/main/{layout.predictions_path(request_id, eval_set)}"

    # --- writing -----------------------------------------------------------------------------------

    def _commit(
        self,
        repo_id: str,
        files: Mapping[str, bytes],
        parent: str,
        message: str,
        landed: Callable[[], bool] | None = None,
        deleted: Sequence[str] = (),
    ) -> str | None:
        """Commit `files` (and the removal of the paths in `deleted`, which must exist) on top of `parent`; the
        new commit's oid, or None when an ambiguous earlier try turned out to have landed (its oid is then
        unknown: the caller re-reads)."""

        def attempt() -> Any:
            # Fresh operations per try: create_commit marks the ones it was given as committed.
            operations: list[CommitOperation] = [
                CommitOperationAdd(path_in_repo=p, path_or_fileobj=data) for p, data in files.items()
            ]
            operations += [CommitOperationDelete(path_in_repo=p) for p in deleted]
            return self.api.create_commit(
                repo_id, operations, commit_message=message, repo_type=REPO_TYPE, parent_commit=parent
            )

        info = self._call("create_commit", repo_id, attempt, landed=landed)
        return str(info.oid) if info is not None else None

    def _write(self, token: str, changes: Changes) -> None:
        view = self._view(token)
        lookup: Lookup | None = getattr(self, "_lookup", None)
        results_commit = view.results_commit
        if changes.results or changes.audits:

            def finished() -> list[str]:  # read only when a damaged shard or the whole table is rewritten
                requests = view.requests
                every = requests.closed_requests() if isinstance(requests, Requests) else requests.values()
                return [r.request_id for r in every if r.status is Status.FINISHED]

            results_commit = self._write_results(changes.results, changes.audits, finished, view.log)
        elif lookup is not None and lookup.asked:
            # Lease expiry looked at which results exist: name the results commit it saw.
            results_commit = self._head(self.results_repo)
        txn = uuid.uuid4().hex[:12]
        files, new_view = requests_files(
            view, changes.requests, changes.log, results_commit, txn, renewals=changes.renewals
        )
        oid = self._commit(
            self.requests_repo,
            files,
            token,
            _message(changes, txn),
            landed=(lambda: self._log_has(changes.log)) if changes.log else None,
        )
        if oid is not None:
            self._remember(oid, new_view)
            self._requests_reader.seed(new_view)

    def _log_has(self, entries: Sequence[LogEntry]) -> bool:
        """Whether the log at the head already holds `entries` (our commit was applied despite an error)."""
        log = self._view(self._head(self.requests_repo)).log
        last = entries[-1]
        # By `seq`, never by position: a repaired chunk keeps its gap, so positions and seqs may differ.
        found = log.find(last.seq) if isinstance(log, Log) else next((e for e in log if e.seq == last.seq), None)
        return found is not None and found.hash == last.hash

    def _write_results(
        self,
        results: Sequence[tuple[Result, Mapping[str, Sequence[PredictionRow]]]],
        audits: Sequence[AuditRecord] = (),
        finished: Callable[[], Sequence[str]] = tuple,
        log: Sequence[LogEntry] = (),
    ) -> str:
        """One commit to the results repo: results, predictions, their records shards and the table, and audit
        records with `audits.csv` (the published ones, named by `log`, plus these). Returns the results commit
        that holds them (the head, if an earlier try already stored them)."""
        head = self._head(self.results_repo)
        fetch = self._fetcher(self.results_repo, head)
        if self._stored(results, audits, head):
            return head  # a retried write: these exact results and audits are already stored
        damaged = self._damaged_shards(fetch, head)
        retable = {layout.shard(a.request_id) for a in audits}  # the audited entries' rows get the new verdict
        names = {layout.shard(r.request_id) for r, _ in results} | damaged | retable
        shards = {name: self._results_reader.shard(fetch, head, name) for name in names}
        set_aside = {b.quarantine_path: b.data for b in self._results_reader.bad_files(names)}
        shards.update({name: self._repaired_shard(fetch, name, shards[name], finished()) for name in damaged})
        written = (
            results_files(
                shards,
                results,
                fetch(layout.PINS_FILE),
                lambda: self._every(fetch, head, finished),
                rewrite=damaged,
                has_legacy_table=lambda: fetch(layout.LEGACY_TABLE_FILE) is not None,
                audits_of=lambda table: latest_audits([*audit_shard_records(fetch, table), *audits]),
                retable=retable,
            )
            if shards
            else ResultsWrite({}, [], {})
        )
        files = {**written.files, **audit_files(audits, fetch), **set_aside}
        if written.new_columns:  # the card declares the table's header to `datasets`
            raw_card = fetch(CARD_FILE)
            card = self._card_update(raw_card.decode("utf-8", errors="replace") if raw_card else None, written.columns)
            if card is not None:
                files[CARD_FILE] = card.encode("utf-8")
        if audits:  # the log event that publishes them follows in the requests commit (retried once if it fails)
            published = self._audits_reader.read(fetch, log, [])
            files[AUDITS_TABLE_FILE] = audits_table([*published, *audits]).encode("utf-8")
        what = [f"Result for {r.request_id}" for r, _ in results] + [f"Audit {a.audit_id}" for a in audits]
        oid = self._commit(
            self.results_repo,
            files,
            head,
            "; ".join(what),
            landed=lambda: self._stored(results, audits),
            deleted=written.deleted,
        )
        if oid is None:
            return self._head(self.results_repo)
        for name, members in written.shards.items():
            self._results_reader.seed(name, oid, members)
        self._audits_reader.seed(audits)
        return oid

    def _every(self, fetch: Fetch, head: str, finished: Callable[[], Sequence[str]]) -> dict[str, dict[str, Result]]:
        """Every finished result at `head` by records shard: read only when the whole table is written."""
        every: dict[str, dict[str, Result]] = {}
        for request_id, result in self._results_reader.read(fetch, head, finished()).items():
            every.setdefault(layout.shard(request_id), {})[request_id] = result
        return every

    def _damaged_shards(self, fetch: Fetch, head: str) -> set[str]:
        """Records shards read as damaged that are still damaged at `head` (rewritten by this commit)."""
        names = {
            b.path.removeprefix(f"{layout.RECORDS_DIR}/").removesuffix(".jsonl")
            for b in self._results_reader.bad_files()
        }
        for name in names:
            self._results_reader.shard(fetch, head, name)
        return {name for name in names if self._results_reader.bad_files([name])}

    def _repaired_shard(
        self, fetch: Fetch, name: str, parsed: Mapping[str, Result], finished: Sequence[str]
    ) -> dict[str, Result]:
        """A damaged records shard's readable lines plus the result file of each finished request of that shard
        whose line was lost (one GET each): the per-entry files are what the shard repeats."""
        repaired = dict(parsed)
        for request_id in finished:
            if layout.shard(request_id) != name or request_id in repaired:
                continue
            raw = fetch(layout.result_path(request_id))
            if raw is None:
                continue
            try:
                repaired[request_id] = parse_record(Result.from_dict, raw)
            except ValueError:
                continue  # the result file is damaged too: `verify` names it
        return repaired

    def _stored(
        self, results: Sequence[tuple[Result, Any]], audits: Sequence[AuditRecord], head: str | None = None
    ) -> bool:
        """Whether the results repo's head already holds these exact results and audit records."""
        head = head or self._head(self.results_repo)
        fetch = self._fetcher(self.results_repo, head)
        stored = all(
            self._results_reader.shard(fetch, head, layout.shard(r.request_id)).get(r.request_id) == r
            for r, _ in results
        )
        return stored and all(fetch(path) == data for path, data in audit_files(audits).items())

    def _card_update(self, existing: str | None, columns: Sequence[str]) -> str | None:
        """The new README.md, or None to leave the card as it is.

        A process without a public key never overwrites a card, and one whose key differs from the published
        key never replaces it: rotating the key is a deliberate act (`publish_card(force=True)`), because every
        result signed before would stop verifying against the card.
        """
        if self.card is None:
            return None
        rendered = render_card(self.card, columns)
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
                lambda repo_id=repo_id: self.api.create_repo(
                    repo_id, repo_type=REPO_TYPE, exist_ok=True, private=private
                ),
            )
        self.publish_card()

    def on_start(self) -> None:
        """The Space's start: a results repo created by hand (not by `LEADERBOARD_CREATE_REPOS=1`) gets its card
        (the `configs` that `load_dataset` reads, the public key) and its tables, as a created one does."""
        self.publish_card()

    def publish_card(self, force: bool = False) -> bool:
        """Write README.md (and the table, if it has none yet) to the results repo now; True if a commit was made.

        `force=True` replaces a card that publishes another key (a deliberate key rotation).
        """
        if self.card is None:
            return False
        for _ in range(self.max_conflict_retries):
            sha = self._head(self.results_repo)
            fetch = self._fetcher(self.results_repo, sha)
            raw = fetch(CARD_FILE)
            existing = raw.decode("utf-8") if raw is not None else None
            columns = table_header(fetch(layout.PINS_FILE))
            card = render_card(self.card, columns) if force else self._card_update(existing, columns)
            changes: dict[str, bytes] = {}
            if card is not None and card != existing:
                changes[CARD_FILE] = card.encode("utf-8")
            if fetch(layout.PINS_FILE) is None and fetch(layout.table_path(layout.FIRST_TABLE_SHARD)) is None:
                changes[layout.table_path(layout.FIRST_TABLE_SHARD)] = table_shard([], board_columns({})).encode()
                changes[layout.claims_path(layout.FIRST_TABLE_SHARD)] = claims_shard([]).encode()
            # Every config the card declares has its file from the start, so loading one names no missing file.
            for path, empty in ((AUDITS_TABLE_FILE, audits_table([])), (THROUGHPUT_TABLE_FILE, throughput_table([]))):
                if fetch(path) is None:
                    changes[path] = empty.encode("utf-8")
            if not changes:
                return False
            try:
                self._commit(self.results_repo, changes, sha, "Update the dataset card")
                return True
            except Conflict:
                continue
        raise StoreError(f"{self.results_repo} kept changing while publishing the card; try again later")


def _message(changes: Changes, txn: str) -> str:
    """A commit title that says what happened (`claimed req-0001`), with the transaction id for tracing retries."""
    events = [f"{e.event} {e.request_id}" for e in changes.log] or [f"update {r.request_id}" for r in changes.requests]
    summary = "; ".join(events[:3]) + (f" (+{len(events) - 3})" if len(events) > 3 else "")
    return f"{summary} [txn {txn}]"
