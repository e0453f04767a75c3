"""Signed results (R9): Ed25519 signatures over a canonical serialization of each result.

What is signed: `canonical_json` (sorted keys, no spaces, UTF-8) of the result's dict *without* its
`signature` field. That dict includes `predictions_sha256` (eval set -> sha256 of the predictions JSONL file
exactly as stored), so one signature covers every number in the record and every raw prediction.

Before signing, the result is normalized by a JSON round trip (`Result.from_dict(result.to_dict())`), so a
result signed in memory verifies after it was written to disk and parsed back (an `int` 0 in a `float` field
becomes 0.0 either way, tuples become lists).

Keys:
- The **private key** is a Space secret, `RESULTS_SIGNING_KEY`: either the base64 of the raw 32-byte Ed25519
  private key (what `python -m evaluator keygen` writes), or a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
  It is never logged, printed or stored in any record.
- The **public key** is the base64 of the raw 32-byte public key. It is published in the results dataset
  card (`public_key:` in the YAML front matter) and may be given to the Space as `RESULTS_PUBLIC_KEY`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from openasr_core.eventlog import canonical_json
from openasr_core.records import AuditRecord, PredictionRow, Result, ThroughputResult, write_jsonl

if TYPE_CHECKING:
    from openasr_core.config import LeaderboardConfig

PRIVATE_KEY_ENV = "RESULTS_SIGNING_KEY"
PUBLIC_KEY_ENV = "RESULTS_PUBLIC_KEY"


class SigningKeyError(ValueError):
    """A key is missing or malformed; the message says which variable or argument and what format it needs."""


# --- keys -------------------------------------------------------------------------------------------------


def generate_keypair() -> tuple[str, str]:
    """A new key pair as `(private_b64, public_b64)`: base64 of the raw 32-byte keys."""
    private = Ed25519PrivateKey.generate()
    return _private_b64(private), public_key_b64(private)


def _private_b64(private: Ed25519PrivateKey) -> str:
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw).decode("ascii")


def load_private_key(value: str) -> Ed25519PrivateKey:
    """Parse a private key given as base64 of the raw 32 bytes or as a PKCS#8 PEM. The error never quotes it."""
    text = value.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(
                f"the {PRIVATE_KEY_ENV} PEM could not be parsed; it must be an unencrypted PKCS#8 Ed25519 key"
            ) from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningKeyError(
                f"the {PRIVATE_KEY_ENV} PEM is not an Ed25519 key; make one with `python -m evaluator keygen`"
            )
        return key
    raw = _b64decode(text, f"{PRIVATE_KEY_ENV} (private key)")
    if len(raw) != 32:
        raise SigningKeyError(
            f"{PRIVATE_KEY_ENV} must decode to 32 bytes, got {len(raw)}; make one with `python -m evaluator keygen`"
        )
    return Ed25519PrivateKey.from_private_bytes(raw)


def load_public_key(value: str) -> Ed25519PublicKey:
    """Parse a public key given as base64 of the raw 32 bytes (as published in the dataset card)."""
    raw = _b64decode(value.strip(), "public key")
    if len(raw) != 32:
        raise SigningKeyError(f"a public key must be base64 of 32 bytes, got {len(raw)} bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SigningKeyError(f"the {what} is not valid base64") from exc


def public_key_b64(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The base64 raw public key (of a private key's pair, or of a public key)."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return base64.b64encode(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode(
        "ascii"
    )


def fingerprint(public_key: str | Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """A short, display-friendly id of a public key: `ed25519:` + the first 16 hex digits of its sha256."""
    b64 = public_key if isinstance(public_key, str) else public_key_b64(public_key)
    raw = _b64decode(b64.strip(), "public key")
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def private_key_from_env(env: Mapping[str, str] | None = None) -> Ed25519PrivateKey | None:
    """The signing key from `RESULTS_SIGNING_KEY`, or None when the secret is not set."""
    env = os.environ if env is None else env
    value = env.get(PRIVATE_KEY_ENV)
    return load_private_key(value) if value and value.strip() else None


def public_key_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The base64 public key: `RESULTS_PUBLIC_KEY` if set, else derived from `RESULTS_SIGNING_KEY`, else None."""
    env = os.environ if env is None else env
    value = env.get(PUBLIC_KEY_ENV)
    if value and value.strip():
        load_public_key(value)  # fail early on a malformed variable
        return value.strip()
    private = private_key_from_env(env)
    return public_key_b64(private) if private else None


# --- results ----------------------------------------------------------------------------------------------


def predictions_sha256(jsonl_text: str | bytes) -> str:
    """sha256 (hex) of a predictions file's exact bytes; `result.predictions_sha256[eval_set]` holds it."""
    data = jsonl_text.encode("utf-8") if isinstance(jsonl_text, str) else jsonl_text
    return hashlib.sha256(data).hexdigest()


def attach_predictions(result: Result, predictions: Mapping[str, Sequence[PredictionRow]]) -> Result:
    """The result with `predictions_sha256` filled from the rows, serialized exactly as the store writes them."""
    return result.replace(
        predictions_sha256={name: predictions_sha256(write_jsonl(rows)) for name, rows in predictions.items()}
    )


def signed_payload(record: Result | ThroughputResult | AuditRecord) -> bytes:
    """The bytes a signature covers: canonical JSON of the normalized record, `signature` left out.

    Throughput-track records (R14) are signed the same way; their own type keeps them apart from results.
    """
    body = type(record).from_dict(record.to_dict()).to_dict()
    body.pop("signature", None)
    if body.get("compute") is None:  # added after schema 1: absent, results signed before it still verify
        body.pop("compute", None)
    return canonical_json(body)


_Signed = TypeVar("_Signed", Result, ThroughputResult, AuditRecord)
_SignedResult = TypeVar("_SignedResult", Result, ThroughputResult)


def _sign(record: _Signed, private_key: Ed25519PrivateKey | str) -> _Signed:
    key = load_private_key(private_key) if isinstance(private_key, str) else private_key
    signature = key.sign(signed_payload(record))
    return record.replace(signature=base64.b64encode(signature).decode("ascii"))


def _verify(record: Result | ThroughputResult | AuditRecord, public_key: Ed25519PublicKey | str) -> bool:
    if not record.signature:
        return False
    key = load_public_key(public_key) if isinstance(public_key, str) else public_key
    try:
        signature = base64.b64decode(record.signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    if base64.b64encode(signature).decode("ascii") != record.signature:
        return False  # only the canonical encoding counts: no character of a signature may change
    try:
        key.verify(signature, signed_payload(record))
    except InvalidSignature:
        return False
    return True


def sign_result(result: _SignedResult, private_key: Ed25519PrivateKey | str) -> _SignedResult:
    """The result with `signature` (base64 Ed25519) over `signed_payload(result)`."""
    return _sign(result, private_key)


def verify_result(result: Result | ThroughputResult, public_key: Ed25519PublicKey | str) -> bool:
    """True when `result.signature` is a valid signature of its payload under `public_key`."""
    return _verify(result, public_key)


def sign_audit(record: AuditRecord, private_key: Ed25519PrivateKey | str) -> AuditRecord:
    """The audit record signed with the same key and the same canonical payload rule as results (R13)."""
    return _sign(record, private_key)


def verify_audit(record: AuditRecord, public_key: Ed25519PublicKey | str) -> bool:
    """True when the audit record's signature is valid under `public_key`."""
    return _verify(record, public_key)


def throughput_hash(record: ThroughputResult) -> str:
    """sha256 (hex) of a throughput record's canonical JSON, signature included: its log event carries it (R14)."""
    return hashlib.sha256(canonical_json(ThroughputResult.from_dict(record.to_dict()).to_dict())).hexdigest()


def audit_hash(record: AuditRecord) -> str:
    """sha256 (hex) of the audit record's canonical JSON, signature included: the log event carries it."""
    return hashlib.sha256(canonical_json(AuditRecord.from_dict(record.to_dict()).to_dict())).hexdigest()


# --- where the keys come from -----------------------------------------------------------------------------


def write_private_key(path: Path, private_b64: str, force: bool = False) -> None:
    """Create `path` with mode 0600 from the start (never briefly world-readable); refuse to overwrite."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an existing file overwritten with --force keeps no looser mode
        os.write(fd, (private_b64 + "\n").encode("ascii"))
    finally:
        os.close(fd)


LOCAL_KEY_FILE = "signing.key"


def local_private_key(store_root: Path) -> Ed25519PrivateKey:
    """The embedded default's own signing key, made on first use as `<store>/signing.key` (mode 0600).

    It lives beside the two local repos, not in them, so a local board signs and ranks what it measured
    without any setup; a Space uses the `RESULTS_SIGNING_KEY` secret instead.
    """
    path = store_root / LOCAL_KEY_FILE
    if not path.exists():
        # Written under another name, then linked into place: a process racing us sees no key or a whole one.
        draft = path.with_name(f".{LOCAL_KEY_FILE}.{os.getpid()}")
        draft.unlink(missing_ok=True)
        write_private_key(draft, generate_keypair()[0])
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(draft, path)
        draft.unlink()
    return load_private_key(path.read_text(encoding="ascii"))


def signing_key_for(config: LeaderboardConfig, env: Mapping[str, str] | None = None) -> Ed25519PrivateKey | None:
    """The key results are signed with: the secret if set, else the local store's own key, else None (Hub)."""
    key = private_key_from_env(env)
    if key is None and config.store.kind == "local":
        key = local_private_key(config.store.local_root)
    return key


def public_key_for(config: LeaderboardConfig, env: Mapping[str, str] | None = None) -> str | None:
    """The key results verify against: `RESULTS_PUBLIC_KEY`, else the signing key's public half."""
    published = public_key_from_env(env)
    if published:
        return published
    key = signing_key_for(config, env)
    return public_key_b64(key) if key else None
