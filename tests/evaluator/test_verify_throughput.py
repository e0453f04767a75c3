"""R14 records in the public data: a throughput write logs a public event naming the record's sha256 and moves
the local store's version; `verify` checks each throughput record's signature, its predictions hashes, and
that the log and the records agree."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from evaluator import verify
from openasr_core import layout
from openasr_core.board_files import BoardFiles
from openasr_core.records import THROUGHPUT_PUBLISHED, PredictionRow, write_jsonl
from openasr_core.signing import generate_keypair, predictions_sha256, sign_result, throughput_hash
from openasr_core.store import LocalStore
from testkit.factories import make_throughput
from tests.openasr_core.store_contract import ROWS, make_request, make_result

THR_ROWS = {"ami": [PredictionRow("a", "hello", "hello", 2.0, 0.001)]}


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    return verify.main(argv, out=out), out.getvalue()


@pytest.fixture
def keys() -> tuple[str, str]:
    return generate_keypair()


@pytest.fixture
def store(tmp_path: Path, keys: tuple[str, str]) -> LocalStore:
    """One finished, signed batch-one entry (`req-0001`)."""
    store = LocalStore(tmp_path / "store", render=BoardFiles())
    store.submit(make_request(1))
    claimed = store.claim("w", 600, 3)
    result = make_result(claimed).replace(predictions_sha256={"set": predictions_sha256(write_jsonl(ROWS))})
    store.finish(claimed.request_id, "w", sign_result(result, keys[0]), {"set": ROWS})
    return store


def signed_throughput(private: str):
    record = make_throughput("req-0001").replace(
        predictions_sha256={"ami": predictions_sha256(write_jsonl(THR_ROWS["ami"]))}
    )
    return sign_result(record, private)


def test_publishing_logs_an_event_and_moves_the_local_version(store: LocalStore, keys: tuple[str, str]) -> None:
    before = store.snapshot().version
    record = signed_throughput(keys[0])
    entry = store.publish_throughput(record, THR_ROWS, actor="worker-1")
    snapshot = store.snapshot()
    assert snapshot.version != before
    assert snapshot.log[-1] == entry and entry.event == THROUGHPUT_PUBLISHED and entry.actor == "worker-1"
    assert entry.detail["throughput_sha256"] == throughput_hash(record) and entry.detail["chosen_batch_size"] == 16
    assert set(snapshot.results) == {"req-0001"}  # still one batch-one result


def test_hand_edit_of_a_throughput_shard_moves_the_version(store: LocalStore, keys: tuple[str, str]) -> None:
    store.publish_throughput(signed_throughput(keys[0]), THR_ROWS)
    before = store.snapshot().version
    path = store.results_root / layout.throughput_records_path(layout.shard("req-0001"))
    path.write_text(path.read_text().replace('"chosen_batch_size": 16', '"chosen_batch_size": 4'))
    assert store.snapshot().version != before


def test_verify_passes_untouched_throughput_and_counts_it(store: LocalStore, keys: tuple[str, str]) -> None:
    store.publish_throughput(signed_throughput(keys[0]), THR_ROWS)
    code, out = run([str(store.results_root.parent), "--public-key", keys[1]])
    assert code == 0, out
    assert "1 throughput record(s)" in out


def test_verify_fails_a_changed_throughput_prediction(store: LocalStore, keys: tuple[str, str]) -> None:
    store.publish_throughput(signed_throughput(keys[0]), THR_ROWS)
    path = store.results_root / layout.throughput_predictions_path("req-0001", "ami")
    path.write_text(path.read_text().replace("hello", "hallo", 1))
    code, out = run([str(store.results_root.parent), "--public-key", keys[1]])
    assert (
        code == 1
        and f"{layout.throughput_predictions_path('req-0001', 'ami')}: does not match the sha256 signed" in out
    )


def test_verify_fails_a_changed_throughput_record(store: LocalStore, keys: tuple[str, str]) -> None:
    store.publish_throughput(signed_throughput(keys[0]), THR_ROWS)
    path = store.results_root / layout.throughput_path("req-0001")
    data = json.loads(path.read_text())
    data["aggregate"]["rtfx"] = 99999.0
    path.write_text(json.dumps(data))
    code, out = run([str(store.results_root.parent), "--public-key", keys[1]])
    assert code == 1
    assert f"{layout.throughput_path('req-0001')}: signature does not verify" in out
    assert "names a throughput record of req-0001 that is missing or changed" in out
    assert f"{layout.throughput_path('req-0001')}: is not published in the log" in out


def test_verify_reports_an_unsigned_throughput_record(store: LocalStore, keys: tuple[str, str]) -> None:
    unsigned = signed_throughput(keys[0]).replace(signature=None)
    store.publish_throughput(unsigned, THR_ROWS)
    code, out = run([str(store.results_root.parent), "--public-key", keys[1]])
    assert code == 3 and "UNSIGNED" in out


def test_verify_fails_a_changed_throughput_shard_line(store: LocalStore, keys: tuple[str, str]) -> None:
    store.publish_throughput(signed_throughput(keys[0]), THR_ROWS)
    shard = layout.throughput_records_path(layout.shard("req-0001"))
    path = store.results_root / shard
    path.write_text(path.read_text().replace('"chosen_batch_size": 16', '"chosen_batch_size": 64'))
    code, out = run([str(store.results_root.parent), "--public-key", keys[1]])
    assert code == 1
    assert f"{shard} line 1: the record of req-0001 differs from its file" in out
    assert f"{layout.throughput_path('req-0001')}: has no line in the throughput records shards" in out


def test_verify_warns_of_an_interrupted_publication_and_fails_a_changed_one(
    store: LocalStore, keys: tuple[str, str]
) -> None:
    """Issue 26 item 6: a signed record whose commit landed but whose `throughput_published` event was never
    written (the worker was killed in between) is crash residue, not an alteration: a WARN, exit 0. A record that
    differs from the one the log vouches for stays a failure."""
    record = signed_throughput(keys[0])
    store._store_throughput(record, THR_ROWS)
    code, out = run([str(store.results_root.parent), "--public-key", keys[1]])
    assert code == 0, out
    assert f"WARN results/{layout.throughput_path('req-0001')}: {verify.INTERRUPTED_THROUGHPUT}" in out
    assert "1 warning(s)" in out and "FAIL" not in out
    store.complete_throughput(record, "w", None)  # the next run vouches for it: no warning left
    code, out = run([str(store.results_root.parent), "--public-key", keys[1]])
    assert code == 0 and "WARN" not in out
    other = sign_result(
        make_throughput("req-0001", rtfx=900.0).replace(predictions_sha256=record.predictions_sha256), keys[0]
    )
    store._store_throughput(other, THR_ROWS)
    code, out = run([str(store.results_root.parent), "--public-key", keys[1]])
    assert code == 1 and "is not published in the log" in out and "WARN" not in out


def test_verify_fails_an_unvouched_record_that_does_not_verify(store: LocalStore, keys: tuple[str, str]) -> None:
    forged = sign_result(make_throughput("req-0001"), generate_keypair()[0])  # another key: not the board's
    store._store_throughput(forged, THR_ROWS)
    code, out = run([str(store.results_root.parent), "--public-key", keys[1]])
    assert code == 1 and "is not published in the log" in out and "WARN" not in out
