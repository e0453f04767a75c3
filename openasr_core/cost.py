"""What transcribing audio costs on the board's hardware, in US dollars per 1,000 hours of audio (R14).

Units: the price is USD per hour of the machine (wall clock). RTF is machine seconds per audio second, so
machine hours per audio hour = RTF, and 1,000 audio hours cost `price x RTF x 1000` USD. The throughput
track reports RTFx (audio seconds per machine second) instead, so the same figure is `price / RTFx x 1000`.
Both are exact arithmetic on the recorded numbers, no rounding; a display rounds them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from openasr_core.config import HardwarePrice
from openasr_core.records import Result, ThroughputResult

AUDIO_HOURS = 1000.0
_SECONDS_PER_UNIT = {"second": 1.0, "minute": 60.0, "hour": 3600.0}


def batch_one_cost(usd_per_hour: float, rtf: float) -> float:
    """USD per 1,000 audio hours at batch size one: price x RTF x 1000 (an infinite RTF costs `inf`)."""
    _check_price(usd_per_hour)
    if rtf < 0 or math.isnan(rtf):
        raise ValueError(f"RTF must be a number >= 0, got {rtf}")
    return usd_per_hour * rtf * AUDIO_HOURS


def throughput_cost(usd_per_hour: float, rtfx: float) -> float:
    """USD per 1,000 audio hours on the throughput track: price / RTFx x 1000 (RTFx 0 costs `inf`)."""
    _check_price(usd_per_hour)
    if rtfx < 0 or math.isnan(rtfx):
        raise ValueError(f"RTFx must be a number >= 0, got {rtfx}")
    if rtfx == 0:
        return math.inf
    return usd_per_hour / rtfx * AUDIO_HOURS


def recorded_price(rules: dict[str, Any]) -> HardwarePrice | None:
    """The price a result recorded with its rules, or None for a result from before prices were recorded.

    Costs are always computed from the price *recorded in the result*, never from today's config, so a
    changed price cannot rewrite a published figure.
    """
    value = rules.get("hardware_price")
    if not isinstance(value, dict):
        return None
    return HardwarePrice(usd_per_hour=float(value["usd_per_hour"]), source=value["source"], date=value["date"])


def cost_of_batch_one(result: Result) -> float | None:
    """USD per 1,000 audio hours of a batch-one result, from the price it recorded; None if it recorded none."""
    price = recorded_price(result.rules)
    return None if price is None else batch_one_cost(price.usd_per_hour, result.aggregate.rtf)


def cost_of_throughput(result: ThroughputResult) -> float | None:
    """USD per 1,000 audio hours of a throughput record, from the price it recorded; None if it recorded none."""
    price = recorded_price(result.rules)
    return None if price is None else throughput_cost(price.usd_per_hour, result.aggregate.rtfx)


def price_from_jobs_hardware(hardware: Iterable[Any], name: str, date: str) -> HardwarePrice:
    """The hourly price of Jobs flavor `name` from `HfApi().list_jobs_hardware()` (cost per minute, usually).

    Pass the list the Hub returned; this keeps the network call at the edge and the conversion testable.
    """
    for item in hardware:
        if item.name != name:
            continue
        unit = str(item.unit_label).lower()
        if unit not in _SECONDS_PER_UNIT:
            raise ValueError(f"Jobs hardware {name} is priced per {item.unit_label!r}; expected second, minute or hour")
        per_hour = float(item.unit_cost_usd) * 3600.0 / _SECONDS_PER_UNIT[unit]
        source = f"Hugging Face Jobs hardware list, {name}: {item.unit_cost_usd} USD per {unit}"
        return HardwarePrice(usd_per_hour=per_hour, source=source, date=date)
    raise ValueError(f"no Jobs hardware named {name!r}; list_jobs_hardware() offers other flavors")


def _check_price(usd_per_hour: float) -> None:
    if usd_per_hour < 0 or math.isnan(usd_per_hour) or math.isinf(usd_per_hour):
        raise ValueError(f"the hardware price must be a finite number >= 0 USD per hour, got {usd_per_hour}")
