"""Unpack an upload of Spotify's export: a `.json` file, or the zip Spotify sends, as the files
to read, the files left out (with what they are) and the account the upload says it is of.

Nothing is read here but the zip's directory (and a Userdata.json): each file is read, and
charged to the request's budget, when its `read()` is called, so a caller holds one at a time.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import PurePosixPath

from shared.exports import ExportFileError

MB = 1024 * 1024
# One budget per request: a decade of extended history unpacks to well under 100 MB, and the
# instance has 384 MB. Real `Streaming_History_Audio_*.json` files are 10-15 MB each.
REQUEST_UNPACK_BYTES = 100 * MB
MEMBER_UNPACK_BYTES = 40 * MB
MAX_MEMBERS = 1_000  # Spotify's zips hold tens of files
# The account export's file about the account: its `username` names whose export it is.
USERDATA_MEMBER = "userdata.json"
USERDATA_MAX_BYTES = 64 * 1024

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
# account export's podcast and audiobook rows are told by their keys too (shared/exports.py).
_IGNORED_MEMBERS = (
    (re.compile(r"Streaming_History_Video_", re.IGNORECASE), VIDEO_FILE),
    (re.compile(r"StreamingHistory_podcast_", re.IGNORECASE), PODCAST_FILE),
    (re.compile(r"StreamingHistory_audiobook_", re.IGNORECASE), AUDIOBOOK_FILE),
)


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
