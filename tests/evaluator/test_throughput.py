"""The throughput track (R14): real batching on tiny models, the ladder's stopping rules, the record, the CLI."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from evaluator import ladder as thr
from evaluator.cli import main
from evaluator.eval_sets import EvalSet
from evaluator.metrics import get_normalizer
from evaluator.models import Transcriber, resolve_model
from evaluator.runner import Decoded
from evaluator.spec import EvalSpec
from evaluator.throughput_eval import evaluate_throughput
from openasr_core.cost import throughput_cost
from openasr_core.records import Result, ThroughputResult
from testkit.audio import tone, write_config
from tests.fixtures.clock import ManualClock

#: Six utterances of different lengths, written in an order that is *not* longest first.
LENGTHS = [0.4, 1.2, 0.6, 1.0, 0.3, 0.8]
TEXTS = ["a b", "the quick fox", "hello", "one two three", "yes", "jumps over"]


def make_varied_set(folder: Path, lengths=LENGTHS, texts=TEXTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, (seconds, text) in enumerate(zip(lengths, texts, strict=True)):
        name = f"u{index}.flac"
        sf.write(folder / name, tone(seconds, 16000, freq=180.0 + 40 * index), 16000)
        rows.append({"file_name": name, "text": text})
    with open(folder / "metadata.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file_name", "text"])
        writer.writeheader()
        writer.writerows(rows)
    return folder


@pytest.fixture
def config(tmp_path: Path):
    config = write_config(tmp_path, {"varied": make_varied_set(tmp_path / "varied")}, warmup=1, bootstrap_samples=20)
    text = config.path.read_text() + '\n[hardware_price]\nusd_per_hour = 0.75\nsource = "test"\ndate = "2026-11-28"\n'
    config.path.write_text(text)
    from openasr_core.config import load_config

    return load_config(config.path, env={})


def scoring() -> thr.Scoring:
    return thr.Scoring(get_normalizer("whisper-english"), 1.0, 10, 0)


def test_ladder_sizes_climb_by_four_up_to_the_largest_set() -> None:
    assert thr.ladder_sizes(1) == [1]
    assert thr.ladder_sizes(6) == [1, 4, 16]
    assert thr.ladder_sizes(64) == [1, 4, 16, 64]
    assert thr.ladder_sizes(65) == [1, 4, 16, 64, 256]
    assert thr.ladder_sizes(1000, limit=16) == [1, 4, 16]


@pytest.mark.parametrize("model_fixture", ["tiny_whisper", "tiny_ctc"])
def test_real_batching_sorts_longest_first_and_records_sizes_used(config, model_fixture: str, request) -> None:
    model = request.getfixturevalue(model_fixture)
    # the evaluator's budget for this board: the random tiny Whisper never ends early, so 440 would run to 440
    transcriber = Transcriber(resolve_model(str(model)), device="cpu", max_new_tokens=config.rules.max_new_tokens)
    batched = thr.BatchTranscriber(transcriber, timeout_s=60.0)
    (eval_set,) = [EvalSet(e) for e in config.eval_sets]
    loaded = thr.load_sorted(eval_set, transcriber.sampling_rate)
    assert [round(d.duration_s, 2) for d in loaded.items] == sorted(LENGTHS, reverse=True)
    ladder = thr.climb(batched, batched.probe, [loaded], scoring())
    steps = ladder.steps
    assert [s.batch_size for s in steps][:2] == [1, 4]
    assert steps[0].batch_sizes_used == [1]
    assert steps[1].batch_sizes_used == [2, 4]  # six utterances: one batch of four, then the last two
    if len(steps) == 3:
        assert steps[2].batch_sizes_used == [6]
    assert not any(s.out_of_memory for s in steps) and steps[-1].best_batch_size == ladder.chosen.batch_size
    # The batch-one rung transcribes exactly as the batch-one evaluator does.
    one = {row.id: row.prediction for row in ladder.batch_one.rows["varied"]}
    for item in loaded.items:
        assert one[item.id] == transcriber.transcribe(item.waveform)
    assert [r.id for r in ladder.chosen.rows["varied"]] == [d.id for d in loaded.items]


def fake_model(clock: ManualClock, cost, oom_at: int | None = None):
    calls: list[int] = []

    def transcribe(waveforms: list[np.ndarray]) -> list[str]:
        calls.append(len(waveforms))
        if oom_at is not None and len(waveforms) >= oom_at:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        clock.advance(cost(len(waveforms)))
        return ["hello"] * len(waveforms)

    return transcribe, calls


def decoded(n: int) -> list[Decoded]:
    return [Decoded(f"u{i}", "hello", np.zeros(1600 * (n - i), dtype=np.float32), 0.1 * (n - i)) for i in range(n)]


def test_ladder_stops_at_the_first_out_of_memory_and_keeps_the_last_good_size(monkeypatch) -> None:
    clock = ManualClock()
    monkeypatch.setattr(thr.time, "perf_counter", clock)
    transcribe, calls = fake_model(clock, cost=lambda size: 1.0, oom_at=16)  # bigger batches are faster
    sets = [thr.SortedSet("s", decoded(40), 0)]
    ladder = thr.climb(transcribe, thr.SizeProbe(), sets, scoring())
    assert [(s.batch_size, s.out_of_memory, s.best_batch_size) for s in ladder.steps] == [
        (1, False, 1),
        (4, False, 4),
        (16, True, 4),
    ]
    assert ladder.chosen.batch_size == 4 and ladder.steps[-1].rtfx is None
    assert 64 not in calls  # nothing was tried after the first out-of-memory


def test_ladder_stops_when_rtfx_stops_improving(monkeypatch) -> None:
    clock = ManualClock()
    monkeypatch.setattr(thr.time, "perf_counter", clock)
    transcribe, _ = fake_model(clock, cost=lambda size: 0.05 * size)  # no gain from batching at all
    ladder = thr.climb(transcribe, thr.SizeProbe(), [thr.SortedSet("s", decoded(40), 0)], scoring())
    assert [s.batch_size for s in ladder.steps] == [1, 4] and ladder.chosen.batch_size == 1
    assert ladder.steps[1].best_batch_size == 1
    assert ladder.steps[0].rtfx == pytest.approx(ladder.steps[1].rtfx)


def test_out_of_memory_at_batch_one_and_other_errors_are_not_swallowed(monkeypatch) -> None:
    clock = ManualClock()
    monkeypatch.setattr(thr.time, "perf_counter", clock)
    transcribe, _ = fake_model(clock, cost=lambda size: 1.0, oom_at=1)
    with pytest.raises(torch.OutOfMemoryError):
        thr.climb(transcribe, thr.SizeProbe(), [thr.SortedSet("s", decoded(8), 0)], scoring())

    def broken(waveforms: list[np.ndarray]) -> list[str]:
        if len(waveforms) > 1:
            raise ValueError("a real bug")
        return ["hello"]

    with pytest.raises(ValueError, match="a real bug"):
        thr.climb(broken, thr.SizeProbe(), [thr.SortedSet("s", decoded(8), 0)], scoring())


def test_batch_time_is_shared_by_duration_and_sums_exactly(monkeypatch) -> None:
    clock = ManualClock()
    monkeypatch.setattr(thr.time, "perf_counter", clock)
    transcribe, _ = fake_model(clock, cost=lambda size: 3.0)
    rows = thr.run_batched(transcribe, decoded(5), 4)
    assert math.fsum(r.time_s for r in rows) == pytest.approx(6.0)
    assert {round(r.time_s / r.duration_s, 9) for r in rows[:4]} == {round(3.0 / 1.4, 9)}  # one RTF per batch


def test_simulated_out_of_memory_on_a_real_model(config, tiny_ctc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    transcriber = Transcriber(resolve_model(str(tiny_ctc)), device="cpu")
    batched = thr.BatchTranscriber(transcriber)
    clock = ManualClock()
    monkeypatch.setattr(thr.time, "perf_counter", clock)

    def limited(waveforms: list[np.ndarray]) -> list[str]:
        if len(waveforms) >= 5:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB")
        texts = batched(waveforms)
        clock.advance(1.0)  # every batch takes a second, whatever the machine's load: batch four is faster
        return texts

    loaded = thr.load_sorted(EvalSet(config.eval_sets[0]), transcriber.sampling_rate)
    ladder = thr.climb(limited, batched.probe, [loaded], scoring())
    assert [(s.batch_size, s.out_of_memory, s.best_batch_size) for s in ladder.steps] == [
        (1, False, 1),
        (4, False, 4),
        (16, True, 4),
    ]
    assert ladder.chosen.batch_size == 4


def test_throughput_record_end_to_end(config, tiny_ctc: Path) -> None:
    evaluation = evaluate_throughput(config, EvalSpec(str(tiny_ctc), request_id="t1", device="cpu"))
    result = evaluation.result
    assert result.track == "throughput" and result.chosen_batch_size in (1, 4, 16)
    assert result.batch_evidence.batch_sizes_used == next(
        s.batch_sizes_used for s in result.ladder if s.batch_size == result.chosen_batch_size
    )
    assert result.batch_one_wer["varied"] == result.ladder[0].avg_wer
    assert result.aggregate.wer_change == pytest.approx(result.aggregate.avg_wer - result.aggregate.batch_one_avg_wer)
    assert result.rules["hardware_price"] == {"usd_per_hour": 0.75, "source": "test", "date": "2026-11-28"}
    assert result.usd_per_1000_audio_hours == 0.75 / result.aggregate.rtfx * 1000
    assert result.usd_per_1000_audio_hours == throughput_cost(0.75, result.aggregate.rtfx)
    assert result.reproduce.endswith("--track throughput")
    assert ThroughputResult.from_json(result.to_json()) == result
    with pytest.raises(ValueError, match="no field"):
        Result.from_dict(result.to_dict())  # a throughput record can never be read as a batch-one result
    with pytest.raises(ValueError, match="track"):
        result.replace(track="batch-one")
    assert sum(len(rows) for rows in evaluation.predictions.values()) == len(LENGTHS)


def test_cli_track_throughput_writes_its_own_file(config, tiny_ctc: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    args = ["evaluate", "--config", str(config.path), "--model", str(tiny_ctc), "--device", "cpu"]
    code = main([*args, "--track", "throughput", "--out", str(out)])
    assert code == 0
    assert (out / "throughput.json").is_file() and not (out / "result.json").exists()
    record = ThroughputResult.from_json((out / "throughput.json").read_text())
    assert json.loads((out / "throughput.json").read_text())["track"] == "throughput"
    assert (out / "predictions" / "varied.jsonl").is_file()
    printed = capsys.readouterr().out
    assert f"chosen batch size {record.chosen_batch_size}" in printed and "USD per 1,000 audio hours" in printed


@pytest.mark.slow
def test_real_whisper_base_batched(tmp_path: Path, whisper_base: Path, ljspeech_32: Path) -> None:
    """Two real clips, ladder 1 and 4: the second rung runs both in one real batch, with WER close to batch one."""
    config = write_config(tmp_path, {"lj": ljspeech_32}, warmup=0, bootstrap_samples=20, max_new_tokens=440)
    spec = EvalSpec(str(whisper_base), request_id="wb", device="cpu", max_samples=2)
    evaluation = evaluate_throughput(config, spec, ladder_limit=4)
    result = evaluation.result
    assert [s.batch_size for s in result.ladder] == [1, 4]
    assert result.ladder[0].batch_sizes_used == [1] and result.ladder[1].batch_sizes_used == [2]
    assert result.batch_one_wer["lj"] < 0.15 and result.datasets["lj"].wer < 0.15
    assert abs(result.aggregate.wer_change) < 0.05
    assert not result.official  # max_samples: never official


# --- R7 and long utterances: the batched path decodes as batch one does -------------------------------------


def test_batches_never_mix_long_form_and_short_utterances() -> None:
    items = [Decoded(f"u{i}", "x", np.zeros(n, dtype=np.float32), n / 10) for i, n in enumerate([50, 40, 30, 20, 10])]
    long = lambda waveform: len(waveform) > 35  # noqa: E731
    groups = thr.batches(items, 4, long)
    assert [[d.id for d in g] for g in groups] == [["u0", "u1"], ["u2", "u3", "u4"]]
    assert [[d.id for d in g] for g in thr.batches(items, 2, None)] == [["u0", "u1"], ["u2", "u3"], ["u4"]]


def test_batched_whisper_hears_all_of_a_40_s_utterance_with_batch_one_config(
    tiny_whisper: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    transcriber = Transcriber(resolve_model(str(tiny_whisper)), device="cpu", max_new_tokens=4, utterance_timeout_s=5)
    batched = thr.BatchTranscriber(transcriber, timeout_s=5.0)
    seen: list[dict[str, object]] = []

    def spy(**kwargs: object) -> torch.Tensor:
        seen.append(kwargs)
        config = kwargs["generation_config"]
        return torch.tensor([[config.decoder_start_token_id]] * kwargs["input_features"].shape[0])

    monkeypatch.setattr(transcriber.model, "generate", spy)
    batched([np.zeros(40 * 16000, dtype=np.float32), np.zeros(35 * 16000, dtype=np.float32)])
    assert seen[0]["input_features"].shape[-1] == 4000  # padded to the longest, nothing cut at 30 s
    assert [int(n) for n in seen[0]["attention_mask"].sum(dim=-1)] == [4000, 3500]
    long_config, short_config = seen[0]["generation_config"], None
    assert long_config.return_timestamps is True and long_config.max_time == 10.0  # 5 s per utterance x 2
    batched([np.zeros(20 * 16000, dtype=np.float32)] * 3)
    short_config = seen[1]["generation_config"]
    assert seen[1]["input_features"].shape[-1] == 3000 and short_config.return_timestamps is False
    batch_one = transcriber.generation_config(long_form=False).to_dict()
    assert {**short_config.to_dict(), "max_time": None} == {**batch_one, "max_time": None}  # R7: same settings
    with pytest.raises(ValueError, match="mixes"):
        batched([np.zeros(40 * 16000, dtype=np.float32), np.zeros(20 * 16000, dtype=np.float32)])


def test_throughput_records_the_batch_one_decoding_settings(config, tiny_whisper: Path) -> None:
    from evaluator.evaluate import evaluate

    throughput_spec = EvalSpec(str(tiny_whisper), request_id="t", device="cpu")
    throughput = evaluate_throughput(config, throughput_spec, ladder_limit=1).result
    batch_one = evaluate(config, EvalSpec(str(tiny_whisper), request_id="b", device="cpu")).result
    assert throughput.decoding and throughput.decoding == batch_one.decoding
    assert throughput.ignored_settings == batch_one.ignored_settings
