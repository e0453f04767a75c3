"""The contract between the Jobs dispatcher and the evaluator running inside a Job: which flavor it runs on
and the listed price the dispatcher looked up, passed as plain environment variables, and the `Compute`
record the evaluator writes into its result from them (GPU seconds, cost at that price, price date).

Why environment variables: the Job runs the Space's own image with `python -m evaluator run-once`; the
dispatcher is the one that knows the flavor it asked for and the price list it read, so it hands both over
when it starts the Job. They are not secrets (the token and signing key travel as Job secrets instead).

Jobs are billed per minute, every started minute in full (Hub docs, "Jobs: Pricing and Billing"), so a Job's
cost is its seconds rounded up to whole minutes times the listed price (`job_cost_usd`), here and in the
dispatcher's 7-day cost.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from openasr_core.records import Compute, Result

FLAVOR_ENV = "LEADERBOARD_JOB_FLAVOR"
PRICE_ENV = "LEADERBOARD_PRICE_USD_PER_MINUTE"
PRICE_DATE_ENV = "LEADERBOARD_PRICE_DATE"
REQUEST_ENV = "LEADERBOARD_REQUEST_ID"


@dataclass(frozen=True)
class JobContext:
    """What a Job was told by the dispatcher; `flavor` None means the evaluation runs in the Space itself."""

    flavor: str | None = None
    price_usd_per_minute: float | None = None
    price_date: str | None = None

    def environment(self, request_id: str) -> dict[str, str]:
        """The variables the dispatcher sets on the Job it starts for `request_id`."""
        env = {REQUEST_ENV: request_id}
        if self.flavor:
            env[FLAVOR_ENV] = self.flavor
        if self.price_usd_per_minute is not None:
            env[PRICE_ENV] = repr(self.price_usd_per_minute)
        if self.price_date:
            env[PRICE_DATE_ENV] = self.price_date
        return env


def job_context(env: Mapping[str, str]) -> JobContext:
    """Read the dispatcher's variables; a malformed price names the variable instead of guessing a cost."""
    raw_price = env.get(PRICE_ENV, "").strip()
    price: float | None = None
    if raw_price:
        try:
            price = float(raw_price)
        except ValueError:
            raise ValueError(f"{PRICE_ENV}={raw_price!r} is not a price in USD per minute, e.g. 0.0167") from None
        if price < 0:
            raise ValueError(f"{PRICE_ENV}={raw_price!r} must not be negative")
    return JobContext(
        flavor=env.get(FLAVOR_ENV, "").strip() or None,
        price_usd_per_minute=price,
        price_date=env.get(PRICE_DATE_ENV, "").strip() or None,
    )


def billed_minutes(seconds: float) -> int:
    """Jobs bill per started minute: `seconds` (to the millisecond, as records keep them) rounded up to whole
    minutes; 0 s is 0 minutes."""
    return max(0, math.ceil(round(seconds, 3) / 60.0))


def job_cost_usd(seconds: float, usd_per_minute: float) -> float:
    """What a Job that ran `seconds` is billed at `usd_per_minute`: every started minute, in full."""
    return billed_minutes(seconds) * usd_per_minute


def compute_record(context: JobContext, gpu_seconds: float) -> Compute:
    """GPU seconds and their cost at the listed per-minute price. In a Job (a flavor is set) the seconds are
    billed as Jobs bill them, per started minute (`billed_minutes` records how many); on the Space's own GPU
    (no flavor) a known price is applied pro rata, per second."""
    seconds = round(gpu_seconds, 3)
    minutes = billed_minutes(seconds) if context.flavor is not None else None
    cost = None
    if context.price_usd_per_minute is not None:
        billed = minutes if minutes is not None else seconds / 60.0
        cost = round(billed * context.price_usd_per_minute, 6)
    return Compute(
        flavor=context.flavor,
        gpu_seconds=seconds,
        price_usd_per_minute=context.price_usd_per_minute,
        price_date=context.price_date,
        cost_usd=cost,
        billed_minutes=minutes,
    )


def with_compute(result: Result, compute: Compute, board_flavor: str | None) -> Result:
    """The result with its compute record; R1: a result from a Job on another flavor than the board's is
    unofficial, whatever GPU it reports (the flavor fixes the rest of the machine too)."""
    official = result.official
    if compute.flavor is not None and board_flavor is not None and compute.flavor != board_flavor:
        official = False
    return result.replace(compute=compute, official=official)
