"""DocumentRecorded in the agreement decider: each id once, within the deployment's cap, on
an announced or signed agreement, and kept after termination."""

from __future__ import annotations

import hashlib

import msgspec
import pytest

from events.catalogue import DocumentRecorded, EventData, decoder_for
from events.errors import RuleViolation
from events.rules.agreement import AGREEMENT, AgreementDecider, DocumentLimits
from tests.test_rules_agreement import signed, terminated
from tests.test_rules_announcement import announced


def document(document_id: str = "signed-moc", content: bytes = b"%PDF-1.7") -> DocumentRecorded:
    return DocumentRecorded(
        document_id=document_id,
        name="MoC imec-Rapidus (signed).pdf",
        media_type="application/pdf",
        sha256=hashlib.sha256(content).hexdigest(),
        size=len(content),
    )


def refusal(*events: EventData, decider: AgreementDecider = AGREEMENT) -> RuleViolation:
    with pytest.raises(RuleViolation) as caught:
        decider.check(decider.initial(), events)
    return caught.value


def test_documents_are_recorded_on_signed_announced_and_ended_agreements() -> None:
    state = AGREEMENT.check(AGREEMENT.initial(), [signed(), document(), document("annex-1")])
    assert state.documents == {"signed-moc", "annex-1"}
    AGREEMENT.check(AGREEMENT.initial(), [announced(), document("press-release")])
    AGREEMENT.check(AGREEMENT.initial(), [signed(), terminated(), document("termination")])


def test_a_document_id_is_recorded_once() -> None:
    error = refusal(signed(), document(), document(content=b"another file"))
    assert (error.rule, error.index) == ("document_already_recorded", 2)


def test_documents_are_capped() -> None:
    capped = AgreementDecider(DocumentLimits(documents=1))
    assert refusal(signed(), document("a"), document("b"), decider=capped).rule == (
        "too_many_documents"
    )


def test_a_document_cannot_start_a_stream() -> None:
    assert refusal(document()).rule == "stream_must_start_with_signing"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sha256", "A" * 64),
        ("sha256", "abc"),
        ("size", 0),
        ("size", 2**40 + 1),
        ("media_type", "pdf"),
    ],
)
def test_fingerprints_sizes_and_media_types_are_checked_by_the_schema(
    field: str, value: object
) -> None:
    data = msgspec.to_builtins(document()) | {field: value}
    decoder = decoder_for("DocumentRecorded")
    assert decoder is not None
    with pytest.raises(msgspec.ValidationError, match=rf"\$\.{field}"):
        decoder.decode(msgspec.json.encode(data))
