"""HubStore over the Hub emulator with the REAL `huggingface_hub.HfApi`: the store contract, and the Hub's own
failure modes (5xx, 429 with `RateLimit`/`Retry-After`, dropped connections, a commit applied whose answer was
lost, a stale `parent_commit`, a missing revision), and what reads and writes cost in HTTP requests."""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

from openasr_core import layout
from openasr_core.board_files import BoardFiles, open_store
from openasr_core.dataset_card import AUDITS_TABLE_FILE, CARD_FILE, CardInfo, audits_table, parse_front_matter
from openasr_core.records import Progress, Status
from openasr_core.signing import generate_keypair, sign_result
from openasr_core.store import Conflict, Store, StoreError
from openasr_core.store.hub import HubStore, RetryPolicy
from openasr_core.store.hub_http import HubCaller
from testkit.hub_emulator import ENDPOINT, HubEmulator
from tests.openasr_core.store_contract import ROWS, FakeClock, StoreContract, make_request, make_result

REQUESTS, RESULTS = "board/requests", "board/results"
TOKEN = "hf_secretTOKENvalue1234567890"


def make_hub_store(
    hub: HubEmulator,
    *,
    token: str = TOKEN,
    sleeps: list[float] | None = None,
    clock: FakeClock | None = None,
    card: CardInfo | None = None,
    **kwargs: object,
) -> HubStore:
    """A Hub store over the emulator rendering the leaderboard's files (with `card`, when given), as `open_store`
    wires one; retries and conflict waits are recorded in `sleeps`, never slept."""
    record = sleeps if sleeps is not None else []
    retry = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=60.0, sleep=record.append)
    api = HfApi(endpoint=ENDPOINT, token=token)
    render = BoardFiles(card)
    store = HubStore(
        REQUESTS, RESULTS, token=token, api=api, create_repos=True, retry=retry, clock=clock, render=render, **kwargs
    )  # type: ignore[arg-type]
    store.sleep = record.append  # conflict retries do not wait either
    return store


@pytest.fixture
def hub() -> Iterator[HubEmulator]:
    emulator = HubEmulator()
    with emulator.installed():
        yield emulator


def _state(hub: HubEmulator) -> dict:
    return json.loads(hub.files(REQUESTS)[layout.STATE_FILE])


class TestHubStore(StoreContract):
    @pytest.fixture
    def store(self, hub: HubEmulator, clock: FakeClock) -> Store:
        return make_hub_store(hub, clock=clock)


def test_claim_is_one_atomic_commit_on_the_requests_repo(hub: HubEmulator) -> None:
    store = make_hub_store(hub)
    store.submit(make_request(1))
    before = hub.commit_count(REQUESTS), hub.commit_count(RESULTS)
    submitted = hub.files(REQUESTS)[layout.open_path(layout.shard("req-0001"))]
    store.claim("w", 60, 3)
    assert (hub.commit_count(REQUESTS), hub.commit_count(RESULTS)) == (before[0] + 1, before[1])
    (running,) = _state(hub)["queue"]
    assert running["status"] == "RUNNING" and running["lease"]["worker"] == "w"
    assert b'"claimed"' in hub.files(REQUESTS)[layout.log_chunk_path(0)]
    assert hub.files(REQUESTS)[layout.open_path(layout.shard("req-0001"))] == submitted  # the queue alone changed


def test_two_workers_claiming_at_once_get_different_requests(hub: HubEmulator) -> None:
    seeder = make_hub_store(hub)
    for n in range(12):
        seeder.submit(make_request(n))
    workers = [make_hub_store(hub), make_hub_store(hub)]
    for worker in workers:
        worker.sleep = time.sleep  # the jittered wait between conflict retries is what lets both make progress
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
        thread.join(timeout=120)
    every = claimed[0] + claimed[1]
    assert sorted(every) == [f"req-{n:04d}" for n in range(12)]  # each exactly once, none lost
    snap = seeder.snapshot()
    assert all(r.status is Status.RUNNING and r.attempts == 1 for r in snap.requests.values())
    assert snap.verify_log().ok and len(snap.log) == 24


def test_commit_landing_between_read_and_write_is_retried_without_double_claim(hub: HubEmulator) -> None:
    a, b = make_hub_store(hub), make_hub_store(hub)
    a.submit(make_request(1))
    a.submit(make_request(2))
    # B claims (and so moves the requests repo) after A has read, just before A's commit: A gets a real 412.
    won_by_b: list[str] = []
    hub.before("commit", lambda: won_by_b.append(b.claim("wb", 600, 3).request_id))
    got = a.claim("wa", 600, 3)
    assert won_by_b == ["req-0001"] and got is not None and got.request_id == "req-0002"
    snap = a.snapshot()
    assert snap.requests["req-0001"].lease.worker == "wb" and snap.requests["req-0002"].lease.worker == "wa"
    assert [e.event for e in snap.log].count("claimed") == 2 and snap.verify_log().ok


def test_submit_racing_a_claim_is_not_lost(hub: HubEmulator) -> None:
    a, b = make_hub_store(hub), make_hub_store(hub)
    a.submit(make_request(1))
    hub.before("commit", lambda: b.submit(make_request(2)))
    a.claim("wa", 600, 3)
    snap = a.snapshot()
    assert set(snap.requests) == {"req-0001", "req-0002"}  # B's submit survived A's retried claim
    assert [e.event for e in snap.log] == ["submitted", "submitted", "claimed"] and snap.verify_log().ok


def test_stale_parent_commit_is_a_real_412_and_becomes_conflict(hub: HubEmulator) -> None:
    store = make_hub_store(hub)
    store.submit(make_request(1))
    stale = hub.repo(REQUESTS).commits[0][0]
    api = HfApi(endpoint=ENDPOINT, token=TOKEN)
    from huggingface_hub import CommitOperationAdd

    with pytest.raises(HfHubHTTPError) as raised:
        api.create_commit(
            REQUESTS,
            [CommitOperationAdd(path_in_repo="x.txt", path_or_fileobj=b"x")],
            commit_message="x",
            repo_type="dataset",
            parent_commit=stale,
        )
    assert raised.value.response.status_code == 412
    with pytest.raises(Conflict):
        store._commit(store.requests, {"x.txt": b"x"}, stale, "stale")


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_on_any_route_is_retried_with_backoff(hub: HubEmulator, status: int) -> None:
    sleeps: list[float] = []
    store = make_hub_store(hub, sleeps=sleeps)
    hub.fail("refs", status, times=2)
    hub.fail("resolve", status)
    hub.fail("commit", status)
    store.submit(make_request(1))
    assert store.claim("w", 60, 3).request_id == "req-0001"
    assert len(sleeps) == 4 and all(s > 0 for s in sleeps)
    assert [e.event for e in store.snapshot().log] == ["submitted", "claimed"]


def test_429_waits_as_the_ratelimit_header_says(hub: HubEmulator) -> None:
    sleeps: list[float] = []
    store = make_hub_store(hub, sleeps=sleeps)
    hub.fail(
        "refs", 429, headers={"RateLimit": '"api";r=0;t=55', "RateLimit-Policy": '"fixed window";"api";q=500;w=300'}
    )
    store.snapshot()
    assert sleeps == [55.0]
    store.submit(make_request(1))
    hub.fail("resolve", 429, headers={"Retry-After": "3"})
    assert list(make_hub_store(hub, sleeps=sleeps).snapshot().requests) == ["req-0001"]
    assert sleeps[-1] == 3.0


def test_rate_limit_longer_than_allowed_and_persistent_failures_give_clear_errors(hub: HubEmulator) -> None:
    store = make_hub_store(hub)
    hub.fail("refs", 429, headers={"RateLimit": '"api";r=0;t=3600'})
    with pytest.raises(StoreError, match="asks to wait 3600s"):
        store.snapshot()
    hub.fail("refs", 503, times=10)
    with pytest.raises(StoreError, match="after 4 tries"):
        store.snapshot()


def test_dropped_connection_is_retried(hub: HubEmulator) -> None:
    sleeps: list[float] = []
    store = make_hub_store(hub, sleeps=sleeps)
    store.submit(make_request(1))
    reader = make_hub_store(hub, sleeps=sleeps)
    hub.drop("refs")
    hub.drop("resolve")
    assert set(reader.snapshot().requests) == {"req-0001"}
    assert len(sleeps) == 2


def test_preupload_failures_are_retried_by_the_store_alone(hub: HubEmulator) -> None:
    sleeps: list[float] = []
    store = make_hub_store(hub, sleeps=sleeps)
    hub.fail("preupload", 503)
    store.submit(make_request(1))
    assert hub.sleeps == [] and len(sleeps) == 1  # one retry layer: the store's, not huggingface_hub's as well
    assert [e.event for e in store.snapshot().log] == ["submitted"]


@pytest.mark.parametrize("fault", ["5xx", "drop"])
def test_commit_applied_but_answer_lost_is_not_applied_twice(hub: HubEmulator, fault: str) -> None:
    store = make_hub_store(hub)
    store.submit(make_request(1))
    store.submit(make_request(2))
    if fault == "5xx":
        hub.fail("commit", 503, apply=True)  # the claim lands, the client sees a 503, its retry gets a 412
    else:
        hub.drop("commit", apply=True)
    claimed = store.claim("w", 600, 3)
    assert claimed.request_id == "req-0001"
    snap = make_hub_store(hub).snapshot()
    assert snap.requests["req-0002"].status is Status.PENDING  # not claimed as a side effect of the retry
    assert [e.event for e in snap.log] == ["submitted", "submitted", "claimed"]


def test_finish_retried_after_requests_conflict_does_not_duplicate(hub: HubEmulator) -> None:
    a, b = make_hub_store(hub), make_hub_store(hub)
    a.submit(make_request(1))
    claimed = a.claim("w", 600, 3)
    results_commits = hub.commit_count(RESULTS)

    def other_commit_lands() -> None:
        # Fires on the results commit; B's submit moves the requests repo before A's requests commit.
        hub.before("commit", lambda: b.submit(make_request(2)))

    hub.before("commit", other_commit_lands)
    a.finish("req-0001", "w", make_result(claimed), {"set": ROWS})
    assert hub.commit_count(RESULTS) == results_commits + 1  # the retry found the identical result, no re-commit
    snap = make_hub_store(hub).snapshot()
    assert snap.requests["req-0001"].status is Status.FINISHED and "req-0002" in snap.requests
    assert [e.event for e in snap.log] == ["submitted", "claimed", "submitted", "finished"]
    assert snap.verify_log().ok and list(snap.results) == ["req-0001"]
    assert a.predictions("req-0001", "set") == ROWS


def test_finish_writes_result_predictions_records_and_table_in_one_commit(hub: HubEmulator) -> None:
    private, public = generate_keypair()
    card = CardInfo(leaderboard_version="test-v1", eval_sets=("set",), public_key=public, results_repo=RESULTS)
    store = make_hub_store(hub, card=card)
    assert hub.count("validate-yaml") == 1  # the real client validated the card's YAML before committing it
    store.submit(make_request(1))
    claimed = store.claim("w", 600, 3)
    commits = hub.commit_count(RESULTS)
    store.finish("req-0001", "w", sign_result(make_result(claimed), private), {"set": ROWS})
    assert hub.commit_count(RESULTS) == commits + 1
    files = hub.files(RESULTS)
    shard = layout.shard("req-0001")
    expected = {f"results/{shard}/req-0001.json", f"predictions/{shard}/req-0001/set.jsonl", f"records/{shard}.jsonl"}
    assert expected | {layout.table_path(shard), layout.PINS_FILE, CARD_FILE} <= set(files)
    table = pd.read_csv(pd.io.common.StringIO(files[layout.table_path(shard)].decode()))
    assert list(table["request_id"]) == ["req-0001"] and table.loc[0, "wer_set"] == 0.1
    meta = parse_front_matter(files[CARD_FILE].decode())
    assert meta["public_key"] == public and "wer_set" in {f["name"] for f in meta["configs"][0]["features"]}
    assert _state(hub)["results_commit"] == hub.repo(RESULTS).head[0]
    assert store.result("req-0001") == store.snapshot().results["req-0001"]


def _finished(store: HubStore, n: int = 1) -> None:
    store.submit(make_request(n))
    claimed = store.claim("w", 600, 3)
    store.finish(claimed.request_id, "w", make_result(claimed), {"set": ROWS})


def test_audit_record_is_committed_to_the_results_repo_before_its_log_event(hub: HubEmulator) -> None:
    from testkit.factories import make_audit

    store = make_hub_store(hub)
    _finished(store)
    table_path = layout.table_path(layout.shard("req-0001"))
    results, requests, table = hub.commit_count(RESULTS), hub.commit_count(REQUESTS), hub.files(RESULTS)[table_path]
    record = make_audit(request_id="req-0001")
    store.record_audit(record, actor="auditor")
    assert (hub.commit_count(RESULTS), hub.commit_count(REQUESTS)) == (results + 1, requests + 1)
    files = hub.files(RESULTS)
    path = f"audits/{layout.shard('req-0001')}/req-0001/{record.audit_id}.json"
    assert files[path] == record.to_json().encode()
    rows = pd.read_csv(pd.io.common.StringIO(files[table_path].decode()))  # the row says its latest verdict
    assert files[table_path] != table and list(rows["last_audit"]) == ["passed" if record.passed else "failed"]
    assert files[AUDITS_TABLE_FILE].decode() == audits_table([record])  # the audits config of the card
    assert _state(hub)["results_commit"] == hub.repo(RESULTS).head[0]
    fresh = make_hub_store(hub)
    hub.reset_counts()
    assert fresh.snapshot().published_audits() == [record]
    # index.json, state.json, one closed shard, the log chunk, one records shard, the audit
    assert hub.count("resolve") == 6
    assert make_hub_store(hub).snapshot().log[-1].event == "audit_failed"


def test_audit_retried_after_a_requests_conflict_is_committed_once(hub: HubEmulator) -> None:
    from testkit.factories import make_audit

    a, b = make_hub_store(hub), make_hub_store(hub)
    _finished(a)
    results = hub.commit_count(RESULTS)

    def other_commit_lands() -> None:  # fires on the audit's results commit: B moves the requests repo first
        hub.before("commit", lambda: b.submit(make_request(2)))

    hub.before("commit", other_commit_lands)
    record = make_audit(request_id="req-0001")
    a.record_audit(record, actor="auditor")
    assert hub.commit_count(RESULTS) == results + 1  # the retry found the identical record, no second commit
    snap = make_hub_store(hub).snapshot()
    assert [e.event for e in snap.log][-2:] == ["submitted", "audit_failed"] and snap.published_audits() == [record]


def test_audit_record_changed_after_its_event_is_not_published(hub: HubEmulator) -> None:
    from testkit.factories import make_audit

    store = make_hub_store(hub)
    _finished(store)
    record = make_audit(request_id="req-0001")
    store.record_audit(record, actor="auditor")
    changed = record.replace(passed=True)
    shard = layout.audit_records_path("req-0001")  # what the board reads
    hub.push(RESULTS, {shard: hub.files(RESULTS)[shard].replace(b'"passed":false', b'"passed":true')})
    hub.push(RESULTS, {layout.audit_path("req-0001", record.audit_id): changed.to_json().encode()})
    _finished(store, 2)  # the next results commit (which state.json then names) holds the changed record
    snap = make_hub_store(hub).snapshot()
    assert len(snap.audits) == 1 and snap.published_audits() == []


def test_card_with_another_key_is_not_replaced_silently(hub: HubEmulator) -> None:
    _, first = generate_keypair()
    _, second = generate_keypair()
    make_hub_store(hub, card=CardInfo(leaderboard_version="v", public_key=first))
    make_hub_store(hub, card=CardInfo(leaderboard_version="v", public_key=second))
    make_hub_store(hub, card=CardInfo(leaderboard_version="v", public_key=None))
    assert parse_front_matter(hub.files(RESULTS)[CARD_FILE].decode())["public_key"] == first


def _fill(store: HubStore, submitted: int, finished: int) -> None:
    for n in range(submitted):
        store.submit(make_request(n))
    for _ in range(finished):
        request = store.claim("w", 600, 3)
        store.finish(request.request_id, "w", make_result(request), {"set": ROWS, "other": ROWS})


@pytest.mark.parametrize("entries", [(6, 2), (40, 12)])
def test_read_cost_does_not_grow_with_the_number_of_entries(hub: HubEmulator, entries: tuple[int, int]) -> None:
    writer = make_hub_store(hub)
    _fill(writer, *entries)
    reader = make_hub_store(hub)
    snap = reader.snapshot()
    assert len(snap.results) == entries[1] and len(snap.requests) == entries[0]
    hub.reset_counts()
    reader.snapshot()
    assert hub.count() == 1 and hub.count("refs") == 1  # unchanged: one head request
    writer.submit(make_request(999))
    hub.reset_counts()
    reader.snapshot()
    # head, index.json, state.json, the new request's open shard, the last log chunk: whatever the number of entries
    assert hub.count() == 5
    hub.reset_counts()
    reader.claim("w2", 600, 3)
    assert hub.count() <= 5 and hub.count("tree") == 0  # head, preupload, commit (+ state/log if moved)


def test_reading_our_own_write_costs_one_head_request(hub: HubEmulator) -> None:
    store = make_hub_store(hub)
    store.submit(make_request(1))
    hub.reset_counts()
    store.snapshot()
    assert hub.count() == 1


def test_missing_revision_is_not_reported_as_a_missing_repo(hub: HubEmulator) -> None:
    store = make_hub_store(hub)
    store.submit(make_request(1))
    with pytest.raises(Conflict, match="revision is gone"):
        store._view("f" * 40)
    missing = HubStore("nobody/requests", "nobody/results", token=TOKEN, api=HfApi(endpoint=ENDPOINT, token=TOKEN))
    with pytest.raises(StoreError, match="LEADERBOARD_CREATE_REPOS"):
        missing.snapshot()


def test_local_entry_not_found_from_the_client_is_transient() -> None:
    sleeps: list[float] = []
    caller = HubCaller(RetryPolicy(attempts=3, sleep=sleeps.append), None)
    answers = iter([LocalEntryNotFoundError("offline or 5xx"), "ok"])

    def flaky() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert caller("download", "a/b", flaky) == "ok" and len(sleeps) == 1


def test_layout_1_is_refused_with_a_message_saying_what_to_do(hub: HubEmulator) -> None:
    make_hub_store(hub)
    hub.push(REQUESTS, {layout.LEGACY_LOG_FILE: b"", "requests/req-0001.json": b"{}"})
    with pytest.raises(StoreError, match=r"layout 1.*never released.*start a new store"):
        make_hub_store(hub).snapshot()


def test_result_folders_are_sharded_so_none_passes_the_hub_limit() -> None:
    ids = [f"20260101T000000Z-{i:08x}" for i in range(20_000)]
    folders: dict[str, int] = {}
    for request_id in ids:
        folder = layout.result_path(request_id).rsplit("/", 1)[0]
        folders[folder] = folders.get(folder, 0) + 1
    assert len(folders) == 256 and max(folders.values()) < 200


def test_token_never_in_messages_or_logs(hub: HubEmulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    store = make_hub_store(hub)
    store.submit(make_request(1))
    hub.fail("refs", 503, times=10)
    with pytest.raises(StoreError) as raised:
        store.snapshot()
    texts = [str(raised.value), "".join(traceback.format_exception(raised.value))]
    hub.clear_faults()
    hub.fail("commit", 403)
    with pytest.raises(StoreError) as forbidden:
        store.claim("w", 60, 3)
    assert "write access" in str(forbidden.value)
    texts += [str(forbidden.value), "".join(traceback.format_exception(forbidden.value)), repr(store)]
    texts += [record.getMessage() for record in caplog.records]
    texts += [caplog.text]
    assert caplog.records  # the retries were logged
    assert not [text for text in texts if TOKEN in text]


def test_from_config_reads_token_and_repos_from_env(tmp_path: Path) -> None:
    from openasr_core.config import load_config

    config = load_config(env={"REQUESTS_REPO": REQUESTS, "RESULTS_REPO": RESULTS, "LEADERBOARD_STORE": str(tmp_path)})
    store = open_store(config, env={"HF_TOKEN": TOKEN})
    assert isinstance(store, HubStore) and (store.requests_repo, store.results_repo) == (REQUESTS, RESULTS)
    assert isinstance(store.render, BoardFiles) and store.render.card is not None
    assert store.render.card.public_key is None
    assert TOKEN not in repr(store)


def test_a_heartbeat_writes_the_small_index_alone_and_readers_see_the_renewed_lease(hub: HubEmulator) -> None:
    store = make_hub_store(hub)
    for n in range(1, 30):
        store.submit(make_request(n, model=_facts()))
    claimed = store.claim("w", 600, 3)
    reader = make_hub_store(hub)
    reader.snapshot()
    state_before = hub.files(REQUESTS)[layout.STATE_FILE]
    hub.reset_counts()
    renewed = store.heartbeat(claimed.request_id, "w", 900, Progress(eval_set="set", done=3, total=10))
    uploaded = hub.bytes_in if hasattr(hub, "bytes_in") else None
    assert hub.files(REQUESTS)[layout.STATE_FILE] == state_before  # every open request is not rewritten
    index = json.loads(hub.files(REQUESTS)[layout.INDEX_FILE])
    assert [r["request_id"] for r in index["renewed"]] == [claimed.request_id]
    assert uploaded is None or uploaded < 4096, uploaded
    hub.reset_counts()
    seen = reader.snapshot().requests[claimed.request_id]
    assert hub.count() == 2  # head, index.json: the state did not change
    assert seen.lease == renewed.lease and seen.progress.done == 3
    store.finish(claimed.request_id, "w", make_result(claimed), {"set": ROWS})  # folds the renewal into the state
    assert json.loads(hub.files(REQUESTS)[layout.INDEX_FILE])["renewed"] == []
    assert make_hub_store(hub).snapshot().requests[claimed.request_id].status is Status.FINISHED


def _facts():
    from openasr_core.records import ModelInfo

    return ModelInfo("mit", 74_000_000, "WhisperForConditionalGeneration", {"model.safetensors": "a" * 64})


def test_the_detail_preview_downloads_the_start_of_a_large_predictions_file_only(hub: HubEmulator) -> None:
    from openasr_core.records import PredictionRow

    rows = [PredictionRow(f"u{i:05d}", "a reference " * 8, "a prediction " * 8, 5.0, 0.2) for i in range(2600)]
    store = make_hub_store(hub)
    request = store.submit(make_request(1))
    claimed = store.claim("w", 600, 3)
    store.finish(request.request_id, "w", make_result(claimed), {"ami": rows})
    hub.reset_counts()
    assert store.predictions(request.request_id, "ami", limit=200) == rows[:200]
    size = len(hub.files(RESULTS)[layout.predictions_path(request.request_id, "ami")])
    assert hub.bytes_out < size / 4  # a byte range, not the whole file
    assert store.predictions(request.request_id, "ami") == rows  # without a limit: all of it
    assert store.predictions(request.request_id, "ami", limit=5000) == rows  # a limit past the end


def test_a_job_claims_and_finishes_without_reading_every_closed_shard_and_log_chunk(
    hub: HubEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Job is a fresh process: it reads the open requests and the newest log chunk, never the whole board."""
    monkeypatch.setattr(layout, "LOG_CHUNK", 10)  # the log spans many chunks
    writer = make_hub_store(hub)
    _fill(writer, 30, 20)
    target = writer.submit(make_request(500))
    closed = len(_state(hub)["closed"])
    assert closed >= 10 and len(_state(hub)["log_chunks"]) >= 8
    job = make_hub_store(hub)  # nothing cached
    hub.reset_counts()
    claimed = job.claim("job", 600, 3, request_id=target.request_id)
    assert claimed is not None and claimed.request_id == target.request_id
    claim_requests = hub.count()
    assert claim_requests <= 8, claim_requests  # head, index, state, the newest log chunk, preupload, commit
    hub.reset_counts()
    job.heartbeat(claimed.request_id, "job", 600)
    job.finish(claimed.request_id, "job", make_result(claimed), {"set": ROWS})
    assert hub.count("resolve") <= 12, hub.count("resolve")  # not one per closed shard or log chunk
    snap = make_hub_store(hub).snapshot()
    assert snap.requests[target.request_id].status is Status.FINISHED and snap.verify_log().ok


def test_a_cold_board_read_takes_the_audits_from_their_shards_not_one_request_each(hub: HubEmulator) -> None:
    from testkit.factories import make_audit

    store = make_hub_store(hub)
    records = []
    for n in range(1, 9):
        _finished(store, n)
        record = make_audit(request_id=f"req-{n:04d}", audit_id=f"20261128T06000{n}Z-0123abcd")
        store.record_audit(record, actor="auditor")
        records.append(record)
    hub.reset_counts()
    snap = make_hub_store(hub).snapshot()
    assert sorted(snap.published_audits(), key=lambda a: a.audit_id) == records
    fetched = [path for route, _, path in hub.calls if route == "resolve" and "/audit" in path]
    assert fetched and all(f"/{layout.AUDIT_RECORDS_DIR}/" in path for path in fetched)
    assert len(fetched) == len({layout.audit_records_path(r.request_id) for r in records})


def test_an_audit_event_naming_a_path_outside_its_folder_is_reported_not_fetched(tmp_path: Path) -> None:
    from openasr_core.store import LocalStore

    store = LocalStore(tmp_path / "store")
    store.submit(make_request(1))
    claimed = store.claim("w", 600, 3)
    store.finish(claimed.request_id, "w", make_result(claimed), {"set": ROWS})
    store._append_event("req-0001", "audit_passed", "mallory", lambda _s: {"audit_id": "../../../x"})
    snap = LocalStore(tmp_path / "store").snapshot()
    assert snap.audits == [] and any("audit_passed names no audit record" in d for d in snap.damaged)
    assert snap.requests["req-0001"].status is Status.FINISHED
