"""The dispatcher's pure decisions: timeouts from the duration model, the 7-day GPU window, limits, holds."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from leaderboard.jobs.plan import (
    AUDIT,
    JobView,
    Launch,
    expected_duration_s,
    gpu_seconds,
    job_timeout_s,
    plan_audit_job,
    plan_tick,
)
from openasr_core.config import AuditConfig, WorkersConfig
from openasr_core.records import ModelInfo, Status
from tests.openasr_core.store_contract import make_request

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
WORKERS = WorkersConfig(mode="jobs", space_id="o/s", max_parallel_jobs=2, max_gpu_hours_per_week=10.0)


def _request(n: int, parameters: int = 74_000_000, status: Status = Status.PENDING):
    model = ModelInfo(license="mit", parameters=parameters, architecture="Whisper")
    return make_request(n, model=model, status=status)


def _job(request_id: str, stage: str = "RUNNING", started_h: float = 1.0, ended_h: float | None = None, **kw):
    started = NOW - timedelta(hours=started_h)
    finished = NOW - timedelta(hours=ended_h) if ended_h is not None else None
    return JobView(f"job-{request_id}-{stage}", request_id, stage, started, started, finished, **kw)


def test_duration_model_and_timeout_grow_with_model_size() -> None:
    small, large = _request(1, 39_000_000), _request(2, 1_550_000_000)
    # 600 s load + 40 h of audio at RTF 0.02 + 0.12 per billion parameters
    assert expected_duration_s(small, WORKERS) == pytest.approx(600 + 40 * 3600 * (0.02 + 0.12 * 0.039))
    assert job_timeout_s(large, WORKERS) == int(3 * expected_duration_s(large, WORKERS))
    assert job_timeout_s(small, WorkersConfig(min_timeout_s=99_999.0)) == 99_999


def test_gpu_seconds_count_only_the_last_seven_days() -> None:
    jobs = [_job("a", "COMPLETED", started_h=24 * 7 + 1, ended_h=24 * 7 - 1), _job("b", started_h=2)]
    assert gpu_seconds(jobs, NOW) == pytest.approx(3600 + 2 * 3600)


def test_plan_starts_oldest_uncovered_within_the_limit_and_cancels_overdue() -> None:
    requests = {r.request_id: r for r in (_request(1), _request(2), _request(3), _request(4))}
    jobs = [_job("req-0001", timeout_s=1800.0), _job("req-0002", timeout_s=7200.0)]
    plan = plan_tick(NOW, requests, jobs, WORKERS, max_jobs_per_request=6)
    assert [job.request_id for job in plan.cancel] == ["req-0001"]
    # The overdue Job is cancelled, so it no longer covers its request: a still-PENDING request gets a new one.
    assert [launch.request_id for launch in plan.start] == ["req-0001"]
    assert {job.request_id for job in plan.live} == {"req-0002"}


def test_plan_holds_when_the_budget_is_spent_or_a_request_had_too_many_jobs() -> None:
    requests = {r.request_id: r for r in (_request(1), _request(2))}
    ended = [_job("req-0001", "ERROR", started_h=3 - i * 0.1, ended_h=2.9 - i * 0.1) for i in range(2)]
    ended = [dataclasses.replace(job, job_id=f"job-{i}") for i, job in enumerate(ended)]
    plan = plan_tick(NOW, requests, ended, WORKERS, max_jobs_per_request=2)
    assert [launch.request_id for launch in plan.start] == ["req-0002"] and "2 Jobs ended" in plan.held["req-0001"]
    spent = [_job("req-0009", "COMPLETED", started_h=20, ended_h=9)]
    plan = plan_tick(NOW, requests, spent, WORKERS, max_jobs_per_request=6)
    assert plan.budget.spent and not plan.start and plan.held["req-0002"] == "the weekly GPU budget is spent"


def test_status_text_names_held_requests_and_the_about_page_states_the_budget() -> None:
    from leaderboard.jobs.status import DispatchStatus, budget_sentence, jobs_markdown

    status = DispatchStatus(
        "a10g-small",
        4,
        300.0,
        gpu_hours_7d=12.5,
        cost_usd_7d=12.5,
        held={"req-1": "6 Jobs ended <b>x</b>"},
        checked_at=NOW,
    )
    text = jobs_markdown(status)
    assert "**12.50 GPU hours**, $12.50" in text and "price not listed" in text and "Running Jobs: 0." in text
    assert "held: request `req-1`" in text and "<b>" not in text and "budget is spent" not in text
    assert jobs_markdown(None) == ""
    assert "300 GPU hours per 7 days" in budget_sentence(WorkersConfig(mode="jobs", max_gpu_hours_per_week=300))
    assert "Space's own GPU" in budget_sentence(WorkersConfig())


def test_job_lines_escape_what_the_hub_reports() -> None:
    from leaderboard.jobs.status import DispatchStatus, JobRow, jobs_markdown, safe_link

    hostile = JobRow("j<1>", "req`x", "org/<img src=x>", "RUNNING*", 90.0, 3600.0, "https://hf.co/jobs/o/j1) [x](y")
    bad_scheme = JobRow("j2", "req-2", "org/m", "RUNNING", 5.0, None, "javascript:alert(1)")
    status = DispatchStatus("a10g-small", 2, 300.0, running=(hostile, bad_scheme), checked_at=NOW)
    text = jobs_markdown(status)
    assert "org/&lt;img src=x&gt;" in text and "<img" not in text and "running&#42;" in text  # shown, not parsed
    assert "[Job j&lt;1&gt; and its logs](https://hf.co/jobs/o/j1%29%20%5Bx%5D%28y)" in text
    assert "(request `req'x`)" in text and "javascript:" not in text and "Job j2 (no link to its logs)" in text
    assert safe_link("https://huggingface.co/jobs/org/abc?x=1#l") == "https://huggingface.co/jobs/org/abc?x=1#l"


def test_an_audit_job_takes_a_slot_but_never_covers_or_counts_against_a_request() -> None:
    requests = {r.request_id: r for r in (_request(1), _request(2), _request(3))}
    audits = [_job("req-0001", kind=AUDIT), _job("req-0001", "ERROR", started_h=3, ended_h=2.5, kind=AUDIT)]
    audits[1] = dataclasses.replace(audits[1], job_id="job-ended-audit")
    plan = plan_tick(NOW, requests, audits, WORKERS, max_jobs_per_request=1)
    assert [launch.request_id for launch in plan.start] == ["req-0001"] and not plan.held
    finished = {"req-0001": _request(1, status=Status.FINISHED)}
    plan = plan_tick(NOW, finished, [], WORKERS, max_jobs_per_request=6)
    policy = AuditConfig(every_n_evaluations=0)
    decide = dict(entries=1, workers=WORKERS, policy=policy, max_jobs_per_request=6, seed=5)
    due = plan_audit_job(NOW, finished, [], [], plan=plan, **decide)
    assert due.launch == Launch("", job_timeout_s(finished["req-0001"], WORKERS), kind=AUDIT, seed=5)
    assert plan_audit_job(NOW, finished, audits[:1], [], plan=plan, **decide).reason == "an audit Job is running"
    no_slot = dataclasses.replace(WORKERS, max_parallel_jobs=0)
    assert (
        "slots are taken" in plan_audit_job(NOW, finished, [], [], plan=plan, **{**decide, "workers": no_slot}).reason
    )
