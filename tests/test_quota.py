"""The web's share of the Spotify quota: daily counts under preconditions, and kept answers."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.quota import (
    Share,
    ShareLedger,
    ShareSpentError,
    add_requests,
    answer_object,
    delete_person_quota,
    forget_answer,
    load_answer,
    person_day_object,
    requests_on,
    save_answer,
    utc_day,
    web_day_object,
)
from shared.storage import FolderStore, StorageError, StoredObject

NOON = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
DAY = NOON.date()
SHARE = Share(per_person=5, per_day=8)


def spend(store: FolderStore, user_id: str, requests: int, now: datetime = NOON) -> ShareLedger:
    """A page of `user_id` that makes `requests` Spotify requests, then settles."""
    ledger = ShareLedger(store, SHARE, now=now, user_id=user_id)
    for _ in range(requests):
        ledger.charge("playlists")
    ledger.settle()
    return ledger


def test_a_count_starts_only_if_absent_and_adds_up(folder_store: FolderStore) -> None:
    name = person_day_object("alice", DAY)

    assert add_requests(folder_store, name, 2, DAY) == 2
    assert add_requests(folder_store, name, 3, DAY) == 5
    assert json.loads(folder_store.read(name).data) == {"day": "2026-06-10", "requests": 5}
    assert name == "quota/alice/2026-06-10.json"


class RacingStore:
    """A folder store where another instance adds to the count just before our first write."""

    def __init__(self, store: FolderStore, name: str, theirs: int) -> None:
        self.store, self.name, self.theirs = store, name, theirs
        self.raced = False

    def write(self, name: str, data: bytes, **options: Any) -> int:
        if name == self.name and not self.raced:
            self.raced = True
            add_requests(self.store, name, self.theirs, DAY)
        return self.store.write(name, data, **options)

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.store, attribute)


@pytest.mark.parametrize("existing", [0, 4])
def test_a_count_written_meanwhile_by_another_instance_is_added_to_not_overwritten(
    folder_store: FolderStore, existing: int
) -> None:
    name = person_day_object("alice", DAY)
    if existing:
        add_requests(folder_store, name, existing, DAY)
    racing = RacingStore(folder_store, name, theirs=7)

    total = add_requests(racing, name, 2, DAY)  # type: ignore[arg-type]

    assert racing.raced
    assert total == existing + 7 + 2
    assert requests_on(folder_store, name)[0] == existing + 7 + 2


def test_the_first_count_of_a_day_deletes_the_days_before_and_keeps_the_answers(
    folder_store: FolderStore,
) -> None:
    yesterday = DAY - timedelta(days=1)
    add_requests(folder_store, person_day_object("alice", yesterday), 9, yesterday)
    add_requests(folder_store, web_day_object(yesterday), 9, yesterday)
    save_answer(folder_store, "alice", "backup-sources", ["kept"], now=NOON)

    spend(folder_store, "alice", 1)

    assert folder_store.list("quota/") == [
        "quota/alice/2026-06-10.json",
        "quota/alice/answers/backup-sources.json",
    ]
    assert folder_store.list("quota_web/") == ["quota_web/2026-06-10.json"]


def test_an_unreadable_count_is_counted_anew(folder_store: FolderStore) -> None:
    name = person_day_object("alice", DAY)
    folder_store.write(name, b"{not json")

    assert requests_on(folder_store, name)[0] == 0
    assert add_requests(folder_store, name, 3, DAY) == 3


def test_a_page_draws_from_its_persons_count_and_from_everyones(
    folder_store: FolderStore,
) -> None:
    spend(folder_store, "alice", 3)
    spend(folder_store, "bob", 2)

    assert requests_on(folder_store, person_day_object("alice", DAY))[0] == 3
    assert requests_on(folder_store, person_day_object("bob", DAY))[0] == 2
    assert requests_on(folder_store, web_day_object(DAY))[0] == 5


def test_a_page_that_asks_spotify_nothing_writes_nothing(folder_store: FolderStore) -> None:
    spend(folder_store, "alice", 0)

    assert folder_store.list() == []


def test_a_spent_share_refuses_the_first_request_and_not_another_persons(
    folder_store: FolderStore,
) -> None:
    spend(folder_store, "alice", 5)
    ledger = ShareLedger(folder_store, SHARE, now=NOON, user_id="alice")

    with pytest.raises(ShareSpentError) as refused:
        ledger.charge("playlists")

    assert ledger.spent == 0 and ledger.refused is refused.value
    assert not refused.value.whole_web
    assert str(refused.value) == (
        "You have used your share of Spotify requests for today (5 a day for each person, so "
        "that no one can use up what everyone shares). Pages that ask Spotify work again from "
        "Thu Jun 11, 2026, 00:00 UTC; everything else works as usual."
    )
    assert refused.value.resets_at == datetime(2026, 6, 11, tzinfo=UTC)
    assert spend(folder_store, "bob", 2).spent == 2


def test_a_page_begun_within_the_share_finishes(folder_store: FolderStore) -> None:
    spend(folder_store, "alice", 4)

    assert spend(folder_store, "alice", 3).spent == 3  # one left at the start: the page finishes
    assert requests_on(folder_store, person_day_object("alice", DAY))[0] == 7


def test_when_everyones_total_is_spent_every_page_is_refused_and_says_why(
    folder_store: FolderStore,
) -> None:
    spend(folder_store, "alice", 5)
    spend(folder_store, "bob", 3)

    for user_id in ("carol", ""):  # a person with their share, a sign-in not yet known
        with pytest.raises(ShareSpentError) as refused:
            spend(folder_store, user_id, 1)
        assert refused.value.whole_web
        assert "8 a day for everyone together; the rest is kept for the nightly" in str(
            refused.value
        )
    assert requests_on(folder_store, web_day_object(DAY))[0] == 8


def test_the_next_utc_day_is_a_new_share(folder_store: FolderStore) -> None:
    spend(folder_store, "alice", 5)
    spend(folder_store, "bob", 3)
    just_before = datetime(2026, 6, 10, 23, 59, tzinfo=UTC)
    with pytest.raises(ShareSpentError):
        spend(folder_store, "alice", 1, now=just_before)

    assert spend(folder_store, "alice", 2, now=datetime(2026, 6, 11, 0, 0, tzinfo=UTC)).spent == 2
    assert folder_store.list("quota/alice/") == ["quota/alice/2026-06-11.json"]


class FailingStore:
    """A store that cannot be read or written."""

    def read(self, name: str) -> StoredObject:
        raise StorageError("storage is down")

    def write(self, name: str, data: bytes, **options: Any) -> int:
        raise StorageError("storage is down")


def test_a_share_that_cannot_be_read_lets_the_page_go_on() -> None:
    ledger = ShareLedger(FailingStore(), SHARE, now=NOON, user_id="alice")  # type: ignore[arg-type]

    ledger.charge("playlists")

    assert ledger.spent == 1


def test_delete_my_data_deletes_a_persons_counts_and_answers_only(
    folder_store: FolderStore,
) -> None:
    spend(folder_store, "alice", 2)
    spend(folder_store, "alice.b", 1)  # a prefix of alice's is not alice's
    save_answer(folder_store, "alice", "chart-choices", [], now=NOON)

    assert delete_person_quota(folder_store, "alice") == 2

    assert folder_store.list("quota/") == ["quota/alice.b/2026-06-10.json"]
    assert requests_on(folder_store, web_day_object(DAY))[0] == 3  # the reserve's count stays


@pytest.mark.parametrize(
    ("later", "kept"),
    [
        (timedelta(0), True),
        (timedelta(minutes=9, seconds=59), True),
        (timedelta(minutes=10), False),
        (timedelta(minutes=-1), False),  # the clock moved back: asked again
    ],
)
def test_an_answer_is_kept_for_minutes(
    folder_store: FolderStore, later: timedelta, kept: bool
) -> None:
    save_answer(folder_store, "alice", "backup-sources", {"own": ["x"]}, now=NOON)

    found = load_answer(
        folder_store, "alice", "backup-sources", now=NOON + later, fresh_for=timedelta(minutes=10)
    )

    assert found == ({"own": ["x"]} if kept else None)
    assert load_answer(folder_store, "bob", "backup-sources", now=NOON, fresh_for=None) is None


@pytest.mark.parametrize(
    "data",
    [b"", b"[]", b'{"at": "yesterday", "value": 1}', b'{"at": "2026-06-10T12:00:00", "value": 1}'],
)
def test_an_answer_that_cannot_be_read_is_asked_again(
    folder_store: FolderStore, data: bytes
) -> None:
    folder_store.write(answer_object("alice", "backup-sources"), data)

    assert load_answer(folder_store, "alice", "backup-sources", now=NOON, fresh_for=None) is None


def test_a_forgotten_answer_is_asked_again(folder_store: FolderStore) -> None:
    save_answer(folder_store, "alice", "chart-choices", [1], now=NOON)

    forget_answer(folder_store, "alice", "chart-choices")
    forget_answer(folder_store, "alice", "chart-choices")  # forgetting twice is no error

    assert load_answer(folder_store, "alice", "chart-choices", now=NOON, fresh_for=None) is None


@pytest.mark.parametrize("what", ["", "../users", "Backups", "a/b"])
def test_an_answers_name_is_checked(what: str) -> None:
    with pytest.raises(ValueError, match="not an answer's name"):
        answer_object("alice", what)


def test_a_day_is_a_utc_day_whatever_the_zone_of_now(folder_store: FolderStore) -> None:
    evening_in_new_york = datetime(2026, 6, 10, 22, 30, tzinfo=ZoneInfo("America/New_York"))

    spend(folder_store, "alice", 1, now=evening_in_new_york)

    assert utc_day(evening_in_new_york) == date(2026, 6, 11)
    assert folder_store.list("quota/alice/") == ["quota/alice/2026-06-11.json"]
