"""`python -m evaluator verify PATH_OR_REPO`: check results and the public log without trusting anyone (R8, R9).

For every result: its Ed25519 signature (over the canonical JSON of the record, which includes the sha256 of
each predictions file), that each predictions file on disk has exactly that sha256, and that no predictions
file lies outside what the signature covers. The consolidated table must be there and agree with the signed
records. The log's hash chain is checked where a log is present, and the requests' state files (`state.json`,
`closed/`) must parse and agree with each request's log history (every status change is logged). Every problem is printed with the file (and log seq) it
is in.

An unsigned result (what `python -m evaluator evaluate --out DIR` writes: nobody's key vouches for it) is
checked as far as it can be: its predictions hashes, and every figure recomputed from its predictions with the
normalizer and bootstrap settings it records. It is then reported as UNSIGNED, never as OK.

Exit status, so a script can tell the cases apart:
  0  everything verifies, and every result is signed
  1  something does not verify: a record, prediction, table row or log entry was altered (or is missing)
  2  nothing could be checked (no such path, no public key for a signed result)
  3  nothing was altered, but at least one result is unsigned (its figures match its predictions)
  4  everything verifies, but only against the key in the card of the repo being checked: whoever can write the
     repo can re-sign everything with a key of their own and put it in the card, so this shows the data agree
     with themselves, not who measured them. Pin the key (`--public-key`, or `RESULTS_PUBLIC_KEY`) from a place
     the repo's writers do not control, e.g. the board's About page, to get 0.

PATH may be:
- a local store root (`requests/` and `results/` folders, as `openasr_core.store.local` lays them out),
- a results (or requests) repo folder: `results/<xx>/<id>.json`, `predictions/<xx>/<id>/<set>.jsonl`, `log/*.jsonl`
- an evaluator `--out` folder: `result.json` and `predictions/<set>.jsonl`,
- `owner/name` of a results dataset on the Hub (`--requests-repo owner/name` adds the log).

A Hub repo is read cheaply by default (`evaluator.verify_hub`): the records shards (`records/<xx>.jsonl`, every
signed result), the throughput records shards, the table, the card and the audit records the log names, and the
requests repo's log chunks: a few hundred requests whatever the number of results. Each signature is verified from
its shard's record; the per-entry result files, the predictions (so their sha256 and the figures they give) and the
requests repo's state files are not downloaded, and the output says so. `--deep` downloads both repos whole (one
snapshot each, kept in the Hugging Face cache) and checks everything, as a local folder is checked: predictions
hashes, figures of unsigned results, the per-entry files against their records shard lines, state vs log.

Throughput records (`throughput/<xx>/<request_id>.json`, R14) are checked like results (signature, the hashes
of their predictions under `throughput/<xx>/<request_id>/`), and where the log is present each must be vouched for
by a `throughput_published` event naming its sha256, and every such event must name a record that is there.
Each line of `throughput-records/<xx>.jsonl` (what the Throughput tab reads) must equal its record's file, as each
line of `records/<xx>.jsonl` (what the board reads) must equal its `results/<xx>/<id>.json`.

Audit records (`audits/<xx>/<request_id>/<audit_id>.json`, R13) are checked the same way: each must carry a valid
signature, and where the log is present every `audit_passed`/`audit_failed` event must name the sha256 of an
audit record that is there, unchanged.

The public key comes from `--public-key`, else `RESULTS_PUBLIC_KEY` (both pinned), else the results card's
front matter (not pinned: exit 4 at best).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO, TypeVar

from evaluator.metrics import aggregate, get_normalizer, score_eval_set
from evaluator.verify_requests import check_requests, has_state
from openasr_core import layout
from openasr_core.audits import AUDIT_EVENTS, latest_audits
from openasr_core.dataset_card import (
    AUDITS_TABLE_FILE,
    CARD_FILE,
    audits_table,
    claims_shard,
    parse_front_matter,
    table_row,
)
from openasr_core.eventlog import verify_chain
from openasr_core.records import (
    HUB_REPO_ID,
    THROUGHPUT_PUBLISHED,
    Aggregate,
    AuditRecord,
    DatasetScore,
    LogEntry,
    PredictionRow,
    Result,
    ThroughputResult,
    read_jsonl,
)
from openasr_core.signing import (
    PUBLIC_KEY_ENV,
    SigningKeyError,
    audit_hash,
    load_public_key,
    predictions_sha256,
    throughput_hash,
    verify_audit,
    verify_result,
)
from openasr_core.throughput_table import THROUGHPUT_TABLE_FILE, throughput_table

EXIT_OK = 0
EXIT_ALTERED = 1
EXIT_USAGE = 2
EXIT_UNSIGNED = 3
EXIT_UNPINNED = 4

#: What a Hub repo read without --deep leaves unchecked (printed as NOT CHECKED lines, "; use --deep" added, and
#: named in the summary).
NOT_DEEP = "per-entry result files and predictions not downloaded"
NOT_DEEP_STATE = "the requests repo's state.json and closed/ shards (state vs log) not downloaded"


class VerifyUsageError(ValueError):
    """Nothing could be verified (missing path or key); the message says what to pass."""


@dataclass(frozen=True)
class Problem:
    """One thing that does not verify, and where it is."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass(frozen=True)
class ResultFiles:
    """A result record and the folder holding its `<set>.jsonl` predictions files."""

    record: Path
    predictions_dir: Path
    expected_id: str | None


@dataclass(frozen=True)
class Located:
    """What was found under a path: result files, the log, the card, the table's shards."""

    root: Path
    results: list[ResultFiles]
    log: Path | None = None
    card: Path | None = None
    tables: list[Path] = field(default_factory=list)
    results_root: Path | None = None  # the results repo folder (its `audits.csv`, `throughput.csv`)
    claims: list[Path] = field(default_factory=list)  # `claims/<xx>.csv` (read by --deep and for folders only)
    audits: list[Path] = field(default_factory=list)
    audit_shards: list[Path] = field(default_factory=list)
    throughput: list[Path] = field(default_factory=list)
    throughput_shards: list[Path] = field(default_factory=list)
    records_shards: list[Path] = field(default_factory=list)
    #: Only the shards were fetched (a Hub repo without --deep): records come from `records_shards`, and
    #: `results`/`throughput` (the per-entry files) and the predictions are not there to check.
    from_shards: bool = False
    #: What was left unchecked, one phrase each (printed, and named in the summary).
    not_checked: tuple[str, ...] = ()
    #: Where the files came from (a Hub repo at a commit), printed before the problems.
    sources: tuple[str, ...] = ()


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    unsigned: list[str] = field(default_factory=list)
    results: int = 0
    predictions_files: int = 0
    log_entries: int | None = None
    audits: int = 0
    throughput: int = 0
    not_checked: list[str] = field(default_factory=list)
    from_shards: bool = False
    #: The key came from `--public-key` or `RESULTS_PUBLIC_KEY`, not from the card of the repo being checked.
    pinned: bool = True
    #: Facts that are not failures, printed as WARN lines (a throughput publication cut off before its event).
    warnings: list[Problem] = field(default_factory=list)
    #: sha256 -> request id of each throughput record whose signature and predictions checked out (the only
    #: records an unvouched one may be excused as an interrupted publication for).
    sound_throughput: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        log = f", log of {self.log_entries} entries" if self.log_entries is not None else ", no log"
        audits = f", {self.audits} audit record(s)" if self.audits else ""
        audits += f", {self.throughput} throughput record(s)" if self.throughput else ""
        source = " (signatures checked from the records shards)" if self.from_shards else ""
        checked = f"{self.results} result(s){source}, {self.predictions_files} predictions file(s){audits}{log}"
        unchecked = f"; not checked (use --deep): {', '.join(self.not_checked)}" if self.not_checked else ""
        if not self.ok:
            return f"FAILED: {len(self.problems)} problem(s) in {checked}{unchecked}"
        if self.unsigned:
            what = "nothing was altered" if self.from_shards else "hashes and figures match the predictions"
            return (
                f"UNSIGNED: {checked}; {what}, but {len(self.unsigned)} "
                f"result(s) carry no signature, so nothing shows who measured them{unchecked}"
            )
        if self.warnings:
            checked += f", {len(self.warnings)} warning(s)"
        if not self.pinned:
            return (
                f"SELF-CONSISTENT: {checked}; every signature verifies, but against the key in the repo's own card, "
                "which whoever can write the repo can replace with theirs: pin the key with --public-key (the "
                f"board's About page shows it) or {PUBLIC_KEY_ENV}{unchecked}"
            )
        if self.not_checked:
            return f"OK: {checked}; everything checked verifies{unchecked}"
        return f"OK: {checked}; everything verifies"

    @property
    def exit_code(self) -> int:
        if not self.ok:
            return EXIT_ALTERED
        if self.unsigned:
            return EXIT_UNSIGNED
        return EXIT_OK if self.pinned else EXIT_UNPINNED


# --- finding the files ------------------------------------------------------------------------------------


def _repo_results(repo_root: Path) -> list[ResultFiles]:
    """`results/<shard>/<id>.json` with `predictions/<shard>/<id>/` (and layout 1's unsharded paths)."""
    results_dir = repo_root / layout.RESULTS_DIR
    found = []
    for path in sorted(results_dir.rglob("*.json")):
        shard = () if path.parent == results_dir else (path.parent.name,)
        found.append(ResultFiles(path, repo_root.joinpath(layout.PREDICTIONS_DIR, *shard, path.stem), path.stem))
    return found


def _repo_audits(repo_root: Path) -> list[Path]:
    """`audits/<xx>/<request_id>/<audit_id>.json` (and the unsharded `audits/<request_id>/` of before)."""
    return sorted((repo_root / layout.AUDITS_DIR).rglob("*.json"))


def _repo_throughput(repo_root: Path) -> list[Path]:
    """`throughput/<xx>/<request_id>.json` (R14); their predictions sit in `throughput/<xx>/<request_id>/`."""
    return sorted((repo_root / layout.THROUGHPUT_DIR).glob("*/*.json"))


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


def _log_at(folder: Path) -> Path | None:
    """The log of a requests repo: the `log/` folder of chunks, or layout 1's `log.jsonl`."""
    chunks = folder / layout.LOG_DIR
    if chunks.is_dir():
        return chunks
    return _existing(folder / layout.LEGACY_LOG_FILE)


def locate(path: Path, requests_root: Path | None = None) -> Located:
    """Recognize the layouts listed in the module doc; raise `VerifyUsageError` for anything else."""
    if (path / "result.json").is_file():
        located = Located(path, [ResultFiles(path / "result.json", path / layout.PREDICTIONS_DIR, None)])
    elif (path / "results" / layout.RESULTS_DIR).is_dir() or _log_at(path / "requests") is not None:
        located = _repo_located(path, path / "results", _log_at(path / "requests"))
    elif (path / layout.RESULTS_DIR).is_dir() or _log_at(path) is not None:
        located = _repo_located(path, path, _log_at(path))
    else:
        raise VerifyUsageError(
            f"{path} holds neither a store (requests/, results/), a results repo (results/*.json), "
            "a log (log.jsonl) nor an evaluator output (result.json)"
        )
    return _with_requests(located, requests_root)


def _repo_located(root: Path, results_root: Path, log: Path | None) -> Located:
    """Every file of a results repo folder (and the log beside it): per-entry files and shards alike."""
    return Located(
        root,
        _repo_results(results_root),
        log=log,
        card=_existing(results_root / CARD_FILE),
        tables=_table_files(results_root),
        results_root=results_root,
        claims=sorted((results_root / layout.CLAIMS_DIR).glob("*.csv")),
        audits=_repo_audits(results_root),
        audit_shards=sorted((results_root / layout.AUDIT_RECORDS_DIR).glob("*.jsonl")),
        throughput=_repo_throughput(results_root),
        throughput_shards=sorted((results_root / layout.THROUGHPUT_RECORDS_DIR).glob("*.jsonl")),
        records_shards=sorted((results_root / layout.RECORDS_DIR).glob("*.jsonl")),
    )


def _table_files(results_root: Path) -> list[Path]:
    """The table's shards (`leaderboard/<xx>.csv`); a board written before the table was sharded has one file."""
    shards = sorted((results_root / layout.TABLE_DIR).glob("*.csv"))
    legacy = results_root / layout.LEGACY_TABLE_FILE
    return shards or ([legacy] if legacy.is_file() else [])


def _with_requests(located: Located, requests_root: Path | None) -> Located:
    """The log of `--requests-repo` replaces whatever log was found beside the results."""
    if requests_root is None:
        return located
    log = _log_at(requests_root)
    if log is None:
        raise VerifyUsageError(f"{requests_root} has no {layout.LOG_DIR}/ (nor log.jsonl); is it the requests repo?")
    return replace(located, log=log)


def locate_shards(root: Path, results_root: Path, requests_root: Path | None) -> Located:
    """What `evaluator.verify_hub` fetched of a results repo: its shards, table, card and audit records (no
    per-entry result files, no predictions), and the log of the requests repo if one was given."""
    located = replace(
        _repo_located(root, results_root, None), results=[], throughput=[], from_shards=True, not_checked=(NOT_DEEP,)
    )
    return _with_requests(located, requests_root)


def download(repo_id: str) -> Path:
    """One snapshot of a whole Hub dataset repo, for `--deep` (uses `HF_TOKEN` if set, for private repos)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        return Path(HfApi().snapshot_download(repo_id, repo_type="dataset"))
    except RepositoryNotFoundError as exc:
        raise VerifyUsageError(
            f"{repo_id} is not a dataset repo on the Hub that this machine can read (a private repo needs HF_TOKEN)"
        ) from exc
    except (HfHubHTTPError, LocalEntryNotFoundError) as exc:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise VerifyUsageError(f"could not download {repo_id}: {first_line}") from exc


def _local(value: str) -> Path | None:
    """An existing folder, None for a Hub dataset id; anything else is a usage error."""
    path = Path(value).expanduser()
    if path.exists():
        return path
    if HUB_REPO_ID.match(value):
        return None
    raise VerifyUsageError(f"{value} is neither an existing folder nor a Hub dataset id (owner/name)")


def locate_args(path: str, requests_repo: str | None, deep: bool, scratch: Path) -> Located:
    """Find (or fetch) what to check: folders as they are; Hub repos whole with `deep`, else only what the
    signatures and the log need (`evaluator.verify_hub`), into `scratch/requests` and `scratch/results`."""
    from evaluator import verify_hub

    sources: list[str] = []
    not_checked: list[str] = []
    try:
        requests_root = _local(requests_repo) if requests_repo else None
        if requests_repo and requests_root is None:
            if deep:
                requests_root = download(requests_repo)
            else:
                requests_root = scratch / "requests"
                sources.append(verify_hub.fetch_log(requests_repo, requests_root).describe())
                not_checked.append(NOT_DEEP_STATE)
        results_root = _local(path)
        if results_root is not None or deep:
            located = locate(results_root or download(path), requests_root)
        else:
            log = _log_at(requests_root) if requests_root is not None else None
            sources.insert(0, verify_hub.fetch_results(path, scratch / "results", log).describe())
            located = locate_shards(scratch, scratch / "results", requests_root)
    except verify_hub.HubReadError as exc:
        raise VerifyUsageError(str(exc)) from exc
    return replace(located, not_checked=(*located.not_checked, *not_checked), sources=tuple(sources))


# --- the checks -------------------------------------------------------------------------------------------


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


_Parsed = TypeVar("_Parsed", Result, ThroughputResult, AuditRecord)


def _parsed(kind: type[_Parsed], data: str | bytes, where: str, what: str, report: Report) -> _Parsed | None:
    """`data` (a record file, or a shard line) read as a `kind` record; None, reported as `not a valid <what>`,
    when it does not parse."""
    try:
        return kind.from_json(data)
    except (ValueError, TypeError, KeyError) as exc:
        report.problems.append(Problem(where, f"not a valid {what} ({exc})"))
        return None


def check_result(files: ResultFiles, public_key: str | None, root: Path, report: Report) -> Result | None:
    """Check one record: parse, id, signature (or, unsigned, its figures), predictions hashes, into `report`."""
    where = _rel(files.record, root)
    report.results += 1
    result = _parsed(Result, files.record.read_bytes(), where, "result record", report)
    if result is None:
        return None
    if files.expected_id is not None and result.request_id != files.expected_id:
        report.problems.append(Problem(where, f"holds request {result.request_id}, not {files.expected_id}"))
    _check_signature(result, public_key, where, report)
    check_predictions(result.predictions_sha256, files.predictions_dir, where, root, report)
    if not result.signature:
        check_figures(result, files.predictions_dir, where, report)
    return result


#: Counted by the evaluator's loader before scoring (raw-empty references), so not recomputable from predictions.
_NOT_FROM_PREDICTIONS = frozenset({"skipped_empty_references"})


def _differing(recorded: DatasetScore, recomputed: DatasetScore) -> list[str]:
    """Names of the fields whose recorded value is not what the predictions give."""
    mine, theirs = recorded.to_dict(), recomputed.to_dict()
    names = []
    for name, value in theirs.items():
        if name in _NOT_FROM_PREDICTIONS:
            continue
        pairs = zip(value, mine[name], strict=True) if isinstance(value, list | tuple) else [(value, mine[name])]
        if not all(math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12) for a, b in pairs):
            names.append(name)
    return names


def check_figures(result: Result, predictions_dir: Path, where: str, report: Report) -> None:
    """Recompute each eval set's score and the aggregate from the predictions, as the evaluator computed them.

    Used where no signature vouches for the figures: a changed WER in an unsigned `result.json` shows here.
    """
    rules = result.rules
    try:
        normalize = get_normalizer(str(rules.get("normalizer", "")))
    except ValueError as exc:
        report.problems.append(Problem(where, f"figures cannot be recomputed: {exc}"))
        return
    scores: dict[str, DatasetScore] = {}
    all_rows: dict[str, list[PredictionRow]] = {}
    for eval_set, recorded in sorted(result.datasets.items()):
        predictions = predictions_dir / f"{eval_set}.jsonl"
        if not predictions.is_file():
            continue  # reported as missing by the hash check, or as unhashed
        rows = all_rows[eval_set] = read_jsonl(PredictionRow, predictions.read_text(encoding="utf-8"))
        try:
            scores[eval_set] = score_eval_set(
                rows,
                normalize,
                bootstrap_samples=int(rules.get("bootstrap_samples", 1000)),
                seed=int(rules.get("bootstrap_seed", 0)),
            )
        except ValueError as exc:
            report.problems.append(Problem(where, f"eval set {eval_set}: figures cannot be recomputed ({exc})"))
            continue
        differing = _differing(recorded, scores[eval_set])
        if differing:
            report.problems.append(
                Problem(where, f"eval set {eval_set}: {', '.join(differing)} differ from what its predictions give")
            )
    if len(scores) == len(result.datasets) and scores:
        recomputed = aggregate(scores, float(rules.get("max_rtf", 1.0)), all_rows)
        if not _same_aggregate(recomputed, result.aggregate):
            report.problems.append(Problem(where, "aggregate differs from what the eval sets' predictions give"))


def _same_aggregate(a: Aggregate, b: Aggregate) -> bool:
    close = all(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12) for x, y in ((a.avg_wer, b.avg_wer), (a.rtf, b.rtf)))
    return close and a.meets_realtime == b.meets_realtime


def check_tables(
    tables: Sequence[Path],
    results: dict[str, Result],
    root: Path,
    report: Report,
    audits: Mapping[str, AuditRecord] | None = None,
) -> None:
    """Every row of the table repeats its signed record, in the shard of its records shard; every record has a
    row; every shard has the same header (so `load_dataset` reads them as one table)."""
    seen: set[str] = set()
    headers: dict[tuple[str, ...], str] = {}
    for table in tables:
        where = _rel(table, root)
        try:
            with open(table, encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle)
                rows = list(reader)
                headers.setdefault(tuple(reader.fieldnames or ()), where)
        except (UnicodeDecodeError, csv.Error) as exc:
            report.problems.append(Problem(where, f"is not a readable CSV table ({exc})"))
            continue
        shard_name = table.stem if table.parent.name == layout.TABLE_DIR else None
        for line, row in enumerate(rows, start=2):
            problem = _table_row_problem(row, results, shard_name, audits or {})
            seen.add(str(row.get("request_id") or ""))
            if problem:
                report.problems.append(Problem(f"{where} line {line}", problem))
    if len(headers) > 1:
        report.problems.append(
            Problem(", ".join(sorted(headers.values())), "the table's shards have different headers")
        )
    for request_id in sorted(set(results) - seen):
        report.problems.append(Problem(layout.TABLE_DIR, f"has no row for result {request_id}"))


def check_claims(shards: Sequence[Path], results: dict[str, Result], root: Path, report: Report) -> None:
    """Each `claims/<xx>.csv` is exactly what the signed records of shard `<xx>` claim (the store writes it from
    them), so a forged claim or measurement in the `claims` config is caught."""
    by_shard: dict[str, list[Result]] = {}
    for result in results.values():
        with contextlib.suppress(ValueError):
            by_shard.setdefault(layout.shard(result.request_id), []).append(result)
    for shard in shards:
        expected = claims_shard(by_shard.get(shard.stem, []))
        if shard.read_bytes() != expected.encode("utf-8"):
            report.problems.append(Problem(_rel(shard, root), "does not repeat the claims of the signed records"))


def _table_row_problem(
    row: Mapping[str | None, Any], results: dict[str, Result], shard_name: str | None, audits: Mapping[str, AuditRecord]
) -> str:
    """What is wrong with one row of the table ("" when it repeats its signed record)."""
    request_id = str(row.get("request_id") or "")
    result = results.get(request_id)
    if None in row:
        return f"row for {request_id!r} has more fields than the header"
    if result is None:
        return f"row for {request_id!r} has no result record"
    try:
        home = layout.shard(result.request_id)
    except ValueError as exc:
        return str(exc)
    if shard_name is not None and home != shard_name:
        return f"row for {request_id} belongs in {layout.table_path(home)}"
    expected = {k: "" if v is None else str(v) for k, v in table_row(result, audits.get(request_id)).items()}
    differing = sorted(k for k, v in row.items() if k in expected and v != expected[k])
    differing += sorted(str(k) for k, v in row.items() if str(k).startswith("wer_") and k not in expected and v != "")
    return f"{', '.join(differing)} differ from the signed record of {request_id}" if differing else ""


def check_predictions(hashes: Mapping[str, str], folder: Path, where: str, root: Path, report: Report) -> None:
    """Each predictions file a record signs is there with exactly its sha256; none lies outside the signature."""
    if not hashes:
        report.problems.append(Problem(where, "records no predictions hashes, so its predictions cannot be checked"))
    for eval_set, expected in sorted(hashes.items()):
        predictions = folder / f"{eval_set}.jsonl"
        report.predictions_files += 1
        if not predictions.is_file():
            report.problems.append(Problem(_rel(predictions, root), f"is missing (eval set {eval_set} of {where})"))
        elif predictions_sha256(predictions.read_bytes()) != expected:
            report.problems.append(
                Problem(
                    _rel(predictions, root), f"does not match the sha256 signed in {where}: a prediction was changed"
                )
            )
    if folder.is_dir():
        for extra in sorted(folder.glob("*.jsonl")):
            if extra.stem not in hashes:
                report.problems.append(Problem(_rel(extra, root), f"is not covered by the signature of {where}"))


def _check_signature(record: Result | ThroughputResult, public_key: str | None, where: str, report: Report) -> None:
    """Unsigned is noted (never OK); signed without a key cannot be checked; a bad signature is a problem."""
    if not record.signature:
        report.unsigned.append(where)
    elif not public_key:
        raise VerifyUsageError(
            f"{where} is signed but there is no public key: pass --public-key, set {PUBLIC_KEY_ENV}, or verify "
            f"a results repo whose {CARD_FILE} has `public_key:` in its front matter"
        )
    elif not verify_result(record, public_key):
        report.problems.append(
            Problem(
                where, "signature does not verify: the record was changed after signing, or signed with another key"
            )
        )


def _file_records(
    paths: list[Path], root: Path, report: Report, kind: type[_Parsed], what: str
) -> Iterator[tuple[Path, str, _Parsed]]:
    """Each per-record file parsed as `kind`, with its path and where it is (relative to `root`); a file that does
    not parse is reported and skipped, as `_shard_records` does for shard lines."""
    for path in paths:
        where = _rel(path, root)
        record = _parsed(kind, path.read_bytes(), where, what, report)
        if record is not None:
            yield path, where, record


def check_throughput(paths: list[Path], public_key: str | None, root: Path, report: Report) -> dict[str, str]:
    """Each throughput record (R14) parses, sits at its own path, is signed (or noted unsigned) and its
    predictions under `throughput/<id>/` match the hashes it signs. Returns record sha256 -> file."""
    hashes: dict[str, str] = {}
    report.throughput += len(paths)
    for path, where, record in _file_records(paths, root, report, ThroughputResult, "throughput record"):
        before = len(report.problems)
        if record.request_id != path.stem:
            report.problems.append(Problem(where, f"holds request {record.request_id}, not {path.stem}"))
        _check_signature(record, public_key, where, report)
        check_predictions(record.predictions_sha256, path.parent / path.stem, where, root, report)
        hashes[throughput_hash(record)] = where
        if len(report.problems) == before and record.signature:
            report.sound_throughput[throughput_hash(record)] = record.request_id
    return hashes


def _shard_lines(shard: Path, root: Path) -> Iterator[tuple[str, str]]:
    """(where, line) for each non-empty line of a JSON Lines shard, `where` naming the file and line number."""
    for number, line in enumerate(shard.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if line.strip():
            yield f"{_rel(shard, root)} line {number}", line


def _misplaced(request_id: str, shard: Path) -> str | None:
    """Why a record of `request_id` does not belong in `shard` (the board would look for it elsewhere), or None."""
    try:
        expected = layout.shard(request_id)
    except ValueError as exc:
        return str(exc)
    return None if expected == shard.stem else f"holds request {request_id}, whose shard is {expected}"


_Record = TypeVar("_Record", Result, ThroughputResult)


def check_records_shards(shards: list[Path], public_key: str | None, root: Path, report: Report) -> dict[str, Result]:
    """Without the per-entry files (a Hub repo read without --deep): each line of `records/<xx>.jsonl` is a signed
    result; its signature is checked from the line, as the board reads it. Returns request id -> record."""
    results: dict[str, Result] = {}
    for where, result in _shard_records(shards, root, report, Result, "result record"):
        report.results += 1
        if result.request_id in results:
            report.problems.append(Problem(where, f"is a second record of {result.request_id}"))
        _check_signature(result, public_key, where, report)
        results[result.request_id] = result
    return results


def _shard_records(
    shards: list[Path], root: Path, report: Report, kind: type[_Record], what: str
) -> Iterator[tuple[str, _Record]]:
    """Each line of these shards parsed as `kind`, with where it is; a line that does not parse, or that sits in
    another shard than its request id's, is reported (a misplaced record is still yielded)."""
    for shard in shards:
        for where, line in _shard_lines(shard, root):
            record = _parsed(kind, line, where, what, report)
            if record is None:
                continue
            misplaced = _misplaced(record.request_id, shard)
            if misplaced:
                report.problems.append(Problem(where, misplaced))
            yield where, record


def check_records_agree(
    shards: list[Path], results: dict[str, tuple[Result, str]], with_files: set[str], root: Path, report: Report
) -> None:
    """The board reads `records/<xx>.jsonl`: every line must be exactly the record of its per-entry file (which
    `check_result` verified: signature, predictions), and every result file must have its line. `results` maps
    request id -> (record, its file); `with_files` names every result file's request, parsed or not."""
    seen: set[str] = set()
    for where, record in _shard_records(shards, root, report, Result, "result record"):
        seen.add(record.request_id)
        found = results.get(record.request_id)
        if found is not None and found[0] != record:
            report.problems.append(Problem(where, f"the record of {record.request_id} differs from {found[1]}"))
        elif found is None and record.request_id not in with_files:
            report.problems.append(Problem(where, f"the record of {record.request_id} has no result file"))
    for request_id, (_, path) in sorted(results.items()):
        if shards and request_id not in seen:
            report.problems.append(Problem(path, "has no line in the records shards the board reads"))


def check_throughput_lines(shards: list[Path], public_key: str | None, root: Path, report: Report) -> dict[str, str]:
    """Without the per-entry files: each line of `throughput-records/<xx>.jsonl` is a signed throughput record,
    checked from the line. Returns record sha256 -> where (for the log's `throughput_published` events)."""
    hashes: dict[str, str] = {}
    for where, record in _shard_records(shards, root, report, ThroughputResult, "throughput record"):
        report.throughput += 1
        before = len(report.problems)
        _check_signature(record, public_key, where, report)
        hashes[throughput_hash(record)] = where
        if len(report.problems) == before and record.signature:
            report.sound_throughput[throughput_hash(record)] = record.request_id
    return hashes


def check_throughput_shards(shards: list[Path], hashes: dict[str, str], root: Path, report: Report) -> None:
    """The Throughput tab reads `throughput-records/<xx>.jsonl`: every line must be exactly the record of its
    per-entry file (which `check_throughput` verified), and every record file must have its line."""
    _check_lines_repeat_files(shards, hashes, ThroughputResult, throughput_hash, "throughput record", root, report)


def check_audit_shards(shards: list[Path], hashes: dict[str, str], root: Path, report: Report) -> None:
    """The board reads `audit-records/<x>.jsonl`: every line must be exactly an audit record file (which
    `check_audits` verified), and every record file must have its line."""
    _check_lines_repeat_files(shards, hashes, AuditRecord, audit_hash, "audit record", root, report)


def _check_lines_repeat_files(
    shards: list[Path],
    hashes: dict[str, str],
    kind: type[AuditRecord] | type[ThroughputResult],
    digest_of: Callable[[Any], str],
    what: str,
    root: Path,
    report: Report,
) -> None:
    """Each shard line's record has the sha256 of a per-record file (`hashes`), and each file has a line."""
    seen: set[str] = set()
    for shard in shards:
        for where, line in _shard_lines(shard, root):
            record = _parsed(kind, line, where, what, report)
            if record is None:
                continue
            digest = digest_of(record)
            seen.add(digest)
            if digest not in hashes:
                report.problems.append(
                    Problem(where, f"the record of {record.request_id} differs from its file (or the file is missing)")
                )
    for digest, path in sorted(hashes.items(), key=lambda item: item[1]):
        if shards and digest not in seen:
            report.problems.append(Problem(path, f"has no line in the {what}s shards the board reads"))


#: What `verify` says of a signed throughput record whose publication was cut off before its log event.
INTERRUPTED_THROUGHPUT = (
    "a record the log does not vouch for (an interrupted publication; the next throughput run republishes it)"
)


def check_throughput_events(entries: list[LogEntry], hashes: dict[str, str], where: str, report: Report) -> None:
    """Every `throughput_published` event names a record that is present and unchanged, and every record is
    vouched for by such an event.

    One exception, a WARN and not a failure: a record whose signature verifies under the (pinned) key, with its
    predictions, and for whose request no event names any record is an interrupted publication (the record's
    commit landed, the worker stopped before its event). Nothing is forged: the board and the Throughput tab
    show only vouched records, the record is the board's own signed measurement, and the next throughput run
    of that request logs its event (`evaluator.job.run_throughput`). An event naming another hash for that
    request, or a record that does not verify, stays a failure: that is a changed record."""
    named = set()
    published: set[str] = set()
    for entry in entries:
        if entry.event != THROUGHPUT_PUBLISHED:
            continue
        digest = entry.detail.get("throughput_sha256")
        named.add(digest)
        published.add(entry.request_id)
        if digest not in hashes:
            report.problems.append(
                Problem(
                    f"{where} seq {entry.seq}",
                    f"names a throughput record of {entry.request_id} that is missing or changed",
                )
            )
    for digest, path in sorted(hashes.items(), key=lambda item: item[1]):
        if digest in named:
            continue
        request_id = report.sound_throughput.get(digest)
        if request_id is not None and request_id not in published:
            report.warnings.append(Problem(path, INTERRUPTED_THROUGHPUT))
            continue
        report.problems.append(Problem(path, f"is not published in the log ({THROUGHPUT_PUBLISHED} with its sha256)"))


def check_audits(paths: list[Path], public_key: str, root: Path, report: Report) -> dict[str, str]:
    """Each audit record parses, sits at its own path and carries a valid signature. Returns hash -> file."""
    hashes: dict[str, str] = {}
    report.audits += len(paths)
    for path, where, record in _file_records(paths, root, report, AuditRecord, "audit record"):
        if (path.parent.name, path.stem) != (record.request_id, record.audit_id):
            report.problems.append(Problem(where, f"holds audit {record.audit_id} of {record.request_id}"))
        if not verify_audit(record, public_key):
            report.problems.append(Problem(where, "audit signature does not verify (unsigned, changed or another key)"))
        hashes[audit_hash(record)] = where
    return hashes


def check_audit_lines(shards: list[Path], public_key: str, root: Path, report: Report) -> dict[str, str]:
    """Without the per-record files: each line of `audit-records/<x>.jsonl` is a signed audit record in the
    shard of its request. Returns hash -> where (for the log's audit events)."""
    hashes: dict[str, str] = {}
    for shard in shards:
        for where, line in _shard_lines(shard, root):
            report.audits += 1
            try:
                record = AuditRecord.from_json(line)
                home = Path(layout.audit_records_path(record.request_id)).stem
            except (ValueError, TypeError, KeyError) as exc:
                report.problems.append(Problem(where, f"not a valid audit record ({exc})"))
                continue
            if home != shard.stem:
                report.problems.append(Problem(where, f"holds an audit of {record.request_id}, whose shard is {home}"))
            if not verify_audit(record, public_key):
                report.problems.append(
                    Problem(where, "audit signature does not verify (unsigned, changed or another key)")
                )
            hashes[audit_hash(record)] = where
    return hashes


def check_audit_events(entries: list[LogEntry], hashes: dict[str, str], where: str, report: Report) -> None:
    """Every audit event in the log names the hash of an audit record that is present and unchanged."""
    for entry in entries:
        if entry.event in AUDIT_EVENTS and entry.detail.get("audit_sha256") not in hashes:
            report.problems.append(
                Problem(
                    f"{where} seq {entry.seq}",
                    f"{entry.event} names audit {entry.detail.get('audit_id')} whose record is missing or changed",
                )
            )


def read_log(log: Path, root: Path, report: Report) -> list[LogEntry] | None:
    """The log's entries, or None (with a problem) when a line does not parse."""
    entries: list[LogEntry] = []
    chunks = sorted(log.glob("*.jsonl")) if log.is_dir() else [log]
    text = "".join(chunk.read_text(encoding="utf-8") for chunk in chunks)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(LogEntry.from_dict(json.loads(line)))
        except (ValueError, TypeError) as exc:
            report.problems.append(Problem(f"{_rel(log, root)} line {number}", f"is not a valid log entry ({exc})"))
            report.log_entries = len(entries)
            return None
    report.log_entries = len(entries)
    return entries


def check_log(log: Path, root: Path, report: Report) -> list[LogEntry]:
    """The log's hash chain (R8): an edited, dropped or reordered entry breaks it at that entry."""
    entries = read_log(log, root, report)
    if entries is None:
        return []
    check = verify_chain(entries)
    if not check.ok:
        where = _rel(log, root)
        report.problems.append(Problem(f"{where} seq {check.first_bad_seq}", f"hash chain breaks: {check.reason}"))
    return entries


def resolve_public_key(given: str | None, located: Located) -> tuple[str | None, bool]:
    """The key and whether it is pinned: `--public-key`, else `RESULTS_PUBLIC_KEY` (pinned: chosen by whoever
    verifies), else `public_key` in the results card's front matter (not pinned: the repo vouches for itself)."""
    if given:
        return given.strip(), True
    if os.environ.get(PUBLIC_KEY_ENV, "").strip():
        return os.environ[PUBLIC_KEY_ENV].strip(), True
    if located.card is not None:
        value = parse_front_matter(located.card.read_text(encoding="utf-8", errors="replace")).get("public_key")
        if value:
            return str(value).strip(), False
    return None, True


def _check_key(located: Located, public_key: str | None) -> None:
    if (located.audits or located.audit_shards) and not public_key:
        raise VerifyUsageError(
            f"no public key: pass --public-key, set {PUBLIC_KEY_ENV}, or verify a results repo whose "
            f"{CARD_FILE} has `public_key:` in its front matter (audit records are always signed)"
        )
    if public_key:
        try:
            load_public_key(public_key)
        except SigningKeyError as exc:
            raise VerifyUsageError(str(exc)) from exc


def check_results(located: Located, public_key: str | None, report: Report) -> dict[str, Result]:
    """The batch-one results: from the records shards alone when that is all there is, else from the per-entry
    files (signature, predictions, figures), with the shards checked against them."""
    if located.from_shards:
        return check_records_shards(located.records_shards, public_key, located.root, report)
    results: dict[str, tuple[Result, str]] = {}
    for files in located.results:
        result = check_result(files, public_key, located.root, report)
        if result is not None:
            results[result.request_id] = (result, _rel(files.record, located.root))
    with_files = {f.expected_id for f in located.results if f.expected_id is not None}
    check_records_agree(located.records_shards, results, with_files, located.root, report)
    return {request_id: result for request_id, (result, _) in results.items()}


def verify(located: Located, public_key: str | None) -> Report:
    """Run every check on what `locate` (or `locate_args`) found."""
    report = Report(not_checked=list(located.not_checked), from_shards=located.from_shards)
    _check_key(located, public_key)
    results = check_results(located, public_key, report)
    if located.tables:
        latest = latest_audits(_audit_records(located))
        check_tables(located.tables, results, located.root, report, latest)
    check_claims(located.claims, results, located.root, report)
    if located.from_shards and located.audit_shards:
        audit_hashes = check_audit_lines(located.audit_shards, public_key or "", located.root, report)
    else:
        audit_hashes = check_audits(located.audits, public_key or "", located.root, report)
        check_audit_shards(located.audit_shards, audit_hashes, located.root, report)
    if located.from_shards:
        throughput_hashes = check_throughput_lines(located.throughput_shards, public_key, located.root, report)
    else:
        throughput_hashes = check_throughput(located.throughput, public_key, located.root, report)
        check_throughput_shards(located.throughput_shards, throughput_hashes, located.root, report)
    has_entries = located.records_shards or any(f.expected_id is not None for f in located.results)
    if not located.tables and has_entries:
        report.problems.append(Problem(layout.TABLE_DIR, "is missing: the results repo must carry the table"))
    entries: list[LogEntry] | None = None
    if located.log is not None:
        if located.log.is_dir() and has_state(located.log.parent):
            entries = check_requests_repo(located.log.parent, located.root, report)
        else:
            entries = check_log(located.log, located.root, report)
        check_audit_events(entries, audit_hashes, _rel(located.log, located.root), report)
        check_throughput_events(entries, throughput_hashes, _rel(located.log, located.root), report)
        check_finished_events(entries, results, _rel(located.log, located.root), report)
    check_derived_tables(located, entries, report)
    return report


def check_finished_events(entries: list[LogEntry], results: dict[str, Result], where: str, report: Report) -> None:
    """The figures a `finished` event states (what the Log page and anyone reading the log see) are the signed
    record's: an event edited with the chain recomputed is caught here, by the signature it contradicts."""
    for entry in entries:
        result = results.get(entry.request_id)
        if entry.event != "finished" or result is None or "avg_wer" not in entry.detail:
            continue
        stated = {k: entry.detail.get(k) for k in ("avg_wer", "rtf", "official", "gpu_class") if k in entry.detail}
        signed = {
            "avg_wer": result.aggregate.avg_wer,
            "rtf": result.aggregate.rtf,
            "official": result.official,
            "gpu_class": result.hardware.gpu_class,
        }
        differing = sorted(k for k, v in stated.items() if not _same_value(v, signed[k]))
        if differing:
            report.problems.append(
                Problem(
                    f"{where} seq {entry.seq}",
                    f"finished event of {entry.request_id} states {', '.join(differing)} unlike its signed record",
                )
            )


def _same_value(stated: object, signed: object) -> bool:
    if isinstance(signed, float) and isinstance(stated, int | float) and not isinstance(stated, bool):
        return math.isclose(float(stated), signed, rel_tol=1e-9, abs_tol=1e-12)
    return stated == signed


def check_derived_tables(located: Located, entries: list[LogEntry] | None, report: Report) -> None:
    """`audits.csv` and `throughput.csv` (the card's `audits` and `throughput` configs) are exactly what the
    store renders from the signed records (the audits the log vouches for, when the log is there)."""
    if located.results_root is None:
        return
    audits_csv = located.results_root / AUDITS_TABLE_FILE
    throughput_csv = located.results_root / THROUGHPUT_TABLE_FILE
    if audits_csv.is_file():
        records = _audit_records(located)
        if entries is not None:
            vouched = {e.detail.get("audit_sha256") for e in entries if e.event in AUDIT_EVENTS}
            records = [r for r in records if audit_hash(r) in vouched]
        if audits_csv.read_bytes() != audits_table(records).encode("utf-8"):
            report.problems.append(Problem(_rel(audits_csv, located.root), "does not repeat the signed audit records"))
    if throughput_csv.is_file():
        throughput = [
            r for _, r in _shard_records(located.throughput_shards, located.root, Report(), ThroughputResult, "")
        ]
        if entries is not None:  # the table lists the records the log vouches for (crash residue has no row)
            vouched = {e.detail.get("throughput_sha256") for e in entries if e.event == THROUGHPUT_PUBLISHED}
            throughput = [r for r in throughput if throughput_hash(r) in vouched]
        if throughput_csv.read_bytes() != throughput_table(throughput).encode("utf-8"):
            report.problems.append(
                Problem(_rel(throughput_csv, located.root), "does not repeat the signed throughput records")
            )


def _audit_records(located: Located) -> list[AuditRecord]:
    """Every readable audit record: the shards' lines, else the per-record files (problems are reported elsewhere)."""
    found: dict[tuple[str, str], AuditRecord] = {}
    for shard in located.audit_shards:
        for _, line in _shard_lines(shard, located.root):
            with contextlib.suppress(ValueError, TypeError, KeyError):
                record = AuditRecord.from_json(line)
                found.setdefault((record.request_id, record.audit_id), record)
    for path in located.audits:
        with contextlib.suppress(ValueError, TypeError, KeyError):
            record = AuditRecord.from_json(path.read_bytes())
            found.setdefault((record.request_id, record.audit_id), record)
    return list(found.values())


def check_requests_repo(folder: Path, root: Path, report: Report) -> list[LogEntry]:
    """The requests repo as the store reads it: damaged files, the log's chain, and state vs log history."""
    checked = check_requests(folder)
    report.problems.extend(Problem(where, what) for where, what in checked.problems)
    report.log_entries = len(checked.log)
    chain = verify_chain(checked.log)
    if not chain.ok:
        where = f"{_rel(folder / layout.LOG_DIR, root)} seq {chain.first_bad_seq}"
        report.problems.append(Problem(where, f"hash chain breaks: {chain.reason}"))
    return checked.log


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluator verify",
        description="Check result signatures, predictions hashes and the log's hash chain; an unsigned result's "
        "figures are recomputed from its predictions.",
        epilog="exit status: 0 everything verifies and is signed; 1 something was altered or is missing; "
        "2 nothing could be checked (bad path, no public key); 3 nothing altered, but a result is unsigned "
        "(e.g. an `evaluate --out` folder); 4 everything verifies, but only against the key the repo's own card "
        "names (pin it with --public-key)",
    )
    parser.add_argument("path", help="store root, results/requests repo folder, evaluator --out folder, or owner/name")
    parser.add_argument(
        "--public-key",
        help=f"base64 Ed25519 public key, from a place the repo's writers do not control (default: ${PUBLIC_KEY_ENV}, "
        "then the card, which only shows the repo is self-consistent: exit 4)",
    )
    parser.add_argument("--requests-repo", help="requests repo (owner/name or folder) whose log to check too")
    parser.add_argument(
        "--deep",
        action="store_true",
        help="for a Hub repo: download it whole (every result file and predictions file; the requests repo's state "
        "files) and check everything, as for a folder. Without it only the records shards, the table, the card, the "
        "audit records and the log are read: every signature and the log's chain are checked, the predictions are not",
    )
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """The CLI: prints one line per problem and a summary; returns the exit status."""
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="asr-verify-") as scratch:
            located = locate_args(args.path, args.requests_repo, args.deep, Path(scratch))
            for source in located.sources:
                print(f"READ {source}", file=out)
            key, pinned = resolve_public_key(args.public_key, located)
            report = verify(located, key)
            report.pinned = pinned or key is None
    except VerifyUsageError as exc:
        print(f"error: {exc}", file=out)
        return EXIT_USAGE
    for problem in report.problems:
        print(f"FAIL {problem}", file=out)
    checked = "its predictions hashes and figures were checked"
    if report.from_shards:
        checked = "its predictions were not downloaded, so its figures were not checked (use --deep)"
    for where in report.unsigned:
        print(f"UNSIGNED {where}: no signature; {checked}", file=out)
    for what in report.not_checked:
        print(f"NOT CHECKED {what}; use --deep", file=out)
    for warning in report.warnings:
        print(f"WARN {warning}", file=out)
    print(report.summary(), file=out)
    return report.exit_code


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
