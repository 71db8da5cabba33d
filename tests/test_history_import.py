"""An upload of Spotify's export, as a whole: every file read by what it is, alone or zipped
alike; whose export it is; bad rows named; hostile files refused or imported in linear work."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from shared.config import load_settings
from shared.export_upload import AUDIOBOOK_FILE, PODCAST_FILE, VIDEO_FILE
from shared.history_import import LAST_IMPORT, import_export_files
from shared.people.deletion import Writes, delete_person
from shared.plays import load_plays, month_objects, plays_prefix
from shared.storage import FolderStore, StoredObject
from tests.conftest import BASE_ENV
from tests.contract import REAL_API

EXPORTS = REAL_API / "exports"
REAL_FILES = sorted((EXPORTS / "extended").glob("*.json")) + sorted(
    (EXPORTS / "account").glob("*.json")
)
NOW = datetime(2026, 6, 10, 16, tzinfo=UTC)
# A long token is refused before any parsing (shared/json_rows.py).
_NO_QUOTE = " is not JSON Spotify writes (10,000 bytes or more between two quotes)"
# The folders Spotify's zips put their files in.
FOLDERS = {"extended": "Spotify Extended Streaming History/", "account": "Spotify Account Data/"}


def spotify_name(path: Path) -> str:
    """The name Spotify gave a recorded file (`owner__` is where it was found)."""
    return path.name.split("__", 1)[1]


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def run(
    tmp_path: Path, uploads: list[tuple[str, bytes]], *, mine: bool = True, user: str = "alice"
) -> tuple[dict[str, Any], FolderStore]:
    store = FolderStore(tmp_path / f"store-{len(list(tmp_path.iterdir()))}")
    return import_export_files(
        store, user, uploads, mine_confirmed=mine, now=NOW, writes=writes_of(store, user)
    ), store


def writes_of(store: FolderStore, user: str) -> Writes:
    """The deletion protocol's view of an import's writes (as the web gives it)."""
    return Writes(store, user, load_settings(BASE_ENV), feature="listening")


def _same(result: dict[str, Any]) -> dict[str, Any]:
    """A result without what differs by where a file came from (the zip's folder)."""
    return {k: v for k, v in result.items() if k not in ("ignored", "ignored_count")}


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda path: path.name)
def test_every_real_export_file_imports_the_same_alone_and_zipped(
    path: Path, tmp_path: Path
) -> None:
    name = spotify_name(path)
    folder = FOLDERS[path.parent.name]
    data = path.read_bytes()

    alone, alone_store = run(tmp_path, [(name, data)])
    in_zip, zip_store = run(
        tmp_path, [("my_spotify_data.zip", zipped({folder + name: data, "ReadMe.pdf": b"%PDF"}))]
    )

    assert alone["file_count"] == 1 and alone["refused"] == []
    assert _same(alone) == _same(in_zip)
    assert load_plays(alone_store, "alice").equals(load_plays(zip_store, "alice"))
    assert alone["added"] == len(load_plays(alone_store, "alice")) > 0


def _rows_like_audio(count: int) -> list[dict[str, Any]]:
    """Rows in the shape of the real 2024 audio file: a Video file's rows are the same keys,
    music videos with a track uri, video podcasts with an episode uri."""
    return [dict(row) for row in _audio_rows()[:count]]


@cache
def _audio_rows() -> tuple[dict[str, Any], ...]:
    path = EXPORTS / "extended/mica-92__Streaming_History_Audio_2024_4.json"
    return tuple(json.loads(path.read_text()))


ACCOUNT_PODCAST_ROWS = [  # StreamingHistory_podcast_N.json of the account export
    {"endTime": "2024-05-01 10:00", "podcastName": "A Show", "episodeName": "Ep 1", "msPlayed": 1}
]
ACCOUNT_AUDIOBOOK_ROWS = [  # StreamingHistory_audiobook_N.json of the account export
    {
        "endTime": "2024-05-01 11:00",
        "audiobookName": "A Book",
        "chapterName": "Chapter 1",
        "msPlayed": 60000,
    }
]


@pytest.mark.parametrize(
    ("name", "rows", "why"),
    [
        ("Streaming_History_Video_2019-2024.json", _rows_like_audio(300), VIDEO_FILE),
        ("StreamingHistory_podcast_0.json", ACCOUNT_PODCAST_ROWS, PODCAST_FILE),
        ("StreamingHistory_audiobook_0.json", ACCOUNT_AUDIOBOOK_ROWS, AUDIOBOOK_FILE),
    ],
)
def test_video_podcast_and_audiobook_files_are_left_out_alone_or_zipped(
    tmp_path: Path, name: str, rows: list[dict[str, Any]], why: str
) -> None:
    data = json.dumps(rows).encode()

    alone, alone_store = run(tmp_path, [(name, data)])
    in_zip, zip_store = run(tmp_path, [("export.zip", zipped({f"MyData/{name}": data}))])

    assert alone["ignored"] == [{"name": name, "why": why}]
    assert in_zip["ignored"] == [{"name": f"MyData/{name}", "why": why}]
    for result, store in ((alone, alone_store), (in_zip, zip_store)):
        assert (result["file_count"], result["refused"], result["added"]) == (0, [], 0)
        assert month_objects(store, "alice") == []


def test_renamed_account_podcast_and_audiobook_files_are_counted_not_refused(
    tmp_path: Path,
) -> None:
    result, store = run(
        tmp_path,
        [
            ("podcasts.json", json.dumps(ACCOUNT_PODCAST_ROWS).encode()),
            ("books.json", json.dumps(ACCOUNT_AUDIOBOOK_ROWS).encode()),
        ],
    )

    assert result["refused"] == [] and result["file_count"] == 2
    assert result["skipped"] == {"episode": 1, "audiobook": 1}
    assert month_objects(store, "alice") == []


def _extended(ts: str, **changes: Any) -> dict[str, Any]:
    row = _rows_like_audio(1)[0] | {"ts": ts, "spotify_track_uri": "spotify:track:" + "a" * 22}
    return row | changes


@pytest.mark.parametrize(
    ("row", "said"),
    [
        (_extended("1600-01-01T00:00:00Z"), "row 2 has a time Spotify never writes"),
        (_extended("2300-01-01T00:00:00Z"), "row 2 has a time Spotify never writes"),
        (_extended("0001-01-01T00:00:00Z"), "row 2 has a time Spotify never writes"),
        (_extended("2024-01-01T00:00:00Z", ms_played="1000"), "row 2 has a play length"),
        (_extended("2024-01-01T00:00:00Z", ms_played=1.5), "row 2 has a play length"),
        (_extended("2024-01-01T00:00:00Z", master_metadata_track_name=["x"]), "a list as"),
        (_extended("2024-01-01T00:00:00Z", master_metadata_track_name={"a": 1}), "an object as"),
    ],
)
def test_a_bad_row_refuses_its_file_by_name_and_row_and_keeps_the_others(
    tmp_path: Path, row: dict[str, Any], said: str
) -> None:
    good = ("Streaming_History_Audio_2024_0.json", json.dumps(_rows_like_audio(20)).encode())
    bad_rows = [_extended("2024-01-01T00:00:00Z"), row]
    bad = ("Streaming_History_Audio_2024_1.json", json.dumps(bad_rows).encode())

    result, store = run(tmp_path, [good, bad])

    assert [f["name"] for f in result["files"]] == [good[0]]
    assert [r["name"] for r in result["refused"]] == [bad[0]]
    assert result["refused"][0]["why"].startswith(f"{bad[0]}: ") and said in str(result["refused"])
    assert json.loads(store.read(plays_prefix("alice") + LAST_IMPORT).data)["file_count"] == 1


def test_a_nested_value_under_a_key_nobody_reads_is_passed_over(tmp_path: Path) -> None:
    rows = [_extended("2024-01-01T00:00:00Z", a_later_key={"deep": [[[1]] * 1000]})]

    result, _ = run(tmp_path, [("Streaming_History_Audio_2024.json", json.dumps(rows).encode())])

    assert (result["refused"], result["added"]) == ([], 1)


def test_nan_and_huge_numbers_are_not_json_spotify_writes(tmp_path: Path) -> None:
    row = json.dumps(_extended("2024-01-01T00:00:00Z"))
    uploads = [
        ("Streaming_History_Audio_1.json", f'[{row[:-1]}, "n": NaN}}]'.encode()),
        ("Streaming_History_Audio_2.json", f'[{row[:-1]}, "n": {"9" * 5000}}}]'.encode()),
    ]

    result, _ = run(tmp_path, uploads)

    assert [r["why"] for r in result["refused"]] == [
        f"{name} is not JSON Spotify writes" for name, _ in uploads
    ]


class CountingStore(FolderStore):
    """A folder store that counts writes and listings, and notes the plays files read."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.writes = self.listings = 0
        self.plays_read: list[str] = []

    def read(self, name: str) -> StoredObject:
        if name.startswith("plays/"):
            self.plays_read.append(name)
        return super().read(name)

    def write(self, name: str, data: bytes, **options: Any) -> int:
        self.writes += 1
        return super().write(name, data, **options)

    def generations(self, prefix: str = "") -> dict[str, int]:
        self.listings += 1
        return super().generations(prefix)


def test_a_thousand_member_zip_writes_each_month_once_and_reads_none_that_is_absent(
    tmp_path: Path,
) -> None:
    members = {
        f"MyData/StreamingHistory_music_{number}.json": json.dumps(
            [
                {
                    "endTime": f"{2008 + number // 12:04d}-{number % 12 + 1:02d}-15 12:00",
                    "artistName": "An Artist",
                    "trackName": f"Track {number}",
                    "msPlayed": 200_000,
                }
            ]
        ).encode()
        for number in range(1000)
    }
    store = CountingStore(tmp_path / "counting")

    result = import_export_files(
        store,
        "alice",
        [("my_spotify_data.zip", zipped(members))],
        mine_confirmed=True,
        now=NOW,
        writes=writes_of(store, "alice"),
    )

    assert (result["file_count"], result["added"]) == (1000, 1000)
    assert len(month_objects(store, "alice")) == 1000
    # A write a month and the report; no month read (none existed); one listing of the months.
    assert (store.writes, store.plays_read, store.listings) == (1000 + 1, [], 1)


def test_a_file_of_one_track_at_one_time_under_many_names_is_one_play(tmp_path: Path) -> None:
    rows = [
        _extended("2024-08-02T16:07:53Z", master_metadata_track_name=f"Name {number}")
        for number in range(5000)
    ]

    result, store = run(
        tmp_path, [("Streaming_History_Audio_2024.json", json.dumps(rows).encode())]
    )

    assert (result["plays"], result["added"], result["doubles"]) == (5000, 1, 4999)
    assert len(load_plays(store, "alice")) == 1


def test_a_file_of_empty_rows_is_refused_at_its_first_row(tmp_path: Path) -> None:
    data = b"[" + b"{}," * 200_000 + b"{}]"

    result, store = run(tmp_path, [("Streaming_History_Audio_2020.json", data)])

    assert result["refused"] == [
        {
            "name": "Streaming_History_Audio_2020.json",
            "why": "Streaming_History_Audio_2020.json" + _NO_QUOTE,
        }
    ]
    assert store.list("") == []


def test_a_small_file_of_empty_rows_is_refused_at_its_first_row(tmp_path: Path) -> None:
    name = "Streaming_History_Audio_2020.json"

    result, _ = run(tmp_path, [(name, b"[" + b"{}," * 1000 + b"{}]")])

    assert result["refused"] == [
        {
            "name": name,
            "why": f"{name} is not listening history: its rows have no 'ts' or 'endTime'",
        }
    ]


# Whose export it is.
ENDSONG = EXPORTS / "extended/erickmay__endsong_1.json"  # rows name "user-redacted"
BASIC = EXPORTS / "account/hobbies-w-erin__StreamingHistory_music_0.json"


def test_an_export_that_names_no_account_waits_for_this_export_is_mine(tmp_path: Path) -> None:
    upload = [(spotify_name(BASIC), BASIC.read_bytes())]

    asked, store = run(tmp_path, upload, mine=False)
    confirmed, _ = run(tmp_path, upload, mine=True)

    assert asked["needs_owner"] and not asked["wrong_user"] and asked["file_count"] == 0
    assert "Nothing in StreamingHistory_music_0.json says which Spotify account" in str(asked)
    assert store.list("") == []
    assert confirmed["file_count"] == 1


@pytest.mark.parametrize(("username", "imported"), [("alice", True), ("someone-else", False)])
def test_the_account_exports_userdata_names_whose_export_it_is(
    tmp_path: Path, username: str, imported: bool
) -> None:
    userdata = {"username": username, "email": "someone@example.com", "country": "US"}
    data = zipped(
        {
            "MyData/StreamingHistory_music_0.json": BASIC.read_bytes(),
            "MyData/Userdata.json": json.dumps(userdata).encode(),
        }
    )

    result, _ = run(tmp_path, [("my_spotify_data.zip", data)], mine=False)

    assert (result["file_count"] == 1) is imported
    assert result["wrong_user"] is not imported and not result["needs_owner"]
    if not imported:
        assert "Spotify account someone-else, not yours (alice)" in str(result["refused"])


def test_an_endsong_file_of_the_signed_in_account_needs_no_question(tmp_path: Path) -> None:
    result, _ = run(
        tmp_path, [(spotify_name(ENDSONG), ENDSONG.read_bytes())], mine=False, user="user-redacted"
    )

    assert result["file_count"] == 1 and not result["needs_owner"]


def test_a_file_that_breaks_the_parser_is_refused_and_the_rest_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shared.history_import as module

    real = module.parse_export_file

    def parse(name: str, data: bytes) -> Any:
        if name == "endsong_9.json":
            raise RuntimeError("nobody foresaw this")
        return real(name, data)

    monkeypatch.setattr(module, "parse_export_file", parse)
    good = (spotify_name(BASIC), BASIC.read_bytes())

    result, store = run(tmp_path, [good, ("endsong_9.json", b"[]")])

    assert result["file_count"] == 1
    assert result["refused"] == [
        {"name": "endsong_9.json", "why": "endsong_9.json could not be read."}
    ]
    assert json.loads(store.read(plays_prefix("alice") + LAST_IMPORT).data)["file_count"] == 1


@pytest.mark.parametrize(
    ("row_text", "said"),
    [
        (
            '"later": [' + '["a"],' * 5_000 + '["a"]]',
            ": row 2 has 10,000 values or more nested in 'later'",
        ),
        ('"master_metadata_track_name": "' + "x" * 20_000 + '"', _NO_QUOTE),
        ('"master_metadata_track_name": "' + '\\"' * 10_000 + '"', _NO_QUOTE),
        ('"' + "k" * 20_000 + '": 1', _NO_QUOTE),
    ],
)
def test_a_field_no_export_holds_refuses_the_file_at_that_row(
    tmp_path: Path, row_text: str, said: str
) -> None:
    first = json.dumps(_extended("2024-01-01T00:00:00Z"))
    second = first[:-1] + ", " + row_text + "}"
    name = "Streaming_History_Audio_2024.json"

    result, store = run(tmp_path, [(name, f"[{first}, {second}]".encode())])

    assert result["refused"] == [{"name": name, "why": f"{name}{said}"}]
    assert store.list("") == []


def test_userdata_uploaded_beside_the_unzipped_files_says_whose_they_are(tmp_path: Path) -> None:
    music = ("StreamingHistory_music_0.json", BASIC.read_bytes())
    userdata = ("Userdata.json", json.dumps({"username": "alice", "country": "US"}).encode())

    result, _ = run(tmp_path, [music, userdata], mine=False)

    assert result["file_count"] == 1 and not result["needs_owner"] and result["refused"] == []
    assert result["ignored"] == [{"name": "Userdata.json", "why": "not listening history"}]


def test_a_zip_that_states_more_files_than_an_export_is_refused_before_it_is_opened(
    tmp_path: Path,
) -> None:
    data = bytearray(zipped({"MyData/StreamingHistory_music_0.json": b"[]"}))
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = (700_000 % 0xFFFF).to_bytes(2, "little") * 2  # entries stated

    result, _ = run(tmp_path, [("my_spotify_data.zip", bytes(data))])

    assert "holds" in result["refused"][0]["why"] and "more than a Spotify export" in str(result)


def test_account_names_and_reasons_are_cut_to_a_readable_length(tmp_path: Path) -> None:
    rows = json.loads(ENDSONG.read_text())[:8]
    for number, row in enumerate(rows):
        row["username"] = f"{number}-" + "u" * 5_000
    result, _ = run(tmp_path, [("endsong_2.json", json.dumps(rows).encode())], mine=False)

    why = result["refused"][0]["why"]
    assert len(why) <= 500 and "and 2 more" in why


def test_deleting_the_history_during_an_import_leaves_nothing_of_either(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shared.history_import as module

    store = FolderStore(tmp_path / "store")  # history need not be on to import
    real_append = module.append_plays

    def append_while_deleting(data: Any, user_id: str, plays: Any) -> Any:
        appended = real_append(data, user_id, plays)
        # "Delete my history" runs whole in another tab right after the months are written.
        delete_person(data, user_id, load_settings(BASE_ENV), now=NOW, feature="listening")
        return appended

    monkeypatch.setattr(module, "append_plays", append_while_deleting)

    result = import_export_files(
        store,
        "alice",
        [(spotify_name(BASIC), BASIC.read_bytes())],
        mine_confirmed=True,
        now=NOW,
        writes=writes_of(store, "alice"),
    )

    assert result["file_count"] == 0 and result["refused"][-1]["why"] == module.DELETED_MEANWHILE
    assert month_objects(store, "alice") == []
    assert store.list(plays_prefix("alice")) == []
