"""`python -m evaluator verify PATH_OR_REPO`: check results and the public log without trusting anyone (R8, R9).

For every result: its Ed25519 signature (over the canonical JSON of the record, which includes the sha256 of
each predictions file), that each predictions file on disk has exactly that sha256, and that no predictions
file lies outside what the signature covers. The consolidated table must agree with the signed records. The
log's hash chain is checked where a log is present. Every problem is printed with the file (and log seq) it
is in; the exit status is 0 when everything verifies, 1 when anything does not, 2 when nothing could be
checked (no such path, no public key).

PATH may be:
- a local store root (`requests/` and `results/` folders, as `core.store.local` lays them out),
- a results (or requests) repo folder: `results/<xx>/<id>.json`, `predictions/<xx>/<id>/<set>.jsonl`, `log/*.jsonl`
- an evaluator `--out` folder: `result.json` and `predictions/<set>.jsonl`,
- `owner/name` of a results dataset on the Hub (downloaded with one snapshot; `--requests-repo` adds the log).

The public key comes from `--public-key`, else `RESULTS_PUBLIC_KEY`, else the results card's front matter.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from core.dataset_card import CARD_FILE, TABLE_FILE, parse_front_matter, table_row
from core.eventlog import verify_chain
from core.records import HUB_REPO_ID, LogEntry, Result
from core.signing import PUBLIC_KEY_ENV, SigningKeyError, load_public_key, predictions_sha256, verify_result
from core.store import layout


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
    """What was found under a path: result files, the log, the card, the table."""

    root: Path
    results: list[ResultFiles]
    log: Path | None = None
    card: Path | None = None
    table: Path | None = None


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    results: int = 0
    predictions_files: int = 0
    log_entries: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        log = f", log of {self.log_entries} entries" if self.log_entries is not None else ", no log"
        checked = f"{self.results} result(s), {self.predictions_files} predictions file(s){log}"
        if self.ok:
            return f"OK: {checked}; everything verifies"
        return f"FAILED: {len(self.problems)} problem(s) in {checked}"


# --- finding the files ------------------------------------------------------------------------------------


def _repo_results(repo_root: Path) -> list[ResultFiles]:
    """`results/<shard>/<id>.json` with `predictions/<shard>/<id>/` (and layout 1's unsharded paths)."""
    results_dir = repo_root / layout.RESULTS_DIR
    found = []
    for path in sorted(results_dir.rglob("*.json")):
        shard = () if path.parent == results_dir else (path.parent.name,)
        found.append(ResultFiles(path, repo_root.joinpath(layout.PREDICTIONS_DIR, *shard, path.stem), path.stem))
    return found


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
        results_root = path / "results"
        located = Located(
            path,
            _repo_results(results_root),
            log=_log_at(path / "requests"),
            card=_existing(results_root / CARD_FILE),
            table=_existing(results_root / TABLE_FILE),
        )
    elif (path / layout.RESULTS_DIR).is_dir() or _log_at(path) is not None:
        located = Located(
            path,
            _repo_results(path),
            log=_log_at(path),
            card=_existing(path / CARD_FILE),
            table=_existing(path / TABLE_FILE),
        )
    else:
        raise VerifyUsageError(
            f"{path} holds neither a store (requests/, results/), a results repo (results/*.json), "
            "a log (log.jsonl) nor an evaluator output (result.json)"
        )
    if requests_root is not None:
        log = _log_at(requests_root)
        if log is None:
            raise VerifyUsageError(
                f"{requests_root} has no {layout.LOG_DIR}/ (nor log.jsonl); is it the requests repo?"
            )
        located = Located(located.root, located.results, log=log, card=located.card, table=located.table)
    return located


def download(repo_id: str) -> Path:
    """One snapshot of a Hub dataset repo (uses `HF_TOKEN` if set, for private repos)."""
    from huggingface_hub import HfApi

    return Path(HfApi().snapshot_download(repo_id, repo_type="dataset"))


def _as_folder(value: str) -> Path:
    path = Path(value).expanduser()
    if path.exists():
        return path
    if HUB_REPO_ID.match(value):
        return download(value)
    raise VerifyUsageError(f"{value} is neither an existing folder nor a Hub dataset id (owner/name)")


# --- the checks -------------------------------------------------------------------------------------------


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def check_result(files: ResultFiles, public_key: str, root: Path, report: Report) -> Result | None:
    """Check one record: parse, id, signature, predictions hashes. Problems go into `report`."""
    where = _rel(files.record, root)
    report.results += 1
    try:
        result = Result.from_json(files.record.read_bytes())
    except (ValueError, TypeError, KeyError) as exc:
        report.problems.append(Problem(where, f"not a valid result record ({exc})"))
        return None
    if files.expected_id is not None and result.request_id != files.expected_id:
        report.problems.append(Problem(where, f"holds request {result.request_id}, not {files.expected_id}"))
    if not result.signature:
        report.problems.append(Problem(where, "is not signed"))
    elif not verify_result(result, public_key):
        report.problems.append(
            Problem(
                where, "signature does not verify: the record was changed after signing, or signed with another key"
            )
        )
    if not result.predictions_sha256:
        report.problems.append(Problem(where, "records no predictions hashes, so its predictions cannot be checked"))
    for eval_set, expected in sorted(result.predictions_sha256.items()):
        predictions = files.predictions_dir / f"{eval_set}.jsonl"
        report.predictions_files += 1
        if not predictions.is_file():
            report.problems.append(Problem(_rel(predictions, root), f"is missing (eval set {eval_set} of {where})"))
        elif predictions_sha256(predictions.read_bytes()) != expected:
            report.problems.append(
                Problem(
                    _rel(predictions, root), f"does not match the sha256 signed in {where}: a prediction was changed"
                )
            )
    if files.predictions_dir.is_dir():
        for extra in sorted(files.predictions_dir.glob("*.jsonl")):
            if extra.stem not in result.predictions_sha256:
                report.problems.append(Problem(_rel(extra, root), f"is not covered by the signature of {where}"))
    return result


def check_table(table: Path, results: dict[str, Result], root: Path, report: Report) -> None:
    """Every row of the consolidated table must repeat its signed record, and every record must have a row."""
    where = _rel(table, root)
    with open(table, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    seen = set()
    for line, row in enumerate(rows, start=2):
        request_id = row.get("request_id", "")
        seen.add(request_id)
        result = results.get(request_id)
        if result is None:
            report.problems.append(Problem(f"{where} line {line}", f"row for {request_id!r} has no result record"))
            continue
        expected = {k: "" if v is None else str(v) for k, v in table_row(result).items()}
        differing = sorted(k for k, v in row.items() if k in expected and v != expected[k])
        differing += sorted(k for k, v in row.items() if k.startswith("wer_") and k not in expected and v != "")
        if differing:
            report.problems.append(
                Problem(f"{where} line {line}", f"{', '.join(differing)} differ from the signed record of {request_id}")
            )
    for request_id in sorted(set(results) - seen):
        report.problems.append(Problem(where, f"has no row for result {request_id}"))


def check_log(log: Path, root: Path, report: Report) -> None:
    """The log's hash chain (R8): an edited, dropped or reordered entry breaks it at that entry."""
    where = _rel(log, root)
    entries: list[LogEntry] = []
    chunks = sorted(log.glob("*.jsonl")) if log.is_dir() else [log]
    text = "".join(chunk.read_text(encoding="utf-8") for chunk in chunks)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(LogEntry.from_dict(json.loads(line)))
        except (ValueError, TypeError) as exc:
            report.problems.append(Problem(f"{where} line {number}", f"is not a valid log entry ({exc})"))
            report.log_entries = len(entries)
            return
    report.log_entries = len(entries)
    check = verify_chain(entries)
    if not check.ok:
        report.problems.append(Problem(f"{where} seq {check.first_bad_seq}", f"hash chain breaks: {check.reason}"))


def resolve_public_key(given: str | None, located: Located) -> str | None:
    """`--public-key`, else `RESULTS_PUBLIC_KEY`, else `public_key` in the results card's front matter."""
    if given:
        return given.strip()
    if os.environ.get(PUBLIC_KEY_ENV, "").strip():
        return os.environ[PUBLIC_KEY_ENV].strip()
    if located.card is not None:
        value = parse_front_matter(located.card.read_text(encoding="utf-8")).get("public_key")
        if value:
            return str(value).strip()
    return None


def verify(located: Located, public_key: str | None) -> Report:
    """Run every check on what `locate` found."""
    report = Report()
    if located.results:
        if not public_key:
            raise VerifyUsageError(
                f"no public key: pass --public-key, set {PUBLIC_KEY_ENV}, or verify a results repo whose "
                f"{CARD_FILE} has `public_key:` in its front matter"
            )
        try:
            load_public_key(public_key)
        except SigningKeyError as exc:
            raise VerifyUsageError(str(exc)) from exc
    results: dict[str, Result] = {}
    for files in located.results:
        result = check_result(files, public_key or "", located.root, report)
        if result is not None:
            results[result.request_id] = result
    if located.table is not None:
        check_table(located.table, results, located.root, report)
    if located.log is not None:
        check_log(located.log, located.root, report)
    return report


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluator verify",
        description="Check result signatures, predictions hashes and the log's hash chain. Exit 0 when all verify.",
    )
    parser.add_argument("path", help="store root, results/requests repo folder, evaluator --out folder, or owner/name")
    parser.add_argument("--public-key", help=f"base64 Ed25519 public key (default: ${PUBLIC_KEY_ENV}, then the card)")
    parser.add_argument("--requests-repo", help="requests repo (owner/name or folder) whose log.jsonl to check too")
    return parser


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """The CLI: prints one line per problem and a summary; returns the exit status."""
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        requests_root = _as_folder(args.requests_repo) if args.requests_repo else None
        located = locate(_as_folder(args.path), requests_root)
        report = verify(located, resolve_public_key(args.public_key, located))
    except VerifyUsageError as exc:
        print(f"error: {exc}", file=out)
        return 2
    for problem in report.problems:
        print(f"FAIL {problem}", file=out)
    print(report.summary(), file=out)
    return 0 if report.ok else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
