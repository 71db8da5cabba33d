"""Datasets keep any text intact, refuse files that fail their schema, and names arrive clean."""

from __future__ import annotations

import copy
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask import Flask
from hypothesis import example, given, settings
from hypothesis import strategies as st

from etl.concerts import build_concerts, carry_over
from etl.service import create_app
from etl.sources import seatgeek as sg
from etl.sources import ticketmaster as tm
from etl.track_plan import plan_performers
from sandbox.server import SandboxServer
from shared.config import load_settings
from shared.datasets import (
    ARTISTS,
    BACKUPS,
    CONCERTS,
    OVERRIDES,
    TOP_TRACKS,
    Dataset,
    DatasetSchemaError,
    backups_of,
    load_dataset,
    parse_csv,
    save_dataset,
)
from shared.names import clean_text
from shared.spotify_records import parse_artist, parse_playlist, parse_track
from shared.storage import FolderStore
from tests.conftest import BASE_ENV
from tests.etl_cli import run_cli
from tests.test_event_sources import SEATGEEK_EVENT, TICKETMASTER_EVENT

NOW = datetime(2026, 11, 20, tzinfo=UTC)
DATASETS = [CONCERTS, ARTISTS, TOP_TRACKS, OVERRIDES, BACKUPS]
NOT_TEXT = {"int": 7, "float": 1.5, "bool": True}
NASTY = ["\r=1+1", "\r", "\n", "\r\n", "a\rb", "\x00", '"', '""x', ",", "=SUM(A1)", " ", ""]

# Any text, surrogates excluded (they cannot be UTF-8), with the characters that broke CSV
# before drawn often.
any_text = st.one_of(
    st.text(), st.sampled_from(NASTY), st.lists(st.sampled_from(NASTY)).map("".join)
)


def text_columns(dataset: Dataset) -> list[str]:
    return [column for column, kind in dataset.columns if kind == "str"]


@st.composite
def dataset_rows(draw: st.DrawFn) -> tuple[Dataset, list[dict[str, Any]]]:
    dataset = draw(st.sampled_from(DATASETS))
    rows = draw(
        st.lists(
            st.fixed_dictionaries({column: any_text for column in text_columns(dataset)}),
            min_size=1,
            max_size=4,
        )
    )
    typed = {column: NOT_TEXT[kind] for column, kind in dataset.columns if kind != "str"}
    return dataset, [{**typed, **row} for row in rows]


@settings(max_examples=200, deadline=None)
@given(dataset_rows())
@example((backups_of("alice"), [dict.fromkeys(text_columns(BACKUPS), "\r=1+1") | {"position": 1}]))
def test_any_text_in_any_dataset_round_trips(drawn: tuple[Dataset, list[dict[str, Any]]]) -> None:
    dataset, rows = drawn
    with tempfile.TemporaryDirectory() as folder:
        store = FolderStore(Path(folder))
        save_dataset(store, dataset, pd.DataFrame(rows, columns=dataset.column_names))

        loaded, _ = load_dataset(store, dataset)
        as_categories, _ = load_dataset(store, dataset, text_as_category=True)

    columns = text_columns(dataset)
    expected = [{column: row[column] for column in columns} for row in rows]
    assert loaded[columns].to_dict("records") == expected
    assert as_categories[columns].astype(str).to_dict("records") == expected


def test_a_carriage_return_is_quoted_in_the_file(folder_store: FolderStore) -> None:
    row = dict.fromkeys(text_columns(BACKUPS), "x") | {"position": 1, "track_name": "\r=1+1"}
    save_dataset(folder_store, backups_of("alice"), pd.DataFrame([row]))

    data = folder_store.read("backups/alice.csv").data

    assert b',"\r=1+1",' in data
    assert data.count(b"\r\n") == 2  # the header's end and the row's


def test_a_file_written_with_lf_line_ends_still_loads(folder_store: FolderStore) -> None:
    folder_store.write(OVERRIDES.name, b'performer_key,spotify_artist_id\nthe weeknd,"a\nb"\n')

    frame, _ = load_dataset(folder_store, OVERRIDES)

    assert frame.to_dict("records") == [
        {"performer_key": "the weeknd", "spotify_artist_id": "a\nb"}
    ]


def header_without(dataset: Dataset, *dropped: str) -> str:
    return ",".join(column for column in dataset.column_names if column not in dropped)


@pytest.mark.parametrize(
    ("dataset", "data", "message"),
    [
        (
            ARTISTS,
            header_without(ARTISTS, "spotify_artist_id").encode() + b"\n",
            "datasets/artists.csv lacks the required column spotify_artist_id",
        ),
        (
            CONCERTS,
            header_without(CONCERTS, "venue_state").encode() + b"\n",
            "datasets/concerts.csv lacks the required column venue_state",
        ),
        (
            TOP_TRACKS,
            header_without(TOP_TRACKS, "rank", "isrc").encode() + b"\n",
            "datasets/top_tracks.csv lacks the required columns rank, isrc",
        ),
        (OVERRIDES, b"performer_key\nthe weeknd\n", "overrides/artists.csv lacks .* spotify_"),
        (OVERRIDES, b"performer_key,spotify_artist_id\n\xff\xfe,a\n", "not readable UTF-8 CSV"),
        (OVERRIDES, b'performer_key,spotify_artist_id\n"unclosed,a\n', "not readable UTF-8 CSV"),
        (OVERRIDES, b"performer_key,spotify_artist_id\na,b,c\n", "not readable UTF-8 CSV"),
        (OVERRIDES, b"\x89PNG\r\n\x1a\n\x00\x00", "overrides/artists.csv"),
    ],
)
def test_a_file_that_fails_its_schema_is_refused_by_name(
    dataset: Dataset, data: bytes, message: str
) -> None:
    with pytest.raises(DatasetSchemaError, match=message) as raised:
        parse_csv(data, dataset)

    assert raised.value.dataset == dataset.name


def test_a_file_without_optional_columns_loads_them_empty() -> None:
    header = ",".join(CONCERTS.required_column_names)
    row = "e1,seatgeek,t,u,2026-12-01T00:00:00Z,2026-12-01,false,v,c,NY,1,1,1,p1,Low,true,1,,,x"

    frame = parse_csv(f"{header}\n{row}\n".encode(), CONCERTS)

    assert frame[["performer_key", "performer_kind", "performer_from_title"]].values.tolist() == [
        ["", "", False]
    ]


def etl_app(sandbox: SandboxServer, store: FolderStore) -> Flask:
    env = {**BASE_ENV, **sandbox.settings_env(), "DATA_URL": str(store.root), "ETL_STATES": "RI"}
    return create_app(load_settings(env), store)


def files(store: FolderStore) -> dict[str, bytes]:
    return {name: store.read(name).data for name in store.list("datasets/")}


@pytest.mark.parametrize(
    ("dataset", "column"), [(ARTISTS, "spotify_artist_id"), (CONCERTS, "venue_state")]
)
def test_the_etl_stops_on_a_dataset_missing_a_column_and_writes_nothing(
    sandbox: SandboxServer, tmp_path: Path, dataset: Dataset, column: str
) -> None:
    store = FolderStore(tmp_path / "data")
    app = etl_app(sandbox, store)
    first = app.test_client().get("/tasks/build", headers={"X-Appengine-Cron": "true"})
    assert first.status_code == 200
    broken = load_dataset(store, dataset)[0].drop(columns=[column])
    store.write(dataset.name, broken.to_csv(index=False).encode())
    before = files(store)

    answer = app.test_client().get("/tasks/build", headers={"X-Appengine-Cron": "true"})

    assert answer.status_code == 500
    expected = f"{dataset.name} lacks the required column {column}"
    assert expected in answer.get_json()["error"]
    assert files(store) == before
    report = json.loads(store.read("runs/latest.json").data)
    assert report["status"] == "failed"
    assert expected in report["message"] and "before writing any dataset" in report["message"]


def test_the_cli_exits_non_zero_naming_the_file_and_column(
    sandbox: SandboxServer, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    FolderStore(data).write(ARTISTS.name, header_without(ARTISTS, "spotify_artist_id").encode())
    result = run_cli(
        {**BASE_ENV, **sandbox.settings_env()}, "--data", str(data), "--states", "RI", timeout=120
    )

    assert result.returncode == 1
    assert "datasets/artists.csv lacks the required column spotify_artist_id" in result.stderr
    assert FolderStore(data).list("datasets/") == [ARTISTS.name]


def test_concert_rows_carry_their_performer_key() -> None:
    frame = build_concerts([sg.parse_event(SEATGEEK_EVENT)], now=NOW, fetched_at=NOW)

    assert frame[["performer_name", "performer_key"]].values.tolist() == [
        ["Bruce Springsteen & The E Street Band", "bruce springsteen and the e street band"],
        ["Yes Tribute", "yes tribute"],
        ["Dana Whitlock", "dana whitlock"],
    ]


def test_rows_carried_over_from_an_older_file_get_their_key() -> None:
    old = build_concerts([sg.parse_event(SEATGEEK_EVENT)], now=NOW, fetched_at=NOW)
    old["performer_key"] = ""

    kept, carried = carry_over(old, old.iloc[:0], failed=[], states_run=[], now=NOW)

    assert carried == 3
    assert kept["performer_key"].tolist() == [
        "bruce springsteen and the e street band",
        "yes tribute",
        "dana whitlock",
    ]


def test_matching_plans_performers_by_the_stored_key() -> None:
    concerts = build_concerts([sg.parse_event(SEATGEEK_EVENT)], now=NOW, fetched_at=NOW)
    concerts["performer_key"] = ["stored one", "stored two", "stored three"]

    todo = plan_performers(concerts, pd.DataFrame(columns=ARTISTS.column_names), {}, NOW)

    assert sorted(performer.key for performer in todo) == [
        "stored one",
        "stored three",
        "stored two",
    ]


@pytest.mark.parametrize(
    ("text", "cleaned"),
    [
        ("Sigur Rós", "Sigur Rós"),
        ("Nul\x00Byte", "NulByte"),
        ("\u202eevil", "evil"),
        ("a\u202a\u202b\u202c\u202d\u202eb", "ab"),
        ("a\u2066\u2067\u2068\u2069b", "ab"),
        ("two\nlines\r\nhere\ttab", "two lines  here tab"),
        ("\r=1+1", " =1+1"),
        ("bell\x07 del\x7f c1\x85\x9f", "bell del c1"),
        ("\u200f\u200e marks stay", "\u200f\u200e marks stay"),
        ("", ""),
    ],
)
def test_clean_text(text: str, cleaned: str) -> None:
    assert clean_text(text) == cleaned


DIRTY = "\u202eEvil\x00 Name\u2069"


def test_seatgeek_names_arrive_clean() -> None:
    raw = copy.deepcopy(SEATGEEK_EVENT)
    raw["title"] = DIRTY
    raw["venue"]["name"] = DIRTY
    raw["venue"]["city"] = DIRTY
    raw["performers"][0]["name"] = DIRTY

    event = sg.parse_event(raw)

    names = [event.title, event.venue.name, event.venue.city]
    assert names + [p.name for p in event.performers if "Evil" in p.name] == ["Evil Name"] * 4


def test_ticketmaster_names_arrive_clean() -> None:
    raw = copy.deepcopy(TICKETMASTER_EVENT)
    raw["name"] = DIRTY
    raw["_embedded"]["venues"][0]["name"] = DIRTY
    raw["_embedded"]["venues"][0]["city"]["name"] = DIRTY
    raw["_embedded"]["attractions"][0]["name"] = DIRTY

    event = tm.parse_event(raw)

    names = [event.title, event.venue.name, event.venue.city, event.performers[0].name]
    assert names == ["Evil Name"] * 4


def test_names_from_a_title_arrive_clean() -> None:
    raw = copy.deepcopy(TICKETMASTER_EVENT)
    del raw["_embedded"]["attractions"]
    raw["name"] = "Sigur\x00 Ros with \u202eLow"

    event = tm.parse_event(raw)

    assert [p.name for p in event.performers] == ["Sigur Ros", "Low"]


def test_spotify_names_arrive_clean() -> None:
    artist = parse_artist({"id": "a1", "name": DIRTY})
    track = parse_track(
        {
            "id": "t1",
            "name": DIRTY,
            "artists": [{"id": "a1", "name": DIRTY}],
            "album": {"name": DIRTY},
        }
    )
    playlist = parse_playlist({"id": "p1", "name": DIRTY})

    assert artist is not None and track is not None and playlist is not None
    assert artist.name == track.name == track.album_name == playlist.name == "Evil Name"
    assert track.artist_names == ("Evil Name",)
