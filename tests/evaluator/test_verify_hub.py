"""`python -m evaluator verify owner/name` over the Hub emulator (the REAL `huggingface_hub` client): by default
it reads the records shards, the table, the card, the audit records the log names and the log chunks, so its
cost is bounded by shards and chunks, not results; `--deep` downloads everything and checks the predictions."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from evaluator import verify
from openasr_core import layout
from openasr_core.audits import latest_audits
from openasr_core.board_files import render_repos, table_header
from openasr_core.dataset_card import (
    AUDITS_TABLE_FILE,
    CARD_FILE,
    CardInfo,
    audits_table,
    render_card,
    table_shard,
)
from openasr_core.eventlog import next_entry
from openasr_core.history import submission_detail
from openasr_core.records import (
    THROUGHPUT_PUBLISHED,
    AuditRecord,
    LogEntry,
    PredictionRow,
    Request,
    Result,
    Status,
    ThroughputResult,
    write_jsonl,
)
from openasr_core.signing import (
    attach_predictions,
    audit_hash,
    generate_keypair,
    predictions_sha256,
    sign_audit,
    sign_result,
    throughput_hash,
)
from openasr_core.store.repo_files import audit_files
from openasr_core.throughput_table import THROUGHPUT_TABLE_FILE, throughput_table
from testkit.factories import make_audit, make_throughput
from testkit.hub_emulator import HubEmulator
from tests.openasr_core.store_contract import ROWS, make_request, make_result

REQUESTS, RESULTS = "board/requests", "board/results"
N_RESULTS = 400  # 3 log events each: 1,200+ entries, so two log chunks
#: The board of the `--deep` runs, which download every result and predictions file: what they check (a file
#: named among the others, a shard line against its file) does not need the log chunks or the shard count above.
DEEP_RESULTS = 40
N_THROUGHPUT = 5
N_AUDITS = 3
THR_ROWS = [PredictionRow("a", "hello", "hello", 2.0, 0.001)]
KEYS = generate_keypair()


def run(argv: list[str], pinned: bool = True) -> tuple[int, str]:
    """`verify`, as a third party who copied the board's key from its About page (`pinned`) runs it."""
    out = io.StringIO()
    return verify.main([*argv, *(["--public-key", KEYS[1]] if pinned else [])], out=out), out.getvalue()


def _line(record: ThroughputResult) -> str:
    """A shard line, as the store writes it."""
    return json.dumps(record.to_dict(), ensure_ascii=False, separators=(",", ":")) + "\n"


@dataclass
class Board:
    """What was seeded: the ids, and how many records shards, throughput shards and log chunks hold them."""

    ids: list[str]
    shards: int
    tables: int
    throughput_shards: int
    chunks: int
    audits: int
    audit_shards: int


class _Log:
    def __init__(self) -> None:
        self.entries: list[LogEntry] = []

    def add(self, request_id: str, event: str, detail: dict[str, object]) -> None:
        last = self.entries[-1] if self.entries else None
        self.entries.append(
            next_entry(last, request_id=request_id, event=event, actor="w", detail=detail, at="2026-11-28T00:00:00Z")
        )


def _extras(ids: list[str], log: _Log, private: str, audit_shards: bool = True) -> dict[str, bytes]:
    """Signed throughput records and audits for the first entries, with the log events that publish them (the
    audits also in their audit-records shards, unless the board predates them)."""
    files: dict[str, bytes] = {}
    lines: dict[str, str] = {}
    for request_id in ids[:N_THROUGHPUT]:
        hashes = {"ami": predictions_sha256(write_jsonl(THR_ROWS))}
        record = sign_result(make_throughput(request_id).replace(predictions_sha256=hashes), private)
        files[layout.throughput_path(request_id)] = record.to_json().encode()
        files[layout.throughput_predictions_path(request_id, "ami")] = write_jsonl(THR_ROWS).encode()
        name = layout.shard(request_id)
        lines[name] = lines.get(name, "") + _line(record)
        log.add(request_id, THROUGHPUT_PUBLISHED, {"throughput_sha256": throughput_hash(record)})
    for name, text in lines.items():
        files[layout.throughput_records_path(name)] = text.encode()
    records = [ThroughputResult.from_json(x) for text in lines.values() for x in text.splitlines()]
    files[THROUGHPUT_TABLE_FILE] = throughput_table(records).encode()
    audits = []
    for n, request_id in enumerate(ids[-N_AUDITS:]):
        audit = sign_audit(make_audit(request_id=request_id, audit_id=f"20261128T06000{n}Z-0123abcd"), private)
        audits.append(audit)
        files[layout.audit_path(request_id, audit.audit_id)] = audit.to_json().encode()
        detail = {"audit_id": audit.audit_id, "audit_sha256": audit_hash(audit)}
        log.add(request_id, "audit_failed", detail)
    files[AUDITS_TABLE_FILE] = audits_table(audits).encode()
    if audit_shards:
        files.update(audit_files(audits, lambda _path: None))
    return files


def seed(hub: HubEmulator, n: int = N_RESULTS, audit_shards: bool = True) -> Board:
    """`n` finished, signed results with predictions, written straight into the emulator in the store's layout
    (state, closed shards and a log whose every request history agrees with its state)."""
    private, public = KEYS
    requests: list[Request] = []
    results: list[Result] = []
    log = _Log()
    for k in range(1, n + 1):
        request = make_request(k)
        requests.append(request.replace(status=Status.FINISHED, attempts=1))
        results.append(sign_result(attach_predictions(make_result(request), {"set": ROWS}), private))
        log.add(request.request_id, "submitted", submission_detail(request))
        log.add(request.request_id, "claimed", {"attempt": 1})
        log.add(request.request_id, "finished", {"avg_wer": 0.1})
    ids = [r.request_id for r in results]
    extras = _extras(ids, log, private, audit_shards)
    audits = [AuditRecord.from_json(data) for path, data in extras.items() if path.startswith(f"{layout.AUDITS_DIR}/")]
    request_files, result_files = render_repos(requests, results, log.entries, audits)
    result_files.update(extras)
    result_files.update({layout.predictions_path(i, "set"): write_jsonl(ROWS).encode() for i in ids})
    card = CardInfo(leaderboard_version="test-v1", public_key=public, eval_sets=("set",), results_repo=RESULTS)
    result_files[CARD_FILE] = render_card(card, table_header(result_files[layout.PINS_FILE])).encode()
    hub.add_repo(REQUESTS, request_files)
    hub.add_repo(RESULTS, result_files)
    return Board(
        ids=ids,
        shards=len({layout.shard(i) for i in ids}),
        tables=len({layout.shard(i) for i in ids} | {layout.FIRST_TABLE_SHARD}),
        throughput_shards=len({layout.shard(i) for i in ids[:N_THROUGHPUT]}),
        chunks=-(-len(log.entries) // layout.LOG_CHUNK),
        audits=N_AUDITS,
        audit_shards=len({layout.audit_records_path(i) for i in ids[-N_AUDITS:]}) if audit_shards else 0,
    )


@pytest.fixture
def hub(tmp_path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubEmulator]:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))  # --deep's snapshots
    monkeypatch.delenv("RESULTS_PUBLIC_KEY", raising=False)  # the key comes from the card
    emulator = HubEmulator()
    with emulator.installed():
        yield emulator


def _edit(hub: HubEmulator, repo: str, path: str, change: Callable[[str], str]) -> None:
    hub.push(repo, {path: change(hub.files(repo)[path].decode()).encode()})


def repo_requests(hub: HubEmulator) -> int:
    """Requests to the two repos (huggingface_hub's own once-a-day `/api/agent-harnesses` fetch left out)."""
    return sum(1 for _, _, path in hub.calls if f"/{REQUESTS}/" in path or f"/{RESULTS}/" in path)


def _downloaded(hub: HubEmulator, folder: str) -> int:
    """How many GETs of files under `folder/` of the results repo were made."""
    return sum(1 for route, _, path in hub.calls if route == "resolve" and f"/{folder}/" in path.split("/resolve/")[1])


def line_of(out: str, text: str) -> str:
    return next(line for line in out.splitlines() if text in line)


def test_default_verify_costs_shards_and_chunks_not_results(hub: HubEmulator) -> None:
    board = seed(hub)
    hub.reset_counts()
    code, out = run([RESULTS, "--requests-repo", REQUESTS])
    assert code == verify.EXIT_OK, out
    lines = out.splitlines()
    assert "NOT CHECKED per-entry result files and predictions not downloaded; use --deep" in lines
    assert lines[-1].startswith(f"OK: {N_RESULTS} result(s) (signatures checked from the records shards)")
    assert f"{N_AUDITS} audit record(s), {N_THROUGHPUT} throughput record(s), log of" in lines[-1]
    assert "everything checked verifies; not checked (use --deep): per-entry result files and predictions" in lines[-1]
    # two heads, five folder listings (records/, throughput-records/, leaderboard/, audit-records/, log/), the
    # card, then one GET per shard of the records, the table and the audits, and per log chunk: nothing per result.
    shards = board.shards + board.tables + board.throughput_shards + board.audit_shards
    expected = 2 + 5 + 1 + 2 + shards + board.chunks  # + audits.csv and throughput.csv, the derived configs
    assert repo_requests(hub) == expected, hub.calls
    assert hub.count("resolve-head") == 0 and board.chunks > 1
    assert _downloaded(hub, layout.RESULTS_DIR) == _downloaded(hub, layout.PREDICTIONS_DIR) == 0
    assert repo_requests(hub) - board.shards - board.tables < 40  # the rest does not grow with the results
    print(f"default verify of {N_RESULTS} results: {repo_requests(hub)} HTTP requests")


def test_deep_catches_altered_predictions_that_the_default_does_not_download(hub: HubEmulator) -> None:
    board = seed(hub, n=DEEP_RESULTS)
    target = layout.predictions_path(board.ids[7], "set")
    _edit(hub, RESULTS, target, lambda text: text.replace("Hello, world!", "Hello, world."))
    hub.reset_counts()
    code, out = run([RESULTS, "--requests-repo", REQUESTS])
    assert code == verify.EXIT_OK and "FAIL" not in out, out
    hub.reset_counts()
    code, out = run([RESULTS, "--requests-repo", REQUESTS, "--deep"])
    assert code == verify.EXIT_ALTERED, out
    assert f"FAIL {target}: does not match the sha256 signed in {layout.result_path(board.ids[7])}" in out
    assert [line for line in out.splitlines() if line.startswith("FAIL ")] == [line_of(out, target)]
    assert "NOT CHECKED" not in out
    predictions = DEEP_RESULTS + N_THROUGHPUT
    assert f"{DEEP_RESULTS} result(s), {predictions} predictions file(s)" in out.splitlines()[-1]
    print(f"--deep verify of {DEEP_RESULTS} results: {repo_requests(hub)} HTTP requests")


def test_deep_of_an_untouched_board_checks_state_and_shards_and_passes(hub: HubEmulator) -> None:
    seed(hub, n=DEEP_RESULTS)
    code, out = run([RESULTS, "--requests-repo", REQUESTS, "--deep"])
    summary = out.splitlines()[-1]
    expected = f"OK: {DEEP_RESULTS} result(s), {DEEP_RESULTS + N_THROUGHPUT} predictions"
    assert code == verify.EXIT_OK and summary.startswith(expected), out


def test_default_catches_an_altered_signed_record_in_a_shard(hub: HubEmulator) -> None:
    board = seed(hub, n=DEEP_RESULTS)
    request_id = board.ids[11]
    shard = layout.records_path(layout.shard(request_id))
    lines = hub.files(RESULTS)[shard].decode().splitlines()
    number = next(n for n, line in enumerate(lines, start=1) if f'"request_id":"{request_id}"' in line)
    _edit(hub, RESULTS, shard, lambda text: text.replace(lines[number - 1], lines[number - 1].replace("0.1", "0.01")))
    code, out = run([RESULTS, "--requests-repo", REQUESTS])
    assert code == verify.EXIT_ALTERED
    assert f"FAIL results/{shard} line {number}: signature does not verify" in out
    code, out = run([RESULTS, "--deep"])  # the per-entry file is intact: the deep check names the shard line
    assert code == verify.EXIT_ALTERED
    assert f"{shard} line {number}: the record of {request_id} differs from {layout.result_path(request_id)}" in out


def test_default_catches_a_broken_log_chain_and_an_altered_audit(hub: HubEmulator) -> None:
    board = seed(hub)
    chunk = layout.log_chunk_path(1)
    _edit(hub, REQUESTS, chunk, lambda text: text.replace('"actor":"w"', '"actor":"mallory"', 1))
    shard = next(p for p in hub.files(RESULTS) if p.startswith(f"{layout.AUDIT_RECORDS_DIR}/"))
    _edit(hub, RESULTS, shard, lambda text: text.replace('"passed":false', '"passed":true', 1))
    code, out = run([RESULTS, "--requests-repo", REQUESTS])
    assert code == verify.EXIT_ALTERED
    assert f"FAIL requests/log seq {layout.LOG_CHUNK + 1}: hash chain breaks" in out
    assert f"FAIL results/{shard} line 1: audit signature does not verify" in out
    assert len(board.ids) == N_RESULTS


def test_deep_catches_an_audit_file_that_its_shard_line_does_not_repeat(hub: HubEmulator) -> None:
    seed(hub, n=DEEP_RESULTS)
    audit = next(p for p in hub.files(RESULTS) if p.startswith(f"{layout.AUDITS_DIR}/"))
    _edit(hub, RESULTS, audit, lambda text: text.replace('"passed": false', '"passed": true'))
    code, out = run([RESULTS, "--requests-repo", REQUESTS])
    assert code == verify.EXIT_OK, out  # the default reads the shards the board reads, not the per-record files
    code, out = run([RESULTS, "--requests-repo", REQUESTS, "--deep"])
    assert code == verify.EXIT_ALTERED
    assert f"FAIL {audit}: audit signature does not verify" in out
    assert "differs from its file (or the file is missing)" in out


def test_default_without_the_requests_repo_reads_the_audit_shards(hub: HubEmulator) -> None:
    board = seed(hub, n=30)
    hub.reset_counts()
    code, out = run([RESULTS])
    assert code == verify.EXIT_OK and f"{N_AUDITS} audit record(s)" in out and ", no log" in out, out
    shards = board.shards + board.tables + board.throughput_shards + board.audit_shards
    assert repo_requests(hub) == 1 + 4 + 1 + 2 + shards


def test_a_board_from_before_the_audit_shards_reads_each_audit_record(hub: HubEmulator) -> None:
    board = seed(hub, n=30, audit_shards=False)
    hub.reset_counts()
    code, out = run([RESULTS])  # no log: audits.csv names the records
    assert code == verify.EXIT_OK and f"{N_AUDITS} audit record(s)" in out, out
    shards = board.shards + board.tables + board.throughput_shards
    assert repo_requests(hub) == 1 + 4 + 1 + 2 + shards + board.audits
    code, out = run([RESULTS, "--requests-repo", REQUESTS])  # with the log: the records its events name
    assert code == verify.EXIT_OK and f"{N_AUDITS} audit record(s)" in out, out


def test_a_shard_line_in_the_wrong_shard_or_the_table_disagreeing_fails(hub: HubEmulator) -> None:
    board = seed(hub, n=30)
    first, other = board.ids[0], next(i for i in board.ids if layout.shard(i) != layout.shard(board.ids[0]))
    source, target = layout.records_path(layout.shard(first)), layout.records_path(layout.shard(other))
    moved = hub.files(RESULTS)[source].decode()
    hub.push(RESULTS, {target: (hub.files(RESULTS)[target].decode() + moved).encode(), source: b""})
    code, out = run([RESULTS])
    assert code == verify.EXIT_ALTERED
    assert f"holds request {first}, whose shard is {layout.shard(first)}" in out
    _edit(
        hub,
        RESULTS,
        layout.table_path(layout.shard(board.ids[0])),
        lambda text: text.replace(",0.1,0.25,", ",0.01,0.25,", 1),
    )
    assert "differ from the signed record of" in run([RESULTS])[1]


def test_a_missing_repo_is_a_usage_error(hub: HubEmulator) -> None:
    code, out = run(["board/nothing-here"])
    assert code == verify.EXIT_USAGE and "board/nothing-here is not a dataset repo on the Hub" in out
    seed(hub, n=3)
    code, out = run([RESULTS, "--requests-repo", "board/nope"])
    assert code == verify.EXIT_USAGE and "board/nope is not a dataset repo on the Hub" in out
    code, out = run([RESULTS, "--requests-repo", "board/nope", "--deep"])
    assert code == verify.EXIT_USAGE and "board/nope is not a dataset repo on the Hub" in out
    code, out = run([REQUESTS, "--requests-repo", RESULTS])  # swapped: the results repo has no log
    assert code == verify.EXIT_USAGE and f"{RESULTS} has no log/" in out


def test_an_unsigned_record_in_a_shard_is_reported_unsigned(hub: HubEmulator) -> None:
    board = seed(hub, n=10)
    shard = layout.records_path(layout.shard(board.ids[0]))
    unsigned = [
        json.dumps({**json.loads(line), "signature": None}) for line in hub.files(RESULTS)[shard].decode().splitlines()
    ]
    hub.push(RESULTS, {shard: ("\n".join(unsigned) + "\n").encode()})
    records = [
        Result.from_json(line)
        for path, data in hub.files(RESULTS).items()
        if path.startswith(f"{layout.RECORDS_DIR}/")
        for line in data.decode().splitlines()
    ]
    same = [r for r in records if layout.shard(r.request_id) == layout.shard(board.ids[0])]
    hub.push(RESULTS, {layout.table_path(layout.shard(board.ids[0])): table_shard(same).encode()})
    code, out = run([RESULTS])
    assert code == verify.EXIT_UNSIGNED, out
    assert f"UNSIGNED results/{shard} line 1: no signature; its predictions were not downloaded" in out
    assert out.splitlines()[-1].startswith("UNSIGNED: 10 result(s) (signatures checked from the records shards)")


def test_a_repo_re_signed_with_a_key_of_its_own_is_only_self_consistent_unless_the_key_is_pinned(
    hub: HubEmulator,
) -> None:
    """Issue 26 item 4: a forger who rewrites every record with a key of their own and puts that key in the card
    gets a self-consistent repo. Without a pinned key `verify` says only that (exit 4), never OK; with the board's
    key every forged signature fails."""
    board = seed(hub, n=20)
    forger_private, forger_public = generate_keypair()
    files = hub.files(RESULTS)
    forged: dict[str, bytes] = {}
    all_audits: list[AuditRecord] = []
    all_throughput: list[ThroughputResult] = []
    resigned: dict[str, list[Result]] = {}
    for path, data in files.items():
        if path.startswith(f"{layout.RECORDS_DIR}/"):
            lines = [Result.from_json(line) for line in data.decode().splitlines()]
            lines = [sign_result(r.replace(signature=None), forger_private) for r in lines]
            forged[path] = "".join(_line(r) for r in lines).encode()  # type: ignore[arg-type]
            resigned[path.removeprefix(f"{layout.RECORDS_DIR}/").removesuffix(".jsonl")] = lines
        elif path.startswith(f"{layout.THROUGHPUT_RECORDS_DIR}/"):
            lines = [
                sign_result(ThroughputResult.from_json(x).replace(signature=None), forger_private)
                for x in data.decode().splitlines()
            ]
            forged[path] = "".join(_line(r) for r in lines).encode()
            all_throughput += lines
        elif path.startswith(f"{layout.AUDIT_RECORDS_DIR}/"):
            audits = [
                sign_audit(AuditRecord.from_json(x).replace(signature=None), forger_private)
                for x in data.decode().splitlines()
            ]
            forged[path] = "".join(_line(a) for a in audits).encode()  # type: ignore[arg-type]
            all_audits += audits
    forged[AUDITS_TABLE_FILE] = audits_table(all_audits).encode()  # and the derived configs repeat them
    header, latest = table_header(files[layout.PINS_FILE]), latest_audits(all_audits)
    for name, lines in resigned.items():
        forged[layout.table_path(name)] = table_shard(lines, header, latest).encode()
    forged[THROUGHPUT_TABLE_FILE] = throughput_table(all_throughput).encode()
    card = files[CARD_FILE].decode().replace(KEYS[1], forger_public)
    hub.push(RESULTS, {**forged, CARD_FILE: card.encode()})
    code, out = run([RESULTS], pinned=False)
    assert code == verify.EXIT_UNPINNED and out.splitlines()[-1].startswith("SELF-CONSISTENT"), out
    code, out = run([RESULTS])
    assert code == verify.EXIT_ALTERED and "signature does not verify" in out
    assert len(board.ids) == 20


def test_the_derived_configs_must_repeat_the_signed_records(hub: HubEmulator) -> None:
    """Issue 26 item 3: `audits.csv` and `throughput.csv` are what `load_dataset(repo, "audits")` and
    `load_dataset(repo, "throughput")` serve; a damaged or forged one fails the default check."""
    seed(hub, n=20)
    code, out = run([RESULTS])
    assert code == verify.EXIT_OK, out
    _edit(hub, RESULTS, AUDITS_TABLE_FILE, lambda text: text.replace(",False,", ",True,", 1))
    code, out = run([RESULTS])
    assert code == verify.EXIT_ALTERED and f"FAIL results/{AUDITS_TABLE_FILE}: does not repeat" in out
    hub.push(RESULTS, {THROUGHPUT_TABLE_FILE: b"model_id,rtfx\norg/x,4477.3\n"})
    code, out = run([RESULTS])
    assert f"FAIL results/{THROUGHPUT_TABLE_FILE}: does not repeat the signed throughput records" in out
