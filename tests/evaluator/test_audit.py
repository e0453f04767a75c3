"""`python -m evaluator audit` end to end on a LocalStore: pass, hash failure, nondeterminism, slowness, kills."""

from __future__ import annotations

import dataclasses
import io
import shutil
from pathlib import Path

import pytest

from evaluator import audit
from evaluator.job import run_once
from evaluator.models import Transcriber
from openasr_core import layout
from openasr_core.audits import open_audit_requests
from openasr_core.board_files import open_store
from openasr_core.config import AuditConfig, LeaderboardConfig
from openasr_core.model_files import local_revision, weight_file_hashes
from openasr_core.records import AuditRecord, ModelInfo, Status, Verdict
from openasr_core.signing import audit_hash, public_key_for, verify_audit
from openasr_core.store import LocalStore, StoreError
from openasr_core.store import repo as local_store
from testkit.audio import make_audiofolder, write_config
from tests.fixtures.clock import use_step_clock
from tests.fixtures.load import StatedLoad
from tests.openasr_core.store_contract import make_request


def _evaluated_board(
    tmp_path: Path, model: Path, eval_set: Path, warmup: int = 1, timeout_s: float = 60.0
) -> tuple[LeaderboardConfig, LocalStore]:
    """A local board where `model` (as org/tiny) was submitted with its hashes and evaluated once."""
    models = tmp_path / "models"
    shutil.copytree(model, models / "org" / "tiny")
    config = write_config(tmp_path, {"s": eval_set}, models_dir=models, warmup=warmup, timeout_s=timeout_s)
    store = open_store(config)
    folder = models / "org" / "tiny"
    info = ModelInfo(license="mit", parameters=1, architecture="x", weight_files=weight_file_hashes(folder))
    store.submit(make_request(1, model_id="org/tiny", revision=local_revision(folder), model=info))
    finished = run_once(config, store, worker="w")
    assert finished is not None and finished.status is Status.FINISHED, finished
    return config, store


@pytest.fixture
def load(monkeypatch: pytest.MonkeyPatch) -> StatedLoad:
    """The machine's load during re-runs, as each test states it (quiet unless changed); never read for real."""
    stated = StatedLoad()
    monkeypatch.setattr(audit, "new_probe", stated)
    return stated


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory, tiny_ctc: Path) -> Path:
    """The tiny CTC submitted and evaluated once for the module (a step clock of 0.01, as `board` re-runs it):
    the folder whose store and models each test copies. Its eval set stays here, read by every copy: the signed
    result names the set's folder."""
    root = tmp_path_factory.mktemp("evaluated")
    with pytest.MonkeyPatch.context() as patch:
        use_step_clock(patch, 0.01)
        _evaluated_board(root, tiny_ctc, make_audiofolder(root / "s", ["hello", "world", "again"]))
    return root


@pytest.fixture
def board(
    tmp_path: Path, evaluated: Path, monkeypatch: pytest.MonkeyPatch, load: StatedLoad
) -> tuple[LeaderboardConfig, LocalStore]:
    """A copy of the module's `evaluated` board (its store and models: tests change both) with its own config."""
    use_step_clock(monkeypatch, 0.01)
    shutil.copytree(evaluated / "store", tmp_path / "store")
    shutil.copytree(evaluated / "models", tmp_path / "models")
    config = write_config(tmp_path, {"s": evaluated / "s"}, models_dir=tmp_path / "models", warmup=1)
    return config, open_store(config)


def _audit(config: LeaderboardConfig, store: LocalStore, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    monkey_config = str(config.path)
    code = audit.main(["--config", monkey_config, *args], out=out, store=store)
    return code, out.getvalue()


def _only_audit(store: LocalStore) -> AuditRecord:
    (record,) = store.snapshot().published_audits()
    return record


def test_unchanged_entry_passes_and_is_recorded_signed(board) -> None:
    config, store = board
    code, printed = _audit(config, store, "--request-id", "req-0001")
    assert code == 0, printed
    record = _only_audit(store)
    assert record.passed and {c.verdict for c in record.checks} == {Verdict.PASS}
    assert [c.name for c in record.checks] == [
        "weight files",
        "model revision",
        "eval set data",
        "predictions",
        "avg WER",
        "RTF",
        "hardware class",
    ]
    assert verify_audit(record, public_key_for(config))
    event = store.snapshot().log[-1]
    assert event.event == "audit_passed" and event.detail["audit_sha256"] == audit_hash(record)
    assert store.snapshot().verify_log().ok
    assert "verdict: PASSED" in printed and "re-run" in printed and record.audit_id in printed


def test_random_pick_prints_its_seed_and_is_reproducible(board) -> None:
    config, store = board
    code, printed = _audit(config, store, "--seed", "42", "--dry-run")
    assert code == 0 and "with seed 42" in printed and "req-0001" in printed
    assert store.snapshot().published_audits() == []  # a dry run writes nothing
    assert store.snapshot().log[-1].event == "finished"


def test_changed_weight_file_fails_the_hash_check(board) -> None:
    config, store = board
    weights = config.models_dir / "org" / "tiny" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    code, printed = _audit(config, store, "--request-id", "req-0001")
    assert code == 1, printed
    record = _only_audit(store)
    assert not record.passed and record.failed_checks == ["weight files", "model revision"]
    assert "model.safetensors changed" in record.checks[0].detail
    assert {c.verdict for c in record.checks[2:]} == {Verdict.SKIPPED}
    event = store.snapshot().log[-1]
    assert event.event == "audit_failed" and event.detail["failed_checks"] == ["weight files", "model revision"]
    assert event.detail["audit_sha256"] == audit_hash(record)


def test_nondeterministic_model_fails_on_predictions_with_evidence(board, monkeypatch: pytest.MonkeyPatch) -> None:
    config, store = board
    real = Transcriber.transcribe
    calls = {"n": 0}

    def flaky(self, waveform):  # the re-run decodes its second timed utterance differently
        calls["n"] += 1
        text = real(self, waveform)
        return text + " again" if calls["n"] == 3 else text  # call 1 is the warm-up

    monkeypatch.setattr(Transcriber, "transcribe", flaky)
    code, printed = _audit(config, store, "--request-id", "req-0001")
    assert code == 1, printed
    record = _only_audit(store)
    assert "predictions" in record.failed_checks and "RTF" not in record.failed_checks
    (diff,) = record.evidence
    published = {r.id: r.prediction for r in store.predictions("req-0001", "s")}
    assert diff.eval_set == "s" and diff.published == published[diff.id] and diff.rerun == diff.published + " again"
    assert f"s/{diff.id}" in printed


@pytest.mark.parametrize(("step", "passes"), [(0.0102, True), (0.02, False), (0.005, False)])
def test_rtf_must_land_within_the_tolerance(board, monkeypatch: pytest.MonkeyPatch, step: float, passes: bool) -> None:
    config, store = board
    use_step_clock(monkeypatch, step)  # the original ran at 0.01 per clock tick: +2%, +100%, -50%
    code, printed = _audit(config, store, "--request-id", "req-0001")
    record = _only_audit(store)
    assert (code == 0) is passes, printed
    assert record.failed_checks == ([] if passes else ["RTF"])
    rtf = next(c for c in record.checks if c.name == "RTF")
    assert rtf.rerun == pytest.approx(rtf.published * step / 0.01, rel=1e-6)


def test_a_wider_configured_tolerance_is_used(board, monkeypatch: pytest.MonkeyPatch) -> None:
    config, store = board
    use_step_clock(monkeypatch, 0.012)
    wide = dataclasses.replace(config, audit=AuditConfig(rtf_tolerance=0.25))
    target = audit.choose_target(store.snapshot(), "req-0001", None, 30.0)
    record = audit.run_audit(wide, store, target, auditor="t")
    assert record.passed and record.rtf_tolerance == 0.25


def test_killed_audit_writes_nothing(board) -> None:
    config, store = board
    before = store.snapshot()

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        audit.main(["--config", str(config.path), "--request-id", "req-0001"], store=store, evaluate_fn=killed)
    after = store.snapshot()
    assert after.log == before.log and after.audits == []
    assert not (store.results_root / "audits").exists()


def test_crash_between_record_and_log_line_leaves_no_published_audit(board, monkeypatch: pytest.MonkeyPatch) -> None:
    config, store = board
    target = audit.choose_target(store.snapshot(), "req-0001", None, 30.0)
    record = audit.run_audit(config, store, target, auditor="t")
    real_write = local_store.atomic_write

    def dies_at_the_log(path: Path, data) -> None:
        if path.name == layout.STATE_FILE:  # written last: the audit file and log chunk are down, unnamed
            raise KeyboardInterrupt
        real_write(path, data)

    monkeypatch.setattr(local_store, "atomic_write", dies_at_the_log)
    with pytest.raises(KeyboardInterrupt):
        store.record_audit(record, actor="t")
    snap = store.snapshot()
    orphan = store.results_root / layout.audit_path(record.request_id, record.audit_id)
    assert orphan.is_file() and snap.published_audits() == [] and snap.log == store.snapshot().log  # not an audit
    monkeypatch.setattr(local_store, "atomic_write", real_write)
    store.record_audit(record, actor="t")  # retried cleanly
    assert store.snapshot().published_audits() == [record]
    with pytest.raises(StoreError, match="already recorded"):
        store.record_audit(record, actor="t")


def test_cannot_run_exits_2_with_the_reason(board, capsys: pytest.CaptureFixture[str]) -> None:
    config, store = board
    code, _ = _audit(config, store, "--request-id", "req-9999")
    assert code == 2 and "req-9999 is not a finished entry" in capsys.readouterr().err
    other = dataclasses.replace(config, version="other-v2")
    target = audit.choose_target(store.snapshot(), "req-0001", None, 30.0)
    with pytest.raises(audit.AuditUnavailable, match="leaderboard version 'test-v1'"):
        audit.run_audit(other, store, target, auditor="t")


def test_record_audit_refuses_unfinished_entries_and_stores_without_audits(board) -> None:
    config, store = board
    target = audit.choose_target(store.snapshot(), "req-0001", None, 30.0)
    record = audit.run_audit(config, store, target, auditor="t")
    store.submit(make_request(2))
    with pytest.raises(StoreError, match="not a finished entry"):
        store.record_audit(dataclasses.replace(record, request_id="req-0002"), actor="t")
    store.writes_audits = False
    with pytest.raises(StoreError, match="cannot store audit records"):
        store.record_audit(record, actor="t")


@pytest.mark.slow
def test_real_whisper_base_audit_reproduces_the_predictions(
    tmp_path: Path, whisper_base: Path, ljspeech_32: Path
) -> None:
    """The real model re-run: predictions, WER and every fact must match; the RTF is measured twice and
    compared, but its verdict is not asserted (this shared CPU's speed varies; the RTF rule is tested with
    injected timings above), only that the record and the public log agree with it."""
    subset = tmp_path / "lj2"  # two real clips: each run is a few seconds of CPU, and warm-up is not under test
    subset.mkdir()
    lines = (ljspeech_32 / "metadata.csv").read_text(encoding="utf-8").splitlines()
    for line in lines[1:3]:
        shutil.copy(ljspeech_32 / line.split(",", 1)[0], subset)
    (subset / "metadata.csv").write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    # a generous per-utterance limit: shared test machines can be many times slower than the board's hardware
    config, store = _evaluated_board(tmp_path, whisper_base, subset, warmup=0, timeout_s=600.0)
    target = audit.choose_target(store.snapshot(), "req-0001", None, 30.0)
    record = audit.run_audit(config, store, target, auditor="t", probe_factory=audit.new_probe)  # the real probe
    audit.record_outcome(store, record, "t")
    checks = {c.name: c for c in record.checks}
    assert all(c.verdict == Verdict.PASS for name, c in checks.items() if name != "RTF"), record.checks
    assert checks["predictions"].difference == "all identical" and checks["predictions"].published == 2
    rtf = checks["RTF"]
    assert rtf.published > 0 and rtf.rerun > 0 and rtf.verdict in (Verdict.PASS, Verdict.FAIL, Verdict.INCONCLUSIVE)
    assert record.passed == (rtf.verdict == Verdict.PASS)
    assert store.snapshot().log[-1].event == f"audit_{record.outcome}"


def test_verify_checks_audit_records_and_their_log_events(board) -> None:
    from evaluator import verify

    config, store = board
    assert _audit(config, store, "--request-id", "req-0001")[0] == 0
    key = public_key_for(config)
    out = io.StringIO()
    assert verify.main([str(store.root), "--public-key", key], out=out) == 0, out.getvalue()
    assert "1 audit record(s)" in out.getvalue()
    record = _only_audit(store)
    path = store.results_root / layout.audit_path("req-0001", record.audit_id)
    path.write_text(record.replace(passed=False).to_json(), encoding="utf-8")
    out = io.StringIO()
    assert verify.main([str(store.root), "--public-key", key], out=out) == 1
    printed = out.getvalue()
    assert "audit signature does not verify" in printed and "whose record is missing or changed" in printed


def test_an_audit_job_runs_the_scheduler_s_audit_and_exits_0_once_the_outcome_is_logged(board) -> None:
    """`audit --scheduled`, what an audit Job runs in jobs mode: the requested audit is recorded and closes its
    request; a random pick follows `--seed`; an entry that cannot be re-run is logged as dropped."""
    config, store = board
    store.request_audit("req-0001", actor="someone")
    code, printed = _audit(config, store, "--scheduled", "--request-id", "req-0001", "--auditor", "audit:job-1")
    assert code == 0 and printed.strip() == "audit of org/tiny (float32) passed", printed
    assert not open_audit_requests(store.snapshot().log) and _only_audit(store).selection == "requested"
    code, _ = _audit(config, store, "--scheduled", "--seed", "7")
    (picked,) = [a for a in store.snapshot().published_audits() if a.selection == "random"]
    assert code == 0 and picked.seed == 7
    store.request_audit("req-0001", actor="someone")
    old_config = config.path.read_text().replace('version = "test-v1"', 'version = "test-v2"')
    config.path.write_text(old_config)  # the entry was measured under another version: it cannot be re-run
    code, printed = _audit(config, store, "--scheduled", "--request-id", "req-0001")
    assert code == 0 and "could not run" in printed and store.snapshot().log[-1].event == "audit_dropped"


def test_the_scheduler_s_audit_picks_records_and_describes_one(board) -> None:
    """`scheduled_audit`, as the Space's step calls it: a random pick among this version's entries, recorded."""
    config, store = board
    line = audit.scheduled_audit(config, store, request_id=None, auditor="audit:space")
    assert line == "audit of org/tiny (float32) passed", line
    record = _only_audit(store)
    assert record.selection == "random" and record.seed is not None and record.auditor == "audit:space"
    assert store.snapshot().log[-1].actor == "audit:space"


# --- speed judged with its noise (R13, issue 22) -------------------------------------------------------------


def _counting(evaluate_fn=None):
    """`evaluate`, counting the re-runs an audit makes."""
    from evaluator.evaluate import evaluate

    calls: list[int] = []

    def counted(*args, **kwargs):
        calls.append(1)
        return (evaluate_fn or evaluate)(*args, **kwargs)

    return counted, calls


@pytest.mark.parametrize("step", [0.01, 0.02, 0.0102])
def test_an_honest_entry_beside_a_cpu_hog_is_never_failed(board, load, monkeypatch, step: float) -> None:
    """The hog makes the re-run slower (here up to +100%); the probe sees the process get 45% of its threads
    and a load of 3.1 on 2 cores: the audit is inconclusive (exit 3, its own log event), never a flag."""
    config, store = board
    load.cpu_share, load.load_1min = 0.45, 3.1
    use_step_clock(monkeypatch, step)
    code, printed = _audit(config, store, "--request-id", "req-0001")
    assert code == audit.INCONCLUSIVE_EXIT, printed
    assert "verdict: INCONCLUSIVE" in printed and "busy" in printed
    snap = store.snapshot()
    assert snap.published_audits() == [] and snap.log[-1].event == "audit_inconclusive"
    assert "45% of its 2 CPU thread(s)" in snap.log[-1].detail["reason"]
    assert snap.log[-1].detail["runs"][0]["load_1min"] == 3.1
    from openasr_core.audits import latest_audits, open_audits

    assert latest_audits(snap.published_audits()) == {}  # not flagged
    assert [a.request_id for a in open_audits(snap.log)] == ["req-0001"]  # tried again later


def _changed_weights(config, monkeypatch) -> None:
    weights = config.models_dir / "org" / "tiny" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))


def _changed_prediction(config, monkeypatch) -> None:
    real = Transcriber.transcribe
    monkeypatch.setattr(Transcriber, "transcribe", lambda self, waveform: real(self, waveform) + " x")


def _other_hardware_class(config, monkeypatch) -> None:
    import evaluator.prepared as prepared_module  # where both tracks read the hardware for their records

    real = prepared_module.hardware_fingerprint
    monkeypatch.setattr(
        prepared_module, "hardware_fingerprint", lambda device: dataclasses.replace(real(device), gpu_class="A10G")
    )


@pytest.mark.parametrize(
    ("change", "failed"),
    [
        (_changed_weights, ["weight files", "model revision"]),
        (_changed_prediction, ["predictions", "avg WER"]),
        (_other_hardware_class, ["hardware class"]),
    ],
)
def test_integrity_changes_fail_at_once_even_under_load(board, load, monkeypatch, change, failed) -> None:
    """Weights, predictions and hardware class are exact: a change fails the audit on the first re-run (or
    before any), whatever the machine's load; the busy RTF is left undecided, not failed."""
    config, store = board
    load.cpu_share, load.load_1min = 0.45, 3.1
    change(config, monkeypatch)
    counted, calls = _counting()
    code = audit.main(
        ["--config", str(config.path), "--request-id", "req-0001"], out=io.StringIO(), store=store, evaluate_fn=counted
    )
    record = _only_audit(store)
    assert code == 1 and record.outcome == "failed" and record.failed_checks == failed
    assert len(calls) <= 1 and store.snapshot().log[-1].event == "audit_failed"
    assert all(c.verdict is not Verdict.FAIL for c in record.checks if c.name == "RTF")


def _slower(monkeypatch, clock, slow_calls: range | None = None) -> None:
    """`transcribe` made slower by one clock step (+100%), on every call or on the calls in `slow_calls`."""
    real = Transcriber.transcribe
    calls = {"n": 0}

    def slow(self, waveform):
        calls["n"] += 1
        if slow_calls is None or calls["n"] in slow_calls:
            clock.now += clock.step
        return real(self, waveform)

    monkeypatch.setattr(Transcriber, "transcribe", slow)


def test_an_rtf_that_really_moved_is_confirmed_by_the_second_rerun_and_flagged(board, monkeypatch) -> None:
    config, store = board
    _slower(monkeypatch, use_step_clock(monkeypatch, 0.01))
    counted, calls = _counting()
    out = io.StringIO()
    code = audit.main(
        ["--config", str(config.path), "--request-id", "req-0001"], out=out, store=store, evaluate_fn=counted
    )
    record = _only_audit(store)
    assert code == 1 and record.failed_checks == ["RTF"] and len(calls) == 2, out.getvalue()
    assert [run.within for run in record.rtf_runs] == [False, False]
    assert all(run.ratio == pytest.approx(2.0) for run in record.rtf_runs)
    rtf = next(c for c in record.checks if c.name == "RTF")
    assert "outside ±5% (CPU) in both re-runs" in rtf.detail and "re-run 2:" in out.getvalue()
    assert store.snapshot().log[-1].event == "audit_failed"


def test_an_outlier_rerun_that_the_second_does_not_confirm_passes(board, monkeypatch) -> None:
    """Only the first re-run is slow (calls 1-4: its warm-up and 3 utterances): no flag."""
    config, store = board
    _slower(monkeypatch, use_step_clock(monkeypatch, 0.01), slow_calls=range(1, 5))
    counted, calls = _counting()
    code = audit.main(
        ["--config", str(config.path), "--request-id", "req-0001"], out=io.StringIO(), store=store, evaluate_fn=counted
    )
    record = _only_audit(store)
    assert code == 0 and record.passed and len(calls) == 2
    assert [run.within for run in record.rtf_runs] == [False, True]
    assert "did not confirm" in next(c for c in record.checks if c.name == "RTF").detail


def test_the_hardware_class_tolerance_from_the_config_is_used(board, monkeypatch) -> None:
    config, store = board
    use_step_clock(monkeypatch, 0.0115)  # +15%: outside the default 5%, inside the CPU class's 20%
    wide = dataclasses.replace(config, audit=AuditConfig(rtf_tolerance_by_class={"cpu": 0.2}))
    target = audit.choose_target(store.snapshot(), "req-0001", None, 30.0)
    record = audit.run_audit(wide, store, target, auditor="t")
    assert record.passed and record.rtf_tolerance == 0.2 and len(record.rtf_runs) == 1
