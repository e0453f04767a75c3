"""Shared fixtures: paths to the real material in ../shared (tests that need it skip when it is absent), the one
whisper-base run the slow tests read, tiny random models; and the order the tests start in under xdist."""

from __future__ import annotations

import atexit
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.fixtures.whisper_base_run import WhisperBaseRun

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
WHISPER_BASE = SHARED / "models" / "whisper-base"
LJSPEECH_32 = SHARED / "data" / "ljspeech-32"


@pytest.fixture(scope="session")
def whisper_base() -> Path:
    if not (WHISPER_BASE / "model.safetensors").is_file():
        pytest.skip("../shared/models/whisper-base is not present")
    return WHISPER_BASE


@pytest.fixture(scope="session")
def ljspeech_32() -> Path:
    if not (LJSPEECH_32 / "metadata.csv").is_file():
        pytest.skip("../shared/data/ljspeech-32 is not present")
    return LJSPEECH_32


#: The xdist group of the tests that read `whisper_base_run`: one worker runs them all, so the run is made once.
WHISPER_BASE_GROUP = "whisper-base"


@pytest.fixture(scope="session")
def whisper_base_run(whisper_base: Path, ljspeech_32: Path, tmp_path_factory: pytest.TempPathFactory) -> WhisperBaseRun:
    """whisper-base evaluated once on the 32 real clips and on a 40 s utterance of joined clips, for the slow
    tests that only read its result and predictions (`tests/fixtures/whisper_base_run.py`)."""
    from tests.fixtures.whisper_base_run import run_whisper_base

    return run_whisper_base(whisper_base, ljspeech_32, tmp_path_factory.mktemp("whisper-base-run"))


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Whisper folder, built once per test session."""
    from testkit.tiny_models import make_tiny_whisper

    return make_tiny_whisper(tmp_path_factory.mktemp("models") / "tiny-whisper")


@pytest.fixture(scope="session")
def tiny_ctc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Wav2Vec2ForCTC folder, built once per test session."""
    from testkit.tiny_models import make_tiny_ctc

    return make_tiny_ctc(tmp_path_factory.mktemp("models") / "tiny-ctc")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker keeps torch to one thread (two workers on two cores, not four threads),
    and ends without the interpreter's teardown (`exit_without_teardown`)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        atexit.register(exit_without_teardown)  # before torch, transformers and the tests register theirs
        import torch

        torch.set_num_threads(1)


def exit_without_teardown() -> None:
    """An xdist worker's last exit handler (registered before the libraries' and the tests', so run after them):
    the results are reported by then, so it leaves without freeing torch, transformers, gradio and a thousand
    tests' objects one by one, which took 2 to 3 s of CPU per worker while the main process waited for both."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


#: The tests that take longest, longest first (seconds on this two-core machine, one torch thread per worker):
#: whisper-base on the 32 clips and the 40 s utterance (one shared run, about 70), the browser (about 30), the
#: two `python app.py` runs of the clean stop (about 30), the other real-model runs and the slowest quick tests
#: (3 to 10: a 40 s utterance through a streaming model, subprocesses importing torch). Tests not named here
#: and not marked slow take well under 3 s.
LONGEST = (
    "test_whisper_base_on_ljspeech_32",
    "test_a_40_s_utterance_comes_back_with_its_last_words",
    "test_the_whole_product_in_a_browser",
    "test_sigint_and_sigterm_hand_the_running_request_back_and_exit_0",
    "test_real_whisper_base_audit_reproduces_the_predictions",
    "test_real_whisper_base_batched",
    "test_a_40_s_utterance_is_one_utterance_to_the_batch_hook[kyutai_speech_to_text]",
    "test_verify_and_help_import_neither_torch_nor_transformers",
    "test_the_recipe_equals_the_documented_usage[kyutai_speech_to_text]",
    "test_a_40_s_utterance_is_one_utterance_to_the_batch_hook[whisper]",
    "test_real_batching_sorts_longest_first_and_records_sizes_used[tiny_whisper]",
    "test_processes_claiming_at_once_each_request_claimed_once",
    "test_no_function_is_longer_than_its_limit",
    "test_a_family_that_cannot_batch_stays_at_batch_one_and_says_so",
)


def longest_first(items: Sequence[pytest.Item]) -> list[pytest.Item]:
    """`items` in the order the two xdist workers (`--dist loadgroup`) should start them: the longest first, so
    that both finish together instead of one waiting on a long test that started last.

    The scheduler gives each worker its next test in advance, so two quick tests come right after the longest one
    (xdist starts a group of several tests, such as the whisper-base readers, before any single test): no other
    long test waits behind the first two. Then the other tests of `LONGEST` in its order, any other slow test, the
    rest in collection order.
    """
    rank = {name: position for position, name in enumerate(LONGEST)}
    named = sorted((i for i in items if i.name in rank), key=lambda i: rank[i.name])
    slow = [i for i in items if i.name not in rank and i.get_closest_marker("slow")]
    long = named + slow
    quick = [i for i in items if i.name not in rank and not i.get_closest_marker("slow")]
    return long[:1] + quick[:2] + long[1:] + quick[2:]


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    """Every reader of `whisper_base_run` joins `WHISPER_BASE_GROUP` (before xdist reads the groups); once the
    other hooks are done (`-m` deselects there), the tests that remain start longest first (`longest_first`) and
    each grouped one carries its group in its id (`name_xdist_groups`)."""
    for item in items:
        if "whisper_base_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group(WHISPER_BASE_GROUP))
    yield
    items[:] = longest_first(items)
    if config.getoption("loadgroup", default=False):
        name_xdist_groups(items)


def name_xdist_groups(items: Sequence[pytest.Item]) -> None:
    """Suffix each grouped item's id with its `xdist_group` names, as pytest-xdist 3.8 means to.

    `--dist loadgroup` schedules by the id's `@group` suffix, which xdist 3.8 writes into `item._nodeid`; pytest
    9.2 reads the id from `item._id` instead, so every group was silently split across the workers
    (pytest-dev/pytest-xdist#1386) and the whisper-base run was made once per worker. Ids that already carry the
    suffix (older pytest, or a fixed xdist) are left alone.
    """
    try:
        from _pytest.nodeid import NodeId
    except ImportError:  # pytest before 9.2 keeps the id where xdist writes it: nothing to do
        return
    for item in items:
        names = {
            str(m.args[0] if m.args else m.kwargs.get("name", "default")) for m in item.iter_markers("xdist_group")
        }
        suffix = "@" + "_".join(sorted(names))
        if names and not item.nodeid.endswith(suffix) and hasattr(item, "_id"):
            item._id = NodeId.parse(item.nodeid + suffix)
