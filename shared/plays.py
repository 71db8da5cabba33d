"""A person's listening history: one CSV per user and month, `plays/<user>/<YYYY-MM>.csv`.

Each row is one play. Columns (all text in the file; empty means unknown):

- played_at: when the play ended, UTC, ISO 8601 with milliseconds (`2026-01-13T00:40:02.000Z`).
  Spotify's exports mark the end of a play (`ts`, `endTime`); `recently-played`'s `played_at`
  is mostly the end too, sometimes the start (spotify/web-api#613, #1083).
- ms_played: how long it played (exports); empty for `recently_played` (the API does not say;
  it lists only plays it counted, see PLATFORM.md).
- duration_ms: the track's length when known (the API gives it; exports do not).
- track_id, track_uri: empty for the basic "Account data" export (names only).
- track, album: names.
- artist_ids, artist_names: JSON lists (names may hold commas), in the order Spotify gives them.
  Extended exports name only the album artist, and no id.
- context_uri: the playlist, album or artist it was played from, when known.
- source: `recently_played` (the hourly job) or `export` (an uploaded Spotify export).
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from shared.spotify_errors import SpotifyShapeError
from shared.spotify_records import page_items, parse_track, require_object, track_problem
from shared.storage import (
    IF_ABSENT,
    NotFoundError,
    Store,
    check_name,
    delete_under,
)

logger = logging.getLogger(__name__)

PLAY_COLUMNS = (
    "played_at",
    "ms_played",
    "duration_ms",
    "track_id",
    "track_uri",
    "track",
    "artist_ids",
    "artist_names",
    "album",
    "context_uri",
    "source",
)
RECENTLY_PLAYED = "recently_played"
EXPORT = "export"
SOURCES = (RECENTLY_PLAYED, EXPORT)
STREAM_MS = 30_000  # Spotify counts a stream at 30 s
MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MINUTE_MS = 60_000

# Every time format Spotify writes: the API's played_at (with or without milliseconds, `Z` or
# `+00:00`), the extended export's `ts`, the account export's `endTime` (minutes, no zone).
_SPOTIFY_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]00:?00)?",
    re.ASCII,  # 0-9 only: "٢٠٢٠-01-01" is no time Spotify writes
)
PLAYED_AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NORMAL_PLAYED_AT = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"


class PlaysFileError(Exception):
    """A month file of plays that cannot be read as CSV: left as it is, never overwritten."""

    def __init__(self, name: str, problem: str = "") -> None:
        detail = f": {problem}" if problem else ""
        super().__init__(f"{name} cannot be read as a CSV of plays{detail}; it was left as it is")
        self.name = name


@dataclass(frozen=True)
class RecentPage:
    """One answer of `GET /me/player/recently-played`, as plays."""

    plays: pd.DataFrame
    after_ms: int | None  # `cursors.after`: where the next read starts; None on an empty page
    count: int  # items in the answer, kept or not
    skipped: Counter[str] = field(default_factory=Counter)  # items that are not tracks, by kind


@dataclass(frozen=True)
class Appended:
    """What an append did to a user's history."""

    added: int
    doubles: int
    months: tuple[str, ...]  # the months written, oldest first


def parse_played_at(text: str) -> str:
    """Return any Spotify time as `YYYY-MM-DDTHH:MM:SS.fffZ` UTC; ValueError when it is not one.

    A time without a zone (the account export's `endTime`) is UTC, as Spotify documents it.
    """
    match = _SPOTIFY_TIME.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not a Spotify time: {text!r}")
    year, month, day, hour, minute, second, fraction, _zone = match.groups()
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=UTC,
        )
    except ValueError:
        raise ValueError(f"not a Spotify time: {text!r}") from None
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:"
        f"{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def played_at_ms(text: str) -> int:
    """Return a Spotify time as milliseconds since the epoch."""
    moment = datetime.strptime(parse_played_at(text), PLAYED_AT_FORMAT).replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def plays_prefix(user_id: str) -> str:
    """Return the folder of a user's history (`plays/<user>/`)."""
    return check_name(f"plays/{user_id}") + "/"


def month_object(user_id: str, month: str) -> str:
    """Return the object of one month of a user's plays (`plays/<user>/<YYYY-MM>.csv`)."""
    if not MONTH_RE.match(month):
        raise ValueError(f"not a month: {month!r}")
    return check_name(f"plays/{user_id}/{month}.csv")


def month_objects(store: Store, user_id: str) -> list[str]:
    """Return the names of a user's month files, oldest month first."""
    prefix = plays_prefix(user_id)
    return sorted(
        name
        for name in store.list(prefix)
        if name.endswith(".csv") and MONTH_RE.match(name.removeprefix(prefix).removesuffix(".csv"))
    )


_EMPTY_PLAYS = pd.DataFrame({column: pd.Series([], dtype=str) for column in PLAY_COLUMNS})


def empty_plays() -> pd.DataFrame:
    """Return a frame of no plays, with the columns (a copy: callers may add to it)."""
    return _EMPTY_PLAYS.copy()


def read_month_frame(data: bytes) -> pd.DataFrame:
    """Read one month file as text columns (missing columns empty, unknown ones dropped)."""
    if not data.strip():
        return empty_plays()
    frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    if "played_at" not in frame.columns:
        raise ValueError("no played_at column")
    for column in PLAY_COLUMNS:
        if column not in frame.columns:
            frame[column] = ""
    return frame.loc[:, list(PLAY_COLUMNS)]


def month_frame_bytes(frame: pd.DataFrame) -> bytes:
    """Write one month of plays, sorted by played_at, with exactly the columns.

    Lines end in CRLF (RFC 4180), as the datasets' do: the CSV writer then quotes every field
    holding a CR or an LF, where with LF endings a bare CR in a name went unquoted and split its
    row when read back (and on Python 3.11.0-3.11.8 broke the file for good).
    """
    ordered = frame.loc[:, list(PLAY_COLUMNS)].sort_values("played_at", kind="stable")
    return ordered.to_csv(index=False, lineterminator="\r\n").encode()


def parse_recently_played(answer: Any) -> RecentPage:
    """Return the plays of one recently-played answer; SpotifyShapeError when it is no such page.

    Items that are not tracks (episodes, `null`, local files, no id) are counted, not kept; an
    item without a readable `played_at` is counted as `no_time` and logged.
    """
    items = page_items(answer, "recently-played answer")
    cursors = require_object(answer, "recently-played answer").get("cursors")
    if cursors is not None and not isinstance(cursors, dict):
        raise SpotifyShapeError("recently-played answer: `cursors` is not an object")
    after_ms = _cursor_ms((cursors or {}).get("after"))
    skipped: Counter[str] = Counter()
    rows = []
    for item in items:
        raw = item.get("track") if isinstance(item, dict) else None
        problem = track_problem(raw) if isinstance(item, dict) else "unreadable"
        track = None if problem else parse_track(raw)
        if track is None:
            skipped[problem or "unreadable"] += 1
            continue
        try:
            played_at = parse_played_at(item.get("played_at"))
        except ValueError:
            logger.warning("skipped a recent play without a time", extra={"track_id": track.id})
            skipped["no_time"] += 1
            continue
        context = item.get("context")
        context_uri = context.get("uri") if isinstance(context, dict) else None
        rows.append(
            {
                "played_at": played_at,
                "ms_played": "",
                "duration_ms": "" if track.duration_ms is None else str(track.duration_ms),
                "track_id": track.id,
                "track_uri": f"spotify:track:{track.id}",
                "track": track.name,
                "artist_ids": json_list(track.artist_ids),
                "artist_names": json_list(track.artist_names),
                "album": track.album_name,
                "context_uri": context_uri if isinstance(context_uri, str) else "",
                "source": RECENTLY_PLAYED,
            }
        )
    return RecentPage(plays_frame(rows), after_ms, len(items), skipped)


def _cursor_ms(value: Any) -> int | None:
    """Return a cursor (a string of ms in real answers, sometimes a number) as an int."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise SpotifyShapeError(f"recently-played answer: cursor {value!r} is not a time in ms")


def json_list(values: Any) -> str:
    """Return names or ids as the JSON list a plays cell holds (accents kept as they are)."""
    return json.dumps(list(values), ensure_ascii=False)


def plays_frame(rows: list[dict[str, str]]) -> pd.DataFrame:
    """Return rows of plays as a frame with exactly the columns, all text."""
    if not rows:
        return empty_plays()
    return pd.DataFrame(rows, columns=list(PLAY_COLUMNS), dtype=str)


def read_month(store: Store, name: str) -> tuple[pd.DataFrame, int]:
    """Return one month file's plays and generation (IF_ABSENT when there is none yet)."""
    try:
        stored = store.read(name)
    except NotFoundError:
        return empty_plays(), IF_ABSENT
    try:
        frame = read_month_frame(stored.data)
    except ValueError as error:  # pandas' ParserError and a bad encoding are ValueErrors too
        raise PlaysFileError(name, (str(error).strip().splitlines() or [""])[0]) from error
    if not frame["played_at"].str.fullmatch(NORMAL_PLAYED_AT).all():
        raise PlaysFileError(name, "a played_at is not a time")
    return frame, stored.generation


def load_plays(store: Store, user_id: str) -> pd.DataFrame:
    """Return all of a user's plays, oldest month first; PlaysFileError on an unreadable month."""
    frames = [read_month(store, name)[0] for name in month_objects(store, user_id)]
    frames = [frame for frame in frames if len(frame)]
    return pd.concat(frames, ignore_index=True) if frames else empty_plays()


def delete_history(store: Store, user_id: str) -> int:
    """Delete every object under a user's `plays/<user>/`; return how many there were."""
    return delete_under(store, plays_prefix(user_id))
