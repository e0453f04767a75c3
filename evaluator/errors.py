"""One error taxonomy for every place that decides what to do with an exception (evaluation, audit, CLI).

Each exception is one of four kinds:

- `USER`: the submitter can fix it (the model does not load, is too slow, decodes without end, its weights
  changed since submission or its local folder is gone, it does not fit the board's GPU at its precision). An evaluation fails with the
  message, which already says what to do.
- `TRANSIENT`: nothing is wrong with what was asked; the same call may succeed later (the Hub or the store
  unreachable, rate-limited or in an incident). Never reported as the submitter's fault: an evaluation is left
  to its lease (the request returns to the queue), an audit attempt is retried.
- `CANNOT_RUN`: this process or this board cannot run it at all (a bad config, a missing signing key, the
  wrong GPU, an entry of another board version, a store that refuses the operation). Retrying here cannot
  help; the maintainer (or another board's worker) can.
- `BUG`: anything else, which is ours to fix. An evaluation fails as an internal error; an audit attempt is
  logged with the exception and retried a bounded number of times.

The table names each type by module and class name, so nothing heavy (torch, transformers) is imported to
classify an error, and an exception's kind is the one of the most specific class of its MRO in the table.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    USER = "user"
    TRANSIENT = "transient"
    CANNOT_RUN = "cannot-run"
    BUG = "bug"


#: (module, class name) -> kind. A subclass not listed takes the kind of its nearest listed base class.
ERROR_KINDS: dict[tuple[str, str], ErrorKind] = {
    # transient: the Hub, the network, the store in an incident
    ("openasr_core.store.errors", "StoreUnavailable"): ErrorKind.TRANSIENT,
    ("openasr_core.store.errors", "LeaseLost"): ErrorKind.TRANSIENT,
    ("evaluator.models", "HubUnreachable"): ErrorKind.TRANSIENT,
    ("builtins", "ConnectionError"): ErrorKind.TRANSIENT,
    ("builtins", "TimeoutError"): ErrorKind.TRANSIENT,
    ("httpx", "TransportError"): ErrorKind.TRANSIENT,
    ("evaluator.runner", "Stopped"): ErrorKind.TRANSIENT,  # the worker was stopped (a restart): try again later
    # cannot run here: configuration, keys, hardware, the store's refusal, an entry this board cannot re-run
    ("openasr_core.store.errors", "StoreError"): ErrorKind.CANNOT_RUN,
    ("openasr_core.config", "ConfigError"): ErrorKind.CANNOT_RUN,
    ("openasr_core.signing", "SigningKeyError"): ErrorKind.CANNOT_RUN,
    ("evaluator.device_check", "WrongDevice"): ErrorKind.CANNOT_RUN,
    ("evaluator.audit", "AuditUnavailable"): ErrorKind.CANNOT_RUN,
    # the submitter's to fix
    ("evaluator.models", "ModelLoadError"): ErrorKind.USER,
    # a local model's folder gone since submission: permanent, never a Hub outage (the Hub is not asked)
    ("evaluator.models", "LocalModelMissing"): ErrorKind.USER,
    ("openasr_core.weights", "WeightMismatch"): ErrorKind.USER,
    ("evaluator.eval_sets", "EvalSetError"): ErrorKind.USER,
    ("evaluator.audio", "AudioError"): ErrorKind.USER,
    ("evaluator.runner", "UtteranceTimeout"): ErrorKind.USER,
    ("evaluator.evaluate", "InvalidResult"): ErrorKind.USER,
    ("evaluator.recipes.base", "DecodingStalled"): ErrorKind.USER,
    ("torch", "OutOfMemoryError"): ErrorKind.USER,  # the model does not fit the board's GPU at this precision
}


def error_kind(exc: BaseException) -> ErrorKind:
    """The kind of `exc`: that of the most specific class in its MRO that the table names, else `BUG`."""
    for cls in type(exc).__mro__:
        kind = ERROR_KINDS.get((cls.__module__, cls.__qualname__))
        if kind is not None:
            return kind
    return ErrorKind.BUG


def describe(exc: BaseException) -> str:
    """`Type: message`, as logs and the public log's reasons name an error."""
    return f"{type(exc).__name__}: {exc}"
