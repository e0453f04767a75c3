from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from evaluator.audio import AudioError, decode_audio
from evaluator.eval_sets import EvalSet, EvalSetError, is_excluded_reference, pinned_revisions
from evaluator.runner import LongUtteranceRefused, Screening, load_windows
from openasr_core.config import EvalSetConfig
from openasr_core.records import EvalSetSource
from testkit.audio import make_audiofolder, tone


def test_audiofolder_csv_and_jsonl_read_the_same(tmp_path: Path) -> None:
    texts = ["hello world", "good morning"]
    a = EvalSet(EvalSetConfig(name="a", path=make_audiofolder(tmp_path / "a", texts)))
    b = EvalSet(EvalSetConfig(name="b", path=make_audiofolder(tmp_path / "b", texts, fmt="jsonl")))
    assert (
        [(u.id, u.reference) for u in a]
        == [(u.id, u.reference) for u in b]
        == [("utt000", texts[0]), ("utt001", texts[1])]
    )
    assert a.total == 2 and a.source.sha256 and a.source.source == str(tmp_path / "a")


def test_max_samples_takes_the_first_n(tmp_path: Path) -> None:
    folder = make_audiofolder(tmp_path / "s", ["one", "two", "three"])
    eval_set = EvalSet(EvalSetConfig(name="s", path=folder), max_samples=2)
    assert [u.reference for u in eval_set] == ["one", "two"] and eval_set.total == 2


def test_missing_metadata_names_the_fix(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvalSetError, match=r"no metadata.csv or metadata.jsonl.*file_name"):
        EvalSet(EvalSetConfig(name="x", path=tmp_path / "empty"))


def test_metadata_naming_a_missing_file(tmp_path: Path) -> None:
    folder = make_audiofolder(tmp_path / "s", ["one"])
    (folder / "utt000.flac").unlink()
    with pytest.raises(EvalSetError, match=r"utt000\.flac"):
        EvalSet(EvalSetConfig(name="s", path=folder))


def test_metadata_without_text_column(tmp_path: Path) -> None:
    folder = make_audiofolder(tmp_path / "s", ["one"])
    (folder / "metadata.csv").write_text("file_name,sentence\nutt000.flac,one\n")
    with pytest.raises(EvalSetError, match="no `text` column"):
        EvalSet(EvalSetConfig(name="s", path=folder))


def test_decode_downmixes_and_resamples(tmp_path: Path) -> None:
    path = tmp_path / "stereo.flac"
    sf.write(path, tone(1.0, 22050, channels=2), 22050)
    waveform = decode_audio(path, 16000)
    assert waveform.ndim == 1 and waveform.dtype == np.float32
    assert abs(len(waveform) - 16000) <= 2


def test_corrupt_audio_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.flac"
    path.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match=r"bad.flac.*Re-encode"):
        decode_audio(path, 16000)


def _loaded(eval_set: EvalSet, screening: Screening | None = None, **kwargs: object) -> list:
    return [item for window in load_windows(eval_set, 16000, screening=screening, **kwargs) for item in window]


def test_loading_skips_and_counts_empty_references_and_raises_errors(tmp_path: Path) -> None:
    folder = make_audiofolder(tmp_path / "s", ["one", "", "  ", "four"])
    screening = Screening()
    decoded = _loaded(EvalSet(EvalSetConfig(name="s", path=folder)), screening)
    assert [d.reference for d in decoded] == ["one", "four"] and screening.empty == 2
    assert decoded[0].duration_s == pytest.approx(0.5)
    (folder / "utt003.flac").write_bytes(b"garbage")
    with pytest.raises(AudioError, match="utt003"):
        _loaded(EvalSet(EvalSetConfig(name="s", path=folder)))


def test_windows_are_bounded_and_keep_the_order(tmp_path: Path) -> None:
    folder = make_audiofolder(tmp_path / "s", [f"w{i}" for i in range(5)])
    windows = list(load_windows(EvalSet(EvalSetConfig(name="s", path=folder)), 16000, window_utterances=2))
    assert [[d.reference for d in w] for w in windows] == [["w0", "w1"], ["w2", "w3"], ["w4"]]
    by_audio = list(load_windows(EvalSet(EvalSetConfig(name="s", path=folder)), 16000, window_audio_s=1.0))
    assert [len(w) for w in by_audio] == [2, 2, 1]  # 0.5 s each: a window closes at 1 s of audio


@pytest.mark.parametrize(
    ("reference", "excluded"),
    [
        ("ignore_time_segment_in_scoring", True),
        ("IGNORE TIME SEGMENT IN SCORING", True),
        (" ignore time segment in scoring. ", True),
        ("please ignore time segment in scoring now", False),
        ("ignore the time", False),
    ],
)
def test_esb_exclusion_marker(reference: str, excluded: bool) -> None:
    assert is_excluded_reference(reference) is excluded


def test_excluded_references_are_counted_and_never_decoded(tmp_path: Path) -> None:
    folder = make_audiofolder(tmp_path / "s", ["one", "ignore_time_segment_in_scoring", "three"])
    (folder / "utt001.flac").write_bytes(b"not audio: decoding it would fail")
    screening = Screening()
    decoded = _loaded(EvalSet(EvalSetConfig(name="s", path=folder)), screening)
    assert [d.reference for d in decoded] == ["one", "three"]
    assert (screening.excluded, screening.empty) == (1, 0)


def test_a_model_that_cannot_take_the_whole_utterance_refuses_the_set(tmp_path: Path) -> None:
    folder = make_audiofolder(tmp_path / "s", ["short", "long"], seconds=2.0)
    with pytest.raises(LongUtteranceRefused, match=r"utterance utt000 of s is 2.0 s long.*at most 1 s"):
        _loaded(EvalSet(EvalSetConfig(name="s", path=folder)), max_audio_s=1.0, set_name="s")


def test_folder_digest_covers_subfolders(tmp_path: Path) -> None:
    folder = tmp_path / "s"
    (folder / "clips").mkdir(parents=True)
    sf.write(folder / "clips" / "a.flac", tone(0.5, 16000), 16000)
    (folder / "metadata.csv").write_text("file_name,text\nclips/a.flac,hello\n")
    before = EvalSet(EvalSetConfig(name="s", path=folder)).source.sha256
    sf.write(folder / "clips" / "a.flac", tone(0.5, 16000, freq=440.0), 16000)
    after = EvalSet(EvalSetConfig(name="s", path=folder)).source.sha256
    assert before != after


def test_hub_dataset_path_reads_parquet_with_audio_bytes(tmp_path: Path) -> None:
    """The Hub code path (datasets streaming, audio left undecoded) on a local dataset repo folder."""
    import io

    import pandas as pd

    rows = []
    for index, text in enumerate(["alpha", "", "gamma"]):
        buffer = io.BytesIO()
        sf.write(buffer, tone(0.25, 8000), 8000, format="WAV")
        rows.append({"id": f"r{index}", "text": text, "audio": {"bytes": buffer.getvalue(), "path": f"r{index}.wav"}})
    repo = tmp_path / "hub-repo"
    (repo / "data").mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(repo / "data" / "test-00000-of-00001.parquet")
    eval_set = EvalSet(EvalSetConfig(name="hub", hub_id=str(repo), split="test"))
    screening = Screening()
    decoded = _loaded(eval_set, screening)
    assert [(d.id, d.reference) for d in decoded] == [("r0", "alpha"), ("r2", "gamma")] and screening.empty == 1
    assert len(decoded[0].waveform) == 4000
    assert eval_set.source.source == str(repo) and eval_set.source.split == "test"


# --- Hub sets pinned to one commit per board version ------------------------------------------------------

SHA_A, SHA_B = "a" * 40, "b" * 40


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """The Hub resolves every branch to SHA_A; `datasets` records the revision it was asked to stream."""
    import datasets
    from huggingface_hub import HfApi

    seen: dict[str, object] = {}

    def dataset_info(self: object, repo_id: str, revision: str | None = None, **kwargs: object) -> SimpleNamespace:
        seen["resolved"] = revision
        return SimpleNamespace(sha=SHA_A)

    def load_dataset(*args: object, revision: str | None = None, **kwargs: object) -> None:
        seen["streamed"] = revision
        raise ConnectionError("no network in tests")

    monkeypatch.setattr(HfApi, "dataset_info", dataset_info)
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    monkeypatch.setattr(datasets, "load_dataset_builder", load_dataset)
    return seen


def _hub_set(revision: str = "main") -> EvalSetConfig:
    return EvalSetConfig(name="ami", hub_id="hf-audio/esb-datasets-test-only-sorted", config="ami", revision=revision)


def test_hub_set_streams_the_commit_it_records_not_the_branch(fake_hub: dict[str, object]) -> None:
    eval_set = EvalSet(_hub_set("main"))
    assert eval_set.source.revision == SHA_A and fake_hub["resolved"] == "main"
    with pytest.raises(EvalSetError, match="HF_TOKEN belongs to an account that accepted its terms"):
        list(eval_set)
    assert fake_hub["streamed"] == SHA_A


def _result(version: str, finished_at: str, revision: str, config: str = "ami") -> SimpleNamespace:
    source = EvalSetSource(
        name="ami", source="hf-audio/esb-datasets-test-only-sorted", revision=revision, config=config, split="test"
    )
    return SimpleNamespace(leaderboard_version=version, finished_at=finished_at, eval_sets=[source])


def test_the_first_result_of_a_version_pins_its_sets() -> None:
    results = [
        _result("esb-v1", "2026-02-01T00:00:00Z", SHA_B),
        _result("esb-v1", "2026-01-01T00:00:00Z", SHA_A),
        _result("esb-v0", "2025-01-01T00:00:00Z", "c" * 40),
        _result("esb-v1", "2025-12-01T00:00:00Z", "d" * 40, config="other-config"),
    ]
    assert pinned_revisions(results, "esb-v1", [_hub_set()]) == {"ami": SHA_A}  # type: ignore[arg-type]
    assert pinned_revisions(results, "esb-v2", [_hub_set()]) == {}  # type: ignore[arg-type]


def test_a_pinned_set_streams_its_pin_and_refuses_a_config_naming_other_data(fake_hub: dict[str, object]) -> None:
    assert EvalSet(_hub_set("main"), pinned=SHA_B).source.revision == SHA_B
    assert "resolved" not in fake_hub  # the pin is used as it is, whatever main points to now
    assert EvalSet(_hub_set(SHA_B), pinned=SHA_B).source.revision == SHA_B
    with pytest.raises(EvalSetError, match=r"measured on .*@b{40}, but the config now names a{40}.*new board version"):
        EvalSet(_hub_set(SHA_A), pinned=SHA_B)


def test_a_gated_dataset_names_the_token_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError

    def gated(self: object, *args: object, **kwargs: object) -> None:
        raise GatedRepoError("403 gated", response=SimpleNamespace(headers={}, status_code=403, request=None))

    monkeypatch.setattr(HfApi, "dataset_info", gated)
    with pytest.raises(EvalSetError, match=r"is gated; accept its terms.*HF_TOKEN"):
        EvalSet(_hub_set("main"))
