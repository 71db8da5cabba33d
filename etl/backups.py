"""The weekly run's backups: every opted-in user's chosen playlist, with their stored grant."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from etl.lease import no_beat
from etl.people_run import PeopleSummary, PersonJob, PersonWork, serve_people
from shared.backups import UserBackup, back_up_user
from shared.config import Settings
from shared.spotify import RequestLedger
from shared.storage import Store
from shared.users import BACKUPS, BackupSettings

logger = logging.getLogger(__name__)


@dataclass
class BackupsSummary(PeopleSummary):
    """What the backup step did, for the run report."""

    snapshotted: int = 0
    already_done: int = 0
    rows_written: int = 0
    items_skipped: int = 0  # entries that are not tracks: by kind in items_skipped_by_kind
    items_skipped_by_kind: dict[str, int] = field(default_factory=dict)
    archived_tracks: int = 0

    def add(self, backup: UserBackup) -> None:
        """Count one user's backup."""
        if backup.snapshotted:
            self.snapshotted += 1
        else:
            self.already_done += 1
        self.rows_written += backup.rows_written
        self.items_skipped += sum(backup.skipped.values())
        for kind, count in backup.skipped.items():
            self.items_skipped_by_kind[kind] = self.items_skipped_by_kind.get(kind, 0) + count
        self.archived_tracks += backup.archived_tracks


def _back_up_one(work: PersonWork[BackupSettings, BackupsSummary]) -> None:
    work.summary.add(back_up_user(work.store, work.record, work.grant.api, now=work.now))


# A 403 on a backup is the playlist's (not theirs any more), not the grant's: counted as failed.
BACKUPS_JOB = PersonJob(
    records=BACKUPS, work=_back_up_one, last_done=lambda user: user.last_backup_week, forbidden=""
)


def back_up_everyone(
    store: Store,
    settings: Settings,
    ledger: RequestLedger,
    *,
    now: datetime,
    beat: Callable[[], None] = no_beat,
    **api_options: Any,
) -> BackupsSummary:
    """Back up every opted-in user once a week; one user's failure never stops the others."""
    return serve_people(
        BACKUPS_JOB,
        store,
        settings,
        ledger,
        BackupsSummary(),
        now=now,
        beat=beat,
        time_budget_seconds=float("inf"),  # the weekly build keeps its own time
        **api_options,
    )
