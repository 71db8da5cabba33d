"""Liner notes of a playlist made: built from its plan, stored under an unguessable token.

The page (web/liner_notes.py) is public to anyone with the token's link, which the playlist's
description carries. The notes hold only what the playlist holds: its name, its tracks and
their shows. Never who made it, their other playlists, or anything of their account (the
owner's id is stored for deleting, never shown).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from shared.area_plan import PlannedShow
from shared.area_playlists import load_made, made_object
from shared.config import Settings
from shared.form_once import delete_claims
from shared.links import is_web_link
from shared.people.deletion import register
from shared.storage import IF_ABSENT, NotFoundError, Store, check_name
from shared.text import clean_name

logger = logging.getLogger(__name__)

TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


@dataclass(frozen=True)
class NoteLine:
    """One track of the playlist and the show it comes from."""

    position: int
    track_id: str
    track: str
    artist: str
    starts_at_local: str
    time_tbd: bool
    venue: str
    city: str
    event_url: str
    event_title: str


@dataclass(frozen=True)
class LinerNotes:
    """What a liner-notes page shows."""

    playlist_name: str
    area: str
    updated_at: str
    lines: list[NoteLine]


def notes_object(token: str) -> str:
    """Return the object name of a liner-notes page."""
    return check_name(f"notes/{token}.json")


def build_notes(
    playlist_name: str, area: str, updated_at: str, shows: list[PlannedShow], written: int
) -> LinerNotes:
    """Return the notes of a playlist: its first `written` tracks in playlist order, with shows.

    The order is plan_playlist's: each artist's tracks with the first show they play.
    """
    lines: list[NoteLine] = []
    for show in shows:
        for artist in show.artists:
            for track in artist.in_playlist:
                if len(lines) >= written:
                    break
                lines.append(
                    NoteLine(
                        len(lines) + 1,
                        track.track_id,
                        clean_name(track.name),
                        clean_name(artist.name),
                        show.starts_at_local,
                        show.time_tbd,
                        clean_name(show.venue),
                        clean_name(show.city),
                        show.url if is_web_link(show.url) else "",
                        clean_name(show.title),
                    )
                )
    return LinerNotes(clean_name(playlist_name), clean_name(area), updated_at, lines)


class NotYourNotesError(ValueError):
    """A liner-notes page another person owns: never overwritten."""


def save_notes(store: Store, token: str, notes: LinerNotes, owner_id: str) -> None:
    """Write a liner-notes page (the owner is kept for deleting, never shown): a page another
    person owns is refused (NotYourNotesError), under the generation its owner was read at."""
    name = notes_object(token)
    generation = store.generation(name)
    if generation is not None and _owner(store, name) not in (owner_id, ""):
        raise NotYourNotesError(f"the liner notes {token[:4]}... belong to another person")
    data = {**asdict(notes), "owner_id": owner_id}
    store.write(
        name,
        json.dumps(data).encode(),
        if_generation_match=generation if generation is not None else IF_ABSENT,
        content_type="application/json",
    )


def load_notes(store: Store, token: str) -> LinerNotes | None:
    """Return a liner-notes page, or None when there is none (or it cannot be read)."""
    try:
        raw = json.loads(store.read(notes_object(token)).data)
        line_names = {f.name for f in fields(NoteLine)}
        lines = [_line({k: v for k, v in line.items() if k in line_names}) for line in raw["lines"]]
        return LinerNotes(
            str(raw["playlist_name"]), str(raw["area"]), str(raw["updated_at"]), lines
        )
    except NotFoundError:
        return None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        logger.warning("unreadable liner notes", extra={"token": token, "error": str(error)})
        return None


def _line(fields_read: dict[str, Any]) -> NoteLine:
    """Return a stored line, checked: every field of its type, links only http(s)."""
    line = NoteLine(**fields_read)
    for field in fields(NoteLine):
        expected = {"int": int, "bool": bool}.get(str(field.type), str)
        if not isinstance(getattr(line, field.name), expected):
            raise TypeError(f"liner-notes field {field.name} is not {expected.__name__}")
    if not is_web_link(line.event_url):
        return replace(line, event_url="")
    return line


def _owner(store: Store, name: str) -> str:
    with contextlib.suppress(NotFoundError, ValueError, AttributeError):
        raw: Any = json.loads(store.read(name).data)
        return str(raw.get("owner_id", ""))
    return ""


def user_notes(store: Store, user_id: str) -> list[str]:
    """Return the object names of the user's liner-notes pages.

    The record of playlists made lists them; every notes page also names its owner, so that
    a record lost or unreadable still leaves none behind.
    """
    listed = {
        notes_object(p.notes_token)
        for p in load_made(store, user_id).playlists
        if TOKEN.fullmatch(p.notes_token)
    }
    owned = {name for name in store.list("notes/") if _owner(store, name) == user_id}
    return sorted((listed & set(store.list("notes/"))) | owned)


def count_user_notes(store: Store, user_id: str) -> int:
    """Return how many liner-notes pages the user's playlists have."""
    return len(user_notes(store, user_id))


def delete_user_notes(store: Store, user_id: str) -> int:
    """Delete the user's liner-notes pages and their record of playlists made; return how many."""
    names = user_notes(store, user_id)
    for name in [*names, made_object(user_id)]:
        with contextlib.suppress(NotFoundError):
            store.delete(name)
    return len(names)


def _sweep(store: Store, user_id: str, settings: Settings) -> int:
    """Delete the notes pages, the record of playlists made, and the Make forms' claims."""
    return delete_user_notes(store, user_id) + delete_claims(store, user_id)


register("made_playlists", "playlists made here and their liner notes", _sweep)
