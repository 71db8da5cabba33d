"""Datasets load as typed frames, start empty, and refuse frames that lack a column."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from shared.datasets import (
    ARTISTS,
    CONCERTS,
    OVERRIDES,
    TOP_TRACKS,
    DatasetSchemaError,
    backups_of,
    load_dataset,
    save_dataset,
)
from shared.storage import ConflictError, FolderStore


@pytest.mark.parametrize("dataset", [CONCERTS, ARTISTS, TOP_TRACKS, OVERRIDES, backups_of("alice")])
def test_absent_dataset_loads_empty_with_its_columns(folder_store: FolderStore, dataset) -> None:  # type: ignore[no-untyped-def]
    frame, generation = load_dataset(folder_store, dataset)

    assert generation is None
    assert frame.empty
    assert list(frame.columns) == dataset.column_names


def test_columns_match_the_architecture() -> None:
    assert CONCERTS.column_names[:3] == ["event_id", "source", "event_title"]
    assert "source_spotify_artist_id" in CONCERTS.column_names
    assert ARTISTS.column_names[5:] == [
        "match_score",
        "checked_at",
        "match_confidence",
        "match_evidence",
        "tracks_checked_at",
    ]
    assert CONCERTS.column_names[-3:] == ["fetched_at", "performer_kind", "performer_from_title"]
    assert TOP_TRACKS.column_names[-2:] == ["tracks_source", "fetched_at"]
    assert backups_of("bob").name == "backups/bob.csv"
    assert backups_of("bob").column_names[0] == "user_id"


def top_tracks_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "spotify_artist_id": ["a1", "a1"],
            "rank": [1, 2],
            "track_id": ["0001", "t2"],
            "track_name": ['=HYPERLINK("x")', "Two, with a comma"],
            "album_name": ["Album", ""],
            "release_date": ["2020", "2021-05-01"],
            "duration_ms": [180000, 200000],
            "explicit": [True, False],
            "isrc": ["USX", ""],
            "tracks_source": ["search", "search"],
            "fetched_at": ["2026-11-20T00:00:00Z"] * 2,
            "extra_column": ["kept", "too"],
        }
    )


def test_round_trip_keeps_values_and_types(folder_store: FolderStore) -> None:
    generation = save_dataset(folder_store, TOP_TRACKS, top_tracks_frame())

    frame, loaded_generation = load_dataset(folder_store, TOP_TRACKS)

    assert loaded_generation == generation
    assert frame["track_id"].tolist() == ["0001", "t2"]
    assert frame["rank"].tolist() == [1, 2]
    assert frame["explicit"].tolist() == [True, False]
    assert frame["track_name"].tolist() == ['=HYPERLINK("x")', "Two, with a comma"]
    assert frame["extra_column"].tolist() == ["kept", "too"]
    assert frame["isrc"].tolist() == ["USX", ""]


def test_saving_a_frame_without_a_column_is_refused(folder_store: FolderStore) -> None:
    frame = top_tracks_frame().drop(columns=["isrc", "rank"])

    with pytest.raises(DatasetSchemaError, match="isrc") as raised:
        save_dataset(folder_store, TOP_TRACKS, frame)

    assert "rank" in str(raised.value)
    assert folder_store.list() == []


def test_unreadable_numbers_become_empty_and_are_logged(
    folder_store: FolderStore, caplog: pytest.LogCaptureFixture
) -> None:
    text = (
        ",".join(TOP_TRACKS.column_names)
        + "\na1,1,t1,n,al,2020,180000,true,,search,x\na1,two,t2,n,al,2020,1.5,maybe,,search,x\n"
    )
    folder_store.write(TOP_TRACKS.name, text.encode())

    with caplog.at_level(logging.WARNING):
        frame, _ = load_dataset(folder_store, TOP_TRACKS)

    assert frame["rank"].tolist()[0] == 1
    assert pd.isna(frame["rank"].tolist()[1])
    assert pd.isna(frame["duration_ms"].tolist()[1])
    assert frame["explicit"].tolist() == [True, False]
    assert {record.column for record in caplog.records} == {"rank", "duration_ms", "explicit"}  # type: ignore[attr-defined]


def test_a_stored_file_missing_an_optional_column_loads_it_empty(
    folder_store: FolderStore,
) -> None:
    header = ",".join(ARTISTS.required_column_names)
    folder_store.write(
        ARTISTS.name, f"{header}\nthe weeknd,The Weeknd,a1,The Weeknd,exact,1,x\n".encode()
    )

    frame, _ = load_dataset(folder_store, ARTISTS)

    assert frame[["performer_key", "match_confidence", "tracks_checked_at"]].to_dict("records") == [
        {"performer_key": "the weeknd", "match_confidence": "", "tracks_checked_at": ""}
    ]


def test_save_with_stale_generation_conflicts(folder_store: FolderStore) -> None:
    first = save_dataset(folder_store, TOP_TRACKS, top_tracks_frame())
    save_dataset(folder_store, TOP_TRACKS, top_tracks_frame(), if_generation_match=first)

    with pytest.raises(ConflictError):
        save_dataset(folder_store, TOP_TRACKS, top_tracks_frame(), if_generation_match=first)
