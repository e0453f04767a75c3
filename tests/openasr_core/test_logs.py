"""No request URL reaches a log at INFO: huggingface_hub 2.x logs every request through httpx2, a download's
redirect included, and that redirect's URL is signed (a credential for the file)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx2
import pytest
from huggingface_hub.utils import _http as hf_http
from huggingface_hub.utils import get_session

from openasr_core.logs import HTTP_LOGGERS, quiet_http_loggers

RESOLVE = "https://huggingface.co/datasets/org/asr-board-results/resolve/abc123/leaderboard.csv"
SIGNED = "https://cas-bridge.xethub.hf.co/xet-bridge-us/abc?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIAEXAMPLE"


def _answer(request: httpx2.Request) -> httpx2.Response:
    """The Hub's answer to a file GET: a redirect to a signed CDN URL, which answers with the bytes."""
    if request.url.host == "huggingface.co":
        return httpx2.Response(302, headers={"Location": SIGNED})
    return httpx2.Response(200, content=b"request_id,model_id\n")


@pytest.fixture
def hub_session() -> Iterator[None]:
    """huggingface_hub's own session, routed to `_answer` (as testkit/hub_emulator.py installs itself); the HTTP
    loggers' levels are put back afterwards."""
    levels = {name: logging.getLogger(name).level for name in HTTP_LOGGERS}
    previous = hf_http._GLOBAL_CLIENT_FACTORY

    def client() -> httpx2.Client:
        return httpx2.Client(
            transport=httpx2.MockTransport(_answer),
            event_hooks={"request": [hf_http.hf_request_event_hook]},
            follow_redirects=True,
        )

    hf_http.set_client_factory(client)
    try:
        yield
    finally:
        hf_http.set_client_factory(previous)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _get(caplog: pytest.LogCaptureFixture) -> str:
    caplog.clear()
    response = get_session().get(RESOLVE)
    assert response.status_code == 200 and response.content.startswith(b"request_id")
    return caplog.text


def test_a_hub_get_at_info_logs_no_url(hub_session: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)  # the root logger at INFO, as app.py and the evaluator's CLI run
    for name in HTTP_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    assert "X-Amz-Signature" in _get(caplog), "without the set-up, httpx2 logs the signed URL at INFO"
    quiet_http_loggers()
    logged = _get(caplog)
    assert "X-Amz-Signature" not in logged and "cas-bridge" not in logged and "huggingface.co" not in logged
