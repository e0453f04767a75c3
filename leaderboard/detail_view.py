"""The Model detail page for one result: per-dataset WER with its 95% CI, S/D/I, latency percentiles, the
hardware and software it was measured on, the batch-size evidence, warm-up, the reproduce command and where
the raw predictions are. Pure: `detail_view` turns records into markdown and a table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from leaderboard.conditions import conditions_sentence
from leaderboard.table import BoardEntry, badges, format_params, model_url
from openasr_core.cost import recorded_price
from openasr_core.licenses import shown_license
from openasr_core.records import HUB_REPO_ID, ClaimComparison, Compute, LogEntry, Request, Result
from openasr_core.untrusted import clean, md_code, md_text

#: A link target that cannot break out of markdown's `(...)`: predictions URLs the store builds.
_SAFE_URL = re.compile(r"^https?://[A-Za-z0-9._~:/?#@!$&*+,;=%-]+$")


@dataclass(frozen=True)
class DetailChoice:
    """One entry of the model dropdown: `label` shown, `request_id` as the value."""

    label: str
    request_id: str


def detail_choices(entries: list[BoardEntry]) -> list[DetailChoice]:
    """Every board entry, in board order, labelled so two precisions or revisions of a model stay apart. A
    dropdown shows its labels as text: they are cleaned (`openasr_core.untrusted.clean`), not escaped."""
    choices = []
    for entry in entries:
        rank = f"#{entry.rank} " if entry.rank else ""
        extra = "" if entry.official else f" · unofficial ({entry.gpu_class})"
        extra += " · 🚩 failed audit" if entry.flagged else ""
        label = f"{rank}{entry.model_id} · {entry.precision} · {entry.revision[:7]}{extra}"
        choices.append(DetailChoice(label=clean(label), request_id=entry.request_id))
    return choices


@dataclass(frozen=True)
class DetailView:
    header: str
    datasets: pd.DataFrame
    measurement: str
    reproduce: str
    predictions: str


def _pct(value: float) -> str:
    return f"{value * 100:.2f}" if math.isfinite(value) else "—"


def _num(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if math.isfinite(value) else "—"


def dataset_frame(result: Result) -> pd.DataFrame:
    """One row per eval set: WER and its CI in percent, substitutions/deletions/insertions, reference words,
    utterances scored and skipped (empty reference), then speed: RTF, RTFx and per-utterance latency
    percentiles in seconds. The dataframe shows `str` cells as text: the eval set's name is cleaned, not escaped."""
    rows = []
    for name, score in result.datasets.items():
        low, high = score.wer_ci95
        rows.append(
            {
                "Eval set": clean(name),
                "WER (%)": _pct(score.wer),
                "95% CI (%)": f"{_pct(low)} – {_pct(high)}",
                "Sub": score.substitutions,
                "Del": score.deletions,
                "Ins": score.insertions,
                "Words": score.ref_words,
                "Utts": score.utterances,
                "Skipped": score.skipped_empty_references,
                "Audio (s)": f"{score.audio_s:.1f}",
                "RTF": _num(score.rtf),
                "RTFx": _num(score.rtfx),
                "p50 (s)": _num(score.latency_p50_s),
                "p90 (s)": _num(score.latency_p90_s),
                "p99 (s)": _num(score.latency_p99_s),
                "Utt. RTF p99": _num(score.utterance_rtf_p99),
            }
        )
    return pd.DataFrame(rows)


def _kv_table(rows: list[tuple[str, str]]) -> str:
    """A two-column HTML table without a header row (markdown tables need one, and it shows as an empty bar).
    Keys and values are escaped for markdown as well as HTML (`md_text`): the table sits in a markdown component,
    and software versions, CPU names and a model's decoding settings come from outside."""
    cells = "".join(f"<tr><th>{md_text(k)}</th><td>{md_text(v)}</td></tr>" for k, v in rows if v not in (None, ""))
    return f'<table class="lb-kv">{cells}</table>'


def detail_view(
    result: Result,
    entry: BoardEntry | None,
    request: Request | None,
    predictions: Mapping[str, str],
    *,
    max_rtf: float,
) -> DetailView:
    """Everything the detail page shows for `result`; `predictions` maps eval set -> URL or file path.
    Every text from the records (model repo, submitter, stored files) is escaped (`openasr_core.untrusted`)."""
    agg = result.aggregate
    title = md_text(result.model_id)
    if entry is not None and entry.local:
        link = f"{title} *(local model)*"
    else:
        link = f"[{title}]({model_url(result.model_id)})" if HUB_REPO_ID.match(result.model_id) else title
    rank = (
        f"**Rank #{entry.rank}**"
        if entry is not None and entry.rank
        else "**Not ranked** (unofficial, unverified or flagged by a failed audit)"
    )
    model = result.model or (request.model if request else None)
    facts = [
        f"revision {md_code(result.revision)}",
        f"precision **{md_text(result.precision)}**",
        f"{format_params(model.parameters)} parameters" if model and model.parameters else "",
        f"license {md_code(shown_license(model.license))}" if model and model.license else "",
        f"architecture {md_code(model.architecture)}" if model else "",
    ]
    submitted = f"submitted by {md_code(request.submitter)} on {md_text(request.submitted_at)}" if request else ""
    header = "\n\n".join(
        [
            f"## {link}",
            f"{rank} · {md_text(badges(entry)) if entry else ''}",
            " · ".join(f for f in facts if f),
            (
                f"**Average WER {_pct(agg.avg_wer)}%** · RTF {_num(agg.rtf)} · RTFx {_num(agg.rtfx)} · "
                f"{'meets' if agg.meets_realtime else 'does **not** meet'} the real-time constraint "
                f"(per-utterance RTF p99 ≤ {max_rtf:g})"
            ),
            f"Request {md_code(result.request_id)} · leaderboard version {md_code(result.leaderboard_version)} · "
            f"evaluated {md_text(result.started_at)} → {md_text(result.finished_at)} · {submitted}".rstrip(" ·"),
        ]
    )
    return DetailView(
        header=header,
        datasets=dataset_frame(result),
        measurement=measurement_markdown(result),
        reproduce=result.reproduce,
        predictions=predictions_markdown(predictions),
    )


def measurement_markdown(result: Result) -> str:
    """How the result was measured: hardware, batch size and warm-up, software, eval sets, signature."""
    hw = result.hardware
    memory = f"{hw.gpu_memory_bytes / 2**30:.1f} GiB" if hw.gpu_memory_bytes else ""
    hardware = _kv_table(
        [
            ("Device", hw.device),
            ("GPU class (R1)", f"{hw.gpu_class} → {'official' if result.official else 'unofficial'}"),
            ("GPU", hw.gpu_name or ""),
            ("GPU memory", memory),
            ("Driver", hw.driver_version or ""),
            ("CUDA", hw.cuda_version or ""),
            ("CPU", f"{hw.cpu} ({hw.cpu_count} cores)" if hw.cpu else ""),
            ("Platform", hw.platform),
        ]
    )
    software = _kv_table([(k, str(v)) for k, v in sorted(result.software.items())])
    evidence = result.batch_evidence
    batch_ok = evidence.max_batch_size <= 1
    batch = (
        f"{'✅' if batch_ok else '❌'} largest batch seen by the model: **{evidence.max_batch_size}** over "
        f"{evidence.forward_calls} forward/generate calls (R2 requires 1)."
    )
    warmup = f"{result.warmup_utterances} warm-up utterances were run first and not counted (R3)."
    load = f"Load during the timed calls: {md_text(conditions_sentence(result))}"
    sources = "\n".join(
        f"- {md_code(s.name)}: {md_text(s.source)}"
        + (f" (config {md_code(s.config)}, split {md_code(s.split)})" if s.config or s.split else "")
        + (f", revision {md_code(s.revision)}" if s.revision else "")
        + (f", sha256 {md_code(s.sha256[:16] + '…')}" if s.sha256 else "")
        for s in result.eval_sets
    )
    signature = "signed (Ed25519)" if result.signature else "not signed"
    compute = [] if result.compute is None else ["### Compute and cost", compute_table(result.compute, result)]
    return "\n\n".join(
        [
            "### Hardware (R1)",
            hardware,
            *compute,
            "### Batch size and warm-up (R2, R3)",
            f"{batch} {warmup}\n\n{load}",
            "### Family recipe (R6)",
            recipe_section(result),
            "### Decoding (R7)",
            decoding_section(result),
            "### Software (R12)",
            software or "_not recorded_",
            "### Eval sets",
            sources or "_not recorded_",
            f"### Signature (R9)\n\nThis result is {signature}.",
        ]
    )


def compute_table(compute: Compute, result: Result | None = None) -> str:
    """What the evaluation cost: where it ran, the machine time it held and its price (as recorded and signed).
    Said of the machine that ran it (a CPU is never called a GPU), and with the board's hardware price that the
    "$ per 1,000 audio hours" figures use when no Jobs price was listed, so the two never contradict each other."""
    on_gpu = result is None or result.hardware.device != "cpu"
    unit = "GPU" if on_gpu else "machine"
    where = "GPU" if on_gpu else "machine (CPU, no GPU)"
    board_price = recorded_price(result.rules) if result is not None else None
    if compute.price_usd_per_minute is not None:
        price = f"${compute.price_usd_per_minute:g}/min (${compute.price_usd_per_minute * 60:.2f}/h)" + (
            f", listed on {compute.price_date}" if compute.price_date else ""
        )
    elif board_price is not None:
        price = f"${board_price.usd_per_hour:g}/h, the board's hardware price ({board_price.source})"
    else:
        price = ""
    if compute.cost_usd is not None:
        cost = f"${compute.cost_usd:.2f}"
    elif board_price is not None:
        cost = f"${board_price.usd_per_hour * compute.gpu_seconds / 3600:.2f} at the board's hardware price"
    else:
        cost = "not known (no price recorded)"
    return _kv_table(
        [
            ("Ran on", f"Hugging Face Jobs, flavor {compute.flavor}" if compute.flavor else f"the Space's own {where}"),
            (
                f"{unit.capitalize()} time",
                f"{compute.gpu_seconds:,.0f} s ({compute.gpu_seconds / 3600:.2f} {unit} hours)",
            ),
            ("Billed", _billed(compute)),
            ("Price", price),
            ("Cost", cost),
        ]
    )


def _billed(compute: Compute) -> str:
    """How the cost counts the time: a Job's whole minutes (recorded since Job costs are rounded), else per second."""
    if compute.billed_minutes is not None:
        return f"{compute.billed_minutes:,} min (Jobs bill every started minute)"
    return "per second (pro rata)" if compute.cost_usd is not None else ""


def predictions_markdown(predictions: Mapping[str, str]) -> str:
    """Where the raw predictions of each eval set are (a link on the Hub, a path locally)."""
    links = []
    for name, where in predictions.items():
        if _SAFE_URL.match(where):
            links.append(f"- {md_code(name)}: [{md_text(where.rsplit('/', 1)[-1])}]({where})")
        else:
            links.append(f"- {md_code(name)}: {md_code(where)}")
    return (
        "### Raw predictions\n\nOne JSON line per utterance: `id`, `reference`, `prediction` (unnormalized), "
        "`duration_s`, `time_s`. Re-score them with your own normalizer.\n\n" + "\n".join(links)
    )


def recipe_section(result: Result) -> str:
    """How the model was run: its family's recipe (name, version, kind), the fixed transcription prompt, and the
    modules its family keeps in float32 besides the declared precision (R5)."""
    recipe = result.recipe
    if recipe is None:
        return "_not recorded (evaluated before family recipes were recorded)_"
    kept = ", ".join(recipe.fp32_modules) or "none"
    return _kv_table(
        [
            ("Recipe", f"{recipe.name} v{recipe.version}"),
            ("Family", f"{recipe.family} ({recipe.kind})"),
            ("Fixed prompt", recipe.prompt),
            ("Kept in float32 by the family's design", kept if result.precision != "float32" else ""),
        ]
    )


def decoding_section(result: Result) -> str:
    """The decoding settings the evaluator applied, what the model's own files asked for and did not get, and
    what was left out of scoring. Model files are untrusted: every ignored setting is shown escaped for markdown
    (`md_code`): this list is inline HTML in a markdown paragraph, where markdown links would still be live."""
    if not result.decoding:
        return "_not recorded (evaluated before the decoding settings were recorded)_"
    applied = _kv_table([(k, str(v)) for k, v in result.decoding.items()])
    if result.ignored_settings:
        items = "".join(f"<li>{md_code(s)}</li>" for s in result.ignored_settings)
        ignored = f"Ignored — the model's files asked for these, and it was evaluated without them:<ul>{items}</ul>"
    else:
        ignored = "Ignored: nothing; the model's files asked for no other decoding setting."
    counts = [
        f"{md_code(name)}: {s.excluded_references} reference(s) marked “ignore time segment in scoring” "
        "left out (as the public harness does)"
        for name, s in result.datasets.items()
        if s.excluded_references
    ] + [
        f"{md_code(name)}: {s.long_utterances} utterance(s) over 30 s, transcribed whole"
        for name, s in result.datasets.items()
        if s.long_utterances
    ]
    return "\n\n".join([applied, ignored, *(f"- {c}" for c in counts)])


EMPTY_DETAIL = "### No results yet\n\nWhen a submitted model has been evaluated, choose it here to see every number."


# --- claimed vs measured (R15) ----------------------------------------------------------------------------

CLAIMS_INTRO = (
    "What the model's own repo said at the pinned revision (its `.eval_results/*.yaml` files and its card's "
    "`model-index`, read at submission), beside what this board measured. Claims are never ranked; a gap is a "
    "fact about two measurements under different conditions, not an accusation."
)


def _claimant(comparison: ClaimComparison) -> str:
    """Who says it, as markdown: the model card, or the `.eval_results` file and its entry."""
    source = comparison.source
    if source.file == "README.md":
        return f"the model card ({md_text(source.entry)})"
    return f"{md_code(source.file)} ({md_text(source.entry)})"


def claim_sentence(eval_set: str, comparison: ClaimComparison, gpu_class: str) -> str:
    """One claim as a fact, in markdown: "the model card says 5.1%, measured 6.3% here under batch one on A10G"."""
    shown = f"{comparison.claimed_wer * 100:.2f}"
    written_as = comparison.as_written.rstrip("%").strip()
    plain = comparison.unit == "percent" and written_as in (shown, shown.rstrip("0").rstrip("."))
    written = "" if plain else f" (written {md_code(comparison.as_written)}, read as a {comparison.unit})"
    when = f" on {md_text(comparison.date)}" if comparison.date else ""
    conditions = f"; the claim's conditions: “{md_text(comparison.notes)}”" if comparison.notes else ""
    return (
        f"On {md_code(eval_set)}: {_claimant(comparison)} says {_pct(comparison.claimed_wer)}%{written}{when}, "
        f"measured {_pct(comparison.measured_wer)}% here under batch one on {md_text(gpu_class)} "
        f"({comparison.gap_points:+.2f} points){conditions}."
    )


def claims_markdown(result: Result, request: Request | None, log: Sequence[LogEntry]) -> str:
    """The detail page's "Claimed vs measured" section: a table, one factual sentence per claim, the claim files
    that could not be read, and the results pull request (opened or failed) when the submitter asked for one.
    Every text from the model repo is escaped (`openasr_core.untrusted`)."""
    parts = ["### Claimed vs measured (R15)", CLAIMS_INTRO]
    rows, sentences = [], []
    for eval_set, comparisons in result.claims.items():
        for c in comparisons:
            cells = [
                eval_set,
                f"{_pct(c.claimed_wer)}%",
                f"{_pct(c.measured_wer)}%",
                f"{c.gap_points:+.2f}",
                f"{c.source.file} ({c.source.entry})" + (f" · {c.source.name}" if c.source.name else ""),
                c.date or "",
                c.notes or "",
            ]
            rows.append("<tr>" + "".join(f"<td>{md_text(v)}</td>" for v in cells) + "</tr>")
            sentences.append(f"- {claim_sentence(eval_set, c, result.hardware.gpu_class)}")
    if rows:
        head = "".join(
            f"<th>{h}</th>"
            for h in ("Eval set", "Claimed", "Measured here", "Gap (points)", "Source", "Date", "Conditions")
        )
        parts += [f'<table class="lb-claims"><tr>{head}</tr>{"".join(rows)}</table>', "\n".join(sentences)]
    else:
        parts.append("_The model's repo claimed no WER on this board's eval sets at the pinned revision._")
    claims = request.claims if request else None
    if claims and claims.problems:
        parts.append("Left out of the claims: " + "; ".join(md_text(p) for p in claims.problems[:10]) + ".")
    parts.append(results_pr_line(result.request_id, log))
    return "\n\n".join(p for p in parts if p)


def results_pr_line(request_id: str, log: Sequence[LogEntry]) -> str:
    """The results pull request on the model's repo (R15), from the log: its link, or why it could not be opened."""
    for entry in reversed(log):
        if entry.request_id != request_id or entry.event not in ("results_pr_opened", "results_pr_failed"):
            continue
        if entry.event == "results_pr_failed":
            return f"The pull request with these results could not be opened: {md_text(entry.detail.get('error'))}."
        url = str(entry.detail.get("pr_url", ""))
        number = md_text(entry.detail.get("pr_num", ""))
        link = f"[#{number}]({url})" if _SAFE_URL.match(url) else f"#{number}"
        return f"📬 A pull request adding these verified results to the model's repo was opened: {link}."
    return ""
