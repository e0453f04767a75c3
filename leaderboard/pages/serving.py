"""What keeps a page visit cheap when many people open the leaderboard at once.

Every visit is a new gradio session, and gradio builds a session's configuration from every component on the
page; its events then pass through gradio's queue (a join request, an event stream, bookkeeping) unless told
otherwise. With fifty visitors at once, both costs add up on the one CPU that serves the page, so:

- `READ_ONLY`: the settings of every event that only reads. Such an event cannot harm another visitor's, so it
  skips the queue and runs as one plain HTTP call (gradio's `queue=False`): no waiting in line, no stream.
- `SERIALIZED`: for read-only events whose callback returns values already in the page's wire format (the
  board's table and plot are serialized once per store version and view): gradio's per-output postprocessing
  (a thread hop per output and two walks over every cell of the table) is skipped.
- `cache_component_signatures`: gradio reads each component class's constructor signature with
  `inspect.signature` for every component of every new session (`Block.get_config`), which is half the cost of
  a session; a function's `__signature__` is where `inspect.signature` looks first (PEP 362), so storing the
  signature there once makes every later read free and changes nothing else.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from gradio.blocks import Block

READ_ONLY: dict[str, Any] = {"queue": False}
SERIALIZED: dict[str, Any] = {**READ_ONLY, "postprocess": False}


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def cache_component_signatures() -> int:
    """Store the signature of every loaded gradio block class's `__init__` on the function; idempotent.
    Returns how many were stored by this call."""
    stored = 0
    for cls in {Block, *_subclasses(Block)}:
        init = cls.__dict__.get("__init__")
        if init is not None and getattr(init, "__signature__", None) is None:
            init.__signature__ = inspect.signature(init)
            stored += 1
    return stored
