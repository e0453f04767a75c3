"""The Log, Model detail and About pages, and the pure helpers behind the controls."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from leaderboard.about import about_markdown
from leaderboard.detail_view import dataset_frame, detail_choices, detail_view
from leaderboard.log_view import chain_markdown, log_frame
from leaderboard.table import BoardInput, Filters, build_board
from leaderboard.ui import filters_from_controls, number_text, resolve_submitter, sanitize, status_line
from openasr_core.config import WorkersConfig, load_config
from openasr_core.eventlog import ChainCheck, next_entry
from openasr_core.records import Compute
from openasr_core.signing import fingerprint, generate_keypair
from testkit.factories import make_request, make_result
from testkit.markdown_render import rendered_html

ALL = ["badges", "avg_wer", "rtf", "rtfx", "latency_p90", "wer.ami", "params", "precision", "license", "audit"]


def make_log():
    entries = []
    for request_id, event, actor in [
        ("r1", "submitted", "alice"),
        ("r1", "claimed", "worker"),
        ("r2", "submitted", "bob"),
    ]:
        entries.append(
            next_entry(
                entries[-1] if entries else None,
                request_id=request_id,
                event=event,
                actor=actor,
                detail={"model_id": f"org/{request_id}"},
            )
        )
    return entries


def test_log_is_newest_first_and_searchable() -> None:
    log = make_log()
    frame = log_frame(log)
    assert list(frame["#"]) == [3, 2, 1]
    assert list(log_frame(log, "bob")["#"]) == [3]
    assert list(log_frame(log, "r1 claimed")["#"]) == [2]
    assert list(log_frame(log, "org/r1")["#"]) == [2, 1]
    assert log_frame(log, "nothing").empty
    assert "submitted" in frame["Event"].iloc[0]


def test_chain_banner() -> None:
    assert "verifies" in chain_markdown(ChainCheck(True, 3)) and "all 3 entries" in chain_markdown(ChainCheck(True, 3))
    assert "empty" in chain_markdown(ChainCheck(True, 0))
    broken = chain_markdown(ChainCheck(False, 3, 2, "seq 2: content does not match its hash (edited)"))
    assert "broken at entry 2" in broken and "edited" in broken


def test_detail_view_shows_every_number() -> None:
    result = make_result("r1", "org/model_x", wers={"ami": 0.1234, "librispeech": 0.05})
    board = build_board([BoardInput(result)], eval_sets=("ami", "librispeech"))
    view = detail_view(
        result,
        board.entries[0],
        make_request("r1", "org/model_x"),
        {
            "ami": "https://huggingface.co/datasets/x/resolve/main/predictions/r1/ami.jsonl",
            "librispeech": "/tmp/p.jsonl",
        },
        max_rtf=1.0,
    )
    assert "[org/model&#95;x](https://huggingface.co/org/model_x)" in view.header and "Rank #1" in view.header
    assert "Average WER 8.67%" in view.header and "meets" in view.header
    frame = view.datasets
    assert list(frame["Eval set"]) == ["ami", "librispeech"]
    row = frame.iloc[0]
    assert row["WER (%)"] == "12.34" and row["95% CI (%)"] == "11.34 – 13.34"
    assert (row["Sub"], row["Del"], row["Ins"]) == (5, 2, 1)
    assert row["p90 (s)"] == "0.2" and row["p99 (s)"] == "0.3"
    assert "NVIDIA A10G" in view.measurement and "24.0 GiB" in view.measurement
    assert "largest batch seen by the model: **1** over 24" in view.measurement
    assert "10 warm-up utterances" in view.measurement and "transformers" in view.measurement
    assert view.reproduce.startswith("python -m evaluator evaluate --model org/model_x")
    predictions = rendered_html(view.predictions)
    assert (
        '<a href="https://huggingface.co/datasets/x/resolve/main/predictions/r1/ami.jsonl">ami.jsonl</a>' in predictions
    )
    assert "<code>/tmp/p.jsonl</code>" in predictions


def test_detail_shows_what_the_evaluation_cost_when_recorded() -> None:
    compute = Compute(
        flavor="a10g<b>", gpu_seconds=5400.0, price_usd_per_minute=0.016667, price_date="2026-11-27", cost_usd=1.5
    )
    result = make_result("r1", "org/m", wers={"ami": 0.1}).replace(compute=compute)
    board = build_board([BoardInput(result)], eval_sets=("ami",))
    text = detail_view(result, board.entries[0], None, {}, max_rtf=1.0).measurement
    assert "### Compute and cost" in text and "Hugging Face Jobs, flavor a10g&lt;b&gt;" in text and "<b>" not in text
    assert "5,400 s (1.50 GPU hours)" in text and "$1.50" in text and "$1.00/h), listed on 2026-11-27" in text
    space = result.replace(compute=Compute(flavor=None, gpu_seconds=60.0))
    text = detail_view(space, board.entries[0], None, {}, max_rtf=1.0).measurement
    assert "the Space&#39;s own GPU" in text and "not known (no price recorded)" in text
    plain = detail_view(result.replace(compute=None), board.entries[0], None, {}, max_rtf=1.0).measurement
    assert "Compute and cost" not in plain


def test_detail_of_a_local_unranked_result() -> None:
    result = make_result("r1", "test-org/tiny", official=False, gpu_class="cpu")
    board = build_board([BoardInput(result, local=True)], eval_sets=())
    view = detail_view(result, board.entries[0], None, {}, max_rtf=1.0)
    assert "huggingface.co" not in view.header and "local model" in view.header and "Not ranked" in view.header
    assert "not signed" in view.measurement


def test_detail_choices_are_labelled_apart() -> None:
    board = build_board(
        [
            BoardInput(make_result("a", "org/m", precision="float16")),
            BoardInput(make_result("b", "org/m", precision="float32", official=False, gpu_class="cpu")),
        ],
        eval_sets=(),
    )
    labels = [c.label for c in detail_choices(list(board.entries))]
    assert labels[0].startswith("#1 org/m · float16") and "unofficial (cpu)" in labels[1]


def test_dataset_frame_columns() -> None:
    result = make_result("a", wers={"ami": 0.2, "librispeech": 0.05}, rtf=0.5, p90=0.4)
    frame = dataset_frame(result)
    assert list(frame.columns) == [
        *("Eval set", "WER (%)", "95% CI (%)", "Sub", "Del", "Ins", "Words", "Utts", "Skipped", "Audio (s)"),
        *("RTF", "RTFx", "p50 (s)", "p90 (s)", "p99 (s)", "Utt. RTF p99"),
    ]
    assert list(frame["Eval set"]) == ["ami", "librispeech"]  # one row per eval set, in the record's order
    ami = frame.iloc[0].to_dict()
    score = result.datasets["ami"]
    assert ami["WER (%)"] == "20.00" and ami["95% CI (%)"] == "19.00 – 21.00"  # fractions shown as percent
    assert (ami["Sub"], ami["Del"], ami["Ins"], ami["Words"], ami["Utts"]) == (
        score.substitutions,
        score.deletions,
        score.insertions,
        score.ref_words,
        score.utterances,
    )
    assert (ami["RTF"], ami["RTFx"], ami["p90 (s)"], ami["Audio (s)"]) == ("0.5", "2", "0.4", "60.0")
    assert frame.iloc[1]["WER (%)"] == "5.00"


def test_about_names_the_configured_values(tmp_path: Path) -> None:
    config = load_config(env={"LEADERBOARD_STORE": str(tmp_path)})
    public = generate_keypair()[1]
    text = about_markdown(config, "results-folder", "requests-folder", public_key=public)
    assert f"at most **{config.rules.max_submissions_per_week}** submissions" in text
    assert f"at most **{config.rules.max_rtf:g}**" in text and f"**{config.rules.warmup_utterances}** warm-up" in text
    for rule in [f"R{n}" for n in range(1, 16)]:
        assert f"| {rule} |" in text
    assert "python -m evaluator evaluate" in text and "pd.read_json" in text and "python -m evaluator verify" in text
    assert "Only results whose signature verifies are ranked" in text and public in text and fingerprint(public) in text
    assert "none is ranked" in about_markdown(config, "r", "q", public_key=None)
    assert "**Who evaluates:** Evaluations run one at a time on the machine this Space runs on" in text


def test_about_in_jobs_mode_states_the_weekly_budget(tmp_path: Path) -> None:
    config = load_config(env={"LEADERBOARD_STORE": str(tmp_path)})
    jobs = dataclasses.replace(
        config, workers=WorkersConfig(mode="jobs", flavor="a10g-small", max_parallel_jobs=4, max_gpu_hours_per_week=120)
    )
    text = about_markdown(jobs, "r", "q", public_key=None)
    assert "Hugging Face Jobs (a10g-small), at most 4 at once" in text and "120 GPU hours per 7 days" in text
    assert "Space's own GPU" not in text


def test_about_for_the_hub_store(tmp_path: Path) -> None:
    config = load_config(
        env={"LEADERBOARD_STORE": str(tmp_path), "REQUESTS_REPO": "o/requests", "RESULTS_REPO": "o/results"}
    )
    text = about_markdown(config, "o/results", "o/requests", public_key=None)
    assert 'load_dataset("o/results"' in text and "hf://datasets/o/results/leaderboard/00.csv" in text


def test_controls_to_filters() -> None:
    filters = filters_from_controls(" whisper ", ["mit"], None, [], 0, 300, True, False, None, ALL, all_columns=ALL)
    assert filters == Filters(
        search="whisper", licenses=("mit",), params_max_m=300, realtime_only=True, official_only=False
    )
    assert filters_from_controls("", [], [], [], None, None, False, True, "rtf", ["rtf"], all_columns=ALL).columns == (
        "rtf",
    )


def test_sanitize_drops_what_the_board_cannot_show() -> None:
    board = build_board([BoardInput(make_result("a"))], eval_sets=("ami",))
    clean = sanitize(Filters(sort="wer.gone", columns=("rtf", "gone")), board)
    assert clean.sort == "avg_wer" and clean.columns == ("rtf",)


def test_status_line() -> None:
    board = build_board([BoardInput(make_result("a"))], eval_sets=())
    line = status_line(board.view(Filters(sort="rtf")), Filters(sort="rtf"))
    assert "Showing **1** of 1 entry" in line and "rtf (fastest first)" in line


def test_number_text() -> None:
    assert [number_text(v) for v in (0.01234, 6.05, 250.4, 1000, None, float("nan"))] == [
        "0.0123",
        "6.05",
        "250",
        "1,000",
        "",
        "",
    ]


def test_who_submits() -> None:
    assert resolve_submitter("alice", True, "local-user") == "alice"
    assert resolve_submitter(None, False, "local-user") == "local-user"
    assert resolve_submitter(None, True, "local-user") is None


def test_log_detail_is_short_but_searchable_in_full() -> None:
    revision = "9a6ba33e3f1270c36200bf71405f21e4edd420f4"
    entry = next_entry(
        None, request_id="r", event="finished", actor="w", detail={"revision": revision, "rtf": 0.041426689}
    )
    frame = log_frame([entry])
    assert frame["Detail"].iloc[0] == "revision=9a6ba33e3f12…; rtf=0.04143"
    assert len(log_frame([entry], revision)) == 1
    weights = "c" * 64
    submitted = next_entry(
        entry,
        request_id="r",
        event="submitted",
        actor="a",
        detail={"model": {"weight_files": {"m.safetensors": weights}}},
    )
    shown = log_frame([submitted])["Detail"].iloc[0]
    assert shown == 'model={"weight_files": {"m.safetensors": "cccccccccccc…"}}'  # nested hashes are cut too
    assert len(log_frame([submitted], weights)) == 1


def test_login_button_on_a_space_or_when_asked() -> None:
    from leaderboard.ui import show_login_button

    assert show_login_button({"SPACE_ID": "org/space"})
    assert not show_login_button({})
    assert show_login_button({"LEADERBOARD_LOCAL_LOGIN": "1"})


def test_csv_files_are_reused_and_bounded(tmp_path: Path) -> None:
    from leaderboard.ui import write_csv

    board = build_board([BoardInput(make_result("a")), BoardInput(make_result("b", "org/b"))], eval_sets=("ami",))
    first = write_csv(board.view(Filters()), board.eval_sets, folder=tmp_path, keep=2)
    assert write_csv(board.view(Filters()), board.eval_sets, folder=tmp_path, keep=2) == first
    for search in ("a", "b", "org"):
        write_csv(board.view(Filters(search=search)), board.eval_sets, folder=tmp_path, keep=2)
    assert len(list(tmp_path.glob("*.csv"))) == 2 and not list(tmp_path.glob("*.tmp"))


def test_about_has_a_table_of_the_supported_families(tmp_path: Path) -> None:
    from leaderboard.about import families_section
    from openasr_core.families import FAMILIES

    text = about_markdown(load_config(env={"LEADERBOARD_STORE": str(tmp_path)}), "r", "q", public_key=None)
    assert "## Supported families" in text
    for family in FAMILIES:
        assert f"| `{family.model_type}` | `{family.architecture}` | {family.kind.value} | `{family.recipe}` |" in text
    assert r"`<\|en\|><\|transcribe\|>`" in text  # a pipe inside a table cell is escaped
    shown = families_section(installed=lambda name: name != "torchaudio")
    assert "refused here: needs `torchaudio`" in shown and shown.count("| accepted |") == len(FAMILIES) - 1


def test_about_pins_the_key_in_the_verify_command(tmp_path: Path) -> None:
    """Issue 26 item 4: the About page (outside the datasets) gives the key to verify with, not the card."""
    from openasr_core.signing import generate_keypair

    config = load_config(
        env={"LEADERBOARD_STORE": str(tmp_path), "REQUESTS_REPO": "o/requests", "RESULTS_REPO": "o/results"}
    )
    public = generate_keypair()[1]
    text = about_markdown(config, "o/results", "o/requests", public_key=public)
    assert f"python -m evaluator verify o/results --requests-repo o/requests --public-key {public}" in text
