"""The public records: requests, results, prediction rows and log entries.

Field names are part of the product (docs/rules.md and the results card document them): readers of the public datasets load these
files with pandas or `datasets`, so renaming a field is a breaking change and bumps `SCHEMA_VERSION`.
Rates are fractions (a WER of 6.3% is stored as 0.063), times are seconds, timestamps ISO 8601 UTC.

Every record converts to a JSON-ready dict with `to_dict()` and back with `from_dict()`, losslessly. Reading is
strict (`openasr_core.schema`): records come from files anyone with write access can edit, so a field of the wrong
type is a `RecordError` naming it, which the stores report as a damaged file. The public records document each
field beside it (`field(metadata=doc(...))`); the results card is generated from those docs.
"""

from __future__ import annotations

import dataclasses
import json
import re
import typing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Self, TypeVar

from openasr_core.schema import RecordError, doc, read_record

SCHEMA_VERSION = 1

PRECISIONS = ("float32", "float16", "bfloat16")

_REPO_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?"
#: The `owner/name` form of a Hub repo id (model or dataset), as the Hub accepts it: huggingface_hub's
#: `validate_repo_id` also refuses `--` and `..` anywhere and a name ending in `.git`. The one pattern every
#: reader of a repo id (submission, evaluator, verify, links on the pages) uses. `\Z`, not `$`: `$` also
#: matches before a trailing newline.
HUB_REPO_ID = re.compile(rf"^(?!.*(?:--|\.\.))(?!.*\.git\Z){_REPO_NAME}/{_REPO_NAME}\Z")

#: Where a submitted model is found (`Request.source`): a Hub repo, or a folder in the board's local models folder.
MODEL_SOURCES = ("hub", "local")


def utc_now() -> str:
    """The current time as the ISO 8601 UTC string every record uses."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    """Parse a record timestamp (ISO 8601, `Z` or offset) into an aware datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Status(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"


_T = TypeVar("_T")


class Record:
    """Mixin: lossless JSON round-trip for a dataclass of JSON-friendly fields, read strictly (`schema`)."""

    def to_dict(self) -> dict[str, Any]:
        return _encode(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """The record `data` holds, every field checked against its type: `RecordError` (a `ValueError`) names
        the field that does not fit."""
        return read_record(cls, data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2, sort_keys=False) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> Self:
        """`from_dict` of parsed JSON; text that is not JSON is a `RecordError` too."""
        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RecordError(cls.__name__, "", f"not JSON ({exc})") from None
        return cls.from_dict(data)


#: Field metadata for fields added after records were first signed: left out of the dict while they hold their
#: default, so a record written before the field existed serializes (and verifies its signature) as it did.
OMIT_DEFAULT = {"omit_default": True}


def _is_omitted_default(f: dataclasses.Field[Any], value: Any) -> bool:
    if not f.metadata.get("omit_default"):
        return False
    if f.default is not dataclasses.MISSING:
        return bool(value == f.default)
    return f.default_factory is not dataclasses.MISSING and value == f.default_factory()


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _encode(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not _is_omitted_default(f, getattr(value, f.name))
        }
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


# --- Requests ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lease(Record):
    """Who is evaluating a RUNNING request, and until when their claim holds unless renewed."""

    worker: str
    expires_at: str


@dataclass(frozen=True)
class Progress(Record):
    """How far a RUNNING request has come, persisted so the Queue page can show it with an ETA."""

    eval_set: str
    done: int
    total: int
    sets_done: int = 0
    sets_total: int = 1
    eta_s: float | None = None
    updated_at: str = ""


@dataclass(frozen=True)
class ModelInfo(Record):
    """What the submission check learned about the model; `weight_files` maps file name to sha256 (R4)."""

    license: str = field(metadata=doc("The model's license as declared on its model card at submission."))
    parameters: int = field(metadata=doc("Parameter count recorded at submission."))
    architecture: str = field(metadata=doc("The transformers architecture class."))
    weight_files: dict[str, str] = field(
        default_factory=dict, metadata=doc("The sha256 of each weight file, by file name, recorded at submission (R4).")
    )


# --- Claims (R15) ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimSource(Record):
    """Where a claim was read: the file in the model repo and the entry in it, and the attribution the entry
    gives itself (`source:` of an `.eval_results` entry: url, name, user), cleaned and capped, never checked."""

    file: str = field(
        metadata=doc("The file the claim was read from (`.eval_results/*.yaml` or the card's `model-index`).")
    )
    entry: str = field(metadata=doc("The entry in that file."))
    url: str | None = field(default=None, metadata=doc("The url the entry attributes itself to (never checked)."))
    name: str | None = field(default=None, metadata=doc("The name the entry attributes itself to (never checked)."))
    user: str | None = field(default=None, metadata=doc("The user the entry attributes itself to (never checked)."))


@dataclass(frozen=True)
class Claim(Record):
    """What a model repo says its WER is on one of the board's eval sets (see `openasr_core.claims`).

    `wer` is a fraction, like every rate in records; `as_written` is the value as the file wrote it and `unit`
    how it was read (`percent` or `fraction`), so a reader can check the reading. `dataset` names the test set
    the file claims (`id:config:split`) that the board's config counts as `eval_set`."""

    eval_set: str
    wer: float = field(metadata=doc("The claimed WER, as a fraction.", finite=True))
    as_written: str
    unit: str
    dataset: str
    source: ClaimSource
    date: str | None = None
    notes: str | None = None
    verify_token: bool = False


@dataclass(frozen=True)
class ClaimsRead(Record):
    """Every claim read from a model repo at its pinned revision, at submission (`openasr_core.claims.read_claims`).

    `files`: what was read; `problems`: one line per file (or entry) that could not be read, "could not read
    .eval_results/x.yaml: ..."; `unmatched`: WER claims on test sets none of the board's eval sets counts."""

    claims: list[Claim] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    unmatched: int = 0


@dataclass(frozen=True)
class ClaimComparison(Record):
    """One claim beside what the board measured on that eval set (R15): `gap_points` is measured minus claimed,
    in percentage points (positive: the board measured more errors than the repo claims). Never ranked."""

    claimed_wer: float = field(metadata=doc("What the model repo says, as a fraction.", finite=True))
    measured_wer: float = field(metadata=doc("What the board measured on that eval set, as a fraction."))
    gap_points: float = field(
        metadata=doc("measured - claimed, in percentage points (positive: the board measured more errors).")
    )
    as_written: str = field(metadata=doc("The value as the file wrote it."))
    unit: str = field(metadata=doc("How it was read: `percent` or `fraction`."))
    dataset: str = field(metadata=doc("The test set the file names (`id:config:split`)."))
    source: ClaimSource = field(metadata=doc("Where the claim was read, and the attribution the entry gives itself."))
    date: str | None = field(default=None, metadata=doc("The claim's date, when the file gives one."))
    notes: str | None = field(
        default=None, metadata=doc("The claim's own conditions, when the file gives them (untrusted text, capped).")
    )


@dataclass(frozen=True)
class Request(Record):
    request_id: str
    model_id: str
    revision: str
    requested_revision: str
    precision: str
    submitter: str
    submitted_at: str
    status: Status = Status.PENDING
    attempts: int = 0
    lease: Lease | None = None
    progress: Progress | None = None
    error: str | None = None
    model: ModelInfo | None = None
    schema_version: int = SCHEMA_VERSION
    #: Also measure the throughput track (R14) after the batch-one evaluation of this request.
    throughput: bool = False
    #: What the model repo claimed at the pinned revision, read at submission (R15); None before claims were read.
    claims: ClaimsRead | None = field(default=None, metadata=OMIT_DEFAULT)
    #: Open a pull request with the verified results on the model's repo once FINISHED (opt-in, R15).
    publish_results: bool = field(default=False, metadata=OMIT_DEFAULT)
    source: str | None = field(
        default=None,
        metadata=doc(
            'Where the model was found at submission: "hub" (a Hub repo) or "local" (a folder in the board\'s '
            "local models folder); the evaluator looks only there. Absent on requests recorded before it was "
            "(the evaluator then tries a local folder first, then the Hub).",
            omit_default=True,
        ),
    )

    def __post_init__(self) -> None:
        if self.source is not None and self.source not in MODEL_SOURCES:
            raise ValueError(f"a Request's source is one of {', '.join(MODEL_SOURCES)}, not {self.source!r}")

    def replace(self, **changes: Any) -> Request:
        return dataclasses.replace(self, **changes)


# --- Results ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetScore(Record):
    """One eval set's numbers. `wer` is corpus-level: total errors over total reference words (R11)."""

    wer: float = field(metadata=doc("Corpus-level WER on the set: (S + D + I) / reference words, after normalization."))
    wer_ci95: tuple[float, float] = field(
        metadata=doc("95% bootstrap confidence interval of the WER (utterances resampled, fixed seed).")
    )
    substitutions: int = field(metadata=doc("Substituted words (S), behind the WER."))
    deletions: int = field(metadata=doc("Deleted words (D), behind the WER."))
    insertions: int = field(metadata=doc("Inserted words (I), behind the WER."))
    ref_words: int = field(metadata=doc("Reference words after normalization, the WER's denominator."))
    utterances: int = field(metadata=doc("Utterances scored."))
    audio_s: float = field(metadata=doc("Total audio seconds.", finite=True))
    time_s: float = field(metadata=doc("Total timed seconds (waveform in memory to final text)."))
    rtf: float = field(metadata=doc("time_s / audio_s."))
    rtfx: float = field(metadata=doc("audio_s / time_s, the inverse of rtf."))
    latency_p50_s: float = field(metadata=doc("Median per-utterance latency, seconds."))
    latency_p90_s: float = field(metadata=doc("90th percentile of per-utterance latency, seconds."))
    latency_p99_s: float = field(metadata=doc("99th percentile of per-utterance latency, seconds."))
    utterance_rtf_p99: float = field(metadata=doc("99th percentile of per-utterance RTF (the real-time criterion)."))
    skipped_empty_references: int = field(default=0, metadata=doc("Utterances skipped for an empty reference."))
    excluded_references: int = field(
        default=0,
        metadata=doc(
            'Utterances left out before transcription under the ESB convention ("ignore time segment in '
            'scoring"); absent when none.',
            omit_default=True,
        ),
    )
    long_utterances: int = field(
        default=0,
        metadata=doc(
            "Utterances longer than 30 s, transcribed whole (Whisper long-form, CTC over the whole input); "
            "absent when none.",
            omit_default=True,
        ),
    )


@dataclass(frozen=True)
class Aggregate(Record):
    """Across eval sets: unweighted mean WER, RTF pooled by duration, and the real-time verdict (R3, R11)."""

    avg_wer: float = field(
        metadata=doc("Unweighted mean of the per-eval-set corpus WERs, as a fraction (0.063 = 6.3%).")
    )
    rtf: float = field(
        metadata=doc(
            "Real-time factor pooled over all eval sets: total timed seconds / total audio seconds (lower is faster)."
        )
    )
    rtfx: float = field(metadata=doc("Inverse real-time factor, 1 / rtf (seconds of audio transcribed per second)."))
    meets_realtime: bool = field(
        metadata=doc(
            "True when the 99th percentile of per-utterance RTF, over every utterance of the entry, is at most the "
            "rules' `max_rtf`."
        )
    )


@dataclass(frozen=True)
class BatchEvidence(Record):
    """What the hook on the model saw (R2): a `max_batch_size` above 1 makes a result invalid."""

    max_batch_size: int = field(metadata=doc("Largest batch dimension the model ever saw (R2: must be 1)."))
    forward_calls: int = field(metadata=doc("Forward calls of the model the hook counted."))


@dataclass(frozen=True)
class Hardware(Record):
    """Where the numbers were measured (R1). `gpu_class` is what `official` is decided on."""

    device: str = field(metadata=doc("The torch device (`cuda:0`, `cpu`)."))
    gpu_class: str = field(metadata=doc("Hardware class the numbers were measured on (for example A10G)."))
    gpu_name: str | None = field(default=None, metadata=doc("The exact device name reported by the driver."))
    gpu_memory_bytes: int | None = field(default=None, metadata=doc("The GPU's memory, bytes."))
    driver_version: str | None = field(default=None, metadata=doc("The GPU driver's version."))
    cuda_version: str | None = field(default=None, metadata=doc("The CUDA version of torch."))
    cpu: str = field(default="", metadata=doc("The CPU's name."))
    cpu_count: int = field(default=0, metadata=doc("CPU cores the evaluator saw."))
    platform: str = field(default="", metadata=doc("The operating system (Python's `platform.platform()`)."))


@dataclass(frozen=True)
class EvalSetSource(Record):
    """Where one eval set came from, so the same audio and references can be fetched again (R12)."""

    name: str = field(metadata=doc("The eval set's name on the board."))
    source: str = field(metadata=doc("The Hub dataset it was read from, or the local folder."))
    revision: str | None = field(default=None, metadata=doc("The dataset's pinned revision (Hub)."))
    config: str | None = field(default=None, metadata=doc("The dataset config (Hub)."))
    split: str | None = field(default=None, metadata=doc("The dataset split (Hub)."))
    sha256: str | None = field(default=None, metadata=doc("A digest of the folder's files (a local folder)."))


@dataclass(frozen=True)
class Compute(Record):
    """What an evaluation cost: GPU seconds held, on which Jobs flavor (None: the Space's own GPU), and the
    cost at that flavor's listed per-minute price as looked up on `price_date` (None when no price is known).

    `billed_minutes`: in a Job, the seconds rounded up to whole minutes, as Jobs bill them; the cost is then
    `billed_minutes x price_usd_per_minute`. None on the Space's own GPU and in records written before Job costs
    were rounded (their cost is pro rata, `gpu_seconds / 60 x price`); such records serialize, and verify, as
    they were signed."""

    flavor: str | None = field(
        metadata=doc("The Hugging Face Jobs flavor the evaluation ran on; empty when it ran on the Space's own GPU.")
    )
    gpu_seconds: float = field(metadata=doc("GPU seconds the evaluation held.", finite=True))
    price_usd_per_minute: float | None = field(
        default=None, metadata=doc("The flavor's listed price the cost was computed at.", finite=True)
    )
    price_date: str | None = field(
        default=None, metadata=doc("The date that price was looked up (prices change; the cost is as of this date).")
    )
    cost_usd: float | None = field(
        default=None,
        metadata=doc(
            "Cost at the flavor's listed per-minute price (empty when no price is known): a Job's seconds billed "
            "per started minute, as Jobs bill (before that was recorded, pro rata).",
            finite=True,
        ),
    )
    billed_minutes: int | None = field(
        default=None,
        metadata=doc(
            "A Job's seconds rounded up to whole minutes, as Jobs bill them (cost_usd = billed_minutes x price); "
            "absent on the Space's own GPU and from earlier records.",
            omit_default=True,
        ),
    )


@dataclass(frozen=True)
class RecipeInfo(Record):
    """How the model was run (R6, R12): its family's recipe, by name and version, the family's kind and fixed
    transcription prompt ("none" for an unprompted family), and the modules the family keeps in float32 by
    design (allowed besides the declared precision, R5)."""

    name: str = field(metadata=doc("The recipe's name."))
    version: int = field(metadata=doc("The recipe's version."))
    family: str = field(metadata=doc("The model family (its `model_type`)."))
    kind: str = field(metadata=doc("CTC, transducer, encoder-decoder or audio-language model."))
    prompt: str = field(default="none", metadata=doc("The family's fixed transcription prompt, or `none`."))
    fp32_modules: list[str] = field(
        default_factory=list,
        metadata=doc("The modules the family keeps in float32 by design, besides the declared precision (R5)."),
    )


@dataclass(frozen=True)
class Result(Record):
    """One batch-one evaluation of one model at a pinned revision (R1-R12), signed. Each field's `doc` is what
    the results card says of it (`openasr_core.dataset_card`)."""

    request_id: str = field(metadata=doc("Id of the evaluation request (also the record's file name)."))
    model_id: str = field(metadata=doc("Hugging Face model id (or local model name) that was evaluated."))
    revision: str = field(
        metadata=doc(
            "The exact commit SHA of the model that was loaded (R4: branches and tags are resolved at submission)."
        )
    )
    precision: str = field(metadata=doc("The dtype the model ran in: float32, float16 or bfloat16 (R5)."))
    leaderboard_version: str = field(
        metadata=doc("The leaderboard version (eval sets, normalizer, rules) the result was measured under.")
    )
    official: bool = field(
        metadata=doc(
            "True when measured on the board's GPU class (R1); unofficial results are labelled and not ranked."
        )
    )
    datasets: dict[str, DatasetScore] = field(metadata=doc("Each eval set's numbers, by eval set name."))
    aggregate: Aggregate = field(
        metadata=doc("Across eval sets: mean WER, pooled RTF and the real-time verdict, as in the table.")
    )
    batch_evidence: BatchEvidence = field(metadata=doc("What the hook on the model saw (R2)."))
    warmup_utterances: int = field(metadata=doc("Utterances run before timing started, not counted."))
    hardware: Hardware = field(metadata=doc("Device fingerprint: where the numbers were measured (R1)."))
    software: dict[str, str] = field(
        metadata=doc("Versions of the evaluator, torch, transformers and the other libraries that matter.")
    )
    started_at: str = field(metadata=doc("When the evaluation started (ISO 8601 UTC)."))
    finished_at: str = field(metadata=doc("When the evaluation finished (ISO 8601 UTC)."))
    reproduce: str = field(metadata=doc("The command that reproduces the result."))
    eval_sets: list[EvalSetSource] = field(
        default_factory=list, metadata=doc("Where each eval set came from, to fetch the same audio again (R12).")
    )
    rules: dict[str, Any] = field(
        default_factory=dict, metadata=doc("The rules in force when the result was measured.")
    )
    predictions_sha256: dict[str, str] = field(
        default_factory=dict,
        metadata=doc("sha256 of each `predictions/<xx>/<request_id>/<set>.jsonl` file, covered by the signature."),
    )
    model: ModelInfo | None = field(
        default=None, metadata=doc("What the submission check learned about the model (R4).")
    )
    decoding: dict[str, Any] = field(
        default_factory=dict,
        metadata=doc(
            "The decoding settings applied (R7), the same for every model of a kind: greedy, the token budget, and "
            "for a prompted family its fixed transcription request (`prompt`, and `prompt_tokens`: its ids, each "
            "run of audio placeholders kept once).",
            omit_default=True,
        ),
    )
    ignored_settings: list[str] = field(
        default_factory=list,
        metadata=doc(
            "What the model's own files asked for that was not applied (R7), as `file: key=value`.", omit_default=True
        ),
    )
    signature: str | None = field(
        default=None,
        metadata=doc(
            "Ed25519 signature (base64) over the canonical JSON of every other field; verify it, do not trust it "
            "blindly."
        ),
    )
    schema_version: int = field(default=SCHEMA_VERSION, metadata=doc("Version of this record format."))
    compute: Compute | None = field(
        default=None,
        metadata=doc("What the evaluation cost. Absent from results recorded before it existed."),
    )
    recipe: RecipeInfo | None = field(
        default=None,
        metadata=doc(
            "The family recipe that ran the model (R6). Absent from results recorded before it existed.",
            omit_default=True,
        ),
    )
    claims: dict[str, list[ClaimComparison]] = field(
        default_factory=dict,
        metadata=doc(
            "R15: per eval set, what the model repo claimed at submission beside what was measured (the `claims` "
            "config). Absent from results without claims, which serialize and verify as they were signed.",
            omit_default=True,
        ),
    )
    load: LoadSummary | None = field(
        default=None,
        metadata=doc(
            "How busy the machine was during the timed calls (the same probe as an audit's re-runs), so a reader "
            "can tell when two RTFs were measured under different load. Absent from results recorded before it "
            "existed.",
            omit_default=True,
        ),
    )

    def replace(self, **changes: Any) -> Result:
        return dataclasses.replace(self, **changes)


# --- The throughput track (R14) ----------------------------------------------------------------------------

BATCH_ONE_TRACK = "batch-one"
THROUGHPUT_TRACK = "throughput"
#: The public log's event for a published throughput record (R14); its detail names the record's sha256.
THROUGHPUT_PUBLISHED = "throughput_published"


@dataclass(frozen=True)
class LadderStep(Record):
    """One rung of the batch-size ladder: its pooled RTFx over every eval set, or the out-of-memory that ended it.

    `best_batch_size` is the best size found so far, including this step, so the record shows the choice as
    it was made. `batch_sizes_used` are the sizes the forward hook saw (the last batch of a set is smaller).
    """

    batch_size: int = field(metadata=doc("The batch size this rung tried (1, 4, 16, 64, ...)."))
    rtfx: float | None = field(
        metadata=doc("Seconds of audio transcribed per second at this size, pooled over all sets; null on OOM.")
    )
    avg_wer: float | None = field(
        metadata=doc("Unweighted mean of per-set corpus WER at this size, as a fraction; null on OOM.")
    )
    audio_s: float = field(metadata=doc("Audio seconds transcribed at this size, over all sets."))
    time_s: float = field(metadata=doc("Timed seconds at this size, over all sets."))
    out_of_memory: bool = field(metadata=doc("True when this size ran out of GPU memory, which ends the ladder."))
    best_batch_size: int = field(metadata=doc("The fastest batch size found so far, this rung included."))
    batch_sizes_used: list[int] = field(
        default_factory=list, metadata=doc("Every batch size the forward hook saw at this rung.")
    )


@dataclass(frozen=True)
class ThroughputEvidence(Record):
    """What the forward hook saw at the chosen batch size: every batch size used, the largest, the calls."""

    batch_sizes_used: list[int] = field(metadata=doc("Every batch size the forward hook saw at the chosen size."))
    max_batch_size: int = field(
        metadata=doc("The largest batch the model actually saw at the chosen size (a set's last batch is smaller).")
    )
    forward_calls: int = field(metadata=doc("Forward calls of the model the hook counted."))


@dataclass(frozen=True)
class ThroughputAggregate(Record):
    """Across eval sets at the chosen size, next to the batch-one WER of the same entry (padding can change it).

    There is deliberately no `meets_realtime` here: the real-time verdict belongs to the batch-one track only.
    """

    avg_wer: float = field(
        metadata=doc("Unweighted mean of per-set corpus WER at the chosen batch size, as a fraction.")
    )
    rtf: float = field(metadata=doc("Timed seconds / audio seconds, batched, pooled over all sets (1 / rtfx)."))
    rtfx: float = field(
        metadata=doc("Seconds of audio transcribed per second of wall clock, batched, pooled over all sets.")
    )
    batch_one_avg_wer: float = field(
        metadata=doc("The same entry's average WER at batch size one (padding can change transcripts).")
    )
    wer_change: float = field(metadata=doc("avg_wer - batch_one_avg_wer."))


@dataclass(frozen=True)
class ThroughputResult(Record):
    """A throughput-track result (R14): its own record, file and ranking; it never touches the batch-one board.

    `datasets` are scored at `chosen_batch_size`; `batch_one_wer` is the same entry's WER per set at batch
    size one (the ladder's first rung). `usd_per_1000_audio_hours` = price / RTFx x 1000 with the price
    recorded in `rules["hardware_price"]`, or None when the config names no price.
    """

    request_id: str = field(metadata=doc("Id of the request (also the record's file name)."))
    model_id: str = field(metadata=doc("Model id that was evaluated."))
    revision: str = field(metadata=doc("Exact commit SHA of the model."))
    precision: str = field(metadata=doc("The dtype the model ran in."))
    leaderboard_version: str = field(
        metadata=doc("Leaderboard version (eval sets, rules, hardware price) of the measurement.")
    )
    official: bool = field(metadata=doc("True when measured on the board's GPU class."))
    chosen_batch_size: int = field(
        metadata=doc("The ladder's fastest batch size (1, 4, 16, 64, ...), at which its WERs and RTFx are measured.")
    )
    ladder: list[LadderStep] = field(metadata=doc("Each batch size tried, in order, up to the one that ended it."))
    datasets: dict[str, DatasetScore] = field(metadata=doc("Each eval set's numbers at the chosen batch size."))
    batch_one_wer: dict[str, float] = field(metadata=doc("Each eval set's WER at batch size one (the first rung)."))
    aggregate: ThroughputAggregate = field(
        metadata=doc("Across eval sets at the chosen size, beside the batch-one WER.")
    )
    batch_evidence: ThroughputEvidence = field(metadata=doc("What the forward hook saw at the chosen size."))
    warmup_batches: int = field(metadata=doc("Batches run before timing started, not counted."))
    hardware: Hardware = field(metadata=doc("Device fingerprint: where the numbers were measured."))
    software: dict[str, str] = field(metadata=doc("Versions of the evaluator and the libraries that matter."))
    started_at: str = field(metadata=doc("When the evaluation started (ISO 8601 UTC)."))
    finished_at: str = field(metadata=doc("When the evaluation finished (ISO 8601 UTC)."))
    reproduce: str = field(metadata=doc("The command that reproduces the record."))
    usd_per_1000_audio_hours: float | None = field(
        default=None,
        metadata=doc("Hardware price per hour / rtfx x 1000, in US dollars; empty (null) without a price."),
    )
    eval_sets: list[EvalSetSource] = field(
        default_factory=list, metadata=doc("Where each eval set came from, to fetch the same audio again.")
    )
    rules: dict[str, Any] = field(
        default_factory=dict,
        metadata=doc("The rules in force, with the hardware price the cost was computed from (`hardware_price`)."),
    )
    predictions_sha256: dict[str, str] = field(
        default_factory=dict,
        metadata=doc("sha256 of each `throughput/<xx>/<request_id>/<set>.jsonl` file, covered by the signature."),
    )
    model: ModelInfo | None = field(default=None, metadata=doc("What the submission check learned about the model."))
    decoding: dict[str, Any] = field(
        default_factory=dict,
        metadata=doc(
            "The decoding settings applied (R7): the batch-one settings, the time limit scaled to each batch's size.",
            omit_default=True,
        ),
    )
    ignored_settings: list[str] = field(
        default_factory=list,
        metadata=doc(
            "What the model's own files asked for that was not applied (R7), as `file: key=value`.", omit_default=True
        ),
    )
    signature: str | None = field(default=None, metadata=doc("Ed25519 signature (base64) of the record, when signed."))
    track: str = field(
        default=THROUGHPUT_TRACK,
        metadata=doc("Always `throughput`: batched measurements, never part of the batch-one ranking (R14)."),
    )
    schema_version: int = field(default=SCHEMA_VERSION, metadata=doc("Version of this record format."))
    recipe: RecipeInfo | None = field(
        default=None,
        metadata=doc(
            "The family recipe that ran the model, batched (the same recipe as batch one).", omit_default=True
        ),
    )
    batching: str | None = field(
        default=None,
        metadata=doc(
            "Why the ladder stopped at batch size one, for a family whose documented path cannot batch.",
            omit_default=True,
        ),
    )

    def __post_init__(self) -> None:
        if self.track != THROUGHPUT_TRACK:
            raise ValueError(f"a ThroughputResult has track {THROUGHPUT_TRACK!r}, not {self.track!r}")

    def replace(self, **changes: Any) -> ThroughputResult:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class PredictionRow(Record):
    """One utterance as transcribed: `prediction` is the raw model text, before any normalization."""

    id: str
    reference: str
    prediction: str
    duration_s: float = field(metadata=doc("The utterance's audio seconds.", finite=True))
    time_s: float


# --- Audits (R13) ----------------------------------------------------------------------------------------


class Verdict(StrEnum):
    """One check's outcome; SKIPPED when an earlier failure made it meaningless (no re-run to compare);
    INCONCLUSIVE when the measurement could not decide (the RTF of a re-run on a machine busy with other work)."""

    PASS = "pass"
    FAIL = "fail"
    SKIPPED = "skipped"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class AuditCheck(Record):
    """One compared figure: what was published, what the re-run measured, their difference, the verdict.

    `published` and `rerun` are numbers or short texts (a hardware class, "12 files"); `difference` says how
    they differ in words a reader can check (for RTF: the relative change); `detail` explains a failure.
    """

    name: str
    published: float | int | str | None
    rerun: float | int | str | None
    difference: str
    verdict: Verdict
    detail: str = ""


@dataclass(frozen=True)
class UtteranceDiff(Record):
    """Evidence: one utterance whose raw prediction differs between the published run and the re-run."""

    eval_set: str
    id: str
    published: str
    rerun: str


@dataclass(frozen=True)
class LoadSummary(Record):
    """How busy the machine was during one re-run's timed calls (`evaluator.load_probe`).

    `cpu_share` is the process's CPU time over the wall time of the timed calls, per CPU thread the run could
    use (`threads`: torch's threads on a CPU, 1 on a GPU, where one host thread drives the device); `load_1min`
    the mean 1-minute load average read after each call, on `cpu_count` cores. On a GPU (when NVML can be read)
    `gpu_other_processes` is the most processes of others seen on the device and `gpu_clock_ratio` the lowest
    SM clock over its maximum. `busy` says why the run does not count for speed ("" when it does)."""

    calls: int = field(metadata=doc("How many timed calls the probe watched."))
    cpu_share: float = field(
        metadata=doc("The process's CPU time over the wall time of the timed calls, per CPU thread it could use.")
    )
    threads: float = field(metadata=doc("CPU threads the run could use (torch's threads on a CPU, 1 on a GPU)."))
    load_1min: float = field(metadata=doc("Mean 1-minute load average read after each timed call."))
    cpu_count: int = field(metadata=doc("CPU cores of the machine."))
    busy: str = field(default="", metadata=doc('Why the machine counts as busy for speed; "" when it was quiet.'))
    gpu_other_processes: int | None = field(
        default=None, metadata=doc("Most processes of others seen on the GPU (None: no GPU, or NVML unreadable).")
    )
    gpu_clock_ratio: float | None = field(
        default=None, metadata=doc("Lowest SM clock over its maximum during the run (None: no GPU reading).")
    )


@dataclass(frozen=True)
class RtfRun(Record):
    """One timed re-run of an audit, paired with the published run utterance by utterance.

    `ratio` is the re-run's summed time over the published summed time on the same utterances (so the ratio of
    the two pooled RTFs), `ratio_ci95` its 95% bootstrap interval (utterances resampled in pairs, fixed seed);
    `within` says whether the interval reaches the tolerance band [1/(1+t), 1+t] (None: the machine was busy,
    the run is not judged)."""

    rtf: float
    ratio: float
    ratio_ci95: list[float]
    utterances: int
    within: bool | None
    load: LoadSummary


@dataclass(frozen=True)
class AuditRecord(Record):
    """One audit of one finished entry: every figure compared, the verdict and the evidence; signed (R9, R13).

    `seed` and `selection` say how the entry was chosen (None and "requested" when it was named), so anyone can
    redo the choice. `duration_s` is the audit's wall time, which the daily audit budget is counted in.
    """

    audit_id: str = field(metadata=doc("Id of the audit (also the record's file name)."))
    request_id: str = field(metadata=doc("The audited entry (its result is `results/<xx>/<request_id>.json`)."))
    model_id: str = field(metadata=doc("The audited model."))
    revision: str = field(metadata=doc("The pinned commit SHA that was re-run."))
    precision: str = field(metadata=doc("The dtype of the re-run, as published."))
    leaderboard_version: str = field(metadata=doc("The leaderboard version of the entry and of the re-run."))
    started_at: str = field(metadata=doc("When the audit started (ISO 8601 UTC)."))
    finished_at: str = field(
        metadata=doc("When the audit finished (ISO 8601 UTC); the latest audit of an entry decides its flag.")
    )
    duration_s: float = field(
        metadata=doc("Wall time of the audit, counted against the daily audit budget.", finite=True)
    )
    auditor: str = field(metadata=doc("Who ran the audit."))
    selection: str = field(
        metadata=doc("`random` (with `seed`, reproducible) or `requested` (someone asked for it on the board).")
    )
    seed: int | None = field(
        metadata=doc("Seed of the weighted random choice of the entry; empty for a requested audit.")
    )
    hardware: Hardware = field(metadata=doc("Device fingerprint of the re-run."))
    checks: list[AuditCheck] = field(
        metadata=doc("Every compared figure: published, re-run, their difference and the verdict.")
    )
    passed: bool = field(
        metadata=doc(
            "True when every check passed; False flags the entry (left out of the ranking until an audit passes)."
        )
    )
    evidence: list[UtteranceDiff] = field(
        default_factory=list,
        metadata=doc("The utterances whose raw predictions differ between the published run and the re-run."),
    )
    rtf_tolerance: float = field(default=0.05, metadata=doc("Relative RTF tolerance the re-run was held to."))
    signature: str | None = field(default=None, metadata=doc("Ed25519 signature (base64) of the audit record."))
    schema_version: int = field(default=SCHEMA_VERSION, metadata=doc("Version of this record format."))
    rtf_runs: list[RtfRun] = field(
        default_factory=list,
        metadata=doc("Each timed re-run of the RTF check, with how busy the machine was.", omit_default=True),
    )

    def replace(self, **changes: Any) -> AuditRecord:
        return dataclasses.replace(self, **changes)

    @property
    def outcome(self) -> str:
        """`failed` when a check failed, else `inconclusive` when one could not decide, else `passed`."""
        verdicts = {c.verdict for c in self.checks}
        if Verdict.FAIL in verdicts or (not self.passed and Verdict.INCONCLUSIVE not in verdicts):
            return "failed"
        return "inconclusive" if Verdict.INCONCLUSIVE in verdicts else "passed"

    @property
    def failed_checks(self) -> list[str]:
        return [c.name for c in self.checks if c.verdict is Verdict.FAIL]


# --- The public log ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogEntry(Record):
    """One line of the append-only, hash-chained public log (R8). See `openasr_core.eventlog`."""

    seq: int
    at: str
    request_id: str
    event: str
    actor: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str


def write_jsonl(rows: typing.Iterable[Record]) -> str:
    """Serialize records as JSON Lines (one compact object per line)."""
    return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in rows)


def read_jsonl(cls: type[_T], text: str) -> list[_T]:
    """Parse JSON Lines written by `write_jsonl` back into records of `cls`."""
    return [cls.from_dict(json.loads(line)) for line in text.splitlines() if line.strip()]  # type: ignore[attr-defined]
