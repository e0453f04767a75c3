"""The embedded default store: the two dataset repos as two folders under one root, on the local disk.

A `Store` over two `FolderRepo`s sharing one exclusive `fcntl` lock on `<root>/.lock`, so several processes can
claim at once and each request is claimed once. Every file is written atomically, and a commit lists them in the
order a crash must respect: the results repo before the requests repo, and `state.json` (which names the log
length and the shards) last but for its index, so log lines or shards written before a crash are ignored until
the next write replaces them. A crash can leave a result whose request is still RUNNING (lease expiry finishes
it and writes its records line), never a FINISHED request without a result, nor a status change without its
log line.
"""

from __future__ import annotations

import os
from pathlib import Path

from openasr_core import layout
from openasr_core.store.base import Clock, Store, StoreError
from openasr_core.store.repo import FolderLock, FolderRepo
from openasr_core.store.repo_files import Renderer

REQUESTS_REPO_DIR = layout.LOCAL_REQUESTS_DIR
RESULTS_REPO_DIR = layout.LOCAL_RESULTS_DIR


class LocalStore(Store):
    """The store over `<root>/requests` and `<root>/results` (`render`: the derived files its results commits
    carry, as `openasr_core.board_files.open_store` wires them; none when not given)."""

    def __init__(
        self, root: str | os.PathLike[str], render: Renderer | None = None, clock: Clock | None = None
    ) -> None:
        self.root = Path(root)
        self.requests_root = self.root / REQUESTS_REPO_DIR
        self.results_root = self.root / RESULTS_REPO_DIR
        lock = FolderLock(self.root / ".lock")
        super().__init__(FolderRepo(self.requests_root, lock), FolderRepo(self.results_root, lock), render, clock)
        if (self.requests_root / layout.LEGACY_LOG_FILE).exists() and not (
            self.requests_root / layout.STATE_FILE
        ).exists():
            raise StoreError(f"the local store {self.root} is in layout 1; {layout.MIGRATE_HINT}")

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"
