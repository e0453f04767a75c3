"""What the Hub store costs at production scale: HTTP requests and bytes per operation, through the real client.

The Hub emulator (testkit/hub_emulator.py; the REAL `huggingface_hub.HfApi` runs over it) is seeded, in the store's
own layout, with a board as production would hold it after a year (`--results`, `--open`, ...):

- 10,000 FINISHED requests with their signed results (openasr_core.signing, a fresh Ed25519 key): the eight ESB sets of
  `configs/esb-v1.toml` with realistic utterance counts, model facts (weight file sha256s), the rules in force
  (hardware price included), the compute record of a Job on a10g-small, the decoding settings and the recipe;
- 1,000 open (PENDING) requests with model facts, 5 of them back in the queue after a lease expired
  (`--retried-open`: a claim looks each one's result up);
- the public log of every request's lifecycle as `openasr_core/store/base.py` writes it (submitted, claimed,
  lease_expired, claimed again, finished), hash-chained with `openasr_core.eventlog.next_entry`;
- an audit every 5 results (`--audit-every`): a signed `AuditRecord` at `audits/<xx>/<id>/<audit_id>.json`,
  `audits.csv`, and its `audit_passed`/`audit_failed` event naming the record's sha256;
- 1,000 throughput records (`--throughput`), stored as `Store.publish_throughput` stores them
  (`throughput/<xx>/<id>.json` with its predictions, `throughput-records/<xx>.jsonl`, `throughput.csv`) with
  their `throughput_published` events;
- predictions for every result and throughput record, so the repo holds production's number of files: ESB-size
  (librispeech test.clean 2,620 rows, spgispeech 39,341, ... 83,179 rows in all) for the entry the detail page
  opens, and one row per eval set for the others (the file count is production's, those bytes are not);
- the results card (README.md, with the public key that `verify` reads), the table shards (`leaderboard/<xx>.csv`), `state.json`.

`openasr_core/board_files.py` `render_repos` writes the requests repo and the results, records shards and table
(so the seed is exactly what the store code of this checkout writes); the rest is written here as the store
writes it. Then, each right after one commit by another client (another HubStore submitting, as in production
where every claim, heartbeat and submission moves the requests repo), with the emulator's counts reset around it:

- board_read: `snapshot()` of a warm reader (it read once before): requests and bytes downloaded;
- claim: `claim()` by a warm worker; heartbeat: `heartbeat()` with a `Progress` (requests, bytes uploaded);
- finish: `finish()` with a signed result and ESB-size predictions (requests, and bytes uploaded other than
  the predictions files: their base64 in the commit payload, or their LFS `PUT` when over 10 MB);
- job: a whole Job as `python -m evaluator run-once --request-id ID` runs it, from a fresh process: a new store
  from `openasr_core.store.open_store(config)` (no cache) and `evaluator.job.run_once` itself, its evaluation stubbed
  (it reports progress, waits for one heartbeat, returns ESB-size predictions; later heartbeats are not sent);
- throughput_tab: what the Throughput tab reads (`store.throughput_results()`), by a warm reader;
- verify: `python -m evaluator verify <results repo> --requests-repo <requests repo> --public-key <key>`
  (`evaluator.verify.main`), HF cache in a scratch folder.
  Downloading a whole repo of 10,000 results and their predictions (~100,000 files) takes minutes, so by default
  it runs on a board of `--verify-results` (1,000) seeded the same way, and says so; `--verify-results 10000`
  measures it on the full board.

The last line is the summary. At the default size the whole run takes about two minutes on two cores.

    python bench/hub_scale.py [--results 10000] [--open 1000] [--audit-every 5] [--throughput 1000]
                              [--retried-open 5] [--verify-results 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import io
import json
import os
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from huggingface_hub import constants as hf_constants

from openasr_core import layout
from openasr_core.audits import AUDIT_EVENTS
from openasr_core.board_files import open_store, render_repos, table_header
from openasr_core.compute import FLAVOR_ENV, PRICE_DATE_ENV, PRICE_ENV, REQUEST_ENV
from openasr_core.config import LeaderboardConfig, load_config
from openasr_core.cost import throughput_cost
from openasr_core.dataset_card import AUDITS_TABLE_FILE, CARD_FILE, CardInfo, audits_table, render_card
from openasr_core.eventlog import next_entry
from openasr_core.history import submission_detail
from openasr_core.records import (
    THROUGHPUT_PUBLISHED,
    Aggregate,
    AuditCheck,
    AuditRecord,
    BatchEvidence,
    Compute,
    DatasetScore,
    EvalSetSource,
    Hardware,
    LadderStep,
    LogEntry,
    ModelInfo,
    PredictionRow,
    Progress,
    RecipeInfo,
    Request,
    Result,
    Status,
    ThroughputAggregate,
    ThroughputEvidence,
    ThroughputResult,
    UtteranceDiff,
    Verdict,
    write_jsonl,
)
from openasr_core.signing import (
    PRIVATE_KEY_ENV,
    PUBLIC_KEY_ENV,
    attach_predictions,
    audit_hash,
    generate_keypair,
    load_private_key,
    sign_audit,
    sign_result,
    throughput_hash,
)
from openasr_core.store.hub import HubStore
from openasr_core.store.repo_files import audit_files
from openasr_core.throughput_table import THROUGHPUT_TABLE_FILE, throughput_table
from testkit.hub_emulator import LFS_THRESHOLD, HubEmulator

ROOT = Path(__file__).resolve().parent.parent

REQUESTS, RESULTS = "bench-org/asr-requests", "bench-org/asr-results"
CONFIG_FILE = ROOT / "configs" / "esb-v1.toml"
TOKEN = "hf_benchTOKEN0123456789"
GITATTRIBUTES = b"*.bin filter=lfs diff=lfs merge=lfs -text\n"
START = datetime(2025, 12, 1, tzinfo=UTC)
PRICE_PER_MINUTE = 1.0 / 60


@dataclass(frozen=True)
class EsbSet:
    """One ESB test set: utterances, hours of audio, words per utterance, and how hard it is against the mean."""

    name: str
    utterances: int
    hours: float
    words: int
    difficulty: float


#: The eight ESB English test sets of `configs/esb-v1.toml`, at their real sizes (83,179 utterances, ~170 h).
ESB = (
    EsbSet("ami", 12_643, 8.7, 8, 1.8),
    EsbSet("earnings22", 2_741, 5.4, 17, 1.4),
    EsbSet("gigaspeech", 19_898, 35.4, 13, 1.1),
    EsbSet("librispeech_test_clean", 2_620, 5.4, 20, 0.35),
    EsbSet("librispeech_test_other", 2_939, 5.1, 18, 0.75),
    EsbSet("spgispeech", 39_341, 100.0, 17, 0.45),
    EsbSet("tedlium", 1_155, 2.6, 19, 0.6),
    EsbSet("voxpopuli", 1_842, 4.9, 25, 0.9),
)
_VOCABULARY = (
    "the of and to a in that is was he for it with as his on be at by i this had not are but from or have an they "
    "which one you were her all she there would their we him been has when who will more no if out so said what up "
    "its about into than them can only other new some could time these two may then do first any my now such like "
    "our over man me even most made after also did many before must through back years where much your way well "
    "revenue quarter growth margin guidance customers million billion percent segment operating"
)
WORDS = tuple(_VOCABULARY.split())
ARCHITECTURES = (
    ("WhisperForConditionalGeneration", "whisper", "encoder-decoder", 1_550_000_000),
    ("WhisperForConditionalGeneration", "whisper", "encoder-decoder", 809_000_000),
    ("ParakeetForCTC", "parakeet-ctc", "ctc", 600_000_000),
    ("Wav2Vec2ForCTC", "wav2vec2", "ctc", 315_000_000),
    ("MoonshineForConditionalGeneration", "moonshine", "encoder-decoder", 61_000_000),
    ("VoxtralForConditionalGeneration", "voxtral", "audio-language model", 4_680_000_000),
)
LICENSES = ("apache-2.0", "mit", "cc-by-4.0", "cc-by-nc-4.0", "other")
PRECISIONS = ("float16", "bfloat16", "float32")


# --- building the board ------------------------------------------------------------------------------------


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(digits * 4):0{digits}x}"


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(max(1, int(rng.gauss(words, words / 3)))))


def prediction_rows(eval_set: EsbSet, rows: int, rng: random.Random) -> list[PredictionRow]:
    """`rows` predictions of `eval_set`: raw model text (capitalized, punctuated), one word in 20 wrong."""
    seconds = eval_set.hours * 3600 / eval_set.utterances
    out = []
    for i in range(rows):
        reference = _sentence(rng, eval_set.words)
        words = [w if rng.random() > 0.05 else rng.choice(WORDS) for w in reference.split()]
        duration = round(max(0.5, rng.gauss(seconds, seconds / 3)), 3)
        out.append(
            PredictionRow(
                id=f"{eval_set.name}-{i:06d}-{_hex(rng, 8)}",
                reference=reference,
                prediction=" ".join(words).capitalize() + ".",
                duration_s=duration,
                time_s=round(duration * rng.uniform(0.02, 0.2), 4),
            )
        )
    return out


def esb_predictions(rng: random.Random) -> dict[str, list[PredictionRow]]:
    """A whole ESB run's predictions: every utterance of every set."""
    return {s.name: prediction_rows(s, s.utterances, rng) for s in ESB}


def stub_predictions(rng: random.Random) -> dict[str, list[PredictionRow]]:
    """One row per set: the files exist (and are signed) without a whole run's bytes."""
    return {s.name: prediction_rows(s, 1, rng) for s in ESB}


def _score(eval_set: EsbSet, wer: float, rtf: float, rng: random.Random) -> DatasetScore:
    ref_words = eval_set.utterances * eval_set.words
    errors = round(wer * ref_words)
    subs, dels = round(errors * 0.6), round(errors * 0.25)
    audio_s = eval_set.hours * 3600
    p50 = audio_s / eval_set.utterances * rtf
    return DatasetScore(
        wer=errors / ref_words,
        wer_ci95=(max(0.0, errors / ref_words - 0.004), errors / ref_words + 0.004),
        substitutions=subs,
        deletions=dels,
        insertions=errors - subs - dels,
        ref_words=ref_words,
        utterances=eval_set.utterances,
        audio_s=audio_s,
        time_s=audio_s * rtf,
        rtf=rtf,
        rtfx=1 / rtf,
        latency_p50_s=p50,
        latency_p90_s=p50 * 1.9,
        latency_p99_s=p50 * 3.1,
        utterance_rtf_p99=rtf * rng.uniform(1.5, 3.0),
        skipped_empty_references=rng.choice((0, 0, 0, 3)),
    )


@dataclass(frozen=True)
class Model:
    model_id: str
    revision: str
    architecture: str
    family: str
    kind: str
    info: ModelInfo
    quality: float  # mean WER
    speed: float  # RTF


def make_model(n: int, rng: random.Random) -> Model:
    architecture, family, kind, parameters = rng.choice(ARCHITECTURES)
    shards = 1 if parameters < 2_000_000_000 else 3
    weights = {
        ("model.safetensors" if shards == 1 else f"model-{i:05d}-of-{shards:05d}.safetensors"): _hex(rng, 64)
        for i in range(1, shards + 1)
    }
    return Model(
        model_id=f"org-{n % 700:03d}/{family}-model-{n:05d}",
        revision=_hex(rng, 40),
        architecture=architecture,
        family=family,
        kind=kind,
        info=ModelInfo(
            license=rng.choice(LICENSES), parameters=parameters, architecture=architecture, weight_files=weights
        ),
        quality=rng.uniform(0.05, 0.3),
        speed=rng.uniform(0.004, 0.25),
    )


def _request_id(moment: datetime, rng: random.Random) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ-") + _hex(rng, 8)


def _rules(config: LeaderboardConfig) -> dict[str, Any]:
    """What the evaluator records as the rules in force (`evaluator.spec.EvalSpec.rules_in_force`)."""
    rules: dict[str, Any] = {**config.rules.to_dict(), "normalizer": config.normalizer, "device_requested": "cuda"}
    if config.price is not None:
        rules["hardware_price"] = config.price.to_dict()
    return rules


HARDWARE = Hardware(
    device="cuda:0",
    gpu_class="A10G",
    gpu_name="NVIDIA A10G",
    gpu_memory_bytes=24 * 2**30,
    driver_version="550.54.15",
    cuda_version="12.4",
    cpu="AMD EPYC 7R32",
    cpu_count=4,
    platform="Linux-5.10.0-x86_64-with-glibc2.36",
)
SOFTWARE = {
    "python": "3.11.11",
    "evaluator": "0.1.0",
    "torch": "2.13.0",
    "transformers": "5.25.0",
    "jiwer": "4.0.0",
    "whisper-normalizer": "0.1.12",
    "soundfile": "0.13.1",
    "soxr": "0.5.0",
    "numpy": "2.3.1",
    "datasets": "4.2.0",
    "cudnn": "91002",
}
EVAL_SET_REVISION = "6f8ef5b3d2a0c9f1e4d7b8a9c0e1f2a3b4c5d6e7"


def make_result(
    request: Request,
    model: Model,
    config: LeaderboardConfig,
    started: datetime,
    finished: datetime,
    predictions: Mapping[str, Sequence[PredictionRow]],
    rng: random.Random,
) -> Result:
    """A result as the evaluator writes it (unsigned; `predictions_sha256` filled from `predictions`)."""
    scores = {s.name: _score(s, min(0.95, model.quality * s.difficulty), model.speed, rng) for s in ESB}
    avg = sum(score.wer for score in scores.values()) / len(scores)
    gpu_seconds = round((finished - started).total_seconds() + 600, 3)
    sets = {e.name: e for e in config.eval_sets}
    result = Result(
        request_id=request.request_id,
        model_id=request.model_id,
        revision=request.revision,
        precision=request.precision,
        leaderboard_version=config.version,
        official=True,
        datasets=scores,
        aggregate=Aggregate(avg_wer=avg, rtf=model.speed, rtfx=1 / model.speed, meets_realtime=model.speed < 1.0),
        batch_evidence=BatchEvidence(max_batch_size=1, forward_calls=sum(s.utterances for s in ESB) + 10),
        warmup_utterances=10,
        hardware=HARDWARE,
        software=SOFTWARE,
        started_at=_stamp(started),
        finished_at=_stamp(finished),
        reproduce=(
            f"python -m evaluator evaluate --model {request.model_id} --revision {request.revision} "
            f"--precision {request.precision} --config configs/esb-v1.toml"
        ),
        eval_sets=[
            EvalSetSource(
                name=s.name,
                source=sets[s.name].hub_id or "",
                revision=EVAL_SET_REVISION,
                config=sets[s.name].config,
                split=sets[s.name].split,
            )
            for s in ESB
        ],
        rules=_rules(config),
        model=request.model,
        decoding={
            "kind": model.kind,
            "strategy": "greedy",
            "num_beams": 1,
            "do_sample": False,
            "max_new_tokens": 440,
            "language": "en",
            "task": "transcribe",
            "timestamps": False,
            "prompt": "none",
            "logits_processors": "none beyond the architecture's forced start tokens",
            "prompt_tokens": [50258, 50259, 50360, 50364],
        },
        compute=Compute(
            flavor="a10g-small",
            gpu_seconds=gpu_seconds,
            price_usd_per_minute=PRICE_PER_MINUTE,
            price_date="2026-11-28",
            cost_usd=round(gpu_seconds / 60 * PRICE_PER_MINUTE, 6),
        ),
        recipe=RecipeInfo(name=model.family, version=1, family=model.family, kind=model.kind),
    )
    return attach_predictions(result, predictions)


def make_throughput(
    result: Result, config: LeaderboardConfig, finished: datetime, predictions: Mapping[str, Sequence[PredictionRow]]
) -> ThroughputResult:
    """The throughput track's record of a finished entry, as `evaluator.throughput_eval` writes it (unsigned)."""
    rtfx = result.aggregate.rtfx * 9
    price = config.price.usd_per_hour if config.price else 1.0
    audio = sum(s.audio_s for s in result.datasets.values())
    return ThroughputResult(
        request_id=result.request_id,
        model_id=result.model_id,
        revision=result.revision,
        precision=result.precision,
        leaderboard_version=result.leaderboard_version,
        official=result.official,
        chosen_batch_size=16,
        ladder=[
            LadderStep(
                1, result.aggregate.rtfx, result.aggregate.avg_wer, audio, audio / result.aggregate.rtfx, False, 1, [1]
            ),
            LadderStep(4, rtfx / 2.5, result.aggregate.avg_wer, audio, audio * 2.5 / rtfx, False, 4, [4, 3]),
            LadderStep(16, rtfx, result.aggregate.avg_wer * 1.01, audio, audio / rtfx, False, 16, [16, 11]),
            LadderStep(64, None, None, 0.0, 0.0, True, 16, [64]),
        ],
        datasets={
            name: dataclasses.replace(s, rtf=s.rtf / 9, rtfx=s.rtfx * 9, time_s=s.time_s / 9)
            for name, s in result.datasets.items()
        },
        batch_one_wer={name: s.wer for name, s in result.datasets.items()},
        aggregate=ThroughputAggregate(
            result.aggregate.avg_wer * 1.01, 1 / rtfx, rtfx, result.aggregate.avg_wer, result.aggregate.avg_wer * 0.01
        ),
        batch_evidence=ThroughputEvidence([16, 11], 16, 5_200),
        warmup_batches=3,
        hardware=result.hardware,
        software=result.software,
        started_at=result.finished_at,
        finished_at=_stamp(finished),
        reproduce=result.reproduce + " --track throughput",
        usd_per_1000_audio_hours=throughput_cost(price, rtfx),
        eval_sets=result.eval_sets,
        rules=result.rules,
        model=result.model,
        decoding=result.decoding,
        recipe=result.recipe,
    ).replace(predictions_sha256=attach_predictions(result, predictions).predictions_sha256)


def make_audit(result: Result, at: datetime, rng: random.Random, passed: bool) -> AuditRecord:
    """An audit record as `evaluator.audit` writes it (unsigned)."""
    rerun_rtf = result.aggregate.rtf * (1 + rng.uniform(-0.03, 0.03) if passed else 1.09)
    utterances = sum(s.utterances for s in result.datasets.values())
    weights = len(result.model.weight_files) if result.model else 0
    checks = [
        AuditCheck("weight files", f"{weights} file(s)", f"{weights} file(s)", "same sha256", Verdict.PASS),
        AuditCheck("model revision", result.revision, result.revision, "same commit", Verdict.PASS),
        AuditCheck("eval set data", "8 set(s)", "8 set(s)", "same revision and sha256", Verdict.PASS),
        AuditCheck("predictions", utterances, utterances, "0 utterance(s) differ", Verdict.PASS),
        AuditCheck("avg WER", result.aggregate.avg_wer, result.aggregate.avg_wer, "+0.0000", Verdict.PASS),
        AuditCheck(
            "RTF",
            result.aggregate.rtf,
            rerun_rtf,
            f"{(rerun_rtf / result.aggregate.rtf - 1) * 100:+.1f}%",
            Verdict.PASS if passed else Verdict.FAIL,
            "" if passed else "the re-run is 9.0% slower than published, beyond the 5% tolerance",
        ),
        AuditCheck("hardware class", "A10G", "A10G", "same class", Verdict.PASS),
    ]
    duration = rng.uniform(1800, 7200)
    return AuditRecord(
        audit_id=at.strftime("%Y%m%dT%H%M%SZ-") + _hex(rng, 8),
        request_id=result.request_id,
        model_id=result.model_id,
        revision=result.revision,
        precision=result.precision,
        leaderboard_version=result.leaderboard_version,
        started_at=_stamp(at - timedelta(seconds=duration)),
        finished_at=_stamp(at),
        duration_s=round(duration, 3),
        auditor=f"audit:r-{_hex(rng, 6)}:1",
        selection="random",
        seed=rng.getrandbits(32),
        hardware=HARDWARE,
        checks=checks,
        passed=passed,
        evidence=[] if passed else [UtteranceDiff("ami", "ami-000017", "okay so um", "okay so")],
    )


@dataclass
class Board:
    """Everything seeded, and what the measurements need to know about it."""

    requests: list[Request]
    results: list[Result]
    log: list[LogEntry]
    audits: list[AuditRecord]
    throughput: list[ThroughputResult]
    predictions: dict[str, dict[str, bytes]] = field(default_factory=dict)  # result id -> set -> file
    throughput_predictions: dict[str, dict[str, bytes]] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)  # request id -> its model
    detail_id: str = ""
    open_ids: list[str] = field(default_factory=list)


Event = tuple[datetime, int, str, str, str, dict[str, Any]]  # at, order, request id, event, actor, detail


def _worker(rng: random.Random) -> str:
    return f"evaluator:r-{_hex(rng, 6)}:1-{_hex(rng, 6)}"


@dataclass
class _Builder:
    """Builds a `Board`: each request's lifecycle as events (sorted and hash-chained at the end) and records."""

    board: Board
    config: LeaderboardConfig
    key: Any
    rng: random.Random
    events: list[Event] = field(default_factory=list)
    finished_at: list[tuple[datetime, Result]] = field(default_factory=list)

    def lease_lapsed(self, request_id: str, claimed: datetime, order: int, worker: str) -> datetime:
        """A claim whose worker died, and the lease expiry that returned the request: the time it expired."""
        expires = _stamp(claimed + timedelta(seconds=self.config.rules.lease_s))
        self.events.append(
            (claimed, order + 1, request_id, "claimed", worker, {"attempt": 1, "lease_expires_at": expires})
        )
        lapsed = claimed + timedelta(seconds=self.config.rules.lease_s + 30)
        self.events.append(
            (lapsed, order + 2, request_id, "lease_expired", "scheduler", {"worker": worker, "attempts": 1})
        )
        return lapsed

    def open_request(self, request: Request, submitted: datetime, order: int, retried: bool) -> None:
        if retried:  # a worker died: the lease expired, the request waits again
            self.lease_lapsed(request.request_id, submitted + timedelta(minutes=20), order, _worker(self.rng))
            request = request.replace(attempts=1)
        self.board.requests.append(request)
        self.board.open_ids.append(request.request_id)

    def finished_request(self, request: Request, model: Model, submitted: datetime, order: int, detail: bool) -> Result:
        rng = self.rng
        attempt, claimed = 1, submitted + timedelta(minutes=rng.uniform(5, 90))
        worker = _worker(rng)
        if rng.random() < 0.02:  # the first worker died mid-run
            claimed = self.lease_lapsed(request.request_id, claimed, order, worker) + timedelta(minutes=3)
            attempt, worker = 2, _worker(rng)
        expires = _stamp(claimed + timedelta(seconds=self.config.rules.lease_s))
        self.events.append(
            (
                claimed,
                order + 3,
                request.request_id,
                "claimed",
                worker,
                {"attempt": attempt, "lease_expires_at": expires},
            )
        )
        done = claimed + timedelta(seconds=sum(s.hours for s in ESB) * 3600 * model.speed + 900)
        rows = esb_predictions(rng) if detail else stub_predictions(rng)
        self.board.predictions[request.request_id] = {k: write_jsonl(v).encode() for k, v in rows.items()}
        result = sign_result(make_result(request, model, self.config, claimed, done, rows, rng), self.key)
        self.board.results.append(result)
        last = ESB[-1]
        progress = Progress(
            eval_set=last.name,
            done=last.utterances,
            total=last.utterances,
            sets_done=len(ESB) - 1,
            sets_total=len(ESB),
            eta_s=0.0,
            updated_at=_stamp(done - timedelta(seconds=30)),
        )
        self.board.requests.append(request.replace(status=Status.FINISHED, attempts=attempt, progress=progress))
        summary = {
            "avg_wer": result.aggregate.avg_wer,
            "rtf": result.aggregate.rtf,
            "official": True,
            "gpu_class": "A10G",
        }
        self.events.append((done, order + 4, request.request_id, "finished", worker, summary))
        self.finished_at.append((done, result))
        if request.throughput:
            self.throughput(result, done, order, worker)
        return result

    def throughput(self, result: Result, done: datetime, order: int, worker: str) -> None:
        at = done + timedelta(hours=2)
        rows = stub_predictions(self.rng)
        record = sign_result(make_throughput(result, self.config, at, rows), self.key)
        self.board.throughput.append(record)
        self.board.throughput_predictions[result.request_id] = {k: write_jsonl(v).encode() for k, v in rows.items()}
        detail = {"throughput_sha256": throughput_hash(record), "chosen_batch_size": 16, "rtfx": record.aggregate.rtfx}
        self.events.append((at, order + 5, result.request_id, THROUGHPUT_PUBLISHED, worker, detail))

    def audit(self, done: datetime, order: int) -> None:
        """The scheduler audits a random finished entry, weighted to the recent ones."""
        at = done + timedelta(hours=1)
        _, audited = self.finished_at[max(0, len(self.finished_at) - 1 - int(self.rng.expovariate(1 / 200)))]
        record = sign_audit(make_audit(audited, at, self.rng, passed=self.rng.random() > 0.03), self.key)
        self.board.audits.append(record)
        detail = {
            "audit_id": record.audit_id,
            "audit_sha256": audit_hash(record),
            "failed_checks": record.failed_checks,
            "duration_s": record.duration_s,
            "selection": record.selection,
            "seed": record.seed,
        }
        event = "audit_passed" if record.passed else "audit_failed"
        assert event in AUDIT_EVENTS
        self.events.append((at, order + 6, audited.request_id, event, record.auditor, detail))

    def chain(self) -> None:
        previous: LogEntry | None = None
        for at, _, request_id, event, actor, detail in sorted(self.events, key=lambda e: (e[0], e[1])):
            previous = next_entry(
                previous, request_id=request_id, event=event, actor=actor, detail=detail, at=_stamp(at)
            )
            self.board.log.append(previous)


def build_board(
    n_results: int,
    n_open: int,
    audit_every: int,
    n_throughput: int,
    config: LeaderboardConfig,
    key: Any,
    seed: int,
    retried_open: int = 5,
) -> Board:
    """A year of the board: every request's lifecycle in time order, its records, and the log that tells it."""
    rng = random.Random(seed)
    builder = _Builder(Board([], [], [], [], []), config, key, rng)
    board = builder.board
    total = n_results + n_open
    step = timedelta(days=365) / max(1, total)
    throughput_every = max(1, n_results // n_throughput) if n_throughput else 0
    detail_index = n_results // 2
    for n in range(total):
        submitted = START + step * n
        model = make_model(n, rng)
        finished_entry = n < n_results
        throughput = bool(throughput_every) and finished_entry and n % throughput_every == 0
        throughput = throughput and len(board.throughput) < n_throughput
        request = Request(
            request_id=_request_id(submitted, rng),
            model_id=model.model_id,
            revision=model.revision,
            requested_revision="main",
            precision=rng.choice(PRECISIONS),
            submitter=f"user-{rng.randrange(2500):04d}",
            submitted_at=_stamp(submitted),
            model=model.info,
            throughput=throughput,
        )
        board.models[request.request_id] = model
        order = n * 100
        builder.events.append(
            (submitted, order, request.request_id, "submitted", request.submitter, submission_detail(request))
        )
        if not finished_entry:
            builder.open_request(request, submitted, order, retried=n - n_results < retried_open)
            continue
        result = builder.finished_request(request, model, submitted, order, detail=n == detail_index)
        if n == detail_index:
            board.detail_id = result.request_id
        if audit_every and len(builder.finished_at) % audit_every == 0:
            builder.audit(builder.finished_at[-1][0], order)
    builder.chain()
    return board


def seed_hub(hub: HubEmulator, board: Board, card: CardInfo) -> dict[str, int]:
    """Both repos' files, in the layout this checkout's store writes, as one commit each (results first: the
    requests repo's `state.json` names the results commit, as after a finish). Returns file counts."""
    request_files, result_files = render_repos(board.requests, board.results, board.log, board.audits)
    for request_id, files in board.predictions.items():
        for eval_set, data in files.items():
            result_files[layout.predictions_path(request_id, eval_set)] = data
    result_files.update(audit_files(board.audits, lambda _path: None))  # each record, and the audit-records shards
    result_files[AUDITS_TABLE_FILE] = audits_table(board.audits).encode()
    shards: dict[str, dict[str, ThroughputResult]] = {}
    for record in board.throughput:
        result_files[layout.throughput_path(record.request_id)] = record.to_json().encode()
        for eval_set, data in board.throughput_predictions[record.request_id].items():
            result_files[layout.throughput_predictions_path(record.request_id, eval_set)] = data
        shards.setdefault(layout.shard(record.request_id), {})[record.request_id] = record
    for name, members in shards.items():
        result_files[layout.throughput_records_path(name)] = write_jsonl(members[k] for k in sorted(members)).encode()
    result_files[THROUGHPUT_TABLE_FILE] = throughput_table(board.throughput).encode()
    result_files[CARD_FILE] = render_card(card, table_header(result_files[layout.PINS_FILE])).encode()
    hub.add_repo(RESULTS, {".gitattributes": GITATTRIBUTES})
    hub.add_repo(REQUESTS, {".gitattributes": GITATTRIBUTES})
    big = {p for p, data in result_files.items() if len(data) > LFS_THRESHOLD}
    results_commit = hub.push(RESULTS, result_files, lfs=big)
    state = json.loads(request_files[layout.STATE_FILE])
    state["results_commit"] = results_commit
    request_files[layout.STATE_FILE] = json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode()
    hub.push(REQUESTS, request_files)
    return {"requests repo files": len(request_files), "results repo files": len(result_files)}


# --- measuring -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One measured operation."""

    http: int
    down: int
    up: int
    seconds: float
    routes: Counter[str]

    def line(self, name: str, up: int | None = None, note: str = "") -> str:
        routes = ", ".join(f"{r} {n}" for r, n in sorted(self.routes.items(), key=lambda item: (-item[1], item[0])))
        shown = self.up if up is None else up
        return f"{name}: {self.http} HTTP [{routes}], {self.down:,} B down, {shown:,} B up, {self.seconds:.2f} s" + (
            f" ({note})" if note else ""
        )


def measure(hub: HubEmulator, fn: Callable[[], Any]) -> tuple[Figure, Any]:
    """Requests, bytes answered, bytes uploaded and wall seconds of one call (counts reset before)."""
    hub.reset_counts()
    started = time.perf_counter()
    value = fn()
    seconds = time.perf_counter() - started
    routes = Counter(route for route, _, _ in hub.calls)
    return Figure(hub.count(), hub.bytes_out, hub.bytes_in, seconds, routes), value


def uploaded_as(data: bytes) -> int:
    """The bytes a file costs in an upload: its base64 in the commit payload, or its LFS `PUT` over 10 MB."""
    return len(data) if len(data) > LFS_THRESHOLD else len(base64.b64encode(data))


@contextlib.contextmanager
def patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    saved = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, saved)


@contextlib.contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def new_submission(n: int, rng: random.Random) -> Request:
    model = make_model(1_000_000 + n, rng)
    now = datetime.now(UTC)
    return Request(
        request_id=_request_id(now, rng),
        model_id=model.model_id,
        revision=model.revision,
        requested_revision="main",
        precision="float16",
        submitter=f"user-{rng.randrange(2500):04d}",
        submitted_at=_stamp(now),
        model=model.info,
    )


def run_job(hub: HubEmulator, config: LeaderboardConfig, board: Board, request_id: str, rng: random.Random) -> Figure:
    """`python -m evaluator run-once --request-id ID` from a fresh process: `open_store(config)` and `run_once`,
    the evaluation stubbed (progress, one heartbeat, ESB-size predictions). Returns its figure."""
    import evaluator.job as job
    from evaluator.evaluate import Evaluation
    from evaluator.spec import EvalSpec

    store = open_store(config)
    beats: list[Any] = []
    beaten = threading.Event()
    real_heartbeat = store.heartbeat

    def heartbeat(*args: Any, **kwargs: Any) -> Any:
        if beats:  # one heartbeat is measured; a longer evaluation would beat every progress_interval_s
            return beats[0]
        beats.append(real_heartbeat(*args, **kwargs))
        beaten.set()
        return beats[0]

    store.heartbeat = heartbeat  # type: ignore[method-assign]
    store.progress_interval_s = 0.2  # type: ignore[attr-defined]
    request = next(r for r in board.requests if r.request_id == request_id)
    model = board.models[request_id]
    rows = esb_predictions(rng)

    def evaluate(config: LeaderboardConfig, spec: EvalSpec, **kwargs: Any) -> Evaluation:
        kwargs["on_progress"](Progress(eval_set=ESB[0].name, done=1_000, total=ESB[0].utterances, sets_total=len(ESB)))
        if not beaten.wait(timeout=120):
            raise RuntimeError("the Job's lease keeper never sent a heartbeat")
        now = datetime.now(UTC)
        result = make_result(request, model, config, now - timedelta(hours=3), now, rows, rng)
        timed = sum(r.time_s for set_rows in rows.values() for r in set_rows)
        return Evaluation(result=result, predictions=rows, loop_wall_s=timed * 1.02, timed_s=timed)

    env = {FLAVOR_ENV: "a10g-small", PRICE_ENV: repr(PRICE_PER_MINUTE), PRICE_DATE_ENV: "2026-11-28"}
    env[REQUEST_ENV] = request_id
    # A Job runs on the board's GPU; where this checkout's run_once checks the device first, that check passes.
    device_check = patched(job, "require_device", lambda *_a, **_k: None) if hasattr(job, "require_device") else None
    with patched(job, "evaluate", evaluate), device_check or contextlib.nullcontext():
        figure, ended = measure(
            hub,
            lambda: job.run_once(config, store, worker="evaluator:job-bench:1-abcdef", request_id=request_id, env=env),
        )
    if ended is None or ended.status is not Status.FINISHED:
        raise RuntimeError(f"the Job did not finish {request_id}: {ended}")
    predictions = sum(uploaded_as(write_jsonl(r).encode()) for r in rows.values())
    return Figure(figure.http, figure.down, figure.up - predictions, figure.seconds, figure.routes)


def run_verify(hub: HubEmulator, public_key: str) -> tuple[Figure, int, str]:
    """`python -m evaluator verify RESULTS --requests-repo REQUESTS --public-key KEY` (the About page's command:
    signatures against the pinned key, and the log) with the HF cache in a scratch folder: figure, exit code,
    summary."""
    from evaluator.verify import main as verify_main

    out = io.StringIO()
    # The HF cache in a scratch folder; the public key comes from the card, as for anyone verifying.
    with (
        tempfile.TemporaryDirectory() as cache,
        patched(hf_constants, "HF_HUB_CACHE", cache),
        environment({PUBLIC_KEY_ENV: None}),
    ):
        argv = [RESULTS, "--requests-repo", REQUESTS, "--public-key", public_key]
        figure, code = measure(hub, lambda: verify_main(argv, out=out))
    lines = out.getvalue().splitlines()
    return figure, code, lines[-1] if lines else ""


def board_for(n_results: int, n_open: int, args: argparse.Namespace, config: LeaderboardConfig, key: Any) -> Board:
    n_throughput = min(n_results, round(args.throughput * n_results / args.results)) if args.results else 0
    retried = min(n_open, round(args.retried_open * n_open / args.open)) if args.open else 0
    return build_board(n_results, n_open, args.audit_every, n_throughput, config, key, args.seed, retried)


def run(args: argparse.Namespace) -> str:
    began = time.perf_counter()
    private, public = generate_keypair()
    env = {
        "REQUESTS_REPO": REQUESTS,
        "RESULTS_REPO": RESULTS,
        "HF_TOKEN": TOKEN,
        PRIVATE_KEY_ENV: private,
        PUBLIC_KEY_ENV: None,
        "LEADERBOARD_CREATE_REPOS": None,
    }
    with environment(env):
        config = load_config(CONFIG_FILE, env=os.environ)
        card = CardInfo.from_config(config, public_key=public)
        key = load_private_key(private)
        rng = random.Random(args.seed + 1)
        board = board_for(args.results, args.open, args, config, key)
        hub = HubEmulator()
        with hub.installed():
            counts = seed_hub(hub, board, card)
            seeded = time.perf_counter() - began
            print(
                f"seeded in {seeded:.1f}s: {len(board.results):,} signed results, {len(board.open_ids):,} open "
                f"requests, {len(board.log):,} log entries, {len(board.audits):,} audits, "
                f"{len(board.throughput):,} throughput records; " + ", ".join(f"{v:,} {k}" for k, v in counts.items())
            )
            detail_bytes = sum(len(d) for d in board.predictions[board.detail_id].values())
            print(f"ESB-size predictions: {detail_bytes:,} B for one entry ({sum(s.utterances for s in ESB):,} rows)")
            figures, notes = measure_board(hub, config, board, key, rng)
            if args.verify_results == args.results:
                figures["verify"], code, summary = run_verify(hub, public)
                notes["verify"] = f"results={args.results}, exit {code}: {summary[:160]}"
        if args.verify_results != args.results:
            small = board_for(
                args.verify_results, max(1, args.open * args.verify_results // max(1, args.results)), args, config, key
            )
            verify_hub = HubEmulator()
            with verify_hub.installed():
                seed_hub(verify_hub, small, card)
                figures["verify"], code, summary = run_verify(verify_hub, public)
            notes["verify"] = (
                f"MEASURED AT results={args.verify_results}, not {args.results} (--verify-results; "
                f"--verify-results {args.results} measures the full board): exit {code}: {summary[:160]}"
            )
    for name, figure in figures.items():
        print(figure.line(name, note=notes.get(name, "")))
    print(f"total {time.perf_counter() - began:.0f}s (seeding {seeded:.0f}s)")
    f = figures
    return (
        f"hub_scale: results={args.results} board_read_http={f['board_read'].http} "
        f"board_read_bytes={f['board_read'].down} claim_http={f['claim'].http} "
        f"heartbeat_http={f['heartbeat'].http} heartbeat_up_bytes={f['heartbeat'].up} "
        f"finish_http={f['finish'].http} finish_up_bytes={f['finish'].up} job_http={f['job'].http} "
        f"throughput_tab_http={f['throughput_tab'].http} verify_http={f['verify'].http}"
    )


def measure_board(
    hub: HubEmulator, config: LeaderboardConfig, board: Board, key: Any, rng: random.Random
) -> tuple[dict[str, Figure], dict[str, str]]:
    """Every operation but verify, each after one foreign commit. Figures by name, and notes to print."""
    reader, worker, other = (open_store(config) for _ in range(3))
    assert isinstance(reader, HubStore)
    figures: dict[str, Figure] = {}
    notes: dict[str, str] = {}
    extra = iter(range(10_000_000))

    def foreign_commit() -> None:
        other.submit(new_submission(next(extra), rng))

    figures["cold_board_read"], snapshot = measure(hub, reader.snapshot)
    notes["cold_board_read"] = f"a new process; {len(snapshot.finished_results()):,} results on the board"
    worker.snapshot()
    reader.throughput_results()
    foreign_commit()
    figures["board_read"], _ = measure(hub, reader.snapshot)
    foreign_commit()
    figures["claim"], claimed = measure(
        hub, lambda: worker.claim("space:bench:1-000001", config.rules.lease_s, config.rules.max_attempts)
    )
    assert claimed is not None, "nothing to claim"
    foreign_commit()
    progress = Progress(eval_set="gigaspeech", done=8_800, total=19_898, sets_done=2, sets_total=8, eta_s=5400.0)
    figures["heartbeat"], _ = measure(
        hub, lambda: worker.heartbeat(claimed.request_id, "space:bench:1-000001", config.rules.lease_s, progress)
    )
    foreign_commit()
    rows = esb_predictions(rng)
    now = datetime.now(UTC)
    model = board.models[claimed.request_id]
    result = sign_result(make_result(claimed, model, config, now - timedelta(hours=3), now, rows, rng), key)
    figure, _ = measure(hub, lambda: worker.finish(claimed.request_id, "space:bench:1-000001", result, rows))
    files = {name: write_jsonl(r).encode() for name, r in rows.items()}
    predictions = sum(uploaded_as(data) for data in files.values())
    lfs = [name for name, data in files.items() if len(data) > LFS_THRESHOLD]
    figures["finish"] = Figure(figure.http, figure.down, figure.up - predictions, figure.seconds, figure.routes)
    notes["finish"] = (
        f"up excludes the predictions: {predictions:,} B for {sum(len(d) for d in files.values()):,} B in "
        f"{len(files)} files"
        + (f"; {', '.join(lfs)} over 10 MB went through LFS (a client with hf_xet uses Xet instead)" if lfs else "")
    )
    figures["board_refresh_after_finish"], _ = measure(hub, reader.snapshot)
    first_set = next(iter(board.results[0].datasets))
    figures["detail"], _ = measure(
        hub, lambda: (reader.result(board.detail_id), reader.predictions(board.detail_id, first_set))
    )
    notes["detail"] = f"the entry's result and its first set's predictions ({first_set}), the preview's read"
    foreign_commit()
    by_id = {r.request_id: r for r in board.requests}
    job_id = next(i for i in reversed(board.open_ids) if not by_id[i].throughput and i != claimed.request_id)
    figures["job"] = run_job(hub, config, board, job_id, rng)
    notes["job"] = (
        "fresh store: claim, its snapshot for the data pins, one heartbeat, finish; up excludes predictions; a real "
        "new process also GETs /api/agent-harnesses once unless HF_HOME holds it"
    )
    foreign_commit()
    figures["throughput_tab"], records = measure(hub, reader.throughput_results)
    notes["throughput_tab"] = f"{len(records):,} throughput records"
    return figures, notes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--results", type=int, default=10_000, help="finished results on the board")
    parser.add_argument("--open", type=int, default=1_000, help="open (PENDING) requests")
    parser.add_argument("--audit-every", type=int, default=5, help="one audit per this many results (0: none)")
    parser.add_argument("--throughput", type=int, default=1_000, help="throughput records")
    parser.add_argument(
        "--retried-open", type=int, default=5, help="open requests back in the queue after a lease expired (attempts 1)"
    )
    parser.add_argument(
        "--verify-results",
        type=int,
        default=None,
        help="board size `verify` is measured at (default: --results, the full board; a smaller one is seeded the "
        "same way, scaled, for code whose verify downloads the whole repo and takes hours at 10,000)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated board")
    args = parser.parse_args(argv)
    args.verify_results = min(args.verify_results or args.results, args.results)
    print(run(args))


if __name__ == "__main__":
    main()
