"""How tests/conftest.py lays the suite out for the two xdist workers (issue 24: the quick run in 45 s, the whole
suite in 150 s): the longest tests start first, and the readers of the one whisper-base run share a worker."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

import pytest
from _pytest.nodeid import NodeId

from tests.conftest import LONGEST, REPO_ROOT, WHISPER_BASE_GROUP, longest_first, name_xdist_groups


@dataclass
class FakeItem:
    """What the two functions read of a `pytest.Item`: its name, its id and its markers."""

    name: str
    markers: list[pytest.Mark] = field(default_factory=list)
    _id: NodeId | None = None

    def __post_init__(self) -> None:
        self._id = NodeId.parse(f"tests/test_x.py::{self.name}")

    @property
    def nodeid(self) -> str:
        return str(self._id)

    def get_closest_marker(self, name: str) -> pytest.Mark | None:
        return next(self.iter_markers(name), None)

    def iter_markers(self, name: str) -> Any:
        return (m for m in self.markers if m.name == name)


def _names(items: list[Any]) -> list[str]:
    return [item.name for item in items]


def test_the_longest_tests_start_first_with_two_quick_ones_after_the_first() -> None:
    quick = [FakeItem(f"test_quick_{n}") for n in range(4)]
    browser, clean_stop = FakeItem(LONGEST[2]), FakeItem(LONGEST[3])
    unnamed_slow = FakeItem("test_unnamed_slow", [pytest.mark.slow.mark])
    items = [quick[0], clean_stop, unnamed_slow, quick[1], browser, quick[2], quick[3]]
    ordered = _names(longest_first(items))
    assert ordered == [
        browser.name,
        "test_quick_0",
        "test_quick_1",
        clean_stop.name,
        "test_unnamed_slow",
        "test_quick_2",
        "test_quick_3",
    ]
    assert sorted(ordered) == sorted(_names(items))  # nothing dropped, nothing repeated


def test_every_test_named_as_longest_exists() -> None:
    """A renamed long test would silently lose its early start: each name must be a test function here."""
    defined = set()
    for path in (REPO_ROOT / "tests").rglob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined |= {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    assert [name for name in LONGEST if name.split("[")[0] not in defined] == []


def test_grouped_items_carry_their_group_in_the_id_the_scheduler_reads() -> None:
    group = pytest.mark.xdist_group(WHISPER_BASE_GROUP).mark
    reader, other = FakeItem("test_reader", [group]), FakeItem("test_other")
    already = FakeItem("test_already", [group])
    already._id = NodeId.parse(f"{already.nodeid}@{WHISPER_BASE_GROUP}")
    name_xdist_groups([reader, other, already])
    assert reader.nodeid == f"tests/test_x.py::test_reader@{WHISPER_BASE_GROUP}"
    assert other.nodeid == "tests/test_x.py::test_other"
    assert already.nodeid == f"tests/test_x.py::test_already@{WHISPER_BASE_GROUP}"  # not suffixed twice
