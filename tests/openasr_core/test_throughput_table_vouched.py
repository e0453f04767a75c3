"""Issue 26, item 6: `throughput.csv` (the dataset's `throughput` config) lists only the throughput records the
public log vouches for: a record whose publication was cut off before its `throughput_published` event, and
then dropped, never gets a row; the event's record gets its row right after the event."""

from __future__ import annotations

from pathlib import Path

from openasr_core.board_files import BoardFiles
from openasr_core.records import PredictionRow
from openasr_core.store import LocalStore
from openasr_core.store.local import RESULTS_REPO_DIR
from openasr_core.throughput_table import THROUGHPUT_TABLE_FILE, throughput_table
from testkit.factories import make_request, make_result, make_throughput

ROWS = {"ami": [PredictionRow("a", "hello", "hello", 2.0, 0.001)]}


def _finished(root: Path) -> LocalStore:
    store = LocalStore(root, render=BoardFiles())
    store.on_start()
    for request_id in ("t1", "t2"):
        store.submit(make_request(request_id, f"org/{request_id}").replace(throughput=True))
        claimed = store.claim("w0", 600, 3)
        assert claimed is not None
        store.finish(claimed.request_id, "w0", make_result(claimed.request_id, f"org/{claimed.request_id}"), ROWS)
    return store


def _rows(root: Path) -> list[str]:
    return (root / RESULTS_REPO_DIR / THROUGHPUT_TABLE_FILE).read_text("utf-8").splitlines()[1:]


def test_only_records_the_log_vouches_for_are_in_the_throughput_table(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = _finished(root)
    store.start_throughput("t1", "w1", 600)
    store._store_throughput(make_throughput("t1"), ROWS)  # then the worker is killed: no event
    assert _rows(root) == []
    store.start_throughput("t2", "w2", 600)
    store.publish_throughput(make_throughput("t2"), ROWS, worker="w2")
    rows = _rows(root)
    assert len(rows) == 1 and ",t2," in rows[0] and ",t1," not in rows[0]
    store.on_start()  # a start rewrites nothing that already agrees with the log
    assert _rows(root) == rows
    # A table written before this fix, with the residue's row: the next start leaves only what the log vouches for.
    table = root / RESULTS_REPO_DIR / THROUGHPUT_TABLE_FILE
    table.write_text(throughput_table([make_throughput("t1"), make_throughput("t2")]), encoding="utf-8")
    assert len(_rows(root)) == 2
    store.on_start()
    assert _rows(root) == rows
