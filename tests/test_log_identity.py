"""The log names itself and records which keys sign it: checkpoints of two registers signed
with one key are not interchangeable, a signing key the log does not record is refused (a lost
key file is not silently replaced), and a change of key is an explicit, recorded rotation after
which old checkpoints still verify with the old key. On both databases."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from events.catalogue import EventData, LogNamed, SigningKeyRegistered, SigningKeyRotated
from events.envelope import Metadata
from events.errors import RuleViolation
from events.log_identity import IDENTITY_STREAM, UnknownSigningKey, read_identity, signing_key
from events.rules.log import LOG
from events.signed_checkpoints import (
    decode_checkpoint,
    encode_checkpoint,
    generate_key,
    key_id,
    load_private_key,
    origin_for,
    public_key_pem,
    save_private_key,
    sign_checkpoint,
    verify_checkpoint,
)
from events.store import open_store
from service.app import create_app
from service.audit_commands import (
    checkpoint_async,
    public_key_async,
    rotate_key_async,
    verify_async,
)
from tests._databases import BACKENDS, database
from tests.conftest import Api
from tests.test_audit_store import fill_store

Capture = pytest.CaptureFixture[str]


@pytest.fixture(params=BACKENDS)
async def url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    _mkdir(tmp_path / "one")
    async with database(request.param, tmp_path / "one") as made:
        store = await open_store(made)
        try:
            await fill_store(store, notes=3)
        finally:
            await store.close()
        yield made


async def _checkpoint(url: str, key: Path, output: Path) -> int:
    return await checkpoint_async(url, str(key), str(output))


async def _public_key(url: str, key: Path, output: Path, capsys: Capture) -> None:
    capsys.readouterr()
    assert await public_key_async(str(key), database_url=url) == 0
    _write(output, capsys.readouterr().out)


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def _mkdir(path: Path) -> None:
    path.mkdir()


async def test_a_checkpoint_names_the_log_it_is_of(url: str, tmp_path: Path) -> None:
    key, kept = tmp_path / "key.pem", tmp_path / "kept.json"
    assert await _checkpoint(url, key, kept) == 0
    made = decode_checkpoint(kept.read_bytes())
    store = await open_store(url)
    try:
        identity = await read_identity(store)
        recorded = await store.read_stream(IDENTITY_STREAM)
    finally:
        await store.close()
    assert identity.log_id is not None
    assert made.origin == origin_for(identity.log_id)
    assert recorded[0].type == LogNamed.type_name
    assert recorded[0].position <= made.size  # the checkpoint covers the log's own record
    # The origin is signed: naming another log breaks the signature.
    moved = msgspec.structs.replace(made, origin=origin_for("0" * 32))
    public = load_private_key(key).public_key()
    assert verify_checkpoint(made, public)
    assert not verify_checkpoint(moved, public)


async def test_another_registers_checkpoint_signed_with_the_same_key_is_refused(
    url: str, tmp_path: Path, capsys: Capture
) -> None:
    key, pub = tmp_path / "key.pem", tmp_path / "key.pub"
    save_private_key(generate_key(), key)
    _mkdir(tmp_path / "other")
    async with database("sqlite", tmp_path / "other") as other:
        store = await open_store(other)
        try:
            await fill_store(store, notes=3)
        finally:
            await store.close()
        theirs = tmp_path / "other.json"
        assert await _checkpoint(other, key, theirs) == 0
        ours = tmp_path / "ours.json"
        assert await _checkpoint(url, key, ours) == 0
        await _public_key(url, key, pub, capsys)

        assert await verify_async(url, None, str(ours), str(pub)) == 0
        capsys.readouterr()
        assert await verify_async(url, None, str(theirs), str(pub)) == 1
    err = capsys.readouterr().err
    assert "the checkpoint does not hold" in err
    assert "not of this one" in err
    assert decode_checkpoint(theirs.read_bytes()).origin in err


async def test_a_missing_key_file_is_refused_not_replaced(
    url: str, tmp_path: Path, capsys: Capture
) -> None:
    key = tmp_path / "key.pem"
    assert await _checkpoint(url, key, tmp_path / "first.json") == 0
    recorded = key_id(load_private_key(key))
    key.unlink()
    capsys.readouterr()

    assert await _checkpoint(url, key, tmp_path / "second.json") == 2
    err = capsys.readouterr().err
    assert f"{key} is missing" in err
    assert recorded in err
    assert "rotate-key" in err
    assert not key.exists()
    assert not (tmp_path / "second.json").exists()


async def test_another_key_file_is_refused(url: str, tmp_path: Path, capsys: Capture) -> None:
    key = tmp_path / "key.pem"
    assert await _checkpoint(url, key, tmp_path / "first.json") == 0
    recorded = key_id(load_private_key(key))
    stranger = tmp_path / "stranger.pem"
    save_private_key(generate_key(), stranger)
    capsys.readouterr()

    assert await _checkpoint(url, stranger, tmp_path / "second.json") == 2
    assert await public_key_async(str(stranger), database_url=url) == 2
    err = capsys.readouterr().err
    assert f"the log is signed with key {recorded}" in err
    assert not (tmp_path / "second.json").exists()


async def test_a_rotation_is_recorded_and_old_checkpoints_still_verify(
    url: str, tmp_path: Path, capsys: Capture
) -> None:
    key, old_pub = tmp_path / "key.pem", tmp_path / "old.pub"
    old_checkpoint, new_checkpoint = tmp_path / "old.json", tmp_path / "new.json"
    assert await _checkpoint(url, key, old_checkpoint) == 0
    await _public_key(url, key, old_pub, capsys)
    old_id = key_id(load_private_key(key))

    assert await rotate_key_async(str(key), database_url=url, reason="key holder left") == 0
    new_id = key_id(load_private_key(key))
    assert new_id != old_id
    assert (tmp_path / f"key.pem.{old_id}.retired").exists()  # kept, not destroyed
    store = await open_store(url)
    try:
        last = (await store.read_stream(IDENTITY_STREAM))[-1]
    finally:
        await store.close()
    assert last.type == SigningKeyRotated.type_name
    rotated = msgspec.json.decode(bytes(last.data), type=SigningKeyRotated)
    assert (rotated.previous_key_id, rotated.key_id) == (old_id, new_id)
    assert rotated.reason == "key holder left"
    assert msgspec.json.decode(bytes(last.metadata))["actor"].startswith("cli:")

    assert await _checkpoint(url, key, new_checkpoint) == 0
    assert decode_checkpoint(new_checkpoint.read_bytes()).key_id == new_id
    # The auditor's copy of the old key still verifies the old checkpoint...
    assert await verify_async(url, None, str(old_checkpoint), str(old_pub)) == 0
    # ...and so do the keys the log records, each for the checkpoints it signed.
    assert await verify_async(url, None, str(old_checkpoint), None) == 0
    assert await verify_async(url, None, str(new_checkpoint), None) == 0
    # The old key no longer signs.
    retired = tmp_path / f"key.pem.{old_id}.retired"
    capsys.readouterr()
    assert await _checkpoint(url, retired, tmp_path / "late.json") == 2
    assert f"the log is signed with key {new_id}" in capsys.readouterr().err


async def test_a_checkpoint_by_a_key_the_log_never_recorded_is_refused(
    url: str, tmp_path: Path, capsys: Capture
) -> None:
    key, ours = tmp_path / "key.pem", tmp_path / "ours.json"
    assert await _checkpoint(url, key, ours) == 0
    kept = decode_checkpoint(ours.read_bytes())
    forger = generate_key()
    forged = tmp_path / "forged.json"
    forged.write_bytes(
        encode_checkpoint(
            sign_checkpoint(forger, kept.size, kept.head_hash, kept.merkle_root, origin=kept.origin)
        )
    )
    assert await verify_async(url, None, str(ours), None) == 0
    capsys.readouterr()
    assert await verify_async(url, None, str(forged), None) == 1
    err = capsys.readouterr().err
    assert f"names key {key_id(forger)}, which this log does not record" in err


async def test_the_servers_checkpoints_name_the_log_and_its_recorded_key(api: Api) -> None:
    auditor = api.auth("auditor")
    first = await api.client.get("/audit/checkpoint", headers=auditor)
    assert first.status_code == 200, first.text
    store = api.services.store
    identity = await read_identity(store)
    assert identity.log_id is not None and identity.current_key is not None
    assert first.json()["origin"] == origin_for(identity.log_id)
    pem = await api.client.get("/audit/public-key", headers=auditor)
    assert pem.text == public_key_pem(identity.current_key.public_key)


async def test_the_server_will_not_sign_with_a_key_the_log_does_not_record(
    api: Api, tmp_path: Path
) -> None:
    # Another process recorded its own key first; this server's key file holds another.
    elsewhere = tmp_path / "elsewhere.pem"
    await signing_key(api.services.store, elsewhere, metadata=Metadata(actor="elsewhere"))
    head = await api.head()
    for path in ("/audit/checkpoint", "/audit/public-key"):
        refused = await api.client.get(path, headers=api.auth("auditor"))
        assert refused.status_code == 500
        assert refused.headers["content-type"] == "application/problem+json"
        problem = refused.json()
        assert problem["type"].endswith("/signing-key-unknown")
        assert key_id(load_private_key(elsewhere)) in problem["detail"]
    assert await api.head() == head


async def test_a_server_does_not_start_with_a_key_the_log_does_not_record(
    api: Api, tmp_path: Path
) -> None:
    assert (await api.client.get("/audit/checkpoint", headers=api.auth("auditor"))).is_success
    recorded = (await read_identity(api.services.store)).current_key
    assert recorded is not None
    stranger = tmp_path / "stranger.pem"
    save_private_key(generate_key(), stranger)
    for path in (stranger, tmp_path / "missing.pem"):
        restarted = create_app(
            dataclasses.replace(api.services.settings, bootstrap_admin_token=False),
        )
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AGREEMENTS_SIGNING_KEY", str(path))
            with pytest.raises(UnknownSigningKey, match=recorded.key_id):
                async with restarted.router.lifespan_context(restarted):
                    pass


# --- the rules of the log-identity stream ----------------------------------------------------


def _registration(key: Ed25519PrivateKey) -> SigningKeyRegistered:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return SigningKeyRegistered(key_id=key_id(key), public_key=base64.b64encode(raw).decode())


def _rotation(key: Ed25519PrivateKey, previous: str) -> SigningKeyRotated:
    registered = _registration(key)
    return SigningKeyRotated(
        key_id=registered.key_id, public_key=registered.public_key, previous_key_id=previous
    )


def _refused(past: list[EventData], new: list[EventData]) -> str:
    with pytest.raises(RuleViolation) as refused:
        LOG.check(LOG.fold(LOG.initial(), past), new)
    return refused.value.rule


def test_the_log_identity_rules() -> None:
    first, second = generate_key(), generate_key()
    named = LogNamed(log_id="a" * 32)
    assert _refused([], [_registration(first)]) == "log_not_named"
    assert _refused([named], [LogNamed(log_id="b" * 32)]) == "log_already_named"
    assert _refused([named], [_rotation(second, key_id(first))]) == "no_signing_key"
    registered = [named, _registration(first)]
    assert _refused(registered, [_registration(second)]) == "signing_key_already_registered"
    assert _refused(registered, [_rotation(second, key_id(second))]) == (
        "rotation_from_not_current_key"
    )
    assert _refused(registered, [_rotation(first, key_id(first))]) == "signing_key_reused"
    lying = msgspec.structs.replace(_rotation(second, key_id(first)), key_id=key_id(first))
    assert _refused(registered, [lying]) == "key_id_mismatch"
    mismatched = msgspec.structs.replace(_registration(first), key_id="0" * 16)
    assert _refused([named], [mismatched]) == "key_id_mismatch"
    state = LOG.check(LOG.fold(LOG.initial(), registered), [_rotation(second, key_id(first))])
    assert state.keys == (key_id(first), key_id(second))
