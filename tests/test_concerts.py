"""The concerts dataset: one row per performer, upcoming only, deduped, failed states kept."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from etl.concerts import build_concerts, carry_over, dedupe_events, event_identity
from etl.sources import Event
from etl.sources import seatgeek as sg
from etl.sources import ticketmaster as tm
from shared.datasets import CONCERTS, load_dataset, parse_csv, save_dataset
from shared.names import normalize_name
from shared.storage import FolderStore
from tests.test_event_sources import SEATGEEK_EVENT, TICKETMASTER_EVENT

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_rows_per_performer_keep_headliner_billing_and_types() -> None:
    event = sg.parse_event(SEATGEEK_EVENT)

    frame = build_concerts([event], now=NOW, fetched_at=NOW)

    assert list(frame.columns[: len(CONCERTS.column_names)]) == CONCERTS.column_names
    assert frame["performer_name"].tolist() == [
        "Bruce Springsteen & The E Street Band",
        "Yes Tribute",
        "Dana Whitlock",
    ]
    assert frame["is_headliner"].tolist() == [True, False, False]
    assert frame["billing_order"].tolist() == [1, 2, 3]
    assert frame["performer_kind"].tolist() == ["band", "band", "comedy"]
    assert set(frame["event_id"]) == {"7000001"}
    assert frame["starts_at"].iloc[0] == "2026-12-06T01:30:00Z"
    assert frame["starts_at_local"].iloc[0] == "2026-12-05T20:30:00"
    assert frame["source_spotify_artist_id"].tolist() == ["3eqjTLE0HfPfh78zjh6TqT", "", ""]
    assert frame["genres"].iloc[0] == "rock"
    assert frame["fetched_at"].iloc[0] == "2026-11-20T12:00:00Z"


def test_past_events_are_dropped_but_today_without_a_time_is_kept() -> None:
    upcoming = sg.parse_event(SEATGEEK_EVENT)
    past = dataclasses.replace(upcoming, event_id="past", starts_at=NOW - timedelta(hours=1))
    today_tbd = dataclasses.replace(
        upcoming, event_id="tbd", starts_at=NOW - timedelta(hours=7), time_tbd=True
    )

    frame = build_concerts([upcoming, past, today_tbd], now=NOW, fetched_at=NOW)

    assert set(frame["event_id"]) == {"7000001", "tbd"}


def test_a_performer_listed_twice_in_one_event_is_one_row() -> None:
    raw = copy.deepcopy(SEATGEEK_EVENT)
    raw["performers"].append({"id": 9, "name": "yes tribute", "primary": False})

    frame = build_concerts([sg.parse_event(raw)], now=NOW, fetched_at=NOW)

    assert len(frame) == 3


def test_same_event_from_both_sources_is_kept_once_with_both_links() -> None:
    from_seatgeek = sg.parse_event(SEATGEEK_EVENT)
    raw = copy.deepcopy(TICKETMASTER_EVENT)
    raw["_embedded"]["attractions"][0]["name"] = "BRUCE SPRINGSTEEN and the E-Street Band"
    raw["_embedded"]["attractions"][1]["externalLinks"] = {
        "spotify": [{"url": "https://open.spotify.com/artist/7AC976RDJzL2asmZuz7qil"}]
    }
    raw["_embedded"]["attractions"][1]["name"] = "Dana Whitlock"
    from_ticketmaster = tm.parse_event(raw)

    kept, duplicates = dedupe_events([from_seatgeek, from_ticketmaster])

    assert event_identity(from_seatgeek) == event_identity(from_ticketmaster)
    assert duplicates == 1 and len(kept) == 1
    assert kept[0].source == "seatgeek"
    assert [p.spotify_artist_id for p in kept[0].performers] == [
        "3eqjTLE0HfPfh78zjh6TqT",
        "",
        "7AC976RDJzL2asmZuz7qil",
    ]


def test_different_start_or_venue_is_a_different_event() -> None:
    event = sg.parse_event(SEATGEEK_EVENT)
    later = dataclasses.replace(event, event_id="2", starts_at_local="2026-12-05T22:00:00")
    elsewhere = dataclasses.replace(
        event, event_id="3", venue=dataclasses.replace(event.venue, name="Other Hall")
    )

    kept, duplicates = dedupe_events([event, later, elsewhere])

    assert duplicates == 0 and len(kept) == 3


def tbd(event: Event, event_id: str = "tbd") -> Event:
    """Return the same listing as a source that does not know the start time yet lists it."""
    return dataclasses.replace(
        event,
        event_id=event_id,
        starts_at=datetime(2026, 12, 5, 5, 0, tzinfo=UTC),
        starts_at_local="2026-12-05",
        time_tbd=True,
    )


def test_a_listing_without_a_time_merges_with_the_timed_one_and_takes_its_start() -> None:
    timed = sg.parse_event(SEATGEEK_EVENT)
    raw = copy.deepcopy(TICKETMASTER_EVENT)
    raw["_embedded"]["attractions"][0]["name"] = "Bruce Springsteen and the E Street Band"
    del raw["_embedded"]["attractions"][0]["externalLinks"]
    no_time = tbd(tm.parse_event(raw))

    tbd_first, tbd_duplicates = dedupe_events([no_time, timed])
    timed_first, timed_duplicates = dedupe_events([timed, no_time])

    assert tbd_duplicates == timed_duplicates == 1
    # The first source's listing is kept; its start is the one a source knows.
    assert tbd_first[0].source == "ticketmaster" and tbd_first[0].time_tbd is False
    assert tbd_first[0].starts_at_local == "2026-12-05T20:30:00"
    assert tbd_first[0].starts_at == datetime(2026, 12, 6, 1, 30, tzinfo=UTC)
    assert tbd_first[0].performers[0].spotify_artist_id == "3eqjTLE0HfPfh78zjh6TqT"
    assert timed_first[0].source == "seatgeek" and timed_first[0].time_tbd is False
    assert timed_first[0].starts_at_local == "2026-12-05T20:30:00"


def test_a_matinee_and_an_evening_show_stay_two_and_a_listing_without_a_time_joins_one() -> None:
    evening = sg.parse_event(SEATGEEK_EVENT)
    matinee = dataclasses.replace(
        evening,
        event_id="matinee",
        starts_at=datetime(2026, 12, 5, 19, 0, tzinfo=UTC),
        starts_at_local="2026-12-05T14:00:00",
    )
    next_day = dataclasses.replace(tbd(evening, "next-day"), starts_at_local="2026-12-06")

    kept, duplicates = dedupe_events([matinee, evening, tbd(evening), next_day])

    assert [e.event_id for e in kept] == ["matinee", "7000001", "next-day"]
    assert duplicates == 1


def test_two_listings_without_a_time_are_one_show() -> None:
    event = tbd(sg.parse_event(SEATGEEK_EVENT))

    kept, duplicates = dedupe_events([event, tbd(event, "other-source")])

    assert duplicates == 1 and len(kept) == 1 and kept[0].time_tbd is True


def test_rows_say_the_performers_kind_and_whether_the_title_named_them(tmp_path: Path) -> None:
    raw = copy.deepcopy(TICKETMASTER_EVENT)
    del raw["_embedded"]["attractions"]
    raw["name"] = "Sigur Ros with Low"
    events = [sg.parse_event(SEATGEEK_EVENT), tm.parse_event(raw)]

    frame = build_concerts(events, now=NOW, fetched_at=NOW)
    store = FolderStore(tmp_path)
    save_dataset(store, CONCERTS, frame)
    saved, _ = load_dataset(store, CONCERTS)

    assert list(frame.columns) == CONCERTS.column_names
    assert frame[["performer_name", "performer_kind", "performer_from_title"]].values.tolist() == [
        ["Bruce Springsteen & The E Street Band", "band", False],
        ["Yes Tribute", "band", False],
        ["Dana Whitlock", "comedy", False],
        ["Sigur Ros", "", True],
        ["Low", "", True],
    ]
    assert saved["performer_from_title"].tolist() == [False, False, False, True, True]
    assert saved["performer_kind"].tolist() == ["band", "band", "comedy", "", ""]


def test_a_concerts_file_written_before_the_new_columns_reads_them_empty() -> None:
    frame = build_concerts([sg.parse_event(SEATGEEK_EVENT)], now=NOW, fetched_at=NOW)
    old = frame.drop(columns=["performer_kind", "performer_from_title"])

    read = parse_csv(old.to_csv(index=False).encode(), CONCERTS)

    assert read["performer_kind"].tolist() == ["", "", ""]
    assert read["performer_from_title"].tolist() == [False, False, False]


def frame_of(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    base = build_concerts([sg.parse_event(SEATGEEK_EVENT)], now=NOW, fetched_at=NOW).iloc[:1]
    frames = []
    for event_id, state, source, starts in rows:
        row = base.copy()
        row["event_id"], row["venue_state"], row["source"], row["starts_at"] = (
            event_id,
            state,
            source,
            starts,
        )
        frames.append(row)
    return pd.concat(frames, ignore_index=True)


def test_failed_and_unvisited_states_keep_their_upcoming_previous_rows() -> None:
    previous = frame_of(
        [
            ("ny-old", "NY", "seatgeek", "2026-12-01T00:00:00Z"),
            ("ny-tm", "NY", "ticketmaster", "2026-12-01T00:00:00Z"),
            ("ny-past", "NY", "seatgeek", "2026-11-01T00:00:00Z"),
            ("ca-old", "CA", "seatgeek", "2026-12-01T00:00:00Z"),
            ("tx-old", "TX", "seatgeek", "2026-12-01T00:00:00Z"),
        ]
    )
    fresh = frame_of(
        [
            ("ca-new", "CA", "seatgeek", "2026-12-02T00:00:00Z"),
            ("ny-tm-new", "NY", "ticketmaster", "2026-12-02T00:00:00Z"),
        ]
    )

    merged, carried = carry_over(
        previous, fresh, failed={("NY", "seatgeek")}, states_run=["NY", "CA"], now=NOW
    )

    assert sorted(merged["event_id"]) == ["ca-new", "ny-old", "ny-tm-new", "tx-old"]
    assert carried == 2


def test_a_failed_state_keeps_todays_show_that_has_no_time_yet() -> None:
    previous = frame_of(
        [
            ("today-tba", "NY", "seatgeek", "2026-11-20T05:00:00Z"),  # local midnight, NOW is noon
            ("yesterday-tba", "NY", "seatgeek", "2026-11-19T05:00:00Z"),
            ("today-timed-past", "NY", "seatgeek", "2026-11-20T05:00:00Z"),
        ]
    )
    previous["time_tbd"] = [True, True, False]

    merged, carried = carry_over(
        previous, previous.iloc[:0], failed={("NY", "seatgeek")}, states_run=["NY"], now=NOW
    )

    assert merged["event_id"].tolist() == ["today-tba"] and carried == 1


def test_normalize_name() -> None:
    assert normalize_name("The Killers") == normalize_name("killers") == "killers"
    assert normalize_name("Simon & Garfunkel") == normalize_name("Simon and Garfunkel")
    assert normalize_name("Beyoncé") == "beyonce"
    assert normalize_name("AC/DC") == "acdc"
    assert normalize_name("The") == "the"
