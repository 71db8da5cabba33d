"""Listening history: Spotify's times, recently-played pages, the doubles rule, month files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.exports import parse_export_file
from shared.plays import (
    EXPORT,
    PLAY_COLUMNS,
    RECENTLY_PLAYED,
    PlaysFileError,
    delete_history,
    empty_plays,
    load_plays,
    month_frame_bytes,
    month_object,
    parse_played_at,
    parse_recently_played,
    played_at_ms,
    plays_frame,
    read_month_frame,
)
from shared.plays_append import append_plays
from shared.plays_merge import merge_plays
from shared.spotify_errors import SpotifyShapeError
from shared.storage import FolderStore
from tests.contract import find_real_api, load_real

API = "exports/api/chekos__recently_played__"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-04-20T02:23:05.123Z", "2023-04-20T02:23:05.123Z"),
        ("2023-04-20T02:23:05Z", "2023-04-20T02:23:05.000Z"),
        ("2023-04-20T02:23:05+00:00", "2023-04-20T02:23:05.000Z"),
        ("2021-09-21T19:38:59Z", "2021-09-21T19:38:59.000Z"),
        ("2020-01-16 03:13", "2020-01-16T03:13:00.000Z"),
    ],
)
def test_spotify_times_are_normalised(text: str, expected: str) -> None:
    assert parse_played_at(text) == expected


@pytest.mark.parametrize(
    "text", ["", "yesterday", "2023-13-01T00:00:00Z", "2023-04-20T02:23+02:00"]
)
def test_other_times_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Spotify time"):
        parse_played_at(text)


def test_played_at_ms_is_epoch_ms() -> None:
    assert played_at_ms("2023-04-20T00:08:28.463Z") == 1681949308463


def test_a_real_before_page_gives_its_plays() -> None:
    answer = load_real(API + "2023-04-20T0223_before-page.json")

    page = parse_recently_played(answer)

    assert (page.count, len(page.plays), page.after_ms) == (50, 50, 1681949308463)
    first, track = page.plays.iloc[0], answer["items"][0]["track"]
    assert first["played_at"] == "2023-04-20T00:08:28.463Z"
    assert first["track_uri"] == f"spotify:track:{track['id']}"
    assert first["duration_ms"] == str(track["duration_ms"])
    assert json.loads(first["artist_names"]) == [artist["name"] for artist in track["artists"]]
    assert (page.plays["source"] == RECENTLY_PLAYED).all()
    assert page.plays["ms_played"].eq("").all()


def test_the_after_page_repeating_the_newest_play_adds_nothing() -> None:
    before = parse_recently_played(load_real(API + "2023-04-20T0223_before-page.json"))
    after = parse_recently_played(load_real(API + "2023-04-20T0317_after-overlap.json"))

    merged = merge_plays(merge_plays(empty_plays(), before.plays).frame, after.plays)

    assert (merged.added, merged.doubles, len(merged.frame)) == (0, 1, 50)


def test_played_at_without_millis_and_context_are_read() -> None:
    answer = load_real(API + "2024-12-25_played_at-no-millis.json")

    page = parse_recently_played(answer)

    assert page.plays["played_at"].str.fullmatch(r"\S{19}\.\d{3}Z").all()
    no_millis = [item["played_at"] for item in answer["items"] if "." not in item["played_at"]]
    assert no_millis
    assert no_millis[0].replace("Z", ".000Z") in set(page.plays["played_at"])
    assert page.plays.iloc[0]["context_uri"] == answer["items"][0]["context"]["uri"]


def test_an_empty_page_has_no_cursor() -> None:
    page = parse_recently_played(load_real(API + "2026-03-08_empty.json"))

    assert (page.count, len(page.plays), page.after_ms) == (0, 0, None)
    assert list(page.plays.columns) == list(PLAY_COLUMNS)


def test_items_that_are_not_tracks_are_counted() -> None:
    answer = load_real(API + "2024-12-25_played_at-no-millis.json")
    good = answer["items"][0]
    items = [
        good,
        {**good, "track": None},
        {**good, "track": {**good["track"], "type": "episode"}},
        {**good, "track": {**good["track"], "is_local": True}},
        {**good, "track": {**good["track"], "id": None}},
        {**good, "context": None},
    ]

    page = parse_recently_played({**answer, "items": items})

    assert len(page.plays) == 2
    assert page.plays.iloc[1]["context_uri"] == ""
    assert dict(page.skipped) == {"removed": 1, "episode": 1, "local": 1, "unreadable": 1}


@pytest.mark.parametrize(
    "answer",
    [
        [],
        {"items": {}},
        {"cursors": None},
        {"items": [], "cursors": []},
        {"items": [], "cursors": {"after": "soon"}},
    ],
)
def test_answers_of_another_shape_are_refused(answer: Any) -> None:
    with pytest.raises(SpotifyShapeError):
        parse_recently_played(answer)


def play(played_at: str, source: str = EXPORT, **cells: str) -> dict[str, str]:
    """Return one play row; by default an export play of one track."""
    row = {column: "" for column in PLAY_COLUMNS}
    row.update(
        played_at=played_at,
        track_id="7wAkQFShJ27V8362MqevQr",
        track_uri="spotify:track:7wAkQFShJ27V8362MqevQr",
        track="So Long, London",
        artist_names='["Taylor Swift"]',
        source=source,
    )
    row.update(cells)
    return row


def frame(*rows: dict[str, str]) -> pd.DataFrame:
    return plays_frame(list(rows))


NAMES_ONLY = {"track_id": "", "track_uri": "", "track": "so long, LONDON"}


@pytest.mark.parametrize(
    ("existing", "new", "same"),
    [
        (play("2024-08-02T16:07:53.000Z"), play("2024-08-02T16:08:03.000Z", RECENTLY_PLAYED), True),
        (
            play("2024-08-02T16:07:53.000Z"),
            play("2024-08-02T16:08:04.000Z", RECENTLY_PLAYED),
            False,
        ),
        (
            play("2024-08-02T16:07:53.000Z"),
            play("2024-08-02T16:07:53.000Z", track_uri="spotify:track:x"),
            False,
        ),
        # recently-played gave the start: start + duration is the export's end.
        (
            play("2024-08-02T16:12:16.000Z"),
            play("2024-08-02T16:07:53.000Z", RECENTLY_PLAYED, duration_ms="262974"),
            True,
        ),
        (
            play("2024-08-02T16:07:53.000Z", RECENTLY_PLAYED, duration_ms="262974"),
            play("2024-08-02T16:12:16.000Z"),
            True,
        ),
        (
            play("2024-08-02T16:07:53.000Z", RECENTLY_PLAYED, duration_ms="262974"),
            play("2024-08-02T16:12:27.000Z"),
            False,
        ),
        # The account export's minute: the play ended in [16:07:00, 16:08:00).
        (play("2024-08-02T16:07:00.000Z", **NAMES_ONLY), play("2024-08-02T16:06:50.000Z"), True),
        (play("2024-08-02T16:07:00.000Z", **NAMES_ONLY), play("2024-08-02T16:06:49.999Z"), False),
        (play("2024-08-02T16:07:00.000Z", **NAMES_ONLY), play("2024-08-02T16:08:09.999Z"), True),
        (play("2024-08-02T16:07:00.000Z", **NAMES_ONLY), play("2024-08-02T16:08:10.000Z"), False),
        (play("2024-08-02T16:07:53.000Z"), play("2024-08-02T16:07:00.000Z", **NAMES_ONLY), True),
        (play("2024-08-02T16:08:11.000Z"), play("2024-08-02T16:07:00.000Z", **NAMES_ONLY), False),
        (
            play("2024-08-02T16:07:53.000Z"),
            play("2024-08-02T16:07:00.000Z", **{**NAMES_ONLY, "track": "Another"}),
            False,
        ),
        (
            play("2024-08-02T16:07:00.000Z", **NAMES_ONLY),
            play("2024-08-02T16:07:00.000Z", **NAMES_ONLY, ms_played="1"),
            True,
        ),
        (
            play("2024-08-02T16:07:00.000Z", **NAMES_ONLY),
            play("2024-08-02T16:08:00.000Z", **NAMES_ONLY),
            False,
        ),
    ],
)
def test_doubles_rule(existing: dict[str, str], new: dict[str, str], same: bool) -> None:
    merged = merge_plays(frame(existing), frame(new))

    assert (merged.added, merged.doubles) == ((0, 1) if same else (1, 0))


def test_identical_rows_in_one_batch_are_one_play() -> None:
    row = play("2024-08-02T16:07:53.000Z")

    merged = merge_plays(empty_plays(), frame(row, row, play("2024-08-02T16:12:00.000Z")))

    assert (merged.added, merged.doubles) == (2, 1)


EXTENDED_PLAY = play("2024-08-02T16:07:53.000Z", ms_played="262974")
ACCOUNT_PLAY = play("2024-08-02T16:07:00.000Z", ms_played="262974", **NAMES_ONLY)
RECENT_END = play("2024-08-02T16:07:52.123Z", RECENTLY_PLAYED, duration_ms="262974")
RECENT_START = play("2024-08-02T16:03:30.456Z", RECENTLY_PLAYED, duration_ms="262974")


@pytest.mark.parametrize(
    ("batch", "kept"),
    [
        # The extended export and the account export of one period, uploaded together.
        ([ACCOUNT_PLAY, EXTENDED_PLAY], EXTENDED_PLAY),
        ([EXTENDED_PLAY, ACCOUNT_PLAY], EXTENDED_PLAY),
        # A recently-played overlap play, once with milliseconds and once without.
        ([{**RECENT_END, "played_at": "2024-08-02T16:07:52.000Z"}, RECENT_END], RECENT_END),
        ([EXTENDED_PLAY, RECENT_START], RECENT_START),
        ([ACCOUNT_PLAY, EXTENDED_PLAY, RECENT_END], RECENT_END),
        # Two plays of one track, one right after the other, are two plays.
        ([EXTENDED_PLAY, play("2024-08-02T16:12:16.000Z", ms_played="262974")], None),
    ],
)
def test_one_play_twice_in_a_batch_is_kept_once(
    batch: list[dict[str, str]], kept: dict[str, str] | None
) -> None:
    merged = merge_plays(empty_plays(), frame(*batch))

    if kept is None:
        assert (merged.added, merged.doubles) == (len(batch), 0)
    else:
        assert (merged.added, merged.doubles) == (1, len(batch) - 1)
        assert merged.frame.equals(frame(kept))


def test_a_chain_of_sightings_keeps_what_one_by_one_keeps() -> None:
    # 16:07:53 is the same play as 16:08:01, which is the same as 16:08:09; the first and the
    # last are 16 s apart: one by one, the first and the last are kept.
    batch = [play("2024-08-02T16:07:53.000Z"), play("2024-08-02T16:08:01.000Z")]
    batch.append(play("2024-08-02T16:08:09.000Z"))

    merged = merge_plays(empty_plays(), frame(*batch))

    assert list(merged.frame["played_at"]) == [batch[0]["played_at"], batch[2]["played_at"]]


@pytest.mark.parametrize(
    "relative",
    ["extended/erickmay__endsong_1.json", "account/cosmoduende__StreamingHistory0.json"],
)
def test_importing_a_real_file_twice_adds_nothing(relative: str) -> None:
    path = find_real_api() / "exports" / relative
    plays = parse_export_file(path.name, path.read_bytes()).plays

    first = merge_plays(empty_plays(), plays)
    second = merge_plays(first.frame, plays)

    assert first.added > 0.9 * len(plays)
    assert (second.added, second.doubles) == (0, len(plays))
    assert second.frame.equals(first.frame)


def _random_plays(size: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    times = pd.to_datetime(1_700_000_000_000 + rng.integers(0, 30 * 86_400_000, size), unit="ms")
    track_ids = [f"{number:022d}" for number in rng.integers(0, 5_000, size)]
    return pd.DataFrame(
        {
            "played_at": times.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z",
            "ms_played": "",
            "duration_ms": "200000",
            "track_id": track_ids,
            "track_uri": [f"spotify:track:{track_id}" for track_id in track_ids],
            "track": "x",
            "artist_ids": "",
            "artist_names": '["a"]',
            "album": "",
            "context_uri": "",
            "source": np.where(rng.random(size) < 0.5, EXPORT, RECENTLY_PLAYED),
        },
        dtype=str,
    )


def test_merging_100k_into_100k_keeps_every_play_once() -> None:
    """Its speed is measured by `python -m bench listening`, never timed in a test."""
    existing, new = _random_plays(100_000, 1), _random_plays(100_000, 2)

    merged = merge_plays(existing, new)

    assert merged.added + merged.doubles == 100_000
    assert len(merged.frame) == 100_000 + merged.added


PLAYS = st.builds(
    lambda second, track, source, names_only, duration: play(
        f"2024-08-02T16:{second // 60:02d}:{second % 60:02d}.000Z",
        source,
        duration_ms=duration,
        **({**NAMES_ONLY, "track": f"t{track}"} if names_only else {"track_uri": f"u{track}"}),
    ),
    st.integers(0, 600),
    st.integers(0, 3),
    st.sampled_from([EXPORT, RECENTLY_PLAYED]),
    st.booleans(),
    st.sampled_from(["", "30000", "200000"]),
)


@settings(max_examples=50, deadline=None)
@given(st.lists(PLAYS, max_size=12), st.lists(PLAYS, max_size=12))
def test_merging_again_changes_nothing_and_loses_nothing(
    existing: list[dict[str, str]], new: list[dict[str, str]]
) -> None:
    once = merge_plays(frame(*existing), frame(*new))
    twice = merge_plays(once.frame, frame(*new))

    assert twice.added == 0
    assert twice.frame.equals(once.frame)
    assert once.frame.iloc[: len(existing)].equals(frame(*existing))


TRACK_SECONDS = (30, 200, 263)


@st.composite
def sightings(draw: st.DrawFn) -> tuple[list[dict[str, str]], ...]:
    """Return plays as each source sees them, dealt out to (existing, first part, second part).

    Plays of one track are minutes apart, as real ones are; each is seen by the extended export
    (end, in whole seconds), the account export (the minute, names only) and recently-played
    (the end or the start, up to 5 s off, in a page or two: with and without milliseconds).
    """
    parts: tuple[list[dict[str, str]], ...] = ([], [], [])
    for slot in range(draw(st.integers(0, 6))):
        track = draw(st.integers(0, 2))
        end_ms = 1_722_614_400_000 + slot * 600_000 + draw(st.integers(0, 59_999))
        length_ms = TRACK_SECONDS[track] * 1000
        names = {"track": f"Track {track}", "artist_names": f'["Artist {track}"]'}
        uri = {**names, "track_uri": f"spotify:track:{track:022d}", "track_id": f"{track:022d}"}

        def at(ms: int) -> str:
            return pd.Timestamp(ms, unit="ms").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

        seen = [
            play(at(end_ms // 1000 * 1000), **uri),
            play(at(end_ms // 60_000 * 60_000), **{**names, "track_uri": "", "track_id": ""}),
        ]
        recent_ms = end_ms + draw(st.integers(-5_000, 5_000))
        if draw(st.booleans()):
            recent_ms -= length_ms
        recent = play(at(recent_ms), RECENTLY_PLAYED, duration_ms=str(length_ms), **uri)
        seen += [recent, {**recent, "played_at": at(recent_ms // 1000 * 1000)}]
        for sighting in seen:
            part = draw(st.sampled_from([None, 0, 1, 2]))
            if part is not None:
                parts[part].append(sighting)
    return tuple(draw(st.permutations(part)) for part in parts)


@settings(max_examples=60, deadline=None)
@given(sightings())
def test_a_batch_at_once_keeps_as_many_plays_as_its_parts_one_after_the_other(
    parts: tuple[list[dict[str, str]], ...],
) -> None:
    existing, first, second = (frame(*part) for part in parts)

    at_once = merge_plays(existing, pd.concat([first, second], ignore_index=True))
    one_after_the_other = merge_plays(merge_plays(existing, first).frame, second)

    assert len(at_once.frame) == len(one_after_the_other.frame)


@settings(max_examples=50, deadline=None)
@given(st.lists(PLAYS, max_size=12), st.lists(PLAYS, max_size=12))
def test_the_new_plays_kept_are_no_doubles_of_each_other(
    existing: list[dict[str, str]], new: list[dict[str, str]]
) -> None:
    merged = merge_plays(frame(*existing), frame(*new))

    again = merge_plays(empty_plays(), merged.frame.iloc[len(existing) :])

    assert (again.added, again.doubles) == (merged.added, 0)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            play("2024-03-31T23:59:58.000Z", RECENTLY_PLAYED),
            play("2024-04-01T00:00:03.000Z"),
        ),
        (
            play("2024-04-01T00:00:03.000Z"),
            play("2024-03-31T23:59:58.000Z", RECENTLY_PLAYED),
        ),
        # recently-played gave the start, in March; the export has the end, in April.
        (
            play("2024-03-31T23:58:00.000Z", RECENTLY_PLAYED, duration_ms="180000"),
            play("2024-04-01T00:01:00.000Z"),
        ),
        (
            play("2024-04-01T00:01:00.000Z"),
            play("2024-03-31T23:58:00.000Z", RECENTLY_PLAYED, duration_ms="180000"),
        ),
        (
            play("2023-12-31T23:59:58.000Z", RECENTLY_PLAYED),
            play("2024-01-01T00:00:00.000Z", **NAMES_ONLY),
        ),
    ],
)
def test_one_play_on_both_sides_of_a_month_edge_is_kept_once(
    tmp_path: Path, first: dict[str, str], second: dict[str, str]
) -> None:
    store = FolderStore(tmp_path)
    append_plays(store, "u1", frame(first))
    names = store.list("plays/u1/")
    generations = [store.generation(name) for name in names]

    appended = append_plays(store, "u1", frame(second))

    assert (appended.added, appended.doubles, appended.months) == (0, 1, ())
    assert store.list("plays/u1/") == names
    assert [store.generation(name) for name in names] == generations


def test_both_sides_of_a_month_edge_in_one_batch_are_one_play(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    batch = frame(play("2024-04-01T00:00:03.000Z"), play("2024-03-31T23:59:58.000Z"))

    appended = append_plays(store, "u1", batch)

    assert (appended.added, appended.doubles, appended.months) == (1, 1, ("2024-03",))
    assert store.list("plays/u1/") == ["plays/u1/2024-03.csv"]


def test_a_month_read_next_door_is_not_written(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    append_plays(store, "u1", frame(play("2024-03-31T23:00:00.000Z")))
    march = month_object("u1", "2024-03")
    generation = store.generation(march)
    real_read = store.read
    read: list[str] = []

    def recording_read(object_name: str) -> Any:
        read.append(object_name)
        return real_read(object_name)

    store.read = recording_read  # type: ignore[method-assign]
    near = append_plays(store, "u1", frame(play("2024-04-01T00:30:00.000Z")))
    far = append_plays(store, "u1", frame(play("2024-04-15T12:00:00.000Z")))

    assert (near.added, near.months, far.added, far.months) == (1, ("2024-04",), 1, ("2024-04",))
    # April did not exist yet: the listing said so, and it was not read; March was only read.
    assert read == [march, month_object("u1", "2024-04")]
    assert store.generation(march) == generation


def test_append_plays_writes_months_and_adds_nothing_twice(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    plays = frame(
        play("2024-07-31T23:59:59.000Z"),
        play("2024-08-02T16:07:53.000Z"),
        play("2024-08-02T16:12:00.000Z"),
    )

    first = append_plays(store, "u1", plays)
    generation = store.generation(month_object("u1", "2024-08"))
    second = append_plays(store, "u1", plays)

    assert (first.added, first.doubles, first.months) == (3, 0, ("2024-07", "2024-08"))
    assert (second.added, second.doubles, second.months) == (0, 3, ())
    assert store.generation(month_object("u1", "2024-08")) == generation
    assert load_plays(store, "u1").equals(plays)


def test_another_writer_in_between_loses_nothing(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    name = month_object("u1", "2024-08")
    append_plays(store, "u1", frame(play("2024-08-01T10:00:00.000Z")))
    real_read = store.read
    interfered: list[str] = []

    def read_then_interfere(object_name: str) -> Any:
        stored = real_read(object_name)
        if not interfered:
            interfered.append(object_name)
            append_plays(store, "u1", frame(play("2024-08-03T10:00:00.000Z", RECENTLY_PLAYED)))
        return stored

    store.read = read_then_interfere  # type: ignore[method-assign]
    appended = append_plays(store, "u1", frame(play("2024-08-02T10:00:00.000Z")))

    assert interfered == [name]
    assert appended.added == 1
    assert list(load_plays(store, "u1")["played_at"]) == [
        "2024-08-01T10:00:00.000Z",
        "2024-08-02T10:00:00.000Z",
        "2024-08-03T10:00:00.000Z",
    ]


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe\x00garbage\x00",
        b"name,artist\nx,y\n",
        b'played_at\n"unclosed\n',
        b"played_at\nyesterday\n",
    ],
)
def test_an_unreadable_month_is_refused_and_left_alone(tmp_path: Path, content: bytes) -> None:
    store = FolderStore(tmp_path)
    name = month_object("u1", "2024-08")
    store.write(name, content)

    with pytest.raises(PlaysFileError, match=r"plays/u1/2024-08\.csv cannot be read"):
        append_plays(store, "u1", frame(play("2024-08-02T10:00:00.000Z")))

    assert store.read(name).data == content
    with pytest.raises(PlaysFileError):
        load_plays(store, "u1")


def test_a_month_file_of_an_older_layout_still_reads() -> None:
    read = read_month_frame(b"played_at,track,extra\n2024-08-02T10:00:00.000Z,x,1\n")

    assert list(read.columns) == list(PLAY_COLUMNS)
    assert read.iloc[0]["track"] == "x"


def test_delete_history_removes_only_that_user(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    append_plays(
        store, "u1", frame(play("2024-07-01T10:00:00.000Z"), play("2024-08-01T10:00:00.000Z"))
    )
    append_plays(store, "u2", frame(play("2024-08-01T10:00:00.000Z")))

    assert delete_history(store, "u1") == 2
    assert store.list("plays/") == ["plays/u2/2024-08.csv"]
    assert load_plays(store, "u1").empty


def test_an_account_export_keeps_a_track_played_again_within_its_minute() -> None:
    """Rows of one minute, one track, other lengths are separate plays (never lose data)."""
    from shared.exports import parse_export_file
    from shared.plays import empty_plays
    from shared.plays_merge import merge_plays
    from tests.contract import REAL_API

    path = REAL_API / "exports" / "account" / "hobbies-w-erin__StreamingHistory_music_0.json"
    parsed = parse_export_file(path.name, path.read_bytes())

    merged = merge_plays(empty_plays(), parsed.plays)

    assert merged.added == len(parsed.plays.drop_duplicates())
    assert merge_plays(merged.frame, parsed.plays).added == 0


# Names as people and exports write them: line breaks of every kind, quotes, commas, NUL, accents.
NAME_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(["\r", "\n", '"', ",", "\x00", " ", "é", "ß", "🎸"]),
        st.characters(blacklist_categories=("Cs",)),
    ),
    max_size=30,
)


@settings(max_examples=200)
@given(st.lists(st.tuples(NAME_TEXT, NAME_TEXT, NAME_TEXT), min_size=1, max_size=6))
def test_a_month_file_round_trips_any_text(names: list[tuple[str, str, str]]) -> None:
    rows = [
        {
            "played_at": f"2024-08-02T16:07:{second:02d}.000Z",
            "ms_played": "1000",
            "track": track,
            "artist_names": json.dumps([artist], ensure_ascii=False),
            "album": album,
            "source": "export",
        }
        for second, (track, artist, album) in enumerate(names)
    ]
    frame = pd.DataFrame(rows).reindex(columns=list(PLAY_COLUMNS), fill_value="").astype(str)

    again = read_month_frame(month_frame_bytes(frame))

    assert again.to_dict("records") == frame.to_dict("records")


def test_a_month_another_writer_changed_mid_append_is_merged_again_and_loses_nothing(
    tmp_path: Path,
) -> None:
    store = FolderStore(tmp_path)
    theirs = frame(play("2024-05-20T08:00:00.000Z", track="Theirs", track_uri="spotify:track:t"))
    real_write = store.write
    raced: list[str] = []

    def racing_write(name: str, data: bytes, **options: Any) -> int:
        if name.endswith("2024-05.csv") and not raced:  # another writer gets there first
            raced.append(name)
            append_plays(store, "u1", theirs)
        return real_write(name, data, **options)

    store.write = racing_write  # type: ignore[method-assign]
    ours = frame(
        play("2024-04-10T10:00:00.000Z", track="April"),
        play("2024-05-10T10:00:00.000Z", track="May"),
        play("2024-06-10T10:00:00.000Z", track="June"),
    )

    appended = append_plays(store, "u1", ours)

    kept = load_plays(store, "u1")
    assert raced and appended.added == 3
    assert sorted(kept["track"]) == ["April", "June", "May", "Theirs"]
