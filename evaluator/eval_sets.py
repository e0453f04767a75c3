"""Eval sets: local folders in the `datasets` AudioFolder layout, or Hub datasets, as a stream of utterances.

An utterance carries its audio *source* (a path or the file's bytes), not decoded audio: decoding and
resampling happen in the runner's prefetch thread, outside the timed region.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from core.config import REPO_ROOT, EvalSetConfig
from core.records import EvalSetSource

METADATA_FILES = ("metadata.csv", "metadata.jsonl")


class EvalSetError(ValueError):
    """An eval set cannot be read; the message names the folder, file or column to fix."""


@dataclass(frozen=True)
class RawUtterance:
    id: str
    reference: str
    audio: Path | bytes


class EvalSet:
    """A named, re-iterable source of utterances with a record of where it came from (R12)."""

    def __init__(self, config: EvalSetConfig, max_samples: int | None = None) -> None:
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
            self.total = _hub_num_examples(config, max_samples)
            self.source = EvalSetSource(
                name=config.name,
                source=str(config.hub_id),
                revision=_resolve_dataset_revision(config),
                config=config.config,
                split=config.split,
            )

    def __iter__(self) -> Iterator[RawUtterance]:
        rows = iter(self._rows) if self._rows is not None else _iter_hub(self.config)
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
    """sha256 over the metadata and every audio file, so a re-run can prove it used the same data."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _load_hub(config: EvalSetConfig):  # noqa: ANN202 - a datasets.IterableDataset; imported lazily (slow import)
    import datasets

    try:
        dataset = datasets.load_dataset(
            config.hub_id, config.config, split=config.split, revision=config.revision, streaming=True
        )
    except Exception as exc:  # datasets raises many types (FileNotFoundError, ConnectionError, DatasetNotFound...)
        raise EvalSetError(
            f"eval set {config.name!r}: cannot load {config.hub_id} (config {config.config}, split {config.split}, "
            f"revision {config.revision}): {exc}. Check the id, config, split and that the Hub is reachable."
        ) from exc
    columns = dataset.column_names or []
    for column in (config.audio_column, config.text_column):
        if columns and column not in columns:
            raise EvalSetError(f"eval set {config.name!r}: {config.hub_id} has no column {column!r}; it has {columns}")
    return dataset.cast_column(config.audio_column, datasets.Audio(decode=False))


def _iter_hub(config: EvalSetConfig) -> Iterator[RawUtterance]:
    for index, item in enumerate(_load_hub(config)):
        audio = item[config.audio_column]
        data = audio.get("bytes") or (Path(audio["path"]) if audio.get("path") else None)
        if data is None:
            raise EvalSetError(f"eval set {config.name!r}: row {index} has no audio bytes or path")
        utterance_id = str(item.get(config.id_column or "id") or audio.get("path") or index)
        yield RawUtterance(id=utterance_id, reference=str(item[config.text_column] or ""), audio=data)


def _hub_num_examples(config: EvalSetConfig, max_samples: int | None) -> int | None:
    try:
        import datasets

        builder = datasets.load_dataset_builder(config.hub_id, config.config, revision=config.revision)
        total = builder.info.splits[config.split].num_examples if builder.info.splits else None
    except Exception:  # the count only feeds the progress bar; the evaluation itself reports load errors
        total = None
    if total is None:
        return max_samples
    return min(total, max_samples) if max_samples else total


def _resolve_dataset_revision(config: EvalSetConfig) -> str:
    """The commit SHA that `revision` points to on the Hub, or the configured revision when unresolvable."""
    if Path(str(config.hub_id)).exists():
        return config.revision
    try:
        from huggingface_hub import HfApi

        return HfApi().dataset_info(str(config.hub_id), revision=config.revision).sha or config.revision
    except Exception:
        return config.revision
