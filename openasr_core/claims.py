"""What a model repo claims its WER is, read from its own files and set beside what the board measured (R15).

Two sources, both read at the pinned revision at submission (`leaderboard.inspection` gathers the bytes):

- `.eval_results/*.yaml`, the Hub's Evaluation Results format (https://huggingface.co/docs/hub/eval-results):
  a YAML list of entries `{dataset: {id, task_id, revision}, value, date, source: {url, name, user}, notes,
  verifyToken}`. An entry names no metric: the dataset and task say what `value` is, so an entry is a WER claim
  only when the board's config maps its `id:task_id` to an eval set (an Open ASR Leaderboard file also lists
  RTFx and mean WER, which map to nothing).
- the model card's `model-index` (README.md front matter): `results[].dataset {type, config, split}` with
  `metrics[]`; only metrics of `type: wer` are read.

Mapping: each eval set lists, in the config, the test sets that count as the same one (`EvalSetConfig.claims`,
`id[:config[:split]]`; a Hub set also counts its own `hub_id:config:split`, a local set its name). A claim
counts for the first eval set with a pattern it satisfies: same id, and the same config and split wherever the
pattern names them (case-insensitive). A claim that names fewer parts than the pattern does not match: "LibriSpeech"
alone could be test-clean or test-other.

Units: records hold fractions. A value written with `%` is a percentage. Otherwise the WER values of one source
(one `.eval_results` file's mapped entries, or every WER metric of the card) are read together: if any of them
is above 1 they are all percentages (a WER fraction above 1 means more errors than words, which no card claims;
the Whisper and NeMo cards and the Open ASR Leaderboard's files write percentages), else all fractions (as
`evaluate`'s `wer` returns them). The value as written and the unit read are kept, so the page shows both.

Untrusted input: anyone with write access to a model repo writes these files. Each file is capped
(`MAX_FILE_BYTES`, `MAX_ENTRIES`), YAML is parsed safely with aliases refused (no alias bombs), every string is
cleaned and cut (`openasr_core.untrusted.shorten`) here and escaped where it is shown, a value that is not a finite,
plausible number is refused, and every refusal is one line per file: "could not read .eval_results/x.yaml: ...".
Nothing here raises for bad input, so claims never block a submission.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from openasr_core.config import EvalSetConfig
from openasr_core.records import Claim, ClaimComparison, ClaimSource, ClaimsRead, DatasetScore, Result
from openasr_core.untrusted import shorten

EVAL_RESULTS_DIR = ".eval_results"
CARD_FILE = "README.md"
MAX_FILE_BYTES = 256 * 1024
MAX_CARD_BYTES = 1024 * 1024
MAX_FILES = 20
MAX_ENTRIES = 200
MAX_CLAIMS_PER_SET = 5
MAX_PROBLEMS_PER_FILE = 5
#: A claimed WER above this many percent is refused as implausible (Whisper's own cards claim 131% on Hindi).
MAX_PERCENT = 1000.0
_LIMITS = {"notes": 300, "url": 300, "name": 100, "user": 100, "date": 40, "value": 40, "dataset": 160}
_NUMBER = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE]([-+]?[0-9]+))?\s*(%?)\s*(?:±.*)?$")

Pattern = tuple[str, str | None, str | None]


@dataclass(frozen=True)
class RawClaim:
    """One claim as read, before units and mapping: the test set it names (`dataset_id`, `config`, `split`)."""

    dataset_id: str
    config: str | None
    split: str | None
    value: float
    as_written: str
    percent_sign: bool
    source: ClaimSource
    date: str | None = None
    notes: str | None = None
    verify_token: bool = False

    @property
    def dataset(self) -> str:
        return ":".join(p for p in (self.dataset_id, self.config, self.split) if p)


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing anchors and aliases: a small file cannot expand into a huge one."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("YAML aliases (*name) are not accepted")
        return super().compose_node(parent, index)


def load_yaml(text: str) -> Any:
    """A YAML document parsed safely (no tags, no aliases); raises `yaml.YAMLError`."""
    return yaml.load(text, Loader=_NoAliasLoader)  # a SafeLoader subclass: no tags, no aliases


def is_claims_file(path: str) -> bool:
    """`.eval_results/<name>.yaml` (or `.yml`) directly in the folder, as the Hub reads them."""
    folder, _, name = path.partition("/")
    return folder == EVAL_RESULTS_DIR and "/" not in name and name.endswith((".yaml", ".yml")) and len(name) > 5


def _text(value: object, key: str) -> str | None:
    """A scalar as cleaned, capped text; None for anything absent or not a scalar (a list or map is ignored)."""
    if value is None or isinstance(value, (list, dict)):
        return None
    if isinstance(value, (dt.date, dt.datetime)):
        value = value.isoformat()
    text = shorten(value, _LIMITS[key]).strip()
    return text or None


def parse_value(value: object) -> tuple[float, str, bool]:
    """(number, as written, written with `%`) of a claimed value; raises ValueError saying why it is refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"value {shorten(value, 40)!r} is not a number")
    written = shorten(value, _LIMITS["value"])
    if isinstance(value, str):
        match = _NUMBER.match(value)
        if match is None:
            raise ValueError(f"value {written!r} is not a number")
        number = float(match.group(1) + (f"e{match.group(2)}" if match.group(2) else ""))
        percent = bool(match.group(3))
    else:
        number, percent = float(value), False
    if not math.isfinite(number) or number < 0 or number > MAX_PERCENT:
        raise ValueError(f"value {written!r} is not a WER (0 to {MAX_PERCENT:g}%)")
    return number, written, percent


class _Problems:
    """One file's problems, capped: "could not read <file>: <what>", then a count of the rest."""

    def __init__(self, file: str) -> None:
        self.file, self.lines, self.more = file, [], 0

    def add(self, what: str) -> None:
        if len(self.lines) < MAX_PROBLEMS_PER_FILE:
            self.lines.append(f"could not read {shorten(self.file, 120)}: {what}")
        else:
            self.more += 1

    def all(self) -> list[str]:
        return self.lines + ([f"{shorten(self.file, 120)}: {self.more} more problems"] if self.more else [])


def _decoded(data: bytes, limit: int, problems: _Problems) -> str | None:
    if len(data) > limit:
        problems.add(f"{len(data):,} bytes, over the {limit:,}-byte limit")
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        problems.add("not UTF-8 text")
        return None


def parse_eval_results(path: str, data: bytes) -> tuple[list[RawClaim], list[str]]:
    """The entries of one `.eval_results` file, and its problems (one line each, capped)."""
    problems = _Problems(path)
    text = _decoded(data, MAX_FILE_BYTES, problems)
    if text is None:
        return [], problems.all()
    try:
        document = load_yaml(text)
    except yaml.YAMLError as exc:
        problems.add(f"not valid YAML ({shorten(str(exc).splitlines()[0] if str(exc) else 'error', 120)})")
        return [], problems.all()
    if not isinstance(document, list):
        problems.add("the file must be a YAML list of entries (`- dataset: ...`)")
        return [], problems.all()
    if len(document) > MAX_ENTRIES:
        problems.add(f"{len(document):,} entries; only the first {MAX_ENTRIES} were read")
    claims = []
    for number, entry in enumerate(document[:MAX_ENTRIES], start=1):
        try:
            claims.append(_eval_results_entry(path, number, entry))
        except ValueError as exc:
            problems.add(f"entry {number}: {exc}")
    return claims, problems.all()


def _eval_results_entry(path: str, number: int, entry: object) -> RawClaim:
    if not isinstance(entry, dict) or not isinstance(entry.get("dataset"), dict):
        raise ValueError("no `dataset:` map")
    dataset = entry["dataset"]
    dataset_id = _text(dataset.get("id"), "dataset")
    if not dataset_id:
        raise ValueError("no `dataset.id`")
    value, written, percent = parse_value(entry.get("value"))
    source = entry.get("source") if isinstance(entry.get("source"), dict) else {}
    return RawClaim(
        dataset_id=dataset_id,
        config=_text(dataset.get("task_id"), "dataset"),
        split=None,
        value=value,
        as_written=written,
        percent_sign=percent,
        source=ClaimSource(
            file=path,
            entry=f"entry {number}",
            url=_text(source.get("url"), "url"),
            name=_text(source.get("name"), "name"),
            user=_text(source.get("user"), "user"),
        ),
        date=_text(entry.get("date"), "date"),
        notes=_text(entry.get("notes"), "notes"),
        verify_token=bool(entry.get("verifyToken")),
    )


def front_matter(text: str) -> str | None:
    """The YAML front matter of a model card (between the first two `---` lines), or None."""
    if not text.startswith("---"):
        return None
    end = re.search(r"^---\s*$", text[3:], flags=re.MULTILINE)
    return text[3 : 3 + end.start()] if end else None


def parse_model_index(data: bytes) -> tuple[list[RawClaim], list[str]]:
    """The WER metrics of a model card's `model-index`, and its problems."""
    problems = _Problems(CARD_FILE)
    text = _decoded(data, MAX_CARD_BYTES, problems)
    matter = front_matter(text) if text is not None else None
    if matter is None:
        return [], problems.all()
    if len(matter.encode("utf-8")) > MAX_FILE_BYTES:
        problems.add(f"its front matter is over the {MAX_FILE_BYTES:,}-byte limit")
        return [], problems.all()
    try:
        metadata = load_yaml(matter)
    except yaml.YAMLError as exc:
        problems.add(f"its front matter is not valid YAML ({shorten(str(exc).splitlines()[0], 120)})")
        return [], problems.all()
    index = metadata.get("model-index") if isinstance(metadata, dict) else None
    if index is None:
        return [], problems.all()
    claims = []
    for where, dataset, metric in _model_index_metrics(index, problems):
        try:
            claims.append(_model_index_claim(where, dataset, metric))
        except ValueError as exc:
            problems.add(f"{where}: {exc}")
    return claims, problems.all()


def _model_index_metrics(index: object, problems: _Problems) -> Iterable[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(where, dataset, metric) for every `type: wer` metric, at most `MAX_ENTRIES` of them."""
    if not isinstance(index, list):
        problems.add("`model-index` is not a list")
        return
    seen = 0
    for i, model in enumerate(index):
        results = model.get("results") if isinstance(model, dict) else None
        for j, result in enumerate(results if isinstance(results, list) else []):
            if not isinstance(result, dict) or not isinstance(result.get("dataset"), dict):
                continue
            metrics = result.get("metrics")
            for k, metric in enumerate(metrics if isinstance(metrics, list) else []):
                if not isinstance(metric, dict) or str(metric.get("type", "")).strip().lower() != "wer":
                    continue
                seen += 1
                if seen > MAX_ENTRIES:
                    problems.add(f"more than {MAX_ENTRIES} WER metrics; only the first {MAX_ENTRIES} were read")
                    return
                yield f"model-index[{i}].results[{j}].metrics[{k}]", result["dataset"], metric


def _model_index_claim(where: str, dataset: dict[str, Any], metric: dict[str, Any]) -> RawClaim:
    dataset_id = _text(dataset.get("type"), "dataset")
    if not dataset_id:
        raise ValueError("no `dataset.type`")
    value, written, percent = parse_value(metric.get("value"))
    return RawClaim(
        dataset_id=dataset_id,
        config=_text(dataset.get("config"), "dataset"),
        split=_text(dataset.get("split"), "dataset"),
        value=value,
        as_written=written,
        percent_sign=percent,
        source=ClaimSource(file=CARD_FILE, entry=where, name=_text(metric.get("name"), "name")),
        verify_token=bool(metric.get("verifyToken")),
    )


# --- mapping to the board's eval sets -------------------------------------------------------------------


def patterns(eval_set: EvalSetConfig) -> list[Pattern]:
    """The test sets that count as `eval_set`: its own source, then the config's `claims`, lower-cased."""
    own: list[Pattern] = (
        [(eval_set.hub_id, eval_set.config, eval_set.split)] if eval_set.hub_id else [(eval_set.name, None, None)]
    )
    for text in eval_set.claims:
        parts = [p.strip() or None for p in text.split(":", 2)]
        parts += [None] * (3 - len(parts))
        own.append((parts[0] or "", parts[1], parts[2]))
    return [(i.lower(), c.lower() if c else None, s.lower() if s else None) for i, c, s in own]


def eval_set_of(claim: RawClaim, eval_sets: Sequence[EvalSetConfig]) -> str | None:
    """The first eval set one of whose patterns the claim satisfies (see the module doc), or None."""
    named = (claim.dataset_id.lower(), (claim.config or "").lower() or None, (claim.split or "").lower() or None)
    for eval_set in eval_sets:
        for pattern in patterns(eval_set):
            if named[0] == pattern[0] and pattern[1] in (None, named[1]) and pattern[2] in (None, named[2]):
                return eval_set.name
    return None


def _as_claims(raw: Sequence[RawClaim], sets: Sequence[str | None], every_value_is_wer: bool) -> list[Claim]:
    """One source's mapped claims with their unit decided together (see the module doc): over every value of
    the source when all are WERs (a card's `type: wer` metrics), else over the mapped ones only."""
    mapped = [(r, s) for r, s in zip(raw, sets, strict=True) if s is not None]
    deciding = raw if every_value_is_wer else [r for r, _ in mapped]
    percent_source = any(r.value > 1 or r.percent_sign for r in deciding)
    claims = []
    for r, name in mapped:
        percent = r.percent_sign or percent_source
        claims.append(
            Claim(
                eval_set=str(name),
                wer=r.value / 100 if percent else r.value,
                as_written=r.as_written,
                unit="percent" if percent else "fraction",
                dataset=r.dataset,
                source=r.source,
                date=r.date,
                notes=r.notes,
                verify_token=r.verify_token,
            )
        )
    return claims


def read_claims(
    files: Mapping[str, bytes], eval_sets: Sequence[EvalSetConfig], problems: Sequence[str] = ()
) -> ClaimsRead:
    """Every claim of a repo's claim files (`.eval_results/*.yaml` by name, then README.md) on the board's eval
    sets, at most `MAX_CLAIMS_PER_SET` per set; `problems` are earlier ones (a file that could not be fetched)."""
    found: list[str] = list(problems)
    claims: list[Claim] = []
    unmatched = 0
    names = sorted(p for p in files if is_claims_file(p))
    if len(names) > MAX_FILES:
        found.append(f"{len(names)} files in {EVAL_RESULTS_DIR}/; only the first {MAX_FILES} were read")
        names = names[:MAX_FILES]
    sources = [(name, parse_eval_results(name, files[name])) for name in names]
    if CARD_FILE in files:
        sources.append((CARD_FILE, parse_model_index(files[CARD_FILE])))
    for name, (raw, file_problems) in sources:
        found += file_problems
        sets = [eval_set_of(r, eval_sets) for r in raw]
        unmatched += sum(1 for s in sets if s is None)
        claims += _as_claims(raw, sets, every_value_is_wer=name == CARD_FILE)
    kept: list[Claim] = []
    for claim in claims:
        if sum(1 for k in kept if k.eval_set == claim.eval_set) < MAX_CLAIMS_PER_SET:
            kept.append(claim)
    read = [n for n, _ in sources]
    return ClaimsRead(claims=kept, problems=found, files=read, unmatched=unmatched)


# --- beside the measurement -----------------------------------------------------------------------------


def compare(claims: ClaimsRead | None, datasets: Mapping[str, DatasetScore]) -> dict[str, list[ClaimComparison]]:
    """Per measured eval set, each claim on it beside the measured WER (gap in percentage points)."""
    out: dict[str, list[ClaimComparison]] = {}
    for claim in claims.claims if claims else []:
        score = datasets.get(claim.eval_set)
        if score is None or not math.isfinite(score.wer):
            continue
        out.setdefault(claim.eval_set, []).append(
            ClaimComparison(
                claimed_wer=claim.wer,
                measured_wer=score.wer,
                gap_points=round((score.wer - claim.wer) * 100, 4),
                as_written=claim.as_written,
                unit=claim.unit,
                dataset=claim.dataset,
                source=claim.source,
                date=claim.date,
                notes=claim.notes,
            )
        )
    return out


def with_claims(result: Result, claims: ClaimsRead | None) -> Result:
    """The result with `claims` filled from what the request recorded at submission (before it is signed)."""
    return result.replace(claims=compare(claims, result.datasets))


def average_gap(result: Result) -> float | None:
    """Mean gap in points over the eval sets that have a claim (the first claim of each); None without claims.
    Shown on the board as a fact; never ranked or sorted on by default."""
    gaps = [items[0].gap_points for items in result.claims.values() if items]
    return sum(gaps) / len(gaps) if gaps else None
