"""Looking a submitted model up, on the Hub or in the local models folder, and reporting `ModelFacts`.

This is the thin I/O layer under `leaderboard.submission`: it only gathers facts (files, resolved SHA,
weight hashes, config, license, parameter count) and says clearly when a model or revision cannot be found;
deciding whether the facts pass the rules is the pure checks' job.

The Hub side talks to an object with `HfApi`'s `model_info`, `get_safetensors_metadata` and
`hf_hub_download` methods; tests run the real `HfApi` over the HTTP-level Hub emulator (testkit/hub_emulator.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

from safetensors import SafetensorError, safe_open

from leaderboard.submission import MODEL_ID_PATTERN, InspectionError, ModelFacts
from openasr_core.claims import CARD_FILE, MAX_CARD_BYTES, MAX_FILE_BYTES, MAX_FILES, is_claims_file
from openasr_core.model_files import (
    WEIGHT_SUFFIXES,
    card_declared_license,
    hub_declared_license,
    local_revision,
    model_files,
    weight_file_hashes,
)

# --- safetensors headers ----------------------------------------------------------------------------------


def count_parameters(path: Path) -> int:
    """Elements over every tensor of one safetensors file, from its header only (no tensor data is read).

    `safetensors.safe_open` parses and validates the header; `__metadata__` is not a tensor and is not listed.
    Raises `SafetensorError` (or `OSError`) for a file that is not safetensors.
    """
    with safe_open(path, framework="numpy") as handle:
        return sum(math.prod(handle.get_slice(name).get_shape()) for name in handle.keys())  # noqa: SIM118 (not iterable)


# --- the local models folder ------------------------------------------------------------------------------


class LocalModels:
    """Models in `<models_dir>/<org>/<name>/`. A folder has one revision: the digest of its files
    (`openasr_core.model_files.local_revision`), so `main` or that digest are the revisions it answers to."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = Path(models_dir)

    def folder(self, model_id: str) -> Path | None:
        """The model's folder, if `model_id` is well formed and names one."""
        if not MODEL_ID_PATTERN.match(model_id) or ".." in model_id:
            return None
        folder = self.models_dir / model_id
        return folder if folder.is_dir() else None

    def has(self, model_id: str) -> bool:
        return self.folder(model_id) is not None

    def model_ids(self) -> list[str]:
        """Every `<org>/<name>` folder present, for the Submit page's hint."""
        if not self.models_dir.is_dir():
            return []
        found = []
        for org in sorted(p for p in self.models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
            found.extend(
                f"{org.name}/{m.name}" for m in sorted(org.iterdir()) if m.is_dir() and not m.name.startswith(".")
            )
        return found

    def inspect(self, model_id: str, revision: str) -> ModelFacts:
        folder = self.folder(model_id)
        if folder is None:
            raise InspectionError(
                f"There is no local model `{model_id}`: no folder {self.models_dir / model_id}. "
                f"Put the model (transformers format) there, or enter a Hub model id."
            )
        sha = local_revision(folder)
        if revision not in ("main", sha):
            raise InspectionError(
                f"Local model `{model_id}` has one revision, the digest of its files: `{sha}`. "
                "Enter `main` or that digest as the revision."
            )
        files = tuple(p.relative_to(folder).as_posix() for p in model_files(folder))
        weights = weight_file_hashes(folder)
        declared = card_declared_license(folder)
        parameters = 0
        try:
            for name in weights:
                parameters += count_parameters(folder / name)
        except (OSError, SafetensorError):
            parameters = 0
        claim_files, claim_problems = local_claim_files(folder, files)
        return ModelFacts(
            model_id=model_id,
            source="local",
            requested_revision=revision,
            sha=sha,
            files=files,
            weight_files=weights,
            config=_read_json(folder / "config.json"),
            license=declared.license,
            parameters=parameters,
            location=str(folder),
            license_name=declared.name,
            claim_files=claim_files,
            claim_problems=claim_problems,
        )


# --- claim files (R15) ------------------------------------------------------------------------------------


def claim_paths(files: Iterable[str]) -> list[str]:
    """The claim files among a model's files: `.eval_results/*.yaml` by name (at most `MAX_FILES`), README.md."""
    names = sorted(f for f in files if is_claims_file(f))[:MAX_FILES]
    return names + ([CARD_FILE] if CARD_FILE in files else [])


def _limit(path: str) -> int:
    return MAX_CARD_BYTES if path == CARD_FILE else MAX_FILE_BYTES


def _too_big(path: str, size: int) -> str:
    return f"could not read {path}: {size:,} bytes, over the {_limit(path):,}-byte limit"


def local_claim_files(folder: Path, files: Iterable[str]) -> tuple[dict[str, bytes], tuple[str, ...]]:
    """The claim files of a local model folder (sizes checked before reading), and what could not be read."""
    found: dict[str, bytes] = {}
    problems: list[str] = []
    for path in claim_paths(files):
        try:
            size = (folder / path).stat().st_size
            if size > _limit(path):
                problems.append(_too_big(path, size))
                continue
            found[path] = (folder / path).read_bytes()
        except OSError as exc:
            problems.append(f"could not read {path}: {type(exc).__name__}")
    return found, tuple(problems)


def hub_claim_files(
    api: HubApi, model_id: str, sha: str, sizes: Mapping[str, int | None]
) -> tuple[dict[str, bytes], tuple[str, ...]]:
    """The claim files of a Hub model at `sha` (one download each, sizes checked first from the listing); a
    failed download is a problem line, never a refusal of the submission."""
    found: dict[str, bytes] = {}
    problems: list[str] = []
    for path in claim_paths(sizes):
        size = sizes.get(path)
        if size is not None and size > _limit(path):
            problems.append(_too_big(path, size))
            continue
        try:
            data = Path(api.hf_hub_download(model_id, path, revision=sha)).read_bytes()
        except Exception as exc:  # offline, 5xx, a file gone: the claims are left out, the submission goes on
            problems.append(f"could not read {path}: download failed ({type(exc).__name__})")
            continue
        found[path] = data
    return found, tuple(problems)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# --- the Hub ----------------------------------------------------------------------------------------------


class HubApi(Protocol):
    """The part of `huggingface_hub.HfApi` the inspection uses."""

    def model_info(self, repo_id: str, *, revision: str | None = None, files_metadata: bool = False) -> Any: ...

    def get_safetensors_metadata(self, repo_id: str, *, revision: str | None = None) -> Any: ...

    def hf_hub_download(self, repo_id: str, filename: str, *, revision: str | None = None) -> str: ...


class HubModels:
    """Models on the Hugging Face Hub, looked up with `HfApi` (a token in `HF_TOKEN` is used, never shown)."""

    def __init__(self, api: HubApi | None = None) -> None:
        if api is None:
            from huggingface_hub import HfApi

            api = HfApi()
        self.api = api

    def inspect(self, model_id: str, revision: str) -> ModelFacts:
        url = f"https://huggingface.co/{model_id}"
        info = self._model_info(model_id, revision, url)
        sha = getattr(info, "sha", None)
        siblings = list(getattr(info, "siblings", None) or [])
        files = tuple(s.rfilename for s in siblings)
        weights = {
            s.rfilename: (s.lfs.sha256 if getattr(s, "lfs", None) else None)
            for s in siblings
            if s.rfilename.endswith(WEIGHT_SUFFIXES)
        }
        declared = hub_declared_license(info)
        config = self._config(model_id, sha) if sha and "config.json" in files else None
        parameters = self._parameters(model_id, sha) if sha and weights else None
        sizes = {s.rfilename: getattr(s, "size", None) for s in siblings}
        claim_files, claim_problems = hub_claim_files(self.api, model_id, sha, sizes) if sha else ({}, ())
        return ModelFacts(
            model_id=model_id,
            source="hub",
            requested_revision=revision,
            sha=sha,
            files=files,
            weight_files=weights,
            config=config,
            license=declared.license,
            parameters=parameters,
            location=url,
            license_name=declared.name,
            claim_files=claim_files,
            claim_problems=claim_problems,
        )

    def _model_info(self, model_id: str, revision: str, url: str) -> Any:
        """The Hub's model info at `revision` with file metadata, or the refusal that says why there is none (no
        such revision, no public model, gated) or that the Hub could not be reached."""
        from huggingface_hub import errors

        try:
            info = self.api.model_info(model_id, revision=revision, files_metadata=True)
        except errors.RevisionNotFoundError as exc:
            raise InspectionError(
                f"`{model_id}` has no revision `{revision}`. Enter an existing branch, tag or commit SHA "
                f"(see {url}/commits/main)."
            ) from exc
        except (errors.GatedRepoError, errors.RepositoryNotFoundError) as exc:
            raise InspectionError(
                f"No public model `{model_id}` on the Hugging Face Hub ({url}). Check the spelling; private and "
                "gated models cannot be evaluated."
            ) from exc
        except Exception as exc:  # offline, DNS, timeouts, 5xx: say so rather than "not found"
            raise HubUnreachableError(_unreachable(model_id, exc), type(exc).__name__) from exc
        if getattr(info, "gated", False):
            raise InspectionError(
                f"`{model_id}` is gated on the Hub; the evaluator cannot download gated models. "
                "Submit an openly downloadable model."
            )
        return info

    def _config(self, model_id: str, sha: str) -> dict[str, Any] | None:
        """The model's config.json at `sha`."""
        try:
            return _read_json(Path(self.api.hf_hub_download(model_id, "config.json", revision=sha)))
        except Exception as exc:
            raise InspectionError(_unreachable(model_id, exc)) from exc

    def _parameters(self, model_id: str, sha: str) -> int | None:
        """The parameter count in the safetensors headers at `sha`; None for a repo without safetensors."""
        from huggingface_hub import errors

        try:
            metadata = self.api.get_safetensors_metadata(model_id, revision=sha)
            return sum(int(v) for v in (metadata.parameter_count or {}).values())
        except errors.NotASafetensorsRepoError:
            return None
        except Exception as exc:
            raise InspectionError(_unreachable(model_id, exc)) from exc


class HubUnreachableError(InspectionError):
    """The Hub could not be asked about the model (offline, DNS, a timeout, 5xx); `cause` names the error."""

    def __init__(self, message: str, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


def _unreachable(model_id: str, exc: Exception) -> str:
    return (
        f"Could not check `{model_id}` on the Hugging Face Hub right now ({type(exc).__name__}). "
        "Nothing was submitted; try again in a few minutes."
    )


# --- both -------------------------------------------------------------------------------------------------


class ModelInspector:
    """A model id names a local folder when `<models_dir>/<org>/<name>` exists, a Hub repo otherwise."""

    def __init__(self, local: LocalModels, hub: HubModels | None) -> None:
        self.local = local
        self.hub = hub

    def is_local(self, model_id: str) -> bool:
        return self.local.has(model_id)

    def inspect(self, model_id: str, revision: str) -> ModelFacts:
        if self.local.has(model_id) or self.hub is None:
            return self.local.inspect(model_id, revision)
        try:
            return self.hub.inspect(model_id, revision)
        except HubUnreachableError as exc:
            # A local model whose folder is gone reaches here too (the id is not local any more): the folder's
            # absence is the fact to lead with, not a Hub outage that waiting would cure.
            raise InspectionError(
                f"There is no local model `{model_id}`: the folder {self.local.models_dir / model_id} does not "
                f"exist. Put the model's folder there (transformers format); if it is a Hub model instead, try "
                f"again in a few minutes: the Hugging Face Hub could not be reached to look it up ({exc.cause}). "
                "Nothing was submitted."
            ) from exc
        except InspectionError as exc:
            raise InspectionError(
                f"{exc} (`{model_id}` is not in the local models folder either: {self.local.models_dir}.)"
            ) from exc
