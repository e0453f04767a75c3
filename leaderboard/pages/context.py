"""What every page needs from `app.py`, and the small decisions about who is using the page."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from leaderboard.data import BoardSource
from leaderboard.inspection import ModelInspector
from leaderboard.jobs.status import DispatchStatus
from leaderboard.scheduler import SchedulerStatus
from openasr_core.activity import Work
from openasr_core.config import ANY_GPU_CLASS, LeaderboardConfig
from openasr_core.store import Store


@dataclass(frozen=True)
class AppContext:
    """Everything the pages need, built once by `app.py`."""

    config: LeaderboardConfig
    store: Store
    source: BoardSource
    inspector: ModelInspector
    scheduler_status: Callable[[], SchedulerStatus]
    wake_scheduler: Callable[[], None] = lambda: None
    space: bool = False
    login_button: bool = False
    results_location: str = ""
    requests_location: str = ""
    public_key: str | None = None
    has_gpu: bool | None = None  # None: look at this machine (`machine_has_gpu`)
    dispatch_status: Callable[[], DispatchStatus] | None = None  # jobs mode: the dispatcher's; None in space mode
    current_work: Callable[[], Work | None] = lambda: (
        None
    )  # what the Space's scheduler runs now (openasr_core.activity)


def on_space(env: os._Environ[str] | dict[str, str] | None = None) -> bool:
    """Running as a Hugging Face Space (where login is real and required)."""
    env = os.environ if env is None else env
    return bool(env.get("SPACE_ID"))


def show_login_button(env: os._Environ[str] | dict[str, str] | None = None) -> bool:
    """On a Space, always. Locally only when asked (`LEADERBOARD_LOCAL_LOGIN=1`): gradio's local mock of the
    login needs a Hugging Face token and asks the Hub who it belongs to at startup, which fails offline."""
    env = os.environ if env is None else env
    return on_space(env) or env.get("LEADERBOARD_LOCAL_LOGIN", "").strip().lower() in ("1", "true", "yes")


def resolve_submitter(username: str | None, space: bool, local_user: str) -> str | None:
    """Who submits: the logged-in user; locally, without a login, the configured local user; on a Space,
    nobody (the form then asks to log in)."""
    if username:
        return username
    return None if space else local_user


def machine_has_gpu() -> bool:
    """An NVIDIA GPU on this machine, seen without importing torch (the pages start without it)."""
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def default_precision(config: LeaderboardConfig, has_gpu: bool | None = None) -> str:
    """The form's default precision follows the board's hardware: float16 on a GPU board, float32 where the
    evaluations run on a CPU (float16 is the slow choice there), as the CLI's `--precision` default."""
    if config.rules.gpu_class != ANY_GPU_CLASS:
        return "float16"  # the official board measures on its fixed GPU class
    gpu = machine_has_gpu() if has_gpu is None else has_gpu
    return "float16" if gpu else "float32"
