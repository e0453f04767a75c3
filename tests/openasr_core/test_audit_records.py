"""Audit records (R13): lossless JSON, signed like results, and a hash that the log event carries."""

from __future__ import annotations

import dataclasses

import pytest

from openasr_core import layout
from openasr_core.records import AuditRecord
from openasr_core.signing import audit_hash, generate_keypair, sign_audit, verify_audit
from testkit.factories import make_audit


def test_round_trips_through_json() -> None:
    record = make_audit()
    assert AuditRecord.from_json(record.to_json()) == record
    assert record.failed_checks == ["predictions"]


def test_signed_like_results_and_any_change_is_caught() -> None:
    private, public = generate_keypair()
    record = sign_audit(make_audit(), private)
    assert verify_audit(AuditRecord.from_json(record.to_json()), public)
    assert not verify_audit(make_audit(), public)  # unsigned
    tampered = record.replace(passed=True)
    assert not verify_audit(tampered, public)
    evidence = record.replace(evidence=[dataclasses.replace(record.evidence[0], rerun="hello")])
    assert not verify_audit(evidence, public)
    assert not verify_audit(record, generate_keypair()[1])


def test_hash_covers_the_signature_and_ignores_formatting() -> None:
    private, _ = generate_keypair()
    record = sign_audit(make_audit(), private)
    assert audit_hash(AuditRecord.from_json(record.to_json())) == audit_hash(record)
    assert audit_hash(record) != audit_hash(make_audit())
    assert audit_hash(record.replace(seed=43)) != audit_hash(record)


def test_audit_path_is_per_entry_and_safe() -> None:
    assert layout.audit_path("req-1", "a-1") == f"audits/{layout.shard('req-1')}/req-1/a-1.json"  # sharded like results
    with pytest.raises(ValueError, match="request id"):
        layout.audit_path("../req", "a-1")
    with pytest.raises(ValueError, match="audit id"):
        layout.audit_path("req-1", "../x")
