"""Signed checkpoints: a statement, signed by the operator's Ed25519 key, of what the log held.

An auditor keeps checkpoints outside the system. Later they can show that the log still
starts with what they saw (a consistency proof between the two Merkle roots, or a re-scan that
finds the same head hash at the same size), without trusting the server.

The signature covers exactly these bytes (UTF-8, each line ending in a newline, in the spirit
of a C2SP signed note body):

    <origin>
    <size, decimal>
    <head_hash, 64 lowercase hex>
    <merkle_root, 64 lowercase hex>
    <issued_at, YYYY-MM-DDTHH:MM:SS.ffffffZ>

The origin names the log, as C2SP's checkpoint origin does: `agreements-log/v2/<log id>`, the
id the log records once about itself (`LogNamed`, see `events.log_identity`). Two registers
signed with one key thus have checkpoints that cannot be passed off as each other's. Checkpoints
signed before logs had ids carry the bare `agreements-log/v2` and name no log. The `v2` is the
hash version of the events the checkpoint covers (`events.hashing`), so a checkpoint of a log
hashed another way cannot be passed off as one of this log either.

`key_id` is the first 8 bytes (16 hex digits) of SHA-256 over the raw 32-byte public key; it
names the key so a verifier can tell "wrong key" from "forged", and is not itself signed.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import os
import re
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from events.envelope import format_timestamp
from events.hashing import HASH_VERSION

ORIGIN = f"agreements-log/v{HASH_VERSION}"
"""The origin of a checkpoint that names no log (made before logs had ids); the prefix of
every other origin. It names the hash version of the events covered."""


def origin_for(log_id: str) -> str:
    """The origin line of the checkpoints of the log whose id is `log_id`."""
    return f"{ORIGIN}/{log_id}"


_HEX64 = re.compile(r"[0-9a-f]{64}")


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    size: int
    head_hash: str
    merkle_root: str
    issued_at: str
    key_id: str
    signature: str
    origin: str = ORIGIN
    """The log the checkpoint is of (`origin_for(log_id)`); signed."""


def signed_message(
    size: int, head_hash: str, merkle_root: str, issued_at: str, origin: str = ORIGIN
) -> bytes:
    """The canonical bytes a checkpoint's signature covers (see the module docstring)."""
    if not origin or "\n" in origin:
        raise ValueError(f"an origin is one non-empty line, got {origin!r}")
    return f"{origin}\n{size}\n{head_hash}\n{merkle_root}\n{issued_at}\n".encode()


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def save_private_key(key: Ed25519PrivateKey, path: str | os.PathLike[str]) -> None:
    """Write the key as unencrypted PKCS#8 PEM, readable by its owner only (mode 0600)."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        os.fchmod(file.fileno(), 0o600)  # the file may have existed with wider permissions
        file.write(pem)


def load_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{os.fspath(path)} does not hold an Ed25519 private key")
    return key


def public_key_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def load_public_key(pem_or_path: str | bytes | os.PathLike[str]) -> Ed25519PublicKey:
    """Accept the PEM text itself or the path of a file holding it."""
    if isinstance(pem_or_path, bytes):
        pem = pem_or_path
    elif isinstance(pem_or_path, str) and pem_or_path.lstrip().startswith("-----BEGIN"):
        pem = pem_or_path.encode("ascii")
    else:
        pem = Path(pem_or_path).read_bytes()
    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the public key is not an Ed25519 key")
    return key


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign_checkpoint(
    key: Ed25519PrivateKey,
    size: int,
    head_hash: str,
    merkle_root: bytes | str,
    *,
    issued_at: dt.datetime | None = None,
    origin: str = ORIGIN,
) -> Checkpoint:
    """Sign (origin, size, head hash, Merkle root). `merkle_root` may be raw bytes or
    lowercase hex; `origin` is `origin_for(log_id)` for a log that has its id."""
    root_hex = merkle_root.hex() if isinstance(merkle_root, bytes) else merkle_root
    if size < 0:
        raise ValueError(f"size must not be negative, got {size}")
    for name, value in (("head_hash", head_hash), ("merkle_root", root_hex)):
        if not _HEX64.fullmatch(value):
            raise ValueError(f"{name} must be 64 lowercase hex digits, got {value!r}")
    moment = format_timestamp(issued_at or dt.datetime.now(dt.UTC))
    signature = key.sign(signed_message(size, head_hash, root_hex, moment, origin))
    return Checkpoint(
        origin=origin,
        size=size,
        head_hash=head_hash,
        merkle_root=root_hex,
        issued_at=moment,
        key_id=key_id(key),
        signature=base64.b64encode(signature).decode("ascii"),
    )


def verify_checkpoint(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    """True only if `public_key` signed exactly this checkpoint's fields."""
    if checkpoint.key_id != key_id(public_key):
        return False
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
        public_key.verify(
            signature,
            signed_message(
                checkpoint.size,
                checkpoint.head_hash,
                checkpoint.merkle_root,
                checkpoint.issued_at,
                checkpoint.origin,
            ),
        )
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def encode_checkpoint(checkpoint: Checkpoint) -> bytes:
    """JSON, the form an auditor stores and the API serves."""
    return msgspec.json.encode(checkpoint)


def decode_checkpoint(data: bytes | str) -> Checkpoint:
    """Parse a stored checkpoint; raises msgspec.ValidationError/DecodeError when malformed."""
    return msgspec.json.decode(data, type=Checkpoint)
