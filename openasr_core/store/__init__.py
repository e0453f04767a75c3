"""Storage for requests, results, predictions and the public log: local folder or Hub datasets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from openasr_core.store.base import (
    Changes,
    Conflict,
    LeaseLost,
    Refused,
    Snapshot,
    Store,
    StoreError,
    StoreState,
    StoreUnavailable,
    ThroughputTaken,
)
from openasr_core.store.local import LocalStore

if TYPE_CHECKING:
    from openasr_core.config import LeaderboardConfig

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
    "open_store",
]


def open_store(config: LeaderboardConfig) -> Store:
    """The store the config names: the local folder by default, the two Hub datasets when configured."""
    if config.store.kind == "hub":
        from openasr_core.store.hub import HubStore

        return HubStore.from_config(config)
    from openasr_core.dataset_card import CardInfo
    from openasr_core.signing import public_key_for

    return LocalStore(config.store.local_root, card=CardInfo.from_config(config, public_key_for(config)))
