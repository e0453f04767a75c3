"""Issue 25 item 7: a board that shows two RTFs side by side says when they were measured under different
conditions (hardware class, the machine's load during the timed calls), instead of letting a reader infer a
speed-up the machine made."""

from __future__ import annotations

from leaderboard.conditions import conditions_label, conditions_sentence, mixed_conditions_note
from leaderboard.detail_view import measurement_markdown
from leaderboard.pages.format import status_line
from leaderboard.table import BoardInput, Filters, badges, build_board
from openasr_core.records import LoadSummary
from testkit.factories import make_result

QUIET = LoadSummary(calls=32, cpu_share=0.97, threads=2.0, load_1min=1.1, cpu_count=2)
BUSY = LoadSummary(
    calls=32,
    cpu_share=0.41,
    threads=2.0,
    load_1min=4.3,
    cpu_count=2,
    busy="the process got 41% of its 2 CPU thread(s) during the timed calls (under 60%)",
)


def cpu_result(request_id: str, precision: str, rtf: float, load: LoadSummary | None):
    return make_result(request_id, "org/m", precision=precision, rtf=rtf, gpu_class="CPU", official=True).replace(
        load=load
    )


def board_of(*results):
    return build_board([BoardInput(result=r) for r in results], eval_sets=("ami", "librispeech"))


def test_labels_say_hardware_and_load() -> None:
    assert conditions_label(cpu_result("a", "float16", 0.19, QUIET)) == "CPU · quiet"
    assert conditions_label(cpu_result("b", "float32", 2.39, BUSY)) == "CPU · busy"
    assert conditions_label(cpu_result("c", "float32", 2.39, None)) == "CPU · load not recorded"
    assert mixed_conditions_note(["CPU · quiet", "CPU · quiet"]) == ""
    assert "different conditions (CPU · busy; CPU · quiet)" in mixed_conditions_note(["CPU · quiet", "CPU · busy"])


def test_the_board_says_when_the_rows_shown_were_measured_under_different_load() -> None:
    """The fp16-vs-fp32 case of the issue: 0.19 beside 2.39, the fp32 run timed while the machine was busy."""
    board = board_of(cpu_result("fp16", "float16", 0.19, QUIET), cpu_result("fp32", "float32", 2.39, BUSY))
    both = Filters()
    line = status_line(board.view(both), both)
    assert "different conditions" in line and "CPU · busy" in line and "CPU · quiet" in line
    only_fp16 = Filters(precisions=("float16",))
    assert "different conditions" not in status_line(board.view(only_fp16), only_fp16)
    busy_entry = next(e for e in board.entries if e.request_id == "fp32")
    quiet_entry = next(e for e in board.entries if e.request_id == "fp16")
    assert "busy machine" in badges(busy_entry) and "busy machine" not in badges(quiet_entry)


def test_the_same_conditions_or_other_hardware_classes() -> None:
    same = board_of(cpu_result("a", "float16", 0.19, QUIET), cpu_result("b", "float32", 0.4, QUIET))
    assert "different conditions" not in status_line(same.view(Filters()), Filters())
    gpu = make_result("g", "org/m", rtf=0.02).replace(load=QUIET)  # A10G
    mixed = board_of(cpu_result("a", "float16", 0.19, QUIET), gpu)
    shown = Filters(official_only=False)
    assert "A10G · quiet; CPU · quiet" in status_line(mixed.view(shown), shown)


def test_the_detail_page_says_what_the_probe_saw() -> None:
    busy = measurement_markdown(cpu_result("b", "float32", 2.39, BUSY))
    assert "Load during the timed calls" in busy and "Busy" in busy and "41%" in busy
    assert "Quiet" in conditions_sentence(cpu_result("a", "float16", 0.19, QUIET))
    assert "Not recorded" in measurement_markdown(cpu_result("c", "float32", 2.39, None))
