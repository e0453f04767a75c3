"""The production store: a `Store` over two Hub dataset repos (`openasr_core.store.hub_http.HubRepo`), holding the
same files as the local store (`openasr_core.layout`); `openasr_core.store.repo_io` says what reads and writes
cost. Every Hub call goes through one retry layer (`openasr_core.store.hub_http`); the token is never logged or
put in a message.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from huggingface_hub import HfApi

from openasr_core.store.base import Clock, Store, StoreError
from openasr_core.store.hub_http import CREATE_REPOS_ENV, HubCaller, HubRepo, RetryPolicy
from openasr_core.store.repo_files import Renderer

if TYPE_CHECKING:
    from openasr_core.config import LeaderboardConfig

__all__ = ["CREATE_REPOS_ENV", "HubStore", "RetryPolicy"]

logger = logging.getLogger(__name__)


class HubStore(Store):
    """Requests and results in two Hub dataset repos (`render`: the derived files results commits carry)."""

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
        render: Renderer | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not requests_repo or not results_repo or requests_repo == results_repo:
            raise StoreError("set REQUESTS_REPO and RESULTS_REPO to two different dataset repos (owner/name)")
        self.requests_repo = requests_repo
        self.results_repo = results_repo
        token = token or None
        self.api = api if api is not None else HfApi(token=token)
        self.retry = retry or RetryPolicy()
        call = HubCaller(self.retry, token)
        repos = (HubRepo(requests_repo, self.api, call, token), HubRepo(results_repo, self.api, call, token))
        super().__init__(*repos, render=render, clock=clock)
        logger.info("Hub store: requests in dataset %s, results in dataset %s", requests_repo, results_repo)
        if create_repos:
            self.create_repos(private=private)

    def __repr__(self) -> str:
        return f"HubStore(requests_repo={self.requests_repo!r}, results_repo={self.results_repo!r})"

    @classmethod
    def from_config(
        cls, config: LeaderboardConfig, env: Mapping[str, str] | None = None, render: Renderer | None = None
    ) -> HubStore:
        """The store the config names. `HF_TOKEN` authenticates; `LEADERBOARD_CREATE_REPOS=1` creates missing
        repos (and publishes the card `render` makes)."""
        env = os.environ if env is None else env
        if not config.store.requests_repo or not config.store.results_repo:
            raise StoreError("the Hub store needs both REQUESTS_REPO and RESULTS_REPO")
        return cls(
            config.store.requests_repo,
            config.store.results_repo,
            token=env.get("HF_TOKEN") or None,
            create_repos=env.get(CREATE_REPOS_ENV, "").strip().lower() in {"1", "true", "yes"},
            render=render,
        )

    def create_repos(self, private: bool = False) -> None:
        """Create both dataset repos if they are missing, and publish the card if the results repo has none."""
        for repo in (self.requests, self.results):
            assert isinstance(repo, HubRepo)
            repo.create(private=private)
        self.publish_card()
