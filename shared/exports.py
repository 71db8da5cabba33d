"""Read Spotify's "Download your data" files (extended history and account data) as plays.

A file is read whole or refused whole: a row Spotify would never write makes the file an
ExportFileError naming the file and the row, so a person never gets half an import. Rows that
are well formed but are not music (podcast episodes, audiobooks, videos, all-null rows) are
skipped and counted by kind.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

import pandas as pd

from shared.plays import EXPORT, json_list, parse_played_at, plays_frame

EXTENDED = "extended"
ACCOUNT = "account"
MB = 1024 * 1024
# One budget per request: a decade of extended history unpacks to well under 100 MB, and the
# instance has 384 MB. Real `Streaming_History_Audio_*.json` files are 10-15 MB each.
REQUEST_UNPACK_BYTES = 100 * MB
MEMBER_UNPACK_BYTES = 40 * MB
MAX_MEMBERS = 1_000  # Spotify's zips hold tens of files

# Skip reasons.
EPISODE = "episode"
AUDIOBOOK = "audiobook"
VIDEO = "video"
LOCAL = "local"  # a file on the listener's device: no Spotify track id
NO_TRACK = "no_track"  # all-null rows, and the account export's "Unknown Track"

_TRACK_URI = re.compile(r"spotify:track:([0-9A-Za-z]{22})")
_EXTENDED_MARKERS = {"ts", "spotify_track_uri", "master_metadata_track_name"}
_ACCOUNT_MARKERS = {"endTime", "trackName", "msPlayed"}
_AUDIOBOOK_KEYS = ("audiobook_uri", "audiobook_title", "audiobook_chapter_uri")
# Spotify's names, found anywhere in a member's name: people rename files ("endsong_1 (1).json",
# "2024__Streaming_History_Audio_2024_4.json") and that must not hide their history.
_HISTORY_MEMBER = re.compile(
    r"(Streaming_History_Audio_|endsong_\d|StreamingHistory\d|StreamingHistory_music_\d)",
    re.IGNORECASE,
)
_IGNORED_MEMBERS = (
    (re.compile(r"Streaming_History_Video_", re.IGNORECASE), "video"),
    (re.compile(r"StreamingHistory_podcast_", re.IGNORECASE), "podcasts"),
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
    """The listening-history files of an upload, and the names left out with the reason."""

    files: list[UploadMember]
    ignored: list[tuple[str, str]]


def parse_export_file(name: str, data: bytes) -> ExportFile:
    """Return the plays of one export file; ExportFileError when a row is not as Spotify has it."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        # ValueError: JSONDecodeError and numbers of over 4300 digits; RecursionError: nesting.
        raise ExportFileError(f"{name} is not JSON Spotify writes") from None
    if isinstance(document, dict) and "playlists" in document:
        raise ExportFileError(f"{name} is a list of playlists, not listening history")
    if not isinstance(document, list):
        raise ExportFileError(f"{name} is not a list of plays")
    for number, row in enumerate(document, start=1):
        if not isinstance(row, dict):
            raise ExportFileError(f"{name}: row {number} is not a play but {_json_kind(row)}")
    layout = _layout(name, document)
    # Video fields are looked for only when the file has any (keys are the same in every row).
    video_keys = tuple({key for row in document for key in row if key.startswith("video")})
    read_row = (lambda row: _extended_row(row, video_keys)) if layout == EXTENDED else _account_row
    skipped: Counter[str] = Counter()
    usernames: set[str] = set()
    rows = []
    for number, row in enumerate(document, start=1):
        try:
            play = read_row(row)
        except _RowError as error:
            raise ExportFileError(f"{name}: row {number} {error}") from None
        if isinstance(play, str):
            skipped[play] += 1
        else:
            rows.append(play)
        if isinstance(row.get("username"), str) and row["username"]:
            usernames.add(row["username"])
    return ExportFile(name, layout, plays_frame(rows), len(document), skipped, usernames)


class _RowError(Exception):
    """What is wrong with one row, finished into an ExportFileError naming the file and row."""


def _layout(name: str, rows: list[dict[str, Any]]) -> str:
    """Tell the layout by the keys of the rows (an empty file by its name)."""
    keys = set().union(*rows) if rows else set()
    if keys & _EXTENDED_MARKERS:
        return EXTENDED
    if keys & _ACCOUNT_MARKERS:
        return ACCOUNT
    if not rows:
        return ACCOUNT if PurePosixPath(name).name.startswith("StreamingHistory") else EXTENDED
    raise ExportFileError(f"{name} is not listening history: its rows have no 'ts' or 'endTime'")


def _extended_row(row: dict[str, Any], video_keys: tuple[str, ...] = ()) -> dict[str, str] | str:
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
    if any(row.get(key) is not None for key in video_keys):
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
        return parse_played_at(row[key])
    except ValueError:
        raise _RowError(f"has a time Spotify never writes ({key!r}: {row[key]!r})") from None


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
        raise _RowError(f"has {_json_kind(value)} as {key!r}, not text")
    return value


def _json_kind(value: Any) -> str:
    kinds = {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list"}
    return "null" if value is None else kinds.get(type(value), "an object")


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
        return Unpacked([_JsonMember(filename, name, budget, data)], [])
    raise ExportFileError(f"{filename} is neither a .json file nor the .zip Spotify sends")


def _unpack_zip(filename: str, data: bytes, budget: UnpackBudget, max_members: int) -> Unpacked:
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
    for info in members:
        reason = _ignore_reason(info.filename)
        if reason:
            ignored.append((info.filename, reason))
            continue
        files.append(_ZipMember(filename, budget, archive, info))
    return Unpacked(files, ignored)


def _ignore_reason(member_name: str) -> str:
    """Return why a zip member is not read ('' when it is listening history)."""
    parts = PurePosixPath(member_name).parts
    base = parts[-1] if parts else ""
    if any(part.startswith(".") or part == "__MACOSX" for part in parts):
        return "not listening history"
    if not base.lower().endswith(".json"):
        return "not listening history"
    for pattern, reason in _IGNORED_MEMBERS:
        if pattern.search(base):
            return reason
    return "" if _HISTORY_MEMBER.search(base) else "not listening history"


def _megabytes(size: int) -> str:
    return f"{size // MB} MB" if size >= MB else f"{size} bytes"
