"""Signing (R9): what is signed, key formats, and that any change to a record or its predictions is caught."""

from __future__ import annotations

import base64
import dataclasses

import pytest
from cryptography.hazmat.primitives import serialization

from openasr_core.records import Result
from openasr_core.signing import (
    SigningKeyError,
    attach_predictions,
    fingerprint,
    generate_keypair,
    load_private_key,
    predictions_sha256,
    private_key_from_env,
    public_key_b64,
    public_key_from_env,
    sign_result,
    verify_result,
)
from tests.openasr_core.store_contract import ROWS, make_request, make_result


@pytest.fixture
def keys() -> tuple[str, str]:
    return generate_keypair()


def signed(private: str) -> Result:
    return sign_result(attach_predictions(make_result(make_request(1)), {"set": ROWS}), private)


def test_signed_result_verifies_after_a_round_trip_through_json(keys: tuple[str, str]) -> None:
    private, public = keys
    result = signed(private)
    assert result.signature and verify_result(result, public)
    assert verify_result(Result.from_json(result.to_json()), public)


def test_int_in_a_float_field_still_verifies_after_parsing(keys: tuple[str, str]) -> None:
    private, public = keys
    result = make_result(make_request(1))
    result = result.replace(aggregate=dataclasses.replace(result.aggregate, avg_wer=0))  # an int sneaks in
    assert verify_result(Result.from_json(sign_result(result, private).to_json()), public)


def test_any_change_breaks_the_signature(keys: tuple[str, str]) -> None:
    private, public = keys
    result = signed(private)
    changed_number = result.replace(aggregate=dataclasses.replace(result.aggregate, avg_wer=0.2))
    changed_predictions = result.replace(predictions_sha256={"set": "0" * 64})
    assert not verify_result(changed_number, public)
    assert not verify_result(changed_predictions, public)
    other_public = generate_keypair()[1]
    assert not verify_result(result, other_public)
    assert not verify_result(result.replace(signature=None), public)
    assert not verify_result(result.replace(signature="not base64!"), public)


@pytest.mark.parametrize("position", [0, 40, -3])
def test_one_character_of_the_signature_changed_fails(keys: tuple[str, str], position: int) -> None:
    private, public = keys
    result = signed(private)
    chars = list(result.signature)
    chars[position] = "A" if chars[position] != "A" else "B"
    assert not verify_result(result.replace(signature="".join(chars)), public)


def test_predictions_hash_is_of_the_file_bytes_as_stored() -> None:
    from openasr_core.records import write_jsonl

    text = write_jsonl(ROWS)
    assert predictions_sha256(text) == predictions_sha256(text.encode("utf-8"))
    assert attach_predictions(make_result(make_request(1)), {"set": ROWS}).predictions_sha256 == {
        "set": predictions_sha256(text)
    }


def test_private_key_as_base64_or_pem_and_from_env(keys: tuple[str, str]) -> None:
    private, public = keys
    key = load_private_key(private)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert public_key_b64(load_private_key(pem.decode())) == public
    assert public_key_b64(private_key_from_env({"RESULTS_SIGNING_KEY": private})) == public
    assert private_key_from_env({}) is None
    assert public_key_from_env({"RESULTS_SIGNING_KEY": private}) == public
    assert public_key_from_env({"RESULTS_PUBLIC_KEY": public}) == public
    assert fingerprint(public).startswith("ed25519:") and fingerprint(public) == fingerprint(key)


def test_bad_keys_are_refused_without_quoting_them() -> None:
    secret = base64.b64encode(b"x" * 31).decode()
    with pytest.raises(SigningKeyError) as raised:
        load_private_key(secret)
    assert secret not in str(raised.value) and "keygen" in str(raised.value)
    with pytest.raises(SigningKeyError):
        load_private_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
