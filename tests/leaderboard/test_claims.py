"""R15 end to end on the board: claims read at submission (local folder and Hub, at the pinned SHA), recorded in
the `submitted` log event, rebuilt from it, bad files reported per file without refusing the model; then shown
as facts on the detail page, in an optional board column and behind a "has claims" filter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import HfApi
from huggingface_hub import constants as hf_constants

from leaderboard.detail_view import claims_markdown
from leaderboard.inspection import HubModels
from leaderboard.query import filters_from_query, filters_to_query
from leaderboard.table import CLAIMS_COLUMN, CLAIMS_LABEL, BoardInput, Filters, build_board, csv_frame
from openasr_core.claims import read_claims
from openasr_core.config import EvalSetConfig, load_config
from openasr_core.history import recovered_request, replay
from openasr_core.records import ClaimsRead
from openasr_core.store import LocalStore
from testkit.factories import make_result
from testkit.hub_emulator import ENDPOINT, HubEmulator, safetensors_bytes
from testkit.markdown_render import rendered_html, shown_text
from testkit.submit import run_submit

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "claims"
ESB = load_config(Path(__file__).resolve().parents[2] / "configs" / "esb-v1.toml").eval_sets
LOCAL = (EvalSetConfig(name="ljspeech-sample", path=Path("data/ljspeech-sample")),)
GOOD = b"- dataset: {id: ljspeech-sample}\n  value: 5.1\n  notes: 'batch 64 on an A100'\n  date: '2025-01-15'\n"


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def submitted_detail(store: LocalStore) -> dict[str, object]:
    return dict(next(e for e in store.snapshot().log if e.event == "submitted").detail)


def test_claims_are_read_at_submission_and_logged_so_they_cannot_change(place_model, models_dir, store) -> None:
    folder = place_model("test-org/tiny-whisper")
    (folder / ".eval_results").mkdir()
    (folder / ".eval_results" / "board.yaml").write_bytes(GOOD)
    outcome = run_submit(store, models_dir, "test-org/tiny-whisper", eval_sets=LOCAL, publish_results=True)
    assert outcome.accepted and "1 claimed WER(s) on" in shown_text(outcome.message)
    detail = submitted_detail(store)
    logged = ClaimsRead.from_dict(detail["claims"])  # type: ignore[arg-type]
    assert [(c.eval_set, c.wer, c.notes) for c in logged.claims] == [("ljspeech-sample", 0.051, "batch 64 on an A100")]
    assert detail["publish_results"] is True
    request = store.snapshot().requests[outcome.request.request_id]  # type: ignore[union-attr]
    assert request.claims == logged and request.publish_results
    rebuilt = recovered_request(replay(store.snapshot().log)[request.request_id])
    assert rebuilt is not None and rebuilt.claims == logged and rebuilt.publish_results, "rebuilt from the log"
    (folder / ".eval_results" / "board.yaml").write_bytes(GOOD.replace(b"5.1", b"1.0"))
    again = run_submit(store, models_dir, "test-org/tiny-whisper", revision=request.revision)
    assert "has one revision" in again.message, "the claims are part of a local folder's revision"
    assert ClaimsRead.from_dict(submitted_detail(store)["claims"]) == logged, "a changed file is a new revision"


def test_bad_claim_files_are_reported_per_file_and_never_refuse(place_model, models_dir, store, tmp_path) -> None:
    folder = place_model("test-org/tiny-whisper")
    (folder / ".eval_results").mkdir()
    (folder / ".eval_results" / "broken.yaml").write_bytes(b"- dataset: {id: x\n")
    (folder / ".eval_results" / "huge.yaml").write_bytes(b"#" * 300_000)
    (folder / ".eval_results" / "good.yaml").write_bytes(GOOD)
    outcome = run_submit(store, models_dir, "test-org/tiny-whisper", eval_sets=LOCAL)
    text = shown_text(outcome.message)
    assert outcome.accepted and "could not read .eval_results/broken.yaml: not valid YAML" in text
    assert "could not read .eval_results/huge.yaml: 300,000 bytes, over the 262,144-byte limit" in text
    claims = ClaimsRead.from_dict(submitted_detail(store)["claims"])  # type: ignore[arg-type]
    assert [c.source.file for c in claims.claims] == [".eval_results/good.yaml"] and len(claims.problems) == 2
    written = sorted(p.relative_to(store.root).as_posix() for p in store.root.rglob("*") if p.is_file())
    assert not any("eval_results" in p or "claims" in p for p in written), "nothing of the files is stored"


def test_a_model_without_claims_logs_what_it_logged_before(place_model, models_dir, store) -> None:
    place_model("test-org/tiny-whisper")
    assert run_submit(store, models_dir, "test-org/tiny-whisper", eval_sets=LOCAL).accepted
    assert "claims" not in submitted_detail(store) and "publish_results" not in submitted_detail(store)


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubEmulator]:
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    emulator = HubEmulator()
    with emulator.installed():
        yield emulator


def test_a_hub_models_claims_are_read_at_the_pinned_sha(hub: HubEmulator) -> None:
    files = {
        "config.json": json.dumps({"architectures": ["WhisperForConditionalGeneration"]}).encode(),
        "model.safetensors": safetensors_bytes({"w": (10, 10)}),
        "README.md": (FIXTURES / "whisper-base-card.md").read_bytes(),
        ".eval_results/open_asr_leaderboard.yaml": (FIXTURES / "open_asr_leaderboard.yaml").read_bytes(),
        ".eval_results/huge.yaml": b"#" * 300_000,
    }
    repo = hub.add_repo("openai/whisper-base", files, repo_type="model", lfs={"model.safetensors"})
    sha = repo.head[0]
    hub.push("openai/whisper-base", {"README.md": b"---\nlicense: mit\n---\n"}, repo_type="model")  # main moves on
    facts = HubModels(HfApi(endpoint=ENDPOINT)).inspect("openai/whisper-base", sha)
    read = read_claims(facts.claim_files, ESB, facts.claim_problems)
    assert {c.eval_set for c in read.claims} == {"librispeech_test_clean", "librispeech_test_other"}
    assert len(read.claims) == 4, "the card at the SHA, not the head's card without a model-index"
    assert read.problems == ["could not read .eval_results/huge.yaml: 300,000 bytes, over the 262,144-byte limit"]
    downloads = [c[2] for c in hub.calls if c[0] == "resolve"]
    assert all(f"/resolve/{sha}/" in path for path in downloads) and not any("huge" in p for p in downloads)


# --- shown ------------------------------------------------------------------------------------------------


def claimed_result(request_id: str = "r1", wer: float = 0.063) -> object:
    result = make_result(request_id, wers={"ljspeech-sample": wer}, version="local-v1")
    hostile = GOOD.replace(b"batch 64 on an A100", b"<img src=x onerror=alert(1)> [login](https://e.vil)")
    from openasr_core.claims import with_claims

    return with_claims(result, read_claims({".eval_results/board.yaml": hostile}, LOCAL))


def test_the_detail_page_says_claimed_and_measured_as_facts_with_the_conditions() -> None:
    result = claimed_result()
    shown = shown_text(claims_markdown(result, None, []))  # type: ignore[arg-type]
    assert "Claimed vs measured" in shown
    assert "says 5.10% on 2025-01-15, measured 6.30% here under batch one on A10G (+1.20 points)" in shown
    assert "<img src=x onerror=alert(1)> [login](https://e.vil)" in shown, "the notes shown as text, escaped"
    html = rendered_html(claims_markdown(result, None, []))  # type: ignore[arg-type]
    assert "<img" not in html and "<a " not in html, "no tag and no link from the notes, in the table or the text"


def test_the_board_column_and_filter_are_optional_and_never_rank() -> None:
    plain = make_result("r0", wers={"ljspeech-sample": 0.05}, version="local-v1")
    board = build_board(
        [BoardInput(plain), BoardInput(claimed_result())],  # type: ignore[arg-type]
        eval_sets=["ljspeech-sample"],
    )
    assert [e.request_id for e in board.entries] == ["r0", "r1"], "ranked by measured WER only"
    default = board.view(Filters())
    assert CLAIMS_LABEL not in default.frame.columns, "not shown unless picked"
    picked = board.view(Filters(columns=(CLAIMS_COLUMN,)))
    assert list(picked.frame[CLAIMS_LABEL].fillna(-1)) == [-1, 1.2]
    only = board.view(Filters(claims_only=True))
    assert only.request_ids == ("r1",) and filters_to_query(Filters(claims_only=True)) == "claims=1"
    assert filters_from_query("claims=1").claims_only and not filters_from_query("").claims_only
    assert list(csv_frame(picked, board.eval_sets)["claims_avg_gap_points"].round(2).fillna(-1)) == [-1, 1.2]
