"""The Hugging Face Hub at the HTTP level, in memory, so tests run the REAL `huggingface_hub.HfApi` over it.

It is plugged in through huggingface_hub's own client-factory hook (`set_client_factory`): every request the
library sends goes through an `httpx2.MockTransport` to `HubEmulator.handle`, which answers as the Hub does
for the endpoints a store, a submission check and `verify` use:

- `POST /api/repos/create`; `GET /api/{type}s/{repo}[/revision/{rev}]` (repo info, `blobs=true` adds sizes and
  LFS sha256); `GET /api/{type}s/{repo}/refs`; `GET /api/{type}s/{repo}/tree/{rev}[/{path}]` (paginated like
  the Hub: at most `page_size` entries a page, 50 with `expand=true`, and a `Link: <...&cursor=...>; rel="next"`
  header whose cursor is opaque and signed: it names the last path served, so a page after a concurrent commit
  neither repeats nor skips an entry, and a cursor the emulator did not issue answers 400);
  `POST /api/{type}s/{repo}/paths-info/{rev}` (form `paths=`, as `get_paths_info` sends it);
- `HEAD`/`GET /[{type}s/]{repo}/resolve/{rev}/{path}` with `ETag`, `X-Repo-Commit` and byte ranges (an LFS
  file's `ETag` is its sha256, with `X-Linked-Etag`/`X-Linked-Size`);
- `POST /api/{type}s/{repo}/preupload/{rev}` (the git blob oid of existing regular files and the sha256 of LFS
  ones, so the client drops unchanged files; `uploadMode: "lfs"` for files over `LFS_THRESHOLD` bytes),
  `POST /api/{type}s/{repo}/commit/{rev}` (ndjson `file`, `lfsFile`, `deletedFile`, `deletedFolder`;
  `parentCommit` that is not the head answers 412; an `lfsFile` whose object was never uploaded is refused),
  `POST /api/validate-yaml`; `create_pr=1` on a commit opens a pull request instead: the commit goes to a new
  `refs/pr/<n>` on top of the head (main does not move) and the answer names its `pullRequestUrl`;
- pull requests: `GET /api/{type}s/{repo}/refs?include_prs=1` lists each as `refs/pr/<n>`, and
  `GET /api/{type}s/{repo}/discussions` (`type`, `status`, `author` filters, pages of 50 by `p`) lists them with
  their titles, as `HfApi.get_repo_discussions` reads them; a PR's files are read at `repo.at("refs/pr/<n>")`;
- the Git LFS basic transfer: `POST /[{type}s/]{repo}.git/info/lfs/objects/batch` answers, per object, an
  `upload` action (a signed `PUT` URL on `LFS_STORAGE`, standing in for S3) and a `verify` action, or no
  actions when the repo already stores that object; `PUT` stores the bytes (refused unless the URL's signature
  and the body's sha256 match); `POST .../objects/verify` checks the object is stored with that size.

huggingface_hub 2.x uploads large files through Xet (`hf_xet`, a Rust client with its own HTTP stack that no
Python transport can intercept) whenever `hf_xet` is installed, whatever the server says; while installed, the
emulator therefore sets `HF_HUB_DISABLE_XET` (what a client without `hf_xet` does) so uploads take the LFS path.

Every answer of the Hub carries `RateLimit: "api";r=<remaining>;t=<seconds to reset>` and `RateLimit-Policy:
"fixed window";"api";q=<quota>;w=<window>` (bucket `resolvers` for `resolve/` URLs, `api` for the rest; one
budget per token and bucket, fixed windows). `rate_limit=(quota, window_s)` (or a mapping bucket -> that)
enforces the budget: past it, 429 with `r=0` and the seconds to the window's end. The default is unlimited
(a quota no test reaches), headers included. Time is `clock()` plus every backoff sleep the library took (they
are recorded in `sleeps`, not slept) plus `advance(seconds)`, so a client that waits as told gets through.

huggingface_hub 2.4 also GETs `/api/agent-harnesses` once per process (on its first request, for its
user-agent, unless `HF_HUB_DISABLE_TELEMETRY` is set or `HF_HOME` holds a copy under a day old): the route is
counted as `agent-harnesses` and answered 404, so the client caches nothing on disk and detects no agent.

Errors carry the Hub's `X-Error-Code` (`RepoNotFound`, `RevisionNotFound`, `EntryNotFound`, `GatedRepo`), so the
client raises its own exception types. Faults are injected per route (`fail`, `drop`, `before`): any status
with any headers (429 with `RateLimit`/`Retry-After`), a dropped connection, or a commit applied whose answer
is lost. Every request is counted (`calls`, `count()`) with the bytes of its body and of its answer
(`traffic`; `bytes_in` and `uploaded(route)`: commit payloads, LFS `PUT`s and every other body; `bytes_out`:
answers); `last_body(route)` is the last body sent on a route; `reset_counts()` clears them all.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import threading
import time
import uuid
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, quote, unquote

import httpx2
from huggingface_hub import constants as hf_constants
from huggingface_hub.utils import _http as hf_http

ENDPOINT = "https://huggingface.co"
#: Where LFS `PUT`s go (S3 in production: a presigned URL on another host than the Hub).
LFS_STORAGE = "https://hf-hub-lfs-us-east-1.s3-accelerate.amazonaws.com"
#: Files over this many bytes are uploaded through LFS (the Hub's 10 MB rule; `.gitattributes` is not read).
LFS_THRESHOLD = 10_000_000
#: The page size of a tree listing with `expand=true` (the client's docstring: 1000 entries, 50 expanded).
EXPANDED_PAGE_SIZE = 50
#: The quota reported when no rate limit is set: never reached by a test, but the headers are still sent.
UNLIMITED = 1_000_000_000
DEFAULT_WINDOW_S = 300
_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_API = re.compile(r"^/api/(models|datasets|spaces)/([^/]+/[^/]+)(?:/(.*))?$")
_RESOLVE = re.compile(r"^/(?:(datasets|spaces)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")
_LFS = re.compile(r"^/(?:(datasets|spaces)/)?([^/]+/[^/]+?)\.git/info/lfs/objects/(batch|verify)$")
_STORAGE = re.compile(r"^/repos/(model|dataset|space)/([^/]+/[^/]+)/([0-9a-f]{64})$")

RateLimit = tuple[int, float]


def git_blob_sha(data: bytes) -> str:
    """The git object id of a file, as the Hub reports it for regular (non-LFS) files."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    """The Git LFS pointer file that git stores in place of an LFS file's bytes."""
    sha256 = hashlib.sha256(data).hexdigest()
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(data)}\n".encode()


@dataclass
class Repo:
    """One repo: its commits in order, each a full tree {path: bytes}; models also carry their card metadata.

    `lfs` is the set of paths stored through LFS at the head; `lfs_at` keeps that set for each commit made since
    (a file can move in or out of LFS), and `objects` the LFS objects uploaded to this repo, by sha256."""

    repo_type: str
    repo_id: str
    commits: list[tuple[str, dict[str, bytes]]] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    lfs: set[str] = field(default_factory=set)
    lfs_at: dict[str, frozenset[str]] = field(default_factory=dict)
    objects: dict[str, bytes] = field(default_factory=dict)
    pulls: list[PullRequest] = field(default_factory=list)

    @property
    def head(self) -> tuple[str, dict[str, bytes]]:
        return self.commits[-1]

    def at(self, revision: str) -> tuple[str, dict[str, bytes]] | None:
        if revision == "main":
            return self.head
        revision = self.meta.get("refs", {}).get(revision, revision)  # tags and other branches
        for sha, files in [*self.commits, *((p.sha, p.files) for p in self.pulls)]:
            if sha == revision or revision == f"refs/pr/{self._num_of(sha)}":
                return sha, files
        return None

    def _num_of(self, sha: str) -> int | None:
        return next((p.num for p in self.pulls if p.sha == sha), None)

    def is_lfs(self, sha: str, path: str) -> bool:
        """Whether `path` is an LFS file at commit `sha`."""
        return path in self.lfs_at.get(sha, self.lfs)

    def set_lfs(self, sha: str, paths: set[str]) -> None:
        """Commit `sha` (just appended) holds `paths` as LFS files; earlier commits keep the set they had."""
        if paths != self.lfs:
            for earlier, _ in self.commits[:-1]:
                self.lfs_at.setdefault(earlier, frozenset(self.lfs))
            self.lfs_at[sha] = frozenset(paths)
        self.lfs = set(paths)


@dataclass
class PullRequest:
    """A pull request opened by a commit with `create_pr=1`: its number, title (the commit summary), description,
    author (the caller's token), status, and the commit on `refs/pr/<num>` with its whole tree."""

    num: int
    title: str
    description: str
    author: str
    sha: str
    files: dict[str, bytes]
    created_at: str
    status: str = "open"


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
    """An in-memory Hub. `with hub.installed():` routes huggingface_hub's HTTP client to it.

    `rate_limit`: `(quota, window_s)` for every bucket, or `{"api": (...), "resolvers": (...)}`; None (the
    default) never refuses. `clock`: seconds, monotonic (the rate-limit windows are counted on it)."""

    def __init__(
        self,
        page_size: int = 1000,
        rate_limit: RateLimit | Mapping[str, RateLimit] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.repos: dict[tuple[str, str], Repo] = {}
        self.calls: list[tuple[str, str, str]] = []  # (route, method, path)
        self.traffic: list[tuple[str, int, int]] = []  # (route, bytes in, bytes out), one per call
        self._last_body: dict[str, bytes] = {}
        self.bytes_out = 0
        self.bytes_in = 0
        self.page_size = page_size
        self.clock = clock
        self._limits: dict[str, RateLimit] | None = (
            None
            if rate_limit is None
            else dict(rate_limit)
            if isinstance(rate_limit, Mapping)
            else {"api": rate_limit, "resolvers": rate_limit}
        )
        self._used: dict[tuple[str, str], tuple[int, int]] = {}  # (caller, bucket) -> (window index, used)
        self._skipped = 0.0  # seconds added to the clock: the library's backoff sleeps and `advance`
        self._faults: dict[str, list[Fault]] = {}
        self._hooks: dict[str, list[Callable[[], None]]] = {}
        self._lock = threading.RLock()
        self._counter = 0
        self._salt = uuid.uuid4().hex  # commit shas never repeat across emulators (client caches key on them)
        self._key = uuid.uuid4().bytes  # signs tree cursors and LFS upload URLs
        self.sleeps: list[float] = []
        # Digests and sorted listings, so a repo of 100,000 files is listed page by page without rehashing it:
        # by the identity of the bytes (trees share them across commits) and of the tree dict.
        self._digests: dict[tuple[str, int], tuple[bytes, str]] = {}
        self._listings: dict[tuple[str, int, int, str, bool], list[str]] = {}
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
        """Route the real client here; the library's own backoff sleeps are recorded in `sleeps`, not slept (and
        move the emulator's clock). Xet is off meanwhile: uploads over `LFS_THRESHOLD` use Git LFS."""
        real_time = hf_http.time
        hf_http.time = SimpleNamespace(**{n: getattr(real_time, n) for n in dir(real_time) if not n.startswith("__")})
        hf_http.time.sleep = self._library_sleep  # type: ignore[attr-defined]
        previous = hf_http._GLOBAL_CLIENT_FACTORY
        xet_disabled = hf_constants.HF_HUB_DISABLE_XET
        hf_constants.HF_HUB_DISABLE_XET = True
        hf_http.set_client_factory(self.client)
        try:
            yield self
        finally:
            hf_http.set_client_factory(previous)
            hf_constants.HF_HUB_DISABLE_XET = xet_disabled
            hf_http.time = real_time

    def _library_sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

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

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward (rate-limit windows); a store's injected sleep can be this."""
        with self._lock:
            self._skipped += max(0.0, seconds)

    def now(self) -> float:
        return self.clock() + self._skipped

    def count(self, route: str | None = None) -> int:
        return sum(1 for r, _, _ in self.calls if route is None or r == route)

    def uploaded(self, route: str | None = None) -> int:
        """Request-body bytes received (on `route`, or on all routes) since the last `reset_counts()`."""
        return sum(size for r, size, _ in self.traffic if route is None or r == route)

    def last_body(self, route: str) -> bytes:
        """The body of the last request on `route` (b"" if none since the last `reset_counts()`)."""
        return self._last_body.get(route, b"")

    def reset_counts(self) -> None:
        self.calls.clear()
        self.traffic.clear()
        self._last_body.clear()
        self.bytes_out = 0
        self.bytes_in = 0

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
        for path in repo.lfs:
            if path in files:
                repo.objects[hashlib.sha256(files[path]).hexdigest()] = files[path]
        self.repos[(repo_type, repo_id)] = repo
        return repo

    def push(
        self, repo_id: str, files: dict[str, bytes], repo_type: str = "dataset", lfs: set[str] | None = None
    ) -> str:
        """Commit `files` on top of the head directly (bulk seeding, not counted as a request); the paths in
        `lfs` are stored as LFS files."""
        repo = self.repo(repo_id, repo_type)
        with self._lock:
            tree = {**repo.head[1], **files}
            sha = self.new_sha()
            repo.commits.append((sha, tree))
            lfs = {p for p in lfs or () if p in files}
            repo.objects.update((hashlib.sha256(files[p]).hexdigest(), files[p]) for p in lfs)
            repo.set_lfs(sha, (repo.lfs - set(files)) | lfs)
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
        route = _route(request.method, path, request.url.host)
        hooks = self._hooks.get(route)
        if hooks:
            hooks.pop(0)()
        with self._lock:
            self.calls.append((route, request.method, path))
            received = len(request.content)
            self.bytes_in += received
            self._last_body[route] = request.content
            bucket = _bucket(route)
            limit = self._charge(request, bucket)
            faults = self._faults.get(route)
            fault = faults.pop(0) if faults else None
            if fault is not None and not fault.apply:
                response = self._fault(fault, request)
            elif limit is not None and limit[1] < 0:  # over the budget: refused, nothing applied
                response = _error(429, None, "You have exceeded our rate limit; retry after the reset").response
            else:
                try:
                    response = self._dispatch(route, request, path)
                except _Answer as answer:
                    response = answer.response
                if fault is not None:  # applied, then the answer is lost
                    response = self._fault(fault, request)
            if limit is not None:
                _add_rate_headers(response, bucket, *limit)
            self.bytes_out += len(response.content)
            self.traffic.append((route, received, len(response.content)))
            return response

    def _charge(self, request: httpx2.Request, bucket: str | None) -> tuple[int, int, int, int] | None:
        """Count one request against its caller's budget: (quota, remaining or -1 when refused, seconds to the
        window's end, window), or None for requests that are not the Hub's (LFS storage)."""
        if bucket is None:
            return None
        quota, window = (self._limits or {}).get(bucket, (UNLIMITED, DEFAULT_WINDOW_S))
        window = max(1, int(window))
        now = self.now()
        index = math.floor(now / window)
        reset = max(1, math.ceil((index + 1) * window - now))
        key = (request.headers.get("authorization", "anonymous"), bucket)
        seen, used = self._used.get(key, (index, 0))
        used = used if seen == index else 0
        if used >= quota:
            return quota, -1, reset, window
        self._used[key] = (index, used + 1)
        return quota, quota - used - 1, reset, window

    def _digest(self, kind: str, data: bytes) -> str:
        """`git` (the blob oid) or `sha256` of `data`, computed once per bytes object."""
        key = (kind, id(data))
        cached = self._digests.get(key)
        if cached is not None and cached[0] is data:
            return cached[1]
        value = git_blob_sha(data) if kind == "git" else hashlib.sha256(data).hexdigest()
        self._digests[key] = (data, value)
        return value

    def _lfs_oid(self, repo: Repo, path: str, data: bytes) -> str:
        return repo.meta.get("lfs_sha256", {}).get(path) or self._digest("sha256", data)

    def _fault(self, fault: Fault, request: httpx2.Request) -> httpx2.Response:
        if fault.drop:
            raise fault.error(fault.message, request=request)  # type: ignore[call-arg]
        return httpx2.Response(fault.status, headers=fault.headers, json={"error": "injected"})

    def _dispatch(self, route: str, request: httpx2.Request, path: str) -> httpx2.Response:
        if route == "create":
            return self._create(json.loads(request.content))
        if route == "validate-yaml":
            return httpx2.Response(200, json={"errors": [], "warnings": []})
        if route == "agent-harnesses":  # not served: the client would cache the registry in HF_HOME for a day
            raise _error(404, None, "the emulator serves no agent-harness registry")
        if route in ("resolve", "resolve-head"):
            match = _RESOLVE.match(path)
            assert match is not None
            kind = _TYPES[match.group(1)] if match.group(1) else "model"
            return self._resolve(request, self._repo(kind, match.group(2)), match.group(3), match.group(4))
        if route in ("lfs-batch", "lfs-verify"):
            match = _LFS.match(path)
            assert match is not None
            repo = self._repo(_TYPES[match.group(1)] if match.group(1) else "model", match.group(2))
            body = json.loads(request.content)
            return self._lfs_batch(repo, body) if route == "lfs-batch" else self._lfs_verify(repo, body)
        if route == "lfs-upload":
            return self._lfs_upload(request, path)
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
            body: dict[str, Any] = {
                "branches": [{"name": "main", "ref": "refs/heads/main", "targetCommit": repo.head[0]}],
                "converts": [],
                "tags": [],
            }
            if params.get("include_prs") in ("1", "true", "True"):
                body["pullRequests"] = [
                    {"name": f"refs/pr/{p.num}", "ref": f"refs/pr/{p.num}", "targetCommit": p.sha} for p in repo.pulls
                ]
            return httpx2.Response(200, json=body)
        if route == "discussions":
            return self._discussions(repo, params)
        if route == "tree":
            revision, _, folder = rest.removeprefix("tree/").partition("/")
            return self._tree(request, repo, revision, folder, params.get("recursive") in ("true", "True", "1"))
        if route == "paths-info":
            return self._paths_info(request, repo, rest.removeprefix("paths-info/"))
        if route == "preupload":
            return self._preupload(repo, json.loads(request.content))
        if route == "commit":
            author = request.headers.get("authorization", "anonymous").removeprefix("Bearer ")[:12] or "anonymous"
            return self._commit(repo, request.content, params.get("create_pr") == "1", author)
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

    def _sibling(self, repo: Repo, sha: str, name: str, data: bytes, blobs: bool) -> dict[str, Any]:
        sibling: dict[str, Any] = {"rfilename": name}
        if blobs:
            lfs = repo.is_lfs(sha, name)
            sibling.update(size=len(data), blobId=git_blob_sha(lfs_pointer(data)) if lfs else self._digest("git", data))
            if lfs:
                pointer_size = len(lfs_pointer(data))
                sibling["lfs"] = {
                    "size": len(data),
                    "sha256": self._lfs_oid(repo, name, data),
                    "pointerSize": pointer_size,
                }
        return sibling

    def _info(self, repo: Repo, revision: str, blobs: bool, expand: list[str]) -> httpx2.Response:
        sha, files = self._at(repo, revision)
        body: dict[str, Any] = {"id": repo.repo_id, "_id": repo.repo_id, "sha": sha, "private": False}
        if expand:
            return httpx2.Response(200, json={k: v for k, v in body.items() if k in ("id", "_id", *expand)})
        body["siblings"] = [self._sibling(repo, sha, n, d, blobs) for n, d in sorted(files.items())]
        for key in ("cardData", "gated", "tags", "config", "safetensors"):
            if key in repo.meta:
                body[key] = repo.meta[key]
        body.setdefault("gated", False)
        return httpx2.Response(200, json=body)

    def _file_entry(self, repo: Repo, sha: str, name: str, data: bytes) -> dict[str, Any]:
        """A file as the tree and paths-info endpoints list it: an LFS file's oid is its pointer's."""
        if not repo.is_lfs(sha, name):
            return {"type": "file", "oid": self._digest("git", data), "size": len(data), "path": name}
        pointer = lfs_pointer(data)
        lfs = {"oid": self._lfs_oid(repo, name, data), "size": len(data), "pointerSize": len(pointer)}
        return {"type": "file", "oid": git_blob_sha(pointer), "size": len(data), "path": name, "lfs": lfs}

    def _cursor(self, after: str) -> str:
        """An opaque cursor naming the last path served (signed: a client cannot make one up)."""
        raw = json.dumps({"after": after}, separators=(",", ":")).encode()
        mac = hmac.new(self._key, raw, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(mac + raw).decode().rstrip("=")

    def _after(self, cursor: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            mac, body = raw[:12], raw[12:]
            if not hmac.compare_digest(mac, hmac.new(self._key, body, hashlib.sha256).digest()[:12]):
                raise ValueError("bad signature")
            return str(json.loads(body)["after"])
        except (ValueError, KeyError, TypeError):
            raise _error(400, None, f"Invalid cursor: {cursor!r}") from None

    def _tree(
        self, request: httpx2.Request, repo: Repo, revision: str, folder: str, recursive: bool
    ) -> httpx2.Response:
        sha, files = self._at(repo, revision)
        prefix = f"{folder.rstrip('/')}/" if folder else ""
        key = (sha, id(files), len(files), prefix, recursive)
        paths = self._listings.get(key)
        if paths is None:
            found: set[str] = set()
            for name in files:
                if name.startswith(prefix):
                    rest = name[len(prefix) :]
                    found.add(prefix + rest.split("/", 1)[0] if not recursive and "/" in rest else name)
            paths = sorted(found)
            if len(self._listings) >= 16:
                self._listings.clear()
            self._listings[key] = paths
        if folder and not paths:
            raise _error(404, "EntryNotFound", f"{folder} does not exist")
        cursor = request.url.params.get("cursor")
        start = bisect_right(paths, self._after(cursor)) if cursor is not None else 0
        expand = request.url.params.get("expand") in ("true", "True", "1")
        size = min(self.page_size, EXPANDED_PAGE_SIZE) if expand else self.page_size
        page = paths[start : start + size]
        headers = {}
        if start + size < len(paths):
            url = request.url.copy_merge_params({"cursor": self._cursor(page[-1])})
            headers["Link"] = f'<{url}>; rel="next"'
        entries = [
            self._file_entry(repo, sha, p, files[p])
            if p in files
            else {"type": "directory", "oid": "0" * 40, "size": 0, "path": p}
            for p in page
        ]
        return httpx2.Response(200, headers=headers, json=entries)

    def _paths_info(self, request: httpx2.Request, repo: Repo, revision: str) -> httpx2.Response:
        sha, files = self._at(repo, unquote(revision))
        form = parse_qs(request.content.decode(), keep_blank_values=True)
        answer = []
        for path in form.get("paths", []):
            path = path.strip("/")
            if path in files:
                answer.append(self._file_entry(repo, sha, path, files[path]))
            elif any(name.startswith(f"{path}/") for name in files):
                answer.append({"type": "directory", "oid": "0" * 40, "size": 0, "path": path})
        return httpx2.Response(200, json=answer)

    def _resolve(self, request: httpx2.Request, repo: Repo, revision: str, name: str) -> httpx2.Response:
        sha, files = self._at(repo, unquote(revision))
        if name not in files:
            raise _error(404, "EntryNotFound", f"{name} does not exist at {revision}")
        data = files[name]
        lfs = repo.is_lfs(sha, name)
        etag = self._lfs_oid(repo, name, data) if lfs else self._digest("git", data)
        headers = {"ETag": f'"{etag}"', "X-Repo-Commit": sha, "Content-Length": str(len(data))}
        if lfs:
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
        sha, files = repo.head
        answer = []
        for item in body["files"]:
            existing = files.get(item["path"])
            oid = None
            if existing is not None:
                lfs = repo.is_lfs(sha, item["path"])
                oid = self._lfs_oid(repo, item["path"], existing) if lfs else self._digest("git", existing)
            mode = "lfs" if item["size"] > LFS_THRESHOLD else "regular"
            answer.append({"path": item["path"], "uploadMode": mode, "shouldIgnore": False, "oid": oid})
        return httpx2.Response(200, json={"files": answer, "commitOid": repo.head[0]})

    # --- Git LFS (basic transfer) --------------------------------------------------------------------

    def _storage_signature(self, repo: Repo, oid: str) -> str:
        message = f"{repo.repo_type}/{repo.repo_id}/{oid}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def _lfs_batch(self, repo: Repo, body: dict[str, Any]) -> httpx2.Response:
        if body.get("operation") != "upload":
            raise _error(422, None, "the emulator serves LFS uploads only")
        if "basic" not in body.get("transfers", ["basic"]):
            raise _error(422, None, "the emulator offers the basic transfer only")
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        objects = []
        for item in body.get("objects", []):
            oid, size = str(item["oid"]), int(item["size"])
            answer: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if not re.fullmatch(r"[0-9a-f]{64}", oid):
                answer["error"] = {"code": 422, "message": f"invalid sha256 oid {oid!r}"}
            elif oid not in repo.objects:  # an object the repo already stores needs no upload
                query = f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature={self._storage_signature(repo, oid)}"
                put = f"{LFS_STORAGE}/repos/{repo.repo_type}/{quote(repo.repo_id)}/{oid}?{query}&x-id=PutObject"
                answer["actions"] = {
                    "upload": {"href": put, "expires_at": "2099-01-01T00:00:00Z"},
                    "verify": {"href": f"{ENDPOINT}/{prefix}{repo.repo_id}.git/info/lfs/objects/verify"},
                }
            objects.append(answer)
        return httpx2.Response(
            200,
            headers={"Content-Type": "application/vnd.git-lfs+json"},
            content=json.dumps({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}).encode(),
        )

    def _lfs_upload(self, request: httpx2.Request, path: str) -> httpx2.Response:
        match = _STORAGE.match(path)
        if request.method != "PUT" or match is None:
            raise _error(405, None, "the LFS storage takes PUT of one object")
        repo = self.repos.get((match.group(1), match.group(2)))
        oid = match.group(3)
        signature = request.url.params.get("X-Amz-Signature", "")
        if repo is None or not hmac.compare_digest(signature, self._storage_signature(repo, oid)):
            raise _error(403, None, "SignatureDoesNotMatch")
        data = request.content
        if hashlib.sha256(data).hexdigest() != oid:
            raise _error(400, None, "BadDigest: the body's sha256 is not the object id")
        repo.objects[oid] = data
        return httpx2.Response(200, headers={"ETag": f'"{hashlib.md5(data).hexdigest()}"'})

    def _lfs_verify(self, repo: Repo, body: dict[str, Any]) -> httpx2.Response:
        stored = repo.objects.get(str(body.get("oid")))
        if stored is None or len(stored) != int(body.get("size", -1)):
            raise _error(404, None, f"LFS object {body.get('oid')} is not stored with size {body.get('size')}")
        return httpx2.Response(200, json={"success": True})

    def _discussions(self, repo: Repo, params: Any) -> httpx2.Response:
        """The repo's pull requests as `GET .../discussions` lists them (this emulator opens no plain discussion)."""
        found = [
            p
            for p in reversed(repo.pulls)  # the Hub lists the newest first
            if params.get("type") in (None, "all", "pull_request")
            and params.get("status") in (None, "all", p.status)
            and params.get("author") in (None, p.author)
        ]
        start = int(params.get("p", 0)) * 50
        page = [
            {
                "num": p.num,
                "title": p.title,
                "author": {"name": p.author},
                "createdAt": p.created_at,
                "status": p.status,
                "repo": {"name": repo.repo_id, "type": repo.repo_type},
                "isPullRequest": True,
            }
            for p in found[start : start + 50]
        ]
        return httpx2.Response(200, json={"discussions": page, "count": len(found), "start": start})

    def _commit(
        self, repo: Repo, content: bytes, create_pr: bool = False, author: str = "anonymous"
    ) -> httpx2.Response:
        lines = [json.loads(line) for line in content.splitlines() if line.strip()]
        header = lines[0]["value"]
        head_sha, head_files = repo.head
        parent = header.get("parentCommit")
        if parent is not None and parent != head_sha and not create_pr:
            raise _error(412, None, "A commit has happened since. Please refresh and try again.")
        files = dict(head_files)
        lfs = {p for p in head_files if repo.is_lfs(head_sha, p)}
        for line in lines[1:]:
            value = line["value"]
            if line["key"] == "file":
                files[value["path"]] = base64.b64decode(value["content"])
                lfs.discard(value["path"])
            elif line["key"] == "lfsFile":
                stored = repo.objects.get(value["oid"])
                if stored is None:
                    raise _error(
                        400,
                        None,
                        f"Your push was rejected: LFS object {value['oid']} of {value['path']} is not uploaded",
                    )
                files[value["path"]] = stored
                lfs.add(value["path"])
            elif line["key"] == "deletedFile":
                files.pop(value["path"], None)
                lfs.discard(value["path"])
            elif line["key"] == "deletedFolder":
                folder = value["path"].rstrip("/") + "/"
                files = {k: v for k, v in files.items() if not k.startswith(folder)}
                lfs = {p for p in lfs if p in files}
            else:
                raise AssertionError(f"the emulator does not serve commit operation {line['key']}")
        sha = self.new_sha()
        prefix = "" if repo.repo_type == "model" else f"{repo.repo_type}s/"
        pull_url = None
        if create_pr:  # main stays where it is; the commit lives on refs/pr/<num>
            num = len(repo.pulls) + 1
            summary = str(header.get("summary", ""))
            created = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
            repo.pulls.append(
                PullRequest(num, summary, str(header.get("description", "")), author, sha, files, created)
            )
            pull_url = f"{ENDPOINT}/{prefix}{repo.repo_id}/discussions/{num}"
        else:
            repo.commits.append((sha, files))
            repo.set_lfs(sha, lfs)
        return httpx2.Response(
            200,
            json={
                "commitUrl": f"{ENDPOINT}/{prefix}{repo.repo_id}/commit/{sha}",
                "commitOid": sha,
                "pullRequestUrl": pull_url,
            },
        )


def _add_rate_headers(
    response: httpx2.Response, bucket: str, quota: int, remaining: int, reset: int, window: int
) -> None:
    """The Hub's `RateLimit` and `RateLimit-Policy` headers, unless an injected fault set its own."""
    if "ratelimit" not in response.headers:
        response.headers["RateLimit"] = f'"{bucket}";r={max(0, remaining)};t={reset}'
    if "ratelimit-policy" not in response.headers:
        response.headers["RateLimit-Policy"] = f'"fixed window";"{bucket}";q={quota};w={window}'


def _bucket(route: str) -> str | None:
    """The Hub's rate-limit bucket of a route (`resolvers` for file downloads); None for the LFS storage."""
    if route == "lfs-upload":
        return None
    return "resolvers" if route in ("resolve", "resolve-head") else "api"


def _route(method: str, path: str, host: str = "huggingface.co") -> str:
    """A short name for what a request asks (faults and counts are per route)."""
    if f"https://{host}" == LFS_STORAGE:
        return "lfs-upload"
    if path == "/api/repos/create":
        return "create"
    if path == "/api/validate-yaml":
        return "validate-yaml"
    if path == "/api/agent-harnesses":
        return "agent-harnesses"
    if _RESOLVE.match(path):
        return "resolve-head" if method == "HEAD" else "resolve"
    lfs = _LFS.match(path)
    if lfs:
        return f"lfs-{lfs.group(3)}"
    match = _API.match(path)
    rest = (match.group(3) or "") if match else ""
    if not match:
        return "unknown"
    if not rest or rest.startswith("revision/"):
        return "info"
    for name in ("refs", "tree", "paths-info", "preupload", "commit", "discussions"):
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
