"""`run_once` finds configuration mistakes before claiming, and tells our bugs from the submitter's mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

import evaluator.job
from evaluator.job import run_once
from openasr_core.board_files import open_store
from openasr_core.records import Status
from openasr_core.signing import SigningKeyError
from testkit.audio import make_audiofolder, write_config
from tests.openasr_core.store_contract import make_request


@pytest.fixture
def setup(tmp_path: Path):
    config = write_config(tmp_path, {"s": make_audiofolder(tmp_path / "s", ["hello"])})
    store = open_store(config)
    store.submit(make_request(1))
    return config, store


def test_a_malformed_signing_key_stops_before_anything_is_claimed(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    config, store = setup
    monkeypatch.setenv("RESULTS_SIGNING_KEY", "not-a-key")
    monkeypatch.setattr(evaluator.job, "evaluate", lambda *a, **k: pytest.fail("evaluated despite a bad key"))
    with pytest.raises(SigningKeyError):
        run_once(config, store, worker="w")
    request = store.snapshot().requests["req-0001"]
    assert request.status is Status.PENDING and request.attempts == 0 and request.lease is None


def test_a_bare_value_error_is_an_internal_error_not_the_submitter_s(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    config, store = setup

    def buggy_evaluate(*args: object, **kwargs: object) -> None:
        raise ValueError("max_rtf must be positive, got 0")

    monkeypatch.setattr(evaluator.job, "evaluate", buggy_evaluate)
    request = run_once(config, store, worker="w")
    assert request is not None and request.status is Status.FAILED
    assert request.error.startswith("internal evaluator error (ValueError: max_rtf must be positive")
