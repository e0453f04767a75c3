"""Issue 25 item 4: on a CPU board every page says what ran, where, and what it cost, consistently: no "GPU"
for a CPU, no "cost not known" under a "$ per 1,000 audio hours" figure, and an About page whose rules table
covers every rule (R1–R15)."""

from __future__ import annotations

from pathlib import Path

from leaderboard.about import about_markdown
from leaderboard.detail_view import compute_table
from leaderboard.table import BoardInput, build_board
from openasr_core.config import load_config
from openasr_core.records import Compute
from testkit.factories import make_result

PRICE = {"usd_per_hour": 0.5, "source": "a CPU machine's hourly price", "date": "2026-12-01"}


def test_a_cpu_result_is_said_to_have_run_on_a_cpu_at_the_boards_price() -> None:
    result = make_result("r1", "org/m", gpu_class="cpu", official=False).replace(
        rules={"hardware_price": PRICE}, compute=Compute(flavor=None, gpu_seconds=720.0)
    )
    assert result.hardware.device == "cpu"
    text = compute_table(result.compute, result)  # type: ignore[arg-type]
    assert "own GPU" not in text and "GPU time" not in text and "GPU hours" not in text, text
    assert "machine (CPU, no GPU)" in text and "720 s (0.20 machine hours)" in text
    assert (
        "$0.5/h, the board&#39;s hardware price (a CPU machine&#39;s hourly price)" in text
        and "$0.10 at the board&#39;s hardware price" in text
    )
    assert "not known" not in text
    board = build_board([BoardInput(result)], eval_sets=())
    assert board.entries  # the board shows this result's cost per 1,000 audio hours from the same price


def test_about_covers_every_rule_and_says_who_evaluates_on_a_cpu_board(tmp_path: Path) -> None:
    config = load_config(env={"LEADERBOARD_STORE": str(tmp_path)})
    text = about_markdown(config, "results", "requests", public_key=None)
    assert "R1–R15" in text and "R1–R14" not in text
    assert "| R14 | Throughput track, kept apart |" in text and "| R15 | Claimed vs measured |" in text
    assert "Space's own GPU" not in text and "its CPU when it has no GPU" in text
    r15 = next(line for line in text.splitlines() if line.startswith("| R15 |"))
    assert "never ranked" in r15 and "Opt-in results PR" in r15 and "never two" in r15, r15
