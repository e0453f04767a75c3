"""`python app.py` as a real process on a free loopback port: what the browser test and the benches serve.

One way to start it (a clean environment: no Space or Hub repo settings inherited, the Hub said offline), to
wait for its first HTTP 200 (failing at once, with the log's tail, if it exits) and to stop it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
#: What `python` runs by default: the checkout's app.
APP_COMMAND = ("app.py",)
#: Settings of the machine that would make the app talk to a Space or the Hub instead of its local store.
INHERITED_SETTINGS = ("SPACE_ID", "REQUESTS_REPO", "RESULTS_REPO", "LEADERBOARD_CONFIG")


class AppDidNotStart(RuntimeError):
    """`python app.py` exited, or did not answer in time; the message ends with its log's tail."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(
    settings: Mapping[str, str],
    log: Path,
    *,
    repo: Path = REPO_ROOT,
    startup_timeout_s: float = 90.0,
    poll_s: float = 0.3,
    command: Sequence[str] = APP_COMMAND,
) -> Iterator[str]:
    """`python app.py` of checkout `repo` with `settings` on top of this environment, its output in `log`;
    yields its URL once it answers, and stops it on exit. `command`: what `python` runs, e.g.
    `("-m", "testkit.gated_app")`, the app with its background work held at a gate."""
    started = app_process(settings, log, repo=repo, startup_timeout_s=startup_timeout_s, poll_s=poll_s, command=command)
    with started as (_process, url):
        yield url


@contextlib.contextmanager
def app_process(
    settings: Mapping[str, str],
    log: Path,
    *,
    repo: Path = REPO_ROOT,
    startup_timeout_s: float = 90.0,
    poll_s: float = 0.3,
    command: Sequence[str] = APP_COMMAND,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """As `running_app`, yielding the process too (to signal it and read its exit status); it is stopped on
    exit if it still runs."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in INHERITED_SETTINGS}
    env.update(
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        GRADIO_ANALYTICS_ENABLED="False",
        HF_HUB_OFFLINE="1",  # the Hub is not reachable here; say so at once instead of timing out
        PYTHONUNBUFFERED="1",
        **settings,
    )
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, *command], cwd=repo, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for_http(url, process, log, startup_timeout_s, poll_s)
        yield process, url
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _wait_for_http(url: str, process: subprocess.Popen, log: Path, timeout_s: float, poll_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AppDidNotStart(f"python app.py exited with {process.returncode}:\n{log_tail(log)}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as response:
            if response.status == 200:
                return
        time.sleep(poll_s)
    raise AppDidNotStart(f"python app.py did not answer within {timeout_s:g} s:\n{log_tail(log)}")


def log_tail(log: Path, chars: int = 4000) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-chars:]
