"""Define the CSV datasets both services share, and load and save them as DataFrames."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from pandas.api.types import union_categoricals

from shared.storage import NotFoundError, Store, check_name

logger = logging.getLogger(__name__)

ColumnType = Literal["str", "int", "float", "bool"]

CHUNK_ROWS = 10_000
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


class DatasetSchemaError(ValueError):
    """A frame does not have the columns its dataset requires."""


@dataclass(frozen=True)
class Dataset:
    """A CSV dataset: where it lives and the columns it must have, with their types."""

    name: str
    columns: tuple[tuple[str, ColumnType], ...]

    @property
    def column_names(self) -> list[str]:
        """Return the required column names, in order."""
        return [column for column, _ in self.columns]

    def at(self, name: str) -> Dataset:
        """Return the same dataset kept under another object name (one file per user)."""
        return Dataset(check_name(name), self.columns)


def _columns(spec: str) -> tuple[tuple[str, ColumnType], ...]:
    """Parse 'a, b:int, c:bool' into column names and types (str when none is given)."""
    result: list[tuple[str, ColumnType]] = []
    for item in spec.split(","):
        column, _, kind = item.strip().partition(":")
        result.append((column, (kind or "str")))  # type: ignore[arg-type]
    return tuple(result)


CONCERTS = Dataset(
    "datasets/concerts.csv",
    _columns(
        "event_id, source, event_title, event_url, starts_at, starts_at_local, time_tbd:bool, "
        "venue_name, venue_city, venue_state, venue_postal_code, venue_lat:float, "
        "venue_lon:float, performer_id, performer_name, is_headliner:bool, billing_order:int, "
        "genres, source_spotify_artist_id, fetched_at, performer_kind, performer_from_title:bool"
    ),
)

ARTISTS = Dataset(
    "datasets/artists.csv",
    _columns(
        "performer_key, performer_name, spotify_artist_id, spotify_artist_name, match_method, "
        "match_score:float, checked_at, match_confidence, match_evidence, tracks_checked_at"
    ),
)

TOP_TRACKS = Dataset(
    "datasets/top_tracks.csv",
    _columns(
        "spotify_artist_id, rank:int, track_id, track_name, album_name, release_date, "
        "duration_ms:int, explicit:bool, isrc, tracks_source, fetched_at"
    ),
)

OVERRIDES = Dataset("overrides/artists.csv", _columns("performer_key, spotify_artist_id"))

BACKUPS = Dataset(
    "backups/_template.csv",
    _columns(
        "user_id, source_kind, source_playlist_id, week, position:int, track_id, track_name, "
        "artist_names, album_name, added_at, captured_at"
    ),
)


def backups_of(user_id: str) -> Dataset:
    """Return the backups dataset of one user."""
    return BACKUPS.at(f"backups/{user_id}.csv")


def empty_frame(dataset: Dataset) -> pd.DataFrame:
    """Return a frame with the dataset's columns and no rows."""
    return _apply_types(
        pd.DataFrame({column: pd.Series([], dtype=str) for column in dataset.column_names}), dataset
    )


def load_dataset(
    store: Store,
    dataset: Dataset,
    *,
    columns: list[str] | None = None,
    text_as_category: bool = False,
) -> tuple[pd.DataFrame, int | None]:
    """Load a dataset and the generation it was read at; an absent one is empty (None).

    `columns` reads only those; `text_as_category` keeps each distinct text once (for the web's
    long-lived copy, where memory counts).
    """
    try:
        stored = store.read(dataset.name)
    except NotFoundError:
        return empty_frame(dataset), None
    return parse_csv(
        stored.data, dataset, columns=columns, text_as_category=text_as_category
    ), stored.generation


def parse_csv(
    data: bytes,
    dataset: Dataset,
    *,
    columns: list[str] | None = None,
    text_as_category: bool = False,
) -> pd.DataFrame:
    """Parse a dataset's CSV text, adding absent columns empty and typing the known ones."""
    wanted = Dataset(
        dataset.name, tuple(c for c in dataset.columns if columns is None or c[0] in columns)
    )
    if not data.strip():
        return empty_frame(wanted)
    header = set(pd.read_csv(io.BytesIO(data), nrows=0).columns)
    usecols = None if columns is None else [c for c in columns if c in header]
    types = {column: ("category" if text_as_category else str) for column, _ in wanted.columns}
    frame = pd.read_csv(
        io.BytesIO(data), dtype=types, usecols=usecols, keep_default_na=False, na_filter=False
    )
    missing = [column for column in wanted.column_names if column not in frame.columns]
    if missing:
        logger.warning(
            "dataset lacks columns; they are read as empty",
            extra={"dataset": dataset.name, "missing_columns": missing},
        )
        for column in missing:
            frame[column] = ""
    return _apply_types(frame, wanted)


def _read(
    data: bytes, types: dict[str, Any], usecols: list[str] | None, *, chunked: bool
) -> pd.DataFrame:
    """Read CSV text; chunked, each chunk's text turns into categories before the next is read,
    so that the whole file never exists as one string object a cell (the peak that counts)."""
    options: dict[str, Any] = {
        "dtype": types,
        "usecols": usecols,
        "keep_default_na": False,
        "na_filter": False,
    }
    if not chunked:
        whole: pd.DataFrame = pd.read_csv(io.BytesIO(data), **options)
        return whole
    chunks: list[pd.DataFrame] = list(
        pd.read_csv(io.BytesIO(data), chunksize=CHUNK_ROWS, **options)
    )
    if len(chunks) == 1:
        return chunks[0]
    combined = {}
    for column in chunks[0].columns:
        parts = [chunk[column] for chunk in chunks]
        if isinstance(parts[0].dtype, pd.CategoricalDtype):
            combined[column] = pd.Series(union_categoricals(parts, ignore_order=True))
        else:
            combined[column] = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(combined)


def save_dataset(
    store: Store,
    dataset: Dataset,
    frame: pd.DataFrame,
    *,
    if_generation_match: int | None = None,
) -> int:
    """Write a dataset whole and return its generation; refuse a frame that lacks a column."""
    missing = [column for column in dataset.column_names if column not in frame.columns]
    if missing:
        raise DatasetSchemaError(
            f"{dataset.name} needs the columns {', '.join(missing)}, which the frame lacks"
        )
    extra = [column for column in frame.columns if column not in dataset.column_names]
    ordered = frame[dataset.column_names + extra].copy()
    for column, kind in dataset.columns:
        if kind == "bool":
            ordered[column] = ordered[column].map(
                lambda value: "true" if value is True or value == 1 else "false"
            )
    data = ordered.to_csv(index=False, lineterminator="\n").encode("utf-8")
    return store.write(
        dataset.name, data, if_generation_match=if_generation_match, content_type="text/csv"
    )


def _apply_types(frame: pd.DataFrame, dataset: Dataset) -> pd.DataFrame:
    for column, kind in dataset.columns:
        if kind == "str":
            if not isinstance(frame[column].dtype, pd.CategoricalDtype):
                frame[column] = frame[column].astype(str)
            continue
        values = frame[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            # Convert each distinct text once, then spread by the codes: no string a cell.
            converted, bad_categories = _convert(pd.Series(values.cat.categories.astype(str)), kind)
            codes = values.cat.codes.to_numpy()
            typed = converted.take(codes).reset_index(drop=True)
            bad = pd.Series(bad_categories.to_numpy()[codes], index=values.index)
            typed.index = values.index
        else:
            typed, bad = _convert(values.astype(str), kind)
        frame[column] = typed
        if bad.any():
            logger.warning(
                "unreadable values in a dataset column were read as empty",
                extra={"dataset": dataset.name, "column": column, "rows": int(bad.sum())},
            )
    return frame


def _convert(text: pd.Series, kind: ColumnType) -> tuple[pd.Series, pd.Series]:
    """Return text typed as kind, and which values could not be read."""
    text = text.str.strip()
    if kind == "bool":
        lowered = text.str.lower()
        return lowered.isin(_TRUE), ~lowered.isin(_TRUE | _FALSE)
    numbers = pd.to_numeric(text, errors="coerce").astype(float)
    if kind == "int":
        numbers = numbers.where(numbers == numbers.round())
    bad = numbers.isna() & (text != "")
    return (numbers.astype("Int64") if kind == "int" else numbers), bad
