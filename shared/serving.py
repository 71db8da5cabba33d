"""The serving layout: per-state files of what the pages need, and a small index of them.

The canonical datasets stay CSV files for people to read; the web reads this layout instead,
so that a worker holds only the states people are looking at. The ETL writes it after the
datasets (`etl/serving.py`); it can always be rebuilt from them (`python -m etl serving`).

    serving/index.json                   every state's counts, cities, genres, area and files
    serving/states/<ST>/shows.npz        the state's concert rows, shaped and joined with matches
    serving/states/<ST>/tracks.npz       the tracks of the artists who play there

The shaping lives here once: the web uses it too when no layout has been written yet.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import zipfile
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from shared.datasets import performer_keys
from shared.names import clean_text
from shared.packed_text import BlockText, CodedText, PackedText
from shared.storage import NotFoundError, StorageError, Store, check_name

logger = logging.getLogger(__name__)

INDEX = "serving/index.json"
LAYOUT_VERSION = 1

# What the pages use of the concerts dataset; the rest stays in the bucket.
CONCERT_COLUMNS = [
    "event_id",
    "source",
    "event_title",
    "event_url",
    "starts_at",
    "starts_at_local",
    "time_tbd",
    "venue_name",
    "venue_city",
    "venue_state",
    "venue_lat",
    "venue_lon",
    "performer_name",
    "is_headliner",
    "billing_order",
    "genres",
    "performer_key",  # absent from files written before the ETL stored it
]
# Names shown on the pages and sent to Spotify: cleaned once, here.
NAME_COLUMNS = ["event_title", "venue_name", "venue_city", "performer_name", "genres"]
# Text that repeats (a venue, a city, a title for each act on the bill): categories in memory.
TEXT_COLUMNS = [
    "source",
    "event_title",
    "event_url",
    "starts_at_local",
    "venue_name",
    "venue_city",
    "venue_state",
    "performer_name",
    "genres",
    "performer_key",
    "show_key",
    "spotify_artist_id",
]
TRACK_COLUMNS = ["spotify_artist_id", "rank", "track_id", "track_name"]
# A state names a folder: rows whose state could not (empty, a slash) are left out.
STATE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


class ServingLayoutError(ValueError):
    """A serving file or index that cannot be read as what this module writes."""


@dataclass(frozen=True)
class StateSummary:
    """What the index says of one state: enough for the area form without reading its files."""

    shows: int
    artists: int
    rows: int
    cities: list[tuple[str, int, int]]  # city, shows, artists; by name
    genres: list[tuple[str, int]]  # genre, shows; most shows first
    bbox: tuple[float, float, float, float]  # min lat, min lon, max lat, max lon of its venues
    shows_generation: int = 0
    tracks_generation: int = 0
    bytes: int = 0  # both files, as stored


@dataclass
class ServingIndex:
    """The index of a written layout."""

    states: dict[str, StateSummary]
    sources: dict[str, int | None] = field(default_factory=dict)  # dataset -> generation used
    built_at: str = ""
    generation: int = 0  # of the index object itself


def shows_file(state: str) -> str:
    return check_name(f"serving/states/{state}/shows.npz")


def tracks_file(state: str) -> str:
    return check_name(f"serving/states/{state}/tracks.npz")


def _text(value: object) -> str:
    """Return a value as text; a missing one (None, NaN, pd.NA) as ""."""
    missing = value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
    return "" if missing else str(value)


def _clean(value: object) -> str:
    """Return a name cleaned of control characters; a missing one as ""."""
    return clean_text(_text(value))


def shape_rows(concerts: pd.DataFrame, artists: pd.DataFrame) -> pd.DataFrame:
    """Return the concert rows shaped for the pages, every state, each with its match.

    Sorted by start, show and billing; names cleaned; `starts` a UTC time; `local_day` the day
    on the venue's clock as 20261121; `spotify_artist_id` the match ("" when none), `checked`
    whether the ETL has looked the performer up, `uncertain` whether the match is a low-confidence
    one (a page says "maybe"). Rows whose start cannot be read are left out.
    """
    frame = concerts[[column for column in CONCERT_COLUMNS if column in concerts.columns]]
    frame = frame.assign(
        performer_key=performer_keys(frame).astype(str),
        **{
            column: frame[column].map(_clean)  # a category's text is mapped once
            for column in NAME_COLUMNS
            if column in frame.columns
        },
        starts=pd.to_datetime(frame["starts_at"], utc=True, errors="coerce"),
        show_key=frame["source"].astype(str) + ":" + frame["event_id"].astype(str),
        local_day=pd.to_numeric(
            frame["starts_at_local"].astype(str).str.slice(0, 10).str.replace("-", ""),
            errors="coerce",
        )
        .fillna(0)
        .astype("int32"),
    ).drop(columns=["starts_at", "event_id"])
    if "time_tbd" not in frame.columns:  # datasets written before the column existed
        frame = frame.assign(time_tbd=False)
    bad = int(frame["starts"].isna().sum())
    if bad:
        logger.warning("concert rows with an unreadable start were left out", extra={"rows": bad})
        frame = frame[frame["starts"].notna()]
    matched = {
        _text(key): _text(artist_id)
        for key, artist_id in zip(
            artists["performer_key"], artists["spotify_artist_id"], strict=True
        )
        if _text(artist_id)
    }
    checked = {_text(key) for key in artists["performer_key"]}
    confidence = (
        artists["match_confidence"]
        if "match_confidence" in artists
        else pd.Series("", artists.index)
    )
    uncertain = {
        _text(key)
        for key, level in zip(artists["performer_key"], confidence, strict=True)
        if _text(level) == UNCERTAIN_CONFIDENCE
    }
    keys = frame["performer_key"].astype(str)
    frame = frame.assign(
        spotify_artist_id=keys.map(lambda key: matched.get(key, "")),
        checked=keys.isin(checked),
        uncertain=keys.isin(uncertain),
        time_tbd=frame["time_tbd"].fillna(False).astype(bool),
        is_headliner=frame["is_headliner"].fillna(False).astype(bool),
    )
    frame = frame.assign(
        **{
            column: frame[column].astype(object).where(frame[column].notna(), "").astype(str)
            for column in TEXT_COLUMNS
            if column in frame.columns
        }
    )
    return frame.sort_values(["starts", "show_key", "billing_order"], kind="stable").reset_index(
        drop=True
    )


def shape_tracks(tracks: pd.DataFrame) -> pd.DataFrame:
    """Return the tracks with an id, names cleaned, ranked within each artist."""
    frame = tracks[TRACK_COLUMNS].copy()
    frame = frame.assign(
        spotify_artist_id=frame["spotify_artist_id"].map(_text).astype(str),
        track_id=frame["track_id"].map(_text).astype(str),
    )
    frame = frame[frame["track_id"].str.len() > 0]
    rank = pd.to_numeric(frame["rank"], errors="coerce").fillna(99).astype("int16")
    frame = frame.assign(
        track_name=frame["track_name"].map(_clean).astype(str),
        rank=rank,
    )
    return frame.sort_values(["spotify_artist_id", "rank"], kind="stable").reset_index(drop=True)


def summarize(rows: pd.DataFrame) -> StateSummary:
    """Count a state's shows, artists, cities and genres, and bound its venues."""
    grouped = rows.groupby("venue_city", observed=True)
    shows, artists = grouped["show_key"].nunique(), grouped["performer_key"].nunique()
    artists_in = dict(artists.items())
    cities = sorted((str(city), int(n), int(artists_in[city])) for city, n in shows.items() if n)
    exploded = rows.assign(genre=rows["genres"].astype(str).str.split("|")).explode("genre")
    exploded = exploded[exploded["genre"].astype(bool)]
    # Most shows first, ties by name (the groupby's order): the same index for the same data.
    per_genre = (
        exploded.groupby("genre")["show_key"].nunique().sort_values(ascending=False, kind="stable")
    )
    lats = pd.to_numeric(rows["venue_lat"], errors="coerce").dropna()
    lons = pd.to_numeric(rows["venue_lon"], errors="coerce").dropna()
    bbox = (
        (float(lats.min()), float(lons.min()), float(lats.max()), float(lons.max()))
        if len(lats) and len(lons)
        else (math.nan, math.nan, math.nan, math.nan)
    )
    return StateSummary(
        shows=int(rows["show_key"].nunique()),
        artists=int(rows["performer_key"].nunique()),
        rows=len(rows),
        cities=cities,
        genres=[(str(genre), int(n)) for genre, n in per_genre.items()],
        bbox=bbox,
    )


def build_layout(
    concerts: pd.DataFrame, artists: pd.DataFrame, tracks: pd.DataFrame
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Return each state's rows and the tracks of its matched artists."""
    rows = shape_rows(concerts, artists)
    unnamed = ~rows["venue_state"].map(lambda state: bool(STATE_NAME.fullmatch(state)))
    if unnamed.any():
        logger.warning(
            "concert rows whose state cannot name a file were left out",
            extra={"rows": int(unnamed.sum())},
        )
        rows = rows[~unnamed]
    ranked = shape_tracks(tracks)
    layout = {}
    for state, group in rows.groupby("venue_state", sort=True):
        ids = set(group["spotify_artist_id"]) - {""}
        lats = pd.to_numeric(group["venue_lat"], errors="coerce").to_numpy(dtype=float)
        lons = pd.to_numeric(group["venue_lon"], errors="coerce").to_numpy(dtype=float)
        layout[str(state)] = (
            group.reset_index(drop=True).assign(place=place_numbers(lats, lons)),
            ranked[ranked["spotify_artist_id"].isin(ids)].reset_index(drop=True),
        )
    return layout


def place_numbers(lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Number the rows' places 0, 1, ... by their coordinates (the same coordinates, the same
    number), as a state keeps them: distances are computed per place, not per row.

    Places are told apart by their coordinates' exact bits (by hashing integers: a venue's rows
    repeat its coordinates exactly); unknown coordinates are a place whose distance is unknown.
    """
    by_lat, _ = pd.factorize(np.ascontiguousarray(lats, dtype=float).view(np.int64))
    by_lon, lon_values = pd.factorize(np.ascontiguousarray(lons, dtype=float).view(np.int64))
    numbers: np.ndarray = pd.factorize(by_lat.astype(np.int64) * max(len(lon_values), 1) + by_lon)[
        0
    ]
    return numbers.astype(np.int32)


def to_columns(frame: pd.DataFrame, blocked: Collection[str] = ()) -> bytes:
    """Return a frame as a compressed NumPy archive, one array a column: text as a code per row
    into its distinct values, written once each as UTF-8 in one buffer with their ends; times as
    UTC nanoseconds; the rest as it is.

    (Files of the first version held the distinct texts as a fixed-width array, four bytes a
    character of the longest: reading a big state's titles that way took tens of megabytes for a
    moment. They are still read.)
    """
    arrays: dict[str, np.ndarray] = {}
    kinds = []
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            utc = pd.to_datetime(column, utc=True).dt.tz_localize(None)
            arrays[name] = utc.to_numpy(dtype="datetime64[ns]").astype(np.int64)
            kinds.append(f"{name}:utc")
        elif pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
            values = column.to_numpy()
            if values.dtype == object:  # a nullable column with gaps: numbers with NaN
                values = column.astype("float64").to_numpy()
            arrays[name] = values
            kinds.append(f"{name}:plain")
        else:
            codes, distinct = pd.factorize(column.astype(str))
            packed = PackedText.of(str(value) for value in distinct)
            arrays[f"{name}.codes"] = codes.astype(np.int32)
            arrays[f"{name}.ends"] = packed.ends
            if name in blocked:  # kept compressed in memory too (BlockText)
                compressed = BlockText.of(packed)
                arrays[f"{name}.zblocks"] = np.frombuffer(compressed.blocks, dtype=np.uint8)
                arrays[f"{name}.block_ends"] = compressed.block_ends
                kinds.append(f"{name}:utf8z")
            else:
                arrays[f"{name}.utf8"] = np.frombuffer(packed.buffer, dtype=np.uint8)
                kinds.append(f"{name}:utf8")
    arrays["columns"] = np.array(kinds, dtype=str)
    out = io.BytesIO()
    np.savez_compressed(out, **arrays)  # type: ignore[arg-type]
    return out.getvalue()


Column = np.ndarray | CodedText


def read_columns(
    data: bytes, names: Collection[str] | None = None, codes_only: Collection[str] = ()
) -> dict[str, Column]:
    """Read what to_columns wrote: text as CodedText (nothing decoded yet), times as UTC
    nanoseconds, the rest as arrays; ServingLayoutError otherwise.

    Only the columns `names` are read (all when None), and of the text columns `codes_only`
    their codes alone (what tells equal texts apart): the rest of the file is never unpacked.
    No pickled objects are ever loaded: a file that is not plain arrays is refused.
    """
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
        found: dict[str, Column] = {}
        for kind in archive["columns"].tolist():
            name, _, how = str(kind).rpartition(":")
            if names is not None and name not in names:
                continue
            if how in ("utf8", "utf8z", "text") and name in codes_only:
                found[name] = archive[f"{name}.codes"].astype(np.int32, copy=False)
            elif how == "utf8z":
                blocks = BlockText(
                    archive[f"{name}.zblocks"].tobytes(),
                    archive[f"{name}.block_ends"],
                    archive[f"{name}.ends"],
                )
                codes = archive[f"{name}.codes"].astype(np.int32, copy=False)
                found[name] = CodedText(codes, blocks)
            elif how == "utf8":
                packed = PackedText(archive[f"{name}.utf8"].tobytes(), archive[f"{name}.ends"])
                codes = archive[f"{name}.codes"].astype(np.int32, copy=False)
                found[name] = CodedText(codes, packed)
            elif how == "text":  # the first version: distinct texts as a fixed-width array
                texts = PackedText.of(archive[f"{name}.text"].tolist())
                codes = archive[f"{name}.codes"].astype(np.int32, copy=False)
                found[name] = CodedText(codes, texts)
            elif how == "utc":
                found[name] = archive[name].astype("datetime64[ns]")
            elif how == "plain":
                found[name] = archive[name]
            else:
                raise ValueError(f"column {name!r} of an unknown kind {how!r}")
            column = found[name]
            if isinstance(column, CodedText):
                column.check()
        lengths = {len(column) for column in found.values()}
    except (ValueError, KeyError, OSError, TypeError, EOFError, zipfile.BadZipFile) as error:
        raise ServingLayoutError(f"not a serving file ({error})") from error
    if len(lengths) > 1:
        raise ServingLayoutError("columns of different lengths")
    return found


def as_series(column: Column) -> pd.Categorical | pd.DatetimeIndex | np.ndarray:
    """Return a read column as a frame holds it: text as a category, times in UTC."""
    if isinstance(column, CodedText):
        return pd.Categorical.from_codes(
            column.codes, categories=pd.Index(column.texts.strings(), dtype=object)
        )
    if column.dtype.kind == "M":
        return pd.to_datetime(column, utc=True)
    return column


def from_columns(data: bytes, columns: list[str]) -> pd.DataFrame:
    """Read what to_columns wrote, text as pandas categories; ServingLayoutError otherwise."""
    found = read_columns(data)
    missing = [column for column in columns if column not in found]
    if missing:
        raise ServingLayoutError(f"lacks the columns {', '.join(missing)}")
    try:
        return pd.DataFrame({name: as_series(column) for name, column in found.items()})
    except (ValueError, TypeError) as error:  # e.g. two texts the same: not categories
        raise ServingLayoutError(f"not a serving file ({error})") from error


ROW_COLUMNS = [
    "show_key",
    "performer_key",
    "performer_name",
    "starts",
    "starts_at_local",
    "local_day",
    "venue_name",
    "venue_city",
    "venue_state",
    "venue_lat",
    "venue_lon",
    "is_headliner",
    "genres",
    "spotify_artist_id",
    "checked",
    "uncertain",
]
# A show's text that only the shows shown need: kept packed in memory, never as objects.
WIDE_COLUMNS = ["event_title", "event_url"]
# Columns a layout written before them lacks, and what they are then: no performer unchecked,
# no match uncertain.
ROW_DEFAULTS = {"checked": True, "uncertain": False}
# The matching's confidence ("high", "medium", "low") below which a match is shown as "maybe".
UNCERTAIN_CONFIDENCE = "low"


def write_layout(
    store: Store,
    layout: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    sources: dict[str, int | None],
    built_at: str,
) -> ServingIndex:
    """Write every state's files, then the index that names them (readers see old or new).

    States no longer in the layout keep their files until the next write removes them: the
    index is what readers follow.
    """
    states = {}
    for state, (rows, tracks) in sorted(layout.items()):
        shows_data, tracks_data = to_columns(rows, blocked=WIDE_COLUMNS), to_columns(tracks)
        summary = summarize(rows)
        states[state] = StateSummary(
            **{
                **asdict(summary),
                "shows_generation": store.write(shows_file(state), shows_data),
                "tracks_generation": store.write(tracks_file(state), tracks_data),
                "bytes": len(shows_data) + len(tracks_data),
            }
        )
    index = ServingIndex(states, sources, built_at)
    payload = {
        "version": LAYOUT_VERSION,
        "built_at": built_at,
        "sources": sources,
        "states": {state: _jsonable(asdict(summary)) for state, summary in states.items()},
    }
    index.generation = store.write(
        INDEX, json.dumps(payload, allow_nan=False).encode(), content_type="application/json"
    )
    for name in store.list("serving/states/"):
        if name.split("/")[2] not in states:
            store.delete(name)
    return index


def _jsonable(summary: dict[str, Any]) -> dict[str, Any]:
    """Return a summary with an unknown bbox (no venue coordinates) as nulls: JSON has no NaN."""
    return {**summary, "bbox": [None if math.isnan(x) else x for x in summary["bbox"]]}


def read_index(store: Store) -> ServingIndex | None:
    """Return the layout's index, None when none is written; ServingLayoutError when unreadable."""
    try:
        stored = store.read(INDEX)
    except NotFoundError:
        return None
    except StorageError as error:
        raise ServingLayoutError(f"{INDEX} could not be read ({error})") from error
    try:
        raw: Any = json.loads(stored.data)
        if raw.get("version") != LAYOUT_VERSION:
            raise ServingLayoutError(f"{INDEX} is of layout version {raw.get('version')!r}")
        states = {str(state): _summary(summary) for state, summary in dict(raw["states"]).items()}
        sources = {str(k): (int(v) if v is not None else None) for k, v in raw["sources"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ServingLayoutError(f"{INDEX} is not an index ({error})") from error
    return ServingIndex(states, sources, str(raw.get("built_at", "")), stored.generation)


def _summary(raw: dict[str, Any]) -> StateSummary:
    return StateSummary(
        shows=int(raw["shows"]),
        artists=int(raw["artists"]),
        rows=int(raw["rows"]),
        cities=[(str(c), int(s), int(a)) for c, s, a in raw["cities"]],
        genres=[(str(g), int(n)) for g, n in raw["genres"]],
        bbox=tuple(math.nan if x is None else float(x) for x in raw["bbox"]),  # type: ignore[arg-type]
        shows_generation=int(raw["shows_generation"]),
        tracks_generation=int(raw["tracks_generation"]),
        bytes=int(raw["bytes"]),
    )


def _read_files(store: Store, state: str) -> tuple[bytes, bytes]:
    try:
        shows = store.read(shows_file(state)).data
        tracks = store.read(tracks_file(state)).data
    except StorageError as error:  # NotFoundError included: the index names files that are gone
        raise ServingLayoutError(f"{state}'s serving files could not be read ({error})") from error
    return shows, tracks


def read_state(store: Store, state: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read one state's rows and tracks as frames; ServingLayoutError names what is wrong."""
    shows, tracks = _read_files(store, state)
    rows = from_columns(shows, [column for column in ROW_COLUMNS if column not in ROW_DEFAULTS])
    missing = {column: value for column, value in ROW_DEFAULTS.items() if column not in rows}
    return rows.assign(**missing), from_columns(tracks, TRACK_COLUMNS)


def read_state_columns(
    store: Store, state: str, names: Collection[str], optional: Collection[str] = ()
) -> tuple[dict[str, Column], dict[str, Column]]:
    """Read one state's rows (the columns `names`, of which `optional` may be missing; of
    `show_key` its codes alone) and its tracks as columns, no text decoded yet;
    ServingLayoutError names what is wrong."""
    shows, tracks = _read_files(store, state)
    columns = read_columns(shows, names, codes_only=("show_key",))
    missing = [c for c in names if c not in columns and c not in optional]
    track_columns = read_columns(tracks, TRACK_COLUMNS)
    missing += [c for c in TRACK_COLUMNS if c not in track_columns]
    if missing:
        raise ServingLayoutError(f"lacks the columns {', '.join(missing)}")
    return columns, track_columns
