"""One typed record per feature, read and written by one mechanism.

A feature declares its record as a frozen dataclass with a `user_id` field and a
`PersonRecords` naming its folder; msgspec (a well-kept, typed, fast decoder) checks every
field's type on the way in, so no feature writes a parser of its own. A record that cannot be
read raises the feature's error (a subclass of RecordError) with msgspec's path to the bad
field. Every write is under a generation precondition: `create` only if absent, `save` only over
the generation read, `update`/`upsert` re-read and retry when another writer got there first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from shared.storage import IF_ABSENT, NotFoundError, Store, check_name, retry_on_conflict

logger = logging.getLogger(__name__)


class RecordError(ValueError):
    """A person's record that cannot be read (or a write that would make it wrong)."""


class Owned(Protocol):
    """Every record says whose it is."""

    @property
    def user_id(self) -> str: ...


R = TypeVar("R", bound=Owned)


def _no_problem(record: Any) -> str:
    return ""


@dataclass(frozen=True)
class PersonRecords(Generic[R]):
    """How one feature keeps one record per person: `<prefix><user id>.json`."""

    feature: str  # its name, as the deletion registry knows it
    prefix: str  # "listening/"
    kind: type[R]
    error: type[RecordError] = RecordError
    # A rule the types cannot say (a status among a few): the problem, or "" when none.
    check: Callable[[R], str] = _no_problem
    # A rule only a write must keep, given the record as stored (None: a new one): a record
    # written before the rule existed still reads, and may still be written as it was.
    check_write: Callable[[R, R | None], str] = lambda record, before: ""

    def object(self, user_id: str) -> str:
        """Return the object name of a person's record."""
        return check_name(f"{self.prefix}{user_id}.json")

    def parse(self, data: bytes) -> R:
        """Read a record; the feature's error when a field is missing or of the wrong type."""
        try:
            record = msgspec.json.decode(data, type=self.kind)
        except (msgspec.ValidationError, msgspec.DecodeError) as error:
            raise self.error(f"the {self.feature} record cannot be read: {error}") from error
        problem = "" if record.user_id else "it names no person"
        problem = problem or self.check(record)
        if problem:
            raise self.error(f"the {self.feature} record cannot be read: {problem}")
        return record

    def dump(self, record: R) -> bytes:
        """Return a record as the JSON it is stored as (keys sorted, one field a line)."""
        return msgspec.json.format(msgspec.json.encode(record, order="sorted"), indent=1)

    def load(self, store: Store, user_id: str) -> tuple[R, int] | None:
        """Return a person's record and its generation, or None when they have none."""
        try:
            stored = store.read(self.object(user_id))
        except NotFoundError:
            return None
        record = self.parse(stored.data)
        if record.user_id != user_id:
            raise self.error(f"the {self.feature} record of {user_id} names another person")
        return record, stored.generation

    def load_replacing(self, store: Store, user_id: str) -> tuple[R | None, int]:
        """Return the record and its generation to write over; a record that cannot be read
        reads as none, with its generation (a fresh grant replaces it, never a newer write)."""
        try:
            loaded = self.load(store, user_id)
        except self.error as error:
            logger.warning(
                f"unreadable {self.feature} record replaced",
                extra={"user_id": user_id, "error": str(error)},
            )
            return None, store.generation(self.object(user_id)) or IF_ABSENT
        return loaded if loaded else (None, IF_ABSENT)

    def save(self, store: Store, record: R, *, generation: int, before: R | None = None) -> int:
        """Write a record whole over the generation read (IF_ABSENT: only if there is none);
        `before`: the record as read at that generation. ConflictError when another writer got
        there first. Return the new generation."""
        problem = "" if record.user_id else "it names no person"
        problem = problem or self.check(record) or self.check_write(record, before)
        if problem:
            raise self.error(f"the {self.feature} record was not written: {problem}")
        return store.write(
            self.object(record.user_id),
            self.dump(record),
            if_generation_match=generation,
            content_type="application/json",
        )

    def create(self, store: Store, record: R) -> int:
        """Write a new record; ConflictError when the person has one already."""
        return self.save(store, record, generation=IF_ABSENT)

    def update(
        self, store: Store, user_id: str, change: Callable[[R], R], attempts: int = 5
    ) -> R | None:
        """Apply a change to the record as stored, re-reading when another writer got there
        first; None (nothing written) when the person has no record."""

        def attempt() -> R | None:
            loaded = self.load(store, user_id)
            if loaded is None:
                return None
            changed = self._owned(change(loaded[0]), user_id)
            self.save(store, changed, generation=loaded[1], before=loaded[0])
            return changed

        return retry_on_conflict(self.object(user_id), attempt, attempts)

    def upsert(
        self, store: Store, user_id: str, change: Callable[[R | None], R], attempts: int = 5
    ) -> R:
        """Write what `change` makes of the record as stored (None: there is none yet)."""

        def attempt() -> R:
            loaded = self.load(store, user_id)
            current, generation = loaded if loaded else (None, IF_ABSENT)
            changed = self._owned(change(current), user_id)
            self.save(store, changed, generation=generation, before=current)
            return changed

        return retry_on_conflict(self.object(user_id), attempt, attempts)

    def put(self, store: Store, record: R) -> R:
        """Write a record whole over whatever is stored (under the generation read)."""
        return self.upsert(store, record.user_id, lambda _: record)

    def people(self, store: Store) -> list[str]:
        """Return the ids of the people who keep a record."""
        return sorted(
            name.removeprefix(self.prefix).removesuffix(".json")
            for name in store.list(self.prefix)
            if name.endswith(".json") and "/" not in name.removeprefix(self.prefix)
        )

    def delete(self, store: Store, user_id: str) -> bool:
        """Delete a person's record (and the grant it holds); True when there was one."""
        try:
            store.delete(self.object(user_id))
        except NotFoundError:
            return False
        return True

    def kept(self, store: Store, user_id: str) -> bool:
        """Tell whether a person keeps a record, readable or not (one metadata read)."""
        return store.generation(self.object(user_id)) is not None

    def _owned(self, record: R, user_id: str) -> R:
        if record.user_id != user_id:
            raise self.error(f"a change to {user_id}'s {self.feature} record names another person")
        return record
