"""Logging set-up, in one place for the Space (`app.py`) and the evaluator's command line (what Jobs run).

HTTP clients log one INFO line per request with its full URL: httpx (gradio's client) and httpx2, which
huggingface_hub 2.x sends every Hub request through. A file download is redirected to a signed CDN URL whose
query string is a credential for that file, so those lines must never reach a Space's or a Job's log: both
loggers are held at WARNING, whatever level the rest of the process logs at.
"""

from __future__ import annotations

import logging

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: Loggers that write every request's URL at INFO.
HTTP_LOGGERS = ("httpx", "httpx2")


def quiet_http_loggers() -> None:
    """Hold the HTTP clients' loggers at WARNING: no request URL is logged at INFO."""
    for name in HTTP_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_logging(level: int = logging.INFO) -> None:
    """The process's logging: `level` and the shared format on the root logger, the HTTP clients quiet."""
    logging.basicConfig(level=level, format=LOG_FORMAT)
    quiet_http_loggers()
