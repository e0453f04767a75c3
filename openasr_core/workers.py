"""Names of the workers that claim requests: recorded in leases and the public log, so each must be unique."""

from __future__ import annotations

import os
import socket
import uuid


def default_worker_name(kind: str) -> str:
    """`<kind>:<host>:<pid>-<6 hex>`: `kind` says what runs it (`space` for the Space's scheduler, `evaluator` for
    `python -m evaluator run-once`); the random tail keeps two workers in one process apart."""
    return f"{kind}:{socket.gethostname()}:{os.getpid()}-{uuid.uuid4().hex[:6]}"
