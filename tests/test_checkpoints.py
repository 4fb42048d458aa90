from __future__ import annotations

import base64
import datetime as dt
import stat
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from events import merkle, signed_checkpoints
from events.signed_checkpoints import Checkpoint

HEAD = "ab" * 32
ROOT = merkle.root([bytes.fromhex(HEAD)])


def _signed(size: int = 1) -> tuple[Ed25519PrivateKey, Checkpoint]:
    key = signed_checkpoints.generate_key()
    return key, signed_checkpoints.sign_checkpoint(key, size, HEAD, ROOT)


def test_signed_checkpoint_verifies_with_its_public_key() -> None:
    key, checkpoint = _signed()
    assert checkpoint.size == 1
    assert checkpoint.merkle_root == ROOT.hex()
    assert checkpoint.issued_at.endswith("Z")
    assert signed_checkpoints.verify_checkpoint(checkpoint, key.public_key())


def test_signature_covers_the_documented_message() -> None:
    key = signed_checkpoints.generate_key()
    moment = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
    checkpoint = signed_checkpoints.sign_checkpoint(key, 7, HEAD, ROOT.hex(), issued_at=moment)
    message = (
        f"agreements-log/v2\n7\n{HEAD}\n{ROOT.hex()}\n2025-03-01T12:00:00.000000Z\n"
    ).encode()
    # An independent verifier needs only this text, the signature and the public key.
    key.public_key().verify(base64.b64decode(checkpoint.signature), message)


@pytest.mark.parametrize(
    "change",
    [
        {"size": 2},
        {"head_hash": "cd" * 32},
        {"merkle_root": "00" * 32},
        {"issued_at": "2030-01-01T00:00:00.000000Z"},
        {"signature": base64.b64encode(b"\x00" * 64).decode()},
        {"signature": "not base64!"},
    ],
)
def test_altered_checkpoint_fails(change: dict[str, object]) -> None:
    key, checkpoint = _signed()
    assert not signed_checkpoints.verify_checkpoint(
        msgspec.structs.replace(checkpoint, **change), key.public_key()
    )


def test_checkpoint_from_another_key_fails() -> None:
    _, checkpoint = _signed()
    other = signed_checkpoints.generate_key()
    assert not signed_checkpoints.verify_checkpoint(checkpoint, other.public_key())
    # Even when the forger relabels it with the other key's id.
    relabelled = msgspec.structs.replace(checkpoint, key_id=signed_checkpoints.key_id(other))
    assert not signed_checkpoints.verify_checkpoint(relabelled, other.public_key())


def test_private_key_round_trips_with_owner_only_permissions(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.key"
    path.write_text("old, world-readable")
    path.chmod(0o644)
    key = signed_checkpoints.generate_key()
    signed_checkpoints.save_private_key(key, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = signed_checkpoints.load_private_key(path)
    checkpoint = signed_checkpoints.sign_checkpoint(loaded, 1, HEAD, ROOT)
    assert signed_checkpoints.verify_checkpoint(checkpoint, key.public_key())


def test_public_key_loads_from_pem_text_or_path(tmp_path: Path) -> None:
    key, checkpoint = _signed()
    pem = signed_checkpoints.public_key_pem(key)
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    path = tmp_path / "checkpoint.pub"
    path.write_text(pem)
    for source in (pem, str(path), path, pem.encode()):
        assert signed_checkpoints.verify_checkpoint(
            checkpoint, signed_checkpoints.load_public_key(source)
        )


def test_non_ed25519_keys_are_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "ec.key"
    path.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="Ed25519"):
        signed_checkpoints.load_private_key(path)
    pem = other.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ValueError, match="Ed25519"):
        signed_checkpoints.load_public_key(pem)


def test_malformed_fields_are_refused_when_signing() -> None:
    key = signed_checkpoints.generate_key()
    with pytest.raises(ValueError, match="head_hash"):
        signed_checkpoints.sign_checkpoint(key, 1, "AB" * 32, ROOT)
    with pytest.raises(ValueError, match="merkle_root"):
        signed_checkpoints.sign_checkpoint(key, 1, HEAD, ROOT[:16])
    with pytest.raises(ValueError, match="negative"):
        signed_checkpoints.sign_checkpoint(key, -1, HEAD, ROOT)


def test_checkpoint_json_round_trip() -> None:
    key, checkpoint = _signed()
    stored = signed_checkpoints.encode_checkpoint(checkpoint)
    assert set(msgspec.json.decode(stored)) == {
        "size",
        "head_hash",
        "merkle_root",
        "issued_at",
        "key_id",
        "signature",
    }
    restored = signed_checkpoints.decode_checkpoint(stored)
    assert restored == checkpoint
    assert signed_checkpoints.verify_checkpoint(restored, key.public_key())
