"""The weekly run's backups: every opted-in user's chosen playlist, with their stored grant."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from etl.lease import no_beat
from shared.backups import UserBackup, back_up_user
from shared.config import Settings
from shared.spotify import (
    BudgetExhaustedError,
    QuotaExhaustedError,
    RequestLedger,
    SpotifyApi,
    SpotifyError,
    SpotifyRefusedError,
    StoredGrant,
)
from shared.storage import ConflictError, Store
from shared.tokens import TokenBox, TokenDecryptError
from shared.users import (
    ACTIVE,
    GRANT_REVOKED_REASON,
    UserSettingsError,
    load_user,
    mark_needs_sign_in,
    opted_in_users,
    update_user,
)

logger = logging.getLogger(__name__)


@dataclass
class BackupsSummary:
    """What the backup step did, for the run report."""

    users: int = 0
    snapshotted: int = 0
    already_done: int = 0
    waiting_for_sign_in: int = 0
    newly_needing_sign_in: int = 0
    failed: int = 0
    rows_written: int = 0
    items_skipped: int = 0  # entries that are not tracks: by kind in items_skipped_by_kind
    items_skipped_by_kind: dict[str, int] = field(default_factory=dict)
    archived_tracks: int = 0
    stopped: str = ""

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


def back_up_everyone(
    store: Store,
    settings: Settings,
    ledger: RequestLedger,
    *,
    now: datetime,
    beat: Callable[[], None] = no_beat,
    **api_options: object,
) -> BackupsSummary:
    """Back up every opted-in user once a week; one user's failure never stops the others.

    `beat` renews the run's lease before each user.
    """
    summary = BackupsSummary()
    box = TokenBox(settings.token_encryption_key)
    for user_id in opted_in_users(store):
        beat()
        summary.users += 1
        try:
            loaded = load_user(store, user_id)
            if loaded is None:
                continue
            user = loaded[0]
            if user.status != ACTIVE:
                summary.waiting_for_sign_in += 1
                continue
            refresh_token = str(box.open(user.sealed_refresh_token).get("refresh_token", ""))
            grant = StoredGrant(settings, refresh_token)
            api = SpotifyApi.for_stored_grant(settings, grant, ledger, **api_options)
            summary.add(back_up_user(store, user, api, now=now))
            if grant.refresh_token != refresh_token:
                _keep_rotated_token(
                    store, user_id, box.seal({"refresh_token": grant.refresh_token})
                )
        except (QuotaExhaustedError, BudgetExhaustedError) as stop:
            summary.stopped = "quota" if isinstance(stop, QuotaExhaustedError) else "budget"
            logger.warning("backups stopped: no Spotify requests left", extra={"reason": str(stop)})
            break
        except SpotifyRefusedError as error:
            if error.status != 401:
                summary.failed += 1
                logger.error("backup failed", extra={"user_id": user_id, "error": str(error)})
                continue
            mark_needs_sign_in(store, user_id, GRANT_REVOKED_REASON)
            summary.newly_needing_sign_in += 1
            logger.warning(
                "a user's grant is gone; they must sign in again", extra={"user_id": user_id}
            )
        except TokenDecryptError:
            # TOKEN_ENCRYPTION_KEY was rotated: the sealed grant can never be opened again.
            mark_needs_sign_in(
                store,
                user_id,
                "Local Shows changed its encryption key, so the sign-in you gave us can no "
                "longer be read.",
            )
            summary.newly_needing_sign_in += 1
            logger.warning(
                "a user's stored grant cannot be opened (key rotated); they must sign in again",
                extra={"user_id": user_id},
            )
        except (
            SpotifyError,
            UserSettingsError,
            ConflictError,
            ValueError,
        ) as error:
            summary.failed += 1
            logger.error(
                "backup failed",
                extra={"user_id": user_id, "error": f"{type(error).__name__}: {error}"},
            )
    return summary


def _keep_rotated_token(store: Store, user_id: str, sealed: str) -> None:
    update_user(store, user_id, lambda s: replace(s, sealed_refresh_token=sealed))
