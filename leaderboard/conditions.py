"""Under which conditions a result's RTF was measured (issue 25, item 7): the hardware class and how busy the
machine was during the timed calls (`Result.load`, recorded by the same probe as an audit's re-runs).

Two RTFs compare only when they were measured under the same conditions: an fp16 RTF of 0.19 beside an fp32 RTF
of 2.39 for one model on one CPU said "13× faster" when the fp32 run had shared the machine with other work. So
the board groups its rows by `conditions_label` and says so when the rows it shows mix conditions, and the detail page says
what the probe saw. Pure functions over the record; nothing here is measured.
"""

from __future__ import annotations

from collections.abc import Sequence

from openasr_core.records import LoadSummary, Result

QUIET = "quiet"
BUSY = "busy"
NOT_RECORDED = "load not recorded"


def load_state(load: LoadSummary | None) -> str:
    """`quiet`, `busy`, or `load not recorded` (results from before the evaluator recorded it)."""
    if load is None:
        return NOT_RECORDED
    return BUSY if load.busy else QUIET


def conditions_label(result: Result) -> str:
    """The short conditions of a result, e.g. `A10G · quiet` or `CPU · busy`: rows with equal labels compare."""
    return f"{result.hardware.gpu_class} · {load_state(result.load)}"


def conditions_sentence(result: Result) -> str:
    """What the detail page says of the timed calls' conditions, with the probe's figures."""
    load = result.load
    if load is None:
        return "Not recorded (this result is from before the evaluator recorded the machine's load)."
    figures = (
        f"the process got {load.cpu_share:.0%} of its {load.threads:g} CPU thread(s); 1-minute load average "
        f"{load.load_1min:.2f} on {load.cpu_count} core(s)"
    )
    if load.gpu_other_processes is not None:
        figures += f"; {load.gpu_other_processes} other process(es) on the GPU"
    if load.gpu_clock_ratio is not None:
        figures += f"; lowest SM clock {load.gpu_clock_ratio:.0%} of its maximum"
    if load.busy:
        return f"⚠️ Busy: {load.busy}. Its RTF may be slower than the model is ({figures})."
    return f"Quiet ({figures})."


def mixed_conditions_note(labels: Sequence[str]) -> str:
    """A warning when the rows shown were measured under more than one set of conditions ("" when not)."""
    distinct = sorted(set(labels))
    if len(distinct) < 2:
        return ""
    return (
        f"⚠️ these rows' RTFs were measured under different conditions ({'; '.join(distinct)}): a speed "
        "difference between them may come from the machine, not the model"
    )
