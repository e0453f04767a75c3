"""R1 before any work: a worker on a board that names a GPU class refuses to evaluate where it cannot see one.

Results from another GPU class are stored as unofficial (R1), so a worker that would only produce such results
(a Space or Job on the wrong hardware, or a torch build that cannot reach the GPU, e.g. a CUDA 13 wheel under
an older NVIDIA driver) should not claim requests at all. `check_device` logs what torch reports (once per
process) and says why not in one line; the Space's scheduler logs that line once and shows it on the Queue page,
and `require_device` raises it for a worker that is about to claim.

What torch reports is a `DeviceProbe`, read once per process by `probe_device()`; the decision
(`device_problem`) is pure, so every case is tested without a GPU by handing in a probe. A GPU's class is named
exactly as results are judged (`evaluator.fingerprint.gpu_class_of` and `class_matches`): "NVIDIA A10G" is A10G.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from evaluator.fingerprint import class_matches, driver_version, gpu_class_of
from openasr_core.config import ANY_GPU_CLASS, LeaderboardConfig

logger = logging.getLogger(__name__)

#: The oldest NVIDIA driver each CUDA major version runs on (NVIDIA's CUDA compatibility table; CUDA 12 through
#: its minor-version compatibility). A CUDA build of torch under an older driver sees no device.
MIN_DRIVER_FOR_CUDA = {"13": 580, "12": 525, "11": 450}

#: The probe lines already logged by this process (each is logged once).
_logged: set[str] = set()


class WrongDevice(RuntimeError):
    """This process cannot evaluate for the board: its message is the one-line reason."""


@dataclass(frozen=True)
class DeviceProbe:
    """What this process's torch reports about CUDA (and nvidia-smi about the driver)."""

    torch_version: str
    torch_cuda: str | None  # torch.version.cuda: the CUDA this torch was built for; None for a CPU-only build
    cuda_available: bool  # torch.cuda.is_available()
    device_name: str | None = None  # torch.cuda.get_device_name(0) when CUDA is available
    driver: str | None = None  # the driver nvidia-smi reports; None without nvidia-smi

    def describe(self) -> str:
        """One log line: torch, the CUDA it was built for, whether CUDA is available, the device and driver."""
        return (
            f"torch {self.torch_version}, built for CUDA {self.torch_cuda or 'none (CPU-only build)'}, "
            f"CUDA available: {self.cuda_available}, device: {self.device_name or 'none'}, "
            f"NVIDIA driver: {self.driver or 'not found'}"
        )


@functools.cache
def probe_device() -> DeviceProbe:
    """Ask torch (device 0, the one `--device auto` uses) and nvidia-smi; once per process."""
    import torch

    available = torch.cuda.is_available()
    return DeviceProbe(
        torch_version=torch.__version__,
        torch_cuda=torch.version.cuda,
        cuda_available=available,
        device_name=torch.cuda.get_device_name(0) if available else None,
        driver=driver_version(),
    )


def _driver_hint(probe: DeviceProbe) -> str:
    """Why a CUDA build of torch may see no device: the driver it found against the one that CUDA needs."""
    cuda_major = (probe.torch_cuda or "").split(".")[0]
    needed = MIN_DRIVER_FOR_CUDA.get(cuda_major)
    need = f"CUDA {cuda_major} needs NVIDIA driver >= {needed}" if needed else f"CUDA {probe.torch_cuda} needs a driver"
    if probe.driver is None:
        found = "no NVIDIA driver was found (nvidia-smi is missing)"
    else:
        found = f"the driver is {probe.driver}"
        major = probe.driver.split(".")[0]
        if needed and major.isdigit() and int(major) < needed:
            found += ", too old"
    return f"{need}; {found}; see docs/deploy.md, Space setup, 'GPU driver'"


def device_problem(gpu_class: str, probe: DeviceProbe) -> str | None:
    """None when this process can produce official results for a board on `gpu_class` (or "any"); else the one
    line that says why not: no CUDA at all (with the driver hint), or a GPU of another class (naming both)."""
    if gpu_class.lower() == ANY_GPU_CLASS:
        return None
    if probe.torch_cuda is None:
        return (
            f"the board's results are official only on {gpu_class}, and torch {probe.torch_version} is a CPU-only "
            "build; install the CUDA build that requirements.txt pins"
        )
    if not probe.cuda_available or not probe.device_name:
        return (
            f"the board's results are official only on {gpu_class}, and torch {probe.torch_version} "
            f"(CUDA {probe.torch_cuda}) sees no CUDA device: {_driver_hint(probe)}"
        )
    found = gpu_class_of(probe.device_name)
    if class_matches(found, gpu_class):
        return None
    return (
        f"the board's results are official only on {gpu_class}, and this machine's GPU is {probe.device_name} "
        f"(class {found}); run it on {gpu_class} hardware"
    )


def check_device(config: LeaderboardConfig, probe: DeviceProbe | None = None) -> str | None:
    """`device_problem` for this process and `config`'s GPU class, after logging what torch reports (once per
    process). The caller says what it does about a problem: the Space's scheduler logs it once and stops
    claiming, `require_device` raises it. `probe` is for tests; by default torch is asked (once)."""
    probe = probe_device() if probe is None else probe
    line = f"device check: {probe.describe()}"
    if line not in _logged:
        _logged.add(line)
        logger.info(line)
    return device_problem(config.rules.gpu_class, probe)


def require_device(config: LeaderboardConfig, probe: DeviceProbe | None = None) -> None:
    """What a worker calls before claiming: raises `WrongDevice` (its message: the one line) when this process
    cannot produce official results for `config`'s board, so nothing is claimed; returns None when it can."""
    problem = check_device(config, probe)
    if problem is not None:
        raise WrongDevice(f"this worker cannot evaluate: {problem}")
