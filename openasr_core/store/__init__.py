"""Storage for requests, results, predictions and the public log: local folder or Hub datasets.

The store renders nothing: `openasr_core.board_files` (above it) makes the dataset card and tables its results
commits carry, and `openasr_core.board_files.open_store` wires the store the config names with them."""

from __future__ import annotations

from openasr_core.store.base import Changes, Snapshot, Store, StoreState
from openasr_core.store.errors import Conflict, LeaseLost, Refused, StoreError, StoreUnavailable, ThroughputTaken
from openasr_core.store.local import LocalStore

__all__ = [
    "Changes",
    "Conflict",
    "LeaseLost",
    "LocalStore",
    "Refused",
    "Snapshot",
    "Store",
    "StoreError",
    "StoreState",
    "StoreUnavailable",
    "ThroughputTaken",
]
