"""`python -m core.store.migrate`: move a store written in layout 1 to layout 2 (see `core.layout`).

Layout 1 kept one file per request (`requests/<id>.json`), one log file (`log.jsonl`) and unsharded
`results/<id>.json`, `predictions/<id>/<set>.jsonl`: every read cost one request per file on the Hub, and the
folders stopped working at the Hub's 10,000 entries. The migration reads the old files once, writes the new
ones (records and closed shards, `state.json`, log chunks, sharded results and predictions) and deletes the old
ones: on the Hub one commit per repo (results first), locally file by file. It refuses a store that is not in
layout 1, and changes no record (the signatures and the log's hash chain stay valid).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core import layout
from core.dataset_card import TABLE_FILE
from core.records import LogEntry, Request, Result, read_jsonl
from core.store.repo_files import render_repos


@dataclass(frozen=True)
class Migration:
    """What to write to and delete from each repo."""

    requests_files: dict[str, bytes]
    results_files: dict[str, bytes]
    requests_deleted: list[str]
    results_deleted: list[str]


def plan(requests_repo: Mapping[str, bytes], results_repo: Mapping[str, bytes]) -> Migration:
    """The migration of two repos given as {path: content} in layout 1."""
    if layout.LEGACY_LOG_FILE not in requests_repo or layout.STATE_FILE in requests_repo:
        raise ValueError(
            f"the requests repo is not in layout 1 (no {layout.LEGACY_LOG_FILE}, or {layout.STATE_FILE} exists)"
        )
    requests = [
        Request.from_json(data)
        for path, data in sorted(requests_repo.items())
        if PurePosixPath(path).parent.as_posix() == layout.LEGACY_REQUESTS_DIR and path.endswith(".json")
    ]
    log = read_jsonl(LogEntry, requests_repo[layout.LEGACY_LOG_FILE].decode("utf-8"))
    legacy_results = {
        path: Result.from_json(data)
        for path, data in sorted(results_repo.items())
        if PurePosixPath(path).parent.as_posix() == layout.RESULTS_DIR and path.endswith(".json")
    }
    new_requests, new_results = render_repos(requests, legacy_results.values(), log)
    new_results.pop(TABLE_FILE)  # the table keeps its rows; only its `result_file` column moves below
    moved: list[str] = []
    for path, data in results_repo.items():
        parts = PurePosixPath(path).parts
        if len(parts) == 3 and parts[0] == layout.PREDICTIONS_DIR:
            new_results[layout.predictions_path(parts[1], PurePosixPath(parts[2]).stem)] = data
            moved.append(path)
    if TABLE_FILE in results_repo:
        table = results_repo[TABLE_FILE].decode("utf-8")
        for result in legacy_results.values():
            table = table.replace(layout.legacy_result_path(result.request_id), layout.result_path(result.request_id))
        new_results[TABLE_FILE] = table.encode("utf-8")
    return Migration(
        requests_files=new_requests,
        results_files=new_results,
        requests_deleted=[
            layout.LEGACY_LOG_FILE,
            *(p for p in requests_repo if p.startswith(f"{layout.LEGACY_REQUESTS_DIR}/")),
        ],
        results_deleted=[*legacy_results, *moved],
    )


def _read_folder(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def migrate_local(root: Path) -> Migration:
    """Migrate a local store folder (`<root>/requests`, `<root>/results`) in place."""
    from core.files import atomic_write
    from core.store.local import REQUESTS_REPO_DIR, RESULTS_REPO_DIR

    requests_root, results_root = root / REQUESTS_REPO_DIR, root / RESULTS_REPO_DIR
    migration = plan(_read_folder(requests_root), _read_folder(results_root))
    for folder, files in ((results_root, migration.results_files), (requests_root, migration.requests_files)):
        for path, data in files.items():
            atomic_write(folder / path, data)
    for folder, deleted in ((results_root, migration.results_deleted), (requests_root, migration.requests_deleted)):
        for path in deleted:
            (folder / path).unlink(missing_ok=True)
    return migration


def migrate_hub(api: object, requests_repo: str, results_repo: str) -> Migration:
    """Migrate the two Hub dataset repos: one commit on the results repo, then one on the requests repo."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    def read(repo_id: str) -> tuple[str, dict[str, bytes]]:
        head = api.dataset_info(repo_id).sha  # type: ignore[attr-defined]
        files = {}
        for entry in api.list_repo_tree(repo_id, repo_type="dataset", revision=head, recursive=True):  # type: ignore[attr-defined]
            if getattr(entry, "size", None) is not None and not entry.path.startswith("."):
                local = api.hf_hub_download(repo_id, entry.path, repo_type="dataset", revision=head)  # type: ignore[attr-defined]
                files[entry.path] = Path(local).read_bytes()
        return head, files

    requests_head, requests_files = read(requests_repo)
    results_head, results_files = read(results_repo)
    migration = plan(requests_files, results_files)
    for repo_id, head, files, deleted in (
        (results_repo, results_head, migration.results_files, migration.results_deleted),
        (requests_repo, requests_head, migration.requests_files, migration.requests_deleted),
    ):
        operations = [CommitOperationDelete(path_in_repo=p) for p in deleted if p not in files]
        operations += [CommitOperationAdd(path_in_repo=p, path_or_fileobj=d) for p, d in files.items()]
        api.create_commit(  # type: ignore[attr-defined]
            repo_id, operations, commit_message="Move to store layout 2", repo_type="dataset", parent_commit=head
        )
    return migration


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.store.migrate", description=__doc__.splitlines()[0])
    parser.add_argument("--local", help="a local store folder (default: the configured store)")
    args = parser.parse_args(argv)
    from core.config import load_config

    try:
        if args.local:
            migration = migrate_local(Path(args.local))
        else:
            config = load_config()
            if config.store.kind == "hub":
                import os

                from huggingface_hub import HfApi

                api = HfApi(token=os.environ.get("HF_TOKEN") or None)
                migration = migrate_hub(api, config.store.requests_repo, config.store.results_repo)  # type: ignore[arg-type]
            else:
                migration = migrate_local(Path(config.store.local_root))
    except ValueError as exc:
        print(f"not migrated: {exc}", file=sys.stderr)
        return 2
    print(
        f"migrated: wrote {len(migration.requests_files)} + {len(migration.results_files)} files, "
        f"removed {len(migration.requests_deleted)} + {len(migration.results_deleted)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
