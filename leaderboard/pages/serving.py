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
import copy
import importlib.util
import inspect
import os
import sys
from collections.abc import Iterator
from typing import Any

import gradio.routes
import gradio.state_holder
import gradio.utils
from gradio.blocks import Block
from starlette.middleware import Middleware

from leaderboard.pages.page_cache import PageCache

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


class _SessionConfigs(dict):  # type: ignore[type-arg]
    """`SessionState.config_values` made on demand: a component's configuration is computed when first read,
    and reading them all (`items`, `values`, iteration: a deep link) computes the missing ones first, in the
    order gradio's eager copy had. `in` answers for the computed ones, as gradio's own checks expect."""

    def __init__(self, blocks_config: Any, keys: list[int]) -> None:
        super().__init__()
        self._blocks_config = blocks_config
        self._keys = keys
        self._known = set(keys)

    def __missing__(self, key: int) -> Any:
        if key not in self._known:
            raise KeyError(key)
        value = self._blocks_config.config_for_block(key, [], self._blocks_config.blocks[key])
        self[key] = value
        return value

    def _complete(self) -> None:
        ordered = {key: self[key] for key in self._keys}  # computes the missing ones
        ordered.update({key: value for key, value in dict.items(self) if key not in ordered})
        dict.clear(self)
        dict.update(self, ordered)

    def items(self) -> Any:
        self._complete()
        return dict.items(self)

    def values(self) -> Any:
        self._complete()
        return dict.values(self)

    def __iter__(self) -> Iterator[int]:
        self._complete()
        return dict.__iter__(self)


def _lazy_session_init(self: gradio.state_holder.SessionState, blocks: Any) -> None:
    """`SessionState.__init__` of gradio 6, but `config_values` is a `_SessionConfigs`."""
    self.blocks_config = copy.copy(blocks.default_config)
    self.config_values = _SessionConfigs(
        self.blocks_config, [k for k in self.blocks_config.blocks if k in blocks.blocks]
    )
    self.state_data = {}
    self._state_ttl = {}
    self.is_closed = False
    # gradio keeps a closed session's state an hour (1 s in its own end-to-end tests)
    self.STATE_TTL_WHEN_CLOSED = 1 if os.getenv("GRADIO_IS_E2E_TEST", None) else 3600


def lazy_session_configs() -> bool:
    """Make gradio's per-session component configurations lazy (see the module's docstring); idempotent.
    Returns whether this call changed anything."""
    if gradio.state_holder.SessionState.__init__ is _lazy_session_init:
        return False
    gradio.state_holder.SessionState.__init__ = _lazy_session_init  # type: ignore[method-assign]
    return True


def app_settings() -> dict[str, Any]:
    """What `python app.py` gives gradio's web app (`launch(app_kwargs=...)`): the page cache, so that a visit's
    `GET /` replays the page instead of rendering it again (`leaderboard.pages.page_cache`)."""
    return {"middleware": [Middleware(PageCache)]}
