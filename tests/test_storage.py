"""Both stores read, write whole, list and delete alike; preconditions raise ConflictError."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as google_exceptions

from shared.storage import (
    IF_ABSENT,
    ConflictError,
    FolderStore,
    GcsStore,
    NotFoundError,
    Store,
    open_store,
)


@pytest.fixture(params=["folder", "gcs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Yield each store in turn: a folder, and a bucket prefix in the storage emulator."""
    if request.param == "folder":
        yield FolderStore(tmp_path / "data")
    else:
        request.getfixturevalue("storage_emulator")
        yield open_store(f"gs://local-shows-test/{uuid.uuid4().hex}")


def test_write_then_read_returns_content_and_generation(store: Store) -> None:
    generation = store.write("datasets/concerts.csv", b"a,b\n1,2\n")

    stored = store.read("datasets/concerts.csv")

    assert stored.data == b"a,b\n1,2\n"
    assert stored.generation == generation
    assert store.generation("datasets/concerts.csv") == generation


def test_rewrite_replaces_whole_and_changes_generation(store: Store) -> None:
    first = store.write("runs/latest.json", b'{"run": 1, "padding": "xxxxxxxx"}')
    second = store.write("runs/latest.json", b"{}")

    assert second != first
    assert store.read("runs/latest.json").data == b"{}"


def test_missing_object_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.read("datasets/absent.csv")
    assert store.generation("datasets/absent.csv") is None
    with pytest.raises(NotFoundError):
        store.delete("datasets/absent.csv")


def test_list_by_prefix(store: Store) -> None:
    for name in ["backups/bob.csv", "backups/alice.csv", "users/alice.json", "runs/1.json"]:
        store.write(name, b"x")

    assert store.list("backups/") == ["backups/alice.csv", "backups/bob.csv"]
    assert store.list() == [
        "backups/alice.csv",
        "backups/bob.csv",
        "runs/1.json",
        "users/alice.json",
    ]
    assert store.list("nothing/") == []


def test_generations_list_each_object_with_the_generation_a_read_gives(store: Store) -> None:
    first = store.write("plays/alice/2026-01.csv", b"a")
    store.write("plays/alice/2026-02.csv", b"b")
    store.write("plays/alicia/2026-01.csv", b"c")
    store.write("plays/bob/2026-01.csv", b"d")

    found = store.generations("plays/alice/")

    assert list(found) == ["plays/alice/2026-01.csv", "plays/alice/2026-02.csv"]
    read = store.read("plays/alice/2026-01.csv")
    assert found["plays/alice/2026-01.csv"] == first == read.generation
    assert store.generations("plays/ali") == {
        **found,
        "plays/alicia/2026-01.csv": store.generation("plays/alicia/2026-01.csv"),
    }
    assert store.generations("nothing/") == {}
    assert store.list("plays/alice/") == list(found)


def test_delete_removes(store: Store) -> None:
    store.write("users/alice.json", b"{}")

    store.delete("users/alice.json")

    assert store.list("users/") == []


@pytest.mark.parametrize(
    "name", ["", "/etc/passwd", "../escape", "a/../../b", "a//b", ".hidden", "a\\b"]
)
def test_unsafe_names_are_refused(folder_store: FolderStore, name: str) -> None:
    with pytest.raises(ValueError):
        folder_store.write(name, b"x")


# Preconditions: the emulator ignores them, so the folder store is tested directly and the
# Cloud Storage store against a fake bucket that behaves as Cloud Storage documents.


def test_folder_write_if_absent(folder_store: FolderStore) -> None:
    folder_store.write("locks/etl", b"run-1", if_generation_match=IF_ABSENT)

    with pytest.raises(ConflictError):
        folder_store.write("locks/etl", b"run-2", if_generation_match=IF_ABSENT)
    assert folder_store.read("locks/etl").data == b"run-1"


def test_folder_write_if_generation_matches(folder_store: FolderStore) -> None:
    first = folder_store.write("datasets/artists.csv", b"v1")
    second = folder_store.write("datasets/artists.csv", b"v2", if_generation_match=first)

    with pytest.raises(ConflictError):
        folder_store.write("datasets/artists.csv", b"stale", if_generation_match=first)
    assert folder_store.read("datasets/artists.csv").data == b"v2"
    assert folder_store.read("datasets/artists.csv").generation == second


def test_folder_precondition_on_absent_object_conflicts(folder_store: FolderStore) -> None:
    with pytest.raises(ConflictError):
        folder_store.write("datasets/artists.csv", b"v1", if_generation_match=12345)


def test_folder_delete_if_generation_matches(folder_store: FolderStore) -> None:
    generation = folder_store.write("locks/etl", b"run-1")

    with pytest.raises(ConflictError):
        folder_store.delete("locks/etl", if_generation_match=generation + 1)
    folder_store.delete("locks/etl", if_generation_match=generation)
    assert folder_store.generation("locks/etl") is None


def test_folder_generations_grow_even_within_one_clock_tick(
    folder_store: FolderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shared.storage.time.time_ns", lambda: 1_000)

    generations = [folder_store.write("runs/latest.json", str(n).encode()) for n in range(3)]

    assert generations == sorted(set(generations))


def test_folder_crash_mid_write_keeps_the_old_object(
    folder_store: FolderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder_store.write("datasets/concerts.csv", b"old complete content")

    def crash(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("shared.storage.os.replace", crash)
    with pytest.raises(OSError, match="disk full"):
        folder_store.write("datasets/concerts.csv", b"new content")

    assert folder_store.read("datasets/concerts.csv").data == b"old complete content"
    assert sorted(os.listdir(folder_store.root / "datasets")) == ["concerts.csv"]


def test_folder_list_hides_temporary_files(folder_store: FolderStore) -> None:
    folder_store.write("datasets/concerts.csv", b"x")
    (folder_store.root / "datasets" / ".tmp-left-by-a-crash").write_bytes(b"half")

    assert folder_store.list() == ["datasets/concerts.csv"]


class FakeBlob:
    """A blob that enforces preconditions as Cloud Storage does."""

    def __init__(self, bucket: FakeBucket, name: str) -> None:
        self.bucket = bucket
        self.name = name
        self.generation: int | None = bucket.generations.get(name)

    def _check(self, if_generation_match: int | None) -> None:
        current = self.bucket.generations.get(self.name)
        if if_generation_match is None:
            return
        if if_generation_match != (current or 0):
            raise google_exceptions.PreconditionFailed("conditionNotMet")

    def upload_from_string(
        self, data: bytes, content_type: str = "", if_generation_match: int | None = None
    ) -> None:
        self._check(if_generation_match)
        self.bucket.counter += 1
        self.bucket.objects[self.name] = data
        self.bucket.generations[self.name] = self.generation = self.bucket.counter
        self.bucket.calls.append(("upload", self.name, if_generation_match))

    def delete(self, if_generation_match: int | None = None) -> None:
        if self.name not in self.bucket.objects:
            raise google_exceptions.NotFound("no such object")
        self._check(if_generation_match)
        del self.bucket.objects[self.name]
        del self.bucket.generations[self.name]


class FakeBucket:
    name = "fake"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.generations: dict[str, int] = {}
        self.counter = 100
        self.calls: list[tuple[str, str, int | None]] = []

    def blob(self, name: str) -> FakeBlob:
        return FakeBlob(self, name)


def test_gcs_write_passes_preconditions_and_maps_conflicts() -> None:
    bucket = FakeBucket()
    store = GcsStore(bucket, "prefix")  # type: ignore[arg-type]

    first = store.write("locks/etl", b"run-1", if_generation_match=IF_ABSENT)
    with pytest.raises(ConflictError):
        store.write("locks/etl", b"run-2", if_generation_match=IF_ABSENT)
    second = store.write("locks/etl", b"run-3", if_generation_match=first)
    with pytest.raises(ConflictError):
        store.write("locks/etl", b"run-4", if_generation_match=first)

    assert bucket.objects["prefix/locks/etl"] == b"run-3"
    assert second > first
    assert bucket.calls[0] == ("upload", "prefix/locks/etl", 0)


def test_gcs_delete_maps_conflict_and_not_found() -> None:
    bucket = FakeBucket()
    store = GcsStore(bucket)  # type: ignore[arg-type]
    generation = store.write("locks/etl", b"run-1")

    with pytest.raises(ConflictError):
        store.delete("locks/etl", if_generation_match=generation + 1)
    store.delete("locks/etl", if_generation_match=generation)
    with pytest.raises(NotFoundError):
        store.delete("locks/etl")


def test_open_store_chooses_by_data_url(tmp_path: Path, storage_emulator: str) -> None:
    assert isinstance(open_store(str(tmp_path / "data")), FolderStore)
    gcs = open_store("gs://local-shows-test/some/prefix")
    assert isinstance(gcs, GcsStore)
    assert gcs.prefix == "some/prefix/"
    with pytest.raises(ValueError):
        open_store("gs:///prefix")
