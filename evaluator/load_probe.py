"""Was the machine busy with other work while a run was timed? (R13: such an audit is inconclusive, never failed.)

`LoadProbe` brackets each timed `transcribe` call (the runner calls `enter()` before starting its timer and
`exit()` after stopping it, so the probe itself is never timed). It reads, through injectable readers:

- the process's CPU time and the wall time of the call: a run that got less than `busy_min_cpu_share` of the
  CPU threads it could use (torch's threads on a CPU, one host thread on a GPU) was waiting for cores that
  other work held;
- the 1-minute load average after the call: more runnable threads than cores by `busy_max_load_excess`
  means others competed (it lags by about a minute, so it catches work that ran through the run, and the share
  catches work that started with it);
- on a GPU, through NVML when it can be read: other processes on the device, and the SM clock against its
  maximum (throttled or shared devices run slower).

The readers are injectable so tests state the load of a run instead of creating it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from openasr_core.config import AuditConfig
from openasr_core.records import LoadSummary

#: The SM clock below this fraction of its maximum during a run means the device was throttled or shared.
MIN_GPU_CLOCK_RATIO = 0.75


@dataclass(frozen=True)
class GpuSample:
    """One NVML reading of the device: processes of others on it, SM clock now and at most."""

    other_processes: int
    sm_clock_mhz: float
    max_sm_clock_mhz: float


@dataclass(frozen=True)
class BusyRule:
    """When a run counts as busy (`[audit]` busy_min_cpu_share, busy_max_load_excess)."""

    min_cpu_share: float
    max_load_excess: float

    @classmethod
    def of(cls, audit: AuditConfig) -> BusyRule:
        """The board's rule, the same for a published evaluation and an audit's re-run."""
        return cls(audit.busy_min_cpu_share, audit.busy_max_load_excess)


def _load_1min() -> float:
    return os.getloadavg()[0]


def _torch_threads() -> float:
    import torch

    return float(torch.get_num_threads())


class LoadProbe:
    """Accumulates CPU time, wall time, load and GPU readings over the timed calls of one run."""

    def __init__(
        self,
        *,
        on_gpu: bool = False,
        cpu_time: Callable[[], float] = time.process_time,
        wall: Callable[[], float] = time.perf_counter,
        load: Callable[[], float] = _load_1min,
        threads: Callable[[], float] = _torch_threads,
        cpu_count: int | None = None,
        gpu: Callable[[], GpuSample | None] | None = None,
    ) -> None:
        self.on_gpu = on_gpu
        self._cpu_time, self._wall, self._load, self._threads, self._gpu = cpu_time, wall, load, threads, gpu
        self.cpu_count = cpu_count or os.cpu_count() or 1
        self.calls = 0
        self.cpu_s = self.wall_s = self.load_sum = 0.0
        self.gpu_others: int | None = None
        self.gpu_clock_ratio: float | None = None
        self._started: tuple[float, float] | None = None

    def enter(self) -> None:
        """Just before a timed call starts."""
        self._started = (self._cpu_time(), self._wall())

    def exit(self) -> None:
        """Just after a timed call ended."""
        if self._started is None:
            return
        cpu, wall = self._started
        self.cpu_s += self._cpu_time() - cpu
        self.wall_s += self._wall() - wall
        self.load_sum += self._load()
        self.calls += 1
        self._started = None
        sample = self._gpu() if self._gpu is not None else None
        if sample is not None:
            self.gpu_others = max(self.gpu_others or 0, sample.other_processes)
            ratio = sample.sm_clock_mhz / sample.max_sm_clock_mhz if sample.max_sm_clock_mhz else 1.0
            self.gpu_clock_ratio = min(self.gpu_clock_ratio if self.gpu_clock_ratio is not None else 1.0, ratio)

    def summary(self, rule: BusyRule) -> LoadSummary:
        """What the run's timed calls saw, and whether that makes the run busy (and why)."""
        threads = 1.0 if self.on_gpu else max(1.0, min(self._threads(), float(self.cpu_count)))
        share = self.cpu_s / (self.wall_s * threads) if self.wall_s > 0 else 1.0
        load = self.load_sum / self.calls if self.calls else 0.0
        summary = LoadSummary(
            calls=self.calls,
            cpu_share=round(share, 4),
            threads=threads,
            load_1min=round(load, 3),
            cpu_count=self.cpu_count,
            gpu_other_processes=self.gpu_others,
            gpu_clock_ratio=None if self.gpu_clock_ratio is None else round(self.gpu_clock_ratio, 4),
        )
        return LoadSummary(**{**summary.__dict__, "busy": busy_reason(summary, rule)})


def busy_reason(summary: LoadSummary, rule: BusyRule) -> str:
    """Why this run does not count for speed ("" when it does): every sign of other work that it shows."""
    reasons = []
    if summary.calls and summary.cpu_share < rule.min_cpu_share:
        reasons.append(
            f"the process got {summary.cpu_share:.0%} of its {summary.threads:g} CPU thread(s) during the timed "
            f"calls (under {rule.min_cpu_share:.0%})"
        )
    if summary.load_1min > summary.cpu_count + rule.max_load_excess:
        reasons.append(f"the 1-minute load average was {summary.load_1min:.2f} on {summary.cpu_count} core(s)")
    if summary.gpu_other_processes:
        reasons.append(f"{summary.gpu_other_processes} other process(es) used the GPU")
    if summary.gpu_clock_ratio is not None and summary.gpu_clock_ratio < MIN_GPU_CLOCK_RATIO:
        reasons.append(f"the GPU's SM clock fell to {summary.gpu_clock_ratio:.0%} of its maximum")
    return "; ".join(reasons)


def new_probe(on_gpu: bool) -> LoadProbe:
    """The real probe: this process's CPU time, the wall clock, the load average, and NVML on a GPU."""
    return LoadProbe(on_gpu=on_gpu, gpu=nvml_reader() if on_gpu else None)


def nvml_reader(device_index: int = 0) -> Callable[[], GpuSample | None] | None:
    """A reader of the device's processes and clocks through NVML, or None when NVML cannot be read (no
    `pynvml`, no driver): then only the CPU signals are judged, and the summary says nothing of the GPU."""
    try:
        import pynvml  # type: ignore[import-not-found]

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(device_index)
        max_clock = float(pynvml.nvmlDeviceGetMaxClockInfo(handle, pynvml.NVML_CLOCK_SM))
    except Exception:
        return None
    me = os.getpid()

    def read() -> GpuSample | None:
        try:
            others = [p for p in pynvml.nvmlDeviceGetComputeProcesses(handle) if p.pid != me]
            clock = float(pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM))
        except Exception:
            return None
        return GpuSample(len(others), clock, max_clock)

    return read
