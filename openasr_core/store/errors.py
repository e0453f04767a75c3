"""What a store operation raises: shared by the store, its repo adapters and its callers."""

from __future__ import annotations


class StoreError(RuntimeError):
    """A store operation could not be carried out; the message says what to do."""


class StoreUnavailable(StoreError):
    """The store could not be reached, or kept changing, for longer than one call may wait (a Hub incident, a
    long rate limit): nothing is wrong with what was asked, and the same call may succeed later.
    `retry_after_s` is how long the service asked to wait, when it said."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class LeaseLost(StoreError):
    """The worker no longer holds the request (its lease expired and it was returned or taken over)."""


class Conflict(StoreError):
    """Someone else changed the repo between our read and our write (the commit's parent is no longer the head);
    re-read and try again."""


class ThroughputTaken(StoreError):
    """Another worker's attempt holds this throughput run (its lease has not run out), or took it over."""


class Refused(StoreError):
    """A submission was refused by a check made inside the store's transaction (duplicate, weekly limit)."""
