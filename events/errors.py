"""Why the store refuses or fails. The service maps each to one problem+json type."""

from __future__ import annotations

import msgspec


class FieldError(msgspec.Struct, frozen=True):
    path: str
    message: str


class StoreError(Exception):
    """Base of everything the store raises on purpose."""


class ValidationFailed(StoreError):
    """The proposed events do not match their schema (422), with JSON paths."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in errors))


class RuleViolation(StoreError):
    """A stream's decider refused the events (422). `rule` is a stable name."""

    def __init__(self, rule: str, detail: str, index: int | None = None) -> None:
        self.rule = rule
        self.detail = detail
        self.index = index
        super().__init__(f"{rule}: {detail}")


class WrongExpectedVersion(StoreError):
    """The stream is not at the version the caller expected (409)."""

    def __init__(self, stream_id: str, expected: object, current_version: int) -> None:
        self.stream_id = stream_id
        self.expected = expected
        self.current_version = current_version
        super().__init__(
            f"stream {stream_id!r} is at version {current_version}, expected {expected}"
        )


class IdempotencyConflict(StoreError):
    """An event id is already stored with other content, or a batch is partly stored (409)."""

    def __init__(self, event_id: str, detail: str) -> None:
        self.event_id = event_id
        self.detail = detail
        super().__init__(f"event {event_id}: {detail}")


class StreamNotFound(StoreError):
    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        super().__init__(f"no stream {stream_id!r}")


class StoreUnavailable(StoreError):
    """The database cannot be reached or written right now (503); retrying later may work."""

    def __init__(self, detail: str, retry_after: int = 1) -> None:
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(detail)
