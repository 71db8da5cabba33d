"""Spotify's "Extended streaming history" export of a sandbox user, in the 2025-26 layout.

The rows are the same plays /me/player/recently-played reports: `ts` is the play's end to the
second (UTC), as `played_at` is its end to the millisecond, so an import and the collected plays
overlap exactly. Key set and order follow Efrrowini__Streaming_History_Audio_2026.json (23 keys).
"""

from __future__ import annotations

import json
import logging
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sandbox.listening import HISTORY_DAYS, Listening, Play, ms_of

logger = logging.getLogger(__name__)

ROWS_PER_FILE = 12_000
SESSION_GAP_MS = 60_000
FILE_PREFIX = "Streaming_History_Audio_"


def export_ts(end_ms: int) -> str:
    """Write a play's end as the export does: UTC, to the second."""
    return datetime.fromtimestamp(end_ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def history_row(listening: Listening, play: Play) -> dict[str, Any]:
    """Return one export row of a play, keys in the real file's order."""
    catalog = listening.catalog
    track = catalog.tracks.get(play.track_id) if play.track_id else None
    episode = catalog.episodes.get(play.episode_id) if play.episode_id else None
    country_rng = random.Random(
        f"{listening.seed}:country:{play.user_id}:{play.start_ms // 86_400_000}"
    )
    return {
        "ts": export_ts(play.end_ms),
        "platform": play.platform,
        "ms_played": play.ms_played,
        "conn_country": "US" if country_rng.random() < 0.95 else country_rng.choice(["CA", "MX"]),
        "ip_addr": f"192.0.2.{sum(play.user_id.encode()) % 250 + 1}",
        "master_metadata_track_name": track["name"] if track else None,
        "master_metadata_album_artist_name": track["artists"][0]["name"] if track else None,
        "master_metadata_album_album_name": track["album"]["name"] if track else None,
        "spotify_track_uri": f"spotify:track:{track['id']}" if track else None,
        "episode_name": episode["name"] if episode else None,
        "episode_show_name": episode["show"]["name"] if episode else None,
        "spotify_episode_uri": f"spotify:episode:{episode['id']}" if episode else None,
        "audiobook_title": None,
        "audiobook_uri": None,
        "audiobook_chapter_uri": None,
        "audiobook_chapter_title": None,
        "reason_start": play.reason_start,
        "reason_end": play.reason_end,
        "shuffle": play.shuffle,
        "skipped": play.skipped,
        "offline": play.offline,
        "offline_timestamp": play.start_ms // 1000,
        "incognito_mode": False,
    }


def export_plays(
    listening: Listening,
    user_id: str,
    until: datetime,
    *,
    since: datetime | None = None,
    plays: int | None = None,
) -> list[Play]:
    """Return the plays an export holds, oldest first: the last `plays` ones that ended by
    `until`, or those that ended since `since` (default: HISTORY_DAYS before `until`)."""
    until_ms = ms_of(until)
    if plays is None:
        since_ms = ms_of(since or until - timedelta(days=HISTORY_DAYS))
        return listening.plays_between(user_id, since_ms, until_ms)
    chosen: list[Play] = []
    day = until.astimezone(UTC).date()
    empty_days = 0
    # Walk back a day at a time; a catalogue without tracks gives empty days, so stop on a run.
    while len(chosen) < plays and empty_days < 60:
        ended = [p for p in listening.plays_on(user_id, day) if p.end_ms <= until_ms]
        empty_days = 0 if ended else empty_days + 1
        chosen.extend(sorted(ended, key=lambda play: -play.end_ms))
        day -= timedelta(days=1)
    return sorted(chosen[:plays], key=lambda play: play.end_ms)


def _unsorted(listening: Listening, user_id: str, plays: list[Play]) -> list[Play]:
    """Order plays as real files do, not by time: a day's sessions in a seeded jumble."""
    ordered: list[Play] = []
    by_day: dict[date, list[list[Play]]] = {}
    for play in plays:
        sessions = by_day.setdefault(datetime.fromtimestamp(play.start_ms // 1000, UTC).date(), [])
        if not sessions or play.start_ms - sessions[-1][-1].end_ms > SESSION_GAP_MS:
            sessions.append([])
        sessions[-1].append(play)
    for day, sessions in by_day.items():
        random.Random(f"{listening.seed}:order:{user_id}:{day}").shuffle(sessions)
        ordered.extend(play for session in sessions for play in session)
    return ordered


def write_export(
    listening: Listening,
    user_id: str,
    out_dir: Path,
    until: datetime,
    *,
    since: datetime | None = None,
    plays: int | None = None,
    rows_per_file: int = ROWS_PER_FILE,
) -> list[Path]:
    """Write a user's Streaming_History_Audio_<year>[_<n>].json files; return their paths.

    Files hold one year each, split every `rows_per_file` rows; several files are numbered
    across the export (`_2025_0`, `_2025_1`, `_2026_2`), a lone file is `_<year>.json`.
    """
    chosen = export_plays(listening, user_id, until, since=since, plays=plays)
    by_year: dict[int, list[Play]] = {}
    for play in chosen:
        by_year.setdefault(datetime.fromtimestamp(play.end_ms // 1000, UTC).year, []).append(play)
    chunks = [
        (year, year_plays[at : at + rows_per_file])
        for year, year_plays in sorted(by_year.items())
        for at in range(0, len(year_plays), rows_per_file)
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index, (year, chunk) in enumerate(chunks):
        suffix = f"{year}" if len(chunks) == 1 else f"{year}_{index}"
        path = out_dir / f"{FILE_PREFIX}{suffix}.json"
        rows = [history_row(listening, play) for play in _unsorted(listening, user_id, chunk)]
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")
        written.append(path)
        logger.info("wrote %s: %d plays", path.name, len(rows))
    return written
