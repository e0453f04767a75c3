"""An in-memory stand-in for the few `HfApi` methods HubStore calls, faithful where it matters.

- Every commit gets a fresh sha; each repo is a list of commits, each a full {path: bytes} tree.
- `create_commit(parent_commit=...)` fails with HTTP 412 when the branch head moved, as the Hub does.
- Errors are the exceptions the real client raises: a real HTTP response run through huggingface_hub's own
  `hf_raise_for_status` (412 -> HfHubHTTPError, 404 -> RepositoryNotFoundError, ...). Requests carry an
  `Authorization` header with the token, like real ones, so tests can prove it never leaks.
- `fail(method, status, ...)` injects transient failures (429, 503; optionally after applying a commit, the
  ambiguous case), and `before(method, fn)` runs `fn` just before the next call (a commit landing in between).
- `calls` records (method, repo_id) for every call.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx2
from huggingface_hub import CommitOperationAdd
from huggingface_hub.utils import filter_repo_objects, hf_raise_for_status

ENDPOINT = "https://huggingface.co"


@dataclass
class _Repo:
    commits: list[tuple[str, dict[str, bytes]]] = field(default_factory=list)

    @property
    def head(self) -> tuple[str, dict[str, bytes]]:
        return self.commits[-1]

    def at(self, revision: str | None) -> tuple[str, dict[str, bytes]]:
        if revision in (None, "main"):
            return self.head
        for sha, files in self.commits:
            if sha == revision:
                return sha, files
        raise LookupError(revision)


@dataclass
class _Failure:
    status: int
    headers: dict[str, str]
    apply: bool


class FakeHub:
    """One in-memory Hub shared by any number of `FakeHub.api()` clients (workers)."""

    endpoint = ENDPOINT

    def __init__(self, root: Path | None = None) -> None:
        self.repos: dict[str, _Repo] = {}
        self.calls: list[tuple[str, str]] = []
        self._failures: dict[str, list[_Failure]] = {}
        self._hooks: dict[str, list[Callable[[], None]]] = {}
        self._lock = threading.RLock()
        self._counter = 0
        self.root = root or Path(tempfile.mkdtemp(prefix="fake-hub-"))
        self.root.mkdir(parents=True, exist_ok=True)

    def api(self, token: str | None = None) -> FakeApi:
        return FakeApi(self, token)

    # --- test controls -------------------------------------------------------------------------------

    def fail(
        self, method: str, status: int, times: int = 1, headers: dict[str, str] | None = None, apply: bool = False
    ) -> None:
        """The next `times` calls of `method` answer `status` (after applying the commit if `apply`)."""
        self._failures.setdefault(method, []).extend(_Failure(status, headers or {}, apply) for _ in range(times))

    def before(self, method: str, fn: Callable[[], None]) -> None:
        """Run `fn` once, just before the next call of `method` is served."""
        self._hooks.setdefault(method, []).append(fn)

    def count(self, method: str | None = None) -> int:
        return sum(1 for m, _ in self.calls if method is None or m == method)

    def files(self, repo_id: str) -> dict[str, bytes]:
        return dict(self.repos[repo_id].head[1])

    def commit_count(self, repo_id: str) -> int:
        return len(self.repos[repo_id].commits)

    # --- the server side -----------------------------------------------------------------------------

    def _serve(self, method: str, repo_id: str, token: str | None) -> _Failure | None:
        hooks = self._hooks.get(method)
        if hooks:
            hooks.pop(0)()
        self.calls.append((method, repo_id))
        failures = self._failures.get(method)
        failure = failures.pop(0) if failures else None
        if failure is not None and not failure.apply:
            self._raise(failure.status, repo_id, token, headers=failure.headers)
        return failure

    def _raise(
        self, status: int, repo_id: str, token: str | None, headers: dict[str, str] | None = None, **body: Any
    ) -> None:
        url = f"{ENDPOINT}/api/datasets/{repo_id}"
        request_headers = {"authorization": f"Bearer {token}"} if token else {}
        request = httpx2.Request("POST", url, headers=request_headers)
        response = httpx2.Response(status, headers=headers or {}, json=body or None, request=request)
        hf_raise_for_status(response)
        raise AssertionError(f"hf_raise_for_status did not raise for {status}")  # pragma: no cover

    def _repo(self, repo_id: str, token: str | None) -> _Repo:
        repo = self.repos.get(repo_id)
        if repo is None:
            self._raise(404, repo_id, token, headers={"X-Error-Code": "RepoNotFound"}, error="Repository not found")
        return repo  # type: ignore[return-value]

    def new_sha(self) -> str:
        self._counter += 1
        return hashlib.sha1(f"commit-{self._counter}".encode()).hexdigest()

    def create_repo(self, repo_id: str, token: str | None, exist_ok: bool) -> None:
        with self._lock:
            self._serve("create_repo", repo_id, token)
            if repo_id in self.repos:
                if not exist_ok:
                    self._raise(409, repo_id, token, error="You already created this dataset repo")
                return
            self.repos[repo_id] = _Repo([(self.new_sha(), {".gitattributes": b"*.jsonl filter=lfs\n"})])

    def commit(self, repo_id: str, operations: list[Any], parent_commit: str | None, token: str | None) -> str:
        with self._lock:
            failure = self._serve("create_commit", repo_id, token)
            repo = self._repo(repo_id, token)
            head_sha, head_files = repo.head
            if parent_commit is not None and not head_sha.startswith(parent_commit):
                self._raise(412, repo_id, token, error="A commit has happened since. Please refresh and try again.")
            files = dict(head_files)
            for operation in operations:
                if isinstance(operation, CommitOperationAdd):
                    with operation.as_file() as handle:
                        files[operation.path_in_repo] = handle.read()
                else:  # CommitOperationDelete
                    files.pop(operation.path_in_repo, None)
            sha = self.new_sha()
            repo.commits.append((sha, files))
            if failure is not None:  # applied, then the answer was lost: the ambiguous failure
                self._raise(failure.status, repo_id, token, headers=failure.headers)
            return sha


class FakeApi:
    """The client side: the `HfApi` methods HubStore uses, with the same signatures and return shapes."""

    def __init__(self, hub: FakeHub, token: str | None = None) -> None:
        self.hub = hub
        self.token = token
        self.endpoint = ENDPOINT

    def create_repo(
        self, repo_id: str, *, repo_type: str | None = None, exist_ok: bool = False, private: bool | None = None
    ) -> str:
        assert repo_type == "dataset"
        self.hub.create_repo(repo_id, self.token, exist_ok)
        return f"{ENDPOINT}/datasets/{repo_id}"

    def dataset_info(self, repo_id: str, *, revision: str | None = None) -> SimpleNamespace:
        hub = self.hub
        with hub._lock:
            hub._serve("dataset_info", repo_id, self.token)
            sha, files = hub._repo(repo_id, self.token).at(revision)
            siblings = [SimpleNamespace(rfilename=name) for name in sorted(files)]
            return SimpleNamespace(id=repo_id, sha=sha, siblings=siblings)

    def snapshot_download(
        self,
        repo_id: str,
        *,
        repo_type: str | None = None,
        revision: str | None = None,
        allow_patterns: list[str] | str | None = None,
        cache_dir: str | Path | None = None,
    ) -> str:
        assert repo_type == "dataset"
        hub = self.hub
        with hub._lock:
            hub._serve("snapshot_download", repo_id, self.token)
            sha, files = self._revision(repo_id, revision)
            folder = Path(tempfile.mkdtemp(dir=hub.root, prefix=f"{repo_id.replace('/', '--')}-{sha[:8]}-"))
            for name in filter_repo_objects(list(files), allow_patterns=allow_patterns):
                path = folder / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(files[name])
            return str(folder)

    def hf_hub_download(
        self,
        repo_id: str,
        filename: str,
        *,
        repo_type: str | None = None,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
    ) -> str:
        assert repo_type == "dataset"
        hub = self.hub
        with hub._lock:
            hub._serve("hf_hub_download", repo_id, self.token)
            _sha, files = self._revision(repo_id, revision)
            if filename not in files:
                hub._raise(404, repo_id, self.token, headers={"X-Error-Code": "EntryNotFound"})
            path = Path(tempfile.mkdtemp(dir=hub.root)) / filename
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(files[filename])
            return str(path)

    def create_commit(
        self,
        repo_id: str,
        operations: list[Any],
        *,
        commit_message: str,
        repo_type: str | None = None,
        parent_commit: str | None = None,
    ) -> SimpleNamespace:
        assert repo_type == "dataset" and commit_message
        sha = self.hub.commit(repo_id, list(operations), parent_commit, self.token)
        return SimpleNamespace(oid=sha, commit_url=f"{ENDPOINT}/datasets/{repo_id}/commit/{sha}")

    def _revision(self, repo_id: str, revision: str | None) -> tuple[str, dict[str, bytes]]:
        try:
            return self.hub._repo(repo_id, self.token).at(revision)
        except LookupError:
            self.hub._raise(404, repo_id, self.token, headers={"X-Error-Code": "RevisionNotFound"})
            raise  # pragma: no cover
