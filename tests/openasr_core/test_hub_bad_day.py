"""The Hub store on a bad day: a damaged log chunk, a stale cache in a long-running process, a Hub incident at the
end of a long evaluation, retries on top of the client's own retries, and a connection that never answers.

Each test here failed on the store as it was before issue 21: nothing may be lost, whatever the damage."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openasr_core import layout
from openasr_core.records import Status
from testkit.hub_emulator import HubEmulator
from tests.openasr_core.store_contract import make_request
from tests.openasr_core.test_hub_store import REQUESTS, make_hub_store

GARBAGE = b'{"seq": 2, "garbage": tru\n'


@pytest.fixture
def hub() -> Iterator[HubEmulator]:
    emulator = HubEmulator()
    with emulator.installed():
        yield emulator


def _damage_log_line(hub: HubEmulator, line: int) -> None:
    """Replace one line of the first log chunk with bytes that do not parse (a stray edit or pull request)."""
    path = layout.log_chunk_path(0)
    lines = hub.files(REQUESTS)[path].splitlines(keepends=True)
    lines[line - 1] = GARBAGE
    hub.push(REQUESTS, {path: b"".join(lines)})


def test_a_repaired_log_chunk_keeps_every_entry_in_place_and_a_lost_answer_is_recognised(hub: HubEmulator) -> None:
    store = make_hub_store(hub)
    for n in (1, 2, 3):
        store.submit(make_request(n))
    _damage_log_line(hub, 2)
    writer = make_hub_store(hub)
    writer.submit(make_request(4))  # repairs the chunk: the unreadable line's bytes are set aside
    quarantined = [p for p in hub.files(REQUESTS) if p.startswith(layout.QUARANTINE_DIR)]
    assert quarantined and hub.files(REQUESTS)[quarantined[0]].count(GARBAGE) == 1
    hub.fail("commit", 503, apply=True)  # the next submit lands, its answer is lost; the retry meets a 412
    writer.submit(make_request(5))  # recognised as landed, not "request id already exists"
    hub.fail("commit", 503, apply=True)
    claimed = writer.claim("w", 600, 3)
    snap = make_hub_store(hub).snapshot()
    assert set(snap.requests) == {f"req-000{n}" for n in range(1, 6)}
    assert [r.request_id for r in snap.requests.values() if r.status is Status.RUNNING] == [claimed.request_id]
    assert [e.seq for e in snap.log] == [1, 3, 4, 5, 6]  # every readable entry keeps its seq; none is reused
    check = snap.verify_log()
    assert not check.ok and check.first_bad_seq == 3  # the chain stays broken where the entry was lost...
    assert any("seq 2" in d for d in snap.damaged)  # ...and the damage stays reported


def test_a_long_running_process_never_erases_another_writers_log_entry(hub: HubEmulator) -> None:
    space = make_hub_store(hub)  # the Space: one process, its log chunks cached
    for n in (1, 2, 3):
        space.submit(make_request(n))
    space.snapshot()
    _damage_log_line(hub, 2)
    make_hub_store(hub).submit(make_request(4))  # another writer repairs the chunk and appends its entry
    space.submit(make_request(5))  # the Space's cache of that chunk is stale: it must notice
    snap = make_hub_store(hub).snapshot()
    submitted = [e.request_id for e in snap.log if e.event == "submitted"]
    assert submitted == ["req-0001", "req-0003", "req-0004", "req-0005"]
    assert set(snap.requests) == {f"req-000{n}" for n in range(1, 6)}


def _job_setup(hub: HubEmulator, tmp_path, monkeypatch: pytest.MonkeyPatch):
    """A Hub board with one pending request and an evaluation that takes no time (the model is beside the point:
    what is tested is what happens to a finished evaluation when the Hub fails at the end)."""
    from evaluator import job
    from evaluator.evaluate import Evaluation
    from testkit.audio import make_audiofolder, write_config
    from tests.openasr_core.store_contract import ROWS
    from tests.openasr_core.store_contract import make_result as result_for

    store = make_hub_store(hub)
    request = store.submit(make_request(1))
    config = write_config(tmp_path, {"set": make_audiofolder(tmp_path / "set", ["hi"])})
    evaluation = Evaluation(result_for(request), {"set": ROWS}, loop_wall_s=1.0, timed_s=1.0)
    monkeypatch.setattr(job, "evaluate", lambda *args, **kwargs: evaluation)
    return job, config, store


@pytest.mark.parametrize(
    ("fault", "waits"),
    [
        ({"status": 503, "times": 8}, [5.0, 10.0]),  # two calls' worth of 5xx: about 20 s of a Hub incident
        ({"status": 429, "headers": {"RateLimit": '"api";r=0;t=120'}}, [120.0]),  # a rate limit asking for 2 min
    ],
)
def test_a_finish_that_meets_a_hub_incident_keeps_its_signed_result_and_publishes_it(
    hub: HubEmulator, tmp_path, monkeypatch: pytest.MonkeyPatch, fault: dict, waits: list[float]
) -> None:
    job, config, store = _job_setup(hub, tmp_path, monkeypatch)
    slept: list[float] = []
    monkeypatch.setattr(job, "DEFAULT_PUBLISH", getattr(job, "PublishPolicy", dict)(sleep=slept.append), raising=False)
    claim = store.claim

    def claim_then_the_hub_fails(*args, **kwargs):  # the claim's commit goes through; the publication meets it
        claimed = claim(*args, **kwargs)
        hub.fail("commit", **fault)
        return claimed

    monkeypatch.setattr(store, "claim", claim_then_the_hub_fails)
    finished = job.run_once(config, store, worker="w")
    assert finished is not None and finished.status is Status.FINISHED
    assert slept == waits
    snap = make_hub_store(hub).snapshot()
    assert snap.requests["req-0001"].status is Status.FINISHED and list(snap.results) == ["req-0001"]
    assert snap.requests["req-0001"].attempts == 1  # evaluated once, published once


def test_one_retry_layer_with_one_cap_on_a_503_outage_and_a_long_rate_limit(hub: HubEmulator) -> None:
    """huggingface_hub retries preupload itself (5 times, sleeping as long as a 429 asks): under the store's own
    retries that made 36 attempts on an outage and 605 s of sleep on a 429 asking for 120 s."""
    from openasr_core.store import StoreUnavailable

    sleeps: list[float] = []
    store = make_hub_store(hub, sleeps=sleeps)  # the store's policy: 4 attempts, at most 60 s a wait
    hub.fail("preupload", 503, times=100)
    with pytest.raises(StoreUnavailable, match="after 4 tries"):
        store.submit(make_request(1))
    assert hub.count("preupload") == 4 and hub.sleeps == [] and len(sleeps) == 3
    hub.clear_faults()
    hub.fail("preupload", 429, times=100, headers={"RateLimit": '"api";r=0;t=120'})
    with pytest.raises(StoreUnavailable, match="asks to wait 120s") as raised:
        store.submit(make_request(1))
    assert raised.value.retry_after_s == 120.0 and hub.sleeps == []  # nobody slept 605 s holding the store lock


def test_every_request_of_a_store_call_has_a_timeout(hub: HubEmulator) -> None:
    """The library's client has no timeout: one connection that never answers would freeze the scheduler."""
    seen: list[dict] = []

    def record(request):
        seen.append(dict(request.extensions.get("timeout") or {}))
        return None  # answered by the emulator's routes

    hub.mount(record)
    store = make_hub_store(hub)
    store.submit(make_request(1))
    store.snapshot()
    assert seen and all(t and all(v is not None and v > 0 for v in t.values()) for t in seen), seen


def test_a_results_repo_created_by_hand_gets_its_card_and_every_table_at_the_spaces_start(hub: HubEmulator) -> None:
    from huggingface_hub import HfApi

    from openasr_core.board_files import BoardFiles
    from openasr_core.dataset_card import AUDITS_TABLE_FILE, CARD_FILE, CardInfo, parse_front_matter
    from openasr_core.store.hub import HubStore, RetryPolicy
    from openasr_core.throughput_table import THROUGHPUT_TABLE_FILE
    from testkit.hub_emulator import ENDPOINT
    from tests.openasr_core.test_hub_store import RESULTS, TOKEN

    for repo in (REQUESTS, RESULTS):  # created on the Hub's website: one commit with a .gitattributes, no card
        hub.add_repo(repo, {".gitattributes": b"*.safetensors filter=lfs\n"})
    card = CardInfo("v1", requests_repo=REQUESTS, results_repo=RESULTS, eval_sets=("set",), public_key="k" * 44)
    api = HfApi(endpoint=ENDPOINT, token=TOKEN)
    store = HubStore(
        REQUESTS, RESULTS, token=TOKEN, api=api, render=BoardFiles(card), retry=RetryPolicy(sleep=lambda _s: None)
    )
    assert CARD_FILE not in hub.files(RESULTS)  # nothing is written until the Space starts on them
    store.on_start()
    files = hub.files(RESULTS)
    assert {CARD_FILE, layout.table_path(layout.FIRST_TABLE_SHARD), AUDITS_TABLE_FILE, THROUGHPUT_TABLE_FILE} <= set(
        files
    )
    meta = parse_front_matter(files[CARD_FILE].decode())
    assert meta["public_key"] == "k" * 44 and {c["config_name"] for c in meta["configs"]} >= {"default", "audits"}
    commits = hub.commit_count(RESULTS)
    store.on_start()  # a restart writes nothing new
    assert hub.commit_count(RESULTS) == commits
