"""Eval sets: local folders in the `datasets` AudioFolder layout, or Hub datasets, as a stream of utterances.

An utterance carries its audio *source* (a path or the file's bytes), not decoded audio: decoding and
resampling happen in the runner's untimed window loading, outside the timed region.

A Hub set is streamed at one commit SHA, the one its `EvalSetSource` records. Within one board version the
data must not move: the first finished result of the version pins each Hub set's SHA (see `pinned_revisions`),
later evaluations stream exactly that commit, and a config that names another commit for the same version is
refused until a new board version is made.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from openasr_core.config import REPO_ROOT, EvalSetConfig
from openasr_core.records import EvalSetSource, Result

METADATA_FILES = ("metadata.csv", "metadata.jsonl")
COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")
#: References the public Open ASR Leaderboard harness drops before scoring (normalizer/data_utils.py,
#: `is_target_text_in_range`): TED-LIUM marks untranscribed stretches `ignore_time_segment_in_scoring`.
EXCLUDED_REFERENCES = frozenset({"ignore time segment in scoring"})


def is_excluded_reference(reference: str) -> bool:
    """True for a reference the ESB convention marks as not to be scored (in any case, `_` or spaces)."""
    words = re.sub(r"[^a-z0-9]+", " ", reference.lower()).split()
    return " ".join(words) in EXCLUDED_REFERENCES


class EvalSetError(ValueError):
    """An eval set cannot be read; the message names the folder, file or column to fix."""


@dataclass(frozen=True)
class RawUtterance:
    id: str
    reference: str
    audio: Path | bytes


class EvalSet:
    """A named, re-iterable source of utterances with a record of where it came from (R12)."""

    def __init__(self, config: EvalSetConfig, max_samples: int | None = None, pinned: str | None = None) -> None:
        self.config = config
        self.name = config.name
        self.max_samples = max_samples
        if config.path is not None:
            self._rows = _read_audiofolder(config.path, config)
            self.total: int | None = len(self._rows[:max_samples] if max_samples else self._rows)
            self.source = EvalSetSource(
                name=config.name, source=_portable(config.path), sha256=_folder_digest(config.path)
            )
        else:
            self._rows = None
            self.source = EvalSetSource(
                name=config.name,
                source=str(config.hub_id),
                revision=_pinned_revision(config, pinned),
                config=config.config,
                split=config.split,
            )
            self.total = _hub_num_examples(config, self.source.revision, max_samples)

    def __iter__(self) -> Iterator[RawUtterance]:
        rows = iter(self._rows) if self._rows is not None else _iter_hub(self.config, self.source.revision)
        return islice(rows, self.max_samples) if self.max_samples else rows


def _portable(path: Path) -> str:
    """A folder inside this repository is recorded relative to it, so the record means the same elsewhere."""
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def eval_set_from_path(path: Path) -> EvalSetConfig:
    """An ad-hoc eval set from a folder given on the command line; its name is the folder's name."""
    return EvalSetConfig(name=path.resolve().name, path=path.resolve())


def _read_audiofolder(folder: Path, config: EvalSetConfig) -> list[RawUtterance]:
    if not folder.is_dir():
        raise EvalSetError(f"eval set {config.name!r}: folder {folder} does not exist")
    metadata = next((folder / name for name in METADATA_FILES if (folder / name).is_file()), None)
    if metadata is None:
        raise EvalSetError(
            f"eval set folder {folder} has no metadata.csv or metadata.jsonl; add one with the columns "
            f"`file_name` and `{config.text_column}` (the `datasets` AudioFolder layout)"
        )
    if metadata.suffix == ".csv":
        with open(metadata, newline="", encoding="utf-8") as handle:
            records = list(csv.DictReader(handle))
    else:
        try:
            lines = metadata.read_text(encoding="utf-8").splitlines()
            records = [json.loads(line) for line in lines if line.strip()]
        except json.JSONDecodeError as exc:
            raise EvalSetError(f"{metadata} line {exc.lineno}: not valid JSON ({exc.msg})") from exc
    if not records:
        raise EvalSetError(f"{metadata} lists no utterances")
    for column in ("file_name", config.text_column):
        if column not in records[0]:
            raise EvalSetError(f"{metadata} has no `{column}` column; it has {sorted(records[0])}")
    rows = []
    for record in records:
        audio = folder / str(record["file_name"])
        if not audio.is_file():
            raise EvalSetError(f"{metadata} names {record['file_name']}, which is not in {folder}")
        utterance_id = str(record.get(config.id_column or "", "") or Path(str(record["file_name"])).stem)
        rows.append(RawUtterance(id=utterance_id, reference=str(record[config.text_column] or ""), audio=audio))
    return rows


def _folder_digest(folder: Path) -> str:
    """sha256 over every file of the folder and its subfolders (relative path and content), so a re-run can
    prove it used the same data; audio in `clips/` counts as much as audio beside the metadata."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _load_hub(config: EvalSetConfig, revision: str | None):  # noqa: ANN202 - a datasets.IterableDataset (lazy import)
    import datasets

    try:
        dataset = datasets.load_dataset(
            config.hub_id, config.config, split=config.split, revision=revision or config.revision, streaming=True
        )
    except Exception as exc:  # datasets raises many types (FileNotFoundError, ConnectionError, DatasetNotFound...)
        raise EvalSetError(
            f"eval set {config.name!r}: cannot load {config.hub_id} (config {config.config}, split {config.split}, "
            f"revision {revision or config.revision}): {exc}. Check the id, config, split, that the Hub is reachable "
            "and, for a gated dataset such as the ESB sets, that HF_TOKEN belongs to an account that accepted its terms."
        ) from exc
    columns = dataset.column_names or []
    for column in (config.audio_column, config.text_column):
        if columns and column not in columns:
            raise EvalSetError(f"eval set {config.name!r}: {config.hub_id} has no column {column!r}; it has {columns}")
    return dataset.cast_column(config.audio_column, datasets.Audio(decode=False))


def _iter_hub(config: EvalSetConfig, revision: str | None) -> Iterator[RawUtterance]:
    for index, item in enumerate(_load_hub(config, revision)):
        audio = item[config.audio_column]
        data = audio.get("bytes") or (Path(audio["path"]) if audio.get("path") else None)
        if data is None:
            raise EvalSetError(f"eval set {config.name!r}: row {index} has no audio bytes or path")
        utterance_id = str(item.get(config.id_column or "id") or audio.get("path") or index)
        yield RawUtterance(id=utterance_id, reference=str(item[config.text_column] or ""), audio=data)


def _hub_num_examples(config: EvalSetConfig, revision: str | None, max_samples: int | None) -> int | None:
    try:
        import datasets

        builder = datasets.load_dataset_builder(config.hub_id, config.config, revision=revision)
        total = builder.info.splits[config.split].num_examples if builder.info.splits else None
    except Exception:  # the count only feeds the progress bar; the evaluation itself reports load errors
        total = None
    if total is None:
        return max_samples
    return min(total, max_samples) if max_samples else total


def _resolve_dataset_revision(config: EvalSetConfig) -> str:
    """The commit SHA that `revision` points to on the Hub (a local dataset folder keeps its configured name)."""
    if Path(str(config.hub_id)).exists() or COMMIT_SHA.match(config.revision):
        return config.revision
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError

    try:
        sha = HfApi().dataset_info(str(config.hub_id), revision=config.revision).sha
    except GatedRepoError as exc:
        raise EvalSetError(
            f"eval set {config.name!r}: {config.hub_id} is gated; accept its terms on the Hub with the account whose "
            "HF_TOKEN the evaluator uses, or use a token that has access"
        ) from exc
    except Exception as exc:
        raise EvalSetError(
            f"eval set {config.name!r}: cannot resolve {config.hub_id}@{config.revision} to a commit "
            f"({type(exc).__name__}); check the id, the revision and that the Hub is reachable"
        ) from exc
    if not sha:
        raise EvalSetError(f"eval set {config.name!r}: the Hub returned no commit SHA for {config.hub_id}")
    return sha


def _pinned_revision(config: EvalSetConfig, pinned: str | None) -> str:
    """The commit to stream: the version's pin when there is one, else what the config's revision resolves to."""
    if pinned is None:
        return _resolve_dataset_revision(config)
    if COMMIT_SHA.match(config.revision) and config.revision != pinned:
        raise EvalSetError(
            f"eval set {config.name!r}: this board version's results were measured on {config.hub_id}@{pinned}, "
            f"but the config now names {config.revision}; the data must not move under a board version. Make a "
            "new board version (a new [leaderboard] version in the config) to evaluate on other data"
        )
    return pinned


def pinned_revisions(results: Iterable[Result], version: str, sets: Iterable[EvalSetConfig]) -> dict[str, str]:
    """Per Hub eval set of board `version`, the commit its first finished result streamed (the version's pin).

    A result pins a set only when it recorded the same dataset, config and split as the set now configured.
    """
    ordered = sorted((r for r in results if r.leaderboard_version == version), key=lambda r: r.finished_at)
    return pins_from_sources([source for result in ordered for source in result.eval_sets], sets)


def pins_from_sources(sources: Iterable[EvalSetSource], sets: Iterable[EvalSetConfig]) -> dict[str, str]:
    """Per Hub eval set, the revision of the first of `sources` (oldest first) that names the same dataset,
    config and split as the set now configured (see `Store.version_sources`)."""
    wanted: Mapping[str, EvalSetConfig] = {s.name: s for s in sets if s.hub_id}
    pins: dict[str, str] = {}
    for source in sources:
        config = wanted.get(source.name)
        if config is None or source.name in pins or not source.revision or source.sha256:
            continue
        if (source.source, source.config, source.split) == (config.hub_id, config.config, config.split):
            pins[source.name] = source.revision
    return pins
