"""The audit's comparisons (R13) as pure functions: published figures against a re-run's, one `AuditCheck` each.

- weights: every weight file at the pinned revision still hashes to the digest recorded at submission (R4);
- revision: the model resolves to the recorded revision (for a local folder: its content digest);
- eval sets: the re-run read the same eval set data (Hub revision, local folder digest);
- predictions: raw predictions equal, utterance by utterance; the differing ones are the evidence;
- avg WER: equal (it follows from the predictions, shown so a reader sees the effect);
- RTF, judged with its noise: each re-run is paired with the published run utterance by utterance (the ratio of
  their summed times, with a 95% bootstrap interval over utterances); it is outside the hardware class's
  tolerance t only when that whole interval lies outside [1/(1+t), 1+t]. A flag needs two re-runs outside on
  the same side; a re-run on a busy machine decides nothing (inconclusive);
- hardware class: the same GPU class in both fingerprints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from openasr_core.records import (
    AuditCheck,
    AuditRecord,
    EvalSetSource,
    Hardware,
    LoadSummary,
    PredictionRow,
    RtfRun,
    UtteranceDiff,
    Verdict,
)

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


def paired_times(
    published: Mapping[str, Sequence[PredictionRow]], rerun: Mapping[str, Sequence[PredictionRow]]
) -> tuple[np.ndarray, np.ndarray]:
    """The timed seconds of the utterances both runs have, in pairs (published, re-run)."""
    before, after = [], []
    for eval_set in sorted(set(published) & set(rerun)):
        times = {row.id: row.time_s for row in rerun[eval_set]}
        for row in published[eval_set]:
            if row.id in times:
                before.append(row.time_s)
                after.append(times[row.id])
    return np.asarray(before, dtype=float), np.asarray(after, dtype=float)


def paired_ratio(
    published: np.ndarray, rerun: np.ndarray, samples: int, seed: int
) -> tuple[float, tuple[float, float]]:
    """Σ re-run / Σ published (the ratio of the pooled RTFs on the same audio) and its 95% bootstrap interval:
    utterances resampled with replacement in pairs, so what varies from utterance to utterance is in the
    interval and what both runs share (the audio, the decoded length) cancels out. Seeded: reproducible."""
    if len(published) == 0 or published.sum() <= 0:
        return float("inf"), (float("inf"), float("inf"))
    ratio = float(rerun.sum() / published.sum())
    rng = np.random.default_rng(seed)
    n, chunk = len(published), max(1, 2_000_000 // len(published))  # bounded memory on a large board
    ratios = []
    for start in range(0, samples, chunk):
        picks = rng.integers(0, n, size=(min(chunk, samples - start), n))
        ratios.append(rerun[picks].sum(axis=1) / np.maximum(published[picks].sum(axis=1), 1e-12))
    low, high = np.percentile(np.concatenate(ratios), [2.5, 97.5])
    return ratio, (float(low), float(high))


def rtf_run(
    published: Mapping[str, Sequence[PredictionRow]],
    rerun: Mapping[str, Sequence[PredictionRow]],
    rerun_rtf: float,
    load: LoadSummary,
    tolerance: float,
    *,
    samples: int = 2000,
    seed: int = 0,
) -> RtfRun:
    """One re-run's speed against the published run: within the tolerance unless the whole 95% interval of the
    paired ratio lies outside [1/(1+t), 1+t]; not judged (None) when the machine was busy."""
    before, after = paired_times(published, rerun)
    ratio, (low, high) = paired_ratio(before, after, samples=samples, seed=seed)
    within = None if load.busy else not (low > 1 + tolerance + 1e-12 or high < 1 / (1 + tolerance) - 1e-12)
    return RtfRun(
        rtf=rerun_rtf,
        ratio=round(ratio, 6),
        ratio_ci95=[round(low, 6), round(high, 6)],
        utterances=len(before),
        within=within,
        load=load,
    )


def _side(run: RtfRun) -> int:
    return 1 if run.ratio > 1 else -1


def _run_text(number: int, run: RtfRun) -> str:
    low, high = run.ratio_ci95
    text = (
        f"re-run {number}: {100 * (run.ratio - 1):+.1f}% (95% CI {100 * (low - 1):+.1f}% to {100 * (high - 1):+.1f}%)"
    )
    return text + (f", machine busy: {run.load.busy}" if run.load.busy else "")


def compare_rtf(published: float, runs: Sequence[RtfRun], tolerance: float, hardware_class: str) -> AuditCheck:
    """R13's speed verdict over the re-runs (one, or two when the first was outside the tolerance): a busy
    run decides nothing (INCONCLUSIVE); the first within passes; outside twice on the same side fails; a second
    re-run that does not confirm the first passes (the first was noise)."""
    band = f"±{100 * tolerance:g}% ({hardware_class})"
    detail = "; ".join(_run_text(i, run) for i, run in enumerate(runs, start=1))
    last = runs[-1]
    if any(run.within is None for run in runs):
        verdict, why = Verdict.INCONCLUSIVE, "the machine was busy with other work: speed not judged, retried later"
    elif runs[0].within:
        verdict, why = Verdict.PASS, ""
    elif len(runs) == 1:
        verdict, why = Verdict.INCONCLUSIVE, f"outside {band}, not confirmed by a second re-run"
    elif not last.within and _side(last) == _side(runs[0]):
        verdict, why = Verdict.FAIL, f"outside {band} in both re-runs"
    else:
        verdict, why = Verdict.PASS, f"the second re-run did not confirm the first (within {band})"
    return AuditCheck(
        name="RTF",
        published=published,
        rerun=last.rtf,
        difference=f"{100 * (last.ratio - 1):+.1f}% (CI {100 * (last.ratio_ci95[0] - 1):+.1f}..{100 * (last.ratio_ci95[1] - 1):+.1f}%)",
        verdict=verdict,
        detail="; ".join(part for part in (why, detail) if part),
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
    header = f"{'check':<16} {'published':>22} {'re-run':>22} {'difference':>30} {'verdict':>12}"
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
            f"{check.difference:>30} {check.verdict.value.upper():>12}"
        )
    lines.append("-" * len(header))
    for check in record.checks:
        if check.detail:
            lines.append(f"{check.name}: {check.detail}")
    for diff in record.evidence[:10]:
        lines.append(f"  {diff.eval_set}/{diff.id}: published {diff.published!r} | re-run {diff.rerun!r}")
    if len(record.evidence) > 10:
        lines.append(f"  … {len(record.evidence) - 10} more differing utterance(s) in the audit record")
    for number, run in enumerate(record.rtf_runs, start=1):
        load = run.load
        lines.append(
            f"  re-run {number}: RTF {run.rtf:.5g}, time ratio {run.ratio:.4f} (95% CI {run.ratio_ci95[0]:.4f}-"
            f"{run.ratio_ci95[1]:.4f}) over {run.utterances} utterance(s); CPU share {load.cpu_share:.0%} of "
            f"{load.threads:g} thread(s), load {load.load_1min:.2f} on {load.cpu_count} core(s)"
            + (f"; busy: {load.busy}" if load.busy else "")
        )
    if record.outcome == "failed":
        lines.append(f"verdict: FAILED ({', '.join(record.failed_checks)})")
    elif record.outcome == "inconclusive":
        lines.append("verdict: INCONCLUSIVE (the machine was busy with other work: no flag, tried again later)")
    else:
        lines.append("verdict: PASSED")
    return "\n".join(lines)
