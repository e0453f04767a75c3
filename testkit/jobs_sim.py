"""What runs inside each emulated Job, against a real store but without a model: `run-once --request-id`'s
store protocol (claim exactly that request or exit cleanly, hold the lease while running, publish a result
with its compute record on success, publish nothing when the Job dies), and `audit --scheduled`'s (record
one audit of the named entry, or of the first finished one for a random pick, when the Job completes), on
the emulator's simulated clock.

The published results and audits are synthetic test records (tests/leaderboard/factories.make_result,
tests/openasr_core/test_audit_records.make_audit), never shown as measurements; they exist so the store's
exactly-once rules can be checked end to end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from leaderboard.jobs.jobs_api import request_id_of
from leaderboard.jobs.plan import AUDIT
from openasr_core.compute import compute_record, job_context, with_compute
from openasr_core.config import Rules
from openasr_core.records import Request, parse_time
from openasr_core.store import LeaseLost, Store
from testkit.factories import make_audit, make_result
from testkit.jobs_emulator import EmulatedJob, JobScript, Outcome, iso


class JobWorkers:
    """The evaluator side of every emulated Job: `script` for the emulator, `on_end`, and `heartbeat()`."""

    def __init__(
        self,
        store: Store,
        rules: Rules,
        board_flavor: str,
        duration_s: Callable[[Request], float],
        fate: Callable[[Request, int], Outcome] = lambda _request, _attempt: "COMPLETED",
        audit_fate: Callable[[str], Outcome] = lambda _request_id: "COMPLETED",
        audit_s: float = 1800.0,
        version: str = "v1",
    ) -> None:
        self.store, self.rules, self.board_flavor = store, rules, board_flavor
        self.duration_s, self.fate = duration_s, fate
        self.audit_fate, self.audit_s, self.version = audit_fate, audit_s, version
        self.auditing: dict[str, str] = {}  # job id -> the entry it audits ("" for a random pick)
        self.audited: Counter[str] = Counter()  # entry -> audits recorded
        self.requests: dict[str, Request] = {}  # request id -> as last claimed
        self.held: dict[str, str] = {}  # job id -> request id, while the Job holds the request's lease
        self.finished: Counter[str] = Counter()
        self.claims: Counter[str] = Counter()
        self.exits_clean: Counter[str] = Counter()
        self.evaluated: dict[str, tuple[datetime, datetime]] = {}  # request id -> the run that finished it
        self.expires: dict[str, datetime] = {}  # job id -> when its lease runs out unless renewed
        self.orphaned: dict[str, datetime] = {}  # request id -> when the lease of its dead Job runs out

    def script(self, job: EmulatedJob) -> JobScript:
        request_id = request_id_of(job.spec["command"]) or ""
        if job.labels.get("kind") == AUDIT:
            self.auditing[job.id] = request_id
            return JobScript(run_s=self.audit_s, outcome=self.audit_fate(request_id), log_lines=("auditing",))
        claimed = self.store.claim(f"job-{job.id}", self.rules.lease_s, self.rules.max_attempts, request_id=request_id)
        if claimed is None:
            self.exits_clean[request_id] += 1
            return JobScript(run_s=5.0, log_lines=(f"{request_id} is not PENDING: nothing to do",))
        self.held[job.id] = request_id
        self.requests[request_id] = claimed
        if claimed.lease is not None:
            self.expires[job.id] = parse_time(claimed.lease.expires_at)
        self.claims[request_id] += 1
        outcome = self.fate(claimed, claimed.attempts)
        run_s = self.duration_s(claimed) * (1.0 if outcome == "COMPLETED" else 0.5)  # a crash comes half-way
        return JobScript(run_s=run_s, outcome=outcome, log_lines=(f"claimed {request_id}",))

    def on_end(self, job: EmulatedJob) -> None:
        if job.id in self.auditing:
            self._end_audit(job, self.auditing.pop(job.id))
            return
        request_id = self.held.pop(job.id, None)
        expires = self.expires.pop(job.id, None)
        if request_id is None or job.stage != "COMPLETED" or job.started_at is None or job.finished_at is None:
            if request_id is not None and expires is not None:
                self.orphaned[request_id] = expires  # the Job died: its lease runs out, the store returns it
            return
        request = self.requests[request_id]
        seconds = (job.finished_at - job.started_at).total_seconds()
        compute = compute_record(job_context(job.spec.get("environment") or {}), seconds)
        started, ended = iso(job.started_at), iso(job.finished_at)
        result = make_result(request_id, request.model_id, started_at=started, finished_at=ended, version=self.version)
        try:
            self.store.finish(request_id, f"job-{job.id}", with_compute(result, compute, self.board_flavor), {})
            self.finished[request_id] += 1
            self.evaluated[request_id] = (job.started_at, job.finished_at)
        except LeaseLost:
            pass

    def _end_audit(self, job: EmulatedJob, request_id: str) -> None:
        """A completed audit Job records its audit (of the first finished entry when it was a random pick)."""
        if job.stage != "COMPLETED" or job.started_at is None or job.finished_at is None:
            return
        snapshot = self.store.snapshot()
        entry = request_id or min(r.request_id for r in snapshot.finished_results())
        request = snapshot.requests[entry]
        record = make_audit(
            audit_id=f"audit-{job.id}",
            request_id=entry,
            model_id=request.model_id,
            revision=request.revision,
            started_at=iso(job.started_at),
            finished_at=iso(job.finished_at),
            duration_s=(job.finished_at - job.started_at).total_seconds(),
            selection="requested" if request_id else "random",
            seed=None if request_id else 1,
            leaderboard_version=self.version,
        )
        self.store.record_audit(record, actor=f"audit:job-{job.id}")
        self.audited[entry] += 1

    def next_event(self, now: datetime, renew_margin: timedelta) -> datetime | None:
        """The next moment a lease needs renewing or a dead Job's lease runs out (for event-driven loops)."""
        self.orphaned = {rid: at for rid, at in self.orphaned.items() if at > now - renew_margin}
        times = [at - renew_margin for at in self.expires.values()] + list(self.orphaned.values())
        return min(times, default=None)

    def heartbeat(self, running: set[str], renew_within: datetime | None = None) -> None:
        """Renew the lease of every Job still running (`running`: ids of the emulator's live Jobs); with
        `renew_within`, only leases that would run out before that moment (fewer writes in long simulations)."""
        for job_id, request_id in list(self.held.items()):
            if job_id not in running:
                continue
            if renew_within is not None and self.expires.get(job_id, renew_within) > renew_within:
                continue
            try:
                renewed = self.store.heartbeat(request_id, f"job-{job_id}", self.rules.lease_s)
            except LeaseLost:
                self.held.pop(job_id, None)
                continue
            if renewed.lease is not None:
                self.expires[job_id] = parse_time(renewed.lease.expires_at)
