"""Which model licenses the leaderboard accepts, and how a stored one is shown.

A model card declares `license: <id>` with one of the Hub's ids (`openasr_core.hub_license_ids`), or
`license: other` together with `license_name: <name>`. Accepted licenses are stored normalized: the id in
lower case, or `other:<name>` for a named other license. `unknown` is a Hub id but declares no license,
so a submission with it is refused; the evaluator records it when a card has no usable license.
Anything else is untrusted text from a model repo: refused at submission, shown as `unknown` when an
already-stored record carries it, so it never reaches a page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from openasr_core.hub_license_ids import HUB_LICENSE_IDS

UNKNOWN_LICENSE = "unknown"
OTHER = "other"
#: A `license_name` for `license: other`: a short slug, as the Hub's own license names are (`llama3`).
LICENSE_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._+-]{0,62}[A-Za-z0-9+])?$")
_STORED_OTHER = re.compile(rf"^{OTHER}:(?P<name>.+)$")


@dataclass(frozen=True)
class DeclaredLicense:
    """What a model card says, unchecked: `license:` (the first of a list) and `license_name:`."""

    license: str | None
    name: str | None = None

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, object] | None) -> DeclaredLicense:
        metadata = metadata or {}
        return cls(license=first_text(metadata.get("license")), name=first_text(metadata.get("license_name")))


def first_text(value: object) -> str | None:
    """A metadata value as one string: the first of a list, None when empty or absent."""
    if isinstance(value, list):
        value = value[0] if value else None
    text = str(value).strip() if value else ""
    return text or None


def license_problem(declared: DeclaredLicense) -> str | None:
    """Why `declared` cannot be accepted (a sentence without the model id), or None when it can."""
    value = (declared.license or "").lower()
    if not value:
        return "declares no license"
    if value == UNKNOWN_LICENSE:
        return "declares its license as `unknown`"
    if value not in HUB_LICENSE_IDS:
        return "declares a license that is not one of the Hub's license ids"
    if value == OTHER and not (declared.name and LICENSE_NAME.match(declared.name)):
        return (
            "declares `license: other` without a valid `license_name` (letters, digits, `.`, `_`, `+`, `-`; "
            "at most 64 characters)"
        )
    return None


def license_id(declared: DeclaredLicense) -> str | None:
    """The normalized id to store (`apache-2.0`, `other:<name>`), or None when `declared` is not accepted."""
    if license_problem(declared):
        return None
    value = (declared.license or "").lower()
    return f"{OTHER}:{declared.name}" if value == OTHER else value


def is_stored_license(value: str | None) -> bool:
    """Whether a stored license is one this module would have produced (or the evaluator's `unknown`)."""
    if not value:
        return False
    other = _STORED_OTHER.match(value)
    if other:
        return bool(LICENSE_NAME.match(other["name"]))
    return value in HUB_LICENSE_IDS and value != OTHER


def shown_license(value: str | None) -> str:
    """What the pages show for a stored license: itself when well formed, `unknown` otherwise."""
    return value if value and is_stored_license(value) else UNKNOWN_LICENSE
