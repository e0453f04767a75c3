from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from core.config import EvalSetConfig
from evaluator.audio import AudioError, decode_audio
from evaluator.eval_sets import EvalSet, EvalSetError
from evaluator.runner import Decoded, prefetch
from tests.fixtures.audio import make_audiofolder, tone


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


def test_prefetch_skips_and_counts_empty_references_and_reraises_errors(tmp_path: Path) -> None:
    folder = make_audiofolder(tmp_path / "s", ["one", "", "  ", "four"])
    items = list(prefetch(EvalSet(EvalSetConfig(name="s", path=folder)), 16000))
    decoded = [i for i in items if isinstance(i, Decoded)]
    assert [d.reference for d in decoded] == ["one", "four"] and items[-1] == 2
    assert decoded[0].duration_s == pytest.approx(0.5)
    (folder / "utt003.flac").write_bytes(b"garbage")
    with pytest.raises(AudioError, match="utt003"):
        list(prefetch(EvalSet(EvalSetConfig(name="s", path=folder)), 16000))


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
    items = list(prefetch(eval_set, 16000))
    decoded = [i for i in items if isinstance(i, Decoded)]
    assert [(d.id, d.reference) for d in decoded] == [("r0", "alpha"), ("r2", "gamma")] and items[-1] == 1
    assert len(decoded[0].waveform) == 4000
    assert eval_set.source.source == str(repo) and eval_set.source.split == "test"
