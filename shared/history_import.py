"""Import the files of a person's Spotify export into their history, and say what became of each.

Each file is read by what it is, uploaded alone or in Spotify's zip alike: music plays are kept,
video, podcast and audiobook history is left out and named, anything else is refused with the
reason. A file is kept whole or not at all; the plays of the files kept are appended in batches
(a month written once per batch, however many files touch it), and the result, written even when
something went wrong half way, names every file taken.

Whose export it is: Spotify's old `endsong_*.json` rows carry `username`, and the account
export's zip holds `Userdata.json` with the account's `username`. A file that names another
account is refused unless the person says "This export is mine"; so is an upload where nothing
names any account (the 2024-and-later extended export, the account export's files alone), since
there is nothing to check it against.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from shared.export_upload import UnpackBudget, Unpacked, unpack_upload
from shared.exports import ExportFile, ExportFileError, parse_export_file
from shared.people.deletion import Writes
from shared.plays import PlaysFileError, plays_prefix
from shared.plays_append import append_plays
from shared.storage import ConflictError, Store

logger = logging.getLogger(__name__)

LAST_IMPORT = "last-import.json"
MAX_LISTED = 30  # files named in an import's result
# Plays held before they are appended: a zip of a thousand small files is one batch, a decade
# of extended history a few (the memory a batch takes stays well inside a worker's share).
BATCH_PLAYS = 100_000


DELETED_MEANWHILE = (
    "Your listening history was being deleted while this import ran, so nothing of it was kept."
)


class HistoryDeletedError(Exception):
    """The person began deleting their history while their plays were being appended."""


@dataclass
class _Batch:
    """Files parsed and not yet appended: their plays and their entries in the result."""

    frames: list[pd.DataFrame] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    plays: int = 0


def import_export_files(
    store: Store,
    user_id: str,
    uploads: list[tuple[str, bytes]],
    *,
    mine_confirmed: bool,
    now: datetime,
    writes: Writes,
) -> dict[str, Any]:
    """Parse every upload, append the files that are whole and the person's, say what happened.

    The result is kept as `plays/<user>/last-import.json` whenever a file was taken. `writes`
    says whether the person deleted their history meanwhile: then nothing is kept.
    """
    importer = _Import(store, user_id, mine_confirmed, writes)
    try:
        # Unpacked first (nothing is read yet): a Userdata.json anywhere in the request says
        # whose export all of its files are, as it does inside Spotify's zip.
        unpacked = [importer.unpack(name, body) for name, body in uploads]
        for files in unpacked:
            importer.read(files)
        importer.flush()
    except HistoryDeletedError:  # what was appended is deleted again; nothing is taken
        importer.accepted.clear()
        importer.refused.append({"name": "", "why": DELETED_MEANWHILE})
    finally:
        result = importer.result(now)
        if importer.accepted:
            store.write(
                plays_prefix(user_id) + LAST_IMPORT,
                json.dumps(result, indent=2).encode(),
                content_type="application/json",
            )
            # Written after the person began deleting? Then it goes too, with every month.
            writes.finish()
    return result


class _Import:
    def __init__(self, store: Store, user_id: str, mine_confirmed: bool, writes: Writes) -> None:
        self.store = store
        self.writes = writes
        self.user_id = user_id
        self.mine_confirmed = mine_confirmed
        self.budget = UnpackBudget()  # one for the whole request: no bomb fills the memory
        self.accepted: list[dict[str, Any]] = []
        self.refused: list[dict[str, str]] = []
        self.ignored: list[dict[str, str]] = []
        self.wrong_user = False
        self.needs_owner = False
        self.account_names: set[str] = set()  # as the request's Userdata.json files say
        self.added = self.doubles = 0
        self.batch = _Batch()

    def unpack(self, name: str, body: bytes) -> Unpacked | None:
        try:
            unpacked = unpack_upload(name, body, budget=self.budget)
        except ExportFileError as error:
            self.refused.append({"name": name, "why": str(error)})
            return None
        self.ignored += [{"name": n, "why": why} for n, why in unpacked.ignored]
        self.account_names |= unpacked.account_names
        return unpacked

    def read(self, unpacked: Unpacked | None) -> None:
        for member in unpacked.files if unpacked else []:
            # One file at a time: read, parse, check; its bytes go before the next is read.
            try:
                parsed = parse_export_file(member.name, member.read())
            except ExportFileError as error:
                self.refused.append({"name": member.name, "why": str(error)})
                continue
            except Exception:  # a file nobody foresaw: refused and logged, never a 500
                logger.exception("an export file could not be read", extra={"file": member.name})
                self.refused.append(
                    {"name": member.name, "why": f"{member.name} could not be read."}
                )
                continue
            problem = self._owner_problem(parsed, frozenset(self.account_names))
            if problem:
                self.refused.append({"name": member.name, "why": problem})
                continue
            self._take(parsed)

    def _owner_problem(self, parsed: ExportFile, account_names: frozenset[str]) -> str:
        """Say why a file is not imported as this person's, or ''."""
        names = set(parsed.usernames) | set(account_names)
        if self.mine_confirmed or names == {self.user_id}:
            return ""
        if names - {self.user_id}:
            self.wrong_user = True
            named = sorted(names - {self.user_id})
            others = ", ".join(_short(name, 64) for name in named[:3])
            if len(named) > 3:
                others += f" and {len(named) - 3} more"
            return (
                f"{parsed.name} is the history of Spotify account {others}, not yours "
                f'({self.user_id}). If it is yours, tick "This export is mine" and upload it again.'
            )
        self.needs_owner = True
        return (
            f"Nothing in {parsed.name} says which Spotify account it is from. If it is your own "
            'export, tick "This export is mine" and upload it again.'
        )

    def _take(self, parsed: ExportFile) -> None:
        entry = {"name": parsed.name, "plays": len(parsed.plays), "skipped": parsed.skipped}
        self.batch.files.append(entry)
        if len(parsed.plays):
            self.batch.frames.append(parsed.plays)
            self.batch.plays += len(parsed.plays)
        if self.batch.plays >= BATCH_PLAYS:
            self.flush()

    def flush(self) -> None:
        """Append the batch's plays; its files are taken, or all refused when they cannot be."""
        batch, self.batch = self.batch, _Batch()
        if not batch.files:
            return
        try:
            if batch.frames:
                appended = append_plays(self.store, self.user_id, pd.concat(batch.frames))
                self.added += appended.added
                self.doubles += appended.doubles
                if self.writes.finish():  # deleted meanwhile: swept again
                    raise HistoryDeletedError(self.user_id)
        except HistoryDeletedError:
            raise
        except Exception as error:  # PlaysFileError, ConflictError, or what nobody foresaw
            if not isinstance(error, PlaysFileError | ConflictError):
                logger.exception("an import's plays could not be appended")
            logger.error("an import could not be kept", extra={"error": str(error)})
            self.refused += [
                {
                    "name": entry["name"],
                    "why": f"{entry['name']} could not be kept: a file of your saved history "
                    "could not be read or kept changing. Import it again later (plays already "
                    "kept are not doubled).",
                }
                for entry in batch.files
            ]
            return
        self.accepted += batch.files

    def result(self, now: datetime) -> dict[str, Any]:
        skipped: Counter[str] = Counter()
        for kept in self.accepted:
            skipped.update(kept["skipped"])
        return {
            "at": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "files": [
                {"name": f["name"], "plays": f["plays"], "skipped": sum(f["skipped"].values())}
                for f in self.accepted
            ][:MAX_LISTED],
            "file_count": len(self.accepted),
            "plays": sum(f["plays"] for f in self.accepted),
            "added": self.added,
            "doubles": self.doubles,
            "skipped": dict(skipped),
            "refused": [
                {"name": _short(r["name"], 200), "why": _short(r["why"], 500)}
                for r in self.refused[:MAX_LISTED]
            ],
            "refused_count": len(self.refused),
            "ignored": [
                {"name": _short(r["name"], 200), "why": r["why"]} for r in self.ignored[:MAX_LISTED]
            ],
            "ignored_count": len(self.ignored),
            "wrong_user": self.wrong_user,
            "needs_owner": self.needs_owner,
        }


def _short(text: str, most: int) -> str:
    """Cut a text a person sent (a file's or an account's name) to at most `most` characters."""
    return text if len(text) <= most else text[: most - 1] + "…"
