"""HubStore against the in-memory Hub: the same contract as the local store, plus the Hub's own failure modes."""

from __future__ import annotations

import logging
import threading
import traceback
from pathlib import Path

import pandas as pd
import pytest
from huggingface_hub.errors import HfHubHTTPError

from core.dataset_card import CARD_FILE, TABLE_FILE, CardInfo, parse_front_matter
from core.records import Status
from core.signing import generate_keypair, sign_result
from core.store import Conflict, Store, StoreError
from core.store.hub import HubStore, RetryPolicy
from tests.core.store_contract import ROWS, StoreContract, make_request, make_result
from tests.fake_hub import FakeHub

REQUESTS, RESULTS = "board/requests", "board/results"
TOKEN = "hf_secretTOKENvalue1234567890"


def make_hub_store(
    hub: FakeHub, *, token: str = TOKEN, sleeps: list[float] | None = None, **kwargs: object
) -> HubStore:
    record = sleeps if sleeps is not None else []
    retry = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=5.0, sleep=record.append)
    return HubStore(REQUESTS, RESULTS, token=token, api=hub.api(token), create_repos=True, retry=retry, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def hub(tmp_path: Path) -> FakeHub:
    return FakeHub(tmp_path / "hub")


class TestHubStore(StoreContract):
    @pytest.fixture
    def store(self, hub: FakeHub) -> Store:
        return make_hub_store(hub)


def test_claim_is_one_atomic_commit_on_the_requests_repo(hub: FakeHub) -> None:
    store = make_hub_store(hub)
    store.submit(make_request(1))
    before = hub.commit_count(REQUESTS), hub.commit_count(RESULTS)
    store.claim("w", 60, 3)
    assert (hub.commit_count(REQUESTS), hub.commit_count(RESULTS)) == (before[0] + 1, before[1])
    files = hub.files(REQUESTS)
    assert b'"RUNNING"' in files["requests/req-0001.json"] and b'"claimed"' in files["log.jsonl"]


def test_two_workers_claiming_at_once_get_different_requests(hub: FakeHub) -> None:
    make_hub_store(hub)
    seeder = make_hub_store(hub)
    for n in range(12):
        seeder.submit(make_request(n))
    workers = [make_hub_store(hub), make_hub_store(hub)]
    claimed: dict[int, list[str]] = {0: [], 1: []}
    start = threading.Barrier(2)

    def run(index: int) -> None:
        start.wait()
        while (request := workers[index].claim(f"w{index}", 600, 3)) is not None:
            claimed[index].append(request.request_id)

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    every = claimed[0] + claimed[1]
    assert sorted(every) == [f"req-{n:04d}" for n in range(12)]  # each exactly once, none lost
    snap = seeder.snapshot()
    assert all(r.status is Status.RUNNING and r.attempts == 1 for r in snap.requests.values())
    assert snap.verify_log().ok and len(snap.log) == 24


def test_commit_landing_between_read_and_write_is_retried_without_double_claim(hub: FakeHub) -> None:
    a, b = make_hub_store(hub), make_hub_store(hub)
    a.submit(make_request(1))
    a.submit(make_request(2))
    # B claims (and so moves the requests repo) after A has read, just before A's commit: A gets a 412.
    won_by_b: list[str] = []
    hub.before("create_commit", lambda: won_by_b.append(b.claim("wb", 600, 3).request_id))
    got = a.claim("wa", 600, 3)
    assert won_by_b == ["req-0001"] and got is not None and got.request_id == "req-0002"
    snap = a.snapshot()
    assert snap.requests["req-0001"].lease.worker == "wb" and snap.requests["req-0002"].lease.worker == "wa"
    assert [e.event for e in snap.log].count("claimed") == 2 and snap.verify_log().ok


def test_submit_racing_a_claim_is_not_lost(hub: FakeHub) -> None:
    a, b = make_hub_store(hub), make_hub_store(hub)
    a.submit(make_request(1))
    hub.before("create_commit", lambda: b.submit(make_request(2)))
    a.claim("wa", 600, 3)
    snap = a.snapshot()
    assert set(snap.requests) == {"req-0001", "req-0002"}  # B's submit survived A's retried claim
    assert [e.event for e in snap.log] == ["submitted", "submitted", "claimed"] and snap.verify_log().ok


def test_412_is_a_real_hub_error_and_becomes_conflict(hub: FakeHub) -> None:
    api = hub.api(TOKEN)
    make_hub_store(hub)
    with pytest.raises(HfHubHTTPError) as raised:
        api.create_commit(REQUESTS, [], commit_message="x", repo_type="dataset", parent_commit="0" * 40)
    assert raised.value.response.status_code == 412
    store = make_hub_store(hub)
    with pytest.raises(Conflict):
        store._commit(REQUESTS, {"x.txt": "x"}, "0" * 40, "stale")


@pytest.mark.parametrize("status", [429, 500, 503])
def test_transient_errors_are_retried_with_backoff(hub: FakeHub, status: int) -> None:
    sleeps: list[float] = []
    store = make_hub_store(hub, sleeps=sleeps)
    hub.fail("dataset_info", status, times=2)
    hub.fail("snapshot_download", status)
    hub.fail("create_commit", status)
    store.submit(make_request(1))
    assert store.claim("w", 60, 3).request_id == "req-0001"
    assert len(sleeps) == 4 and sleeps[1] > 0
    assert store.snapshot().requests["req-0001"].status is Status.RUNNING


def test_retry_after_is_honoured_and_retries_are_bounded(hub: FakeHub) -> None:
    sleeps: list[float] = []
    store = make_hub_store(hub, sleeps=sleeps)
    hub.fail("dataset_info", 429, headers={"Retry-After": "3"})
    store.snapshot()
    assert sleeps == [3.0]
    hub.fail("dataset_info", 503, times=10)
    with pytest.raises(StoreError, match="after 4 tries"):
        store.snapshot()
    hub._failures.clear()
    hub.fail("dataset_info", 429, headers={"Retry-After": "3600"})
    with pytest.raises(StoreError, match="asks to wait 3600s"):
        store.snapshot()


def test_commit_applied_but_answer_lost_is_not_applied_twice(hub: FakeHub) -> None:
    store = make_hub_store(hub)
    store.submit(make_request(1))
    store.submit(make_request(2))
    hub.fail("create_commit", 503, apply=True)  # the claim lands, the client sees a 503, its retry gets a 412
    claimed = store.claim("w", 600, 3)
    assert claimed.request_id == "req-0001"
    snap = store.snapshot()
    assert snap.requests["req-0002"].status is Status.PENDING  # not claimed as a side effect of the retry
    assert [e.event for e in snap.log] == ["submitted", "submitted", "claimed"]


def test_finish_retried_after_requests_conflict_does_not_duplicate(hub: FakeHub) -> None:
    a, b = make_hub_store(hub), make_hub_store(hub)
    a.submit(make_request(1))
    claimed = a.claim("w", 600, 3)
    results_commits = hub.commit_count(RESULTS)

    def other_commit_lands() -> None:
        # Fires on the results commit; B's submit moves the requests repo before A's requests commit.
        hub.before("create_commit", lambda: b.submit(make_request(2)))

    hub.before("create_commit", other_commit_lands)
    a.finish("req-0001", "w", make_result(claimed), {"set": ROWS})
    assert hub.commit_count(RESULTS) == results_commits + 1  # the retry found the identical result, no re-commit
    snap = a.snapshot()
    assert snap.requests["req-0001"].status is Status.FINISHED and "req-0002" in snap.requests
    assert [e.event for e in snap.log] == ["submitted", "claimed", "submitted", "finished"]
    assert snap.verify_log().ok
    assert a.predictions("req-0001", "set") == ROWS


def test_finish_writes_result_predictions_table_and_card_in_one_commit(hub: FakeHub) -> None:
    private, public = generate_keypair()
    card = CardInfo(leaderboard_version="test-v1", eval_sets=("set",), public_key=public, results_repo=RESULTS)
    store = make_hub_store(hub, card=card)
    store.submit(make_request(1))
    claimed = store.claim("w", 600, 3)
    commits = hub.commit_count(RESULTS)
    store.finish("req-0001", "w", sign_result(make_result(claimed), private), {"set": ROWS})
    assert hub.commit_count(RESULTS) == commits + 1
    files = hub.files(RESULTS)
    assert {"results/req-0001.json", "predictions/req-0001/set.jsonl", TABLE_FILE, CARD_FILE} <= set(files)
    table = pd.read_csv(pd.io.common.StringIO(files[TABLE_FILE].decode()))
    assert list(table["request_id"]) == ["req-0001"] and table.loc[0, "wer_set"] == 0.1
    assert parse_front_matter(files[CARD_FILE].decode())["public_key"] == public


def test_card_with_another_key_is_not_replaced_silently(hub: FakeHub) -> None:
    _, first = generate_keypair()
    _, second = generate_keypair()
    make_hub_store(hub, card=CardInfo(leaderboard_version="v", public_key=first))
    make_hub_store(hub, card=CardInfo(leaderboard_version="v", public_key=second))
    make_hub_store(hub, card=CardInfo(leaderboard_version="v", public_key=None))
    assert parse_front_matter(hub.files(RESULTS)[CARD_FILE].decode())["public_key"] == first


def test_reads_cost_a_bounded_number_of_calls_not_one_per_file(hub: FakeHub) -> None:
    store = make_hub_store(hub)
    for n in range(20):
        store.submit(make_request(n))
    for _ in range(5):
        request = store.claim("w", 600, 3)
        store.finish(request.request_id, "w", make_result(request), {"set": ROWS, "other": ROWS})
    reader = make_hub_store(hub)
    hub.calls.clear()
    snap = reader.snapshot()
    assert len(snap.results) == 5 and len(snap.requests) == 20
    assert hub.count() == 4  # dataset_info + snapshot_download, per repo
    hub.calls.clear()
    reader.snapshot()
    assert hub.calls == [("dataset_info", REQUESTS), ("dataset_info", RESULTS)]  # unchanged: cached by sha
    hub.calls.clear()
    reader.claim("w2", 600, 3)
    assert hub.count("snapshot_download") == 0 and hub.count("hf_hub_download") == 0  # nothing new to download


def test_token_never_in_messages_or_logs(hub: FakeHub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store = make_hub_store(hub)
    store.submit(make_request(1))
    hub.fail("dataset_info", 503, times=10)
    with pytest.raises(StoreError) as raised:
        store.snapshot()
    texts = [str(raised.value), "".join(traceback.format_exception(raised.value))]
    hub._failures.clear()
    hub.fail("create_commit", 403)
    with pytest.raises(StoreError) as forbidden:
        store.claim("w", 60, 3)
    assert "write access" in str(forbidden.value)
    texts += [str(forbidden.value), "".join(traceback.format_exception(forbidden.value)), repr(store)]
    missing = HubStore("nobody/requests", "nobody/results", token=TOKEN, api=hub.api(TOKEN))
    with pytest.raises(StoreError) as not_found:
        missing.snapshot()
    assert "LEADERBOARD_CREATE_REPOS" in str(not_found.value)
    texts += [str(not_found.value), "".join(traceback.format_exception(not_found.value))]
    texts += [record.getMessage() for record in caplog.records]
    texts += [caplog.text]
    assert caplog.records  # the retries were logged
    assert not [text for text in texts if TOKEN in text]


def test_from_config_reads_token_and_repos_from_env(tmp_path: Path) -> None:
    from core.config import load_config

    config = load_config(env={"REQUESTS_REPO": REQUESTS, "RESULTS_REPO": RESULTS, "LEADERBOARD_STORE": str(tmp_path)})
    store = HubStore.from_config(config, env={"HF_TOKEN": TOKEN})
    assert (store.requests_repo, store.results_repo) == (REQUESTS, RESULTS)
    assert store.card is not None and store.card.public_key is None
    assert TOKEN not in repr(store)
