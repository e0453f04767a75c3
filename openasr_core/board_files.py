"""The leaderboard's derived files, rendered above the store: the dataset card, the table and claims shards,
`audits.csv` and `throughput.csv` (`BoardFiles`, the store's `Renderer`), and the store wired with them
(`open_store`). The store commits what it is given and never renders anything itself.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

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
from openasr_core.records import AuditRecord, LogEntry, Request, Result, ThroughputResult
from openasr_core.store import LocalStore, Store
from openasr_core.store.repo_files import Fetch, pinned_sets, results_files
from openasr_core.store.requests_repo import EMPTY, requests_files
from openasr_core.throughput_table import THROUGHPUT_TABLE_FILE, throughput_table

if TYPE_CHECKING:
    from openasr_core.config import LeaderboardConfig

logger = logging.getLogger(__name__)


class BoardFiles:
    """The leaderboard's `Renderer`: what a results commit carries besides the signed records. `card` (None: no
    card is ever written, nor the empty tables a new repo gets at the Space's start) says what the card shows."""

    def __init__(self, card: CardInfo | None = None) -> None:
        self.card = card

    def columns(self, sets_by_version: Mapping[str, Sequence[str]]) -> list[str]:
        return board_columns(sets_by_version)

    def table_files(
        self, shards: Mapping[str, Iterable[Result]], columns: Sequence[str], audits: Iterable[AuditRecord]
    ) -> dict[str, bytes]:
        latest = latest_audits(audits)
        files: dict[str, bytes] = {}
        for name, members in sorted(shards.items()):
            members = list(members)
            files[layout.table_path(name)] = table_shard(members, columns, latest).encode("utf-8")
            files[layout.claims_path(name)] = claims_shard(members).encode("utf-8")
        return files

    def card_files(self, fetch: Fetch, columns: Sequence[str]) -> dict[str, bytes]:
        raw = fetch(CARD_FILE)
        card = self._card_update(raw.decode("utf-8", errors="replace") if raw is not None else None, columns)
        return {CARD_FILE: card.encode("utf-8")} if card is not None else {}

    def start_files(self, fetch: Fetch, force: bool = False) -> dict[str, bytes]:
        if self.card is None:
            return {}
        raw = fetch(CARD_FILE)
        existing = raw.decode("utf-8") if raw is not None else None
        pins = fetch(layout.PINS_FILE)
        columns = table_header(pins)
        card = render_card(self.card, columns) if force else self._card_update(existing, columns)
        files: dict[str, bytes] = {}
        if card is not None and card != existing:
            files[CARD_FILE] = card.encode("utf-8")
        if pins is None and fetch(layout.table_path(layout.FIRST_TABLE_SHARD)) is None:
            files.update(self.table_files({layout.FIRST_TABLE_SHARD: []}, board_columns({}), ()))
        # Every config the card declares has its file from the start, so loading one names no missing file.
        for path, empty in ((AUDITS_TABLE_FILE, audits_table([])), (THROUGHPUT_TABLE_FILE, throughput_table([]))):
            if fetch(path) is None:
                files[path] = empty.encode("utf-8")
        return files

    def audits_files(self, published: Sequence[AuditRecord]) -> dict[str, bytes]:
        return {AUDITS_TABLE_FILE: audits_table(published).encode("utf-8")}

    def throughput_files(self, records: Iterable[ThroughputResult]) -> dict[str, bytes]:
        return {THROUGHPUT_TABLE_FILE: throughput_table(records).encode("utf-8")}

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
                    "the results card publishes another public key than this process signs with; "
                    "its results will not verify until the card is updated deliberately"
                )
                return None
        return rendered


def table_header(pins: bytes | None) -> list[str]:
    """The header every table shard has, from `pins.json` as stored (what the card declares to `datasets`)."""
    return board_columns(pinned_sets(pins))


def open_store(config: LeaderboardConfig, env: Mapping[str, str] | None = None) -> Store:
    """The store the config names, rendering the leaderboard's files: the local folder by default, the two Hub
    datasets when configured (`HF_TOKEN` authenticates; the card publishes `RESULTS_PUBLIC_KEY`, or the key derived
    from `RESULTS_SIGNING_KEY`; `env` defaults to the process's environment)."""
    if config.store.kind == "hub":
        from openasr_core.signing import public_key_from_env
        from openasr_core.store.hub import HubStore

        env = os.environ if env is None else env
        card = CardInfo.from_config(config, public_key=public_key_from_env(env))
        return HubStore.from_config(config, env, render=BoardFiles(card))
    from openasr_core.signing import public_key_for

    return LocalStore(config.store.local_root, render=BoardFiles(CardInfo.from_config(config, public_key_for(config))))


def render_repos(
    requests: Iterable[Request], results: Iterable[Result], log: Sequence[LogEntry], audits: Iterable[AuditRecord] = ()
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Both repos' files for a whole board at once, as the store would have written them one request at a time
    (the benchmarks and tests fill a Hub stand-in with these): the requests repo's files and the results repo's
    (records, table with each entry's latest audit, pins; no card, no predictions, no audit records)."""
    request_files, _ = requests_files(EMPTY, list(requests), list(log), None, "fill")
    records = list(audits)
    written = results_files({}, [(r, {}) for r in results], None, dict, BoardFiles(), audits_of=lambda _names: records)
    return request_files, written.files
