"""The Jobs emulator answers the real `HfApi` as the client expects: create, list by label and stage across
pages, inspect, logs, cancel, hardware prices, auth; secrets are never echoed; the client factory comes back."""

from __future__ import annotations

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import _http

from testkit.jobs_emulator import JobScript, JobsEmulator, SimClock, installed

TOKEN, NS = "hf_emulator_token", "org"


def _run(api: HfApi, label: str, **kwargs):
    return api.run_job(image="python:3.12", command=["python", "-c", "1"], labels={"k": label}, namespace=NS, **kwargs)


def test_jobs_run_end_and_are_listed_by_label_and_stage_across_pages() -> None:
    clock = SimClock()
    emulator = JobsEmulator(clock, tokens={TOKEN: NS}, script=lambda job: JobScript(run_s=100, log_lines=("hi",)))
    emulator.page_size = 2
    previous = _http._GLOBAL_CLIENT_FACTORY
    with installed(emulator):
        api = HfApi(token=TOKEN)
        first = _run(api, "a", secrets={"HF_TOKEN": "hf_secret_value"}, flavor="a10g-small", timeout=50)
        for _ in range(4):
            _run(api, "b")
        assert first.status.stage == "SCHEDULING" and first.secrets == {"HF_TOKEN": None}
        assert len(list(api.list_jobs(labels={"k": "b"}, namespace=NS))) == 4
        clock.advance(31)
        assert api.inspect_job(job_id=first.id, namespace=NS).status.stage == "RUNNING"
        clock.advance(60)  # past its 50 s timeout
        ended = api.inspect_job(job_id=first.id, namespace=NS)
        assert ended.status.stage == "ERROR" and "timeout" in ended.status.message
        logs = list(api.fetch_job_logs(job_id=first.id, namespace=NS))
        assert logs[0] == "hi" and logs[-1].startswith("===== Job error: Job timeout")
        clock.advance(100)
        assert len(list(api.list_jobs(status="COMPLETED", namespace=NS))) == 4
        assert "hf_secret_value" not in str(emulator.calls) + str(ended)
        (a10g,) = [h for h in api.list_jobs_hardware() if h.name == "a10g-small"]
        assert a10g.unit_label == "minute" and a10g.accelerator.model == "A10G"
    assert _http._GLOBAL_CLIENT_FACTORY is previous


def test_cancel_vanish_auth_and_bad_specs() -> None:
    clock = SimClock()
    emulator = JobsEmulator(clock, tokens={TOKEN: NS})
    with installed(emulator):
        api = HfApi(token=TOKEN)
        job = _run(api, "x")
        api.cancel_job(job_id=job.id, namespace=NS)
        assert api.inspect_job(job_id=job.id, namespace=NS).status.stage == "CANCELED"
        emulator.vanish(job.id)
        with pytest.raises(HfHubHTTPError, match="404"):
            api.inspect_job(job_id=job.id, namespace=NS)
        with pytest.raises(HfHubHTTPError, match="403"):
            api.list_jobs(namespace="someone-else").__next__()
        with pytest.raises(HfHubHTTPError, match="401"):
            HfApi(token="hf_wrong").list_jobs_hardware()
        with pytest.raises(HfHubHTTPError, match="keys and values are 1-100"):
            _run(api, "not/allowed")
        with pytest.raises(HfHubHTTPError, match="unknown flavor"):
            _run(api, "y", flavor="no-such-gpu")
