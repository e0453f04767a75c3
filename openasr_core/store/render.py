"""Both repos' files for a whole board at once, as the store would have written them one request at a time
(the benchmarks and tests seed a Hub stand-in with these)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from openasr_core.audits import latest_audits
from openasr_core.records import AuditRecord, LogEntry, Request, Result
from openasr_core.store.repo_files import results_files
from openasr_core.store.requests_repo import EMPTY, requests_files


def render_repos(
    requests: Iterable[Request], results: Iterable[Result], log: Sequence[LogEntry], audits: Iterable[AuditRecord] = ()
) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """The requests repo's files and the results repo's files (records, table with each entry's latest audit,
    pins; no card, no predictions, no audit records)."""
    request_files, _ = requests_files(EMPTY, list(requests), list(log), None, "seed")
    latest = latest_audits(audits)
    written = results_files({}, [(r, {}) for r in results], None, dict, audits_of=lambda _names: latest)
    return request_files, written.files
