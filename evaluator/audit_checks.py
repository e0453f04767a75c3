"""The audit's comparisons (R13) as pure functions: published figures against a re-run's, one `AuditCheck` each.

- weights: every weight file at the pinned revision still hashes to the digest recorded at submission (R4);
- revision: the model resolves to the recorded revision (for a local folder: its content digest);
- eval sets: the re-run read the same eval set data (Hub revision, local folder digest);
- predictions: raw predictions equal, utterance by utterance; the differing ones are the evidence;
- avg WER: equal (it follows from the predictions, shown so a reader sees the effect);
- RTF: the re-run's pooled RTF within the configured relative tolerance of the published one (SPEC: 5%);
- hardware class: the same GPU class in both fingerprints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.records import AuditCheck, AuditRecord, EvalSetSource, Hardware, PredictionRow, UtteranceDiff, Verdict

#: At most this many differing utterances are kept as evidence in one record (the count is always exact).
MAX_EVIDENCE = 100


def _verdict(ok: bool) -> Verdict:
    return Verdict.PASS if ok else Verdict.FAIL


def skipped(name: str, published: float | int | str | None, why: str) -> AuditCheck:
    """A check that could not be compared because an earlier one failed (nothing was re-run)."""
    return AuditCheck(name, published, None, "not compared", Verdict.SKIPPED, why)


def compare_weights(recorded: Mapping[str, str], actual: Mapping[str, str]) -> AuditCheck:
    """R4: the same weight files, each with the recorded sha256."""
    problems = []
    for name in sorted(set(recorded) | set(actual)):
        if name not in actual:
            problems.append(f"{name} missing")
        elif name not in recorded:
            problems.append(f"{name} added")
        elif actual[name] != recorded[name].lower():
            problems.append(f"{name} changed ({recorded[name][:12]}… recorded, {actual[name][:12]}… now)")
    return AuditCheck(
        name="weight files",
        published=f"{len(recorded)} file(s)",
        rerun=f"{len(actual)} file(s)",
        difference=f"{len(problems)} differ" if problems else "same sha256",
        verdict=_verdict(not problems and bool(recorded)),
        detail="; ".join(problems) if problems else ("" if recorded else "no weight hashes were recorded"),
    )


def compare_revision(recorded: str, resolved: str) -> AuditCheck:
    same = recorded == resolved
    return AuditCheck(
        name="model revision",
        published=recorded,
        rerun=resolved,
        difference="same" if same else "differs",
        verdict=_verdict(same),
        detail="" if same else "the model no longer resolves to the pinned revision (its files changed)",
    )


def _source_key(source: EvalSetSource) -> tuple[str, str | None, str | None, str | None, str | None]:
    return (source.name, source.revision, source.config, source.split, source.sha256)


def compare_eval_sets(recorded: Sequence[EvalSetSource], rerun: Sequence[EvalSetSource]) -> AuditCheck:
    """The re-run read the same data: same names, Hub revisions, configs, splits and local folder digests."""
    before = {s.name: _source_key(s) for s in recorded}
    after = {s.name: _source_key(s) for s in rerun}
    differing = sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))
    return AuditCheck(
        name="eval set data",
        published=f"{len(before)} set(s)",
        rerun=f"{len(after)} set(s)",
        difference=f"{len(differing)} differ" if differing else "same",
        verdict=_verdict(not differing),
        detail=f"changed: {', '.join(differing)}" if differing else "",
    )


def prediction_diffs(
    published: Mapping[str, Sequence[PredictionRow]], rerun: Mapping[str, Sequence[PredictionRow]]
) -> list[UtteranceDiff]:
    """Every utterance whose raw prediction differs (or that only one run has), in eval set and id order."""
    diffs = []
    for eval_set in sorted(set(published) | set(rerun)):
        before = {row.id: row.prediction for row in published.get(eval_set, ())}
        after = {row.id: row.prediction for row in rerun.get(eval_set, ())}
        for utterance in sorted(set(before) | set(after)):
            if before.get(utterance) != after.get(utterance):
                diffs.append(
                    UtteranceDiff(
                        eval_set=eval_set,
                        id=utterance,
                        published=before.get(utterance, "<not in the published run>"),
                        rerun=after.get(utterance, "<not in the re-run>"),
                    )
                )
    return diffs


def compare_predictions(
    published: Mapping[str, Sequence[PredictionRow]], rerun: Mapping[str, Sequence[PredictionRow]]
) -> tuple[AuditCheck, list[UtteranceDiff]]:
    """Raw predictions equal utterance by utterance; returns the check and the evidence (capped)."""
    diffs = prediction_diffs(published, rerun)
    total = sum(len(rows) for rows in published.values())
    shown = f" (first {MAX_EVIDENCE} kept as evidence)" if len(diffs) > MAX_EVIDENCE else ""
    check = AuditCheck(
        name="predictions",
        published=total,
        rerun=sum(len(rows) for rows in rerun.values()),
        difference=f"{len(diffs)} utterance(s) differ" if diffs else "all identical",
        verdict=_verdict(not diffs and total > 0),
        detail=(f"{len(diffs)} of {total} raw predictions differ{shown}" if diffs else ""),
    )
    return check, diffs[:MAX_EVIDENCE]


def compare_wer(published: float, rerun: float) -> AuditCheck:
    """Average WER, shown as a consequence of the predictions: equal when they are (to float rounding)."""
    same = abs(published - rerun) <= 1e-12
    return AuditCheck(
        name="avg WER",
        published=published,
        rerun=rerun,
        difference=f"{100 * (rerun - published):+.2f} points",
        verdict=_verdict(same),
    )


def relative_change(published: float, rerun: float) -> float:
    return (rerun - published) / published if published else float("inf")


def compare_rtf(published: float, rerun: float, tolerance: float) -> AuditCheck:
    """R13: the re-run's pooled RTF lands within `tolerance` (a fraction) of the published RTF, either way."""
    change = relative_change(published, rerun)
    ok = abs(change) <= tolerance + 1e-12  # exactly on the boundary passes, despite float rounding
    return AuditCheck(
        name="RTF",
        published=published,
        rerun=rerun,
        difference=f"{100 * change:+.1f}%",
        verdict=_verdict(ok),
        detail="" if ok else f"outside the ±{100 * tolerance:g}% tolerance",
    )


def compare_hardware(published: Hardware, rerun: Hardware) -> AuditCheck:
    same = published.gpu_class.upper() == rerun.gpu_class.upper()
    return AuditCheck(
        name="hardware class",
        published=published.gpu_class,
        rerun=rerun.gpu_class,
        difference="same" if same else "differs",
        verdict=_verdict(same),
        detail="" if same else "the audit must run on the hardware class the entry was measured on",
    )


# --- the printed table ------------------------------------------------------------------------------------


def _cell(value: float | int | str | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.5g}"
    text = str(value)
    return text if len(text) <= 22 else text[:12] + "…" + text[-6:]


def render_table(record: AuditRecord) -> str:
    """The side-by-side table the CLI prints: published, re-run, difference and verdict per check."""
    header = f"{'check':<16} {'published':>22} {'re-run':>22} {'difference':>24} {'verdict':>8}"
    lines = [
        f"audit {record.audit_id} of {record.request_id}: {record.model_id}@{record.revision[:12]} ({record.precision}), "
        f"leaderboard {record.leaderboard_version}",
        f"selection: {record.selection}" + (f", seed {record.seed}" if record.seed is not None else ""),
        f"hardware: {record.hardware.gpu_name or record.hardware.cpu} ({record.hardware.gpu_class}); "
        f"RTF tolerance ±{100 * record.rtf_tolerance:g}%; took {record.duration_s:.1f} s",
        header,
        "-" * len(header),
    ]
    for check in record.checks:
        lines.append(
            f"{check.name:<16} {_cell(check.published):>22} {_cell(check.rerun):>22} "
            f"{check.difference:>24} {check.verdict.value.upper():>8}"
        )
    lines.append("-" * len(header))
    for check in record.checks:
        if check.detail:
            lines.append(f"{check.name}: {check.detail}")
    for diff in record.evidence[:10]:
        lines.append(f"  {diff.eval_set}/{diff.id}: published {diff.published!r} | re-run {diff.rerun!r}")
    if len(record.evidence) > 10:
        lines.append(f"  … {len(record.evidence) - 10} more differing utterance(s) in the audit record")
    failed = record.failed_checks
    lines.append("verdict: PASSED" if record.passed else f"verdict: FAILED ({', '.join(failed)})")
    return "\n".join(lines)
