"""Spotify's export files read against the real recorded ones, and the uploads refused."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.export_upload import (
    NOT_HISTORY,
    PODCAST_FILE,
    VIDEO_FILE,
    UnpackBudget,
    unpack_upload,
)
from shared.exports import ACCOUNT, EXTENDED, ExportFileError, parse_export_file
from shared.plays import EXPORT, PLAY_COLUMNS, parse_played_at
from tests.contract import find_real_api

EXPORTS = find_real_api() / "exports"
NORMAL = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"

# (file, layout, rows, plays kept, skipped by reason) as read from the real files.
REAL_FILES = [
    ("extended/erickmay__endsong_1.json", EXTENDED, 2080, 2079, {"no_track": 1}),
    (
        "extended/mica-92__Streaming_History_Audio_2024_4.json",
        EXTENDED,
        2000,
        1760,
        {"episode": 240},
    ),
    (
        "extended/Efrrowini__Streaming_History_Audio_2026.json",
        EXTENDED,
        2000,
        1967,
        {"episode": 33},
    ),
    (
        "account/hobbies-w-erin__StreamingHistory_music_0.json",
        ACCOUNT,
        2000,
        1977,
        {"no_track": 23},
    ),
    ("account/cosmoduende__StreamingHistory0.json", ACCOUNT, 2000, 1981, {"no_track": 19}),
]


@pytest.mark.parametrize(("relative", "layout", "rows", "kept", "skipped"), REAL_FILES)
def test_real_export_files_parse(
    relative: str, layout: str, rows: int, kept: int, skipped: dict[str, int]
) -> None:
    path = EXPORTS / relative

    export = parse_export_file(path.name, path.read_bytes())

    assert (export.layout, export.rows, len(export.plays)) == (layout, rows, kept)
    assert dict(export.skipped) == skipped
    assert list(export.plays.columns) == list(PLAY_COLUMNS)
    assert export.plays["played_at"].str.fullmatch(NORMAL).all()
    assert (export.plays["source"] == EXPORT).all()
    assert export.plays["track"].ne("").all()
    if layout == EXTENDED:
        assert export.plays["track_uri"].str.startswith("spotify:track:").all()
        assert (export.plays["track_uri"].str[14:] == export.plays["track_id"]).all()
    else:
        assert export.plays["track_uri"].eq("").all()


def test_endsong_names_its_account_and_keeps_silent_plays() -> None:
    path = EXPORTS / "extended/erickmay__endsong_1.json"
    raw = json.loads(path.read_bytes())

    export = parse_export_file(path.name, path.read_bytes())

    assert export.usernames == {"user-redacted"}
    assert (export.plays["ms_played"] == "0").sum() == sum(
        1 for row in raw if row["ms_played"] == 0 and row["spotify_track_uri"]
    )
    first = export.plays.iloc[0]
    assert first["played_at"] == parse_played_at(raw[0]["ts"])
    assert json.loads(first["artist_names"]) == [raw[0]["master_metadata_album_artist_name"]]


def test_account_minutes_become_times() -> None:
    path = EXPORTS / "account/cosmoduende__StreamingHistory0.json"

    export = parse_export_file(path.name, path.read_bytes())

    assert export.plays.iloc[0]["played_at"] == "2020-01-16T03:13:00.000Z"
    assert json.loads(export.plays.iloc[0]["artist_names"]) == ["Daniel, Me Estás Matando"]


def _row(**changes: object) -> dict[str, object]:
    """Return an extended-history row in the 2024 layout (mirrors mica-92's file)."""
    row: dict[str, object] = {
        "ts": "2024-08-02T16:07:53Z",
        "platform": "android",
        "ms_played": 262974,
        "conn_country": "AR",
        "ip_addr": "192.0.2.1",
        "master_metadata_track_name": "So Long, London",
        "master_metadata_album_artist_name": "Taylor Swift",
        "master_metadata_album_album_name": "THE TORTURED POETS DEPARTMENT",
        "spotify_track_uri": "spotify:track:7wAkQFShJ27V8362MqevQr",
        "episode_name": None,
        "episode_show_name": None,
        "spotify_episode_uri": None,
        "reason_start": "trackdone",
        "reason_end": "trackdone",
        "shuffle": False,
        "skipped": False,
        "offline": False,
        "offline_timestamp": 1722614450,
        "incognito_mode": False,
    }
    row.update(changes)
    return row


def _without(key: str) -> dict[str, object]:
    row = _row()
    del row[key]
    return row


NAME = "Streaming_History_Audio_2024_4.json"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG not json", f"{NAME} is not JSON Spotify writes"),
        (b"[" * 100_000, f"{NAME} is not JSON Spotify writes (10,000 bytes or more between"),
        (b"[" + b"1" * 5_000 + b"]", f"{NAME} is not JSON Spotify writes"),
        (b'{"ts": "2024-01-01T00:00:00Z"}', f"{NAME} is not a list of plays"),
        (b'{"playlists": []}', f"{NAME} is a list of playlists, not listening history"),
        (b"[1, 2, 3]", f"{NAME}: row 1 is not a play but a number"),
        (json.dumps([_row(), _without("ts")]).encode(), f"{NAME}: row 2 has no time ('ts')"),
        (
            json.dumps([_row(ts="yesterday")]).encode(),
            f"{NAME}: row 1 has a time Spotify never writes",
        ),
        (
            json.dumps([_row(ms_played="12")]).encode(),
            f"{NAME}: row 1 has a play length that is not a number",
        ),
        (
            json.dumps([_without("spotify_track_uri")]).encode(),
            f"{NAME}: row 1 has no 'spotify_track_uri'",
        ),
        (json.dumps([{"name": "x"}]).encode(), f"{NAME} is not listening history"),
        (
            json.dumps([{"endTime": "2020-01-16 03:13", "trackName": "a", "msPlayed": 1}]).encode(),
            f"{NAME}: row 1 has no 'artistName'",
        ),
    ],
)
def test_refused_files_say_which_and_why(data: bytes, message: str) -> None:
    with pytest.raises(ExportFileError) as caught:
        parse_export_file(NAME, data)

    assert str(caught.value).startswith(message)


def test_rows_that_are_not_music_are_counted_and_unknown_keys_are_fine() -> None:
    rows = [
        _row(),
        _row(spotify_track_uri=None, spotify_episode_uri="spotify:episode:x", episode_name="e"),
        _row(spotify_track_uri=None, audiobook_uri="spotify:show:x", audiobook_title="b"),
        _row(spotify_track_uri=None, master_metadata_track_name=None),
        _row(ms_played=0, a_key_spotify_added_later=True),
    ]

    export = parse_export_file(NAME, json.dumps(rows).encode())

    assert len(export.plays) == 2
    assert dict(export.skipped) == {"episode": 1, "audiobook": 1, "no_track": 1}
    assert list(export.plays["ms_played"]) == ["262974", "0"]


def test_an_empty_file_has_no_plays() -> None:
    export = parse_export_file("StreamingHistory_music_3.json", b"[]")

    assert (export.layout, export.rows, len(export.plays)) == (ACCOUNT, 0, 0)


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _read_all(filename: str, data: bytes, budget: UnpackBudget) -> list[tuple[str, bytes]]:
    return [
        (member.name, member.read())
        for member in unpack_upload(filename, data, budget=budget).files
    ]


def test_a_json_upload_is_itself_and_is_charged() -> None:
    budget = UnpackBudget()

    unpacked = unpack_upload("endsong_0.json", b"[]", budget=budget)

    assert [(member.name, member.read()) for member in unpacked.files] == [
        ("endsong_0.json", b"[]")
    ]
    assert unpacked.ignored == []
    assert budget.left == budget.total_bytes - 2


def test_a_zip_gives_its_listening_history_in_any_folder() -> None:
    folder = "Spotify Extended Streaming History/"
    data = _zip(
        {
            folder + "Streaming_History_Audio_2023-2024_3.json": b"[1]",
            folder + "Streaming_History_Video_2020-2024.json": b"[]",
            folder + "ReadMeFirst_ExtendedStreamingHistory.pdf": b"%PDF",
            "MyData/StreamingHistory_music_0.json": b"[2]",
            "MyData/StreamingHistory_podcast_0.json": b"[]",
            "MyData/StreamingHistory0.json": b"[3]",
            "MyData/endsong_7.json": b"[4]",
            "MyData/Playlist1.json": b"{}",
        }
    )

    unpacked = unpack_upload("my_spotify_data.zip", data, budget=UnpackBudget())

    assert [(member.name, member.read()) for member in unpacked.files] == [
        ("Streaming_History_Audio_2023-2024_3.json", b"[1]"),
        ("StreamingHistory_music_0.json", b"[2]"),
        ("StreamingHistory0.json", b"[3]"),
        ("endsong_7.json", b"[4]"),
    ]
    assert unpacked.ignored == [
        (folder + "Streaming_History_Video_2020-2024.json", VIDEO_FILE),
        (folder + "ReadMeFirst_ExtendedStreamingHistory.pdf", NOT_HISTORY),
        ("MyData/StreamingHistory_podcast_0.json", PODCAST_FILE),
        ("MyData/Playlist1.json", NOT_HISTORY),
    ]


def test_a_zip_member_is_unpacked_only_when_read() -> None:
    budget = UnpackBudget(total_bytes=10_000, member_bytes=10_000)
    data = _zip({"endsong_0.json": b"[" + b" " * 998 + b"]", "endsong_1.json": b"[]"})

    unpacked = unpack_upload("my_spotify_data.zip", data, budget=budget)
    left_before_reading = budget.left
    first = unpacked.files[0].read()

    assert left_before_reading == 10_000
    assert (len(first), budget.left) == (1_000, 9_000)


def test_a_zip_bomb_is_refused_by_its_member_name() -> None:
    data = _zip({"Data/endsong_0.json": b"[" + b" " * 5_000_000 + b"]"})
    budget = UnpackBudget(total_bytes=10 * 1024 * 1024, member_bytes=1024 * 1024)
    member = unpack_upload("bomb.zip", data, budget=budget).files[0]

    with pytest.raises(
        ExportFileError, match=r"Data/endsong_0\.json in bomb\.zip is more than 1 MB"
    ):
        member.read()


def test_a_member_that_lies_about_its_size_is_refused() -> None:
    content = b"[" + b" " * 100_000 + b"]"
    data = bytearray(_zip({"endsong_0.json": content}))
    central = data.index(b"PK\x01\x02")
    # The central directory's uncompressed size (offset 24) says 2 bytes.
    data[central + 24 : central + 28] = (2).to_bytes(4, "little")
    budget = UnpackBudget(total_bytes=50_000, member_bytes=50_000)

    # zipfile stops at the declared size and finds the CRC wrong; past it, the budget would.
    with pytest.raises(ExportFileError, match=r"lies\.zip is damaged: endsong_0\.json"):
        _read_all("lies.zip", bytes(data), budget)


def test_one_budget_holds_for_every_upload_of_a_request() -> None:
    budget = UnpackBudget(total_bytes=2_500, member_bytes=2_000)
    first = _zip({"endsong_0.json": b"[" + b" " * 1_498 + b"]"})
    second = b"[" + b" " * 1_498 + b"]"

    assert len(_read_all("first.zip", first, budget)[0][1]) == 1_500
    with pytest.raises(ExportFileError, match=r"endsong_1\.json goes past the 2500 bytes one"):
        _read_all("endsong_1.json", second, budget)


def test_too_many_members_are_refused() -> None:
    data = _zip({f"junk_{number}.json": b"" for number in range(20)})

    with pytest.raises(ExportFileError, match=r"junk\.zip holds 20 files"):
        unpack_upload("junk.zip", data, budget=UnpackBudget(), max_members=10)


def _patched_central_header(offset: int, value: bytes, name: bytes = b"") -> bytes:
    """Return a stored one-member zip with bytes of its central directory entry replaced."""
    data = bytearray(_zip({"endsong_0.json": b"[]"}, zipfile.ZIP_STORED))
    central = data.index(b"PK\x01\x02")
    data[central + offset : central + offset + len(value)] = value
    if name:
        data[central + 46 : central + 46 + len(name)] = name
    return bytes(data)


@pytest.mark.parametrize(
    ("filename", "data", "message"),
    [
        ("export.zip", b"PK\x03\x04 not really a zip", "export.zip is not a zip file"),
        ("broken.zip", _zip({"endsong_0.json": b"[]"})[:40], "broken.zip is not a zip file"),
        ("photo.png", b"\x89PNG", "photo.png is neither a .json file nor the .zip"),
        # Version needed to extract 10.0: zipfile raises NotImplementedError.
        (
            "new.zip",
            _patched_central_header(6, (100).to_bytes(2, "little")),
            "new.zip is not a zip",
        ),
        # A UTF-8 name (flag 0x800) that is not UTF-8: UnicodeDecodeError.
        ("names.zip", _patched_central_header(8, b"\x00\x08", b"\xff"), "names.zip is not a zip"),
        # Compression method 99: NotImplementedError on read.
        ("odd.zip", _patched_central_header(10, b"\x63\x00"), "odd.zip is damaged: endsong_0"),
        # Encrypted: RuntimeError on read.
        ("locked.zip", _patched_central_header(8, b"\x01\x00"), "locked.zip is damaged: endsong"),
    ],
)
def test_other_uploads_are_refused_by_name(filename: str, data: bytes, message: str) -> None:
    with pytest.raises(ExportFileError, match=message):
        _read_all(filename, data, UnpackBudget())


_EXTENDED_JSON = json.dumps([_row(), _row(ts="2024-08-02T16:12:16Z")]).encode()
_ACCOUNT_JSON = json.dumps(
    [{"endTime": "2020-01-16 03:13", "artistName": "a", "trackName": "t", "msPlayed": 1}]
).encode()
UPLOADS = [
    ("Streaming_History_Audio_2024_4.json", _EXTENDED_JSON),
    ("StreamingHistory_music_0.json", _ACCOUNT_JSON),
    ("my_spotify_data.zip", _zip({"MyData/endsong_0.json": _EXTENDED_JSON})),
    (
        "my_spotify_data.zip",
        _zip({"a/StreamingHistory0.json": _ACCOUNT_JSON, "b/x.txt": b"x"}, zipfile.ZIP_STORED),
    ),
]


# Where a byte is changed: in the fields of a zip's local header (30 bytes) or of its central
# directory entry (46), where zipfile finds versions, flags and methods; or anywhere.
PLACES = st.one_of(
    st.tuples(st.just(b"PK\x03\x04"), st.integers(4, 29)),
    st.tuples(st.just(b"PK\x01\x02"), st.integers(4, 45)),
    st.tuples(st.just(b""), st.integers(0, 2**16)),
)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(UPLOADS),
    st.lists(st.tuples(PLACES, st.integers(0, 255)), min_size=1, max_size=8),
    st.one_of(st.none(), st.floats(0, 1, exclude_max=True)),
)
def test_a_damaged_upload_is_refused_never_a_crash(
    upload: tuple[str, bytes], changes: list[tuple[tuple[bytes, int], int]], kept: float | None
) -> None:
    filename, original = upload
    data = bytearray(original)
    for (header, offset), byte in changes:
        start = data.find(header) if header else 0
        data[(max(start, 0) + offset) % len(data)] = byte
    if kept is not None:
        data = data[: max(1, round(kept * len(data)))]

    try:
        for name, content in _read_all(filename, bytes(data), UnpackBudget(100_000, 50_000)):
            parse_export_file(name, content)
    except ExportFileError:
        pass
