"""The About page: the rules in plain words with the configured values, the metric definitions, how to read
the public datasets and how to reproduce an entry. Pure: markdown from the config."""

from __future__ import annotations

import os
from collections.abc import Callable

from leaderboard.jobs.status import budget_sentence
from openasr_core.config import ANY_GPU_CLASS, AuditConfig, LeaderboardConfig
from openasr_core.families import FAMILIES, NO_PROMPT, package_installed
from openasr_core.records import HUB_REPO_ID
from openasr_core.signing import fingerprint

RULES_FILE = "docs/rules.md"


def rules_link(space_id: str | None) -> str:
    """Where the full rules are: the file in this Space's repo on the Hub, or the checkout's file when local.

    `space_id` is what Hugging Face sets as `SPACE_ID` in a running Space (`owner/name`)."""
    if space_id and HUB_REPO_ID.match(space_id):
        return f"[`{RULES_FILE}`](https://huggingface.co/spaces/{space_id}/blob/main/{RULES_FILE})"
    return f"`{RULES_FILE}` in this Space's repository"


def _hardware_rule(gpu_class: str) -> str:
    if gpu_class == ANY_GPU_CLASS:
        return (
            "This board accepts results from **any hardware** (a local board ranks what its own machine measured); "
            "every entry is still labelled with the device it ran on."
        )
    return (
        f"Only results measured on **{gpu_class}** are official and ranked. Results from other hardware are "
        "stored, labelled unofficial and hidden from the default view."
    )


def families_section(installed: Callable[[str], bool] = package_installed) -> str:
    """The supported families (R6): class, kind, recipe and fixed prompt, from `openasr_core.families`."""
    rows = []
    for family in FAMILIES:
        missing = family.missing_packages(installed)
        status = f"refused here: needs `{'`, `'.join(missing)}`" if missing else "accepted"
        prompt = "none" if family.prompt == NO_PROMPT else "`" + family.prompt.replace("|", "\\|") + "`"  # GFM cell
        rows.append(
            f"| `{family.model_type}` | `{family.architecture}` | {family.kind.value} | `{family.recipe}` | "
            f"{prompt} | {status} |"
        )
    return (
        "## Supported families\n\n"
        "A family is refused at submission unless it is listed here as accepted. Every family decodes greedily, "
        "at batch size one, exactly as its transformers documentation shows; a prompted family is asked the "
        "same English transcription request for every eval set.\n\n"
        "| family | transformers class | kind | recipe | fixed prompt | on this board |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def _signature_rule(public_key: str | None) -> str:
    if public_key is None:
        return (
            "**No public key is configured, so no result can be verified and none is ranked**: the maintainers "
            "must set `RESULTS_PUBLIC_KEY` (see docs/deploy.md, Space setup)."
        )
    return (
        "Only results whose signature verifies are ranked; the others are shown, labelled unverified. "
        f"Public key `{public_key}` (fingerprint `{fingerprint(public_key)}`)."
    )


def _reading_snippets(config: LeaderboardConfig, results_location: str, requests_location: str) -> tuple[str, str]:
    """How to load the public data (a markdown code block) and what to pass to `verify`, for the Hub or local store."""
    example_set = config.eval_sets[0].name
    on_hub = config.store.kind == "hub"
    if on_hub:
        load_results = f"""```python
from datasets import load_dataset
table = load_dataset("{results_location}", split="train").to_pandas()  # leaderboard/<xx>.csv, one row per result

import pandas as pd
shard = pd.read_csv("hf://datasets/{results_location}/leaderboard/00.csv")  # one shard of the table
result = pd.read_json("hf://datasets/{results_location}/results/<xx>/<request_id>.json", typ="series")
predictions = pd.read_json("hf://datasets/{results_location}/predictions/<xx>/<request_id>/{example_set}.jsonl", lines=True)
log = pd.read_json("hf://datasets/{requests_location}/log/000000.jsonl", lines=True)
```"""
        verify_target = f"{results_location} --requests-repo {requests_location}"
    else:
        load_results = f"""```python
import glob, json
import pandas as pd
results = pd.json_normalize([json.load(open(p)) for p in glob.glob("{results_location}/results/*/*.json")])
predictions = pd.read_json("{results_location}/predictions/<xx>/<request_id>/{example_set}.jsonl", lines=True)
log = pd.concat(pd.read_json(p, lines=True) for p in sorted(glob.glob("{requests_location}/log/*.jsonl")))
```"""
        verify_target = str(config.store.local_root)
    return load_results, verify_target


def _unavailable_rank(audit: AuditConfig) -> str:
    """How the board ranks an entry whose model is gone (`[audit] unrankable_when_unavailable`)."""
    return " and left out of the ranking" if audit.unrankable_when_unavailable else ", and stays ranked on this board"


def audits_section(config: LeaderboardConfig) -> str:
    """How audits work on this board (R13), with the configured cadence, budget, tolerance and request limit."""
    audit = config.audit
    return f"""## Audits (R13)

Published numbers are checked again. An **audit** re-runs one finished entry exactly as recorded (same model
files at the pinned revision, precision, eval sets at their recorded revisions, leaderboard version) on the
board's hardware class, and compares:

- the sha256 of every weight file with the digests recorded at submission (R4);
- the raw predictions, utterance by utterance (greedy decoding is deterministic on one hardware class);
- the average WER (all of these exactly: any difference fails the audit at once);
- the RTF, judged with its measured noise: each re-run's utterance times are paired with the published ones
  and their ratio gets a 95% bootstrap interval; the RTF is off only when that whole interval lies outside the
  hardware class's run-to-run tolerance ({_tolerances(audit)}), and then the entry is re-run once more and
  flagged only if both re-runs agree. A re-run on a machine busy with other work decides nothing: the audit is
  **inconclusive** (`audit_inconclusive`, never a flag) and is tried again later;
- the hardware class.

**When:** only while no submission waits (an arriving submission waits for one audit at most), after every
**{audit.every_n_evaluations}** finished evaluations, within **{audit.max_minutes_per_day:g}** device minutes of audits
in any 24 hours. The entry is picked at random, weighted toward the top of the board and recent entries
(an entry {audit.recent_half_life_days:g} days old is half as likely as a new one); the seed is recorded, so
the choice can be redone.

**Ask for one:** anyone logged in can request an audit of a ranked entry from its Model detail page (at most
**{audit.max_requests_per_week}** requests per user and **{audit.max_requests_per_entry}** per entry in any 7
days). Requested audits run before random ones; the request (`audit_requested`) and its outcome are in the
public log. An entry whose model can no longer be loaded at its pinned revision (deleted, gated, revision
gone) cannot be audited: it is marked 🚫 on the board{_unavailable_rank(audit)}.

**Outcome:** each audit is a signed record in the results dataset (every figure compared, the verdict, the
differing utterances as evidence; `load_dataset(..., "audits")`) and a public log event, `audit_passed` or
`audit_failed`. An entry whose latest audit failed is **flagged 🚩**: left out of the ranking and hidden from
the default view (tick **Show flagged** to see it), its detail page shows the evidence. A later passing audit
clears the flag; nothing is deleted from the log. Every attempt is logged (`audit_started`; one stopped by an
error, `audit_attempt_failed` with the error's kind); after **{audit.max_attempts}** attempts without a verdict,
**{audit.retry_after_minutes:g}** minutes apart, the audit is `audit_dropped` with the reason.

Run one yourself, against this board's store and config:

```bash
python -m evaluator audit --request-id <request_id>   # or without it: a weighted random pick (--seed N)
```

It prints the published and re-run figures side by side and exits 0 (every check passed), 1 (one failed),
2 (it could not run) or 3 (inconclusive: the machine was busy).
"""


def _tolerances(audit: AuditConfig) -> str:
    """`±5% by default, CPU ±10%` from the config, as the About page states them."""
    by_class = ", ".join(f"{name} ±{value:.0%}" for name, value in sorted(audit.rtf_tolerance_by_class.items()))
    return f"±{audit.rtf_tolerance:.0%} by default" + (f", {by_class}" if by_class else "")


def _verify_snippet(verify_target: str, public_key: str | None) -> str:
    """How to verify, with the board's key pinned: given here, outside the datasets it checks (issue 26)."""
    pin = f" --public-key {public_key}" if public_key else ""
    return f"""To check every signature and the log's hash chain yourself (add `--deep` to also check every predictions
file's sha256 against its signed result, downloading them all):

```bash
python -m evaluator verify {verify_target}{pin}
```

The key is given here, outside the datasets, on purpose: whoever can write a dataset can re-sign everything with
a key of their own and put it in the dataset's card. Without `--public-key` the check uses the card's key and
says only that the data are self-consistent (exit 4).
"""


def who_evaluates(config: LeaderboardConfig) -> str:
    """Who evaluates, in words true of this board: the Space's own GPU on a board that names a GPU class, its
    own machine (CPU or GPU, as each result's hardware records) on the local board, or Jobs."""
    if config.workers.mode == "jobs" or config.rules.gpu_class != ANY_GPU_CLASS:
        return budget_sentence(config.workers)
    return (
        "Evaluations run one at a time on the machine this Space runs on (its CPU when it has no GPU); each "
        "entry's detail page names the hardware it was measured on."
    )


def about_markdown(
    config: LeaderboardConfig, results_location: str, requests_location: str, *, public_key: str | None
) -> str:
    """The whole About page; `*_location` are the datasets' repo ids or local folders. `public_key` is the
    key results are verified against (R9), or None when none is configured (then nothing is ranked)."""
    return (
        _what_is_measured(config)
        + _rules_section(config, public_key)
        + f"{families_section()}\n{audits_section(config)}\n"
        + METRICS_SECTION
        + _datasets_section(config, results_location, requests_location, public_key)
        + REPRODUCING_SECTION
    )


def _what_is_measured(config: LeaderboardConfig) -> str:
    """The opening: one fixed hardware class, batch size one, a pinned revision, this version's sets."""
    sets = ", ".join(f"`{e.name}`" for e in config.eval_sets)
    return f"""
## What this leaderboard measures

Every number here was measured by this Space's own evaluator, on one fixed hardware class, **one utterance
at a time**, on a pinned model revision. Leaderboard version `{config.version}` evaluates on {sets} with the
`{config.normalizer}` text normalizer.

"""


def _rules_section(config: LeaderboardConfig, public_key: str | None) -> str:
    """R1-R15 in plain words with this board's values, then what happens to a request whose worker dies and who
    evaluates."""
    rules = config.rules
    return f"""## The rules

The full rules (R1–R15) and the definition of every figure are written out in
{rules_link(os.environ.get("SPACE_ID"))}; this page sums them up with the values this board uses.

| | Rule | In plain words |
|---|---|---|
| R1 | Fixed hardware | {_hardware_rule(rules.gpu_class)} The evaluator records the GPU name, memory, driver, CUDA and torch versions. |
| R2 | Batch size one | Each forward/generate call sees exactly one utterance. A hook on the model records the largest batch it saw; a result with a batch above 1 is invalid. |
| R3 | RTF under a latency constraint | The timer covers everything from the decoded waveform in memory to the final text. An entry **meets real time** when the 99th percentile of per-utterance RTF is at most **{rules.max_rtf:g}**. An utterance slower than **{rules.utterance_timeout_s:g} s** fails the evaluation. **{rules.warmup_utterances}** warm-up utterances run first and are not counted. |
| R4 | Pinned revision | The form resolves a branch or tag to a commit SHA; the evaluator loads exactly that SHA and checks the sha256 of every weight file against the submission. |
| R5 | Declared precision | `float32`, `float16` or `bfloat16`: the model runs in that dtype, nothing else. |
| R6 | Safe loading, every family | No `trust_remote_code`, safetensors weights only, and one of the speech-recognition families below, each run by a *recipe* equal to its documented transformers usage (the recipe's name and version are in every result). Anything else is refused at submission, with the reason. |
| R7 | One pipeline | Greedy decoding, English, no timestamps, no dataset-specific prompts, the same for every dataset (a prompted family gets its one fixed transcription request, below); nothing in a model's own generation config changes the output; one normalizer (`{config.normalizer}`) for the whole leaderboard version. |
| R8 | Public log, no retraction | Every submission and status change is appended to a public hash-chained log (the Log tab checks the chain). Failures stay visible. |
| R9 | Signed results | The evaluator signs each result (Ed25519; the public key is in the results dataset card). {_signature_rule(public_key)} |
| R10 | Fair access | Log in to submit; at most **{rules.max_submissions_per_week}** submissions per user in any 7 days; a (model, SHA, precision) already pending, running or finished is refused. A failed one may be resubmitted. |
| R11 | Honest statistics | Corpus-level WER per dataset with a 95% bootstrap confidence interval ({rules.bootstrap_samples} resamples of utterances, seed {rules.bootstrap_seed}); average WER is the unweighted mean over the datasets; RTF is pooled by duration. |
| R12 | Reproducibility | Each result records the software versions, the evaluator version, each eval set's source and revision, the rules in force and the command that reproduces it. Raw predictions are stored next to the result. |
| R13 | Audits | Finished entries are re-run at random (and on request) and compared with what was published; a failed audit flags the entry out of the ranking (see **Audits** below). |
| R14 | Throughput track, kept apart | An entry may also be measured batched (same hardware, model, precision and eval sets; a batch-size ladder, the best size recorded) on the **Throughput** tab, with its own ranking; it never changes the batch-one ranking, RTF or real-time verdict. Both tracks show the cost per 1,000 audio hours from the board's hardware price. |
| R15 | Claimed vs measured | What a model's own repo claims for these eval sets (its `.eval_results` files and card, read at the pinned revision when it is submitted, and recorded then) is shown beside what the board measured, with the gap. Claims are never ranked. **Opt-in results PR:** a submitter who ticks *Open a pull request with the verified results* gets, once the result is finished and its signature verifies, one pull request on the model's Hub repo adding the measured WER in the Hub's Evaluation Results format (`.eval_results/`), never two; its link, or why it could not be opened, is in the log and on the detail page. |

A request whose worker dies goes back to the queue when its {rules.lease_s:g}-second lease expires, and fails
after {rules.max_attempts} attempts; a Space that is stopped or restarted hands its running request back at once
(logged `released`, the attempt not counted).

**Who evaluates:** {who_evaluates(config)}

"""


#: How each figure is computed (R3, R11), the same on every board.
METRICS_SECTION = """## Metrics

- **WER** (word error rate) = (substitutions + deletions + insertions) / reference words, after normalizing both
  texts. Computed over the whole eval set (total errors / total words), never as a mean of per-utterance WERs.
  Utterances with an empty reference are skipped and counted. Shown as a percentage; stored as a fraction.
- **Average WER**: the unweighted mean of the per-dataset WERs; the ranking key. Entries with the same average
  WER to 0.01 percentage points share a rank.
- **RTF** (real-time factor) = total processing time / total audio duration, pooled over all utterances.
  Below 1 is faster than real time. **RTFx** = 1 / RTF (how many seconds of audio per second).
- **p90 latency**: the 90th percentile of per-utterance processing time; the table shows the slowest eval set's,
  the detail page every set's p50/p90/p99.
- **95% CI**: the 2.5th and 97.5th percentiles of WER over bootstrap resamples of the utterances.

"""


def _datasets_section(
    config: LeaderboardConfig, results_location: str, requests_location: str, public_key: str | None
) -> str:
    """Where the public results and requests are, how to load them, and how to verify them against the key."""
    load_results, verify_target = _reading_snippets(config, results_location, requests_location)
    return f"""## Reading the public datasets

Results live in `{results_location}`, requests and the log in `{requests_location}`. Rates are fractions
(a WER of 6.3% is stored as `0.063`), times are seconds, timestamps ISO 8601 UTC.

{load_results}

{_verify_snippet(verify_target, public_key)}
"""


#: How to reproduce an entry from its `reproduce` command (R12).
REPRODUCING_SECTION = """## Reproducing an entry

Each result's `reproduce` field (shown on the Model detail tab) is the exact command, for example:

```bash
python -m evaluator evaluate --model <org/name> --revision <sha> --precision float16 --out runs/<name>
```

It writes `result.json` and `predictions/<set>.jsonl` that you can compare with the published ones.
"""
