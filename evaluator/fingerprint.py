"""Hardware and software fingerprints (R1, R12), and the rule that decides whether a result is official."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib import metadata

import torch

from openasr_core.config import ANY_GPU_CLASS
from openasr_core.records import Hardware

EVALUATOR_VERSION = "0.1.0"
SOFTWARE_PACKAGES = ("torch", "transformers", "jiwer", "whisper-normalizer", "soundfile", "soxr", "numpy", "datasets")


def gpu_class_of(gpu_name: str | None) -> str:
    """The class a GPU name belongs to: "NVIDIA A10G" -> "A10G", "NVIDIA H100 80GB HBM3" -> "H100"; no GPU -> "CPU"."""
    if not gpu_name:
        return "CPU"
    words = [w for w in re.split(r"[\s-]+", gpu_name) if w and w.upper() not in {"NVIDIA", "GEFORCE", "TESLA", "AMD"}]
    return words[0].upper() if words else gpu_name


def class_matches(gpu_class: str, required_class: str) -> bool:
    """R1's one comparison: `gpu_class` (as `gpu_class_of` names it) is the configured class, or that is "any"."""
    return required_class.lower() == ANY_GPU_CLASS or gpu_class.upper() == required_class.upper()


def is_official(hardware: Hardware, required_class: str) -> bool:
    """R1: official only on the configured GPU class ("any" accepts whatever this machine is)."""
    return class_matches(hardware.gpu_class, required_class)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def driver_version() -> str | None:
    """The NVIDIA driver's version as `nvidia-smi` reports it; None where there is no nvidia-smi or it fails."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip().splitlines()[0] or None
    except (OSError, subprocess.SubprocessError, IndexError):
        return None


def hardware_fingerprint(device: torch.device) -> Hardware:
    common = {"cpu": _cpu_name(), "cpu_count": os.cpu_count() or 0, "platform": platform.platform()}
    if device.type != "cuda":
        return Hardware(device="cpu", gpu_class="CPU", **common)
    props = torch.cuda.get_device_properties(device)
    return Hardware(
        device=str(device),
        gpu_class=gpu_class_of(props.name),
        gpu_name=props.name,
        gpu_memory_bytes=int(props.total_memory),
        driver_version=driver_version(),
        cuda_version=torch.version.cuda,
        **common,
    )


def software_fingerprint() -> dict[str, str]:
    versions = {"python": platform.python_version(), "evaluator": EVALUATOR_VERSION}
    for package in SOFTWARE_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    if torch.backends.cudnn.is_available():
        versions["cudnn"] = str(torch.backends.cudnn.version())
    return versions
