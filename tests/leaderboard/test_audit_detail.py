"""The detail page's audits (R13): the evidence of a failed audit, escaped; asking for an audit, logged in,
rate-limited and public."""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app import build_app
from leaderboard.audit_request import ask_for_audit as ask
from leaderboard.audit_view import audit_markdown
from leaderboard.data import BoardSource
from openasr_core.config import AuditConfig
from openasr_core.records import LogEntry, UtteranceDiff
from openasr_core.signing import local_private_key, sign_result
from openasr_core.store import LocalStore
from testkit.factories import finish_in_store, make_audit, make_result
from testkit.markdown_render import shown_text
from tests.leaderboard.test_app import make_env

NOW = datetime(2026, 11, 28, 7, tzinfo=UTC)


def test_a_failed_audit_shows_its_checks_and_escaped_differing_utterances() -> None:
    record = make_audit(request_id="r1", evidence=[UtteranceDiff("s", "utt<1>", "hello", "<script>x</script>")])
    text = audit_markdown("r1", [record], [])
    assert "🚩 **Flagged: the latest audit failed** (predictions)" in text
    assert "<td>predictions</td>" in text and "<td>1 of 10 differ</td>" in text and "picked at random (seed 42)" in text
    assert "&lt;script&gt;x&lt;/script&gt;" in text and "<script>" not in text and "utt&lt;1&gt;" in text
    passed = make_audit(audit_id="z-later", request_id="r1", passed=True, finished_at="2026-11-29T00:00:00Z")
    assert "**Latest audit: ✅ passed**" in audit_markdown("r1", [record, passed], [])
    assert "Not audited yet" in audit_markdown("r2", [record], [])


def _logged(*events: tuple[str, dict[str, object]]) -> list[LogEntry]:
    return [
        LogEntry(n, f"2026-12-05T10:0{n}:00Z", "r1", event, "dev", detail, prev_hash="", hash="")
        for n, (event, detail) in enumerate(events)
    ]


def test_the_audit_section_says_where_an_open_audit_stands() -> None:
    """Issue 25 item 2: once an asked-for audit has started, its section no longer says it waits its turn (the
    page said "it runs when no submission waits" beside "Audit running"); an attempt without a verdict says so."""
    requested = ("audit_requested", {})
    started = ("audit_started", {"attempt": 1})
    inconclusive = ("audit_inconclusive", {"reason": "the machine was busy"})

    def shown(*events: tuple[str, dict[str, object]]) -> str:
        """The section's line about the open audit (the audit log below it repeats reasons)."""
        text = shown_text(audit_markdown("r1", [], _logged(*events))).split("Audit log of this entry")[0]
        found = re.search("[⏳⏸].*", text)
        assert found is not None, text
        return found.group()

    assert "requested by dev on 2026-12-05T10:00:00Z; it runs when no submission waits" in shown(requested)
    running = shown(requested, started)
    assert "runs when no submission waits" not in running
    assert "requested by dev on 2026-12-05T10:00:00Z; its attempt 1 started at 2026-12-05T10:01:00Z" in running
    retried = shown(requested, started, inconclusive)
    assert "was inconclusive or could not finish: the machine was busy" in retried and "started at" not in retried
    again = shown(requested, started, inconclusive, ("audit_started", {"attempt": 2}))
    assert "its attempt 2 started at 2026-12-05T10:03:00Z" in again and "machine was busy" not in again
    random_retry = shown(started, inconclusive)
    assert random_retry.startswith("⏸ The last audit attempt (2026-12-05T10:01:00Z) was inconclusive")
    unstarted = shown(inconclusive)  # a log from before attempts logged their start
    assert unstarted.startswith("⏸ The last audit attempt (2026-12-05T10:00:00Z) was inconclusive"), unstarted


def _store(tmp_path: Path) -> LocalStore:
    store = LocalStore(tmp_path / "store")
    finish_in_store(store, [make_result("r1", "org/a"), make_result("r2", "org/b"), make_result("r3", "org/c")])
    return store


def test_asking_for_an_audit_needs_a_login_and_is_rate_limited(tmp_path: Path) -> None:
    store = _store(tmp_path)
    policy = AuditConfig(max_requests_per_week=2)
    board = BoardSource(store, version="v1", eval_sets=("ami",)).get().board
    ask_for_audit = functools.partial(ask, board=board)
    assert ask_for_audit(store, "r1", None, policy, lambda: NOW) == (
        False,
        "🔒 Log in with Hugging Face first (the button on the Submit tab) to ask for an audit.",
    )
    assert ask_for_audit(store, "r1", "bob", policy, lambda: NOW)[0]
    accepted, message = ask_for_audit(store, "r1", "carol", policy, lambda: NOW)
    assert not accepted and "already requested" in message
    assert ask_for_audit(store, "r2", "bob", policy, lambda: NOW)[0]
    accepted, message = ask_for_audit(store, "r3", "bob", policy, lambda: NOW)
    assert not accepted and "the limit is 2 per week" in message
    assert ask_for_audit(store, "r3", "carol", policy, lambda: NOW)[0]  # the limit is per user
    requested = [(e.request_id, e.actor) for e in store.snapshot().log if e.event == "audit_requested"]
    assert requested == [("r1", "bob"), ("r2", "bob"), ("r3", "carol")]


def _callback(app: Any, name: str) -> Any:
    (fn,) = [f.fn for f in app.demo.fns.values() if f.name == name]
    return fn


def test_the_detail_page_button_requests_an_audit_and_shows_it(tmp_path: Path, models_dir: Path) -> None:
    key = local_private_key(tmp_path / "store")  # signed: only ranked entries can be requested
    store = LocalStore(tmp_path / "store")
    finish_in_store(
        store, [sign_result(make_result("r1", "org/a", version="local-v1", wers={"ljspeech-sample": 0.1}), key)]
    )
    app = build_app(env=make_env(tmp_path, models_dir, LEADERBOARD_LOCAL_USER="dev"))
    detail = app.ui.detail
    page = app.ui.on_restore("?detail=r1")
    assert "Not audited yet" in page[detail.audit]
    outputs = _callback(app, "on_audit_request")("r1", None)
    assert "✅ Audit requested" in outputs[detail.audit_result]
    shown = shown_text(outputs[detail.audit])
    assert "requested by dev" in shown and "audit_requested by dev" in shown
    assert store.snapshot().log[-1].event == "audit_requested"


def test_the_about_page_explains_audits_with_the_configured_values() -> None:
    from leaderboard.about import about_markdown
    from openasr_core.config import load_config

    config = load_config(Path(__file__).parents[2] / "configs" / "local.toml")
    text = about_markdown(config, "r", "q", public_key=None)
    audit = config.audit
    assert "## Audits (R13)" in text and "| R13 | Audits |" in text
    assert f"every\n**{audit.every_n_evaluations}** finished evaluations" in text
    assert f"at most\n**{audit.max_requests_per_week}** requests per user" in text
    assert "python -m evaluator audit --request-id" in text and "Show flagged" in text


def test_the_show_flagged_toggle_follows_the_url_and_the_controls(tmp_path: Path, models_dir: Path) -> None:
    store = LocalStore(tmp_path / "store")
    results = [
        make_result(r, m, version="local-v1", wers={"ljspeech-sample": w})
        for r, m, w in (("r1", "org/a", 0.1), ("r2", "org/b", 0.2))
    ]
    finish_in_store(store, results)
    store.record_audit(make_audit(request_id="r1", leaderboard_version="local-v1"), actor="audit:test")
    app = build_app(env=make_env(tmp_path, models_dir))
    ui, board = app.ui, app.ui.board
    plain = ui.on_restore("")
    assert plain[board.rows] == ("r2",) and "1 entry flagged by a failed audit hidden" in plain[board.status]
    shared = ui.on_restore("flagged=1")
    assert shared[board.flagged] is True and set(shared[board.rows]) == {"r1", "r2"}
    assert shared[board.filters_query] == "flagged=1"
    values = [shared[c] for c in board.controls]
    values = [getattr(v, "value", v) for v in values]
    assert ui.on_filters(None, *values)[board.filters_query] == "flagged=1"
    flagged_page = ui.on_restore("?detail=r1")
    assert any("🚩 failed audit" in label for label, _ in flagged_page[ui.detail.select].choices)
    assert "🚩 **Flagged: the latest audit failed** (predictions)" in flagged_page[ui.detail.audit]
    assert "<td>hello again</td>" in flagged_page[ui.detail.audit]  # the differing utterance
