"""Publish back (R15): one PR on the model's repo with the verified results, opened through the REAL `HfApi`
over the Hub emulator; never two for one entry (also when the answer is lost), none when the box is not
ticked, and a failure is logged and changes nothing else."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from huggingface_hub import HfApi
from huggingface_hub import constants as hf_constants

from evaluator import cli
from evaluator.job import run_once
from evaluator.results_pr import RESULTS_PR_FAILED, RESULTS_PR_OPENED, board_file, publish_results_pr
from openasr_core.board_files import open_store
from openasr_core.config import LeaderboardConfig
from openasr_core.records import Status
from openasr_core.signing import attach_predictions, public_key_for, sign_result, signing_key_for, verify_result
from openasr_core.store import Store
from testkit.audio import make_audiofolder, write_config
from testkit.hub_emulator import ENDPOINT, HubEmulator
from testkit.submit import run_submit
from tests.openasr_core.store_contract import ROWS, make_request, make_result

MODEL = "org/model-1"


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubEmulator]:
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    emulator = HubEmulator()
    emulator.add_repo(MODEL, {"config.json": b"{}", "README.md": b"# card\n"}, repo_type="model")
    with emulator.installed():
        yield emulator


def finished(tmp_path: Path, publish: bool = True, sign: bool = True) -> tuple[LeaderboardConfig, Store, str]:
    """A board with one FINISHED entry of `MODEL` (signed by the board's key unless `sign` is False)."""
    config = write_config(tmp_path, {"set": make_audiofolder(tmp_path / "set", ["hello world"])})
    store = open_store(config)
    request = store.submit(make_request(1, publish_results=publish))
    claimed = store.claim("w1", lease_s=60, max_attempts=3)
    assert claimed is not None
    result = attach_predictions(make_result(claimed), {"set": ROWS})
    key = signing_key_for(config)
    store.finish(request.request_id, "w1", sign_result(result, key) if sign and key else result, {"set": ROWS})
    return config, store, request.request_id


def events(store: Store, name: str) -> list[dict[str, object]]:
    return [dict(e.detail) for e in store.snapshot().log if e.event == name]


def test_one_pr_in_the_hubs_format_then_none_again(tmp_path: Path, hub: HubEmulator) -> None:
    config, store, request_id = finished(tmp_path)
    api = HfApi(endpoint=ENDPOINT)
    hub.reset_counts()
    outcome = publish_results_pr(config, store, request_id, api=api)
    opening = len(hub.calls)
    pulls = hub.repo(MODEL, "model").pulls
    assert outcome.event == RESULTS_PR_OPENED and not outcome.adopted and len(pulls) == 1
    assert outcome.url == f"{ENDPOINT}/{MODEL}/discussions/1" and f"[{request_id}]" in pulls[0].title
    assert hub.commit_count(MODEL, "model") == 1, "main does not move: the file is on refs/pr/1 only"
    assert api.list_repo_refs(MODEL, include_pull_requests=True).pull_requests[0].ref == "refs/pr/1"
    entries = yaml.safe_load(pulls[0].files[board_file(config)])
    assert entries[0]["dataset"]["task_id"] == "set" and entries[0]["value"] == 10.0, "WER in percent"
    assert entries[0]["source"]["url"].endswith(f"/{request_id}.json"), "no Space here: the result file stands in"
    assert "batch size one" in entries[0]["notes"] and "sha256" in entries[0]["notes"]
    assert [e["pr_url"] for e in events(store, RESULTS_PR_OPENED)] == [outcome.url]
    routes = [c[0] for c in hub.calls[:opening] if c[0] != "agent-harnesses"]  # the library's once per process
    assert routes == ["discussions", "preupload", "commit"], "list PRs, then one commit with create_pr"
    print(f"requests to open the PR over the emulator: {len(routes)} ({routes})")
    seen = len(hub.calls)
    again = publish_results_pr(config, store, request_id, api=api)
    assert again.event is None and again.url == outcome.url and len(hub.calls) == seen, "the log says done"
    assert len(hub.repo(MODEL, "model").pulls) == 1


def test_a_lost_answer_is_adopted_not_opened_twice(tmp_path: Path, hub: HubEmulator) -> None:
    config, store, request_id = finished(tmp_path)
    hub.drop("commit", apply=True)  # the Hub opens the PR; its answer never arrives
    outcome = publish_results_pr(config, store, request_id, api=HfApi(endpoint=ENDPOINT))
    assert outcome.event == RESULTS_PR_OPENED and outcome.adopted and outcome.num == 1
    assert len(hub.repo(MODEL, "model").pulls) == 1
    # A process that lost even the log line (killed before writing it) finds the PR on the repo and logs it.
    config2, store2, request_id2 = finished(tmp_path / "other")
    hub.repo(MODEL, "model").pulls[0].title = hub.repo(MODEL, "model").pulls[0].title.replace(request_id, request_id2)
    retry = publish_results_pr(config2, store2, request_id2, api=HfApi(endpoint=ENDPOINT))
    assert retry.adopted and len(hub.repo(MODEL, "model").pulls) == 1


def test_a_failure_is_logged_and_changes_nothing_else(tmp_path: Path, hub: HubEmulator) -> None:
    config, store, request_id = finished(tmp_path)
    before = store.snapshot()
    hub.fail("commit", status=403)
    outcome = publish_results_pr(config, store, request_id, api=HfApi(endpoint=ENDPOINT))
    assert outcome.event == RESULTS_PR_FAILED and "403" in (outcome.error or "")
    after = store.snapshot()
    assert after.requests[request_id].status is Status.FINISHED and after.results == before.results
    assert [e.event for e in after.log][len(before.log) :] == [RESULTS_PR_FAILED]
    assert hub.repo(MODEL, "model").pulls == []
    retried = publish_results_pr(config, store, request_id, api=HfApi(endpoint=ENDPOINT))
    assert retried.event == RESULTS_PR_OPENED, "a failure is not final: a later call opens it"


def test_an_unverified_result_gets_no_pr(tmp_path: Path, hub: HubEmulator) -> None:
    config, store, request_id = finished(tmp_path, sign=False)
    outcome = publish_results_pr(config, store, request_id, api=HfApi(endpoint=ENDPOINT))
    assert outcome.event == RESULTS_PR_FAILED and "does not verify" in (outcome.error or "")
    assert hub.repo(MODEL, "model").pulls == [] and hub.count("commit") == 0


def test_no_pr_when_the_box_was_not_ticked(tmp_path: Path, hub: HubEmulator) -> None:
    config, store, request_id = finished(tmp_path, publish=False)
    before = len(store.snapshot().log)
    outcome = publish_results_pr(config, store, request_id, api=HfApi(endpoint=ENDPOINT))
    assert outcome.event is None and hub.count() == 0 and len(store.snapshot().log) == before


def test_run_once_copies_the_claims_into_the_signed_result_and_logs_why_no_pr(tmp_path: Path, tiny_ctc: Path) -> None:
    models = tmp_path / "models"
    folder = models / "org" / "tiny"
    shutil.copytree(tiny_ctc, folder)
    (folder / ".eval_results").mkdir()
    (folder / ".eval_results" / "mine.yaml").write_text("- dataset: {id: s}\n  value: 12.5\n  notes: greedy\n")
    config = write_config(tmp_path, {"s": make_audiofolder(tmp_path / "s", ["hello", "world"])}, models_dir=models)
    store = open_store(config)
    outcome = run_submit(store, models, "org/tiny", eval_sets=config.eval_sets, publish_results=True)
    assert outcome.accepted and outcome.request is not None
    finished_request = run_once(config, store, worker="w1")
    assert finished_request is not None and finished_request.status is Status.FINISHED
    result = store.snapshot().results[outcome.request.request_id]
    (comparison,) = result.claims["s"]
    assert comparison.claimed_wer == 0.125 and comparison.notes == "greedy"
    assert comparison.gap_points == pytest.approx((result.datasets["s"].wer - 0.125) * 100)
    assert verify_result(result, public_key_for(config)), "the claims are signed with the result"
    (failed,) = events(store, RESULTS_PR_FAILED)
    assert "local model" in str(failed["error"]), "the box was ticked: the log says why no PR was opened"


def test_the_cli_retries_a_failed_pr_and_never_opens_a_second(
    tmp_path: Path, hub: HubEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m evaluator publish-results --request-id ID` through the real HfApi: a failed try exits 1 and is
    logged; running it again opens the PR (exit 0); a third run finds it in the log and calls nothing."""
    config, store, request_id = finished(tmp_path)
    argv = ["publish-results", "--config", str(config.path), "--request-id", request_id]
    hub.fail("commit", status=403)
    assert cli.main(argv) == 1 and "running this again retries safely" in capsys.readouterr().out
    assert hub.repo(MODEL, "model").pulls == [] and len(events(store, RESULTS_PR_FAILED)) == 1
    assert cli.main(argv) == 0
    url = f"{ENDPOINT}/{MODEL}/discussions/1"
    assert capsys.readouterr().out.strip() == f"{request_id}: results pull request opened: {url}"
    calls = len(hub.calls)
    assert cli.main(argv) == 0 and f"already opened: {url}" in capsys.readouterr().out
    assert len(hub.calls) == calls and len(hub.repo(MODEL, "model").pulls) == 1
    assert [e["pr_url"] for e in events(store, RESULTS_PR_OPENED)] == [url]


def test_the_cli_says_why_it_did_nothing(tmp_path: Path, hub: HubEmulator, capsys: pytest.CaptureFixture[str]) -> None:
    config, _store, request_id = finished(tmp_path, publish=False)
    argv = ["publish-results", "--config", str(config.path), "--request-id"]
    assert cli.main([*argv, request_id]) == 2 and "did not ask" in capsys.readouterr().out
    assert cli.main([*argv, "req-9999"]) == 2 and "no request req-9999" in capsys.readouterr().err
    assert hub.count() == 0
