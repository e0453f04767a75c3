"""Calling the Hub: one layer of retries for transient failures, a timeout on every request, and error messages
that say what to do (never the token).

The real client raises a transient failure as `HfHubHTTPError` (408, 429, 5xx), as its HTTP library's transport
error (a dropped connection, a timeout), or, from its download helpers, as `LocalEntryNotFoundError`. All are
retried here with bounded exponential backoff; the wait honours the `RateLimit` header (`"api";r=0;t=55`: wait
55 s) and `Retry-After`, and past `RetryPolicy.max_delay_s` the call gives up with `StoreUnavailable` (its caller
decides: a finished evaluation keeps trying while its lease is held). `RevisionNotFoundError` is checked before
the generic 404 (a missing revision is not a missing repo). The sleep is injectable, so tests never wait.

huggingface_hub retries some requests itself (preupload, LFS, tree pages: `http_backoff`, up to 5 times, sleeping
as long as a 429 asks). Stacked under these retries that made 36 preupload attempts on a 503 outage and 605 s of
sleep on one 429 asking for 120 s, all while holding the store's lock. So during a store call a response hook on
the client's session stops a transient answer at once (`TransientAnswer`), and this module's policy is the only
one that retries it. The session also gets `TIMEOUT` (the library's default client has none): a connection that
never answers fails the attempt instead of freezing the scheduler and every page read through the store.
"""

from __future__ import annotations

import email.utils
import importlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from huggingface_hub import CommitOperation, CommitOperationAdd, CommitOperationDelete, hf_hub_url
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status, parse_ratelimit_headers

from openasr_core.redaction import redact
from openasr_core.store.errors import Conflict, StoreError, StoreUnavailable

logger = logging.getLogger(__name__)

CREATE_REPOS_ENV = "LEADERBOARD_CREATE_REPOS"
REPO_TYPE = "dataset"
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def _timeout() -> object:
    import httpx2

    # Connecting and waiting for an answer are bounded; a large upload may take its time writing.
    return httpx2.Timeout(connect=10.0, read=60.0, write=120.0, pool=10.0)


class TransientAnswer(Exception):
    """A transient HTTP answer (408, 429, 5xx) stopped inside a store call, before the client's own backoff."""

    def __init__(self, response: object) -> None:
        super().__init__(f"HTTP {getattr(response, 'status_code', '?')}")
        self.response = response


_STORE_CALL = threading.local()


def _one_layer(response: object) -> None:
    """Response hook: inside a store call, a transient answer is raised at once (see the module doc)."""
    if getattr(_STORE_CALL, "depth", 0) and getattr(response, "status_code", None) in TRANSIENT_STATUS:
        raise TransientAnswer(response)


@contextmanager
def store_call() -> Iterator[None]:
    """Mark this thread's requests as a store call, on a session with our hook and timeout (set again whenever
    huggingface_hub replaced its session, as it does after a connection error)."""
    session = get_session()
    hooks = session.event_hooks
    if _one_layer not in hooks.get("response", []):
        session.event_hooks = {**hooks, "response": [*hooks.get("response", []), _one_layer]}
    timeout = _timeout()
    if session.timeout != timeout:
        session.timeout = timeout
    _STORE_CALL.depth = getattr(_STORE_CALL, "depth", 0) + 1
    try:
        yield
    finally:
        _STORE_CALL.depth -= 1


_T = TypeVar("_T")


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Network-level errors of whichever HTTP client this huggingface_hub uses (httpx2 in 2.x, httpx in 1.x)."""
    found: list[type[BaseException]] = [ConnectionError, TimeoutError, LocalEntryNotFoundError]
    for module_name in ("httpx2", "httpx"):
        try:
            found.append(importlib.import_module(module_name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


TRANSPORT_ERRORS = _transport_errors()


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


def status_of(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def retry_after(exc: BaseException, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> float | None:
    """Seconds the server asked us to wait: the `RateLimit` header's reset when no request is left, else
    `Retry-After` (seconds or an HTTP date); None if it did not say."""
    headers = getattr(getattr(exc, "response", None), "headers", None)
    if headers is None:
        return None
    limit = parse_ratelimit_headers(headers)
    if limit is not None and limit.remaining == 0:
        return float(limit.reset_in_seconds)
    value = headers.get("Retry-After")
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
    return max(0.0, (when - now()).total_seconds())


class HubCaller:
    """Runs one Hub call with retries; `landed` tells whether an ambiguous earlier try was applied after all."""

    def __init__(self, retry: RetryPolicy, token: str | None) -> None:
        self.retry = retry
        self._token = token

    def redact(self, text: str) -> str:
        return redact(text, [self._token])

    def __call__(
        self, what: str, repo_id: str, fn: Callable[[], _T], landed: Callable[[], bool] | None = None
    ) -> _T | None:
        """A 412 becomes `Conflict`, unless an earlier try of this call failed ambiguously and `landed()` shows
        it was applied after all (then None is returned: the write is done)."""
        ambiguous = False
        for attempt in range(self.retry.attempts):
            try:
                with store_call():
                    return fn()
            except OfflineModeIsEnabled as exc:
                raise StoreError(f"cannot {what} on {repo_id}: HF_HUB_OFFLINE is set; unset it to use the Hub") from exc
            except (HfHubHTTPError, TransientAnswer) as exc:
                status = status_of(exc)
                if status == 412:
                    if ambiguous and landed is not None and landed():
                        logger.info("Hub %s on %s: an earlier try was applied after all", what, repo_id)
                        return None
                    raise Conflict(f"{repo_id} moved while we were writing ({what}); re-reading") from exc
                if status not in TRANSIENT_STATUS:
                    assert isinstance(exc, HfHubHTTPError)
                    raise self.error(what, repo_id, exc) from exc
                ambiguous = ambiguous or status != 429  # a 5xx may have been applied; a 429 was not
                self._backoff(what, repo_id, attempt, exc, str(status))
            except TRANSPORT_ERRORS as exc:
                ambiguous = True
                self._backoff(what, repo_id, attempt, exc, type(exc).__name__)
        raise AssertionError("unreachable")  # pragma: no cover - _backoff raises on the last attempt

    def _backoff(self, what: str, repo_id: str, attempt: int, exc: BaseException, reason: str) -> None:
        wait = retry_after(exc)
        if attempt + 1 >= self.retry.attempts:
            raise StoreUnavailable(
                f"the Hub kept failing on {what} for {repo_id} ({reason}) after {self.retry.attempts} tries; "
                "check https://status.huggingface.co and try again later"
            ) from exc
        if wait is not None and wait > self.retry.max_delay_s:
            raise StoreUnavailable(
                f"the Hub rate-limited {what} for {repo_id} and asks to wait {wait:.0f}s; try again later",
                retry_after_s=wait,
            ) from exc
        delay = self.retry.delay(attempt, wait)
        logger.warning(
            "Hub %s on %s failed (%s); retry %d/%d in %.1fs",
            what,
            repo_id,
            self.redact(reason),
            attempt + 1,
            self.retry.attempts - 1,
            delay,
        )
        self.retry.sleep(delay)

    def error(self, what: str, repo_id: str, exc: HfHubHTTPError) -> StoreError:
        status = status_of(exc)
        if isinstance(exc, RevisionNotFoundError):
            return Conflict(f"{repo_id} moved while we were reading ({what}): that revision is gone; re-reading")
        if isinstance(exc, RepositoryNotFoundError) or status == 404:
            return StoreError(
                f"dataset repo {repo_id} was not found or HF_TOKEN cannot read it ({what}); create it "
                f"(or start once with {CREATE_REPOS_ENV}=1) and give the token access"
            )
        if status in (401, 403):
            return StoreError(
                f"HF_TOKEN is not allowed to {what} on {repo_id} ({status}); use a token with write access"
            )
        text = self.redact(str(exc)).strip()
        first_line = text.splitlines()[0] if text else type(exc).__name__
        return StoreError(f"the Hub refused {what} on {repo_id} ({status}): {first_line}")


class HubRepo:
    """The `Repo` port over one Hub dataset repo (`openasr_core.store.repo`), through the real `HfApi`.

    Files are fetched straight from `resolve/<revision>/<path>` through huggingface_hub's own HTTP session (one GET
    each, no HEAD, nothing written to a download cache); a commit is `create_commit(parent_commit=...)`, whose 412
    becomes `Conflict`. Every call goes through `HubCaller` (retries, rate limits, messages without the token)."""

    snapshots = True

    def __init__(self, repo_id: str, api: Any, call: HubCaller, token: str | None) -> None:
        self.name = repo_id
        self.api = api
        self._call = call
        self._token = token

    def __repr__(self) -> str:
        return f"HubRepo({self.name!r})"

    def head(self) -> str:
        """The head commit of the main branch: one small request."""
        refs = self._call("list_repo_refs", self.name, lambda: self.api.list_repo_refs(self.name, repo_type=REPO_TYPE))
        for branch in getattr(refs, "branches", None) or []:
            if branch.name == "main":
                return str(branch.target_commit)
        raise StoreError(f"{self.name} has no main branch; does the repo have any commit?")

    def read(
        self, path: str, revision: str, first_bytes: int | None = None, from_byte: int | None = None
    ) -> bytes | None:
        url = hf_hub_url(self.name, path, repo_type=REPO_TYPE, revision=revision, endpoint=self.api.endpoint)
        headers = build_hf_headers(token=self._token, library_name="open-asr-leaderboard")
        if first_bytes is not None:
            headers["Range"] = f"bytes=0-{first_bytes - 1}"
        elif from_byte is not None:
            headers["Range"] = f"bytes={from_byte}-"

        def fetch() -> bytes | None:
            response = get_session().get(url, headers=headers)
            if response.status_code == 416:  # the range starts at the end: nothing was added
                return b""
            try:
                hf_raise_for_status(response)
            except EntryNotFoundError:
                return None
            return response.content

        return self._call(f"download {path}", self.name, fetch)

    def existing(self, paths: Sequence[str], revision: str) -> set[str]:
        def ask() -> list[str]:
            found = self.api.get_paths_info(self.name, list(paths), repo_type=REPO_TYPE, revision=revision)
            return [str(item.path) for item in found]

        return set(self._call("paths-info", self.name, ask) or [])

    def list(self, folder: str, revision: str) -> list[tuple[str, str]]:
        def listing() -> list[tuple[str, str]]:
            try:
                entries = self.api.list_repo_tree(self.name, folder, repo_type=REPO_TYPE, revision=revision)
                return [(e.path, str(e.blob_id)) for e in entries if getattr(e, "blob_id", None)]
            except EntryNotFoundError:
                return []

        return self._call(f"list {folder}", self.name, listing) or []

    def commit(
        self,
        files: Mapping[str, bytes],
        parent: str,
        message: str,
        deleted: Sequence[str] = (),
        landed: Callable[[], bool] | None = None,
    ) -> str | None:
        def attempt() -> Any:
            # Fresh operations per try: create_commit marks the ones it was given as committed.
            operations: list[CommitOperation] = [
                CommitOperationAdd(path_in_repo=p, path_or_fileobj=data) for p, data in files.items()
            ]
            operations += [CommitOperationDelete(path_in_repo=p) for p in deleted]
            return self.api.create_commit(
                self.name, operations, commit_message=message, repo_type=REPO_TYPE, parent_commit=parent
            )

        info = self._call("create_commit", self.name, attempt, landed=landed)
        return str(info.oid) if info is not None else None

    def exclusive(self) -> AbstractContextManager[object]:
        return nullcontext()

    def url(self, path: str) -> str:
        endpoint = str(getattr(self.api, "endpoint", None) or "https://huggingface.co").rstrip("/")
        return f"{endpoint}/datasets/{self.name}/blob/main/{path}"

    def create(self, private: bool = False) -> None:
        """Create the dataset repo if it is missing."""
        self._call(
            "create_repo",
            self.name,
            lambda: self.api.create_repo(self.name, repo_type=REPO_TYPE, exist_ok=True, private=private),
        )
