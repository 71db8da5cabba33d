"""A person's listening stats: their compact history (web/history.py) counted for the page.

`build_stats` counts a `History` with array operations only (no loop per play), in the person's
timezone, and hands the pictures to web/svg_charts.py. `stats_for` serves them from two caches:
the history's (`HISTORY_CACHE`) and the built stats' (`STATS_CACHE`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import numpy as np
import numpy.typing as npt
import pandas as pd
from markupsafe import Markup

from shared.storage import Store
from web import svg_charts
from web.history import HISTORY_CACHE, History, Ints

TIMEZONES = tuple(sorted(available_timezones()))
_TIMEZONE_SET = frozenset(TIMEZONES)
UTC_ZONE = ZoneInfo("UTC")

TOP_COUNT = 10
WEEKS_CHARTED = 52
CALENDAR_WEEKS = 53  # this week and the 52 before it: a year of days, whole weeks
NEW_ARTIST_MONTHS = 12
NEW_ARTIST_NAMES = 5
# (key, label, days); None: all time, which has no previous period to move against.
PERIODS = (
    ("last-4-weeks", "Last 4 weeks", 28),
    ("last-6-months", "Last 6 months", 182),
    ("all-time", "All time", None),
)

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
_EPOCH = date(1970, 1, 1)


def pick_timezone(requested: str | None, remembered: str | None) -> tuple[ZoneInfo, bool]:
    """Return the timezone to count days in, and whether the person chose it; UTC otherwise.

    Any value that is not an IANA name (typos, paths, huge strings) falls back quietly.
    """
    for name in (requested, remembered):
        if isinstance(name, str) and name in _TIMEZONE_SET:
            try:
                return ZoneInfo(name), True
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return UTC_ZONE, False


@dataclass(frozen=True)
class RankedEntry:
    """One line of a top list, with its movement against the previous period."""

    rank: int
    name: str
    detail: str  # a track's artist; empty for an artist
    plays: int
    movement: str  # "▲ 2", "▼ 1", "=", "NEW", or "" (all time: nothing to move against)
    movement_kind: str  # up, down, same, new, or ""

    @property
    def movement_label(self) -> str:
        """Say the movement in words, for screen readers."""
        places = self.movement.removeprefix("▲ ").removeprefix("▼ ")
        unit = "place" if places == "1" else "places"
        return {
            "up": f"up {places} {unit}",
            "down": f"down {places} {unit}",
            "same": "same place as before",
            "new": "new in this period",
        }.get(self.movement_kind, "")


@dataclass(frozen=True)
class Period:
    """What a person played in one period: totals and their top artists and tracks."""

    key: str
    label: str
    plays: int
    hours: float
    unique_tracks: int
    unique_artists: int
    top_artists: tuple[RankedEntry, ...]
    top_tracks: tuple[RankedEntry, ...]
    compared: bool  # whether entries move against a previous period (one with plays)
    nothing_before: bool = False  # it has a previous period, but with no plays to move against


@dataclass(frozen=True)
class Chart:
    """A picture as inline SVG, and what it shows in one sentence (for everyone, not only eyes)."""

    svg: Markup
    summary: str


@dataclass(frozen=True)
class NewArtistsMonth:
    """The artists first heard in one month: how many, and the first few of them."""

    month: date  # its first day
    count: int
    first_names: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.month:%b %Y}"


@dataclass(frozen=True)
class Stats:
    """Everything the listening stats page shows."""

    today: date
    timezone: str
    plays: int
    hours: float
    unique_tracks: int
    unique_artists: int
    short_plays: int  # under 30 s: not a stream, not counted
    skipped_rows: int
    unreadable_months: int
    periods: tuple[Period, ...]
    week_starts: tuple[date, ...]
    weekly_plays: tuple[int, ...]
    calendar_start: date
    calendar_minutes: tuple[float, ...]
    heatmap_plays: tuple[tuple[int, ...], ...]  # 7 weekdays (Monday first) x 24 hours
    new_artists: tuple[NewArtistsMonth, ...]  # newest month first
    charts: dict[str, Chart] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.plays == 0 and self.short_plays == 0

    @property
    def today_text(self) -> str:
        return day_text(self.today)


def day_text(day: date) -> str:
    """Return a day as "Nov 3, 2026"."""
    return f"{day:%b} {day.day}, {day.year}"


def _local_days_and_hours(
    played_ms: npt.NDArray[np.int64], tz: ZoneInfo
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Return each play's local day (days since 1970-01-01) and hour in `tz`."""
    moments = pd.to_datetime(played_ms, unit="ms", utc=True).tz_convert(tz).tz_localize(None)
    local_ms = moments.as_unit("ms").asi8
    return local_ms // DAY_MS, (local_ms % DAY_MS) // HOUR_MS


def _ranked(counts: npt.NDArray[np.int64], order: Ints) -> npt.NDArray[np.intp]:
    """Return the codes played at least once, most played first, ties in name order."""
    played = np.flatnonzero(counts)
    return played[np.lexsort((order[played], -counts[played]))]


def _movement(rank: int, previous_rank: int) -> tuple[str, str]:
    if previous_rank == 0:
        return "NEW", "new"
    if previous_rank > rank:
        return f"▲ {previous_rank - rank}", "up"
    if previous_rank < rank:
        return f"▼ {rank - previous_rank}", "down"
    return "=", "same"


def _top_entries(
    codes: Ints,
    *,
    current: npt.NDArray[np.bool_],
    previous: npt.NDArray[np.bool_] | None,
    order: Ints,
    names: tuple[str, ...],
    details: tuple[str, ...] | None,
) -> tuple[tuple[RankedEntry, ...], int]:
    """Return the top entries of a period and how many distinct codes it played."""
    counts = np.bincount(codes[current], minlength=len(names))
    ranked = _ranked(counts, order)
    previous_rank = np.zeros(len(names), dtype=np.int64)
    if previous is not None:
        before = _ranked(np.bincount(codes[previous], minlength=len(names)), order)
        previous_rank[before] = np.arange(1, len(before) + 1)
    entries = []
    for index, code in enumerate(ranked[:TOP_COUNT]):
        rank = index + 1
        movement, kind = ("", "") if previous is None else _movement(rank, previous_rank[code])
        entries.append(
            RankedEntry(
                rank=rank,
                name=names[code],
                detail=details[code] if details is not None else "",
                plays=int(counts[code]),
                movement=movement,
                movement_kind=kind,
            )
        )
    return tuple(entries), len(ranked)


def _periods(history: History, local_day: npt.NDArray[np.int64], today: int) -> tuple[Period, ...]:
    track_details = tuple(history.artist_names[code] for code in history.track_artist)
    periods = []
    for key, label, days in PERIODS:
        in_period = local_day <= today
        previous = None
        nothing_before = False
        if days is not None:
            in_period = in_period & (local_day > today - days)
            before = (local_day <= today - days) & (local_day > today - 2 * days)
            previous = before & history.counted
            # Against an empty period (a new person, an import that starts within this one),
            # everything would be NEW: that says nothing, so nothing moves.
            if not previous.any():
                previous, nothing_before = None, True
        current = in_period & history.counted
        top_artists, unique_artists = _top_entries(
            history.artist,
            current=current,
            previous=previous,
            order=history.artist_order,
            names=history.artist_names,
            details=None,
        )
        top_tracks, unique_tracks = _top_entries(
            history.track,
            current=current,
            previous=previous,
            order=history.track_order,
            names=history.track_names,
            details=track_details,
        )
        periods.append(
            Period(
                key=key,
                label=label,
                plays=int(current.sum()),
                hours=float(history.listened_ms[in_period].sum(dtype=np.float64)) / HOUR_MS,
                unique_tracks=unique_tracks,
                unique_artists=unique_artists,
                top_artists=top_artists,
                top_tracks=top_tracks,
                compared=previous is not None,
                nothing_before=nothing_before,
            )
        )
    return tuple(periods)


def _day(day_number: int) -> date:
    return _EPOCH + timedelta(days=int(day_number))


def _new_artists(
    history: History, local_day: npt.NDArray[np.int64], today: int
) -> tuple[NewArtistsMonth, ...]:
    """Return, for the last months (newest first), the artists first heard in each."""
    counted = np.flatnonzero(history.counted & (local_day <= today))
    if not len(counted):
        return ()
    # Plays are in time order, so an artist's first counted play is its first index here.
    artists, first_index = np.unique(history.artist[counted], return_index=True)
    by_first = np.argsort(first_index, kind="stable")
    artists, first_play = artists[by_first], counted[first_index[by_first]]
    months = local_day[first_play].astype("datetime64[D]").astype("datetime64[M]")
    this_month = np.datetime64(_day(today), "M")
    shown = np.arange(this_month - NEW_ARTIST_MONTHS + 1, this_month + 1)
    shown = shown[shown >= months[0]]
    result = []
    for month in shown[::-1]:
        in_month = artists[months == month]
        result.append(
            NewArtistsMonth(
                month=month.astype("datetime64[D]").astype(date),
                count=len(in_month),
                first_names=tuple(
                    history.artist_names[code] for code in in_month[:NEW_ARTIST_NAMES]
                ),
            )
        )
    return tuple(result)


def build_stats(history: History, now: datetime, tz: ZoneInfo) -> Stats:
    """Count a person's listening up to today (whole days in `tz`), for the stats page.

    Periods end with today and start at a local midnight, so the same day gives the same
    stats whatever the hour: that is what makes them cacheable by date.
    """
    today_date = now.astimezone(tz).date()
    today = (today_date - _EPOCH).days
    local_day, local_hour = _local_days_and_hours(history.played_ms, tz)
    past = local_day <= today
    counted = history.counted & past

    week_start = today - today_date.weekday()
    first_week = week_start - 7 * (WEEKS_CHARTED - 1)
    charted = counted & (local_day >= first_week)
    weekly = np.bincount((local_day[charted] - first_week) // 7, minlength=WEEKS_CHARTED)

    first_calendar_day = week_start - 7 * (CALENDAR_WEEKS - 1)
    in_calendar = past & (local_day >= first_calendar_day)
    minutes = (
        np.bincount(
            local_day[in_calendar] - first_calendar_day,
            weights=history.listened_ms[in_calendar],
            minlength=today - first_calendar_day + 1,
        )
        / 60_000
    )

    weekday = (local_day[counted] + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    heatmap = np.bincount(weekday * 24 + local_hour[counted], minlength=7 * 24).reshape(7, 24)

    periods = _periods(history, local_day, today)
    all_time = periods[-1]
    stats = Stats(
        today=today_date,
        timezone=tz.key,
        plays=all_time.plays,
        hours=all_time.hours,
        unique_tracks=all_time.unique_tracks,
        unique_artists=all_time.unique_artists,
        short_plays=int((past & ~history.counted).sum()),
        skipped_rows=history.skipped_rows,
        unreadable_months=history.unreadable_months,
        periods=periods,
        week_starts=tuple(_day(first_week + 7 * index) for index in range(WEEKS_CHARTED)),
        weekly_plays=tuple(int(count) for count in weekly),
        calendar_start=_day(first_calendar_day),
        calendar_minutes=tuple(float(value) for value in minutes),
        heatmap_plays=tuple(tuple(int(count) for count in row) for row in heatmap),
        new_artists=_new_artists(history, local_day, today),
    )
    stats.charts.update(draw_charts(stats))
    return stats


def draw_charts(stats: Stats) -> dict[str, Chart]:
    """Draw the stats' pictures, each with a sentence that says what it shows."""
    weeks_played = sum(1 for count in stats.weekly_plays if count)
    busiest_week = max(range(WEEKS_CHARTED), key=lambda index: stats.weekly_plays[index])
    weekly_summary = (
        f"{sum(stats.weekly_plays):,} plays in the last {WEEKS_CHARTED} weeks, "
        f"in {weeks_played} of them"
        + (
            f"; the busiest was the week of {day_text(stats.week_starts[busiest_week])} "
            f"with {stats.weekly_plays[busiest_week]:,}."
            if weeks_played
            else "."
        )
    )
    days_listened = sum(1 for value in stats.calendar_minutes if value > 0)
    busiest_day = max(range(len(stats.calendar_minutes)), key=stats.calendar_minutes.__getitem__)
    calendar_summary = (
        f"Music on {days_listened} of the last {len(stats.calendar_minutes)} days"
        + (
            f"; the most on {day_text(stats.calendar_start + timedelta(days=busiest_day))}: "
            f"{svg_charts.minutes_text(stats.calendar_minutes[busiest_day])}."
            if days_listened
            else "."
        )
    )
    cells = [
        (count, weekday, hour)
        for weekday, row in enumerate(stats.heatmap_plays)
        for hour, count in enumerate(row)
    ]
    count, weekday, hour = max(cells, key=lambda cell: (cell[0], -cell[1], -cell[2]))
    heatmap_summary = (
        f"Most plays on {svg_charts.WEEKDAY_NAMES[weekday]} between {hour:02d}:00 and "
        f"{hour:02d}:59 ({count:,}), in {stats.timezone} time."
        if count
        else f"No plays to place on the clock yet ({stats.timezone} time)."
    )
    new_months = [month.label for month in stats.new_artists]
    new_counts = [month.count for month in stats.new_artists]
    new_summary = (
        "; ".join(
            f"{label}: {count:,}" for label, count in zip(new_months, new_counts, strict=True)
        )
        or "No artists yet."
    )
    return {
        "weekly": Chart(
            svg_charts.weekly_bars_svg(
                "weekly-plays",
                stats.week_starts,
                stats.weekly_plays,
                "Plays per week",
                weekly_summary,
            ),
            weekly_summary,
        ),
        "calendar": Chart(
            svg_charts.calendar_svg(
                "listening-calendar",
                stats.calendar_start,
                stats.calendar_minutes,
                "Minutes listened each day, the last year",
                calendar_summary,
            ),
            calendar_summary,
        ),
        "heatmap": Chart(
            svg_charts.heatmap_svg(
                "listening-clock",
                stats.heatmap_plays,
                f"Plays by weekday and hour ({stats.timezone})",
                heatmap_summary,
            ),
            heatmap_summary,
        ),
        "new_artists": Chart(
            svg_charts.new_artists_svg(
                "new-artists",
                new_months,
                new_counts,
                "Artists first heard each month",
                new_summary,
            ),
            new_summary,
        ),
    }


class StatsCache:
    """Keep built stats by (user, version, timezone, local date): the same day counts the same."""

    def __init__(self, max_entries: int = 16) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, int, str, date], Stats] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self, user_id: str, version: int, history: History, now: datetime, tz: ZoneInfo
    ) -> Stats:
        """Return the stats of a history, building them only when not kept already."""
        key = (user_id, version, tz.key, now.astimezone(tz).date())
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        stats = build_stats(history, now=now, tz=tz)
        with self._lock:
            self._entries[key] = stats
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return stats

    def clear(self) -> None:
        """Forget every kept result."""
        with self._lock:
            self._entries.clear()


STATS_CACHE = StatsCache()


def stats_for(store: Store, user_id: str, version: int, now: datetime, tz: ZoneInfo) -> Stats:
    """Return a person's stats for the page, from both caches when they hold them."""
    history = HISTORY_CACHE.get(store, user_id, version)
    return STATS_CACHE.get(user_id, version, history, now, tz)
