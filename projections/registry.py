"""The read models the projections keep: every loop over read models loops over these.

Adding a read model is one module declaring a `ReadModel` or `DerivedModel`
(`projections.read_model`) and one line here (plus its routes). The working set, the runner,
rebuild, as-of replay, the history route and table creation find it here; checkpoint names
and schema versions too (`projections.schema`). The reader reads a `ReadModel`'s documents by
id, now or as of a cut, through one path (`ProjectionReader.document`).
"""

from __future__ import annotations

from typing import Any

from projections import delegations, follow_ups, owners, partnership_search, partnerships
from projections.read_model import DerivedModel, ReadModel

READ_MODELS: list[ReadModel[Any]] = [
    partnerships.MODEL,
    delegations.MODEL,
]
"""Read models folding streams into documents."""

DERIVED_MODELS: list[DerivedModel[Any]] = [
    owners.MODEL,
    follow_ups.MODEL,
    partnership_search.MODEL,
]
"""Read models derived from the documents of one of `READ_MODELS`."""


def every() -> list[ReadModel[Any] | DerivedModel[Any]]:
    """Every read model, of both kinds (each has a checkpoint and tables)."""
    return [*READ_MODELS, *DERIVED_MODELS]


def folding(category: str) -> list[ReadModel[Any]]:
    """The read models that fold the streams of `category`."""
    return [model for model in READ_MODELS if category in model.categories]


def derived_from(name: str) -> list[DerivedModel[Any]]:
    return [model for model in DERIVED_MODELS if model.source == name]


def category(stream_id: str) -> str:
    """The category of a stream id: what comes before its first `-`."""
    return stream_id.partition("-")[0]
