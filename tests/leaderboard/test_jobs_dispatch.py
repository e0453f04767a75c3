"""The jobs-mode dispatcher against the Jobs emulator, through the real `HfApi` over HTTP, with a real
LocalStore: Jobs that start, run, fail, time out and vanish; a Space restart among running Jobs; the budget."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import HfApi

from leaderboard.jobs.dispatcher import Dispatcher, job_spec
from leaderboard.jobs.jobs_api import HubJobs, JobRequestSpec
from leaderboard.jobs.plan import JobView
from leaderboard.jobs.status import jobs_markdown
from openasr_core.audits import open_audit_requests
from openasr_core.config import LeaderboardConfig, StoreConfig, WorkersConfig, load_config
from openasr_core.records import ModelInfo, Status
from openasr_core.store import LocalStore
from testkit.hub_emulator import HubEmulator
from testkit.jobs_emulator import JobsEmulator, SimClock
from testkit.jobs_sim import JobWorkers
from tests.openasr_core.store_contract import make_request

TOKEN = "hf_jobs_test_token"
SIGNING_KEY = "signing-key-secret-value-0123456789"
NAMESPACE = "leaderboard-org"
SPEC = JobRequestSpec(
    image="hf.co/spaces/leaderboard-org/asr",
    command=("python", "-m", "evaluator", "run-once", "--config", "configs/esb-v1.toml"),
    audit_command=("python", "-m", "evaluator", "audit", "--scheduled", "--config", "configs/esb-v1.toml"),
    flavor="a10g-small",
    env={"REQUESTS_REPO": "leaderboard-org/requests", "RESULTS_REPO": "leaderboard-org/results"},
    secrets={"HF_TOKEN": TOKEN, "RESULTS_SIGNING_KEY": SIGNING_KEY},
    labels={"app": "asr-leaderboard", "leaderboard": "esb-v1"},
)


@dataclass
class Rig:
    clock: SimClock
    store: LocalStore
    emulator: JobsEmulator
    workers: JobWorkers
    dispatcher: Dispatcher
    config: LeaderboardConfig

    def new_dispatcher(self) -> Dispatcher:
        """What a restarted Space builds: a fresh client and dispatcher that know nothing of earlier ticks."""
        hub = HubJobs(HfApi(token=TOKEN), NAMESPACE, SPEC, self.clock)
        return Dispatcher(self.config, self.store, hub, clock=self.clock, secrets=[TOKEN, SIGNING_KEY])

    def step(self, seconds: float = 0.0) -> str:
        """Move the clock (by less than a lease: workers renew theirs every step), let the Jobs act, tick."""
        self.clock.advance(seconds)
        self.emulator.refresh()
        self.workers.heartbeat({job.id for job in self.emulator.active()})
        return self.dispatcher.tick()

    def status_of(self, request_id: str) -> Status:
        return self.store.snapshot().requests[request_id].status


def _config(**workers: object):
    base = load_config(Path("configs/esb-v1.toml"), env={})
    rules = dataclasses.replace(base.rules, lease_s=900.0, max_attempts=3)
    settings = {"mode": "jobs", "space_id": "leaderboard-org/asr", "max_parallel_jobs": 2, **workers}
    return dataclasses.replace(base, rules=rules, workers=WorkersConfig(**settings))


def _rig(
    tmp_path: Path,
    durations: dict[str, float],
    fates: dict[tuple[str, int], str] | None = None,
    audit_fate: str = "COMPLETED",
    audit: dict[str, Any] | None = None,
    **workers,
):
    clock = SimClock(datetime(2026, 11, 27, 10, 0, tzinfo=UTC))
    config = _config(**workers)
    config = dataclasses.replace(config, audit=dataclasses.replace(config.audit, **(audit or {})))
    store = LocalStore(tmp_path / "store", clock=clock)
    sim = JobWorkers(
        store,
        config.rules,
        config.workers.flavor,
        duration_s=lambda r: durations.get(r.request_id, 3600.0),
        fate=lambda r, attempt: (fates or {}).get((r.request_id, attempt), "COMPLETED"),
        audit_fate=lambda _request_id: audit_fate,  # type: ignore[arg-type, return-value]
        version=config.version,
    )
    emulator = JobsEmulator(clock, tokens={TOKEN: NAMESPACE}, script=sim.script, on_end=sim.on_end, scheduling_s=60)
    rig = Rig(clock, store, emulator, sim, None, config)  # type: ignore[arg-type]
    rig.dispatcher = rig.new_dispatcher()
    return rig


@pytest.fixture
def make_rig(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    """Build a rig whose emulator answers every `huggingface_hub` call and whose clock the store reads; the
    emulator is removed after the test (the previous client factory comes back)."""
    with ExitStack() as stack:

        def build(*args: Any, **kwargs: Any) -> Rig:
            rig = _rig(tmp_path, *args, **kwargs)
            hub = HubEmulator()
            hub.mount(rig.emulator.handle)  # one emulator serves the Hub's repo routes and the Jobs API
            stack.enter_context(hub.installed())
            return rig

        yield build


def _submit(rig: Rig, n: int, parameters: int = 74_000_000) -> str:
    info = ModelInfo(license="mit", parameters=parameters, architecture="WhisperForConditionalGeneration")
    return rig.store.submit(make_request(n, model=info)).request_id


def _jobs(rig: Rig) -> list:
    return sorted(rig.emulator.jobs.values(), key=lambda job: job.id)


def test_starts_one_labelled_job_per_pending_request_up_to_the_limit(make_rig) -> None:
    rig = make_rig({})
    ids = [_submit(rig, n, parameters=p) for n, p in ((1, 74_000_000), (2, 1_550_000_000), (3, 39_000_000))]
    outcome = rig.step()
    jobs = _jobs(rig)
    assert [job.spec["command"][-1] for job in jobs] == ids[:2] and "2 started" in outcome
    first = jobs[0].spec
    assert first["spaceId"] == "leaderboard-org/asr" and first["flavor"] == "a10g-small"
    assert first["command"][:4] == ["python", "-m", "evaluator", "run-once"]
    assert first["labels"]["app"] == "asr-leaderboard" and first["labels"]["leaderboard"] == "esb-v1"
    assert first["labels"]["request"] == "req-0001" and first["labels"]["timeout_s"] == str(first["timeoutSeconds"])
    # The timeout follows the expected duration: the 1.55 B model gets a longer one than the 74 M model.
    assert jobs[1].spec["timeoutSeconds"] > first["timeoutSeconds"] >= 3600
    assert first["secrets"] == {"HF_TOKEN": TOKEN, "RESULTS_SIGNING_KEY": SIGNING_KEY}
    assert TOKEN not in str(first["environment"]) and SIGNING_KEY not in str(first["labels"])
    assert first["environment"]["LEADERBOARD_JOB_FLAVOR"] == "a10g-small"
    assert float(first["environment"]["LEADERBOARD_PRICE_USD_PER_MINUTE"]) == pytest.approx(0.016667)
    rig.step(30)
    assert len(rig.emulator.jobs) == 2, "a request with a live Job never gets a second one"


def test_a_job_that_completes_finishes_its_request_with_cost_and_the_next_one_starts(make_rig) -> None:
    rig = make_rig({"req-0001": 1800.0})
    _submit(rig, 1), _submit(rig, 2), _submit(rig, 3)
    rig.step()
    rig.step(60)  # both Jobs are running and have claimed their requests
    assert rig.status_of("req-0001") is Status.RUNNING
    rig.step(1800)
    assert rig.status_of("req-0001") is Status.FINISHED
    result = rig.store.snapshot().results["req-0001"]
    assert result.compute.flavor == "a10g-small" and result.compute.gpu_seconds == pytest.approx(1800.0)
    assert result.compute.cost_usd == pytest.approx(1800 / 60 * 0.016667, rel=1e-4)
    assert result.compute.price_date == "2026-11-27" and result.official
    assert [job.spec["command"][-1] for job in _jobs(rig)] == ["req-0001", "req-0002", "req-0003"]


def test_job_costs_count_every_started_minute(make_rig) -> None:
    """Jobs bill per started minute: the result's cost and the Queue's 7-day cost round each Job up."""
    rig = make_rig({"req-0001": 1830.0})
    _submit(rig, 1)
    rig.step()
    rig.step(60)
    rig.step(1830)
    result = rig.store.snapshot().results["req-0001"]
    assert result.compute.gpu_seconds == pytest.approx(1830.0) and result.compute.billed_minutes == 31
    assert result.compute.cost_usd == pytest.approx(31 * 0.016667, abs=1e-6)
    now = rig.clock.now
    jobs = [
        JobView("a", "req-a", "COMPLETED", now, started_at=now - timedelta(seconds=61), finished_at=now),
        JobView("b", "req-b", "RUNNING", now, started_at=now - timedelta(seconds=1)),
    ]
    assert rig.dispatcher._cost_7d(jobs, now) == pytest.approx(3 * 0.016667, abs=0.01)  # 2 minutes + 1 started


@pytest.mark.parametrize("fate", ["ERROR", "VANISH"])
def test_a_job_that_fails_or_vanishes_leaves_its_request_to_lease_expiry_then_a_new_job(make_rig, fate) -> None:
    rig = make_rig({"req-0001": 600.0}, fates={("req-0001", 1): fate})
    _submit(rig, 1)
    rig.step()
    rig.step(60)
    rig.step(600)  # the Job died after claiming; the request is still RUNNING under its lease
    assert rig.status_of("req-0001") is Status.RUNNING and len(rig.emulator.jobs) == (1 if fate == "ERROR" else 0)
    assert "0 started" in rig.step(200)  # still within the 900 s lease taken at t=60 s
    rig.step(900)  # the lease ran out: the dispatcher's expiry returns it to PENDING and starts a new Job
    request = rig.store.snapshot().requests["req-0001"]
    assert request.status is Status.PENDING and request.attempts == 1
    assert sum(job.spec["command"][-1] == "req-0001" for job in rig.emulator.jobs.values()) == (
        2 if fate == "ERROR" else 1
    )
    rig.step(60)
    rig.step(600)
    assert rig.status_of("req-0001") is Status.FINISHED and rig.workers.finished["req-0001"] == 1


def test_the_hub_timeout_ends_a_hung_job_and_a_job_stuck_waiting_is_cancelled(make_rig) -> None:
    rig = make_rig({"req-0001": 10 * 24 * 3600.0}, min_timeout_s=3600.0, timeout_factor=1.0)
    _submit(rig, 1, parameters=39_000_000)
    rig.step()
    (job,) = _jobs(rig)
    rig.step(60 + job.spec["timeoutSeconds"])
    assert job.stage == "ERROR" and "timeout" in (job.message or "").lower()
    # A Job that never gets hardware is cancelled by the dispatcher once past its timeout.
    rig.emulator.scheduling_s = 10 * 24 * 3600.0
    rig.step(900)  # the lease of the timed-out Job ran out: the request is PENDING again, a new Job waits
    waiting = [j for j in _jobs(rig) if j.stage == "SCHEDULING"]
    assert len(waiting) == 1
    outcome = rig.step(waiting[0].spec["timeoutSeconds"] + 1)
    assert waiting[0].stage == "CANCELED" and "cancelled past their timeout" in outcome


def test_a_space_restart_among_three_running_jobs_neither_loses_nor_duplicates_any(make_rig) -> None:
    rig = make_rig({f"req-000{n}": 3600.0 * n for n in (1, 2, 3)}, max_parallel_jobs=3)
    ids = [_submit(rig, n) for n in (1, 2, 3, 4)]
    rig.step()
    rig.step(60)
    assert [rig.status_of(i) for i in ids] == [Status.RUNNING] * 3 + [Status.PENDING]
    rig.dispatcher = rig.new_dispatcher()  # the Space restarted: nothing of the old dispatcher survives
    rig.step(60)
    assert len(rig.emulator.jobs) == 3, "the restarted Space adopted the running Jobs instead of duplicating them"
    assert {row.request_id for row in rig.dispatcher.status().running} == set(ids[:3])
    for _ in range(36):
        rig.step(600)
    assert [rig.status_of(i) for i in ids] == [Status.FINISHED] * 4
    assert all(rig.workers.finished[i] == 1 for i in ids) and all(rig.workers.claims[i] == 1 for i in ids)
    assert len(rig.emulator.jobs) == 4


def test_the_weekly_budget_holds_dispatch_and_the_queue_says_so(make_rig) -> None:
    rig = make_rig({"req-0001": 7200.0}, max_gpu_hours_per_week=1.5)
    _submit(rig, 1), _submit(rig, 2)
    rig.dispatcher.workers = dataclasses.replace(rig.config.workers, max_parallel_jobs=1)
    rig.step()
    rig.step(60 + 7200)
    assert rig.status_of("req-0001") is Status.FINISHED
    rig.step(60)
    status = rig.dispatcher.status()
    assert status.budget_spent and status.gpu_hours_7d == pytest.approx(2.0, abs=0.01)
    assert status.cost_usd_7d == pytest.approx(120 * 0.016667, abs=0.01)
    assert status.held["req-0002"] == "the weekly GPU budget is spent" and len(rig.emulator.jobs) == 1
    assert "weekly GPU budget is spent" in jobs_markdown(status)
    rig.step(7 * 24 * 3600)  # the first Job left the 7-day window
    assert len(rig.emulator.jobs) == 2 and not rig.dispatcher.status().budget_spent


def test_status_lists_running_jobs_with_log_links_escaped_and_no_secret_anywhere(make_rig, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    rig = make_rig({})
    rig.store.submit(make_request(1, model_id="org/my_model_v2"))
    rig.step()
    rig.step(120)
    (row,) = rig.dispatcher.status().running
    assert row.url.startswith("https://huggingface.co/jobs/leaderboard-org/") and row.stage == "RUNNING"
    text = jobs_markdown(rig.dispatcher.status())
    assert "org/my&#95;model&#95;v2" in text and row.url in text and "**0.02 GPU hours**, $0.02" in text
    for shown in (text, caplog.text, str(rig.dispatcher.status())):
        assert TOKEN not in shown and SIGNING_KEY not in shown


def test_when_the_jobs_cannot_be_listed_nothing_is_started(make_rig) -> None:
    rig = make_rig({})
    _submit(rig, 1)
    rig.emulator.tokens = {}  # the token was revoked
    outcome = rig.step()
    assert outcome.startswith("error: could not read the queue or the Jobs") and not rig.emulator.jobs
    assert TOKEN not in outcome and "401" in rig.dispatcher.status().error


def test_job_spec_takes_secrets_as_secrets_and_names_missing_settings() -> None:
    config = _config()
    hub_config = dataclasses.replace(
        config, store=StoreConfig(kind="hub", local_root=Path("x"), requests_repo="o/req", results_repo="o/res")
    )
    env = {"HF_TOKEN": TOKEN, "RESULTS_SIGNING_KEY": SIGNING_KEY, "REQUESTS_REPO": "o/req", "RESULTS_REPO": "o/res"}
    spec, secrets = job_spec(hub_config, env)
    assert spec.image == "hf.co/spaces/leaderboard-org/asr" and spec.secrets == {
        "HF_TOKEN": TOKEN,
        "RESULTS_SIGNING_KEY": SIGNING_KEY,
    }
    assert spec.command[-2:] == ("--config", "configs/esb-v1.toml") and set(secrets) == {TOKEN, SIGNING_KEY}
    assert TOKEN not in str(spec.env) + str(spec.labels)
    with pytest.raises(ValueError, match="HF_TOKEN"):
        job_spec(hub_config, {})
    with pytest.raises(ValueError, match="REQUESTS_REPO"):
        job_spec(config, env)


def test_the_full_job_history_is_read_when_a_job_ended_or_every_ten_minutes_not_every_tick(make_rig) -> None:
    rig = make_rig({"req-0001": 300.0, "req-0002": 5.0})
    _submit(rig, 1)

    def full_lists() -> int:
        lists = [url for method, url in rig.emulator.calls if method == "GET" and url.count("/") == 3]
        return sum("stage=" not in url for url in lists if "/hardware" not in url)

    rig.step()
    assert full_lists() == 1, "a fresh dispatcher reads the whole history once"
    for _ in range(4):
        rig.step(30)
    assert full_lists() == 1, "while nothing ends, only the live Jobs are listed"
    rig.step(300)  # req-0001's Job ended: the history is read again at once, and its GPU time counts
    assert full_lists() == 2 and rig.dispatcher.status().gpu_hours_7d == pytest.approx(300 / 3600, abs=1e-3)
    _submit(rig, 2)
    rig.step(30)  # a Job that ends between two ticks (never seen live) still triggers a full read
    rig.step(60)
    rig.step(30)
    assert full_lists() == 3 and rig.status_of("req-0002") is Status.FINISHED
    rig.step(600)
    assert full_lists() == 4, "and at least every ten minutes"


def _audit_jobs(rig: Rig) -> list:
    return [job for job in _jobs(rig) if job.labels.get("kind") == "audit"]


def _finish_one_evaluation(rig: Rig, n: int) -> str:
    request_id = _submit(rig, n)
    rig.step()
    rig.step(60)
    rig.step(600)
    assert rig.status_of(request_id) is Status.FINISHED
    return request_id


def test_a_requested_audit_runs_as_an_audit_job_once_no_evaluation_waits_or_runs(make_rig) -> None:
    rig = make_rig({"req-0001": 600.0, "req-0002": 600.0})
    _finish_one_evaluation(rig, 1)
    rig.store.request_audit("req-0001", actor="someone")
    _submit(rig, 2)
    rig.step()
    assert not _audit_jobs(rig) and rig.dispatcher.status().audits == "1 submission(s) waiting: evaluations go first"
    rig.step(60)
    assert not _audit_jobs(rig) and rig.dispatcher.status().audits == "an evaluation is running"
    outcome = rig.step(600)  # req-0002 finished: the queue is empty, the requested audit goes next
    (job,) = _audit_jobs(rig)
    assert job.spec["command"][:5] == ["python", "-m", "evaluator", "audit", "--scheduled"]
    assert job.spec["command"][-2:] == ["--request-id", "req-0001"] and job.labels["request"] == "req-0001"
    assert "an audit Job (audit of req-0001 requested by someone (attempt 1 of 3))" in outcome
    assert job.spec["secrets"] == {"HF_TOKEN": TOKEN, "RESULTS_SIGNING_KEY": SIGNING_KEY}
    rig.step(120)
    assert len(_audit_jobs(rig)) == 1 and rig.dispatcher.status().audits == "an audit Job is running"
    text = jobs_markdown(rig.dispatcher.status())
    assert "- audit of **org/model-1** (request `req-0001`): running" in text
    rig.step(1800)  # the audit Job completed and recorded its audit, which closes the request
    log = rig.store.snapshot().log
    assert rig.workers.audited["req-0001"] == 1 and log[-1].event in ("audit_passed", "audit_failed")
    rig.step(60)
    assert len(_audit_jobs(rig)) == 1 and "0 of 5 evaluations since the last audit" in str(rig.dispatcher.status())
    assert rig.dispatcher.status().gpu_hours_7d == pytest.approx((600 + 600 + 1800) / 3600, abs=0.01)


def test_a_requested_audit_whose_jobs_keep_failing_is_dropped_not_retried_for_ever(make_rig) -> None:
    rig = make_rig({"req-0001": 600.0}, audit_fate="ERROR")
    _finish_one_evaluation(rig, 1)
    rig.store.request_audit("req-0001", actor="someone")
    for _ in range(rig.dispatcher.max_jobs_per_request + 1):
        rig.step(1900)
    assert len(_audit_jobs(rig)) == rig.dispatcher.max_jobs_per_request == 6
    dropped = rig.store.snapshot().log[-1]
    assert dropped.event == "audit_dropped" and dropped.actor == "dispatcher" and dropped.detail["requested"]
    assert "6 audit Jobs ended without recording the audit" in dropped.detail["reason"]
    rig.step(1900)
    assert len(_audit_jobs(rig)) == 6 and not open_audit_requests(rig.store.snapshot().log)


def test_a_random_audit_job_starts_when_one_is_due_and_records_its_pick(make_rig) -> None:
    rig = make_rig({"req-0001": 600.0}, audit={"every_n_evaluations": 1})
    _finish_one_evaluation(rig, 1)
    rig.step()
    (job,) = _audit_jobs(rig)
    assert job.spec["command"][-2] == "--seed" and job.spec["command"][-1].isdigit() and "request" not in job.labels
    assert "- audit of an entry picked at random: scheduling" in jobs_markdown(rig.dispatcher.status())
    rig.step(60 + 1800)
    (record,) = rig.store.snapshot().published_audits()
    assert record.request_id == "req-0001" and record.selection == "random"


def test_random_audits_pause_after_failed_audit_jobs_and_resume_a_day_later(make_rig) -> None:
    rig = make_rig({"req-0001": 600.0}, audit={"every_n_evaluations": 1}, audit_fate="ERROR")
    _finish_one_evaluation(rig, 1)
    for _ in range(8):
        rig.step(1900)
    assert len(_audit_jobs(rig)) == 6
    assert rig.dispatcher.status().audits == "6 audit Jobs failed in the last 24 hours; see their logs"
    rig.step(24 * 3600)
    assert len(_audit_jobs(rig)) == 7


def test_build_app_in_jobs_mode_shows_the_running_jobs_on_the_queue_page(
    make_rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`build_app`'s jobs-mode wiring on the rig's local store and Jobs emulator. Only the dispatcher factory is
    replaced: the real `jobs_dispatcher` refuses a local store (it needs the Hub store and its emulator)."""
    import app as app_module

    rig = make_rig({})
    rig.store.submit(make_request(1, model_id="org/my_model_v2"))
    store = StoreConfig(kind="local", local_root=tmp_path / "store")
    config = dataclasses.replace(rig.config, store=store, models_dir=tmp_path / "models")
    monkeypatch.setattr(app_module, "jobs_dispatcher", lambda _config, _store, _env: rig.dispatcher)
    built = app_module.build_app(config, env={"LEADERBOARD_SCHEDULER": "on"})
    assert built.dispatcher is rig.dispatcher and built.scheduler is not None
    assert built.scheduler.step == rig.dispatcher.tick  # the Space dispatches instead of evaluating
    queue = built.ui.queue
    assert queue.jobs.visible and "has not checked the Jobs yet" in queue.render()[queue.jobs]
    rig.step()
    rig.step(120)
    (row,) = rig.dispatcher.status().running
    text = queue.render()[queue.jobs]
    assert "Running Jobs: 1:" in text and f"[Job {row.job_id} and its logs]({row.url})" in text
    assert "org/my&#95;model&#95;v2" in text and "weekly budget of 300 GPU hours" in text
    (about,) = [b for b in built.ui.demo.blocks.values() if getattr(b, "elem_id", None) == "about"]
    assert "Hugging Face Jobs (a10g-small), at most 2 at once" in about.value
