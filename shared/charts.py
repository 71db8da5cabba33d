"""Daily chart snapshots (issue 18): what is tracked, the daily files, and the history.

Spotify-owned playlists (Top 50, Viral 50) answer 404 to Development Mode apps since
2024-11-27 (PLATFORM.md); an app with Extended Quota can still read them. So two kinds of
playlists are tracked:

- the operator's, listed in the setting CHART_PLAYLISTS and read with the app's own token;
- a person's own or collaborative playlists, added on the Charts page and read with their grant
  (`chart_people/<user>.json`: the playlists and the sealed grant; deleted with their data).

Objects, per playlist id:
- `charts/<playlist id>/<YYYY-MM-DD>.csv`: one snapshot a day (CHART_SNAPSHOT's columns),
  written only if absent: running twice in a day changes nothing; a day missed stays a gap;
- `charts/<playlist id>/history.csv`: derived from the snapshots (shared/chart_history.py);
- `charts/<playlist id>/about.json`: the name, and how the last run went, for the page.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pandas as pd

from shared.chart_history import (
    HISTORY_COLUMNS,
    SNAPSHOT_REQUIRED,
    HistoryDamagedError,
    build_history,
    check_complete,
)
from shared.datasets import (
    CHART_HISTORY,
    CHART_SNAPSHOT,
    Dataset,
    DatasetSchemaError,
    load_dataset,
    save_dataset,
)
from shared.people.deletion import register
from shared.people.records import PersonRecords, RecordError
from shared.spotify_records import SPOTIFY_ID, PlaylistItem
from shared.storage import (
    IF_ABSENT,
    ConflictError,
    NotFoundError,
    Store,
    check_name,
    delete_under,
    retry_on_conflict,
)

CHART_SCOPES = "playlist-read-private playlist-read-collaborative"
ACTIVE = "active"
NEEDS_SIGN_IN = "needs_sign_in"
STATUSES = (ACTIVE, NEEDS_SIGN_IN)
MAX_TRACKED = 10  # playlists a person may track: each costs a request a day per 100 items
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# What a stored chart file that cannot be used raises when read: a rebuild starts from the
# snapshots, and a damaged snapshot is left out (its day becomes a gap).
DAMAGED_FILE_ERRORS = (DatasetSchemaError, HistoryDamagedError, ValueError, TypeError)
if TYPE_CHECKING:
    from shared.config import Settings

logger = logging.getLogger(__name__)
# When the daily job runs (cron.yaml: "every day 05:30", America/New_York); its day is the run's
# UTC date. The pages use it to tell a missed snapshot from one not yet due.
DAILY_RUN_TIME = time(5, 30)
DAILY_RUN_ZONE = ZoneInfo("America/New_York")
DAILY_RUN_WORDS = "5:30 New York time"


def latest_run_day(now: datetime) -> str:
    """Return the UTC day (YYYY-MM-DD) of the latest scheduled daily run at or before `now`."""
    local = now.astimezone(DAILY_RUN_ZONE)
    run = datetime.combine(local.date(), DAILY_RUN_TIME, tzinfo=DAILY_RUN_ZONE)
    if run > local:
        run = datetime.combine(
            local.date() - timedelta(days=1), DAILY_RUN_TIME, tzinfo=DAILY_RUN_ZONE
        )
    return run.astimezone(UTC).date().isoformat()


class ChartsError(RecordError):
    """A charts record, a playlist reference or a stored chart file that cannot be used."""


def playlist_id_of(text: str) -> str:
    """Return the playlist id in an id, a `spotify:playlist:` URI or an open.spotify.com link.

    ChartsError, naming the text, for anything else.
    """
    value = text.strip()
    if value.startswith("spotify:playlist:"):
        value = value.removeprefix("spotify:playlist:")
    elif "://" in value:
        parts = urlsplit(value)
        segments = [s for s in parts.path.split("/") if s]
        if parts.hostname == "open.spotify.com" and len(segments) >= 2 and "playlist" in segments:
            value = segments[segments.index("playlist") + 1]
    if not SPOTIFY_ID.fullmatch(value):
        raise ChartsError(f"{text.strip()[:80]!r} is not a Spotify playlist id, URI or link")
    return value


def parse_chart_playlists(raw: str) -> tuple[str, ...]:
    """Read CHART_PLAYLISTS: ids, URIs or links, separated by commas or spaces, each once."""
    found = [playlist_id_of(part) for part in re.split(r"[,\s]+", raw or "") if part]
    return tuple(dict.fromkeys(found))


def chart_folder(playlist_id: str) -> str:
    """Return the folder of a playlist's chart files."""
    if not SPOTIFY_ID.fullmatch(playlist_id):
        raise ChartsError(f"{playlist_id[:80]!r} is not a Spotify playlist id")
    return f"charts/{playlist_id}/"


def snapshot_dataset(playlist_id: str, day: str) -> Dataset:
    """Return the dataset of one day's snapshot."""
    if not DAY.fullmatch(day):
        raise ChartsError(f"{day[:20]!r} is not a day (YYYY-MM-DD)")
    date.fromisoformat(day)
    return CHART_SNAPSHOT.at(chart_folder(playlist_id) + f"{day}.csv")


def history_dataset(playlist_id: str) -> Dataset:
    """Return the dataset of a playlist's history."""
    return CHART_HISTORY.at(chart_folder(playlist_id) + "history.csv")


def about_object(playlist_id: str) -> str:
    """Return the object name of a playlist's about.json."""
    return check_name(chart_folder(playlist_id) + "about.json")


# Snapshots.


def snapshot_rows(items: list[PlaylistItem], captured_at: str) -> tuple[pd.DataFrame, Counter[str]]:
    """Return a day's snapshot rows (positions from 1), and the entries skipped by kind.

    Episodes, local files and removed items hold no track: they are counted, never written.
    """
    rows = [
        {
            "position": item.position + 1,
            "track_id": item.track.id,
            "track_name": item.track.name,
            "artist_names": "; ".join(item.track.artist_names),
            "album_name": item.track.album_name,
            "added_at": item.added_at,
            "duration_ms": item.track.duration_ms,
            "captured_at": captured_at,
        }
        for item in items
        if item.track is not None
    ]
    skipped = Counter(item.skipped or "not a track" for item in items if item.track is None)
    frame = pd.DataFrame(rows, columns=CHART_SNAPSHOT.column_names)
    frame["duration_ms"] = frame["duration_ms"].astype("Int64")
    return frame, skipped


def snapshot_days(store: Store, playlist_id: str) -> list[str]:
    """Return the days a playlist has a snapshot of, oldest first."""
    folder = chart_folder(playlist_id)
    days = (name.removeprefix(folder).removesuffix(".csv") for name in store.list(folder))
    return sorted(day for day in days if DAY.fullmatch(day))


def has_snapshot(store: Store, playlist_id: str, day: str) -> bool:
    """Tell whether a day's snapshot exists."""
    return store.generation(snapshot_dataset(playlist_id, day).name) is not None


def save_snapshot(store: Store, playlist_id: str, day: str, frame: pd.DataFrame) -> bool:
    """Write a day's snapshot if that day has none; return False when it had one already."""
    try:
        save_dataset(
            store, snapshot_dataset(playlist_id, day), frame, if_generation_match=IF_ABSENT
        )
    except ConflictError:  # that day's snapshot was taken already
        return False
    return True


def load_snapshot(store: Store, playlist_id: str, day: str) -> pd.DataFrame:
    """Return a day's snapshot (empty when there is none)."""
    return load_dataset(store, snapshot_dataset(playlist_id, day))[0]


# History.


def load_history(store: Store, playlist_id: str) -> tuple[pd.DataFrame, int | None]:
    """Return a playlist's history and its generation (empty and None when there is none)."""
    frame, generation = load_dataset(store, history_dataset(playlist_id))
    frame["previous_rank"] = frame["previous_rank"].fillna("").astype(str)
    return frame, generation


def save_history(
    store: Store, playlist_id: str, history: pd.DataFrame, *, if_generation_match: int | None
) -> int:
    """Write a playlist's history whole."""
    return save_dataset(
        store, history_dataset(playlist_id), history, if_generation_match=if_generation_match
    )


def load_checked_snapshot(store: Store, playlist_id: str, day: str) -> pd.DataFrame:
    """Return a day's snapshot; DAMAGED_FILE_ERRORS when it cannot be read or lacks values."""
    snapshot = load_snapshot(store, playlist_id, day)
    check_complete(snapshot, SNAPSHOT_REQUIRED, f"the snapshot of {day}")
    return snapshot


def rebuild_history(store: Store, playlist_id: str) -> pd.DataFrame:
    """Rebuild a playlist's history from every snapshot it has, and save it."""
    return rebuild_history_skipping(store, playlist_id)[0]


def rebuild_history_skipping(store: Store, playlist_id: str) -> tuple[pd.DataFrame, list[str]]:
    """Rebuild and save a playlist's history; return it and the days of damaged snapshots.

    A damaged snapshot is logged and left out: its day is a gap, as a missed day is (no other
    day's chart is copied in its place); the file stays, for someone to look at.
    """
    snapshots = []
    damaged = []
    for day in snapshot_days(store, playlist_id):
        try:
            snapshots.append((day, load_checked_snapshot(store, playlist_id, day)))
        except DAMAGED_FILE_ERRORS as error:
            damaged.append(day)
            logger.error(
                "a damaged chart snapshot is left out of the history",
                extra={"playlist_id": playlist_id, "day": day, "error": str(error)},
            )
    history = build_history(snapshots)

    def attempt() -> pd.DataFrame:
        generation = store.generation(history_dataset(playlist_id).name)
        save_history(store, playlist_id, history, if_generation_match=generation or IF_ABSENT)
        return history

    return retry_on_conflict(history_dataset(playlist_id).name, attempt), damaged


def history_csv_rows(history: pd.DataFrame) -> Iterable[list[Any]]:
    """Yield the history as CSV rows, the header first (for a download; escape cells there)."""
    yield HISTORY_COLUMNS
    for row in history[HISTORY_COLUMNS].itertuples(index=False):
        yield ["" if pd.isna(value) else value for value in row]


# About a playlist (written by the daily job).


@dataclass(frozen=True)
class ChartAbout:
    """A tracked playlist's name and how its last daily run went."""

    playlist_id: str
    name: str = ""
    owner: str = ""
    last_day: str = ""  # the latest day with a snapshot
    last_run_day: str = ""
    last_status: str = ""  # "snapshot", "already", "refused", "failed", "not_found"
    problem: str = ""  # said to people when the last run could not read it
    tracks: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    requests: int = 0


def load_about(store: Store, playlist_id: str) -> ChartAbout:
    """Return what is known of a playlist's runs (a bare record when none is, or it is damaged)."""
    try:
        raw = json.loads(store.read(about_object(playlist_id)).data)
    except (NotFoundError, ValueError):
        return ChartAbout(playlist_id)
    if not isinstance(raw, dict):
        return ChartAbout(playlist_id)
    defaults = asdict(ChartAbout(playlist_id))
    fields = {
        name: raw[name] if isinstance(raw.get(name), type(default)) else default
        for name, default in defaults.items()
    }
    fields["playlist_id"] = playlist_id
    fields["skipped"] = {str(k): int(v) for k, v in fields["skipped"].items() if isinstance(v, int)}
    return ChartAbout(**fields)


def save_about(store: Store, about: ChartAbout) -> None:
    """Write a playlist's about.json whole (the daily job is its only writer, under its lease)."""
    store.write(
        about_object(about.playlist_id),
        json.dumps(asdict(about), indent=1, sort_keys=True).encode(),
        content_type="application/json",
    )


# What a person tracks.


@dataclass(frozen=True)
class TrackedPlaylist:
    """A playlist a person tracks."""

    playlist_id: str
    name: str
    added_at: str  # ISO UTC


@dataclass(frozen=True)
class ChartsRecord:
    """A person's tracked playlists and the sealed grant the daily job reads them with."""

    user_id: str
    sealed_refresh_token: str
    display_name: str = ""
    status: str = ACTIVE
    status_reason: str = ""
    playlists: tuple[TrackedPlaylist, ...] = ()

    def tracks(self, playlist_id: str) -> bool:
        """Tell whether the person tracks a playlist."""
        return any(p.playlist_id == playlist_id for p in self.playlists)


def _check(record: ChartsRecord) -> str:
    if not record.sealed_refresh_token or record.status not in STATUSES:
        return "it lacks a grant or a status"
    if any(not SPOTIFY_ID.fullmatch(p.playlist_id) for p in record.playlists):
        return "a tracked playlist lacks a playlist id"
    return ""


CHART_PEOPLE = PersonRecords("charts", "chart_people/", ChartsRecord, ChartsError, _check)


def without_playlist(record: ChartsRecord, playlist_id: str) -> ChartsRecord:
    """Return the record without one playlist."""
    return replace(
        record, playlists=tuple(p for p in record.playlists if p.playlist_id != playlist_id)
    )


def delete_chart_files(store: Store, playlist_id: str) -> int:
    """Delete every file of a playlist's chart; return how many."""
    return delete_under(store, chart_folder(playlist_id))


def playlists_kept_by_others(
    store: Store, user_id: str, operator_playlists: Iterable[str]
) -> set[str]:
    """Return the playlists the operator lists or anyone but this person tracks.

    A damaged record of another person keeps every id-like word in it: files are deleted only
    when no one can still want them.
    """
    kept = set(operator_playlists)
    for other in CHART_PEOPLE.people(store):
        if other == user_id:
            continue
        try:
            data = store.read(CHART_PEOPLE.object(other)).data
        except NotFoundError:
            continue
        try:
            kept |= {p.playlist_id for p in CHART_PEOPLE.parse(data).playlists}
        except ChartsError:
            kept |= set(re.findall(r"[0-9A-Za-z]{22}", data.decode("utf-8", "replace")))
    return kept


def playlists_kept(store: Store, operator_playlists: Iterable[str]) -> set[str]:
    """Return every playlist the operator lists or anyone (active or paused) tracks; a damaged
    record keeps every id-like word in it. Reads every record: they are small, and few."""
    return playlists_kept_by_others(store, "", operator_playlists)


def chart_folders(store: Store) -> set[str]:
    """Return the playlist ids that have chart files."""
    found = set()
    for name in store.list("charts/"):
        parts = name.split("/")
        if len(parts) >= 3 and SPOTIFY_ID.fullmatch(parts[1]):
            found.add(parts[1])
    return found


def delete_person_charts(store: Store, user_id: str, operator_playlists: Iterable[str]) -> int:
    """Forget a person's charts: their record, and the files of playlists no one else keeps.

    A playlist the operator lists, or another person tracks, keeps its files.
    """
    loaded = None
    with contextlib.suppress(ChartsError):
        loaded = CHART_PEOPLE.load(store, user_id)
    deleted = int(CHART_PEOPLE.delete(store, user_id))
    if loaded is None:
        return deleted
    kept = playlists_kept_by_others(store, user_id, operator_playlists)
    for playlist in loaded[0].playlists:
        if playlist.playlist_id not in kept:
            deleted += delete_chart_files(store, playlist.playlist_id)
    return deleted


def _sweep(store: Store, user_id: str, settings: Settings) -> int:
    return delete_person_charts(store, user_id, settings.chart_playlists)


register("charts", "playlists tracked on Charts", _sweep)
