"""`python -m evaluator verify` and `keygen`: untouched data passes; one changed character anywhere fails."""

from __future__ import annotations

import dataclasses
import io
import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from evaluator import keygen, verify
from evaluator.metrics import aggregate, get_normalizer, score_eval_set
from openasr_core import layout
from openasr_core.board_files import BoardFiles, table_header
from openasr_core.dataset_card import CARD_FILE, CardInfo, render_card
from openasr_core.records import PredictionRow, write_jsonl
from openasr_core.signing import (
    attach_predictions,
    generate_keypair,
    load_private_key,
    predictions_sha256,
    public_key_b64,
    sign_result,
)
from openasr_core.store import LocalStore
from testkit.hub_emulator import HubEmulator
from tests.openasr_core.store_contract import ROWS, make_request, make_result


def run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    code = verify.main(argv, out=out)
    return code, out.getvalue()


@pytest.fixture
def keys() -> tuple[str, str]:
    return generate_keypair()


@pytest.fixture
def store_root(tmp_path: Path, keys: tuple[str, str]) -> Path:
    """A local store with two finished, signed results and a nine-entry log, one failed request."""
    private, _ = keys
    store = LocalStore(tmp_path / "store", render=BoardFiles())
    for n in (1, 2, 3):
        store.submit(make_request(n))
    for _ in (1, 2):
        claimed = store.claim("w", 600, 3)
        predictions = {"set": ROWS, "other": ROWS}
        result = sign_result(attach_predictions(make_result(claimed), predictions), private)
        store.finish(claimed.request_id, "w", result, predictions)
    store.claim("w", 600, 3)
    store.fail("req-0003", "w", "boom")
    return tmp_path / "store"


def test_untouched_store_verifies(store_root: Path, keys: tuple[str, str]) -> None:
    code, out = run([str(store_root), "--public-key", keys[1]])
    assert code == 0, out
    assert "OK: 2 result(s), 4 predictions file(s), log of 9 entries" in out


def test_changed_number_fails_naming_the_file(store_root: Path, keys: tuple[str, str]) -> None:
    path = store_root / "results" / layout.result_path("req-0002")
    path.write_text(path.read_text().replace('"avg_wer": 0.1', '"avg_wer": 0.2'))
    code, out = run([str(store_root), "--public-key", keys[1]])
    assert code == 1
    assert f"FAIL results/{layout.result_path('req-0002')}: signature does not verify" in out
    assert "req-0001" not in out


def test_one_prediction_character_changed_fails_naming_the_file(store_root: Path, keys: tuple[str, str]) -> None:
    path = store_root / "results" / layout.predictions_path("req-0001", "other")
    path.write_text(path.read_text().replace("Hello, world!", "Hello, world."))
    code, out = run([str(store_root), "--public-key", keys[1]])
    assert code == 1
    assert f"FAIL results/{layout.predictions_path('req-0001', 'other')}: does not match the sha256 signed in" in out


def test_one_signature_character_changed_fails(store_root: Path, keys: tuple[str, str]) -> None:
    path = store_root / "results" / layout.result_path("req-0001")
    data = json.loads(path.read_text())
    signature = data["signature"]
    data["signature"] = ("B" if signature[10] != "B" else "C").join([signature[:10], signature[11:]])
    path.write_text(json.dumps(data, indent=2))
    code, out = run([str(store_root), "--public-key", keys[1]])
    assert code == 1 and f"FAIL results/{layout.result_path('req-0001')}: signature does not verify" in out


def test_edited_log_entry_fails_at_its_seq(store_root: Path, keys: tuple[str, str]) -> None:
    log = store_root / "requests" / layout.log_chunk_path(0)
    lines = log.read_text().splitlines()
    entry = json.loads(lines[4])
    entry["actor"] = "mallory"
    lines[4] = json.dumps(entry)
    log.write_text("\n".join(lines) + "\n")
    code, out = run([str(store_root), "--public-key", keys[1]])
    assert code == 1 and "FAIL requests/log seq 5: hash chain breaks" in out


def test_wrong_key_fails_and_missing_key_is_a_usage_error(store_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESULTS_PUBLIC_KEY", raising=False)
    code, out = run([str(store_root), "--public-key", generate_keypair()[1]])
    assert code == 1 and out.count("signature does not verify") == 2
    code, out = run([str(store_root)])
    assert code == 2 and "--public-key" in out
    assert run([str(store_root / "nope")])[0] == 2


def test_unsigned_result_and_uncovered_predictions_fail(tmp_path: Path, keys: tuple[str, str]) -> None:
    out_dir = tmp_path / "out"
    (out_dir / "predictions").mkdir(parents=True)
    result = make_result(make_request(1))
    (out_dir / "result.json").write_text(result.to_json())
    (out_dir / "predictions" / "set.jsonl").write_text("{}\n")
    code, out = run([str(out_dir), "--public-key", keys[1]])
    assert code == verify.EXIT_ALTERED and "UNSIGNED result.json" in out and "set.jsonl: is not covered" in out


def write_unsigned_out_folder(out_dir: Path, rows: list[PredictionRow]) -> Path:
    """What `evaluate --out` writes: figures scored from the predictions by the evaluator's own functions."""
    rules = {"normalizer": "whisper-english", "bootstrap_samples": 50, "bootstrap_seed": 3, "max_rtf": 1.0}
    score = score_eval_set(rows, get_normalizer("whisper-english"), bootstrap_samples=50, seed=3)
    result = make_result(make_request(1)).replace(
        datasets={"set": score}, aggregate=aggregate({"set": score}, 1.0, {"set": rows}), rules=rules
    )
    (out_dir / "predictions").mkdir(parents=True)
    (out_dir / "result.json").write_text(attach_predictions(result, {"set": rows}).to_json())
    (out_dir / "predictions" / "set.jsonl").write_text(write_jsonl(rows))
    return out_dir


UNSIGNED_ROWS = [
    PredictionRow(id="u1", reference="hello world", prediction="Hello, world!", duration_s=2.0, time_s=0.5),
    PredictionRow(id="u2", reference="good day to you", prediction="good day", duration_s=3.0, time_s=0.25),
]


def test_unsigned_out_folder_is_checked_and_reported_unsigned_without_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RESULTS_PUBLIC_KEY", raising=False)
    out_dir = write_unsigned_out_folder(tmp_path / "out", UNSIGNED_ROWS)
    code, out = run([str(out_dir)])
    assert code == verify.EXIT_UNSIGNED, out
    assert "UNSIGNED result.json: no signature" in out and "FAIL" not in out
    assert out.splitlines()[-1].startswith("UNSIGNED: 1 result(s), 1 predictions file(s)")


def test_unsigned_out_folder_with_a_changed_figure_is_altered(tmp_path: Path) -> None:
    out_dir = write_unsigned_out_folder(tmp_path / "out", UNSIGNED_ROWS)
    data = json.loads((out_dir / "result.json").read_text())
    data["datasets"]["set"]["wer"] = 0.01
    (out_dir / "result.json").write_text(json.dumps(data))
    code, out = run([str(out_dir)])
    assert code == verify.EXIT_ALTERED
    assert "FAIL result.json: eval set set: wer differ from what its predictions give" in out
    assert "aggregate differs" not in out  # the aggregate was recorded from the true figures


def test_unsigned_out_folder_with_a_rehashed_changed_prediction_is_altered(tmp_path: Path) -> None:
    """Changing a prediction and its recorded hash together still shows: the figures no longer match."""
    out_dir = write_unsigned_out_folder(tmp_path / "out", UNSIGNED_ROWS)
    changed = [UNSIGNED_ROWS[0], dataclasses.replace(UNSIGNED_ROWS[1], prediction="good day to you")]
    (out_dir / "predictions" / "set.jsonl").write_text(write_jsonl(changed))
    data = json.loads((out_dir / "result.json").read_text())
    data["predictions_sha256"]["set"] = predictions_sha256(write_jsonl(changed).encode())
    (out_dir / "result.json").write_text(json.dumps(data))
    code, out = run([str(out_dir)])
    assert code == verify.EXIT_ALTERED and "wer, wer_ci95, deletions" in out


def test_signed_out_folder_without_any_key_is_a_usage_error(
    tmp_path: Path, keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RESULTS_PUBLIC_KEY", raising=False)
    out_dir = tmp_path / "out"
    (out_dir / "predictions").mkdir(parents=True)
    result = sign_result(attach_predictions(make_result(make_request(1)), {"set": ROWS}), keys[0])
    (out_dir / "result.json").write_text(result.to_json())
    (out_dir / "predictions" / "set.jsonl").write_text(write_jsonl(ROWS))
    code, out = run([str(out_dir)])
    assert code == verify.EXIT_USAGE and "is signed but there is no public key" in out


def test_evaluator_out_folder_and_key_from_env(
    tmp_path: Path, keys: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from openasr_core.records import write_jsonl

    private, public = keys
    out_dir = tmp_path / "out"
    (out_dir / "predictions").mkdir(parents=True)
    result = sign_result(attach_predictions(make_result(make_request(1)), {"set": ROWS}), private)
    (out_dir / "result.json").write_text(result.to_json())
    (out_dir / "predictions" / "set.jsonl").write_text(write_jsonl(ROWS))
    monkeypatch.setenv("RESULTS_PUBLIC_KEY", public)
    code, out = run([str(out_dir)])
    assert code == 0, out


def test_hub_results_repo_folder_with_table_and_card_key(tmp_path: Path, keys: tuple[str, str]) -> None:
    """What `verify owner/name` downloads: the results repo as HubStore wrote it; the key comes from the card."""

    private, public = keys
    hub = HubEmulator()
    with hub.installed():
        _hub_repo_folder_checks(hub, tmp_path, private, public)


def _hub_repo_folder_checks(hub: HubEmulator, tmp_path: Path, private: str, public: str) -> None:
    from tests.openasr_core.test_hub_store import REQUESTS, RESULTS, make_hub_store

    store = make_hub_store(hub, card=CardInfo(leaderboard_version="test-v1", public_key=public, eval_sets=("set",)))
    store.submit(make_request(1))
    claimed = store.claim("w", 600, 3)
    store.finish(
        "req-0001", "w", sign_result(attach_predictions(make_result(claimed), {"set": ROWS}), private), {"set": ROWS}
    )
    results_dir, requests_dir = tmp_path / "results", tmp_path / "requests"
    for repo, folder in ((RESULTS, results_dir), (REQUESTS, requests_dir)):
        for name, data in hub.files(repo).items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
    code, out = run([str(results_dir), "--requests-repo", str(requests_dir)])
    assert code == verify.EXIT_UNPINNED and "log of 3 entries" in out, out  # the key came from the card alone
    assert out.splitlines()[-1].startswith("SELF-CONSISTENT: ") and "--public-key" in out.splitlines()[-1]
    code, out = run([str(results_dir), "--requests-repo", str(requests_dir), "--public-key", public])
    assert code == 0 and out.splitlines()[-1].startswith("OK: "), out
    shard = layout.table_path(layout.shard("req-0001"))
    table = results_dir / shard
    table.write_text(table.read_text().replace(",0.1,0.25,", ",0.01,0.25,", 1))
    code, out = run([str(results_dir)])
    assert code == 1 and f"{shard} line 2: avg_wer differ from the signed record of req-0001" in out
    header = table_header((results_dir / layout.PINS_FILE).read_bytes())
    assert (results_dir / CARD_FILE).read_text() == render_card(store.render.card, header)


def test_keygen_writes_private_key_0600_and_prints_only_the_public_key(tmp_path: Path) -> None:
    out = io.StringIO()
    target = tmp_path / "keys" / "signing.key"
    assert keygen.main(["--out", str(target)], out=out) == 0
    private = target.read_text().strip()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert private not in out.getvalue()
    assert f"RESULTS_PUBLIC_KEY={public_key_b64(load_private_key(private))}" in out.getvalue()
    assert keygen.main(["--out", str(target)], out=io.StringIO()) == 2  # never overwritten silently
    printed = io.StringIO()
    assert keygen.main(["--print-private"], out=printed) == 0 and "RESULTS_SIGNING_KEY=" in printed.getvalue()
    assert keygen.main([], out=io.StringIO()) == 2


def imported_modules(argv: list[str]) -> tuple[int, set[str]]:
    """Run `python -X importtime -m evaluator ARGV` in a fresh interpreter; its exit code and every module it imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "evaluator", *argv],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=False,
    )
    names = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return done.returncode, names


def test_verify_and_help_import_neither_torch_nor_transformers(tmp_path: Path, store_root: Path) -> None:
    """A reader checking public results (or asking for --help) needs no GPU stack, even when figures are rescored."""
    out_dir = write_unsigned_out_folder(tmp_path / "out", UNSIGNED_ROWS)
    code, modules = imported_modules(["verify", str(out_dir)])
    assert code == verify.EXIT_UNSIGNED
    assert "jiwer" in modules  # the figures really were rescored in that process
    assert {"torch", "transformers"}.isdisjoint(modules)
    for argv in (["--help"], ["verify", "--help"]):
        code, modules = imported_modules(argv)
        assert code == 0 and {"torch", "transformers"}.isdisjoint(modules), argv


def test_the_exit_codes_are_documented_in_the_cli_help() -> None:
    text = " ".join(verify._parser().format_help().split())
    for code, meaning in ((0, "everything verifies"), (1, "altered"), (2, "nothing could be checked"), (3, "unsigned")):
        assert f"{code} " in text and meaning in text
    assert "3 nothing altered, but a result is unsigned" in text
