"""Chart history from daily snapshots (issue 18): ranks, movement, re-entries, rebuilds."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.charts import add_to_history
from shared.chart_history import (
    RE_ENTRY,
    ChartOrderError,
    add_day,
    build_history,
    churn,
    empty_history,
    latest_chart,
    movement,
    rank_series,
)
from shared.charts import (
    CHART_PEOPLE,
    ChartsError,
    ChartsRecord,
    TrackedPlaylist,
    delete_person_charts,
    has_snapshot,
    load_history,
    load_snapshot,
    parse_chart_playlists,
    playlist_id_of,
    rebuild_history,
    save_history,
    save_snapshot,
    snapshot_days,
    snapshot_rows,
)
from shared.spotify_records import PlaylistItem, TrackRecord
from shared.storage import IF_ABSENT, FolderStore

PLAYLIST = "37i9dQZEVXbMDoHDwVN2tF"


def snapshot(*track_ids: str) -> pd.DataFrame:
    """A day's snapshot listing these tracks in this order."""
    return pd.DataFrame(
        {
            "position": range(1, len(track_ids) + 1),
            "track_id": list(track_ids),
            "track_name": [f"song {t}" for t in track_ids],
            "artist_names": [f"artist {t}" for t in track_ids],
            "album_name": "",
            "added_at": "",
            "duration_ms": 200_000,
            "captured_at": "",
        }
    )


def rows_of(history: pd.DataFrame, day: str) -> list[tuple[str, int, str, int, int, str, str]]:
    day_rows = history[history["day"] == day].sort_values("rank")
    return [
        (t, int(r), str(p), int(k), int(d), str(f), str(last))
        for t, r, p, k, d, f, last in zip(
            day_rows["track_id"],
            day_rows["rank"],
            day_rows["previous_rank"],
            day_rows["peak_rank"],
            day_rows["days_on_chart"],
            day_rows["first_seen"],
            day_rows["last_seen"],
            strict=True,
        )
    ]


def test_history_keeps_rank_previous_rank_peak_days_and_re_entries() -> None:
    history = build_history(
        [
            ("2026-11-01", snapshot("a", "b", "c")),
            ("2026-11-02", snapshot("b", "a", "d")),
            ("2026-11-04", snapshot("c", "b", "a")),  # 11-03 missed: compares with 11-02
        ]
    )
    assert rows_of(history, "2026-11-01") == [
        ("a", 1, "", 1, 1, "2026-11-01", "2026-11-04"),
        ("b", 2, "", 2, 1, "2026-11-01", "2026-11-04"),
        ("c", 3, "", 3, 1, "2026-11-01", "2026-11-04"),
    ]
    assert rows_of(history, "2026-11-02") == [
        ("b", 1, "2", 1, 2, "2026-11-01", "2026-11-04"),
        ("a", 2, "1", 1, 2, "2026-11-01", "2026-11-04"),
        ("d", 3, "", 3, 1, "2026-11-02", "2026-11-02"),
    ]
    assert rows_of(history, "2026-11-04") == [
        ("c", 1, RE_ENTRY, 1, 2, "2026-11-01", "2026-11-04"),
        ("b", 2, "1", 1, 3, "2026-11-01", "2026-11-04"),
        ("a", 3, "2", 1, 3, "2026-11-01", "2026-11-04"),
    ]
    assert list(churn(history).itertuples(index=False, name=None)) == [
        ("2026-11-01", 3, 0),
        ("2026-11-02", 1, 1),
        ("2026-11-04", 1, 1),
    ]
    assert rank_series(history, "d") == [
        ("2026-11-01", None),
        ("2026-11-02", 3),
        ("2026-11-04", None),
    ]
    chart = latest_chart(history)
    assert list(zip(chart["track_id"], chart["movement"], strict=True)) == [
        ("c", "RE"),
        ("b", "▼ 1"),
        ("a", "▼ 1"),
    ]


def test_a_track_listed_twice_counts_once_at_its_first_place() -> None:
    history = build_history([("2026-11-01", snapshot("a", "b", "a", "c"))])
    assert rows_of(history, "2026-11-01")[2][:2] == ("c", 3)
    assert len(history) == 3


@pytest.mark.parametrize(
    ("previous", "rank", "said"),
    [("", 4, "NEW"), (RE_ENTRY, 4, "RE"), ("7", 4, "▲ 3"), ("2", 4, "▼ 2"), ("4", 4, "=")],
)
def test_movement_is_said_as_the_charts_say_it(previous: str, rank: int, said: str) -> None:
    assert movement(previous, rank) == said


def test_a_day_already_in_the_history_is_refused() -> None:
    history = build_history([("2026-11-02", snapshot("a"))])
    with pytest.raises(ChartOrderError):
        add_day(history, "2026-11-02", snapshot("b"))
    with pytest.raises(ChartOrderError):
        add_day(history, "2026-11-01", snapshot("b"))


TRACKS = st.sampled_from([f"t{n}" for n in range(12)])
DAYS = st.lists(
    st.lists(TRACKS, max_size=8),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(charts=DAYS, gaps=st.lists(st.integers(1, 3), min_size=12, max_size=12))
def test_a_history_built_day_by_day_equals_one_rebuilt_from_the_snapshots(
    charts: list[list[str]], gaps: list[int]
) -> None:
    days, ordinal = [], pd.Timestamp("2026-01-01").toordinal()
    for gap in gaps[: len(charts)]:
        ordinal += gap
        days.append(pd.Timestamp.fromordinal(ordinal).strftime("%Y-%m-%d"))
    snapshots = [(day, snapshot(*tracks)) for day, tracks in zip(days, charts, strict=True)]
    step, previous_day = empty_history(), ""
    for day, frame in snapshots:
        step = add_day(step, day, frame, previous_day=previous_day)
        previous_day = day
    rebuilt = build_history(reversed(snapshots))
    pd.testing.assert_frame_equal(step, rebuilt)
    for track_id, rows in step.groupby("track_id"):
        assert list(rows["days_on_chart"]) == list(range(1, len(rows) + 1)), track_id
        assert list(rows["peak_rank"]) == list(rows["rank"].cummin())
        assert set(rows["last_seen"]) == {rows["day"].max()}
    for day, tracks in zip(days, charts, strict=True):
        on_day = step[step["day"] == day]
        assert list(on_day.sort_values("rank")["track_id"]) == list(dict.fromkeys(tracks))


def test_snapshot_rows_skip_and_count_what_is_not_a_track() -> None:
    track = TrackRecord("4uLU6hMCjMI75M1A2tKUQC", "Song", ("a1",), ("Ann", "Bo"), "LP", "", 201000)
    items = [
        PlaylistItem(0, "2026-11-01T00:00:00Z", track),
        PlaylistItem(1, "2026-11-01T00:00:00Z", None, "episode"),
        PlaylistItem(2, "", None, "local"),
        PlaylistItem(3, "", None, "removed"),
    ]
    frame, skipped = snapshot_rows(items, "2026-11-02T06:00:00Z")
    assert frame.to_dict("records") == [
        {
            "position": 1,
            "track_id": "4uLU6hMCjMI75M1A2tKUQC",
            "track_name": "Song",
            "artist_names": "Ann; Bo",
            "album_name": "LP",
            "added_at": "2026-11-01T00:00:00Z",
            "duration_ms": 201000,
            "captured_at": "2026-11-02T06:00:00Z",
        }
    ]
    assert skipped == {"episode": 1, "local": 1, "removed": 1}


def test_a_day_is_snapshotted_once_and_the_history_rebuilds_from_the_files(
    folder_store: FolderStore,
) -> None:
    assert save_snapshot(folder_store, PLAYLIST, "2026-11-02", snapshot("b", "a"))
    assert not save_snapshot(folder_store, PLAYLIST, "2026-11-02", snapshot("z"))
    assert save_snapshot(folder_store, PLAYLIST, "2026-11-01", snapshot("a", "b"))
    assert list(load_snapshot(folder_store, PLAYLIST, "2026-11-02")["track_id"]) == ["b", "a"]
    assert snapshot_days(folder_store, PLAYLIST) == ["2026-11-01", "2026-11-02"]
    assert has_snapshot(folder_store, PLAYLIST, "2026-11-01")
    rebuilt = rebuild_history(folder_store, PLAYLIST)
    loaded, generation = load_history(folder_store, PLAYLIST)
    assert generation is not None
    assert list(loaded["previous_rank"]) == ["", "", "2", "1"]
    assert list(loaded["track_id"]) == list(rebuilt["track_id"])
    grown = add_day(loaded, "2026-11-03", snapshot("c"))
    save_history(folder_store, PLAYLIST, grown, if_generation_match=generation)
    assert list(load_history(folder_store, PLAYLIST)[0]["last_seen"]) == [
        "2026-11-02",
        "2026-11-02",
        "2026-11-02",
        "2026-11-02",
        "2026-11-03",
    ]
    save_history(folder_store, "0" * 22, grown, if_generation_match=IF_ABSENT)


@pytest.mark.parametrize(
    ("text", "playlist_id"),
    [
        ("37i9dQZEVXbMDoHDwVN2tF", "37i9dQZEVXbMDoHDwVN2tF"),
        (" spotify:playlist:37i9dQZEVXbLRQDuF5jeBp ", "37i9dQZEVXbLRQDuF5jeBp"),
        (
            "https://open.spotify.com/playlist/37i9dQZEVXbLiRSasKsNU9?si=abc",
            "37i9dQZEVXbLiRSasKsNU9",
        ),
        (
            "https://open.spotify.com/intl-de/playlist/37i9dQZEVXbLiRSasKsNU9",
            "37i9dQZEVXbLiRSasKsNU9",
        ),
    ],
)
def test_a_playlist_is_named_by_id_uri_or_link(text: str, playlist_id: str) -> None:
    assert playlist_id_of(text) == playlist_id


@pytest.mark.parametrize(
    "text",
    ["", "top50", "https://evil.example/playlist/37i9dQZEVXbLiRSasKsNU9", "../../etc/passwd" * 2],
)
def test_anything_else_is_refused_by_name(text: str) -> None:
    with pytest.raises(ChartsError):
        playlist_id_of(text)


def test_the_setting_lists_playlists_once_in_order() -> None:
    raw = "37i9dQZEVXbMDoHDwVN2tF, spotify:playlist:37i9dQZEVXbLRQDuF5jeBp 37i9dQZEVXbMDoHDwVN2tF"
    assert parse_chart_playlists(raw) == ("37i9dQZEVXbMDoHDwVN2tF", "37i9dQZEVXbLRQDuF5jeBp")
    assert parse_chart_playlists("") == ()


def test_a_snapshot_that_never_reached_the_history_is_taken_in_by_a_rebuild(
    folder_store: FolderStore,
) -> None:
    save_snapshot(folder_store, PLAYLIST, "2026-11-01", snapshot("a", "b"))
    rebuild_history(folder_store, PLAYLIST)
    save_snapshot(folder_store, PLAYLIST, "2026-11-02", snapshot("b"))  # its run died here
    save_snapshot(folder_store, PLAYLIST, "2026-11-03", snapshot("a", "b"))

    add_to_history(folder_store, PLAYLIST, "2026-11-03", snapshot("a", "b"))

    history = load_history(folder_store, PLAYLIST)[0]
    assert rows_of(history, "2026-11-03")[0][:3] == ("a", 1, RE_ENTRY)
    assert sorted(set(history["day"])) == ["2026-11-01", "2026-11-02", "2026-11-03"]


def test_a_damaged_record_of_another_person_still_keeps_the_files_it_names(
    folder_store: FolderStore,
) -> None:
    save_snapshot(folder_store, PLAYLIST, "2026-11-01", snapshot("a"))
    tracked = (TrackedPlaylist(PLAYLIST, "Top", ""),)
    CHART_PEOPLE.put(folder_store, ChartsRecord("ann", "sealed", playlists=tracked))
    folder_store.write(CHART_PEOPLE.object("bo"), f'{{"playlists": ["{PLAYLIST}"'.encode())

    delete_person_charts(folder_store, "ann", ())

    assert snapshot_days(folder_store, PLAYLIST) == ["2026-11-01"]
    assert folder_store.generation(CHART_PEOPLE.object("ann")) is None


def test_a_history_with_a_missing_value_is_damaged_not_a_type_error() -> None:
    from shared.chart_history import HistoryDamagedError

    history = build_history([("2026-11-01", snapshot("a", "b"))])
    history["rank"] = history["rank"].astype("Int64")
    history.loc[0, "rank"] = pd.NA  # how load_dataset reads a cell it cannot parse

    with pytest.raises(HistoryDamagedError, match="rank"):
        add_day(history, "2026-11-02", snapshot("a"))


@pytest.mark.parametrize(
    "damage", [b"\xff\xfe not csv", b"day,rank\n2026-11-01,1\n", b"day,rank,track_id\n"]
)
def test_a_damaged_history_file_is_rebuilt_from_the_snapshots(
    folder_store: FolderStore, damage: bytes
) -> None:
    save_snapshot(folder_store, PLAYLIST, "2026-11-01", snapshot("a", "b"))
    save_snapshot(folder_store, PLAYLIST, "2026-11-02", snapshot("b", "a"))
    folder_store.write(f"charts/{PLAYLIST}/history.csv", damage)

    assert add_to_history(folder_store, PLAYLIST, "2026-11-02", snapshot("b", "a")) == []

    history = load_history(folder_store, PLAYLIST)[0]
    assert rows_of(history, "2026-11-02")[0][:3] == ("b", 1, "2")
