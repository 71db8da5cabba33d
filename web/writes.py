"""Every web request of a signed-in person holds a `Writes` of the deletion protocol.

Every request of a signed-in person reads their tombstone before its view runs (a GET writes
too: the areas previewed lately, the playlists listed for the backups and charts pages, the
day's count of Spotify requests); when it ends, whatever happened, it finishes: if the person
deleted data meanwhile (in another tab, say, while Spotify was slow), what the request wrote
is swept again (shared/people/deletion.py). That is two small reads a page (a NotFound for
whoever never deleted anything). The deleting requests themselves drop theirs
(`g.pop(PERSON_WRITES)`): they have nothing to sweep after.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, g, request

from shared.people.deletion import Writes, features
from shared.storage import StorageError
from web.data import app_store

logger = logging.getLogger(__name__)

PERSON_WRITES = "person_writes"


def init_app(app: Flask) -> None:
    """Finish every request's Writes last of all (teardowns run in reverse: register this one
    before the others, so that what they write, the quota counts, is swept too)."""
    app.teardown_request(_finish)


def init_begin(app: Flask) -> None:
    """Hold a Writes for every request of a signed-in person: register this after the
    blueprints, whose hooks say who is signed in."""
    app.before_request(_begin)


def begin(user_id: str) -> None:
    """Hold a Writes from here on for a request that learns whose it is midway (the sign-in
    callback, which writes the person's grants)."""
    current: Writes | None = g.get(PERSON_WRITES)
    if current is not None and current.user_id == user_id:
        return
    if current is not None:
        current.finish()
    try:
        g.person_writes = _writes_for(user_id)
    except StorageError:
        logger.exception("the tombstone could not be read in a request")


def _writes_for(user_id: str) -> Writes:
    every = tuple(features())
    return Writes(app_store(), user_id, current_app.extensions["settings"], feature=every)


def _begin() -> None:
    user = g.get("user")  # as web.auth's hook set it (web.auth imports this module)
    if not user or request.endpoint == "static":
        return
    try:
        g.setdefault(PERSON_WRITES, _writes_for(user["id"]))
    except StorageError:
        logger.exception("the tombstone could not be read before a request")


def _finish(error: BaseException | None) -> None:
    writes: Writes | None = g.pop(PERSON_WRITES, None)
    if writes is None:
        return
    try:
        writes.finish()
    except StorageError:
        logger.exception("a request's writes could not be checked against a delete")
