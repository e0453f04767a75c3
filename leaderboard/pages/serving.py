"""What keeps a page visit cheap when many people open the leaderboard at once.

Every visit is a new gradio session, and gradio builds a session's configuration from every component on the
page; its events then pass through gradio's queue (a join request, an event stream, bookkeeping) unless told
otherwise. With fifty visitors at once, both costs add up on the one CPU that serves the page, so:

- `READ_ONLY`: the settings of every event that only reads. Such an event cannot harm another visitor's, so it
  skips the queue and runs as one plain HTTP call (gradio's `queue=False`): no waiting in line, no stream.
  It is also left out of the page's API documentation (`api_visibility="undocumented"`, still callable):
  these events are the page's own plumbing (a dozen `on_filters_<n>`, one per control, and the like), and
  gradio rebuilds that documentation, code snippets for every endpoint included, on every `GET /` (two
  thirds of the page's CPU). The submission and the audit request stay documented.
- `SERIALIZED`: for read-only events whose callback returns values already in the page's wire format (the
  board's table and plot are serialized once per store version and view): gradio's per-output postprocessing
  (a thread hop per output and two walks over every cell of the table) is skipped.
- `cache_component_signatures`: gradio reads each component class's constructor signature with
  `inspect.signature` for every component of every new session (`Block.get_config`), which is half the cost of
  a session; a function's `__signature__` is where `inspect.signature` looks first (PEP 362), so storing the
  signature there once makes every later read free and changes nothing else.
- `skip_repeated_lookups`: work gradio repeats on every call that gives the same answer each time: it tries
  `import matplotlib` twice around every event (to switch its backend) and `import bokeh` in every new
  session's plot config, and a failed import walks every `sys.path` folder again (about a third of a cached
  page load's CPU); its page template is checked for changes on disk at every `GET /`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import sys
from collections.abc import Iterator
from typing import Any

import gradio.routes
import gradio.utils
from gradio.blocks import Block

READ_ONLY: dict[str, Any] = {"queue": False, "api_visibility": "undocumented"}
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


def skip_repeated_lookups() -> list[str]:
    """Spare gradio the lookups it repeats with the same answer (see the module's docstring); idempotent.

    Only what is not installed is touched, so behaviour is unchanged: gradio's matplotlib guard, which does
    nothing without matplotlib, becomes a plain no-op context; a missing `bokeh` is recorded in `sys.modules`
    as blocked (None, Python's documented marker), so `import bokeh` fails at once as it would after the
    search (nothing here asks `importlib.util.find_spec("bokeh")`, which that marker would make raise). The
    page template is read once (it ships inside the gradio package). Returns what it changed now."""
    changed: list[str] = []
    if importlib.util.find_spec("matplotlib") is None and gradio.utils.MatplotlibBackendMananger is not _NoBackend:
        gradio.utils.MatplotlibBackendMananger = _NoBackend  # type: ignore[misc]
        changed.append("matplotlib")
    if "bokeh" not in sys.modules and importlib.util.find_spec("bokeh") is None:
        sys.modules["bokeh"] = None  # type: ignore[assignment]
        changed.append("bokeh")
    if gradio.routes.templates.env.auto_reload:
        gradio.routes.templates.env.auto_reload = False
        changed.append("template")
    return changed


class _NoBackend(contextlib.nullcontext):  # type: ignore[type-arg]
    """gradio's `MatplotlibBackendMananger` where matplotlib is not installed: it did nothing there either."""
