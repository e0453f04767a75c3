"""Damaged store files are set aside and reported, never fatal (issue 10.1-10.4), on the local store and, where
the Hub reads differently, over the Hub emulator: the board still reads, submissions and finishes still work,
the damaged bytes are kept under `quarantine/`, and `verify` names each problem."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

from evaluator import verify
from openasr_core import layout
from openasr_core.board_files import BoardFiles
from openasr_core.dataset_card import CARD_FILE, CardInfo
from openasr_core.records import ModelInfo, Status
from openasr_core.store import LocalStore
from openasr_core.store import repo as local_store
from tests.openasr_core.store_contract import ROWS, FakeClock, make_request, make_result

GARBAGE = b'{"seq": 99, "this is not": a log entry\n'


def _store(root: Path, clock: FakeClock | None = None) -> LocalStore:
    card = CardInfo(leaderboard_version="test-v1", eval_sets=("set",))
    return LocalStore(root, render=BoardFiles(card), clock=clock or FakeClock())


def _finish(store: LocalStore, n: int) -> None:
    store.submit(make_request(n))
    claimed = store.claim("w", 600, 3)
    assert claimed is not None and claimed.request_id == f"req-{n:04d}"
    store.finish(claimed.request_id, "w", make_result(claimed), {"set": ROWS})


def _board(tmp_path: Path) -> LocalStore:
    """Two finished entries and one pending request."""
    store = _store(tmp_path / "store")
    _finish(store, 1)
    _finish(store, 2)
    store.submit(make_request(3))
    return store


def _table_ids(store: LocalStore) -> list[str]:
    shards = sorted((store.results_root / layout.TABLE_DIR).glob("*.csv"))
    return sorted(request_id for path in shards for request_id in pd.read_csv(path)["request_id"])


def _verify(store: LocalStore) -> tuple[int, str]:
    out = io.StringIO()
    code = verify.main([str(store.root)], out=out)
    return code, out.getvalue()


def _store_problems(store: LocalStore) -> list[str]:
    """verify's FAIL lines about the requests repo, the log and the table (the unsigned test results' own
    lines are not the point here)."""
    lines = _verify(store)[1].splitlines()
    return [line for line in lines if line.startswith("FAIL") and ("requests" in line or layout.TABLE_DIR in line)]


def _still_works(store: LocalStore, n: int = 4) -> None:
    """Submitting, claiming and finishing still work, and the finish reaches the table."""
    store.submit(make_request(n))
    while (claimed := store.claim("w2", 600, 3)) is not None:
        store.finish(claimed.request_id, "w2", make_result(claimed), {"set": ROWS})
    assert f"req-{n:04d}" in _table_ids(store)


def test_truncated_state_file_is_rebuilt_from_the_log_and_set_aside(tmp_path: Path) -> None:
    store = _board(tmp_path)
    state = store.requests_root / layout.STATE_FILE
    original = state.read_bytes()
    state.write_bytes(original[: len(original) // 2])
    fresh = _store(store.root)
    snap = fresh.snapshot()
    assert any("state.json" in d and "rebuilt from the log" in d for d in snap.damaged)
    assert {i: r.status for i, r in snap.requests.items()} == {
        "req-0001": Status.FINISHED,
        "req-0002": Status.FINISHED,
        "req-0003": Status.PENDING,
    }
    assert [r.request_id for r in snap.finished_results()] == ["req-0001", "req-0002"]
    assert any("requests/state.json: damaged" in line for line in _store_problems(fresh))
    _still_works(fresh)
    assert list((store.requests_root / layout.QUARANTINE_DIR).glob("state.json.*"))  # the bytes are kept
    assert _store(store.root).snapshot().damaged == ()  # rewritten by the write
    assert _store_problems(_store(store.root)) == []


def test_a_rebuilt_state_keeps_what_the_submission_recorded(tmp_path: Path) -> None:
    """An open request rebuilt from its `submitted` event keeps its weight hashes (R4 compares them before the
    evaluation) and its throughput choice, so a damaged state.json costs the submitter nothing."""
    store = _board(tmp_path)
    facts = ModelInfo("mit", 39_000_000, "WhisperForConditionalGeneration", {"model.safetensors": "b" * 64})
    submitted = make_request(4, model=facts, throughput=True)
    store.submit(submitted)
    state = store.requests_root / layout.STATE_FILE
    state.write_bytes(state.read_bytes()[:100])
    recovered = _store(store.root).snapshot().requests["req-0004"]
    assert recovered.model == facts and recovered.throughput is True and recovered.status is Status.PENDING
    assert recovered == submitted.replace(submitted_at=recovered.submitted_at)  # the log's time: the only change
    assert _store(store.root).snapshot().requests["req-0003"].model is None  # as submitted: no facts recorded


def test_garbage_appended_to_the_log_is_read_around_then_rewritten(tmp_path: Path) -> None:
    store = _board(tmp_path)
    chunk = store.requests_root / layout.log_chunk_path(0)
    chunk.write_bytes(chunk.read_bytes() + GARBAGE)
    fresh = _store(store.root)
    snap = fresh.snapshot()
    assert len(snap.log) == 7 and snap.verify_log().ok and any("log/000000.jsonl" in d for d in snap.damaged)
    assert "log/000000.jsonl: damaged" in _verify(fresh)[1]
    _still_works(fresh)
    assert GARBAGE not in chunk.read_bytes() and _store(store.root).snapshot().verify_log().ok


def test_garbage_closed_shard_line_costs_that_line_only(tmp_path: Path) -> None:
    store = _board(tmp_path)
    shard = store.requests_root / layout.closed_path(layout.shard("req-0001"))
    shard.write_bytes(shard.read_bytes() + b"not json\n")
    snap = _store(store.root).snapshot()
    assert snap.requests["req-0001"].status is Status.FINISHED and any("closed/" in d for d in snap.damaged)
    _still_works(_store(store.root))


def test_corrupt_records_shard_and_result_file_do_not_stop_finishes(tmp_path: Path) -> None:
    store = _board(tmp_path)
    records = store.results_root / layout.records_path(layout.shard("req-0002"))
    records.write_bytes(b'{"request_id": "req-0002", "truncated')
    (store.results_root / layout.result_path("req-0001")).write_bytes(b"\x00\xff garbage")
    fresh = _store(store.root)
    snap = fresh.snapshot()
    assert "req-0002" not in snap.results and any("records/" in d for d in snap.damaged)
    code, out = _verify(fresh)
    assert code == 1 and f"results/{layout.result_path('req-0001')}: not a valid result record" in out
    _still_works(fresh)
    repaired = _store(store.root).snapshot()  # the shard was rebuilt from the result files it repeats
    assert "req-0002" in repaired.results and not any("records/" in d for d in repaired.damaged)
    assert list((store.results_root / layout.QUARANTINE_DIR / layout.RECORDS_DIR).glob("*.jsonl.*"))


def test_corrupt_table_shard_is_reported_and_rewritten_from_the_records_by_the_next_finish_there(
    tmp_path: Path,
) -> None:
    """The table is never read to be written: a shard is rendered from its records shard, so damage (bytes that
    are not text, a row with a field too many) cannot stop a finish, and is gone when its shard is next written."""
    store = _board(tmp_path)
    path = store.results_root / layout.table_path(layout.shard("req-0001"))
    path.write_bytes(
        path.read_bytes() + b"\x00\xff{garbage: tru,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5,6,7,8,9,0,1,2,3,4,5\n<html>\n"
    )
    code, out = _verify(store)
    assert code == 1 and layout.table_path(layout.shard("req-0001")) in out
    same_shard = next(n for n in range(5, 2000) if layout.shard(f"req-{n:04d}") == layout.shard("req-0001"))
    fresh = _store(store.root)
    _still_works(fresh, same_shard)
    assert _table_ids(fresh) == sorted(["req-0001", "req-0002", "req-0003", f"req-{same_shard:04d}"])
    assert _store_problems(fresh) == []


def test_missing_table_fails_verify(tmp_path: Path) -> None:
    store = _board(tmp_path)
    for path in (store.results_root / layout.TABLE_DIR).glob("*.csv"):
        path.unlink()
    code, out = _verify(store)
    assert code == 1 and "leaderboard: is missing" in out


def test_state_that_disagrees_with_the_log_fails_verify(tmp_path: Path) -> None:
    store = _board(tmp_path)
    state_path = store.requests_root / layout.STATE_FILE
    state = json.loads(state_path.read_text())
    state["queue"][0]["status"] = "RUNNING"  # req-0003 is PENDING in its log
    state["queue"][0]["attempts"] = 1
    state_path.write_text(json.dumps(state))
    code, out = _verify(store)
    assert code == 1 and "request req-0003 is RUNNING after 1 attempt(s), but its log (submitted) says PENDING" in out


def test_crash_between_result_and_table_is_published_in_full_by_lease_expiry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    store = _store(tmp_path / "store", clock)
    _finish(store, 1)
    store.submit(make_request(2))
    claimed = store.claim("w", 600, 3)
    real_write = local_store.atomic_write

    def killed_at_the_table(path: Path, data) -> None:
        if path.parent.name == layout.TABLE_DIR:
            raise KeyboardInterrupt  # kill -9 after the result and its records line, before the table
        real_write(path, data)

    monkeypatch.setattr(local_store, "atomic_write", killed_at_the_table)
    with pytest.raises(KeyboardInterrupt):
        store.finish("req-0002", "w", make_result(claimed), {"set": ROWS})
    monkeypatch.setattr(local_store, "atomic_write", real_write)
    (store.results_root / CARD_FILE).unlink()
    clock.advance(601)
    recovered = _store(store.root, clock)
    assert [r.request_id for r in recovered.expire_leases(3)] == ["req-0002"]
    snap = recovered.snapshot()
    assert snap.requests["req-0002"].status is Status.FINISHED and "req-0002" in snap.results
    assert _table_ids(recovered) == ["req-0001", "req-0002"]
    recovered.on_start()  # the card comes back when the Space starts, as on the Hub
    assert (store.results_root / CARD_FILE).is_file()
    assert [e.event for e in snap.log if e.request_id == "req-0002"] == ["submitted", "claimed", "finished"]
    assert _store_problems(recovered) == []


def test_hub_store_reads_around_a_damaged_state_file_and_repairs_it() -> None:
    from testkit.hub_emulator import HubEmulator
    from tests.openasr_core.test_hub_store import REQUESTS, make_hub_store

    hub = HubEmulator()
    with hub.installed():
        store = make_hub_store(hub)
        _finish(store, 1)  # type: ignore[arg-type]
        store.submit(make_request(2))
        hub.push(REQUESTS, {layout.STATE_FILE: b'{"format": 2, "open": ['})  # a stray edit
        fresh = make_hub_store(hub)
        snap = fresh.snapshot()
        assert any("state.json" in d for d in snap.damaged)
        assert {i: r.status for i, r in snap.requests.items()} == {
            "req-0001": Status.FINISHED,
            "req-0002": Status.PENDING,
        }
        assert "req-0001" in snap.results
        claimed = fresh.claim("w", 600, 3)
        assert claimed is not None and claimed.request_id == "req-0002"
        files = hub.files(REQUESTS)
        assert any(p.startswith("quarantine/state.json.") for p in files)
        assert make_hub_store(hub).snapshot().damaged == ()


def test_queue_and_log_pages_name_the_damaged_files_escaped(tmp_path: Path) -> None:
    from leaderboard.log_view import damaged_markdown
    from openasr_core.untrusted import md_text

    store = _board(tmp_path)
    chunk = store.requests_root / layout.log_chunk_path(0)
    chunk.write_bytes(chunk.read_bytes() + b"<img src=x onerror=alert(1)> [x](https://evil.example)\n")
    text = damaged_markdown(_store(store.root).snapshot().damaged)
    assert "1 damaged store file(s) were set aside" in text and md_text("log/000000.jsonl") in text
    assert "<img" not in text and "](https" not in text
    assert damaged_markdown(()) == ""


def test_hub_store_rebuilds_a_damaged_records_shard_from_the_result_files() -> None:
    from testkit.hub_emulator import HubEmulator
    from tests.openasr_core.test_hub_store import RESULTS, make_hub_store

    hub = HubEmulator()
    with hub.installed():
        store = make_hub_store(hub)
        _finish(store, 1)  # type: ignore[arg-type]
        shard = layout.records_path(layout.shard("req-0001"))
        hub.push(RESULTS, {shard: hub.files(RESULTS)[shard][:30]})  # a stray edit cuts the shard
        _finish(store, 2)  # type: ignore[arg-type]  # its results commit holds the damaged shard
        damaged = make_hub_store(hub).snapshot()
        assert "req-0001" not in damaged.results and any(shard in d for d in damaged.damaged)
        reader = make_hub_store(hub)
        reader.snapshot()
        _finish(reader, 3)  # type: ignore[arg-type]  # the next write by a process that read the damage repairs it
        repaired = make_hub_store(hub).snapshot()
        assert set(repaired.results) == {"req-0001", "req-0002", "req-0003"} and repaired.damaged == ()
        assert any(p.startswith(f"quarantine/{shard}.") for p in hub.files(RESULTS))


def test_a_damaged_log_line_keeps_its_place_and_no_process_erases_another_ones_entry(tmp_path: Path) -> None:
    """The local twin of the Hub store's bad-day tests: a process whose log cache went stale when another
    process repaired a damaged chunk must not write its stale view back over the other's new entry."""
    space = _store(tmp_path / "store")
    for n in (1, 2, 3):
        space.submit(make_request(n))
    space.snapshot()
    chunk = space.requests_root / layout.log_chunk_path(0)
    lines = chunk.read_bytes().splitlines(keepends=True)
    chunk.write_bytes(lines[0] + GARBAGE + lines[2])
    _store(space.root).submit(make_request(4))
    space.submit(make_request(5))
    snap = _store(space.root).snapshot()
    assert [e.request_id for e in snap.log if e.event == "submitted"] == [f"req-000{n}" for n in (1, 3, 4, 5)]
    assert [e.seq for e in snap.log] == [1, 3, 4, 5] and snap.verify_log().first_bad_seq == 3
    assert any("seq 2" in d for d in snap.damaged)
    quarantined = [p for p in (space.requests_root / layout.QUARANTINE_DIR).rglob("*") if p.is_file()]
    assert any(GARBAGE in p.read_bytes() for p in quarantined)


def test_the_hub_store_keeps_reporting_a_damaged_closed_shard_on_every_read() -> None:
    """A long-running process reads a damaged shard once; every later board read still names it."""
    from testkit.hub_emulator import HubEmulator
    from tests.openasr_core.test_hub_store import REQUESTS, make_hub_store

    hub = HubEmulator()
    with hub.installed():
        store = make_hub_store(hub)
        store.submit(make_request(1))
        store.submit(make_request(2))
        claimed = store.claim("w", 600, 3)
        store.finish(claimed.request_id, "w", make_result(claimed), {"set": ROWS})
        running = store.claim("w", 600, 3)
        path = layout.closed_path(layout.shard("req-0001"))
        hub.push(REQUESTS, {path: hub.files(REQUESTS)[path] + GARBAGE})
        reader = make_hub_store(hub)
        assert any(path in d for d in reader.snapshot().damaged)
        store.heartbeat(running.request_id, "w", 600)  # the head moves, the state does not: the cached one is used
        assert any(path in d for d in reader.snapshot().damaged)


def test_a_forged_claim_in_the_claims_config_fails_verify(tmp_path: Path) -> None:
    from openasr_core.records import ClaimComparison, ClaimSource

    store = _store(tmp_path / "store")
    store.submit(make_request(1))
    claimed = store.claim("w", 600, 3)
    claim = ClaimComparison(0.05, 0.1, 5.0, "5", "percent", "a:b:c", ClaimSource(file="README.md", entry="0"))
    store.finish(claimed.request_id, "w", make_result(claimed).replace(claims={"set": [claim]}), {"set": ROWS})
    assert _store_problems(store) == []
    path = store.results_root / layout.claims_path(layout.shard("req-0001"))
    path.write_text(path.read_text().replace(",0.05,", ",0.1,"))  # "the repo claims what was measured"
    code, out = _verify(store)
    assert code == 1 and f"{layout.claims_path(layout.shard('req-0001'))}: does not repeat the claims" in out


@pytest.mark.parametrize("where", ["closed", "queue", "records", "throughput"])
def test_a_hostile_id_in_a_store_line_is_read_around_never_a_path(tmp_path: Path, where: str) -> None:
    """Issue 26: `../x/y` as a request id in a closed shard, the queue, a records shard or a throughput shard
    stopped the app (a ValueError outside the damaged-file handling); now the line is damage, reported, and the
    queue goes on."""
    store = _board(tmp_path)  # req-0001 and req-0002 finished, req-0003 pending
    hostile = "../x/y"
    if where == "closed":
        path = store.requests_root / layout.closed_path(layout.shard("req-0001"))
        line = json.loads(path.read_text().splitlines()[0])
        path.write_text(path.read_text() + json.dumps({**line, "request_id": hostile}) + "\n")
    elif where == "queue":
        path = store.requests_root / layout.STATE_FILE
        state = json.loads(path.read_text())
        state["queue"].insert(0, {**state["queue"][0], "request_id": hostile, "submitted_at": "2000-01-01T00:00:00Z"})
        path.write_text(json.dumps(state))
    elif where == "records":
        path = store.results_root / layout.records_path(layout.shard("req-0001"))
        line = json.loads(path.read_text().splitlines()[0])
        path.write_text(path.read_text() + json.dumps({**line, "request_id": hostile}) + "\n")
    else:
        from testkit.factories import make_throughput

        path = store.results_root / layout.throughput_records_path("00")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make_throughput("req-0001").replace(request_id=hostile).to_json().replace("\n", "") + "\n")
    fresh = _store(store.root)
    snap = fresh.snapshot()
    assert hostile not in snap.requests and hostile not in snap.results
    assert fresh.throughput_results().get(hostile) is None
    if where != "throughput":  # the throughput shards are not the board's snapshot: their reader logs and skips
        assert snap.damaged
    claimed = fresh.claim("w", 600, 3)
    assert claimed is not None and claimed.request_id == "req-0003"  # the queue goes on
    assert "Traceback" not in _verify(fresh)[1]


def _rechained(store: LocalStore, change) -> None:
    """Rewrite the whole log with `change(entry) -> detail` applied and every hash recomputed (a careful forger)."""
    from openasr_core.eventlog import next_entry
    from openasr_core.records import LogEntry

    chunks = sorted((store.requests_root / layout.LOG_DIR).glob("*.jsonl"))
    entries = [LogEntry.from_dict(json.loads(x)) for path in chunks for x in path.read_text().splitlines()]
    previous = None
    rebuilt = []
    for entry in entries:
        previous = next_entry(
            previous,
            request_id=entry.request_id,
            event=entry.event,
            actor=entry.actor,
            detail=change(entry),
            at=entry.at,
        )
        rebuilt.append(previous)
    for path in chunks:
        path.unlink()
    size = json.loads((store.requests_root / layout.STATE_FILE).read_text())["log_chunk"]
    for index in range(0, len(rebuilt), size):
        lines = "".join(json.dumps(e.to_dict(), separators=(",", ":")) + "\n" for e in rebuilt[index : index + size])
        (store.requests_root / layout.log_chunk_path(index // size)).write_text(lines)
    state_path = store.requests_root / layout.STATE_FILE
    state = json.loads(state_path.read_text())
    state.pop("log_chunks")  # digests of the forged chunks would give it away to the store, not to `verify`
    state_path.write_text(json.dumps(state))


def test_a_finished_events_figures_edited_with_the_chain_recomputed_fail_verify(tmp_path: Path) -> None:
    """Issue 26 item 3: the log's figures are compared with the signed records they summarise."""
    store = _board(tmp_path)
    _rechained(
        store,
        lambda e: {**e.detail, "avg_wer": 0.001} if e.event == "finished" and e.request_id == "req-0001" else e.detail,
    )
    code, out = _verify(store)
    assert code == 1 and "finished event of req-0001 states avg_wer unlike its signed record" in out
    assert "hash chain breaks" not in out


def test_a_queue_jump_or_another_model_in_an_open_shard_fails_verify(tmp_path: Path) -> None:
    """Issue 26 item 3: the queue's order key and what an open request will evaluate are those its `submitted`
    event recorded (an edit would have the board sign another model's numbers under this entry)."""
    store = _board(tmp_path)  # req-0003 pending
    state_path = store.requests_root / layout.STATE_FILE
    state = json.loads(state_path.read_text())
    state["queue"][0]["submitted_at"] = "2000-01-01T00:00:00Z"
    state_path.write_text(json.dumps(state))
    opened = store.requests_root / layout.open_path(layout.shard("req-0003"))
    opened.write_text(opened.read_text().replace('"model_id":"org/model-3"', '"model_id":"mallory/other"'))
    code, out = _verify(store)
    assert code == 1 and "request req-0003: submitted_at is 2000-01-01T00:00:00Z but its submitted event says" in out
    assert "request req-0003: model_id is 'mallory/other' but its submitted event says 'org/model-3'" in out


def _flagged_board(tmp_path: Path) -> LocalStore:
    """req-0001 finished with a failed audit (published: record and `audit_failed` event), req-0002 finished."""
    from testkit.factories import make_audit

    store = _board(tmp_path)
    store.record_audit(make_audit(request_id="req-0001", passed=False), actor="audit:test")
    return store


def _verdict(store: LocalStore) -> bool | None:
    """req-0001's audit verdict as the board ranks it (False: flagged, not ranked)."""
    from leaderboard.data import BoardSource

    fresh = _store(store.root)
    result = fresh.snapshot().results["req-0001"]
    board = BoardSource(fresh, version=result.leaderboard_version, eval_sets=("set",)).get().board
    entry = next(e for e in board.entries if e.request_id == "req-0001")
    assert entry.flagged is (entry.audit_passed is False) and not (entry.flagged and entry.rank is not None)
    return entry.audit_passed


@pytest.mark.parametrize("damage", ["truncated record", "record edited to pass", "record deleted"])
def test_damage_to_a_failed_audit_record_never_lifts_its_flag(tmp_path: Path, damage: str) -> None:
    """Issue 26 item 5: the flag fails safe. An `audit_failed` event flags the entry whatever became of its
    record; only a later pass that is readable (event and record with its hash) lifts it."""
    store = _flagged_board(tmp_path)
    assert _verdict(store) is False
    shard = store.results_root / layout.audit_records_path("req-0001")
    files = [shard, *store.results_root.glob(f"{layout.AUDITS_DIR}/*/req-0001/*.json")]
    for path in files:
        if damage == "truncated record":
            path.write_bytes(path.read_bytes()[:40])
        elif damage == "record edited to pass":
            path.write_text(
                path.read_text().replace('"passed":false', '"passed":true').replace('"passed": false', '"passed": true')
            )
        else:
            path.unlink()
    assert _verdict(store) is False


def test_a_lost_audit_failed_event_still_flags_and_the_log_says_it_lost_entries(tmp_path: Path) -> None:
    """Issue 26 item 5: a truncated log chunk that loses the `audit_failed` event leaves the entry flagged (the
    signed failed record is read from its shard) and the log never claims to verify."""
    store = _flagged_board(tmp_path)
    chunk = sorted((store.requests_root / layout.LOG_DIR).glob("*.jsonl"))[-1]
    lines = chunk.read_text().splitlines()
    assert '"audit_failed"' in lines[-1]
    chunk.write_text("\n".join(lines[:-1]) + "\n")
    snap = _store(store.root).snapshot()
    assert not snap.verify_log().ok and "cannot be read" in (snap.verify_log().reason or "")
    assert _verdict(store) is False


def test_a_flagged_entry_is_flagged_in_the_dataset_and_a_lifted_flag_fails_verify(tmp_path: Path) -> None:
    """Issue 25 item 5: the table (`load_dataset`'s default config) says each entry's latest audit verdict, in the
    same write as the audit; editing it to `passed` is caught by `verify`."""
    import pandas as pd

    store = _flagged_board(tmp_path)
    path = store.results_root / layout.table_path(layout.shard("req-0001"))
    row = pd.read_csv(path).set_index("request_id").loc["req-0001"]
    assert row["last_audit"] == "failed" and str(row["last_audit_at"]).startswith("2026-")
    from evaluator.verify import Report, check_tables
    from openasr_core.audits import latest_audits

    snap = _store(store.root).snapshot()
    latest = latest_audits(snap.audits)

    def problems() -> list[str]:
        report = Report()
        check_tables([path], {"req-0001": snap.results["req-0001"]}, store.results_root, report, latest)
        return [p.what for p in report.problems]

    assert problems() == []
    path.write_text(path.read_text().replace(",failed,", ",passed,"))
    assert problems() == ["last_audit differ from the signed record of req-0001"]


def _mistyped(line: str, where: str) -> str:
    """A copy of a stored record line, as another request, with one field of the wrong type (issue 24)."""
    data = json.loads(line)
    data["request_id"] = "req-0009"
    if where == "records":
        data["datasets"]["set"]["wer"] = "0.1"  # a WER that is a string
    else:
        data["attempts"] = "2"  # a count that is a string
    return json.dumps(data) + "\n"


@pytest.mark.parametrize("where", ["records", "closed"])
def test_a_record_with_a_field_of_the_wrong_type_is_damage_and_the_board_still_loads(
    tmp_path: Path, where: str
) -> None:
    """Issue 24: a line that is JSON and has every field, but one of the wrong type, used to be read as a record
    (a string WER reached the board); now it is reported as damage naming the field, and everything else reads."""
    from leaderboard.table import BoardInput, build_board

    store = _board(tmp_path)
    if where == "records":
        path, field = store.results_root / layout.records_path(layout.shard("req-0001")), 'datasets["set"].wer'
    else:
        path, field = store.requests_root / layout.closed_path(layout.shard("req-0001")), "Request.attempts"
    path.write_text(path.read_text() + _mistyped(path.read_text().splitlines()[0], where))
    fresh = _store(store.root)
    snap = fresh.snapshot()
    assert "req-0009" not in snap.results and "req-0009" not in snap.requests
    assert any(field in d for d in snap.damaged), snap.damaged
    board = build_board([BoardInput(r) for r in snap.results.values()], eval_sets=["set"])
    assert sorted(e.request_id for e in board.entries) == ["req-0001", "req-0002"]
    assert "Traceback" not in _verify(fresh)[1]
    _still_works(fresh)
