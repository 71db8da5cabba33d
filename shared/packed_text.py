"""Texts kept packed: one UTF-8 buffer and where each text ends, and a code per row into them.

A Python string costs about 50 bytes besides its characters, and a state at country scale has
a hundred thousand distinct show titles and links: packed, they cost their characters and 8
bytes each, and a text is made only when a page asks for it (the 100 shows it shows).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np


class PackedText:
    """Distinct texts in one UTF-8 buffer, each ending where `ends` says."""

    __slots__ = ("buffer", "ends")

    def __init__(self, buffer: bytes, ends: np.ndarray) -> None:
        self.buffer = buffer
        self.ends = ends.astype(np.int64, copy=False)

    @classmethod
    def of(cls, texts: Iterable[str]) -> PackedText:
        """Pack texts (any code points: a lone surrogate round-trips too)."""
        encoded = [text.encode("utf-8", "surrogatepass") for text in texts]
        ends = np.cumsum([len(part) for part in encoded], dtype=np.int64)
        return cls(b"".join(encoded), ends)

    def check(self) -> None:
        """Raise ValueError unless the ends fit the buffer, in order."""
        ends = self.ends
        if ends.ndim != 1 or (len(ends) and (ends[0] < 0 or ends[-1] != len(self.buffer))):
            raise ValueError("text ends do not fit their buffer")
        if len(ends) > 1 and bool((np.diff(ends) < 0).any()):
            raise ValueError("text ends are out of order")

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, index: int) -> str:
        start = int(self.ends[index - 1]) if index > 0 else 0
        return self.buffer[start : int(self.ends[index])].decode("utf-8", "surrogatepass")

    def strings(self) -> list[str]:
        """Return every text, in order (for columns with few distinct texts)."""
        if self.buffer.isascii():  # characters are bytes: slice one decoded string
            whole = self.buffer.decode("ascii")
            ends = self.ends.tolist()
            return [whole[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)] if ends else []
        return [self[index] for index in range(len(self))]

    @property
    def nbytes(self) -> int:
        return len(self.buffer) + self.ends.nbytes


class CodedText:
    """A text column: a code per item (-1 for none, read as "") into packed distinct texts."""

    __slots__ = ("codes", "texts")

    def __init__(self, codes: np.ndarray, texts: PackedText) -> None:
        self.codes = codes
        self.texts = texts

    @classmethod
    def of(cls, values: Sequence[str]) -> CodedText:
        """Code and pack a column of texts."""
        distinct: dict[str, int] = {}
        codes = np.fromiter(
            (distinct.setdefault(value, len(distinct)) for value in values),
            dtype=np.int32,
            count=len(values),
        )
        return cls(codes, PackedText.of(distinct))

    def check(self) -> None:
        """Raise ValueError unless every code names a text (or none)."""
        self.texts.check()
        if len(self.codes) and (
            int(self.codes.min()) < -1 or int(self.codes.max()) >= len(self.texts)
        ):
            raise ValueError("text codes outside their texts")

    def __len__(self) -> int:
        return len(self.codes)

    def take(self, positions: Iterable[int]) -> list[str]:
        """Return the texts at these positions."""
        found = []
        for position in positions:
            code = int(self.codes[position])
            found.append(self.texts[code] if code >= 0 else "")
        return found

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes) + self.texts.nbytes
