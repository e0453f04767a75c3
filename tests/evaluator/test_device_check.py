"""R1 before claiming: a worker that cannot see the board's GPU class refuses to evaluate, in one line.

Every case is decided from an injected probe (what torch would report), so none needs a GPU.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from evaluator import device_check
from evaluator.cli import main as cli_main
from evaluator.device_check import DeviceProbe, WrongDevice, check_device, device_problem, require_device
from evaluator.fingerprint import gpu_class_of, is_official
from openasr_core.config import load_config
from openasr_core.records import Hardware

A10G = DeviceProbe(torch_version="2.13.0", torch_cuda="13.0", cuda_available=True, device_name="NVIDIA A10G")
H100 = dataclasses.replace(A10G, device_name="NVIDIA H100 80GB HBM3", driver="580.65.06")
NO_CUDA = DeviceProbe(torch_version="2.13.0", torch_cuda="13.0", cuda_available=False, driver="550.54.15")
NO_DRIVER = dataclasses.replace(NO_CUDA, driver=None)
CPU_BUILD = DeviceProbe(torch_version="2.13.0+cpu", torch_cuda=None, cuda_available=False)


@pytest.fixture
def official_board():
    return load_config(Path("configs/esb-v1.toml"), env={})


@pytest.fixture(autouse=True)
def fresh_log_memory(monkeypatch):
    monkeypatch.setattr(device_check, "_logged", set())


@pytest.mark.parametrize("probe", [A10G, H100, NO_CUDA, NO_DRIVER, CPU_BUILD])
def test_a_board_of_any_hardware_accepts_every_device(probe: DeviceProbe) -> None:
    assert device_problem("any", probe) is None
    assert device_problem("ANY", probe) is None


def test_an_a10g_is_the_a10g_class_as_results_are_judged() -> None:
    assert device_problem("A10G", A10G) is None
    assert device_problem("a10g", A10G) is None
    hardware = Hardware(device="cuda:0", gpu_class=gpu_class_of("NVIDIA A10G"), cpu="x", cpu_count=4, platform="p")
    assert is_official(hardware, "A10G"), "the check and the official rule name the class the same way"


def test_another_gpu_names_both_classes() -> None:
    problem = device_problem("A10G", H100)
    assert problem is not None
    assert "official only on A10G" in problem and "NVIDIA H100 80GB HBM3 (class H100)" in problem


def test_no_cuda_device_says_so_with_the_driver_it_needs_and_the_one_it_found() -> None:
    problem = device_problem("A10G", NO_CUDA)
    assert problem is not None
    assert "sees no CUDA device" in problem and "CUDA 13 needs NVIDIA driver >= 580" in problem
    assert "the driver is 550.54.15, too old" in problem and "GPU driver" in problem
    missing = device_problem("A10G", NO_DRIVER)
    assert missing is not None and "no NVIDIA driver was found (nvidia-smi is missing)" in missing


def test_a_cpu_only_torch_build_is_named() -> None:
    problem = device_problem("A10G", CPU_BUILD)
    assert problem is not None and "torch 2.13.0+cpu is a CPU-only build" in problem


def test_check_device_logs_what_torch_reports_once(official_board, caplog) -> None:
    caplog.set_level(logging.INFO, logger="evaluator.device_check")
    assert check_device(official_board, A10G) is None
    assert check_device(official_board, A10G) is None
    lines = [r.getMessage() for r in caplog.records if r.name == "evaluator.device_check"]
    assert lines == [
        "device check: torch 2.13.0, built for CUDA 13.0, CUDA available: True, device: NVIDIA A10G, "
        "NVIDIA driver: not found"
    ]


def test_require_device_is_the_one_line_a_worker_calls_before_claiming(official_board) -> None:
    assert require_device(official_board, A10G) is None
    with pytest.raises(WrongDevice, match=r"^this worker cannot evaluate: .*class H100"):
        require_device(official_board, H100)
    local = load_config(Path("configs/local.toml"), env={})
    assert require_device(local, CPU_BUILD) is None, "the embedded board runs anywhere"


def test_the_cli_prints_a_wrong_device_as_one_line(official_board, monkeypatch, capsys) -> None:
    """A Job on the wrong hardware exits 2 with the line, as for any error that is the maintainer's to fix."""

    def run_once(*_args: object, **_kwargs: object) -> None:
        require_device(official_board, NO_CUDA)

    monkeypatch.setattr("evaluator.job.run_once", run_once)
    monkeypatch.setattr("evaluator.cli.open_store", lambda _config: None)
    assert cli_main(["run-once", "--config", "configs/esb-v1.toml"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: this worker cannot evaluate: ") and "sees no CUDA device" in err
    assert len(err.strip().splitlines()) == 1
