"""The page's HTML, made once per address: gradio renders `GET /` from scratch for every visit.

gradio answers a page request by deep-copying the whole page configuration (some 7,000 values), walking every
value of the copy to rewrite file URLs for the request's root URL, and rendering its template: 8-13 ms of CPU
for a page that is the same for every visitor (the board's rows come with the page-load event, not with the
HTML). `PageCache` keeps the answer of a page request and replays it to the next request that would get the
same answer: same path and query, same root URL (the headers gradio builds it from). It caches nothing when the
app has a login (gradio then writes the user into the page), nothing but a plain 200 without cookies, and
only `GET` requests of the page itself, never an API call or a file.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The request headers gradio derives the page's root URL from (`gradio.route_utils.get_root_url`).
ROOT_HEADERS = frozenset({b"host", b"x-forwarded-host", b"x-forwarded-proto", b"x-forwarded-port", b"forwarded"})
#: Pages kept (one per path and query: shared links with filters differ by their query).
MAX_PAGES = 64


class PageCache:
    """ASGI middleware: replays the stored answer of a page request (see the module's docstring)."""

    def __init__(self, app: ASGIApp, max_pages: int = MAX_PAGES) -> None:
        self.app = app
        self.max_pages = max_pages
        self._pages: OrderedDict[tuple[Any, ...], tuple[int, list[tuple[bytes, bytes]], bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = page_key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        with self._lock:
            stored = self._pages.get(key)
            if stored is not None:
                self._pages.move_to_end(key)
                self.hits += 1
        if stored is not None:
            status, headers, body = stored
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, _Recorder(send, lambda answer: self._keep(key, answer)))

    def _keep(self, key: tuple[Any, ...], answer: tuple[int, list[tuple[bytes, bytes]], bytes]) -> None:
        with self._lock:
            self._pages[key] = answer
            while len(self._pages) > self.max_pages:
                self._pages.popitem(last=False)


def page_key(scope: Scope) -> tuple[Any, ...] | None:
    """What a page request's answer depends on, or None when it is not a cacheable page request: not a `GET`,
    an API or file route, a deep link (per-session state), or an app with a login."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    path: str = scope["path"]
    if path.rstrip("/") != scope.get("root_path", "").rstrip("/") or b"deep_link" in scope["query_string"]:
        return None  # only the page itself: never an API call, a file, or a deep link's saved session
    app = scope.get("app")
    if app is None or getattr(app, "auth", None) is not None or getattr(app, "auth_dependency", None) is not None:
        return None
    headers = tuple(sorted((k, v) for k, v in scope["headers"] if k in ROOT_HEADERS))
    return (path, scope["query_string"], scope.get("scheme"), scope.get("server"), scope.get("root_path"), headers)


class _Recorder:
    """Passes a response on while recording it; hands a complete plain 200 without cookies to `keep`."""

    def __init__(self, send: Send, keep: Callable[[tuple[int, list[tuple[bytes, bytes]], bytes]], None]) -> None:
        self.send = send
        self.keep = keep
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.cacheable = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
            self.cacheable = self.status == 200 and not any(k.lower() == b"set-cookie" for k, _ in self.headers)
        elif message["type"] == "http.response.body" and self.cacheable:
            self.body.append(message.get("body", b""))
            if not message.get("more_body", False):
                self.keep((self.status, self.headers, b"".join(self.body)))
        await self.send(message)
