"""Read Spotify's "Download your data" files (extended history and account data) as plays.

A file is read whole or refused whole: a row Spotify would never write makes the file an
ExportFileError naming the file and the row, so a person never gets half an import. Rows that
are well formed but are not music (podcast episodes, audiobooks, videos, all-null rows) are
skipped and counted by kind.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import pandas as pd

from shared.json_rows import JsonRowsError, iter_rows, json_kind
from shared.plays import EXPORT, PLAY_COLUMNS, empty_plays, json_list, parse_played_at

EXTENDED = "extended"
ACCOUNT = "account"
# Spotify splits an export into files of about 12 MB (extended: some 15,000-30,000 plays) or
# 10,000 plays (account data); a file of more rows is no export's, and rows are what a file
# costs in memory (a 39 MB file of 60-byte rows is 400,000 of them).
MAX_FILE_ROWS = 50_000
MAX_USERNAMES = 5
# The columns whose values recur from play to play (a track's name, uri, artist): held once.
_RECURRING = frozenset(
    ("track_id", "track_uri", "track", "artist_ids", "artist_names", "album", "context_uri",
     "source", "duration_ms")
)  # fmt: skip

# Skip reasons.
EPISODE = "episode"
AUDIOBOOK = "audiobook"
VIDEO = "video"
LOCAL = "local"  # a file on the listener's device: no Spotify track id
NO_TRACK = "no_track"  # all-null rows, and the account export's "Unknown Track"

# Spotify began in 2006: a play outside these years is a damaged or made-up file (and beyond
# what pandas' timestamps hold, 1677-2262, which the stats and the merge use).
FIRST_PLAY_YEAR, LAST_PLAY_YEAR = "2006", "2100"
_TRACK_URI = re.compile(r"spotify:track:([0-9A-Za-z]{22})")
_EXTENDED_MARKERS = {"ts", "spotify_track_uri", "master_metadata_track_name"}
_ACCOUNT_MARKERS = {"endTime", "trackName", "msPlayed"}
_AUDIOBOOK_KEYS = ("audiobook_uri", "audiobook_title", "audiobook_chapter_uri")
# The account export's podcast and audiobook rows: endTime and msPlayed, and these names.
_ACCOUNT_EPISODE_KEYS = {"podcastName", "episodeName"}
_ACCOUNT_AUDIOBOOK_KEYS = {"audiobookName", "chapterName"}


class ExportFileError(ValueError):
    """An uploaded file that is not Spotify listening history; the message says why, plainly."""


@dataclass(frozen=True)
class ExportFile:
    """One export file, read: its plays (source `export`) and what was skipped."""

    name: str
    layout: str  # EXTENDED or ACCOUNT
    plays: pd.DataFrame
    rows: int
    skipped: Counter[str] = field(default_factory=Counter)
    usernames: set[str] = field(default_factory=set)  # endsong files name the account


def parse_export_file(name: str, data: bytes) -> ExportFile:
    """Return the plays of one export file; ExportFileError when a row is not as Spotify has it.

    The file is read as a stream (shared/json_rows.py): its shape is known from its first row,
    a wrong row refuses it there, and memory holds one row and the plays read so far.
    """
    rows = iter_rows(data)
    try:
        first = next(rows, None)
        layout = _layout(name, first)
        reader = _PlaysBuilder(_extended_row if layout == EXTENDED else _account_row)
        count = 0
        if first is not None:
            for count, row in enumerate(itertools.chain([first], rows), start=1):
                if count > MAX_FILE_ROWS:
                    raise ExportFileError(
                        f"{name} has more than {MAX_FILE_ROWS:,} rows, more than any Spotify "
                        "export file holds"
                    )
                try:
                    reader.add(row)
                except _RowError as error:
                    raise ExportFileError(f"{name}: row {count} {error}") from None
    except JsonRowsError as error:
        raise ExportFileError(f"{name}{error}") from None
    return ExportFile(name, layout, reader.frame(), count, reader.skipped, reader.usernames)


class _PlaysBuilder:
    """The plays of a file as columns of text, each recurring value held once (a track's name,
    artist and uri recur on thousands of rows), what was skipped, and the accounts named."""

    def __init__(self, read_row: Callable[[dict[str, Any]], dict[str, str] | str]) -> None:
        self.read_row = read_row
        self.columns: dict[str, list[str]] = {column: [] for column in PLAY_COLUMNS}
        self._values: dict[str, str] = {}
        self.skipped: Counter[str] = Counter()
        self.usernames: set[str] = set()

    def add(self, row: dict[str, Any]) -> None:
        """Read one row (_RowError when it is not Spotify's) into the columns or the skips."""
        username = row.get("username")  # endsong rows name the account
        # A file names one account; a few are kept to say so, never one per row.
        if isinstance(username, str) and username and len(self.usernames) < MAX_USERNAMES:
            self.usernames.add(username)
        play = self.read_row(row)
        if isinstance(play, str):
            self.skipped[play] += 1
            return
        values = self._values
        for column, cells in self.columns.items():
            value = play.get(column, "")
            cells.append(values.setdefault(value, value) if column in _RECURRING else value)

    def frame(self) -> pd.DataFrame:
        if not self.columns["played_at"]:
            return empty_plays()
        return pd.DataFrame(self.columns, columns=list(PLAY_COLUMNS), dtype=str)


class _RowError(Exception):
    """What is wrong with one row, finished into an ExportFileError naming the file and row."""


def _layout(name: str, first: dict[str, Any] | None) -> str:
    """Tell the layout by the keys of the first row (an empty file by its name)."""
    if first is None:
        return ACCOUNT if PurePosixPath(name).name.startswith("StreamingHistory") else EXTENDED
    if first.keys() & _EXTENDED_MARKERS:
        return EXTENDED
    if first.keys() & _ACCOUNT_MARKERS:
        return ACCOUNT
    raise ExportFileError(f"{name} is not listening history: its rows have no 'ts' or 'endTime'")


def _extended_row(row: dict[str, Any]) -> dict[str, str] | str:
    """Return one extended-history row as a play, or the reason it is skipped."""
    ms_played = _ms_played(row, "ms_played")
    played_at = _time(row, "ts")
    names = {
        key: _text_or_null(row, key)
        for key in (
            "master_metadata_track_name",
            "master_metadata_album_artist_name",
            "master_metadata_album_album_name",
            "spotify_track_uri",
        )
    }
    if row.get("spotify_episode_uri") or row.get("episode_name"):
        return EPISODE
    if any(row.get(key) for key in _AUDIOBOOK_KEYS):
        return AUDIOBOOK
    if any(key.startswith("video") and row[key] is not None for key in row):
        return VIDEO
    uri, track = names["spotify_track_uri"], names["master_metadata_track_name"]
    if not uri or not track:
        return NO_TRACK
    if uri.startswith("spotify:local:"):
        return LOCAL
    track_id = _TRACK_URI.fullmatch(uri)
    artist = names["master_metadata_album_artist_name"]
    return {
        "played_at": played_at,
        "ms_played": str(ms_played),
        "duration_ms": "",
        "track_id": track_id.group(1) if track_id else "",
        "track_uri": uri,
        "track": track,
        "artist_ids": "",  # unknown: extended exports give no artist ids
        "artist_names": json_list([artist]) if artist else "",
        "album": names["master_metadata_album_album_name"] or "",
        "context_uri": "",
        "source": EXPORT,
    }


def _account_row(row: dict[str, Any]) -> dict[str, str] | str:
    """Return one account-data row as a play (names only), or the reason it is skipped."""
    ms_played = _ms_played(row, "msPlayed")
    played_at = _time(row, "endTime")
    # StreamingHistory_podcast_N.json and StreamingHistory_audiobook_N.json rows, however named.
    if row.keys() & _ACCOUNT_EPISODE_KEYS:
        return EPISODE
    if row.keys() & _ACCOUNT_AUDIOBOOK_KEYS:
        return AUDIOBOOK
    track, artist = _text_or_null(row, "trackName"), _text_or_null(row, "artistName")
    if not track or (track == "Unknown Track" and artist == "Unknown Artist"):
        return NO_TRACK
    return {
        "played_at": played_at,
        "ms_played": str(ms_played),
        "duration_ms": "",
        "track_id": "",
        "track_uri": "",
        "track": track,
        "artist_ids": "",
        "artist_names": json_list([artist]) if artist else "",
        "album": "",
        "context_uri": "",
        "source": EXPORT,
    }


def _time(row: dict[str, Any], key: str) -> str:
    if key not in row or row[key] is None:
        raise _RowError(f"has no time ({key!r})")
    try:
        played_at = parse_played_at(row[key])
    except ValueError:
        played_at = ""
    if not FIRST_PLAY_YEAR <= played_at[:4] < LAST_PLAY_YEAR:
        raise _RowError(f"has a time Spotify never writes ({key!r}: {row[key]!r})")
    return played_at


def _ms_played(row: dict[str, Any], key: str) -> int:
    value = row.get(key)
    if key not in row:
        raise _RowError(f"has no play length ({key!r})")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _RowError(f"has a play length that is not a number of ms ({key!r}: {value!r})")
    return value


def _text_or_null(row: dict[str, Any], key: str) -> str | None:
    if key not in row:
        raise _RowError(f"has no {key!r}")
    value = row[key]
    if value is not None and not isinstance(value, str):
        raise _RowError(f"has {json_kind(value)} as {key!r}, not text")
    return value
