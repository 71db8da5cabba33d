"""Listening stats: small hand-made histories with known answers, the pictures, the page."""

from __future__ import annotations

import csv
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from flask import Blueprint, Flask, render_template
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.plays import (
    PLAY_COLUMNS,
    RECENTLY_PLAYED,
    month_frame_bytes,
    month_object,
    read_month_frame,
)
from shared.storage import FolderStore, StoredObject
from web import history as history_module
from web import stats, svg_charts

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # a Monday
TODAY = NOW.date()
NEW_YORK = ZoneInfo("America/New_York")
TEMPLATES = Path(__file__).resolve().parent.parent / "web" / "templates"


def play(
    played_at: str | datetime,
    track: str = "Song",
    artist: str = "Band",
    *,
    uri: str = "",
    ms: str | int = 200_000,
    duration: str | int = "",
    source: str = "export",
) -> dict[str, str]:
    """Return one row of a month file, as text, the way shared/plays.py writes it."""
    if isinstance(played_at, datetime):
        played_at = played_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    row = dict.fromkeys(PLAY_COLUMNS, "")
    row.update(
        played_at=played_at,
        ms_played=str(ms),
        duration_ms=str(duration),
        track_uri=uri,
        track=track,
        artist_names=json.dumps([artist]),
        source=source,
    )
    return row


def days_ago(days: int, hour: int = 12) -> datetime:
    """Return noon UTC (by default) `days` before NOW's day."""
    return datetime(TODAY.year, TODAY.month, TODAY.day, hour, tzinfo=UTC) - timedelta(days=days)


def history_of(*rows: dict[str, str]) -> stats.History:
    return history_module.compact_history([pd.DataFrame(list(rows), columns=list(PLAY_COLUMNS))])


def build(*rows: dict[str, str], tz: ZoneInfo = stats.UTC_ZONE) -> stats.Stats:
    return stats.build_stats(history_of(*rows), now=NOW, tz=tz)


def test_counts_streams_of_30_seconds_and_recently_played_rows() -> None:
    result = build(
        play(days_ago(1), ms=30_000),
        play(days_ago(1), ms=29_999),  # a skip: heard, not a stream
        play(days_ago(2), "Other", ms="", duration=180_000, source=RECENTLY_PLAYED),
        play(days_ago(3), "Third", "Someone", ms="", source=RECENTLY_PLAYED),
    )

    assert (result.plays, result.short_plays) == (3, 1)
    assert result.hours == pytest.approx((30_000 + 29_999 + 180_000) / 3_600_000)
    assert (result.unique_tracks, result.unique_artists) == (3, 2)
    assert result.periods[0].plays == 3
    assert not result.empty


def test_ranks_move_against_the_previous_four_weeks() -> None:
    before = [("X", 3), ("Y", 2), ("V", 1), ("Z", 1)]  # ranks X 1, Y 2, V 3, Z 4
    now = [("Y", 3), ("W", 2), ("X", 2), ("Z", 1)]  # W and X tie: W first by name
    rows = [play(days_ago(40), artist=name) for name, count in before for _ in range(count)]
    rows += [play(days_ago(5), artist=name) for name, count in now for _ in range(count)]

    result = build(*rows)

    four_weeks = result.periods[0]
    assert [
        (entry.rank, entry.name, entry.plays, entry.movement) for entry in four_weeks.top_artists
    ] == [(1, "Y", 3, "▲ 1"), (2, "W", 2, "NEW"), (3, "X", 2, "▼ 2"), (4, "Z", 1, "=")]
    assert four_weeks.top_artists[2].movement_label == "down 2 places"
    all_time = result.periods[-1]
    assert all_time.key == "all-time" and not all_time.compared
    assert [entry.name for entry in all_time.top_artists] == ["X", "Y", "W", "Z", "V"]
    assert {entry.movement for entry in all_time.top_artists} == {""}


def test_a_period_with_nothing_before_it_shows_no_movement() -> None:
    result = build(play(days_ago(5), artist="A"), play(days_ago(100), artist="B"))

    four_weeks, six_months = result.periods[0], result.periods[1]
    assert (four_weeks.compared, four_weeks.nothing_before) == (False, True)
    assert [entry.movement for entry in four_weeks.top_artists] == [""]
    assert (six_months.compared, six_months.nothing_before) == (False, True)
    page = render_page(result)
    assert page.count("; nothing to compare with yet.") == 2
    assert "arrows compare with" not in page and "NEW" not in page


def test_name_only_rows_join_the_uri_seen_elsewhere() -> None:
    result = build(
        play(days_ago(3), "Song", "Band", uri="spotify:track:1"),
        play(days_ago(2), "Song", "Band", uri="spotify:track:1"),
        play(days_ago(1), "song ", "BAND"),  # the basic export: names only
        play(days_ago(1), "Lonely", "band"),  # no uri anywhere: keyed by its names
        play(days_ago(1), "lonely", "Band"),
    )

    tracks = result.periods[-1].top_tracks
    assert [(entry.name, entry.detail, entry.plays) for entry in tracks] == [
        ("Song", "Band", 3),
        ("Lonely", "Band", 2),
    ]
    assert (result.unique_tracks, result.unique_artists) == (2, 1)
    assert result.periods[-1].top_artists[0].name == "Band"  # the most common spelling


def test_calendar_and_weekly_chart_count_days_and_weeks() -> None:
    result = build(
        play(datetime(2026, 11, 20, 12, tzinfo=UTC), ms=60 * 60_000),
        play(datetime(2026, 11, 20, 13, tzinfo=UTC), ms=30 * 60_000),
        play(datetime(2026, 11, 23, 9, tzinfo=UTC), ms=10_000),  # minutes count, plays do not
        play(datetime(2025, 11, 23, 9, tzinfo=UTC)),  # the day before the calendar starts
    )

    assert result.calendar_start == date(2025, 11, 24)  # a Monday, 52 weeks before this one
    assert len(result.calendar_minutes) == 365
    assert result.calendar_minutes[(date(2026, 11, 20) - result.calendar_start).days] == 90
    assert result.calendar_minutes[-1] == pytest.approx(10 / 60)
    assert sum(1 for minutes in result.calendar_minutes if minutes) == 2
    assert result.week_starts[-1] == date(2026, 11, 23)
    assert result.weekly_plays[-2:] == (2, 0)
    assert sum(result.weekly_plays) == 2
    calendar = ET.fromstring(result.charts["calendar"].svg)
    titled = {
        rect.findtext("{http://www.w3.org/2000/svg}title"): rect.get("class")
        for rect in calendar.iter("{http://www.w3.org/2000/svg}rect")
    }
    assert titled["Fri, Nov 20, 2026: 1 h 30 min"] == "level-3"
    assert titled["Mon, Nov 23, 2026: 0 min"] == "level-0"


def test_heatmap_counts_local_hours_across_daylight_saving_changes() -> None:
    result = build(
        play("2026-03-08T06:30:00.000Z"),  # 01:30 EST, Sunday
        play("2026-03-08T07:30:00.000Z"),  # 03:30 EDT: 02:00 to 03:00 did not happen
        play("2026-11-01T05:30:00.000Z"),  # 01:30 EDT
        play("2026-11-01T06:30:00.000Z"),  # 01:30 EST: the hour came twice
        play("2026-07-01T03:30:00.000Z"),  # Tuesday, June 30, 23:30 EDT
        tz=NEW_YORK,
    )

    sunday, tuesday = result.heatmap_plays[6], result.heatmap_plays[1]
    assert (sunday[1], sunday[2], sunday[3]) == (3, 0, 1)
    assert tuesday[23] == 1
    assert sum(map(sum, result.heatmap_plays)) == 5
    assert "Sun between 01:00 and 01:59 (3)" in result.charts["heatmap"].summary


def test_the_day_is_the_persons_day() -> None:
    late_sunday_in_new_york = play("2026-11-23T03:00:00.000Z")

    assert build(late_sunday_in_new_york).weekly_plays[-1] == 1
    assert build(late_sunday_in_new_york, tz=NEW_YORK).weekly_plays[-2:] == (1, 0)


def test_new_to_you_lists_the_artists_first_heard_each_month() -> None:
    result = build(
        play(datetime(2026, 9, 5, tzinfo=UTC), artist="A"),
        play(datetime(2026, 10, 2, tzinfo=UTC), artist="B"),
        play(datetime(2026, 10, 3, tzinfo=UTC), artist="a"),
        play(datetime(2026, 10, 9, tzinfo=UTC), artist="C"),
        play(datetime(2026, 11, 2, tzinfo=UTC), artist="D", ms=5_000),  # a skip: not heard yet
    )

    assert [(month.month, month.count, month.first_names) for month in result.new_artists] == [
        (date(2026, 11, 1), 0, ()),
        (date(2026, 10, 1), 2, ("B", "C")),
        (date(2026, 9, 1), 1, ("A",)),
    ]


def test_bad_rows_are_skipped_and_counted() -> None:
    result = build(
        play(days_ago(1)),
        play("yesterday"),
        play(""),
        play(days_ago(1), ms="abc"),
        play(days_ago(1), ms=-5),
        play(days_ago(1), duration="12x"),
    )

    assert (result.plays, result.skipped_rows) == (1, 5)


@pytest.mark.parametrize(
    "history",
    [
        history_module.compact_history([]),
        history_module.compact_history([pd.DataFrame(columns=list(PLAY_COLUMNS))]),
        history_of(play("garbage")),
    ],
    ids=["no months", "an empty month", "only bad rows"],
)
def test_an_empty_history_builds_empty_stats(history: stats.History) -> None:
    result = stats.build_stats(history, now=NOW, tz=NEW_YORK)

    assert result.empty
    assert (result.plays, result.unique_tracks, result.new_artists) == (0, 0, ())
    assert all(not period.top_tracks for period in result.periods)
    for chart in result.charts.values():
        ET.fromstring(chart.svg)


def test_pictures_are_well_formed_and_escape_text() -> None:
    odd = 'AC<DC> & "Friends"'
    result = build(
        play(days_ago(1), odd, odd, uri="spotify:track:odd"),
        play(days_ago(400), odd, odd),
    )

    for chart in result.charts.values():
        root = ET.fromstring(chart.svg)
        assert root.get("viewBox") and root.get("role") == "img"
        assert root.findtext("{http://www.w3.org/2000/svg}title")
        assert "style=" not in chart.svg  # the Content-Security-Policy forbids inline styles
    bars = svg_charts.new_artists_svg("id", [odd], [1], odd, odd)
    assert ET.fromstring(bars).findtext("{http://www.w3.org/2000/svg}title") == odd
    assert result.periods[-1].top_tracks[0].name == odd


@pytest.mark.parametrize(
    ("requested", "remembered", "expected"),
    [
        ("Europe/Paris", None, ("Europe/Paris", True)),
        ("Europe/Paris", "Asia/Tokyo", ("Europe/Paris", True)),
        (None, "Asia/Tokyo", ("Asia/Tokyo", True)),
        ("Mars/Olympus", "Asia/Tokyo", ("Asia/Tokyo", True)),
        ("../../etc/passwd", None, ("UTC", False)),
        ("", "", ("UTC", False)),
        ("x" * 10_000, None, ("UTC", False)),
        (None, None, ("UTC", False)),
    ],
)
def test_pick_timezone_falls_back_quietly(
    requested: str | None, remembered: str | None, expected: tuple[str, bool]
) -> None:
    zone, chosen = stats.pick_timezone(requested, remembered)

    assert (zone.key, chosen) == expected


def save_month(store: FolderStore, user_id: str, month: str, *rows: dict[str, str]) -> None:
    frame = pd.DataFrame(list(rows), columns=list(PLAY_COLUMNS))
    store.write(month_object(user_id, month), month_frame_bytes(frame))


def test_history_cache_reads_once_per_version_and_forgets_the_oldest(tmp_path: Path) -> None:
    store = FolderStore(tmp_path / "store")
    save_month(store, "ann", "2026-10", play("2026-10-02T10:00:00.000Z"))
    save_month(store, "ann", "2026-11", play("2026-11-02T10:00:00.000Z", "Two"))
    store.write(month_object("ann", "2026-09"), b'played_at\n"never closed\n')
    cache = history_module.HistoryCache(max_users=2)

    first = cache.get(store, "ann", 1)
    assert cache.get(store, "ann", 1) is first
    assert (len(first.played_ms), len(first.track_names), first.unreadable_months) == (2, 2, 1)

    save_month(store, "ann", "2026-11")
    assert len(cache.get(store, "ann", 2).played_ms) == 1
    cache.get(store, "bob", 1)
    cache.get(store, "cy", 1)
    assert cache.get(store, "ann", 2) is not first  # evicted: read again
    assert cache.nbytes < 10_000


class CountingStore(FolderStore):
    """A folder store that notes every object read."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: list[str] = []

    def read(self, name: str) -> StoredObject:
        self.reads.append(name.rsplit("/", 1)[-1])
        return super().read(name)


def same_history(one: stats.History, other: stats.History) -> bool:
    return (
        one.track_names == other.track_names
        and one.artist_names == other.artist_names
        and (one.skipped_rows, one.unreadable_months)
        == (other.skipped_rows, other.unreadable_months)
        and all(
            (getattr(one, name) == getattr(other, name)).all()
            for name in ("played_ms", "listened_ms", "counted", "track", "artist", "track_order")
        )
    )


def test_history_cache_rereads_only_the_months_that_changed(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "store")
    save_month(
        store, "ann", "2026-09", play("2026-09-02T10:00:00.000Z", "Old", uri="spotify:track:1")
    )
    save_month(store, "ann", "2026-10", play("2026-10-02T10:00:00.000Z", "Mid", "Other"))
    save_month(store, "ann", "2026-11", play("2026-11-02T10:00:00.000Z", "Old", ms="bad"))
    store.write(month_object("ann", "2026-08"), b'played_at\n"never closed\n')
    cache = history_module.HistoryCache()
    cache.get(store, "ann", 1)
    assert sorted(store.reads) == ["2026-08.csv", "2026-09.csv", "2026-10.csv", "2026-11.csv"]

    store.reads.clear()
    save_month(
        store,
        "ann",
        "2026-11",
        play("2026-11-02T10:00:00.000Z", "Old"),  # name only: takes the uri of September's Old
        play("2026-11-20T10:00:00.000Z", "New", "Other"),
    )
    changed = cache.get(store, "ann", 2)

    assert store.reads == ["2026-11.csv"]
    assert same_history(changed, history_module.HistoryCache().get(store, "ann", 2))
    assert sorted(changed.track_names) == ["Mid", "New", "Old"]  # one Old: the uri joined them
    assert (changed.skipped_rows, changed.unreadable_months) == (0, 1)

    store.reads.clear()
    store.delete(month_object("ann", "2026-10"))
    shrunk = cache.get(store, "ann", 3)
    assert cache.get(store, "ann", 4) is shrunk  # a new version, the same months: nothing read
    assert store.reads == []
    assert len(shrunk.played_ms) == 3 and "Mid" not in shrunk.track_names
    assert same_history(shrunk, history_module.HistoryCache().get(store, "ann", 3))
    assert cache.nbytes < 10_000


def test_stats_cache_keeps_a_day_per_timezone() -> None:
    history = history_of(play(days_ago(1)))
    cache = stats.StatsCache()

    first = cache.get("ann", 1, history, NOW, NEW_YORK)
    assert cache.get("ann", 1, history, NOW + timedelta(hours=1), NEW_YORK) is first
    assert cache.get("ann", 1, history, NOW, stats.UTC_ZONE) is not first
    assert cache.get("ann", 2, history, NOW, NEW_YORK) is not first


ZONES = [stats.UTC_ZONE, NEW_YORK, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("Asia/Kathmandu")]
names = st.sampled_from(["A", "a", "B", '<&"', "Zoë", ""])
rows = st.builds(
    play,
    played_at=st.one_of(
        st.datetimes(
            min_value=datetime(2024, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
        ),
        st.sampled_from(["", "soon", "2026-13-01T00:00:00Z"]),
    ),
    track=names,
    artist=names,
    uri=st.sampled_from(["", "spotify:track:1", "spotify:track:2"]),
    ms=st.one_of(st.integers(0, 400_000), st.sampled_from(["", "x", "-1", "1e3"])),
    duration=st.one_of(st.just(""), st.integers(0, 400_000)),
)


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(rows, max_size=60), zone=st.sampled_from(ZONES))
def test_totals_add_up_for_any_history(rows: list[dict[str, str]], zone: ZoneInfo) -> None:
    history = history_of(*rows)

    result = stats.build_stats(history, now=NOW, tz=zone)

    assert len(history.played_ms) + history.skipped_rows == len(rows)
    first_week = pd.Timestamp(result.week_starts[0])
    local_days = (
        pd.to_datetime(history.played_ms, unit="ms", utc=True).tz_convert(zone).tz_localize(None)
    ).normalize()
    in_weeks = (local_days >= first_week) & (local_days <= pd.Timestamp(result.today))
    assert sum(result.weekly_plays) == int((history.counted & in_weeks).sum())
    for period in result.periods:
        assert period.unique_tracks <= period.plays and period.unique_artists <= period.plays
        assert [entry.rank for entry in period.top_tracks] == list(
            range(1, len(period.top_tracks) + 1)
        )
    up_to_today = int((local_days <= pd.Timestamp(result.today)).sum())
    assert result.plays + result.short_plays == up_to_today
    assert sum(map(sum, result.heatmap_plays)) == result.plays
    assert sum(month.count for month in result.new_artists) <= result.unique_artists


def stats_page_app() -> Flask:
    """Return a bare app that can render the page: the endpoints the templates link, stubbed.

    The endpoints are read from the templates, so that a link added to the header (a new
    feature's page) needs no change here.
    """
    app = Flask(__name__, template_folder=str(TEMPLATES), static_folder=None)
    app.config["SECRET_KEY"] = "test"
    app.add_url_rule("/static/<path:filename>", "static", lambda filename: "")
    linked: dict[str, set[str]] = {}
    for template in ("base.html", "listening_stats.html"):
        text = (TEMPLATES / template).read_text()
        for name, endpoint in re.findall(r"url_for\('([a-z_]+)\.([a-z_]+)'", text):
            linked.setdefault(name, set()).add(endpoint)
    for name, endpoints in linked.items():
        blueprint = Blueprint(name, __name__, url_prefix=f"/{name}")
        for endpoint in sorted(endpoints):
            blueprint.add_url_rule(f"/{endpoint}", endpoint, lambda: "")
        app.register_blueprint(blueprint)
    app.jinja_env.globals["csrf_token"] = lambda: "token"
    return app


def render_page(
    result: stats.Stats, tz_name: str = "UTC", tz_chosen: bool = True, query: str = ""
) -> str:
    app = stats_page_app()
    with app.test_request_context(f"/listening/stats{query}"):
        return render_template(
            "listening_stats.html",
            user={"name": "Ann"},
            stats=result,
            tz_name=tz_name,
            tz_chosen=tz_chosen,
            timezones=stats.TIMEZONES,
        )


def test_the_page_shows_lists_pictures_and_escaped_names() -> None:
    odd = 'AC<DC> & "Friends"'
    result = build(
        play(days_ago(1), odd, odd),
        play(days_ago(40), "Old", "Before"),
        play("never"),
        tz=NEW_YORK,
    )

    page = render_page(result, "America/New_York", tz_chosen=False)

    assert 'data-tz-chosen="0"' in page
    assert 'id="total-plays">2<' in page
    assert "AC&lt;DC&gt; &amp; &#34;Friends&#34;" in page and odd not in page
    assert page.count("<svg") == 4
    assert 'id="skipped-rows"' in page
    assert 'href="/listening/download"' in page and 'href="/listening/page"' in page
    assert '<option value="Europe/Paris">' in page
    assert "NEW" in page


def test_the_page_of_someone_with_no_plays_is_friendly() -> None:
    result = stats.build_stats(history_module.compact_history([]), now=NOW, tz=stats.UTC_ZONE)

    page = render_page(result)

    assert 'id="no-plays"' in page and "<svg" not in page
    assert 'data-tz-chosen="1"' in page


@pytest.mark.parametrize(
    ("query", "tz_name", "notice"),
    [
        ("?tz=Tokyo", "UTC", "“Tokyo” is not a timezone name; showing UTC."),
        ("?tz=%3Cb%3E", "UTC", "“&lt;b&gt;” is not a timezone name; showing UTC."),
        ("?tz=Asia/Tokyo", "Asia/Tokyo", None),
        ("?tz=", "UTC", None),
        ("", "Europe/Paris", None),
    ],
    ids=["unknown", "escaped", "known", "empty", "none asked"],
)
def test_the_page_says_when_it_refused_a_timezone(
    query: str, tz_name: str, notice: str | None
) -> None:
    page = render_page(build(play(days_ago(1))), tz_name, query=query)

    if notice is None:
        assert 'id="tz-refused"' not in page
    else:
        assert 'id="tz-refused"' in page and notice in page
        assert "Try a name like Asia/Tokyo" in page


def test_the_wide_charts_scroll_at_their_own_size() -> None:
    result = build(play(days_ago(1)))

    page = render_page(result)

    for chart_id in ("weekly-plays", "listening-calendar"):
        assert '<div class="chart-scroll" tabindex="0"' in page
        svg = ET.fromstring(
            result.charts["weekly" if chart_id == "weekly-plays" else "calendar"].svg
        )
        width = float(svg.attrib["width"])
        assert svg.attrib["viewBox"].split()[2] == svg.attrib["width"]
        assert f'"><svg class="listening-chart" id="{chart_id}"' in page
        assert width >= 600  # a phone scrolls it rather than shrinking its labels below 10 px
    assert page.count('class="chart-scroll"') == 2
    css = (TEMPLATES.parent / "static" / "style.css").read_text()
    assert ".chart-scroll { max-width: 100%; overflow-x: auto;" in css
    assert ".chart-scroll svg.listening-chart { width: auto; min-width: 100%; }" in css
    assert (
        "scrollLeft = boxes[index].scrollWidth"
        in (TEMPLATES.parent / "static" / "stats.js").read_text()
    )


CELL = st.text(
    alphabet=st.one_of(
        st.sampled_from(["\r", "\n", '"', ",", "\x00", " ", "é", "🎸"]),
        st.characters(blacklist_categories=("Cs",)),
    ),
    max_size=12,
)


@settings(max_examples=150)
@given(
    st.lists(st.lists(CELL, min_size=len(PLAY_COLUMNS), max_size=len(PLAY_COLUMNS)), max_size=6),
    st.sampled_from(["\r\n", "\n"]),  # month files written now, and before CRLF
)
def test_a_small_month_reads_the_same_by_the_csv_module_as_by_pandas(
    rows: list[list[str]], line_end: str
) -> None:
    frame = pd.DataFrame(rows, columns=list(PLAY_COLUMNS), dtype=str)
    data = frame.to_csv(index=False, lineterminator=line_end).encode()
    try:
        by_pandas = read_month_frame(data).to_numpy().tolist()
    except ValueError:
        by_pandas = None
    try:
        small = history_module._small_month_rows(data)
    except (ValueError, csv.Error):
        small = None

    assert small == by_pandas
