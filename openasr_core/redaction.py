"""Keeping secrets (the HF token, the signing key) out of logs, errors and public records: one function for all."""

from __future__ import annotations

import os
from collections.abc import Iterable

#: Environment variables whose values are secrets wherever they appear.
SECRET_ENV_VARS = ("HF_TOKEN", "RESULTS_SIGNING_KEY")
#: Shorter values are not treated as secrets: replacing them would garble ordinary text.
MIN_SECRET_LENGTH = 8


def redact(text: str, extra_secrets: Iterable[str | None] = ()) -> str:
    """`text` with every secret replaced by `***`: the values of `SECRET_ENV_VARS` and any `extra_secrets`
    (e.g. a token passed in code rather than through the environment)."""
    secrets = [os.environ.get(name) for name in SECRET_ENV_VARS] + list(extra_secrets)
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, "***")
    return text
