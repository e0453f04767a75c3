"""What an evaluation costs: a Job's seconds are billed per started minute, the Space's own GPU per second, and
records written before the rounding read, serialize and verify exactly as they were signed."""

from __future__ import annotations

import json

import pytest

from openasr_core.compute import JobContext, billed_minutes, compute_record, job_cost_usd
from openasr_core.records import Compute, Result
from openasr_core.signing import generate_keypair, sign_result, verify_result
from tests.openasr_core.store_contract import make_request, make_result

PRICE = 0.016667  # a10g-small, USD per minute


@pytest.mark.parametrize(
    ("seconds", "minutes"), [(0.0, 0), (0.4, 1), (59.999, 1), (60.0, 1), (60.0004, 1), (60.001, 2), (1801.5, 31)]
)
def test_a_job_is_billed_every_started_minute(seconds: float, minutes: int) -> None:
    assert billed_minutes(seconds) == minutes
    assert job_cost_usd(seconds, PRICE) == pytest.approx(minutes * PRICE)


def test_a_job_s_compute_record_rounds_its_seconds_up_to_minutes() -> None:
    compute = compute_record(JobContext("a10g-small", PRICE, "2026-11-27"), 1801.25)
    assert compute.gpu_seconds == 1801.25 and compute.billed_minutes == 31
    assert compute.cost_usd == pytest.approx(31 * PRICE, abs=1e-6)
    unpriced = compute_record(JobContext("a10g-small"), 61.0)
    assert unpriced.billed_minutes == 2 and unpriced.cost_usd is None


def test_the_space_s_own_gpu_stays_per_second() -> None:
    compute = compute_record(JobContext(None, PRICE, "2026-11-27"), 90.0)
    assert compute.billed_minutes is None and compute.cost_usd == pytest.approx(1.5 * PRICE, abs=1e-6)
    assert "billed_minutes" not in compute.to_dict()


def test_a_record_from_before_the_rounding_reads_and_verifies_as_signed() -> None:
    private, public = generate_keypair()
    old = Compute(flavor="a10g-small", gpu_seconds=90.0, price_usd_per_minute=PRICE, cost_usd=round(1.5 * PRICE, 6))
    signed = sign_result(make_result(make_request(1)).replace(compute=old), private)
    stored = json.loads(signed.to_json())
    assert "billed_minutes" not in stored["compute"], "an old record's bytes do not change"
    read = Result.from_dict(stored)
    assert read.compute is not None and read.compute.billed_minutes is None
    assert read.to_dict() == stored and verify_result(read, public)


def test_a_new_job_record_carries_billed_minutes_under_its_signature() -> None:
    private, public = generate_keypair()
    compute = compute_record(JobContext("a10g-small", PRICE, "2026-11-27"), 61.0)
    signed = sign_result(make_result(make_request(1)).replace(compute=compute), private)
    read = Result.from_json(signed.to_json())
    assert read.compute is not None and read.compute.billed_minutes == 2 and verify_result(read, public)
    tampered = read.replace(compute=Compute(**{**read.compute.to_dict(), "billed_minutes": 1}))
    assert not verify_result(tampered, public)
