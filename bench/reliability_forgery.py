"""Forged and damaged stores against `verify` with the board's key pinned, for `bench/reliability.py`.

Each case copies one small, honest local store (signed results with predictions, a failed audit, a throughput
record, a pending request), forges or damages it as issue 26 lists (the table, the records shards, the derived
CSV configs, the queue, the log's figures with the hash chain recomputed, a full re-signing with a key of the
forger's own, a hostile id, a failed audit's record or log line, an open request's model, a claim), and runs
`python -m evaluator verify <store> --public-key <the board's key>`. A case is caught when verify exits with a
failure (1): it never says OK (0), nor "self-consistent" (4), of a store that is not what the board signed.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from reliability_checks import Tally

from evaluator import verify
from openasr_core import layout
from openasr_core.board_files import BoardFiles
from openasr_core.dataset_card import CardInfo, audits_table
from openasr_core.eventlog import next_entry
from openasr_core.records import (
    AuditRecord,
    ClaimComparison,
    ClaimSource,
    LogEntry,
    PredictionRow,
    Result,
    ThroughputResult,
)
from openasr_core.signing import attach_predictions, generate_keypair, sign_audit, sign_result
from openasr_core.store import LocalStore
from openasr_core.throughput_table import THROUGHPUT_TABLE_FILE
from testkit.factories import make_audit, make_request, make_result, make_throughput

ROWS = {"set": [PredictionRow("u1", "hello world", "hello world", 1.0, 0.1)]}


def honest_store(root: Path) -> tuple[LocalStore, str]:
    """Three signed results (one with a claim), a failed audit, a throughput record, a pending request; the key."""
    private, public = generate_keypair()
    store = LocalStore(
        root, render=BoardFiles(CardInfo(leaderboard_version="v1", eval_sets=("set",), public_key=public))
    )
    for n in range(1, 5):
        store.submit(make_request(f"req-{n}", f"org/model-{n}", submitted_at=f"2026-11-27T09:00:0{n}Z"))
    for n in range(1, 4):
        claimed = store.claim("w", 600, 3)
        assert claimed is not None
        result = make_result(claimed.request_id, claimed.model_id, wers={"set": 0.1 * n}, signature=None)
        if n == 1:
            source = ClaimSource(file="README.md", entry="model-index[0]")
            claim = ClaimComparison(0.05, 0.1, 5.0, "5", "percent", "a:b:c", source)
            result = result.replace(claims={"set": [claim]})
        store.finish(claimed.request_id, "w", _signed(result, private), ROWS)
    audit = sign_audit(make_audit(request_id="req-1", leaderboard_version="v1", passed=False), private)
    store.record_audit(audit, actor="audit:bench")
    store.publish_throughput(_signed(make_throughput("req-2"), private), {"ami": ROWS["set"]})
    return store, public


def _signed(record: Result | ThroughputResult, private: str) -> Result | ThroughputResult:
    rows = ROWS if isinstance(record, Result) else {"ami": ROWS["set"]}
    return sign_result(attach_predictions(record.replace(signature=None), rows), private)


def _edit(path: Path, change: Callable[[str], str]) -> None:
    path.write_text(change(path.read_text()))


def _resign(root: Path) -> None:
    """A careful forger: every record re-signed with their own key, the card's key swapped for theirs, the
    derived audits table rewritten to match: a store consistent with itself, which only a pinned key refuses."""
    forger, forger_public = generate_keypair()
    results = root / "results"
    for path in (results / layout.RECORDS_DIR).glob("*.jsonl"):
        lines = [
            sign_result(Result.from_json(x).replace(signature=None), forger) for x in path.read_text().splitlines()
        ]
        path.write_text("".join(json.dumps(r.to_dict(), separators=(",", ":")) + "\n" for r in lines))
        for r in lines:
            (results / layout.result_path(r.request_id)).write_text(r.to_json())
    audits: list[AuditRecord] = []
    for path in (results / layout.AUDIT_RECORDS_DIR).glob("*.jsonl"):
        shard = [
            sign_audit(AuditRecord.from_json(x).replace(signature=None), forger) for x in path.read_text().splitlines()
        ]
        path.write_text("".join(json.dumps(a.to_dict(), separators=(",", ":")) + "\n" for a in shard))
        for a in shard:
            (results / layout.audit_path(a.request_id, a.audit_id)).write_text(a.to_json())
        audits += shard
    (results / "audits.csv").write_text(audits_table(audits))
    _edit(results / "README.md", lambda text: _swap_key(text, forger_public))


def _swap_key(card: str, key: str) -> str:
    start = card.index("public_key: ") + len("public_key: ")
    end = card.index("\n", start)
    return card[:start] + key + card[end:]


def _rechain(root: Path, change: Callable[[LogEntry], dict]) -> None:
    """Rewrite the log with `change(entry)` as each entry's detail and every hash recomputed."""
    requests = root / "requests"
    chunks = sorted((requests / layout.LOG_DIR).glob("*.jsonl"))
    entries = [LogEntry.from_dict(json.loads(x)) for p in chunks for x in p.read_text().splitlines()]
    previous, rebuilt = None, []
    for e in entries:
        previous = next_entry(
            previous, request_id=e.request_id, event=e.event, actor=e.actor, detail=change(e), at=e.at
        )
        rebuilt.append(previous)
    size = json.loads((requests / layout.STATE_FILE).read_text())["log_chunk"]
    for p in chunks:
        p.unlink()
    for start in range(0, len(rebuilt), size):
        text = "".join(json.dumps(e.to_dict(), separators=(",", ":")) + "\n" for e in rebuilt[start : start + size])
        (requests / layout.log_chunk_path(start // size)).write_text(text)


def _first(root: Path, folder: str, suffix: str = ".jsonl") -> Path:
    """The first file of `folder` that holds a record (`leaderboard/00.csv` may be a header alone)."""
    paths = sorted((root / "results" / folder).glob(f"*{suffix}"))
    return next((p for p in paths if len(p.read_text().splitlines()) > (1 if suffix == ".csv" else 0)), paths[0])


FORGERIES: dict[str, Callable[[Path], None]] = {
    "garbage appended to a table shard": lambda r: _edit(
        _first(r, layout.TABLE_DIR, ".csv"), lambda t: t + "\x00\xff{garbage: tru\n<html>\n"
    ),
    "a table row's WER lowered": lambda r: _edit(_first(r, layout.TABLE_DIR, ".csv"), _lower_table_wer),
    "records shard truncated": lambda r: _edit(_first(r, layout.RECORDS_DIR), lambda t: t[: len(t) // 2]),
    "garbage appended to a records shard": lambda r: _edit(_first(r, layout.RECORDS_DIR), lambda t: t + "{garbage\n"),
    "a records line's WER forged": lambda r: _edit(
        _first(r, layout.RECORDS_DIR), lambda t: t.replace('"wer":0.1', '"wer":0.001', 1)
    ),
    "audits.csv edited to pass": lambda r: _edit(
        r / "results" / "audits.csv", lambda t: t.replace(",False,", ",True,", 1)
    ),
    "throughput.csv RTFx x1000": lambda r: _edit(r / "results" / THROUGHPUT_TABLE_FILE, _rtfx_times_1000),
    "queue jump in state.json": lambda r: _edit(r / "requests" / layout.STATE_FILE, _queue_jump),
    "a finished event's WER, chain recomputed": lambda r: _rechain(r, _lower_finished_wer),
    "everything re-signed with a new key": _resign,
    "a hostile id in a closed shard": lambda r: _edit(
        _closed(r), lambda t: t + t.splitlines()[0].replace('"req-', '"../x/req-', 1) + "\n"
    ),
    "the failed audit's record truncated": lambda r: [
        _edit(p, lambda t: t[:40]) for p in (r / "results" / layout.AUDITS_DIR).rglob("*.json")
    ],
    "the audit shard line edited to pass": lambda r: _edit(
        _first(r, layout.AUDIT_RECORDS_DIR), lambda t: t.replace('"passed":false', '"passed":true')
    ),
    "the newest log chunk truncated": lambda r: _edit(
        sorted((r / "requests" / layout.LOG_DIR).glob("*.jsonl"))[-1], lambda t: "".join(t.splitlines(True)[:-2])
    ),
    "another model in an open shard": lambda r: _edit(
        _open_shard(r), lambda t: t.replace('"model_id":"org/model-4"', '"model_id":"mallory/model"')
    ),
    "a claim forged in the claims config": lambda r: [
        _edit(p, lambda t: t.replace(",0.05,", ",0.1,")) for p in (r / "results" / layout.CLAIMS_DIR).glob("*.csv")
    ],
}


def _lower_table_wer(text: str) -> str:
    rows = list(csv.DictReader(io.StringIO(text)))
    rows[0]["avg_wer"] = "0.0001"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _rtfx_times_1000(text: str) -> str:
    lines = text.splitlines(True)
    header = lines[0].rstrip("\n").split(",")
    column = header.index("rtfx")
    rows = []
    for line in lines[1:]:
        cells = line.rstrip("\n").split(",")
        cells[column] = str(float(cells[column]) * 1000)
        rows.append(",".join(cells) + "\n")
    return lines[0] + "".join(rows)


def _queue_jump(text: str) -> str:
    state = json.loads(text)
    state["queue"][0]["submitted_at"] = "2000-01-01T00:00:00Z"
    return json.dumps(state)


def _lower_finished_wer(entry: LogEntry) -> dict:
    if entry.event == "finished" and "avg_wer" in entry.detail:
        return {**entry.detail, "avg_wer": 0.0001}
    return entry.detail


def _closed(root: Path) -> Path:
    return sorted((root / "requests" / layout.CLOSED_DIR).glob("*.jsonl"))[0]


def _open_shard(root: Path) -> Path:
    return root / "requests" / layout.open_path(layout.shard("req-4"))


def forgeries(workdir: Path) -> Tally:
    """Every case on its own copy of the honest store; `caught` counts verify's refusals (exit 1)."""
    tally = Tally("forged stores vs verify", "local", workers=0, requests=0)
    base, key = honest_store(workdir / "base")
    code, out = _verify(base.root, key)
    if code != verify.EXIT_OK:
        tally.notes.append(f"the honest store does not verify: {out[-300:]!r}")
    for name, forge in FORGERIES.items():
        copy = workdir / name.replace(" ", "-").replace("'", "").replace(".", "")
        shutil.copytree(base.root, copy)
        forge(copy)
        tally.forgeries += 1
        try:
            code, out = _verify(copy, key)
        except Exception as exc:  # a traceback is not a verdict: the case is not caught
            code, out = -1, f"{type(exc).__name__}: {exc}"
        if code == verify.EXIT_ALTERED:
            tally.caught += 1
        else:
            tally.notes.append(f"NOT CAUGHT {name}: exit {code}: {out.splitlines()[-1][:160] if out else ''}")
    return tally


def _verify(root: Path, key: str) -> tuple[int, str]:
    out = io.StringIO()
    return verify.main([str(root), "--public-key", key], out=out), out.getvalue()
