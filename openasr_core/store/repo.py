"""The store's port to a dataset repo (`Repo`), and its adapter for a folder on the local disk (`FolderRepo`).

The store needs four things of a repo: read files at a revision, list a folder at a revision, ask the head
revision, and commit a set of file changes on top of a parent revision, which raises `Conflict` when the parent
is no longer the head (so two writers never both win and no update is lost). `openasr_core.store.hub_http.HubRepo`
is the Hub's adapter; `FolderRepo` behaves the same by construction: its head is a digest of every file's stamp
(it moves with any commit, and with any edit by hand, as a push moves a Hub repo), and a commit checks its parent
under an exclusive file lock before writing anything.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Protocol

from openasr_core.files import atomic_write
from openasr_core.store.errors import Conflict

#: The revision naming whatever the head is when a read happens (the detail page's reads, result lookups).
LATEST = "main"


class Repo(Protocol):
    """One dataset repo as the store reads and writes it."""

    #: What messages call the repo (`owner/name` on the Hub, the folder's path locally).
    name: str
    #: True when a revision names fixed content and a commit lands whole (the Hub); False for a folder, which
    #: holds only its present state and is written a file at a time, in the order a commit lists them.
    snapshots: bool

    def head(self) -> str:
        """The current revision."""
        ...

    def read(
        self, path: str, revision: str, first_bytes: int | None = None, from_byte: int | None = None
    ) -> bytes | None:
        """One file at `revision` (only its first `first_bytes` bytes, or its bytes from `from_byte` on, when
        given: b"" when nothing follows); None when it does not exist there."""
        ...

    def existing(self, paths: Sequence[str], revision: str) -> set[str]:
        """Which of `paths` exist at `revision` (one request on the Hub, whatever their number)."""
        ...

    def list(self, folder: str, revision: str) -> list[tuple[str, str]]:
        """The files directly in `folder` at `revision` as (path, blob id): a blob id changes when the file does."""
        ...

    def commit(
        self,
        files: Mapping[str, bytes],
        parent: str,
        message: str,
        deleted: Sequence[str] = (),
        landed: Callable[[], bool] | None = None,
    ) -> str | None:
        """Write `files` and remove `deleted` on top of `parent`; the new head. Raises `Conflict` when `parent` is
        no longer the head. None when an ambiguous earlier try turned out (`landed()`) to have been applied: its
        revision is then unknown."""
        ...

    def exclusive(self) -> AbstractContextManager[object]:
        """Held around read-compute-commit: a file lock on a folder (its processes queue instead of conflicting,
        and no reader sees half a commit); nothing on the Hub, whose commits are atomic."""
        ...

    def url(self, path: str) -> str:
        """Where a person can open a file of the repo."""
        ...


class FolderLock:
    """An exclusive `fcntl` lock on one file, shared by the folders of a store; re-entrant within a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._threads = threading.RLock()
        self._depth = 0
        self._handle: IO[str] | None = None

    @contextmanager
    def __call__(self) -> Iterator[None]:
        with self._threads:
            if self._depth == 0:
                self._handle = open(self.path, "a+")  # noqa: SIM115 - held across the yield
                fcntl.flock(self._handle, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._handle is not None:
                    fcntl.flock(self._handle, fcntl.LOCK_UN)
                    self._handle.close()
                    self._handle = None


class FolderRepo:
    """A repo as a folder: every file written atomically (temp file, fsync, rename) in the order a commit lists
    them, then the deletions; the head is a digest of the stamps (path, inode, size, mtime) of the files and
    folders of its top two levels (`_top_levels`)."""

    snapshots = False

    def __init__(self, root: Path, lock: FolderLock) -> None:
        self.root = root
        self.name = str(root)
        self._lock = lock
        root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"FolderRepo({self.name!r})"

    def head(self) -> str:
        digest = hashlib.sha256()
        for path, stat in sorted(_top_levels(self.root)):
            digest.update(f"{path}\0{stat.st_ino}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()[:20]

    def read(
        self, path: str, revision: str, first_bytes: int | None = None, from_byte: int | None = None
    ) -> bytes | None:
        target = self.root / path
        if not target.is_file():
            return None
        with open(target, "rb") as handle:
            if from_byte is not None:
                handle.seek(from_byte)
            return handle.read(first_bytes if first_bytes is not None else -1)

    def existing(self, paths: Sequence[str], revision: str) -> set[str]:
        return {p for p in paths if (self.root / p).is_file()}

    def list(self, folder: str, revision: str) -> list[tuple[str, str]]:
        base = self.root / folder
        if not base.is_dir():
            return []
        return [
            (f"{folder}/{entry.name}", f"{entry.stat().st_ino}-{entry.stat().st_size}-{entry.stat().st_mtime_ns}")
            for entry in sorted(os.scandir(base), key=lambda e: e.name)
            if entry.is_file() and not entry.name.startswith(".")
        ]

    def commit(
        self,
        files: Mapping[str, bytes],
        parent: str,
        message: str,
        deleted: Sequence[str] = (),
        landed: Callable[[], bool] | None = None,
    ) -> str | None:
        with self._lock():
            if self.head() != parent:
                raise Conflict(f"{self.name} moved while we were writing ({message}); re-reading")
            for path, data in files.items():
                atomic_write(self.root / path, data)
            for path in deleted:  # after the files that replace them
                (self.root / path).unlink(missing_ok=True)
            return self.head()

    def exclusive(self) -> AbstractContextManager[object]:
        return self._lock()

    def url(self, path: str) -> str:
        return str(self.root / path)


def _top_levels(root: Path, depth: int = 2) -> Iterator[tuple[str, os.stat_result]]:
    """The files and folders of `root`'s top `depth` levels (temp files of a write in progress left out), with
    their stats: what the head is a digest of.

    Every shard, table and queue file sits in those two levels, and a file written deeper (a result, its
    predictions) is renamed into a folder of the second level or below, in the same commit as its records shard.
    A rename changes its folder's mtime, so a commit and a hand edit of any shard or table move the head; the
    per-request files below are not stat'ed one by one, which made the head cost O(results): 46 ms a read at
    1,000 results, several reads a transaction."""
    stack = [(root, 1)]
    while stack:
        folder, level = stack.pop()
        for entry in os.scandir(folder):
            if entry.name.endswith(".tmp"):
                continue
            yield os.path.relpath(entry.path, root), entry.stat(follow_symlinks=False)
            if level < depth and entry.is_dir(follow_symlinks=False):
                stack.append((Path(entry.path), level + 1))
