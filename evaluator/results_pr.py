"""Publish back (R15, opt-in): one pull request on the model's own repo with its verified results.

When a submitter ticked "open a pull request with the verified results" (`Request.publish_results`, or
`python -m leaderboard submit --publish-results`), the worker that finished the request calls
`publish_results_pr`. It opens one PR adding `.eval_results/<board name>.yaml` in the Hub's Evaluation Results
format (https://huggingface.co/docs/hub/eval-results): one entry per eval set with the measured WER in percent,
`source.url` at the entry's detail page, and `notes` naming the rules it was measured under and the sha256 of
the signed result, with the result file's URL. It goes through the Hub's own API, `HfApi.create_commit(...,
create_pr=True)`.

Never two PRs for one entry, also when an answer is lost:
1. the public log is read first: a `results_pr_opened` event for the request means it is done;
2. then the model repo's pull requests are listed (`get_repo_discussions`): a PR whose title carries the
   request id (`[<request id>]`) is ours, from an earlier call whose answer was lost; it is adopted and logged;
3. only then is the PR opened. If `create_commit` fails, the PRs are listed again before anything is logged: a
   commit applied whose answer was lost is adopted, not opened twice.
A PR is opened only for a FINISHED request whose result verifies under the board's public key. Any failure is
logged (`results_pr_failed`, with the reason) and changes nothing else: the result and the request stay as they
are, and a later call (`python -m evaluator publish-results --request-id ID`) tries again by the same steps.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any, Protocol

import yaml

from openasr_core import layout
from openasr_core.config import LeaderboardConfig
from openasr_core.eventlog import canonical_json
from openasr_core.records import HUB_REPO_ID, Result, Status
from openasr_core.redaction import redact
from openasr_core.signing import public_key_for, verify_result
from openasr_core.store import Store, StoreError

logger = logging.getLogger(__name__)

RESULTS_PR_OPENED = "results_pr_opened"
RESULTS_PR_FAILED = "results_pr_failed"
#: Pull requests looked at for one of ours before giving up the search (pages of 50).
MAX_PULL_REQUESTS_SCANNED = 1000
HUB = "https://huggingface.co"


class PullRequestApi(Protocol):
    """The part of `huggingface_hub.HfApi` used here (tests run the real one over the Hub emulator)."""

    def get_repo_discussions(self, repo_id: str, **kwargs: Any) -> Any: ...

    def create_commit(self, repo_id: str, operations: Any, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class PrOutcome:
    """What a call did: `event` is the log event it wrote (None: nothing to do or it could not log), `url` and
    `num` the PR's, `adopted` when an existing PR of ours was found instead of opening one, `error` why not."""

    event: str | None
    url: str | None = None
    num: int | None = None
    adopted: bool = False
    error: str | None = None


def board_file(config: LeaderboardConfig) -> str:
    """`.eval_results/<board name>.yaml`: the board's title as a file name (letters, digits, `-`)."""
    slug = re.sub(r"[^a-z0-9]+", "-", config.title.lower()).strip("-") or "asr-leaderboard"
    return f".eval_results/{slug[:80]}.yaml"


def result_sha256(result: Result) -> str:
    """sha256 (hex) of the signed result's canonical JSON, signature included: what the PR's notes name."""
    return hashlib.sha256(canonical_json(Result.from_dict(result.to_dict()).to_dict())).hexdigest()


def marker(request_id: str) -> str:
    """What a PR title carries so that any later call recognizes the PR as this entry's."""
    return f"[{request_id}]"


def entry_links(config: LeaderboardConfig, request_id: str) -> tuple[str, str]:
    """(detail page URL, result file URL) of an entry: the Space's `?detail=` link and the file in the results
    dataset on the Hub; on a board without a Space or a results repo, the file's path stands in."""
    path = layout.result_path(request_id)
    repo = config.store.results_repo
    file_url = f"{HUB}/datasets/{repo}/blob/main/{path}" if repo else path
    space = config.workers.space_id
    detail = f"{HUB}/spaces/{space}?detail={request_id}" if space else file_url
    return detail, file_url


def results_yaml(config: LeaderboardConfig, result: Result) -> str:
    """The `.eval_results` file: one entry per eval set, measured WER in percent, source at the entry."""
    detail, file_url = entry_links(config, result.request_id)
    sources = {s.name: s for s in result.eval_sets}
    rules = (
        f"{result.hardware.gpu_class}, batch size one, greedy, {result.precision}, "
        f"leaderboard version {result.leaderboard_version}; signed result sha256 {result_sha256(result)}: {file_url}"
    )
    entries = []
    for name, score in result.datasets.items():
        source = sources.get(name)
        dataset: dict[str, str] = {"id": source.source if source and source.config else name, "task_id": name}
        if source and source.revision:
            dataset["revision"] = source.revision
        entries.append(
            {
                "dataset": dataset,
                "value": round(score.wer * 100, 2),
                "date": result.finished_at,
                "source": {"url": detail, "name": config.title},
                "notes": rules,
            }
        )
    return yaml.safe_dump(entries, sort_keys=False, allow_unicode=True, width=1000)


def pr_title(config: LeaderboardConfig, result: Result) -> str:
    return (
        f"Add verified {config.title} results ({result.precision}, {result.hardware.gpu_class}, batch one) "
        f"{marker(result.request_id)}"
    )


def pr_description(config: LeaderboardConfig, result: Result) -> str:
    detail, file_url = entry_links(config, result.request_id)
    return (
        f"This pull request adds `{board_file(config)}` in the Hub's Evaluation Results format: the word error rate "
        f"that {config.title} measured for this model at revision `{result.revision}` in {result.precision}, on "
        f"{result.hardware.gpu_class}, one utterance at a time, greedy decoding, with the board's one normalizer.\n\n"
        f"- the entry: {detail}\n- its signed record: {file_url} (sha256 `{result_sha256(result)}`)\n\n"
        "The submitter asked for this pull request when submitting the model. Merge it to show these numbers on "
        "the model page, or close it: nothing on the leaderboard depends on it."
    )


def logged_pr(store: Store, request_id: str) -> dict[str, Any] | None:
    """The detail of the request's `results_pr_opened` event in the public log, if there is one."""
    for entry in reversed(store.snapshot().log):
        if entry.request_id == request_id and entry.event == RESULTS_PR_OPENED:
            return dict(entry.detail)
    return None


def find_pr(api: PullRequestApi, repo_id: str, request_id: str) -> tuple[int, str] | None:
    """(number, URL) of a PR on the repo whose title carries the request id, open or closed; None if none."""
    wanted = marker(request_id)
    for seen, discussion in enumerate(api.get_repo_discussions(repo_id, discussion_type="pull_request")):
        if seen >= MAX_PULL_REQUESTS_SCANNED:
            break
        if wanted in discussion.title:
            return discussion.num, f"{HUB}/{repo_id}/discussions/{discussion.num}"
    return None


def _log(store: Store, request_id: str, event: str, actor: str, detail: dict[str, object]) -> PrOutcome:
    """Write the outcome's log event; a store that cannot be written is reported in the Space's log only."""
    try:
        # The store's one writer of a plain log event (a public wrapper belongs in openasr_core/store/base.py).
        store._append_event(request_id, event, actor, lambda _state: detail)
    except StoreError as exc:
        logger.warning("%s: could not log %s: %s", request_id, event, redact(str(exc)))
        return PrOutcome(None, error=str(exc))
    if event == RESULTS_PR_FAILED:
        return PrOutcome(event, error=str(detail.get("error")))
    return PrOutcome(event, str(detail["pr_url"]), int(str(detail["pr_num"])), bool(detail.get("adopted")))


def _refusal(config: LeaderboardConfig, store: Store, request_id: str, result: Result | None) -> str | None:
    """Why no PR may be opened for this entry (not finished, not verified, not a Hub model), or None."""
    request = store.snapshot().requests.get(request_id)
    if request is None or request.status is not Status.FINISHED or result is None:
        return "the entry is not finished"
    key = public_key_for(config)
    if key is None or not verify_result(result, key):
        return "the result's signature does not verify under the board's public key"
    if not HUB_REPO_ID.match(result.model_id) or (config.models_dir / result.model_id).is_dir():
        return f"{result.model_id} is a local model: there is no Hub repo to open a pull request on"
    return None


def publish_results_pr(
    config: LeaderboardConfig,
    store: Store,
    request_id: str,
    *,
    actor: str = "evaluator",
    api: PullRequestApi | None = None,
) -> PrOutcome:
    """Open the entry's one results PR (module doc: the steps that keep it to one); never raises."""
    request = store.snapshot().requests.get(request_id)
    if request is None or not request.publish_results:
        return PrOutcome(None, error="the submitter did not ask for a pull request")  # nothing logged, no Hub call
    existing = logged_pr(store, request_id)
    if existing is not None:
        return PrOutcome(None, existing.get("pr_url"), existing.get("pr_num"), adopted=True)
    result = store.result(request_id)
    refusal = _refusal(config, store, request_id, result)
    if refusal is not None or result is None:
        return _log(store, request_id, RESULTS_PR_FAILED, actor, {"error": refusal or "no result"})
    if api is None:
        api = _hf_api()
    base = {"repo_id": result.model_id, "file": board_file(config)}
    try:
        found = find_pr(api, result.model_id, request_id)
        if found is None:
            return _open(config, store, api, result, actor, base)
    except Exception as exc:
        return _log(store, request_id, RESULTS_PR_FAILED, actor, {**base, "error": _reason(exc)})
    return _log(
        store, request_id, RESULTS_PR_OPENED, actor, {**base, "pr_num": found[0], "pr_url": found[1], "adopted": True}
    )


def _open(
    config: LeaderboardConfig, store: Store, api: PullRequestApi, result: Result, actor: str, base: dict[str, object]
) -> PrOutcome:
    """`create_commit(create_pr=True)`; after a failure the PRs are listed again, so a lost answer is adopted."""
    from huggingface_hub import CommitOperationAdd

    operation = CommitOperationAdd(board_file(config), results_yaml(config, result).encode("utf-8"))
    try:
        info = api.create_commit(
            result.model_id,
            [operation],
            commit_message=pr_title(config, result),
            commit_description=pr_description(config, result),
            create_pr=True,
        )
    except Exception as exc:
        error = _reason(exc)
        try:
            found = find_pr(api, result.model_id, result.request_id)
        except Exception:
            found = None
        if found is None:
            return _log(store, result.request_id, RESULTS_PR_FAILED, actor, {**base, "error": error})
        detail = {**base, "pr_num": found[0], "pr_url": found[1], "adopted": True}
        return _log(store, result.request_id, RESULTS_PR_OPENED, actor, detail)
    url = getattr(info, "pr_url", None)
    num = getattr(info, "pr_num", None)
    if not url or num is None:
        error = "the Hub opened no pull request (the file may already be on the repo's main branch unchanged)"
        return _log(store, result.request_id, RESULTS_PR_FAILED, actor, {**base, "error": error})
    detail = {**base, "pr_num": int(num), "pr_url": str(url), "adopted": False}
    return _log(store, result.request_id, RESULTS_PR_OPENED, actor, detail)


def _reason(exc: Exception) -> str:
    return redact(f"{type(exc).__name__}: {exc}")[:300]


def _hf_api() -> PullRequestApi:
    from huggingface_hub import HfApi

    # HF_TOKEN: opening a PR on someone else's public repo needs a write token (or a fine-grained token allowed
    # to open pull requests on public repos); see docs/evaluator.md, "Publish back".
    return HfApi()
