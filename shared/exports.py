"""Read Spotify's "Download your data" files (extended history and account data) as plays.

A file is read whole or refused whole: a row Spotify would never write makes the file an
ExportFileError naming the file and the row, so a person never gets half an import. Rows that
are well formed but are not music (podcast episodes, audiobooks, videos, all-null rows) are
skipped and counted by kind.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import zipfile
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import pandas as pd

from shared.json_rows import JsonRowsError, iter_rows, json_kind
from shared.plays import EXPORT, PLAY_COLUMNS, empty_plays, json_list, parse_played_at

EXTENDED = "extended"
ACCOUNT = "account"
MB = 1024 * 1024
# One budget per request: a decade of extended history unpacks to well under 100 MB, and the
# instance has 384 MB. Real `Streaming_History_Audio_*.json` files are 10-15 MB each.
REQUEST_UNPACK_BYTES = 100 * MB
MEMBER_UNPACK_BYTES = 40 * MB
MAX_MEMBERS = 1_000  # Spotify's zips hold tens of files
# The account export's file about the account: its `username` names whose export it is.
USERDATA_MEMBER = "userdata.json"
USERDATA_MAX_BYTES = 64 * 1024

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
# Spotify's names, found anywhere in a member's name: people rename files ("endsong_1 (1).json",
# "2024__Streaming_History_Audio_2024_4.json") and that must not hide their history.
_HISTORY_MEMBER = re.compile(
    r"(Streaming_History_Audio_|endsong_\d|StreamingHistory\d|StreamingHistory_music_\d)",
    re.IGNORECASE,
)
# Why a file of an upload was left out, as the page words it.
VIDEO_FILE = "video history (music videos and video podcasts), not music plays"
PODCAST_FILE = "podcast history"
AUDIOBOOK_FILE = "audiobook history"
NOT_HISTORY = "not listening history"


# Spotify's other history files, by what they are: left out alone or in a zip alike. A Video
# file's rows look like music (a music video carries a track uri), so only its name tells; the
# account export's podcast and audiobook rows are told by their keys too (see _account_row).
_IGNORED_MEMBERS = (
    (re.compile(r"Streaming_History_Video_", re.IGNORECASE), VIDEO_FILE),
    (re.compile(r"StreamingHistory_podcast_", re.IGNORECASE), PODCAST_FILE),
    (re.compile(r"StreamingHistory_audiobook_", re.IGNORECASE), AUDIOBOOK_FILE),
)


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


class UnpackBudget:
    """The bytes one request may still unpack, and the most one file may unpack.

    One budget is shared by every upload of a request, so many files cannot add up to more than
    the instance's memory; each file is charged when it is read.
    """

    def __init__(
        self, total_bytes: int = REQUEST_UNPACK_BYTES, member_bytes: int = MEMBER_UNPACK_BYTES
    ) -> None:
        self.total_bytes = total_bytes
        self.member_bytes = member_bytes
        self.left = total_bytes

    def allowance(self) -> int:
        """Return how many bytes the next file may have."""
        return max(0, min(self.left, self.member_bytes))

    def charge(self, upload: str, member: str, size: int) -> None:
        """Take `size` bytes of `member` (in `upload`); ExportFileError when it is too much."""
        where = member if member == upload else f"{member} in {upload}"
        if size > self.member_bytes:
            raise ExportFileError(
                f"{where} is more than {_megabytes(self.member_bytes)} unpacked, "
                "more than any Spotify export file"
            )
        if size > self.left:
            raise ExportFileError(
                f"{where} goes past the {_megabytes(self.total_bytes)} one import may unpack; "
                "upload fewer files at a time"
            )
        self.left -= size


class UploadMember(ABC):
    """One listening-history file of an upload: its `name`, and its bytes when `read()`."""

    def __init__(self, upload: str, name: str, budget: UnpackBudget) -> None:
        self.upload = upload  # the uploaded file it came in
        self.name = name  # the file's own name, without a zip's folders
        self._budget = budget

    @abstractmethod
    def read(self) -> bytes:
        """Return the file's bytes, charged to the budget; ExportFileError when over or damaged.

        Each call reads and charges again: read once, and drop the bytes once parsed.
        """


class _JsonMember(UploadMember):
    """A `.json` upload: already in memory, charged all the same."""

    def __init__(self, upload: str, name: str, budget: UnpackBudget, data: bytes) -> None:
        super().__init__(upload, name, budget)
        self._data = data

    def read(self) -> bytes:
        self._budget.charge(self.upload, self.name, len(self._data))
        return self._data


class _ZipMember(UploadMember):
    """A member of a `.zip` upload, unpacked only when read."""

    def __init__(
        self, upload: str, budget: UnpackBudget, archive: zipfile.ZipFile, info: zipfile.ZipInfo
    ) -> None:
        super().__init__(upload, PurePosixPath(info.filename).name, budget)
        self._archive = archive
        self._info = info

    def read(self) -> bytes:
        path = self._info.filename
        allowance = self._budget.allowance()
        if self._info.file_size > allowance:
            self._budget.charge(self.upload, path, self._info.file_size)
        try:
            with self._archive.open(self._info) as member:
                # One byte past the allowance: a member that lies about its size is caught.
                content = member.read(allowance + 1)
        except Exception:
            # zipfile raises a zoo (BadZipFile, NotImplementedError, RuntimeError, EOFError,
            # zlib.error, lzma.LZMAError, struct.error, ...): each means a damaged upload.
            raise ExportFileError(f"{self.upload} is damaged: {path} cannot be read") from None
        self._budget.charge(self.upload, path, len(content))
        return content


@dataclass(frozen=True)
class Unpacked:
    """The listening-history files of an upload, the names left out with the reason, and the
    Spotify account the upload says it is of (the account export's Userdata.json), if any."""

    files: list[UploadMember]
    ignored: list[tuple[str, str]]
    account_names: frozenset[str] = frozenset()


def parse_export_file(name: str, data: bytes) -> ExportFile:
    """Return the plays of one export file; ExportFileError when a row is not as Spotify has it.

    The file is read as a stream (shared/json_rows.py): its shape is known from its first row,
    a wrong row refuses it there, and memory holds one row and the plays read so far.
    """
    rows = iter_rows(data)
    try:
        first = next(rows, None)
        layout = _layout(name, first)
        reader = _ExtendedReader() if layout == EXTENDED else _AccountReader()
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
    """The plays of a file as columns of text, each distinct value held once (a track's name,
    artist and uri recur on thousands of rows)."""

    def __init__(self) -> None:
        self.columns: dict[str, list[str]] = {column: [] for column in PLAY_COLUMNS}
        self._values: dict[str, str] = {}
        self.skipped: Counter[str] = Counter()
        self.usernames: set[str] = set()

    def append(self, play: dict[str, str]) -> None:
        values = self._values
        for column, cells in self.columns.items():
            value = play.get(column, "")
            cells.append(values.setdefault(value, value) if column in _RECURRING else value)

    def frame(self) -> pd.DataFrame:
        if not self.columns["played_at"]:
            return empty_plays()
        return pd.DataFrame(self.columns, columns=list(PLAY_COLUMNS), dtype=str)


class _ExtendedReader(_PlaysBuilder):
    def add(self, row: dict[str, Any]) -> None:
        username = row.get("username")
        # A file names one account; a few are kept to say so, never one per row.
        if isinstance(username, str) and username and len(self.usernames) < MAX_USERNAMES:
            self.usernames.add(username)
        play = _extended_row(row)
        if isinstance(play, str):
            self.skipped[play] += 1
        else:
            self.append(play)


class _AccountReader(_PlaysBuilder):
    def add(self, row: dict[str, Any]) -> None:
        play = _account_row(row)
        if isinstance(play, str):
            self.skipped[play] += 1
        else:
            self.append(play)


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


def unpack_upload(
    filename: str, data: bytes, *, budget: UnpackBudget, max_members: int = MAX_MEMBERS
) -> Unpacked:
    """Return the listening-history files of an upload: a `.json` file, or Spotify's `.zip`.

    A zip's members are chosen by name in any folder; video and podcast history and everything
    else are listed as ignored. Nothing is unpacked here: each file is read, and charged to the
    request's `budget`, by its `read()`, so a caller holds one file in memory at a time. More
    than `max_members` members is an ExportFileError.
    """
    if data[:4] == b"PK\x03\x04" or filename.lower().endswith(".zip"):
        return _unpack_zip(filename, data, budget, max_members)
    if filename.lower().endswith(".json"):
        name = PurePosixPath(filename.replace("\\", "/")).name
        if name.lower() == USERDATA_MEMBER:  # the account export's files uploaded unzipped
            member = _JsonMember(filename, name, budget, data)
            return Unpacked(
                [], [(name, NOT_HISTORY)], frozenset(_userdata_names(member, len(data)))
            )
        kind = _other_history(name)
        if kind:  # left out as it would be in Spotify's zip
            return Unpacked([], [(name, kind)])
        return Unpacked([_JsonMember(filename, name, budget, data)], [])
    raise ExportFileError(f"{filename} is neither a .json file nor the .zip Spotify sends")


def _unpack_zip(filename: str, data: bytes, budget: UnpackBudget, max_members: int) -> Unpacked:
    stated = _stated_entries(data)
    if stated is not None and stated > max_members:
        # Said before zipfile reads the central directory: it builds an entry for each first.
        many = f"{stated:,} or more" if stated == 0xFFFF else f"{stated:,}"
        raise ExportFileError(f"{filename} holds {many} files, more than a Spotify export")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [info for info in archive.infolist() if not info.is_dir()]
    except Exception:
        # Besides BadZipFile: UnicodeDecodeError on mangled names, NotImplementedError,
        # LargeZipFile, ValueError, struct.error... all mean the same to the person.
        raise ExportFileError(f"{filename} is not a zip file that can be opened") from None
    if len(members) > max_members:
        raise ExportFileError(f"{filename} holds {len(members)} files, more than a Spotify export")
    files: list[UploadMember] = []
    ignored: list[tuple[str, str]] = []
    account_names: set[str] = set()
    for info in members:
        reason = _ignore_reason(info.filename)
        if reason:
            ignored.append((info.filename, reason))
            if PurePosixPath(info.filename).name.lower() == USERDATA_MEMBER:
                member = _ZipMember(filename, budget, archive, info)
                account_names |= _userdata_names(member, info.file_size)
            continue
        files.append(_ZipMember(filename, budget, archive, info))
    return Unpacked(files, ignored, frozenset(account_names))


def _userdata_names(member: UploadMember, size: int) -> set[str]:
    """Return the username of the account export's Userdata.json (`{"username": ..., "email":
    ..., "country": ..., "creationTime": ...}`, as public parsers of the export read it); an
    empty set when it is missing, too big to be that file, or unreadable."""
    if size > USERDATA_MAX_BYTES:
        return set()
    try:
        document = json.loads(member.read())
    except (ExportFileError, ValueError, RecursionError):
        return set()
    username = document.get("username") if isinstance(document, dict) else None
    return {username} if isinstance(username, str) and username else set()


_END_OF_DIRECTORY = b"PK\x05\x06"
_END_RECORD_SEARCH = 22 + 65_535  # the record, and a comment of at most 64 KB after it


def _stated_entries(data: bytes) -> int | None:
    """Return how many files a zip's end record says it holds (None: no end record found).

    A zip64 archive says 65,535 here and the real count elsewhere: no Spotify export needs
    one, so it counts as too many.
    """
    at = data.rfind(_END_OF_DIRECTORY, max(0, len(data) - _END_RECORD_SEARCH))
    if at < 0 or at + 22 > len(data):
        return None
    return int.from_bytes(data[at + 10 : at + 12], "little")


def _ignore_reason(member_name: str) -> str:
    """Return why a zip member is not read ('' when it is listening history)."""
    parts = PurePosixPath(member_name).parts
    base = parts[-1] if parts else ""
    if any(part.startswith(".") or part == "__MACOSX" for part in parts):
        return NOT_HISTORY
    if not base.lower().endswith(".json"):
        return NOT_HISTORY
    return _other_history(base) or ("" if _HISTORY_MEMBER.search(base) else NOT_HISTORY)


def _other_history(name: str) -> str:
    """Return what a history file that is not music plays is ('' for any other name)."""
    for pattern, reason in _IGNORED_MEMBERS:
        if pattern.search(name):
            return reason
    return ""


def _megabytes(size: int) -> str:
    return f"{size // MB} MB" if size >= MB else f"{size} bytes"
