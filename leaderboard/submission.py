"""Submission rules (R4-R6, R10) as pure checks, and the one function that applies them and writes the request.

Every check returns None when the rule holds, or the refusal a person reads: what is wrong and what to do.
The order is cheapest first: the form, then what inspecting the model found (`ModelFacts`, from
`leaderboard.inspection`), then the rules that need the store as it is at write time (duplicate, weekly
limit), which run inside `Store.submit(check=...)` so two concurrent submissions cannot both slip through.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

from openasr_core.claims import read_claims
from openasr_core.config import EvalSetConfig, Rules
from openasr_core.families import (
    FAMILIES,
    Family,
    family_conflict,
    missing_package_message,
    package_installed,
    supported_list,
)
from openasr_core.licenses import DeclaredLicense, license_id, license_problem
from openasr_core.model_files import UNSAFE_WEIGHT_SUFFIXES
from openasr_core.records import HUB_REPO_ID, PRECISIONS, ClaimsRead, LogEntry, ModelInfo, Request, Status, parse_time
from openasr_core.store import Refused, Store, StoreError, StoreState
from openasr_core.untrusted import echo, md_text

MODEL_ID_PATTERN = HUB_REPO_ID
REVISION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}\Z")
SHA_PATTERN = re.compile(r"^[0-9a-f]{40}\Z")
WEEK = timedelta(days=7)
ACTIVE_STATUSES = (Status.PENDING, Status.RUNNING, Status.FINISHED)


# --- what the checks look at ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmissionForm:
    """What the submitter typed, surrounding whitespace stripped (nothing else: `/etc/passwd` stays a path and
    is refused, not turned into `etc/passwd`); an empty revision means `main`."""

    model_id: str
    revision: str
    precision: str
    accepted_rules: bool
    throughput: bool = False  # also measure the offline throughput track after batch one (R14)
    publish_results: bool = False  # open a PR with the verified results on the model's repo (R15)

    @classmethod
    def from_inputs(
        cls,
        model_id: str | None,
        revision: str | None,
        precision: str | None,
        accepted_rules: bool | None,
        throughput: bool | None = False,
        publish_results: bool | None = False,
    ) -> SubmissionForm:
        return cls(
            model_id=(model_id or "").strip(),
            revision=(revision or "").strip() or "main",
            precision=(precision or "").strip(),
            accepted_rules=bool(accepted_rules),
            throughput=bool(throughput),
            publish_results=bool(publish_results),
        )


@dataclass(frozen=True)
class ModelFacts:
    """What inspecting a model (on the Hub or in the local models folder) found, before any rule is applied.

    `weight_files` maps each safetensors file to its sha256 (None when the source did not say).
    `location` is where a person can look at the model (a Hub URL or a folder), used in messages.
    `license` and `license_name` are what the model card declares, unchecked (`check_license` decides).
    """

    model_id: str
    source: str
    requested_revision: str
    sha: str | None
    files: tuple[str, ...]
    weight_files: Mapping[str, str | None]
    config: Mapping[str, Any] | None
    license: str | None
    parameters: int | None
    location: str
    license_name: str | None = None
    #: The claim files at `sha` (R15): `.eval_results/*.yaml` and README.md, path -> bytes, as fetched (capped).
    claim_files: Mapping[str, bytes] = field(default_factory=dict)
    #: Claim files that could not be fetched, one line each ("could not read ...: ...").
    claim_problems: tuple[str, ...] = ()

    @property
    def declared_license(self) -> DeclaredLicense:
        return DeclaredLicense(self.license, self.license_name)

    @property
    def architecture(self) -> str | None:
        architectures = (self.config or {}).get("architectures") or []
        return str(architectures[0]) if architectures else None


class InspectionError(Exception):
    """The model could not be inspected (not found, unknown revision, Hub unreachable); the message says why."""


class ModelSource(Protocol):
    """Where models are looked up: the local models folder, the Hub, or both (see `leaderboard.inspection`)."""

    def inspect(self, model_id: str, revision: str) -> ModelFacts: ...


# --- the form ---------------------------------------------------------------------------------------------


def check_model_id(model_id: str) -> str | None:
    """The Hub's repo-id rules (`openasr_core.records.HUB_REPO_ID`); a path or a `.git` URL tail is named as such."""
    if not model_id:
        return "Enter a model id, in the form `org/name` (for example `openai/whisper-base`)."
    if MODEL_ID_PATTERN.match(model_id):
        return None
    why = ""
    if model_id.startswith("/") or model_id.endswith("/"):
        why = " It starts or ends with `/`: a model id is not a path or a URL."
    elif model_id.lower().endswith(".git"):
        why = " It ends in `.git`: enter the repo id without it."
    return (
        f"{echo(model_id)} is not a model id.{why} Use the form `org/name` (for example `openai/whisper-base`): "
        "letters, digits, `-`, `_` and `.`, one `/`, no `--` or `..`, starting and ending with a letter or digit, "
        "not ending in `.git`."
    )


def check_revision_text(revision: str) -> str | None:
    if not REVISION_PATTERN.match(revision) or ".." in revision:
        return (
            f"{echo(revision)} is not a revision. Enter a branch (`main`), a tag, or a commit SHA "
            "(letters, digits, `.`, `_`, `-`, `/`)."
        )
    return None


def check_precision(precision: str) -> str | None:
    if precision not in PRECISIONS:
        choices = ", ".join(f"`{p}`" for p in PRECISIONS)
        return f"Choose a precision: one of {choices} (R5: the model runs in exactly that dtype)."
    return None


def check_accepted(accepted_rules: bool) -> str | None:
    if not accepted_rules:
        return (
            "Tick **I accept the rules** to submit: read them on the About tab (batch size one, pinned revision, "
            "safetensors only, public log, no retraction)."
        )
    return None


def check_submitter(submitter: str | None) -> str | None:
    if not submitter:
        return "Log in with Hugging Face first (the **Sign in with Hugging Face** button on this tab), then submit."
    return None


# --- the model --------------------------------------------------------------------------------------------


def check_resolved_sha(facts: ModelFacts) -> str | None:
    if not facts.sha or not SHA_PATTERN.match(facts.sha):
        return (
            f"Revision {echo(facts.requested_revision)} of {echo(facts.model_id)} did not resolve to a commit SHA "
            f"(got {echo(facts.sha)}). Enter a branch, tag or full 40-character commit SHA that exists."
        )
    return None


def check_safetensors(facts: ModelFacts) -> str | None:
    if facts.weight_files:
        return None
    unsafe = sorted(f for f in facts.files if f.lower().endswith(UNSAFE_WEIGHT_SUFFIXES))
    if unsafe:
        shown = ", ".join(echo(f) for f in unsafe[:3])
        return (
            f"{echo(facts.model_id)} has only pickle-based weights ({shown}); R6 accepts safetensors only. "
            "Convert them (`model.save_pretrained(folder, safe_serialization=True)` or the Hub's safetensors "
            "converter), push the `.safetensors` files, and submit that revision."
        )
    return (
        f"{echo(facts.model_id)} at {echo(facts.requested_revision)} has no `.safetensors` weight files. Upload the weights "
        "as safetensors (`save_pretrained(..., safe_serialization=True)`) and submit again."
    )


def check_no_custom_code(facts: ModelFacts) -> str | None:
    code = sorted(f for f in facts.files if f.endswith(".py"))
    auto_map = bool((facts.config or {}).get("auto_map"))
    if not code and not auto_map:
        return None
    what = []
    if auto_map:
        what.append("`config.json` has an `auto_map`")
    if code:
        what.append("the repo contains Python files (" + ", ".join(echo(f) for f in code[:3]) + ")")
    return (
        f"{echo(facts.model_id)} needs custom code: {' and '.join(what)}. R6: models are loaded without "
        "`trust_remote_code`, so only architectures built into transformers can be evaluated. Publish the model "
        "with a built-in class (no `auto_map`, no `.py` files) and submit that revision."
    )


def check_architecture(
    facts: ModelFacts, families: Sequence[Family] = FAMILIES, installed: Callable[[str], bool] = package_installed
) -> str | None:
    """R6: a family with a recipe (`openasr_core.families`), whose documented processing's packages are installed."""
    if facts.config is None:
        return (
            f"{echo(facts.model_id)} has no readable `config.json`, so its architecture is unknown. Save the model "
            "with transformers' `save_pretrained` and submit again."
        )
    architecture = facts.architecture
    family = next((f for f in families if f.architecture == architecture), None)
    conflict = family_conflict(architecture, facts.config.get("model_type"))
    if conflict:
        return f"{echo(facts.model_id)}'s {conflict}, and submit again."
    if family is not None:
        missing = family.missing_packages(installed)
        return f"{missing_package_message(family, missing)}. Submit a model of another family." if missing else None
    if not architecture:
        return (
            f"{echo(facts.model_id)}'s `config.json` names no `architectures`. Set it to the model's transformers "
            "class (e.g. `WhisperForConditionalGeneration`, `Wav2Vec2ForCTC`) and submit again."
        )
    return (
        f"{echo(architecture)} is not a speech-recognition family this board has a recipe for (R6). Supported "
        f"families: {supported_list(f for f in families if not f.missing_packages(installed))}; the About page "
        "lists each one's transformers class, kind and prompt. Submit a model of one of them."
    )


def check_license(facts: ModelFacts) -> str | None:
    """A license from the Hub's list of ids, or `other` with a `license_name` (`openasr_core.licenses`)."""
    problem = license_problem(facts.declared_license)
    if problem is None:
        return None
    declared = f" (the card says {echo(facts.license, 40)})" if facts.license else ""
    return (
        f"{echo(facts.model_id)} {problem}{declared}. Set `license:` in the YAML front matter of its README.md "
        "(the model card) to one of the Hub's license ids (e.g. `license: apache-2.0`, see "
        "https://huggingface.co/docs/hub/repositories-licenses), or to `license: other` with "
        "`license_name: <name>`, then submit that revision."
    )


def check_parameters(facts: ModelFacts) -> str | None:
    if facts.parameters and facts.parameters > 0:
        return None
    return (
        f"Could not read a parameter count from {echo(facts.model_id)}'s safetensors headers. Check the "
        "`.safetensors` files load (`safetensors.safe_open`) and submit again."
    )


def check_weight_hashes(facts: ModelFacts) -> str | None:
    missing = sorted(name for name, sha in facts.weight_files.items() if not sha)
    if not missing:
        return None
    return (
        f"No sha256 is known for {', '.join(echo(m) for m in missing[:3])}, so the weights cannot be pinned (R4). "
        "Push the weights through Git LFS (the default for `.safetensors` on the Hub) and submit again."
    )


def check_model(facts: ModelFacts, families: Sequence[Family] = FAMILIES) -> str | None:
    """The first model rule `facts` breaks, or None."""
    for refusal in (
        check_resolved_sha(facts),
        check_safetensors(facts),
        check_no_custom_code(facts),
        check_architecture(facts, families),
        check_license(facts),
        check_parameters(facts),
        check_weight_hashes(facts),
    ):
        if refusal:
            return refusal
    return None


# --- the store, at write time -----------------------------------------------------------------------------


def check_duplicate(requests: Iterable[Request], model_id: str, revision: str, precision: str) -> str | None:
    """R10: one pending, running or finished request per (model, SHA, precision); failed ones may be retried."""
    for request in sorted(requests, key=lambda r: r.submitted_at):
        if (request.model_id, request.revision, request.precision) != (model_id, revision, precision):
            continue
        if request.status not in ACTIVE_STATUSES:
            continue
        where = {
            Status.PENDING: "waiting in the queue: follow it on the Queue tab",
            Status.RUNNING: "being evaluated now: follow it on the Queue tab",
            Status.FINISHED: f"finished: see it on the Model detail tab ([open it](?detail={quote(request.request_id, safe='')}))",
        }[request.status]
        return (
            f"{echo(model_id)} at {echo(revision[:12])} in {precision} was already submitted as request "
            f"{echo(request.request_id)} (status **{request.status.value}**, {where}). Submit another revision or "
            "precision instead."
        )
    return None


def recent_submissions(log: Iterable[LogEntry], actor: str, now: datetime) -> list[LogEntry]:
    """The actor's `submitted` log entries in the 7 days before `now`, oldest first."""
    since = now - WEEK
    return [e for e in log if e.event == "submitted" and e.actor == actor and parse_time(e.at) > since]


def check_weekly_limit(log: Iterable[LogEntry], actor: str, now: datetime, limit: int) -> str | None:
    """R10: at most `limit` submissions per user in any 7 days, counted from the public log."""
    recent = recent_submissions(log, actor, now)
    return weekly_refusal(
        recent,
        limit,
        closed="Submissions are closed on this leaderboard (`max_submissions_per_week = 0`).",
        over=f"{echo(actor)} has made {len(recent)} submissions in the last 7 days; the limit is {limit} per week (R10).",
        again="submit again",
    )


def weekly_refusal(recent: Sequence[LogEntry], limit: int, *, closed: str, over: str, again: str) -> str | None:
    """The refusal when `recent` (oldest first, last 7 days) reached `limit`, saying when the next slot opens."""
    if len(recent) < limit:
        return None
    if limit <= 0:
        return closed
    next_slot = parse_time(recent[len(recent) - limit].at) + WEEK
    return f"{over} You can {again} after {format_time(next_slot)}."


def format_time(moment: datetime) -> str:
    """A moment as people read it on the pages: `2026-11-27 09:11 UTC`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso_time(moment: datetime) -> str:
    """A moment as records store it, to the millisecond so two submissions in one second keep their order
    (the claim order is `submitted_at`, then `request_id`)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- applying it all --------------------------------------------------------------------------------------


def new_request_id(now: datetime | None = None) -> str:
    """Sortable and unique: `20261127T091100Z-` and 8 random hex digits."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(4)


@dataclass(frozen=True)
class SubmissionOutcome:
    """What the form shows: `message` is markdown; `position` is the 1-based place among pending requests."""

    accepted: bool
    message: str
    request: Request | None = None
    position: int | None = None
    running: int = 0


def form_refusal(form: SubmissionForm, submitter: str | None) -> str | None:
    """Why the form itself is refused (who submits, the model id, revision and precision as typed, the rules
    accepted), before anything is looked up; None when it may go on."""
    for refusal in (
        check_submitter(submitter),
        check_model_id(form.model_id),
        check_revision_text(form.revision),
        check_precision(form.precision),
        check_accepted(form.accepted_rules),
    ):
        if refusal:
            return refusal
    return None


def new_request(
    form: SubmissionForm,
    submitter: str,
    facts: ModelFacts,
    moment: datetime,
    eval_sets: Sequence[EvalSetConfig],
) -> Request:
    """The PENDING request of an accepted model: pinned to the SHA the revision resolved to (R4), with the model
    facts read at submission (license, size, architecture, weight hashes), the repo's claims (R15) and where the
    model was found (a Hub repo or the local models folder), so the evaluator looks nowhere else."""
    assert facts.sha is not None and facts.architecture is not None and facts.parameters is not None
    return Request(
        request_id=new_request_id(moment),
        model_id=form.model_id,
        revision=facts.sha,
        requested_revision=form.revision,
        precision=form.precision,
        submitter=submitter,
        submitted_at=iso_time(moment),
        model=ModelInfo(
            license=license_id(facts.declared_license) or "",
            parameters=facts.parameters,
            architecture=facts.architecture,
            weight_files={name: sha for name, sha in facts.weight_files.items() if sha},
        ),
        throughput=form.throughput,
        claims=submission_claims(facts, eval_sets),
        publish_results=form.publish_results,
        source=facts.source,  # where the evaluator will look for the model, and only there
    )


def refused(reason: str) -> SubmissionOutcome:
    return SubmissionOutcome(accepted=False, message=f"❌ **Not accepted.** {reason}")


@dataclass
class _Placement:
    """Where the request landed, recorded by the write-time check (the state it saw is the one written to)."""

    position: int = 0
    running: int = 0


def write_time_check(
    request: Request, rules: Rules, now: Callable[[], datetime], placement: _Placement
) -> Callable[[StoreState], None]:
    """The checks that must see the store as it is when the request is written (raise `Refused`)."""

    def check(state: StoreState) -> None:
        duplicate = check_duplicate(state.requests.values(), request.model_id, request.revision, request.precision)
        if duplicate:
            raise Refused(duplicate)
        limit = check_weekly_limit(state.log, request.submitter, now(), rules.max_submissions_per_week)
        if limit:
            raise Refused(limit)
        key = (request.submitted_at, request.request_id)
        placement.position = 1 + sum(
            1 for r in state.requests.values() if r.status is Status.PENDING and (r.submitted_at, r.request_id) < key
        )
        placement.running = sum(1 for r in state.requests.values() if r.status is Status.RUNNING)

    return check


def accepted_message(request: Request, position: int, running: int) -> str:
    ahead = position - 1
    queue = "next in line" if ahead == 0 else f"{ahead} request{'s' if ahead != 1 else ''} ahead of it"
    if running:
        queue += f", {running} evaluation{'s' if running != 1 else ''} running"
    return (
        f"✅ **Accepted.** {echo(request.model_id)} at {echo(request.revision[:12])} ({request.precision}) is request "
        f"{echo(request.request_id)}, **#{position} in the queue** ({queue}). Follow it on the Queue tab; the result "
        "appears on the Leaderboard when the evaluation finishes." + claims_message(request.claims)
    )


def claims_message(claims: ClaimsRead | None) -> str:
    """What the submission recorded of the repo's own claims (R15), and each claim file it could not read."""
    if claims is None:
        return ""
    sets = sorted({c.eval_set for c in claims.claims})
    found = (
        f"{len(claims.claims)} claimed WER(s) on {', '.join(echo(s) for s in sets)} were recorded from the model "
        "repo, to be shown beside the measured numbers."
        if claims.claims
        else "No claimed WER on this board's eval sets was found in the model repo."
    )
    problems = "".join(f"\n- {md_text(p)}" for p in claims.problems[:10])
    return f"\n\n{found}" + (f" Some claim files were left out:{problems}" if problems else "")


def submission_claims(facts: ModelFacts, eval_sets: Sequence[EvalSetConfig]) -> ClaimsRead | None:
    """The repo's claims at the pinned revision (R15); None when its files claim nothing on this board's eval
    sets and nothing was unreadable (the request and its log event then stay as they were). Never raises:
    claims are untrusted input and never block a submission."""
    if not facts.claim_files and not facts.claim_problems:
        return None
    try:
        read = read_claims(facts.claim_files, eval_sets, facts.claim_problems)
    except Exception as exc:  # a parser bug must not refuse a valid model
        return ClaimsRead(problems=[f"could not read the claim files: internal error ({type(exc).__name__})"])
    return read if read.claims or read.problems else None


def submit(
    form: SubmissionForm,
    submitter: str | None,
    *,
    source: ModelSource,
    store: Store,
    rules: Rules,
    families: Sequence[Family] = FAMILIES,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    eval_sets: Sequence[EvalSetConfig] = (),
) -> SubmissionOutcome:
    """Validate `form` (nothing is written unless every rule holds), then write the PENDING request and its
    log entry, with the repo's claims on `eval_sets` (R15). Returns the outcome the form shows; never raises
    for a refusal."""
    refusal = form_refusal(form, submitter)
    if refusal:
        return refused(refusal)
    assert submitter is not None
    try:
        facts = source.inspect(form.model_id, form.revision)
    except InspectionError as exc:
        return refused(str(exc))
    refusal = check_model(facts, families)
    if refusal:
        return refused(refusal)
    request = new_request(form, submitter, facts, now(), eval_sets)
    placement = _Placement()
    try:
        store.submit(request, check=write_time_check(request, rules, now, placement))
    except Refused as exc:
        return refused(str(exc))
    except StoreError as exc:
        return refused(f"The store could not record the request ({exc}). Nothing was written; try again shortly.")
    return SubmissionOutcome(
        accepted=True,
        message=accepted_message(request, placement.position, placement.running),
        request=request,
        position=placement.position,
        running=placement.running,
    )
