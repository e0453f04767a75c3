"""The Pareto front (lower RTF and lower WER are better) and the plot built around it."""

from __future__ import annotations

import json
import math

from leaderboard.scatter import pareto_front, scatter_figure, scatter_json
from leaderboard.table import BoardInput, Filters, build_board
from testkit.factories import make_result


def test_front_keeps_points_nothing_beats_on_both_axes() -> None:
    points = [(0.1, 10.0), (0.2, 5.0), (0.3, 7.0), (0.05, 20.0), (0.4, 4.0), (0.2, 6.0)]
    assert pareto_front(points) == [3, 0, 1, 4]


def test_front_of_one_point_and_of_none() -> None:
    assert pareto_front([(1.0, 1.0)]) == [0]
    assert pareto_front([]) == []


def test_equal_x_keeps_only_the_lower_y() -> None:
    assert pareto_front([(0.1, 5.0), (0.1, 3.0)]) == [1]


def test_equal_y_keeps_only_the_lower_x() -> None:
    assert pareto_front([(0.2, 5.0), (0.1, 5.0)]) == [1]


def test_identical_points_both_stay() -> None:
    assert pareto_front([(0.1, 5.0), (0.1, 5.0), (0.3, 9.0)]) == [0, 1]


def test_non_finite_points_are_never_on_the_front() -> None:
    assert pareto_front([(math.inf, 1.0), (0.5, math.nan), (1.0, 2.0)]) == [2]


def test_every_front_point_is_undominated_and_every_other_is_dominated() -> None:
    import random

    rng = random.Random(0)
    points = [(rng.random(), rng.random()) for _ in range(300)]
    front = set(pareto_front(points))

    def dominated(i: int) -> bool:
        x, y = points[i]
        return any(ox <= x and oy <= y and (ox, oy) != (x, y) for ox, oy in points)

    assert all(not dominated(i) for i in front)
    assert all(dominated(i) for i in range(len(points)) if i not in front)


def test_figure_has_a_log_x_axis_a_front_trace_and_hover_names() -> None:
    board = build_board(
        [
            BoardInput(make_result("a", "org/accurate", wers={"x": 0.05}, rtf=0.5)),
            BoardInput(make_result("b", "org/fast", wers={"x": 0.2}, rtf=0.01, architecture="Wav2Vec2ForCTC")),
            BoardInput(make_result("c", "org/dominated", wers={"x": 0.3}, rtf=0.6)),
        ],
        eval_sets=("x",),
    )
    figure = scatter_figure(board.view(Filters()).raw)
    assert figure.layout.xaxis.type == "log"
    front = next(t for t in figure.data if t.name == "Pareto front")
    assert list(front.x) == [0.01, 0.5]
    assert list(front.y) == [20.0, 5.0]
    hovers = " ".join(h for t in figure.data for h in (t.hovertext or ()))
    assert "org/accurate" in hovers and "org/fast" in hovers and "org/dominated" in hovers


def test_empty_figure_says_why() -> None:
    board = build_board([], eval_sets=("x",))
    figure = scatter_figure(board.view(Filters()).raw)
    assert "No results" in figure.layout.annotations[0].text


def x_range(figure) -> tuple[float, float]:
    low, high = figure.layout.xaxis.range
    return 10**low, 10**high


def test_real_time_line_stays_in_view_when_every_entry_is_slower_or_faster() -> None:
    slow = build_board([BoardInput(make_result("s", "org/slow", wers={"x": 0.1}, rtf=3.0))], eval_sets=("x",))
    low, high = x_range(scatter_figure(slow.view(Filters()).raw, max_rtf=1.0))
    assert low < 1.0 < high and low < 3.0 < high
    fast = build_board([BoardInput(make_result("f", "org/fast", wers={"x": 0.1}, rtf=0.001))], eval_sets=("x",))
    low, high = x_range(scatter_figure(fast.view(Filters()).raw, max_rtf=1.0))
    assert low < 0.001 and high > 1.0


def test_unverified_entries_are_never_plotted_nor_on_the_front() -> None:
    altered = make_result("bad", "org/altered", wers={"x": 0.001}, rtf=0.001)
    honest = make_result("ok", "org/honest", wers={"x": 0.2}, rtf=0.5)
    board = build_board(
        [BoardInput(altered), BoardInput(honest)], eval_sets=("x",), verified=lambda r: r.request_id != "bad"
    )
    view = board.view(Filters(official_only=False))
    assert set(view.request_ids) == {"bad", "ok"}  # the table still lists it, labelled unverified
    figure = scatter_figure(view.raw, board_entries=2)
    plotted = " ".join(h for t in figure.data for h in (t.hovertext or ()))
    assert "org/honest" in plotted and "org/altered" not in plotted
    front = next(t for t in figure.data if t.name == "Pareto front")
    assert list(front.x) == [0.5]


def test_empty_plot_tells_filters_from_no_results_from_none_verified() -> None:
    result = make_result("a", "org/model", wers={"x": 0.1}, precision="float32")
    board = build_board([BoardInput(result)], eval_sets=("x",))
    hidden = scatter_figure(board.view(Filters(precisions=("float16",))).raw, board_entries=1)
    assert "filters" in hidden.layout.annotations[0].text and "No results" not in hidden.layout.annotations[0].text
    unverified = build_board([BoardInput(result)], eval_sets=("x",), verified=lambda _r: False)
    none_verified = scatter_figure(unverified.view(Filters(official_only=False)).raw, board_entries=1)
    assert "verified" in none_verified.layout.annotations[0].text


def test_the_fast_json_is_the_validated_figure_s_json() -> None:
    """`scatter_json` (what the board sends) skips plotly's validation: it must still be exactly the JSON of
    the validated figure, template included, for a plotted view, a hostile name and an empty view."""
    board = build_board(
        [
            BoardInput(make_result("a", "org/accurate", wers={"x": 0.05}, rtf=0.5)),
            BoardInput(make_result("b", "org/<b>fast</b>", wers={"x": 0.2}, rtf=0.01, architecture="Wav2Vec2ForCTC")),
            BoardInput(make_result("c", "org/dominated", wers={"x": 0.3}, rtf=2.0, official=False)),
        ],
        eval_sets=("x",),
    )
    for filters in (Filters(official_only=False), Filters(search="nothing-matches")):
        raw = board.view(filters).raw
        fast = json.loads(scatter_json(raw, max_rtf=0.8, board_entries=3))
        assert fast == json.loads(scatter_figure(raw, max_rtf=0.8, board_entries=3).to_json())
    assert len(fast["layout"]["annotations"]) == 1  # the empty view says why
    assert scatter_json(raw, board_entries=3) is scatter_json(raw, board_entries=3)  # made once per message
    plotted = json.loads(scatter_json(board.view(Filters(official_only=False)).raw))
    assert plotted["layout"]["template"]["layout"]  # plotly.js needs the template itself, not its name
    assert "<b>fast" not in json.dumps(plotted)
