"""Saved areas and recent previews: their records read back as written, bad ones refused."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from shared.config import load_settings
from shared.people.deletion import sweep
from shared.saved_areas import (
    PREVIEW_DAYS,
    SAVED_AREAS,
    SavedArea,
    SavedAreas,
    SavedAreasError,
    recent_previews,
    remember_preview,
    with_area,
)
from shared.storage import FolderStore
from tests.conftest import BASE_ENV

NYC = {"state": "NY", "city": "New York", "radius_miles": 0, "days": 30, "genres": [],
       "tracks_per_artist": 3, "headliners_only": False}  # fmt: skip


def area(area_id: str = "a1") -> SavedArea:
    return SavedArea(area_id, dict(NYC), f"pl-{area_id}", "Local Shows: New York", "https://x",
                     "tok", "2026-11-23T10:00:00Z")  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> FolderStore:
    return FolderStore(tmp_path)


def test_a_record_reads_back_as_written(store: FolderStore) -> None:
    record = SavedAreas("alice", "sealed", "Alice", areas=(area("a1"), area("a2")))

    SAVED_AREAS.put(store, record)

    loaded = SAVED_AREAS.load(store, "alice")
    assert loaded is not None and loaded[0] == record
    assert SAVED_AREAS.people(store) == ["alice"]


def test_one_area_changes_the_others_stay(store: FolderStore) -> None:
    SAVED_AREAS.put(store, SavedAreas("alice", "sealed", areas=(area("a1"), area("a2"))))

    SAVED_AREAS.update(
        store,
        "alice",
        lambda r: with_area(r, "a2", lambda a: a.__class__(**{**a.__dict__, "paused": "gone"})),
    )

    loaded = SAVED_AREAS.load(store, "alice")
    assert loaded is not None
    assert [a.paused for a in loaded[0].areas] == ["", "gone"]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"user_id": "alice"}',
        b'{"user_id": "alice", "sealed_refresh_token": "s", "status": "odd"}',
        b'{"user_id": "alice", "sealed_refresh_token": "s", "areas": {}}',
        b'{"user_id": "alice", "sealed_refresh_token": "s", "areas": [{"area_id": "a"}]}',
        json.dumps(
            {
                "user_id": "alice",
                "sealed_refresh_token": "s",
                "areas": [{**area().__dict__, "query": {"evil": 1, "state": "NY"}}],
            }
        ).encode(),
        json.dumps(
            {
                "user_id": "alice",
                "sealed_refresh_token": "s",
                "areas": [{**area().__dict__, "when_deleted": "explode"}],
            }
        ).encode(),
    ],
)
def test_bad_records_are_refused_by_name(body: bytes) -> None:
    with pytest.raises(SavedAreasError):
        SAVED_AREAS.parse(body)


def test_previews_are_kept_a_month_and_written_only_when_news(store: FolderStore) -> None:
    today = date(2026, 11, 23)

    assert remember_preview(store, "alice", NYC, today - timedelta(days=PREVIEW_DAYS + 1))
    assert remember_preview(store, "bob", {**NYC, "city": "Buffalo"}, today)
    assert remember_preview(store, "alice", {**NYC, "state": "CA", "city": ""}, today)
    assert not remember_preview(store, "alice", {**NYC, "state": "CA", "city": ""}, today)

    found = recent_previews(store, today)

    assert sorted(q["city"] or q["state"] for q in found) == ["Buffalo", "CA"]
    sweep(store, "alice", load_settings(BASE_ENV), "saved_areas")
    assert [q["city"] for q in recent_previews(store, today)] == ["Buffalo"]


def test_a_record_saved_before_the_one_keeper_rule_may_still_be_written(
    store: FolderStore,
) -> None:
    # Found in review: a record with two areas on one playlist (as the old "Update it" left
    # them) read, but every write was refused: it could not be paused nor keep a token.
    twins = SavedAreas(
        "alice", "sealed", areas=(area("a1"), replace(area("a2"), playlist_id="pl-a1"))
    )
    store.write(SAVED_AREAS.object("alice"), SAVED_AREAS.dump(twins))

    paused = SAVED_AREAS.update(store, "alice", lambda r: replace(r, status="needs_sign_in"))

    assert paused is not None and paused.status == "needs_sign_in"
    with pytest.raises(SavedAreasError, match="two saved areas"):  # no new pair, though
        SAVED_AREAS.update(
            store,
            "alice",
            lambda r: replace(r, areas=(*r.areas, replace(area("a3"), playlist_id="pl-a3"),
                                        replace(area("a4"), playlist_id="pl-a3"))),
        )  # fmt: skip
