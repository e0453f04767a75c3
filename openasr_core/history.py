"""What the public log says each request's state is: a pure replay of its events, no I/O.

Every status change the store makes is written with its log line in one transaction, so the state files and
the log must agree. `replay` derives each request's status, attempts, lease and error from the log alone;
`disagreements` names every request whose stored state differs from it (a status change missing from the log,
or a log event whose change is missing); `recovered_request` rebuilds a request from its log history when its
state file was damaged: `submission_detail` puts everything a submission recorded in its `submitted` event
(the model facts with the weight hashes R4 compares, the throughput choice), so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from openasr_core.records import MODEL_SOURCES, ClaimsRead, Lease, LogEntry, ModelInfo, Request, Status

#: The events that change a request's status, and the status each one leaves it in.
STATUS_EVENTS: dict[str, Status] = {
    "submitted": Status.PENDING,
    "claimed": Status.RUNNING,
    "lease_expired": Status.PENDING,
    "released": Status.PENDING,  # a clean stop handed it back; its detail says the attempts left counted
    "finished": Status.FINISHED,
    "failed": Status.FAILED,
}


@dataclass(frozen=True)
class Replayed:
    """One request as its log history leaves it."""

    request_id: str
    status: Status
    attempts: int
    lease: Lease | None
    error: str | None
    submitted: LogEntry | None
    events: tuple[str, ...]


def replay(log: Iterable[LogEntry]) -> dict[str, Replayed]:
    """Each request's state after its status events, in log order (audit and other events change nothing)."""
    states: dict[str, Replayed] = {}
    for entry in log:
        status = STATUS_EVENTS.get(entry.event)
        if status is None:
            continue
        previous = states.get(entry.request_id)
        attempts = previous.attempts if previous else 0
        lease = None
        if entry.event == "claimed":
            attempts = int(entry.detail.get("attempt", attempts + 1))
        elif entry.event == "released":
            attempts = int(entry.detail.get("attempts", attempts))
            lease = Lease(worker=entry.actor, expires_at=str(entry.detail.get("lease_expires_at", entry.at)))
        error = str(entry.detail.get("error")) if entry.event == "failed" else None
        states[entry.request_id] = Replayed(
            request_id=entry.request_id,
            status=status,
            attempts=attempts,
            lease=lease,
            error=error,
            submitted=entry if entry.event == "submitted" else (previous.submitted if previous else None),
            events=(*(previous.events if previous else ()), entry.event),
        )
    return states


def disagreements(requests: Mapping[str, Request], log: Sequence[LogEntry]) -> list[str]:
    """Every request whose stored status or attempt count is not what its log history says, one line each."""
    replayed = replay(log)
    problems = []
    for request_id in sorted(set(requests) | set(replayed)):
        stored, logged = requests.get(request_id), replayed.get(request_id)
        if stored is None:
            problems.append(f"request {request_id} is in the log ({', '.join(logged.events)}) but in no state file")  # type: ignore[union-attr]
        elif logged is None:
            problems.append(f"request {request_id} is {stored.status} but the log has no event for it")
        elif (stored.status, stored.attempts) != (logged.status, logged.attempts):
            problems.append(
                f"request {request_id} is {stored.status} after {stored.attempts} attempt(s), but its log "
                f"({', '.join(logged.events)}) says {logged.status} after {logged.attempts}"
            )
        elif logged.submitted is not None:
            problems += [f"request {request_id}: {text}" for text in _submission_differs(stored, logged.submitted)]
    return problems


def _submission_differs(stored: Request, submitted: LogEntry) -> list[str]:
    """What a stored request says about its submission that its `submitted` event does not: the model, revision,
    precision or source to evaluate (an edit would have the board sign another model's numbers under this
    entry), or a `submitted_at` moved to jump the queue."""
    detail, problems = submitted.detail, []
    for name in ("model_id", "revision", "precision", "source"):
        if name in detail and str(detail[name]) != getattr(stored, name):
            problems.append(f"{name} is {getattr(stored, name)!r} but its submitted event says {detail[name]!r}")
    logged_at = detail.get("submitted_at")
    if logged_at is not None and str(logged_at) != stored.submitted_at:
        problems.append(
            f"submitted_at is {stored.submitted_at} but its submitted event says {logged_at}: its place in the "
            "queue was moved"
        )
    return problems


def submission_detail(request: Request) -> dict[str, object]:
    """The `submitted` event's detail: what the submission recorded, enough to rebuild the request."""
    detail: dict[str, object] = {
        "model_id": request.model_id,
        "revision": request.revision,
        "requested_revision": request.requested_revision,
        "precision": request.precision,
        "throughput": request.throughput,
        "submitted_at": request.submitted_at,  # the queue's order key, so a moved one is caught by `verify`
    }
    if request.model is not None:
        detail["model"] = request.model.to_dict()
    # R15: the repo's claims as read at the pinned revision, logged so they cannot change afterwards; left out
    # (like the opt-in) when absent, so a request without them logs exactly what it did before.
    if request.claims is not None:
        detail["claims"] = request.claims.to_dict()
    if request.publish_results:
        detail["publish_results"] = True
    if request.source is not None:
        detail["source"] = request.source  # where the evaluator looks for the model (absent before it was recorded)
    return detail


def _claims(raw: object) -> ClaimsRead | None:
    """The claims of a `submitted` event; None when it recorded none (or they do not parse)."""
    if not isinstance(raw, dict):
        return None
    try:
        return ClaimsRead.from_dict(raw)
    except (TypeError, ValueError, KeyError):
        return None


def _model_facts(raw: object) -> ModelInfo | None:
    """The model facts of a `submitted` event; None for an event written before they were logged."""
    if not isinstance(raw, dict):
        return None
    try:
        return ModelInfo.from_dict(raw)
    except (TypeError, ValueError, KeyError):
        return None


def recovered_request(replayed: Replayed) -> Request | None:
    """The request rebuilt from its log history (events logged before the model facts were: without them)."""
    submitted = replayed.submitted
    if submitted is None:
        return None
    detail = submitted.detail
    return Request(
        request_id=replayed.request_id,
        model_id=str(detail.get("model_id", "")),
        revision=str(detail.get("revision", "")),
        requested_revision=str(detail.get("requested_revision", detail.get("revision", ""))),
        precision=str(detail.get("precision", "")),
        submitter=submitted.actor,
        submitted_at=str(detail.get("submitted_at", submitted.at)),
        status=replayed.status,
        attempts=replayed.attempts,
        lease=replayed.lease if replayed.status is Status.RUNNING else None,
        error=replayed.error,
        model=_model_facts(detail.get("model")),
        throughput=detail.get("throughput") is True,
        claims=_claims(detail.get("claims")),
        publish_results=detail.get("publish_results") is True,
        source=detail["source"] if detail.get("source") in MODEL_SOURCES else None,
    )
