"""Deletion is a protocol, not a list: a tombstone first, writers give up, the sweep after.

Each per-person feature registers what it keeps (`register`): a name, the words a page says,
and a sweep that deletes everything the feature keeps of one person. "Delete my data" and each
feature's own delete call `delete_person`:

1. **Tombstone.** `deleting/<person id>.json` holds, per feature ("*": everything), the id of
   its latest delete (a random id, never repeated); a delete writes a new one for what it
   covers, under a generation precondition.
2. **Sweep.** Each covered feature's sweep deletes the person's files.

Every writer of a person's data, on the web and in the ETL, holds a `Writes` for the work it
does: it reads the delete ids when the work starts, and after the work wrote (and on its way
out, whatever happened) `finish` reads them again. A new id means a delete came while
the work ran, perhaps after the sweep had passed the files the work then wrote: the writer
sweeps again and gives up. Whichever comes last, the sweep or the writer's finish, sees what
the other did, so nothing of the person is left behind. A writer may also `check` between
steps to stop early.

A tombstone holds no data of the person but their id and when; the daily jobs forget those
older than TOMBSTONE_DAYS (a writer lives minutes: a web request or a cron job).
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import pkgutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeAlias

from shared.clock import iso_utc
from shared.storage import (
    IF_ABSENT,
    ConflictError,
    NotFoundError,
    Store,
    check_name,
    retry_on_conflict,
)

if TYPE_CHECKING:
    from shared.config import Settings

logger = logging.getLogger(__name__)

TOMBSTONE_PREFIX = "deleting/"
EVERYTHING = "*"
TOMBSTONE_DAYS = 2

Sweep: TypeAlias = "Callable[[Store, str, Settings], int]"


class PersonDeletedError(Exception):
    """The person deleted this data while the work ran: the work gave up, nothing is kept."""


@dataclass(frozen=True)
class Keeps:
    """What one feature keeps of a person, and how it is deleted."""

    feature: str
    label: str  # what a page calls it: "listening history"
    sweep: Sweep  # deletes all of it for one person; returns how many objects went


_REGISTRY: dict[str, Keeps] = {}


def register(feature: str, label: str, sweep: Sweep) -> Keeps:
    """Declare what a feature keeps of a person (once, where the feature keeps it)."""
    keeps = Keeps(feature, label, sweep)
    _REGISTRY[feature] = keeps
    return keeps


def features() -> dict[str, Keeps]:
    """Return every registered feature. Every module of `shared` is imported first, so a
    feature registered where it keeps its files is never forgotten, and none is listed here."""
    _import_shared()
    return dict(_REGISTRY)


@functools.cache
def _import_shared() -> None:
    """Import every module of `shared` once a process (each registers what it keeps)."""
    import shared

    for module in pkgutil.iter_modules(shared.__path__):
        if not module.ispkg:
            importlib.import_module(f"shared.{module.name}")


def tombstone_object(user_id: str) -> str:
    """Return the object name of a person's tombstone."""
    return check_name(f"{TOMBSTONE_PREFIX}{user_id}.json")


def _read_epochs(store: Store, user_id: str) -> tuple[dict[str, str], int]:
    try:
        stored = store.read(tombstone_object(user_id))
    except NotFoundError:
        return {}, IF_ABSENT
    try:
        raw = json.loads(stored.data).get("deletes", {})
        epochs = {str(k): str(v) for k, v in raw.items()}
    except (ValueError, TypeError, AttributeError):
        # A damaged tombstone still says "deleting": a delete of everything, one per version.
        epochs = {EVERYTHING: f"damaged-{stored.generation}"}
    return epochs, stored.generation


def epochs(store: Store, user_id: str) -> dict[str, str]:
    """Return the id of the person's latest delete of each feature ({}: none kept)."""
    return _read_epochs(store, user_id)[0]


def _begin(store: Store, user_id: str, feature: str, now: datetime) -> None:
    """Write a new delete id for the feature: every writer that started before gives up."""

    def attempt() -> None:
        current, generation = _read_epochs(store, user_id)
        current[feature] = uuid.uuid4().hex
        body = {"deletes": current, "at": iso_utc(now)}
        store.write(
            tombstone_object(user_id),
            json.dumps(body, sort_keys=True).encode(),
            if_generation_match=generation,
            content_type="application/json",
        )

    retry_on_conflict(tombstone_object(user_id), attempt)


def sweep(
    store: Store, user_id: str, settings: Settings, feature: str = EVERYTHING
) -> dict[str, int]:
    """Delete what the feature (or every feature) keeps of the person; objects deleted by name."""
    chosen = features()
    if feature != EVERYTHING:
        chosen = {feature: chosen[feature]}
    return {name: keeps.sweep(store, user_id, settings) for name, keeps in chosen.items()}


def delete_person(
    store: Store, user_id: str, settings: Settings, *, now: datetime, feature: str = EVERYTHING
) -> dict[str, int]:
    """Delete a person's data of one feature (or all): the tombstone first, then the sweep."""
    if feature != EVERYTHING and feature not in features():
        raise KeyError(f"no feature {feature!r} is registered")
    _begin(store, user_id, feature, now)
    deleted = sweep(store, user_id, settings, feature)
    logger.info("a person's data deleted", extra={"user_id": user_id, "deleted": deleted})
    return deleted


def forget_old_tombstones(store: Store, now: datetime, days: int = TOMBSTONE_DAYS) -> int:
    """Delete tombstones older than `days`: no writer that started before them still runs (a
    tombstone that is gone is no delete: a writer that saw it goes on). One written meanwhile
    is kept (the delete is under the generation read)."""
    oldest = iso_utc(now - timedelta(days=days))
    forgotten = 0
    for name in store.list(TOMBSTONE_PREFIX):
        try:
            stored = store.read(name)
        except NotFoundError:
            continue
        try:
            at = str(json.loads(stored.data).get("at", ""))
        except (ValueError, AttributeError):
            logger.warning(
                "a damaged tombstone is kept (it still says deleting)", extra={"object": name}
            )
            continue
        if at >= oldest:
            continue
        try:
            store.delete(name, if_generation_match=stored.generation)
            forgotten += 1
        except (NotFoundError, ConflictError):
            continue
    return forgotten


class Writes:
    """One piece of work's writes of one person's data (of one feature, or of several)."""

    def __init__(
        self, store: Store, user_id: str, settings: Settings, *, feature: str | tuple[str, ...]
    ) -> None:
        self.store, self.user_id, self.settings = store, user_id, settings
        self.features = (feature,) if isinstance(feature, str) else feature
        self.seen = epochs(store, user_id)

    def deleted(self) -> list[str]:
        """Return what the person deleted since the work began: [EVERYTHING], [feature] or [].
        A new delete id is a delete; a tombstone forgotten meanwhile is none."""
        now = epochs(self.store, self.user_id)
        moved = [
            n
            for n in (EVERYTHING, *self.features)
            if now.get(n) is not None and now.get(n) != self.seen.get(n)
        ]
        return [EVERYTHING] if EVERYTHING in moved else moved

    def check(self) -> None:
        """Stop the work (PersonDeletedError) when the person deleted its data meanwhile."""
        if self.deleted():
            self.finish()
            raise PersonDeletedError(
                f"{self.user_id} deleted their {', '.join(self.features)} data"
            )

    def finish(self) -> bool:
        """After writing: if a delete came meanwhile, sweep again what it covers; True then."""
        gone = self.deleted()
        for feature in gone:
            sweep(self.store, self.user_id, self.settings, feature)
        if gone:
            logger.warning(
                "written while the person deleted it: swept again",
                extra={"user_id": self.user_id, "features": self.features, "deleted": gone},
            )
            self.seen = epochs(self.store, self.user_id)
        return bool(gone)
