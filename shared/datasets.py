"""Define the CSV datasets both services share, and load and save them as DataFrames."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from pandas.api.types import union_categoricals

from shared.names import performer_key
from shared.storage import NotFoundError, Store, check_name

logger = logging.getLogger(__name__)

ColumnType = Literal["str", "int", "float", "bool"]

CHUNK_ROWS = 10_000
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no", ""}


class DatasetSchemaError(ValueError):
    """A dataset (a stored file or a frame to save) fails its schema: a required column is
    missing, or its bytes are not UTF-8 CSV. Names the file and the columns, for the message."""

    def __init__(self, message: str, *, dataset: str, columns: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.columns = tuple(columns)


@dataclass(frozen=True)
class Dataset:
    """A CSV dataset: where it lives and its columns, with their types.

    Every column is required except the `optional` ones, columns added after files were first
    written: a file written before them still loads, with them empty.
    """

    name: str
    columns: tuple[tuple[str, ColumnType], ...]
    optional: frozenset[str] = frozenset()

    @property
    def column_names(self) -> list[str]:
        """Return the column names, in order."""
        return [column for column, _ in self.columns]

    @property
    def required_column_names(self) -> list[str]:
        """Return the names of the columns a file must have, in order."""
        return [column for column, _ in self.columns if column not in self.optional]

    def at(self, name: str) -> Dataset:
        """Return the same dataset kept under another object name (one file per user)."""
        return Dataset(check_name(name), self.columns, self.optional)

    def only(self, columns: list[str] | None) -> Dataset:
        """Return the dataset restricted to some of its columns (all of them for None)."""
        if columns is None:
            return self
        return Dataset(self.name, tuple(c for c in self.columns if c[0] in columns), self.optional)


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
        "venue_lon:float, performer_id, performer_name, performer_key, is_headliner:bool, "
        "billing_order:int, genres, source_spotify_artist_id, fetched_at, performer_kind, "
        "performer_from_title:bool"
    ),
    optional=frozenset({"performer_kind", "performer_from_title", "performer_key"}),
)

ARTISTS = Dataset(
    "datasets/artists.csv",
    _columns(
        "performer_key, performer_name, spotify_artist_id, spotify_artist_name, match_method, "
        "match_score:float, checked_at, match_confidence, match_evidence, tracks_checked_at"
    ),
    optional=frozenset({"match_confidence", "match_evidence", "tracks_checked_at"}),
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


# Daily chart snapshots and their history (shared/charts.py): one folder per playlist.
CHART_SNAPSHOT = Dataset(
    "charts/_template/snapshot.csv",
    _columns(
        "position:int, track_id, track_name, artist_names, album_name, added_at, "
        "duration_ms:int, captured_at"
    ),
)
CHART_HISTORY = Dataset(
    "charts/_template/history.csv",
    _columns(
        "day, rank:int, track_id, track_name, artist_names, previous_rank, peak_rank:int, "
        "days_on_chart:int, first_seen, last_seen"
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
    """Parse a dataset's CSV text and type its columns; absent optional columns read empty.

    DatasetSchemaError when a required column is absent or the bytes are not UTF-8 CSV: filling
    a required column with "" would pass for data (every match lost, rows carried twice).
    """
    wanted = dataset.only(columns)
    if not data.strip():
        return empty_frame(wanted)
    try:
        header = set(pd.read_csv(io.BytesIO(data), nrows=0).columns)
        missing = [c for c in wanted.required_column_names if c not in header]
        if missing:
            raise DatasetSchemaError(
                f"{dataset.name} lacks the required column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)}",
                dataset=dataset.name,
                columns=missing,
            )
        usecols = None if columns is None else [c for c in columns if c in header]
        frame = _read(data, usecols, as_category=text_as_category)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise DatasetSchemaError(
            f"{dataset.name} is not readable UTF-8 CSV: {error}", dataset=dataset.name
        ) from error
    absent = [column for column in wanted.column_names if column not in frame.columns]
    if absent:
        logger.info(
            "dataset written before some optional columns; they are read as empty",
            extra={"dataset": dataset.name, "missing_columns": absent},
        )
        for column in absent:
            frame[column] = ""
    return _apply_types(frame, wanted)


def _read(data: bytes, usecols: list[str] | None, *, as_category: bool) -> pd.DataFrame:
    """Read every column as text, or as categories (one copy of each distinct text).

    pandas' own dtype="category" is the cheap read (no string object a cell), but it infers
    numeric categories, so "02134" would read as 2134: the columns whose categories came out
    other than text are read again, as text in chunks, and only those.
    """
    options: dict[str, Any] = {
        "usecols": usecols,
        "keep_default_na": False,
        "na_filter": False,
    }
    if not as_category:
        whole: pd.DataFrame = _same_fields(pd.read_csv(io.BytesIO(data), dtype=str, **options))
        return whole
    frame = _same_fields(pd.read_csv(io.BytesIO(data), dtype="category", **options))
    inferred = [
        column
        for column in frame.columns
        if not pd.api.types.is_string_dtype(frame[column].cat.categories)
    ]
    if inferred:
        again = {**options, "usecols": inferred}
        chunks = [
            _same_fields(chunk).astype("category")
            for chunk in pd.read_csv(io.BytesIO(data), dtype=str, chunksize=CHUNK_ROWS, **again)
        ]
        for column in inferred:
            parts = [chunk[column] for chunk in chunks]
            frame[column] = (
                pd.Series(union_categoricals(parts, ignore_order=True))
                if len(parts) > 1
                else parts[0]
            )
    return frame


def _same_fields(frame: pd.DataFrame) -> pd.DataFrame:
    """Return frame, or raise ParserError when its rows had one field more than the header.

    pandas takes such rows' first field as an index; any other count it refuses itself.
    """
    if not isinstance(frame.index, pd.RangeIndex):
        raise pd.errors.ParserError("rows have more fields than the header")
    return frame


def save_dataset(
    store: Store,
    dataset: Dataset,
    frame: pd.DataFrame,
    *,
    if_generation_match: int | None = None,
) -> int:
    """Write a dataset whole and return its generation; refuse a frame that lacks a column.

    An absent optional column is written empty. Lines end in CRLF (RFC 4180), so that the CSV
    writer quotes every field holding a CR or an LF: with LF endings a bare CR went unquoted and
    split its row when read back.
    """
    missing = [column for column in dataset.required_column_names if column not in frame.columns]
    if missing:
        raise DatasetSchemaError(
            f"{dataset.name} needs the columns {', '.join(missing)}, which the frame lacks",
            dataset=dataset.name,
            columns=missing,
        )
    extra = [column for column in frame.columns if column not in dataset.column_names]
    ordered = frame.reindex(columns=dataset.column_names + extra, fill_value="")
    for column, kind in dataset.columns:
        if kind == "bool":
            ordered[column] = ordered[column].map(
                lambda value: "true" if value is True or value == 1 else "false"
            )
    data = ordered.to_csv(index=False, lineterminator="\r\n").encode("utf-8")
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


def performer_keys(concerts: pd.DataFrame) -> pd.Series:
    """Return each row's performer key: the stored one, computed from the name where absent
    (rows written before the ETL stored the key, or with it blank)."""
    names = concerts["performer_name"]
    if "performer_key" not in concerts.columns:
        return names.map(lambda name: performer_key(str(name)))
    stored = concerts["performer_key"]
    blank = stored.map(lambda key: pd.isna(key) or not str(key).strip()).astype(bool)
    missing = blank.to_numpy(dtype=bool)
    if not missing.any():
        return stored
    computed = names[missing].map(lambda name: performer_key(str(name))).astype(str)
    return stored.astype(str).where(~missing, computed)
