"""Answers without a query: stored document bytes (and whole answers) as of one position.

Everything held is true as of `position`, the checkpoint the runner in this process last
applied or saw. Only the runner moves it:
- `advance(start, new, written)`: this process applied (start, new] and wrote `written`;
  every other document held is unchanged by that range, so it stays (if the cache was at
  `start`); whole answers are dropped (a list may change with any document).
- `reset(position)`: something else moved the checkpoint (another instance, a rebuild,
  a checkpoint seen by polling): nothing held can be vouched for, so everything goes.

A reader that missed offers what it read together with the checkpoint it read in the same
statement; the offer is kept only if that checkpoint is the cache's position. So every
answer served from here is a consistent state at `position`, never a mix. On several
instances an answer may trail the newest checkpoint by as long as it takes this instance's
runner to notice (a poll, a notification); `wait_for_position` still waits for it.

Both documents and whole answers are bounded in bytes and in entries, least recently used
first out: answers are keyed by what clients ask (an owner id, a filter), and an answer that
found nothing costs no bytes, so only the entry bound stops lookups of made-up ids from
growing the process until the next append.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_ENTRIES = 10_000


class ReadCache:
    def __init__(
        self, max_bytes: int = DEFAULT_MAX_BYTES, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        self.position: int | None = None
        """The checkpoint everything held reflects; None: nothing is held or valid."""
        self._max_bytes = max_bytes
        self._max_entries = max_entries
        self._docs: OrderedDict[str, bytes] = OrderedDict()
        self._bytes = 0
        self._answers: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        """Each answer with the size it was offered with."""
        self._answer_bytes = 0

    def __len__(self) -> int:
        return len(self._docs)

    @property
    def answers_held(self) -> int:
        return len(self._answers)

    def doc(self, key: str) -> bytes | None:
        """The stored document `key` as of `position`, if held."""
        doc = self._docs.get(key)
        if doc is not None:
            self._docs.move_to_end(key)
        return doc

    def offer_doc(self, key: str, doc: bytes, position: int) -> None:
        """Keep `doc` (read at checkpoint `position`) if that is the cache's position."""
        if position == self.position:
            self._put(key, doc)

    def answer(self, key: Hashable) -> Any:
        """A whole answer computed at `position`, or None."""
        held = self._answers.get(key)
        if held is None:
            return None
        self._answers.move_to_end(key)
        return held[0]

    def offer_answer(self, key: Hashable, value: Any, position: int, size: int) -> None:
        """Keep `value` (computed from checkpoint `position`, about `size` bytes) if that is
        the cache's position and it fits."""
        if position != self.position or self._answer_bytes + size > self._max_bytes // 4:
            return
        old = self._answers.pop(key, None)
        if old is not None:
            self._answer_bytes -= old[1]
        self._answers[key] = (value, size)
        self._answer_bytes += size
        while len(self._answers) > self._max_entries:
            _, (_, dropped) = self._answers.popitem(last=False)
            self._answer_bytes -= dropped

    def advance(self, start: int, new: int, written: Mapping[str, bytes]) -> None:
        """This process applied the log from `start` to `new` and wrote `written`."""
        if self.position != start:
            self._clear()
        self._answers.clear()
        self._answer_bytes = 0
        for key, doc in written.items():
            self._put(key, doc)
        self.position = new

    def reset(self, position: int | None) -> None:
        """Drop everything; from now on hold what is read at `position` (None: nothing)."""
        self._clear()
        self.position = position

    def _put(self, key: str, doc: bytes) -> None:
        old = self._docs.pop(key, None)
        if old is not None:
            self._bytes -= len(old)
        if len(doc) > self._max_bytes // 16:
            return
        self._docs[key] = doc
        self._bytes += len(doc)
        while self._bytes > self._max_bytes or len(self._docs) > self._max_entries:
            _, dropped = self._docs.popitem(last=False)
            self._bytes -= len(dropped)

    def _clear(self) -> None:
        self._docs.clear()
        self._bytes = 0
        self._answers.clear()
        self._answer_bytes = 0
