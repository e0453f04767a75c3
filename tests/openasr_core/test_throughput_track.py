"""R14 outside the evaluator: price config, cost arithmetic, the store's separate folder, the tables, the
throughput board's pure functions, and that none of it can reach the batch-one board."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from leaderboard.data import BoardSource
from leaderboard.throughput_view import both_tracks, plot_points, throughput_board
from openasr_core import layout
from openasr_core.board_files import BoardFiles
from openasr_core.config import ConfigError, HardwarePrice, load_config
from openasr_core.cost import (
    batch_one_cost,
    cost_of_batch_one,
    cost_of_throughput,
    price_from_jobs_hardware,
    recorded_price,
    throughput_cost,
)
from openasr_core.dataset_card import table_shard
from openasr_core.records import (
    THROUGHPUT_PUBLISHED,
    PredictionRow,
    Status,
    ThroughputResult,
)
from openasr_core.store import LocalStore, StoreError
from openasr_core.throughput_table import THROUGHPUT_COLUMNS, THROUGHPUT_TABLE_FILE
from testkit.factories import finish_in_store, make_request, make_result, make_throughput

PRICE = {"usd_per_hour": 1.0, "source": "pricing page", "date": "2026-11-28"}


def test_cost_follows_exactly_from_price_and_rtf_or_rtfx() -> None:
    assert batch_one_cost(1.0, 0.05) == 1.0 * 0.05 * 1000 == 50.0
    assert throughput_cost(1.0, 500.0) == 1.0 / 500.0 * 1000 == 2.0
    assert batch_one_cost(0.01002, 0.25) == 0.01002 * 0.25 * 1000
    assert throughput_cost(0.75, 40.0) == 0.75 / 40.0 * 1000
    assert batch_one_cost(2.0, 0.1) == pytest.approx(throughput_cost(2.0, 10.0))  # the same speed costs the same
    assert throughput_cost(1.0, 0.0) == math.inf and batch_one_cost(1.0, math.inf) == math.inf
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="price"):
            batch_one_cost(bad, 0.1)
    with pytest.raises(ValueError, match="RTFx"):
        throughput_cost(1.0, -2.0)


def test_cost_uses_the_price_the_result_recorded_not_todays_config() -> None:
    result = make_result("r1", rtf=0.05).replace(rules={"hardware_price": PRICE})
    assert recorded_price(result.rules) == HardwarePrice(**PRICE)
    assert cost_of_batch_one(result) == 50.0
    assert cost_of_batch_one(make_result("r2")) is None  # recorded no price: no cost is invented
    record = make_throughput("r1", rtfx=250.0)
    assert cost_of_throughput(record) == record.usd_per_1000_audio_hours == 4.0
    table = list(csv.DictReader(io.StringIO(table_shard([result, make_result("r2", rtf=0.2)]))))
    costs = {row["request_id"]: row["usd_per_1000_audio_hours"] for row in table}
    assert costs == {"r1": "50.0", "r2": ""}


def test_price_from_the_jobs_hardware_list() -> None:
    listing = [
        SimpleNamespace(name="cpu-basic", unit_cost_usd=0.000167, unit_label="minute"),
        SimpleNamespace(name="a10g-small", unit_cost_usd=0.0167, unit_label="minute"),
    ]
    price = price_from_jobs_hardware(listing, "a10g-small", "2026-11-28")
    assert price.usd_per_hour == pytest.approx(1.002) and "a10g-small" in price.source
    with pytest.raises(ValueError, match="no Jobs hardware named 't4'"):
        price_from_jobs_hardware(listing, "t4", "2026-11-28")


def test_hardware_price_in_config(tmp_path: Path) -> None:
    for name in ("local.toml", "esb-v1.toml"):
        price = load_config(Path("configs") / name, env={}).price
        assert price is not None and price.usd_per_hour > 0 and price.source and price.date
    base = '[leaderboard]\nversion = "v"\n[[eval_sets]]\nname = "s"\npath = "."\n'
    path = tmp_path / "c.toml"
    path.write_text(base)
    assert load_config(path, env={}).price is None
    path.write_text(base + '[hardware_price]\nusd_per_hour = 1\nsource = "x"\ndate = 2026-11-28\n')
    assert load_config(path, env={}).price == HardwarePrice(1.0, "x", "2026-11-28")
    for bad, message in (
        ('usd_per_hour = -1\nsource = "x"\ndate = "d"', "usd_per_hour must be a number >= 0"),
        ('usd_per_hour = 1\nsource = ""\ndate = "d"', "source must be text"),
        ("usd_per_hour = 1", "needs exactly the keys"),
    ):
        path.write_text(base + "[hardware_price]\n" + bad + "\n")
        with pytest.raises(ConfigError, match=message):
            load_config(path, env={})


def test_store_keeps_throughput_apart_and_the_batch_one_board_unchanged(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store", render=BoardFiles())
    batch_one = make_result("req-1", rtf=0.5, meets_realtime=False, wers={"ami": 0.3})
    finish_in_store(store, [batch_one, make_result("req-2", wers={"ami": 0.2})])
    source = BoardSource(store, version="v1", eval_sets=("ami",))
    before = source.build(store.snapshot())
    record = make_throughput("req-1", avg_wer=0.001, rtfx=5000.0)  # far better than anything batch one
    rows = {"ami": [PredictionRow("a", "hello", "hello", 2.0, 0.001)]}
    with pytest.raises(StoreError, match="no finished batch-one evaluation"):
        store.publish_throughput(make_throughput("req-9"), rows)
    store.publish_throughput(record, rows)
    snapshot = store.snapshot()
    assert set(snapshot.results) == {"req-1", "req-2"}
    assert all(not isinstance(r, ThroughputResult) for r in snapshot.finished_results())
    after = source.build(snapshot)
    assert after.frame.equals(before.frame)  # same ranking, RTF and meets_realtime as before
    entry = after.entry("req-1")
    assert entry is not None and entry.meets_realtime is False and entry.rtf == 0.5 and entry.rank == 2
    assert store.throughput_results() == {"req-1": record}
    results_root = tmp_path / "store" / "results"
    shard = layout.shard("req-1")
    assert (results_root / "throughput" / shard / "req-1.json").is_file()
    assert (results_root / "throughput" / shard / "req-1" / "ami.jsonl").is_file()
    assert (results_root / "throughput-records" / f"{shard}.jsonl").is_file()
    assert not (results_root / "results" / "req-1.throughput.json").exists()
    (row,) = csv.DictReader(io.StringIO((results_root / THROUGHPUT_TABLE_FILE).read_text()))
    assert row["track"] == "throughput" and row["chosen_batch_size"] == "16" and row["rtfx"] == "5000.0"
    assert list(row)[: len(THROUGHPUT_COLUMNS)] == list(THROUGHPUT_COLUMNS)
    assert row["usd_per_1000_audio_hours"] == str(1.0 / 5000.0 * 1000)


def test_throughput_board_ranks_its_own_records_only() -> None:
    requests = {f"r{i}": make_request(f"r{i}").replace(status=Status.FINISHED) for i in range(1, 5)}
    records = [
        make_throughput("r1", avg_wer=0.10, rtfx=100.0),
        make_throughput("r2", avg_wer=0.05, rtfx=50.0),
        make_throughput("r3", avg_wer=0.05, rtfx=80.0),
        make_throughput("r4", avg_wer=0.01, official=False),
        make_throughput("r5", avg_wer=0.01),  # its request is not in the store: not shown
        make_throughput("r1", avg_wer=0.0, version="v0"),  # another version: not shown
    ]
    rows = throughput_board(records, requests, leaderboard_version="v1")
    assert [(r.request_id, r.rank) for r in rows] == [("r3", 1), ("r2", 1), ("r1", 3), ("r4", None)]
    assert rows[0].usd_per_1000_audio_hours == 1.0 / 80.0 * 1000
    assert plot_points(rows) == [("org/model", 80.0, 5.0), ("org/model", 50.0, 5.0), ("org/model", 100.0, 10.0)]
    refused = throughput_board(records, requests, leaderboard_version="v1", verified=lambda r: r.request_id != "r3")
    assert [r.request_id for r in refused if r.rank is not None] == ["r2", "r1"]


def test_detail_page_pair_keeps_the_batch_one_verdict() -> None:
    result = make_result("r1", rtf=2.0, meets_realtime=False).replace(rules={"hardware_price": PRICE})
    pair = both_tracks(result, make_throughput("r1", rtfx=300.0))
    assert pair.meets_realtime is False and pair.batch_one_rtfx == 0.5
    assert pair.batch_one_usd_per_1000_audio_hours == 2000.0
    assert pair.throughput is not None and pair.throughput.rtfx == 300.0
    assert both_tracks(result, None).throughput is None
    with pytest.raises(ValueError, match="not of entry"):
        both_tracks(result, make_throughput("r2"))


def test_hub_store_writes_throughput_sharded_in_one_commit() -> None:
    from testkit.hub_emulator import HubEmulator
    from tests.openasr_core.test_hub_store import REQUESTS, RESULTS, make_hub_store

    hub = HubEmulator()
    with hub.installed():
        store = make_hub_store(hub)
        finish_in_store(store, [make_result("req-1", wers={"ami": 0.3})])
        assert store.throughput_results() == {}
        record = make_throughput("req-1")
        commits = (hub.commit_count(RESULTS), hub.commit_count(REQUESTS))
        store.publish_throughput(record, {"ami": [PredictionRow("a", "hello", "hello", 2.0, 0.001)]})
        # The files in one results commit, then the log event in one requests commit, then the table with the
        # record the log now vouches for (issue 26, item 6: a record without its event never gets a row).
        assert (hub.commit_count(RESULTS), hub.commit_count(REQUESTS)) == (commits[0] + 2, commits[1] + 1)
        shard = layout.shard("req-1")
        expected = {
            f"throughput/{shard}/req-1.json",
            f"throughput/{shard}/req-1/ami.jsonl",
            f"throughput-records/{shard}.jsonl",
            THROUGHPUT_TABLE_FILE,
        }
        assert expected <= set(hub.files(RESULTS))
        assert store.throughput_results() == {"req-1": record}
        assert make_hub_store(hub).throughput_results() == {"req-1": record}  # a fresh reader too
        snapshot = store.snapshot()
        assert set(snapshot.results) == {"req-1"} and snapshot.log[-1].event == THROUGHPUT_PUBLISHED
        assert all(not isinstance(r, ThroughputResult) for r in snapshot.results.values())


def test_hub_throughput_write_racing_another_commit_keeps_both_records() -> None:
    from testkit.hub_emulator import HubEmulator
    from tests.openasr_core.test_hub_store import RESULTS, make_hub_store

    hub = HubEmulator()
    rows = {"ami": [PredictionRow("a", "hello", "hello", 2.0, 0.001)]}
    with hub.installed():
        a, b = make_hub_store(hub), make_hub_store(hub)
        finish_in_store(a, [make_result("req-1"), make_result("req-2")])
        # B publishes after A has read the shards, just before A's commit: A's commit gets a real 412 and is rebuilt.
        hub.before("commit", lambda: b.publish_throughput(make_throughput("req-2"), rows))
        a.publish_throughput(make_throughput("req-1"), rows)
        assert set(a.throughput_results()) == {"req-1", "req-2"}
        table = hub.files(RESULTS)[THROUGHPUT_TABLE_FILE].decode()
        assert "req-1" in table and "req-2" in table


def test_hub_throughput_records_are_cached_like_results() -> None:
    """The Throughput tab and the detail page read every record after each logged event: a read after an
    unrelated commit costs the head and one listing, and a new record costs its one shard."""
    from testkit.hub_emulator import HubEmulator
    from tests.openasr_core.test_hub_store import make_hub_store

    hub = HubEmulator()
    rows = {"ami": [PredictionRow("a", "hello", "hello", 2.0, 0.001)]}
    with hub.installed():
        writer, reader = make_hub_store(hub), make_hub_store(hub)
        finish_in_store(writer, [make_result(f"req-{n}") for n in range(1, 9)])
        for n in range(1, 7):
            writer.publish_throughput(make_throughput(f"req-{n}"), rows)
        assert len(reader.throughput_results()) == 6
        hub.reset_counts()
        assert len(reader.throughput_results()) == 6
        assert hub.count() == 1  # the head has not moved (every record's event was read once already)
        finish_in_store(writer, [make_result("req-9")])  # an unrelated results commit
        hub.reset_counts()
        assert len(reader.throughput_results()) == 6
        assert hub.count() == 2 and hub.count("resolve") == 0  # head, listing: no shard, no log read again
        writer.publish_throughput(make_throughput("req-7"), rows)
        hub.reset_counts()
        assert len(reader.throughput_results()) == 7
        shards = [p for _, _, p in hub.calls if f"/{layout.THROUGHPUT_RECORDS_DIR}/" in p]
        assert len(shards) == 1  # the one shard that changed (and the log's new event, which vouches for it)


def test_a_record_whose_publication_was_cut_off_before_its_event_is_not_shown(tmp_path: Path) -> None:
    """Issue 26 item 6: a throughput record written without its `throughput_published` event (a crash or SIGTERM
    between the two) is not on the Throughput tab; publishing it again (the next run) shows it."""
    from openasr_core.store import LocalStore

    store = LocalStore(tmp_path / "store", render=BoardFiles())
    finish_in_store(store, [make_result("req-1"), make_result("req-2")])
    rows = {"ami": [PredictionRow("a", "hello", "hello", 2.0, 0.001)]}
    store.publish_throughput(make_throughput("req-1"), rows)
    record = make_throughput("req-2")
    store._store_throughput(record, rows)
    assert set(store.throughput_results()) == {"req-1"}
    store.publish_throughput(record, rows)
    assert set(store.throughput_results()) == {"req-1", "req-2"}
