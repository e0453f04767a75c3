"""Layout 1 -> layout 2: the same requests, results, predictions and log, read by both stores afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import HfApi

from core import layout
from core.dataset_card import TABLE_FILE, consolidated_table
from core.eventlog import next_entry
from core.records import LogEntry, Status, write_jsonl
from core.store import LocalStore, StoreError
from core.store.hub import HubStore
from core.store.migrate import main, migrate_hub
from tests.core.store_contract import ROWS, make_request, make_result
from tests.hub_emulator import ENDPOINT, HubEmulator


def legacy_repos() -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Two repos as layout 1 wrote them: one finished request with its result, one pending."""
    done = make_request(1).replace(status=Status.FINISHED, attempts=1)
    pending = make_request(2)
    result = make_result(done)
    log: list[LogEntry] = []
    for request_id, event in (("req-0001", "submitted"), ("req-0002", "submitted"), ("req-0001", "finished")):
        log.append(next_entry(log[-1] if log else None, request_id=request_id, event=event, actor="a"))
    requests = {f"requests/{r.request_id}.json": r.to_json().encode() for r in (done, pending)}
    requests["log.jsonl"] = write_jsonl(log).encode()
    table = consolidated_table([result]).replace(layout.result_path("req-0001"), "results/req-0001.json")
    results = {
        "results/req-0001.json": result.to_json().encode(),
        "predictions/req-0001/set.jsonl": write_jsonl(ROWS).encode(),
        TABLE_FILE: table.encode(),
    }
    return requests, results


def _check(store: LocalStore | HubStore) -> None:
    snap = store.snapshot()
    assert snap.requests["req-0001"].status is Status.FINISHED and snap.requests["req-0002"].status is Status.PENDING
    assert [r.request_id for r in snap.finished_results()] == ["req-0001"]
    assert [e.event for e in snap.log] == ["submitted", "submitted", "finished"] and snap.verify_log().ok
    assert store.predictions("req-0001", "set") == ROWS


def test_local_store_in_layout_1_is_refused_then_migrated(tmp_path: Path) -> None:
    requests, results = legacy_repos()
    for folder, files in (("requests", requests), ("results", results)):
        for path, data in files.items():
            (tmp_path / folder / path).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / folder / path).write_bytes(data)
    with pytest.raises(StoreError, match=r"python -m core\.store\.migrate"):
        LocalStore(tmp_path)
    assert main(["--local", str(tmp_path)]) == 0
    assert (
        not (tmp_path / "requests" / "log.jsonl").exists()
        and not (tmp_path / "results" / "results" / "req-0001.json").exists()
    )
    _check(LocalStore(tmp_path))
    assert layout.result_path("req-0001") in (tmp_path / "results" / TABLE_FILE).read_text()
    assert main(["--local", str(tmp_path)]) == 2  # already migrated: refused, nothing changed


@pytest.fixture
def hub() -> Iterator[HubEmulator]:
    emulator = HubEmulator()
    with emulator.installed():
        yield emulator


def test_hub_repos_in_layout_1_are_migrated_in_one_commit_each(hub: HubEmulator) -> None:
    requests, results = legacy_repos()
    hub.add_repo("o/requests", requests)
    hub.add_repo("o/results", results)
    api = HfApi(endpoint=ENDPOINT, token="hf_x")
    migrate_hub(api, "o/requests", "o/results")
    assert hub.commit_count("o/requests") == 2 and hub.commit_count("o/results") == 2
    assert "log.jsonl" not in hub.files("o/requests")
    _check(HubStore("o/requests", "o/results", api=api))
