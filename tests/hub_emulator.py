"""The Hugging Face Hub at the HTTP level, in memory, so tests run the REAL `huggingface_hub.HfApi` over it.

It is plugged in through huggingface_hub's own client-factory hook (`set_client_factory`): every request the
library sends goes through an `httpx2.MockTransport` to `HubEmulator.handle`, which answers as the Hub does
for the endpoints a store, a submission check and `verify` use:

- `POST /api/repos/create`; `GET /api/{type}s/{repo}[/revision/{rev}]` (repo info, `blobs=true` adds sizes and
  LFS sha256); `GET /api/{type}s/{repo}/refs`; `GET /api/{type}s/{repo}/tree/{rev}[/{path}]` (paginated with a
  `Link` header, like the Hub);
- `HEAD`/`GET /[{type}s/]{repo}/resolve/{rev}/{path}` with `ETag`, `X-Repo-Commit` and byte ranges;
- `POST /api/{type}s/{repo}/preupload/{rev}` (regular upload mode, the git blob oid of existing files, so the
  client drops unchanged files), `POST /api/{type}s/{repo}/commit/{rev}` (ndjson; `parentCommit` that is not
  the head answers 412), `POST /api/validate-yaml`.

Errors carry the Hub's `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`, `GatedRepo`), so the
client raises its own exception types. Faults are injected per route (`fail`, `drop`, `before`): any status
with any headers (429 with `RateLimit`/`Retry-After`), a dropped connection, or a commit applied whose answer
is lost. Every request is counted with the bytes of its answer (`calls`, `count()`, `bytes_out`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

import httpx2
from huggingface_hub.utils import _http as hf_http

ENDPOINT = "https://huggingface.co"
_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_API = re.compile(r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)(?:/(.*))?$")
_RESOLVE = re.compile(r"^/(?:(datasets|spaces)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


def git_blob_sha(data: bytes) -> str:
    """The git object id of a file, as the Hub reports it for regular (non-LFS) files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    """One repo: its commits in order, each a full tree {path: bytes}; models also carry their card metadata."""

    repo_type: str
    repo_id: str
    commits: list[tuple[str, dict[str, bytes]]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    lfs: set[str] = field(default_factory=set)

    @property
    def head(self) -> tuple[str, dict[str, bytes]]:
        return self.commits[-1]

    def at(self, revision: str) -> tuple[str, dict[str, bytes]] | None:
        if revision == "main":
            return self.head
        revision = self.meta.get("refs", {}).get(revision, revision)  # tags and other branches
        for sha, files in self.commits:
            if sha == revision:
                return sha, files
        return None


@dataclass
class Fault:
    status: int = 503
    headers: dict[str, str] = field(default_factory=dict)
    apply: bool = False  # a commit: apply it, then lose the answer
    drop: bool = False  # close the connection instead of answering
    error: type[Exception] = httpx2.RemoteProtocolError
    message: str = "Server disconnected without sending a response."


class _Answer(Exception):
    """Raised inside a handler to answer at once (an error)."""

    def __init__(self, response: httpx2.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _error(status: int, code: str | None = None, message: str = "", headers: dict[str, str] | None = None) -> _Answer:
    merged = {**({"X-Error-Code": code} if code else {}), **(headers or {})}
    return _Answer(httpx2.Response(status, headers=merged, json={"error": message or code or str(status)}))


class HubEmulator:
    """An in-memory Hub. `with hub.installed():` routes huggingface_hub's HTTP client to it."""

    def __init__(self, page_size: int = 1000) -> None:
        self.repos: dict[tuple[str, str], Repo] = {}
        self.calls: list[tuple[str, str, str]] = []  # (route, method, path)
        self.bytes_out = 0
        self.page_size = page_size
        self._faults: dict[str, list[Fault]] = {}
        self._hooks: dict[str, list[Callable[[], None]]] = {}
        self._lock = threading.RLock()
        self._counter = 0
        self._salt = uuid.uuid4().hex  # commit shas never repeat across emulators (client caches key on them)
        self.sleeps: list[float] = []
        self._mounted: list[Callable[[httpx2.Request], httpx2.Response | None]] = []

    # --- plugging in ---------------------------------------------------------------------------------

    def client(self) -> httpx2.Client:
        return httpx2.Client(
            transport=httpx2.MockTransport(self.handle),
            event_hooks={"request": [hf_http.hf_request_event_hook]},
            follow_redirects=True,
            timeout=None,
        )

    @contextmanager
    def installed(self) -> Iterator[HubEmulator]:
        """Route the real client here; the library's own backoff sleeps are recorded in `sleeps`, not slept."""
        real_time = hf_http.time
        hf_http.time = SimpleNamespace(**{n: getattr(real_time, n) for n in dir(real_time) if not n.startswith("__")})
        hf_http.time.sleep = self.sleeps.append  # type: ignore[attr-defined]
        previous = hf_http._GLOBAL_CLIENT_FACTORY
        hf_http.set_client_factory(self.client)
        try:
            yield self
        finally:
            hf_http.set_client_factory(previous)
            hf_http.time = real_time

    def mount(self, handler: Callable[[httpx2.Request], httpx2.Response | None]) -> None:
        """Let `handler` answer the requests it knows (it returns None for the others), before the repo routes:
        `tests/jobs_emulator.JobsEmulator.handle` mounted here makes one emulator serve the repos and the Jobs."""
        self._mounted.append(handler)

    # --- test controls -------------------------------------------------------------------------------

    def fail(
        self, route: str, status: int = 503, times: int = 1, headers: dict[str, str] | None = None, apply: bool = False
    ) -> None:
        """The next `times` requests on `route` answer `status` (a commit is applied first if `apply`)."""
        self._faults.setdefault(route, []).extend(Fault(status, headers or {}, apply) for _ in range(times))

    def drop(
        self,
        route: str,
        times: int = 1,
        apply: bool = False,
        error: type[Exception] = httpx2.RemoteProtocolError,
        message: str = "Server disconnected without sending a response.",
    ) -> None:
        """The next `times` requests on `route` lose their connection (after applying a commit if `apply`), or
        fail with another transport `error` (`httpx2.ConnectError`: the Hub cannot be reached at all)."""
        fault = Fault(drop=True, apply=apply, error=error, message=message)
        self._faults.setdefault(route, []).extend(fault for _ in range(times))

    def clear_faults(self) -> None:
        self._faults.clear()

    def before(self, route: str, fn: Callable[[], None]) -> None:
        """Run `fn` once, just before the next request on `route` is served (another client's commit)."""
        self._hooks.setdefault(route, []).append(fn)

    def count(self, route: str | None = None) -> int:
        return sum(1 for r, _, _ in self.calls if route is None or r == route)

    def reset_counts(self) -> None:
        self.calls.clear()
        self.bytes_out = 0

    def repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        return self.repos[(repo_type, repo_id)]

    def files(self, repo_id: str, repo_type: str = "dataset") -> dict[str, bytes]:
        return dict(self.repo(repo_id, repo_type).head[1])

    def commit_count(self, repo_id: str, repo_type: str = "dataset") -> int:
        return len(self.repo(repo_id, repo_type).commits)

    def add_repo(
        self,
        repo_id: str,
        files: dict[str, bytes],
        repo_type: str = "dataset",
        lfs: set[str] | None = None,
        **meta: Any,
    ) -> Repo:
        """Create a repo with one commit holding `files` (a model's `meta`: cardData, gated, tags, config)."""
        repo = Repo(repo_type, repo_id, [(self.new_sha(), dict(files))], meta=meta, lfs=set(lfs or ()))
        self.repos[(repo_type, repo_id)] = repo
        return repo

    def push(self, repo_id: str, files: dict[str, bytes], repo_type: str = "dataset") -> str:
        """Commit `files` on top of the head directly (bulk seeding, not counted as a request)."""
        repo = self.repo(repo_id, repo_type)
        with self._lock:
            tree = {**repo.head[1], **files}
            sha = self.new_sha()
            repo.commits.append((sha, tree))
            return sha

    def new_sha(self) -> str:
        self._counter += 1
        return hashlib.sha1(f"{self._salt}-commit-{self._counter}".encode()).hexdigest()

    # --- serving -------------------------------------------------------------------------------------

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        for handler in self._mounted:
            answer = handler(request)
            if answer is not None:
                return answer
        path = unquote(request.url.path)
        route = _route(request.method, path)
        hooks = self._hooks.get(route)
        if hooks:
            hooks.pop(0)()
        with self._lock:
            self.calls.append((route, request.method, path))
            faults = self._faults.get(route)
            fault = faults.pop(0) if faults else None
            if fault is not None and not fault.apply:
                return self._fault(fault, request)
            try:
                response = self._dispatch(route, request, path)
            except _Answer as answer:
                response = answer.response
            if fault is not None:  # applied, then the answer is lost
                return self._fault(fault, request)
            self.bytes_out += len(response.content)
            return response

    def _fault(self, fault: Fault, request: httpx2.Request) -> httpx2.Response:
        if fault.drop:
            raise fault.error(fault.message, request=request)  # type: ignore[call-arg]
        return httpx2.Response(fault.status, headers=fault.headers, json={"error": "injected"})

    def _dispatch(self, route: str, request: httpx2.Request, path: str) -> httpx2.Response:
        if route == "create":
            return self._create(json.loads(request.content))
        if route == "validate-yaml":
            return httpx2.Response(200, json={"errors": [], "warnings": []})
        if route in ("resolve", "resolve-head"):
            match = _RESOLVE.match(path)
            assert match is not None
            kind = _TYPES[match.group(1)] if match.group(1) else "model"
            return self._resolve(request, self._repo(kind, match.group(2)), match.group(3), match.group(4))
        match = _API.match(path)
        if match is None:
            raise AssertionError(f"the emulator does not serve {request.method} {path}")
        repo = self._repo(_TYPES[match.group(1)], match.group(2))
        rest = match.group(3) or ""
        params = request.url.params
        if route == "info":
            revision = rest.removeprefix("revision/") if rest.startswith("revision/") else "main"
            return self._info(repo, revision, params.get("blobs") == "true", params.get_list("expand"))
        if route == "refs":
            return httpx2.Response(
                200,
                json={
                    "branches": [{"name": "main", "ref": "refs/heads/main", "targetCommit": repo.head[0]}],
                    "converts": [],
                    "tags": [],
                },
            )
        if route == "tree":
            revision, _, folder = rest.removeprefix("tree/").partition("/")
            return self._tree(request, repo, revision, folder, params.get("recursive") in ("true", "True", "1"))
        if route == "preupload":
            return self._preupload(repo, json.loads(request.content))
        if route == "commit":
            return self._commit(repo, request.content)
        raise AssertionError(f"the emulator does not serve {request.method} {path}")

    def _repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise _error(404, "RepoNotFound", "Repository not found")
        if repo.meta.get("gated") == "error":
            raise _error(403, "GatedRepo", "Access to this repo is restricted")
        return repo

    def _at(self, repo: Repo, revision: str) -> tuple[str, dict[str, bytes]]:
        found = repo.at(revision)
        if found is None:
            raise _error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return found

    def _create(self, body: dict[str, Any]) -> httpx2.Response:
        repo_type = body.get("type") or "model"
        repo_id = f"{body['organization']}/{body['name']}" if body.get("organization") else body["name"]
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        url = f"{ENDPOINT}/{prefix}{repo_id}"
        if (repo_type, repo_id) in self.repos:  # the Hub names the existing repo in its 409
            return httpx2.Response(409, json={"error": "You already created this repo", "url": url})
        self.add_repo(repo_id, {".gitattributes": b"*.bin filter=lfs diff=lfs merge=lfs -text\n"}, repo_type)
        return httpx2.Response(200, json={"url": url, "name": repo_id})

    def _sibling(self, repo: Repo, name: str, data: bytes, blobs: bool) -> dict[str, Any]:
        sibling: dict[str, Any] = {"rfilename": name}
        if blobs:
            sibling.update(size=len(data), blobId=git_blob_sha(data))
            if name in repo.lfs:
                sha256 = repo.meta.get("lfs_sha256", {}).get(name) or hashlib.sha256(data).hexdigest()
                sibling["lfs"] = {"size": len(data), "sha256": sha256, "pointerSize": 134}
        return sibling

    def _info(self, repo: Repo, revision: str, blobs: bool, expand: list[str]) -> httpx2.Response:
        sha, files = self._at(repo, revision)
        body: dict[str, Any] = {"id": repo.repo_id, "_id": repo.repo_id, "sha": sha, "private": False}
        if expand:
            return httpx2.Response(200, json={k: v for k, v in body.items() if k in ("id", "_id", *expand)})
        body["siblings"] = [self._sibling(repo, n, d, blobs) for n, d in sorted(files.items())]
        for key in ("cardData", "gated", "tags", "config", "safetensors"):
            if key in repo.meta:
                body[key] = repo.meta[key]
        body.setdefault("gated", False)
        return httpx2.Response(200, json=body)

    def _tree(
        self, request: httpx2.Request, repo: Repo, revision: str, folder: str, recursive: bool
    ) -> httpx2.Response:
        _sha, files = self._at(repo, revision)
        prefix = f"{folder.rstrip('/')}/" if folder else ""
        entries: dict[str, dict[str, Any]] = {}
        for name, data in sorted(files.items()):
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix) :]
            if not recursive and "/" in rest:
                sub = prefix + rest.split("/", 1)[0]
                entries.setdefault(sub, {"type": "directory", "oid": "0" * 40, "size": 0, "path": sub})
            else:
                entries[name] = {"type": "file", "oid": git_blob_sha(data), "size": len(data), "path": name}
        if folder and not entries:
            raise _error(404, "EntryNotFound", f"{folder} does not exist")
        ordered = list(entries.values())
        start = int(request.url.params.get("cursor", "0"))
        page = ordered[start : start + self.page_size]
        headers = {}
        if start + self.page_size < len(ordered):
            url = request.url.copy_merge_params({"cursor": str(start + self.page_size)})
            headers["Link"] = f'<{url}>; rel="next"'
        return httpx2.Response(200, headers=headers, json=page)

    def _resolve(self, request: httpx2.Request, repo: Repo, revision: str, name: str) -> httpx2.Response:
        sha, files = self._at(repo, unquote(revision))
        if name not in files:
            raise _error(404, "EntryNotFound", f"{name} does not exist at {revision}")
        data = files[name]
        etag = hashlib.sha256(data).hexdigest() if name in repo.lfs else git_blob_sha(data)
        headers = {"ETag": f'"{etag}"', "X-Repo-Commit": sha, "Content-Length": str(len(data))}
        if name in repo.lfs:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
        if request.method == "HEAD":
            return httpx2.Response(200, headers=headers)
        ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", request.headers.get("range", ""))
        if ranged:
            first, last = int(ranged.group(1)), int(ranged.group(2) or len(data) - 1)
            part = data[first : last + 1]
            headers["Content-Length"] = str(len(part))
            return httpx2.Response(206, headers=headers, content=part)
        return httpx2.Response(200, headers=headers, content=data)

    def _preupload(self, repo: Repo, body: dict[str, Any]) -> httpx2.Response:
        _sha, files = repo.head
        answer = []
        for item in body["files"]:
            if item["size"] > 10_000_000:
                raise AssertionError("the emulator serves regular (non-LFS) uploads only; keep files under 10 MB")
            existing = files.get(item["path"])
            oid = git_blob_sha(existing) if existing is not None else None
            answer.append({"path": item["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": oid})
        return httpx2.Response(200, json={"files": answer, "commitOid": repo.head[0]})

    def _commit(self, repo: Repo, content: bytes) -> httpx2.Response:
        lines = [json.loads(line) for line in content.splitlines() if line.strip()]
        header = lines[0]["value"]
        head_sha, head_files = repo.head
        parent = header.get("parentCommit")
        if parent is not None and parent != head_sha:
            raise _error(412, None, "A commit has happened since. Please refresh and try again.")
        files = dict(head_files)
        for line in lines[1:]:
            value = line["value"]
            if line["key"] == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif line["key"] == "deletedFile":
                files.pop(value["path"], None)
            elif line["key"] == "deletedFolder":
                folder = value["path"].rstrip("/") + "/"
                files = {k: v for k, v in files.items() if not k.startswith(folder)}
            else:
                raise AssertionError(f"the emulator does not serve commit operation {line['key']}")
        sha = self.new_sha()
        repo.commits.append((sha, files))
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        return httpx2.Response(
            200,
            json={
                "commitUrl": f"{ENDPOINT}/{prefix}{repo.repo_id}/commit/{sha}",
                "commitOid": sha,
                "pullRequestUrl": None,
            },
        )


def _route(method: str, path: str) -> str:
    """A short name for what a request asks (faults and counts are per route)."""
    if path == "/api/repos/create":
        return "create"
    if path == "/api/validate-yaml":
        return "validate-yaml"
    if _RESOLVE.match(path):
        return "resolve-head" if method == "HEAD" else "resolve"
    match = _API.match(path)
    rest = (match.group(3) or "") if match else ""
    if not match:
        return "unknown"
    if not rest or rest.startswith("revision/"):
        return "info"
    for name in ("refs", "tree", "preupload", "commit"):
        if rest == name or rest.startswith(f"{name}/"):
            return name
    return "unknown"


def safetensors_bytes(tensors: dict[str, tuple[int, ...]]) -> bytes:
    """A real safetensors file of float32 zeros with these tensor shapes (what a model repo's weights hold)."""
    header: dict[str, Any] = {}
    offset = 0
    for name, shape in tensors.items():
        size = 4
        for dim in shape:
            size *= dim
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw + bytes(offset)
