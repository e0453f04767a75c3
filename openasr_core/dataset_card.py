"""The public results dataset's front door: its consolidated table and its README.md (dataset card).

`table_shard(results, columns)` renders one `leaderboard/<xx>.csv`: a flat row per stored result of records shard
`<xx>`. The store writes it in the same commit as the records shard it repeats, so the table and the records never
disagree, and a finish uploads one small shard of the table instead of the whole table (which passed 6 MB at
10,000 results). Every shard has the same header (`board_columns`), so `load_dataset` reads them as one table.

`render_card(info)` renders `README.md`. Its YAML front matter declares a `configs:` entry, so
`datasets.load_dataset("<results repo>")` yields the table, and carries the public key that verifies every
signature (`public_key:`). Its body documents every column of the table and every field of `result.json`,
the rules in force, how to verify, and how to re-score the raw predictions with one's own normalizer.

Each CSV table is a list of `Column`s (`openasr_core.table_columns`): the record field a column repeats (or how it
is derived), which fills its cells, documents it with that field's own doc (`records`, `field(metadata=doc(...))`)
and declares its dtype from the field's annotation, so the card's column docs and `features` cannot drift from the
records; `result.json`'s field docs are generated from the record types likewise.

Why CSV and not Parquet for the table: it is small (one row per evaluated model), every commit's diff of a shard
is readable on the Hub (which row changed, and how: part of the audit trail), and pandas reads it from
`hf://` without pyarrow. The full-precision numbers stay in each `results/<xx>/<request_id>.json`.

`audits_table(records)` renders `audits.csv`, one flat row per published audit (R13), the card's second
config (`load_dataset(repo, "audits")`): the records themselves nest lists of checks whose figures are
numbers or texts, which Arrow cannot load as one column, so the flat table carries the verdict and the
record's path, and each full signed record stays in `audits/<request_id>/<audit_id>.json`.

Why no `predictions` config: prediction rows do not carry the request id or the eval set (the file path does),
so one combined table would lose which model and set each row belongs to. The card shows how to read one
model's predictions with pandas instead.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml
from huggingface_hub.repocard import RepoCard

from openasr_core import layout
from openasr_core.cost import cost_of_batch_one
from openasr_core.records import THROUGHPUT_TRACK, AuditRecord, ClaimComparison, Result
from openasr_core.schema import documented_fields, nested_records
from openasr_core.table_columns import Column, column_docs, column_dtypes, table_cells
from openasr_core.throughput_table import THROUGHPUT_COLUMNS, THROUGHPUT_TABLE_FILE

if TYPE_CHECKING:
    from openasr_core.config import LeaderboardConfig

TABLE_FILES = f"{layout.TABLE_DIR}/*.csv"  # what the default config loads: every shard of the table
AUDITS_TABLE_FILE = "audits.csv"
CLAIMS_FILES = f"{layout.CLAIMS_DIR}/*.csv"  # the `claims` config: every shard of the claims table


#: The columns of `audits.csv`: one row per audit record.
AUDIT_TABLE: tuple[Column, ...] = (
    Column("audit_id", AuditRecord, note="The full signed record is `audit_file`."),
    *(Column(n, AuditRecord) for n in ("request_id", "model_id", "revision", "precision", "leaderboard_version")),
    *(Column(n, AuditRecord) for n in ("started_at", "finished_at", "duration_s", "passed")),
    Column(
        "failed_checks",
        text="Names of the failed checks, `;`-separated (weight files, predictions, RTF, ...).",
        derive=lambda s: ";".join(s[AuditRecord].failed_checks),
    ),
    Column(
        "differing_utterances",
        text="How many utterances' raw predictions differ (kept as evidence in the record).",
        derive=lambda s: len(s[AuditRecord].evidence),
    ),
    Column("selection", AuditRecord),
    Column("seed", AuditRecord),
    Column("gpu_class", AuditRecord, "hardware.gpu_class", text="Hardware class the audit ran on."),
    Column("rtf_tolerance", AuditRecord),
    Column(
        "audit_file",
        text="Path of the full, signed audit record in this repository.",
        derive=lambda s: layout.audit_path(s[AuditRecord].request_id, s[AuditRecord].audit_id),
    ),
    Column("signature", AuditRecord),
)
#: Columns of `audits.csv`, with what each holds (the card documents them from this).
AUDIT_COLUMNS: dict[str, str] = column_docs(AUDIT_TABLE)
CARD_FILE = "README.md"


def _latest_audit(sources: Mapping[type, Any]) -> AuditRecord | None:
    return sources.get(AuditRecord)


#: The table's columns before the per-eval-set WER columns.
LEAD_TABLE: tuple[Column, ...] = (
    *(Column(n, Result) for n in ("model_id", "revision", "precision")),
    Column("request_id", Result, note="The full record is the `result_file`."),
    *(Column(n, Result) for n in ("leaderboard_version", "official")),
    *(Column(n, Result, f"aggregate.{n}") for n in ("avg_wer", "rtf", "rtfx", "meets_realtime")),
)
#: The table's columns after the per-eval-set WER columns.
TAIL_TABLE: tuple[Column, ...] = (
    Column("params", Result, "model.parameters"),
    Column("license", Result, "model.license"),
    Column("architecture", Result, "model.architecture"),
    Column("gpu_class", Result, "hardware.gpu_class"),
    Column("gpu_name", Result, "hardware.gpu_name"),
    Column("max_batch_size", Result, "batch_evidence.max_batch_size"),
    *(Column(n, Result) for n in ("warmup_utterances", "started_at", "finished_at")),
    Column("compute_flavor", Result, "compute.flavor"),
    Column("gpu_seconds", Result, "compute.gpu_seconds", note="Empty when not recorded."),
    Column("cost_usd", Result, "compute.cost_usd"),
    Column("price_usd_per_minute", Result, "compute.price_usd_per_minute"),
    Column("price_date", Result, "compute.price_date"),
    Column(
        "result_file",
        text="Path of the full, signed record in this repository.",
        derive=lambda s: layout.result_path(s[Result].request_id),
    ),
    Column("signature", Result),
    Column(
        "usd_per_1000_audio_hours",
        text="Hardware price per hour (recorded in the result's rules) x rtf x 1000, in US dollars; empty for a "
        "result that recorded no price.",
        derive=lambda s: cost_of_batch_one(s[Result]),
        derived_dtype="float64",
    ),
    Column(
        "last_audit",
        text="`passed` or `failed`: the verdict of the entry's latest signed audit record (R13); empty when never "
        "audited. A failed audit flags the entry: the leaderboard does not rank it until an audit passes.",
        derive=lambda s: None if (a := _latest_audit(s)) is None else ("passed" if a.passed else "failed"),
    ),
    Column(
        "last_audit_at",
        text="When that audit finished (ISO 8601 UTC); its full record is in `audit-records/`.",
        derive=lambda s: None if (a := _latest_audit(s)) is None else a.finished_at,
    ),
)
#: Columns before the per-eval-set WER columns, with what each holds (the card documents them from this).
LEAD_COLUMNS: dict[str, str] = column_docs(LEAD_TABLE)
#: Columns after the per-eval-set WER columns.
TAIL_COLUMNS: dict[str, str] = column_docs(TAIL_TABLE)

#: Columns of the `claims` config (`claims/<xx>.csv`, R15): one row per claim a model repo made, beside what the
#: board measured. Never ranked; rates are fractions like everywhere else. `str` holds the row's eval set.
CLAIMS_TABLE: tuple[Column, ...] = (
    *(Column(n, Result) for n in ("request_id", "model_id", "revision", "leaderboard_version")),
    Column("eval_set", text="The board's eval set the claimed test set counts as.", derive=lambda s: s[str]),
    *(Column(n, ClaimComparison) for n in ("claimed_wer", "measured_wer", "gap_points", "as_written", "unit")),
    Column("dataset", ClaimComparison),
    Column("source_file", ClaimComparison, "source.file"),
    Column("source_entry", ClaimComparison, "source.entry"),
    Column("date", ClaimComparison),
    Column("notes", ClaimComparison),
)
CLAIMS_COLUMNS: dict[str, str] = column_docs(CLAIMS_TABLE)
#: The type `load_dataset` gives each column of the claims table, from the fields they repeat.
CLAIMS_DTYPES: dict[str, str] = column_dtypes(CLAIMS_TABLE)


def claims_shard(results: Iterable[Result]) -> str:
    """One shard of the claims table: a row per claim of these results, in request and eval-set order."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CLAIMS_COLUMNS), lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    for result in sorted(results, key=lambda r: r.request_id):
        for eval_set, comparisons in sorted(result.claims.items()):
            for claim in comparisons:
                row = table_cells(CLAIMS_TABLE, {Result: result, ClaimComparison: claim, str: eval_set})
                writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


#: Fields of `result.json` whose records the card documents field by field (under this prefix); the card names the
#: fields of the other records it holds (their columns in the table carry their docs).
EXPANDED_FIELDS = {"datasets": "datasets.<set>", "compute": "compute", "recipe": "recipe"}


def result_fields() -> dict[str, str]:
    """Every field of `result.json` with what it holds, from the record types themselves: each eval set's numbers
    one by one (`datasets.<set>.wer`), and for a field that holds records the names of their fields."""
    fields: dict[str, str] = {}
    nested = nested_records(Result)
    for name, text in documented_fields(Result).items():
        if name in EXPANDED_FIELDS:
            fields[name] = text
            fields |= {f"{EXPANDED_FIELDS[name]}.{n}": t for n, t in documented_fields(nested[name]).items()}
        elif name in nested:
            names = ", ".join(f"`{n}`" for n in documented_fields(nested[name]))
            fields[name] = f"{text} Fields: {names}."
        else:
            fields[name] = text
    return fields


#: Fields of `result.json`, documented in the card.
RESULT_FIELDS: dict[str, str] = result_fields()


#: The type `load_dataset` gives each column (declared in the card, so every shard loads alike whatever pandas
#: would infer from it alone: a shard where no row has a license would otherwise make it a float column): the type
#: of the field the column repeats (`table_columns.dtype_of`).
COLUMN_DTYPES: dict[str, str] = column_dtypes((*LEAD_TABLE, *TAIL_TABLE))


def column_dtype(column: str) -> str:
    """The declared type of a table column (`wer_<set>` columns are float64, other columns not listed strings)."""
    return "float64" if column.startswith("wer_") else COLUMN_DTYPES.get(column, "string")


def wer_column(eval_set: str) -> str:
    return f"wer_{eval_set}"


def table_row(result: Result, audit: AuditRecord | None = None) -> dict[str, Any]:
    """One result as a flat row (rates are fractions; empty where the record has no value), with the verdict of
    its latest audit record (`audit`), so a flagged entry is flagged in the dataset too."""
    row = table_cells((*LEAD_TABLE, *TAIL_TABLE), {Result: result, AuditRecord: audit})
    for name, score in result.datasets.items():
        row[wer_column(name)] = score.wer
    return row


def board_columns(sets_by_version: Mapping[str, Sequence[str]]) -> list[str]:
    """The table's header: lead columns, `wer_<set>` for every eval set of every version (versions in order, each
    version's sets in their recorded order), tail columns. A function of stored data only (`pins.json`), so every
    process writes the same header whatever its own config says."""
    names: list[str] = []
    for version in sorted(sets_by_version):
        names += [n for n in sets_by_version[version] if n not in names]
    return [*LEAD_COLUMNS, *(wer_column(n) for n in names), *TAIL_COLUMNS]


def table_columns(results: Iterable[Result]) -> list[str]:
    """The header `board_columns` gives for exactly these results."""
    sets: dict[str, list[str]] = {}
    for result in results:
        known = sets.setdefault(result.leaderboard_version, [])
        known += [n for n in result.datasets if n not in known]
    return board_columns(sets)


def table_shard(
    results: Iterable[Result], columns: Sequence[str] | None = None, audits: Mapping[str, AuditRecord] | None = None
) -> str:
    """One shard of the table (or a whole table): a row per result, best average WER first within a version,
    deterministic for identical input. `columns` defaults to the header these results alone need; `audits` holds
    each entry's latest audit record."""
    ordered = sorted(results, key=lambda r: (r.leaderboard_version, r.aggregate.avg_wer, r.request_id))
    header = list(columns) if columns is not None else table_columns(ordered)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    for result in ordered:
        row = table_row(result, (audits or {}).get(result.request_id))
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


def audits_table(records: Iterable[AuditRecord]) -> str:
    """`audits.csv`: one row per audit, oldest first, deterministic for identical input."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(AUDIT_COLUMNS), lineterminator="\n", extrasaction="raise")
    writer.writeheader()
    for a in sorted(records, key=lambda r: (r.finished_at, r.audit_id)):
        row = table_cells(AUDIT_TABLE, {AuditRecord: a})
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


# --- the card ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardInfo:
    """What the card says about the board: version, rules, eval sets, public key, where the repos live."""

    leaderboard_version: str
    title: str = "Open ASR Leaderboard (fixed hardware)"
    normalizer: str = "whisper-english"
    rules: Mapping[str, Any] = field(default_factory=dict)
    eval_sets: Sequence[str] = ()
    public_key: str | None = None
    results_repo: str | None = None
    requests_repo: str | None = None
    local_store: str | None = None  # the local store's root folder, when there are no Hub repos

    def locations(self) -> CardLocations:
        """What the card's commands name: the Hub repos, else the local store's folders, else placeholders."""
        if self.results_repo or not self.local_store:
            repo = self.results_repo or "<owner>/<results-repo>"
            requests = self.requests_repo or "<owner>/<requests-repo>"
            return CardLocations(
                load=repo,
                files=f"hf://datasets/{repo}",
                verify=f"{repo} --requests-repo {requests}",
                requests=f"[`{requests}`](https://huggingface.co/datasets/{requests})",
            )
        results = f"{self.local_store}/{layout.LOCAL_RESULTS_DIR}"
        return CardLocations(
            load=results,
            files=results,
            verify=self.local_store,
            requests=f"the local folder `{self.local_store}/{layout.LOCAL_REQUESTS_DIR}`",
        )

    @classmethod
    def from_config(cls, config: LeaderboardConfig, public_key: str | None) -> CardInfo:
        return cls(
            leaderboard_version=config.version,
            title=config.title,
            normalizer=config.normalizer,
            rules={**config.rules.to_dict(), **({"hardware_price": config.price.to_dict()} if config.price else {})},
            eval_sets=tuple(e.name for e in config.eval_sets),
            public_key=public_key,
            results_repo=config.store.results_repo,
            requests_repo=config.store.requests_repo,
            local_store=config.store.local_root.resolve().as_posix() if config.store.kind == "local" else None,
        )


@dataclass(frozen=True)
class CardLocations:
    """Where the card tells a reader to look: `load` for `load_dataset`, `files` as the prefix of pandas paths,
    `verify` as the arguments of `python -m evaluator verify`, `requests` as markdown naming the requests repo."""

    load: str
    files: str
    verify: str
    requests: str


def front_matter(info: CardInfo, columns: Sequence[str] | None = None) -> dict[str, Any]:
    """The card's YAML metadata: `configs` for `datasets.load_dataset` (the table's config declares the type of
    each of its `columns`), and the key that verifies results."""
    from openasr_core.signing import fingerprint

    features = [{"name": c, "dtype": column_dtype(c)} for c in (columns or board_columns({}))]
    return {
        "pretty_name": f"{info.title}: results",
        "license": "other",
        "tags": ["leaderboard", "automatic-speech-recognition", "evaluation", "signed"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": "train", "path": TABLE_FILES}],
                "default": True,
                "features": features,
            },
            {"config_name": "audits", "data_files": [{"split": "train", "path": AUDITS_TABLE_FILE}]},
            {
                "config_name": "claims",
                "data_files": [{"split": "train", "path": CLAIMS_FILES}],
                "features": [{"name": c, "dtype": CLAIMS_DTYPES.get(c, "string")} for c in CLAIMS_COLUMNS],
            },
            {"config_name": THROUGHPUT_TRACK, "data_files": [{"split": "train", "path": THROUGHPUT_TABLE_FILE}]},
        ],
        "leaderboard_version": info.leaderboard_version,
        "public_key": info.public_key,
        "public_key_fingerprint": fingerprint(info.public_key) if info.public_key else None,
    }


def parse_front_matter(card_text: str) -> dict[str, Any]:
    """The YAML front matter of a card, parsed as the Hub parses it (keys set to null are left out), or {} when
    there is none or it is not a mapping."""
    try:
        return RepoCard(card_text).data.to_dict()
    except ValueError:  # the block is YAML but not a mapping
        return {}


def _md_table(header: tuple[str, str], rows: Mapping[str, str]) -> str:
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    lines += [f"| `{name}` | {text} |" for name, text in rows.items()]
    return "\n".join(lines)


def _rescore_section(where: CardLocations, first_set: str) -> str:
    """The card's "Re-score" section: a snippet that reads one model's predictions and computes a corpus WER."""
    return f"""## Re-score with your own normalizer

WER is corpus-level: total errors over total reference words, never a mean of per-utterance WERs.

```python
import jiwer
import pandas as pd
from datasets import load_dataset

repo = "{where.files}"
table = load_dataset("{where.load}", split="train").to_pandas()
predictions = table.iloc[0]["result_file"].replace("{layout.RESULTS_DIR}/", "{layout.PREDICTIONS_DIR}/", 1)[: -len(".json")]
rows = pd.read_json(f"{{repo}}/{{predictions}}/{first_set}.jsonl", lines=True)

def normalize(text: str) -> str:  # replace with your own
    return " ".join(text.lower().replace(",", "").replace(".", "").split())

refs = rows["reference"].map(normalize)
hyps = rows["prediction"].map(normalize)
keep = refs.str.len() > 0  # empty references are skipped, never scored
print("WER", jiwer.wer(list(refs[keep]), list(hyps[keep])))
```
"""


def _claims_section(where: CardLocations) -> str:
    """The card's claimed-vs-measured section (R15): its config and columns."""
    return f"""## Claimed vs measured (`{layout.CLAIMS_DIR}/<xx>.csv`)

`load_dataset("{where.load}", "claims", split="train")`: one row per WER a model repo states for itself (its
`.eval_results/*.yaml` files and its card's `model-index`, read at the pinned revision when it was submitted),
beside what this board measured on the same test set under its own rules. Claims are facts about the model
repo, never ranked; their conditions (hardware, batch size) are whatever the repo says in `notes`.

{_md_table(("column", "meaning"), CLAIMS_COLUMNS)}
"""


def _throughput_section(where: CardLocations) -> str:
    """The card's throughput-track section (R14): how to load its own config, and its columns."""
    return f"""## The throughput track

`load_dataset("{where.load}", "{THROUGHPUT_TRACK}", split="train")` loads `{THROUGHPUT_TABLE_FILE}`: the same models,
eval sets and hardware, measured batched (longest utterances first, batch sizes 1, 4, 16, 64, ... until out of
memory or no faster). It is a separate table so the two tracks are never mixed by accident. Columns:

{_md_table(("column", "meaning"), THROUGHPUT_COLUMNS)}
"""


def _files_section() -> str:
    """The card's table of the files in the results repo, both tracks and the audits."""
    return f"""## Files

| path | what |
|---|---|
| `{layout.TABLE_DIR}/<xx>.csv` | the consolidated table in shards, one per records shard, all with the same header (the default config loads them as one table); a result's row is written in the same commit as its record |
| `{layout.RESULTS_DIR}/<xx>/<request_id>.json` | the full, signed record of one evaluation (`<xx>`: first two hex digits of the sha256 of the request id; the `result_file` column gives the path) |
| `{layout.PREDICTIONS_DIR}/<xx>/<request_id>/<set>.jsonl` | raw predictions: `id`, `reference`, `prediction` (unnormalized), `duration_s`, `time_s` |
| `{layout.RECORDS_DIR}/<xx>.jsonl` | the same signed records, one per line, grouped by `<xx>` (what the leaderboard reads) |
| `{AUDITS_TABLE_FILE}` | one row per audit (R13), updated with each audit |
| `{layout.AUDIT_RECORDS_DIR}/<x>.jsonl` | the signed audit records, one per line, in 16 shards (what the leaderboard and `verify` read) |
| `{layout.CLAIMS_DIR}/<xx>.csv` | what each entry's model repo claims beside what was measured (config `claims`, R15), sharded like the table |
| `{layout.AUDITS_DIR}/<xx>/<request_id>/<audit_id>.json` | one signed re-run (audit) of that entry; its log event carries the record's sha256 |
| `{THROUGHPUT_TABLE_FILE}` | the throughput track (config `{THROUGHPUT_TRACK}`): batched, never part of the batch-one ranking |
| `{layout.THROUGHPUT_DIR}/<xx>/<request_id>.json` | the full record of one throughput evaluation (`track: "{THROUGHPUT_TRACK}"`) |
| `{layout.THROUGHPUT_DIR}/<xx>/<request_id>/<set>.jsonl` | its raw predictions at the chosen batch size |
| `{layout.THROUGHPUT_RECORDS_DIR}/<xx>.jsonl` | the same throughput records, one per line, grouped by `<xx>` (what the Throughput tab reads) |
"""


def _verify_section(where: CardLocations) -> str:
    """The card's "Verify" section: the command, and what it checks."""
    return f"""## Verify

```bash
python -m evaluator verify {where.verify}
```

This checks every result's signature (the signature covers every field of the record, including the sha256 of
each predictions file) and the hash chain of the public log; add `--deep` to also download every predictions
file and check it matches its recorded sha256. It prints each problem and exits 1 if there is any. Pin the key
with `--public-key`, copied from the leaderboard's About page rather than from this card: whoever can write this
dataset could replace both the records and the key above, so against the card's own key `verify` can only say
the data are self-consistent (exit 4).
The signed bytes are the canonical JSON (sorted keys, no spaces, UTF-8) of the record without `signature`.
"""


def _key_text(info: CardInfo) -> str:
    """The card's sentence about the public key: the key and its fingerprint, or that there is none yet."""
    if not info.public_key:
        return "not configured yet: results cannot be verified until the maintainers publish it"
    return f"`{info.public_key}` (fingerprint `{front_matter(info)['public_key_fingerprint']}`)"


def _intro_section(info: CardInfo, where: CardLocations) -> str:
    """The card's opening: what the data is, the version, normalizer and key, and how to load it."""
    return f"""# {info.title}: results

Every row was measured by the leaderboard's own evaluator: one fixed GPU class, one utterance at a time,
on a pinned model revision. Each result is signed (Ed25519), and the raw model outputs are stored next to it
so anyone can check and re-score them. Requests and the public, hash-chained log are in
{where.requests}.

Leaderboard version: `{info.leaderboard_version}`. Text normalizer: `{info.normalizer}`.
Public key: {_key_text(info)}.

## Load it

```python
from datasets import load_dataset

table = load_dataset("{where.load}", split="train")          # the consolidated table, one row per result
audits = load_dataset("{where.load}", "audits", split="train")  # one row per audit (R13)
claims = load_dataset("{where.load}", "claims", split="train")  # what model repos claim, beside the measurement

table = table.to_pandas()                                        # or as a pandas DataFrame
```

Only rows whose signature verifies are ranked on the leaderboard; verify before you rely on a number.
"""


def _columns_section(eval_sets: Sequence[str]) -> str:
    """The card's documentation of the table's columns (a `wer_<set>` column per eval set) and of `audits.csv`."""
    wer_rows = {wer_column(s): f"Corpus-level WER on eval set `{s}`, as a fraction." for s in eval_sets}
    columns = {**LEAD_COLUMNS, **wer_rows, **TAIL_COLUMNS}
    return f"""## Columns of the table (`{layout.TABLE_DIR}/<xx>.csv`)

Rates are fractions (a WER of 6.3% is 0.063); times are seconds; timestamps ISO 8601 UTC.

{_md_table(("column", "meaning"), columns)}

## Columns of `{AUDITS_TABLE_FILE}`

An audit re-runs a finished entry exactly as recorded and compares the weight hashes, the raw predictions
(utterance by utterance), the WER, the RTF (within `rtf_tolerance`) and the hardware class. Each audit is
also a public log event, `audit_passed` or `audit_failed`, carrying the record's sha256.

{_md_table(("column", "meaning"), AUDIT_COLUMNS)}
"""


def _fields_and_rules_section(info: CardInfo) -> str:
    """The card's documentation of `result.json`, generated from the record type, and the rules in force."""
    rules = "\n".join(f"- `{k}`: {v}" for k, v in info.rules.items()) or "- (not recorded)"
    return f"""## Fields of `{layout.RESULTS_DIR}/<xx>/<request_id>.json`

{_md_table(("field", "meaning"), RESULT_FIELDS)}

## Rules of version `{info.leaderboard_version}`

{rules}
"""


def render_card(info: CardInfo, columns: Sequence[str] | None = None) -> str:
    """README.md of the results dataset: front matter, then what a reader needs to use and check the data.
    `columns`: the table's header as stored (`repo_files.table_header`); none on a board with no result yet."""
    where = info.locations()
    meta = yaml.safe_dump(front_matter(info, columns), sort_keys=False, allow_unicode=True).strip()
    sets = info.eval_sets or ("<set>",)
    return f"""---
{meta}
---

{_intro_section(info, where)}
{_files_section()}
{_columns_section(sets)}
{_claims_section(where)}
{_throughput_section(where)}
{_fields_and_rules_section(info)}
{_verify_section(where)}
{_rescore_section(where, sets[0])}
## License

Predictions and references derive from the eval sets, each under its own license (see each result's
`eval_sets`); the numbers are published for research and comparison.
"""
