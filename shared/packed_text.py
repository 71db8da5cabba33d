"""Texts kept packed: one UTF-8 buffer and where each text ends, and a code per row into them.

A Python string costs about 50 bytes besides its characters, and a state at country scale has
a hundred thousand distinct show titles and links: packed, they cost their characters and 8
bytes each, and a text is made only when a page asks for it (the 100 shows it shows).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence

import numpy as np

# Up to this many texts are found one by one; more, in arrays.
FEW = 16


def check_utf8(buffer: bytes, ends: np.ndarray) -> None:
    """Raise ValueError unless the buffer is UTF-8 and no text ends inside a character."""
    buffer.decode("utf-8", "surrogatepass")  # UnicodeDecodeError is a ValueError
    inside = ends[ends < len(buffer)]
    if len(inside) and bool(((np.frombuffer(buffer, dtype=np.uint8)[inside] & 0xC0) == 0x80).any()):
        raise ValueError("a text ends inside a character")


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
        check_utf8(self.buffer, ends)

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, index: int) -> str:
        start = int(self.ends[index - 1]) if index > 0 else 0
        return self.buffer[start : int(self.ends[index])].decode("utf-8", "surrogatepass")

    def many(self, indexes: Iterable[int]) -> list[str]:
        """Return the texts at these indexes (the offsets found in arrays, not one by one)."""
        wanted = list(indexes)
        if len(wanted) <= FEW:  # numpy's own cost is more than the work for a few
            return [self[index] for index in wanted]
        at = np.array(wanted, dtype=np.int64)
        stops = self.ends[at]
        starts = np.where(at > 0, self.ends[at - 1], 0)
        buffer = self.buffer
        return [
            buffer[start:stop].decode("utf-8", "surrogatepass")
            for start, stop in zip(starts.tolist(), stops.tolist(), strict=True)
        ]

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


class BlockText:
    """Distinct texts packed as PackedText does, then compressed in blocks of BLOCK texts.

    For the texts only a page's shown shows need (titles, links): a third of their size, and a
    page decompresses the few blocks its texts are in (a block is a few kilobytes).
    """

    BLOCK = 64
    __slots__ = ("block_ends", "blocks", "ends")

    def __init__(self, blocks: bytes, block_ends: np.ndarray, ends: np.ndarray) -> None:
        self.blocks = blocks
        self.block_ends = block_ends.astype(np.int64, copy=False)
        self.ends = ends.astype(np.int64, copy=False)  # of each text, uncompressed

    @classmethod
    def of(cls, packed: PackedText) -> BlockText:
        """Compress packed texts block by block."""
        parts, ends = [], packed.ends
        for first in range(0, len(ends), cls.BLOCK):
            start = int(ends[first - 1]) if first else 0
            end = int(ends[min(first + cls.BLOCK, len(ends)) - 1])
            parts.append(zlib.compress(packed.buffer[start:end], 6))
        block_ends = np.cumsum([len(part) for part in parts], dtype=np.int64)
        return cls(b"".join(parts), block_ends, ends)

    def _block(self, number: int) -> bytes:
        start = int(self.block_ends[number - 1]) if number else 0
        return zlib.decompress(self.blocks[start : int(self.block_ends[number])])

    def _from(self, block: bytes, number: int, index: int) -> str:
        base = int(self.ends[number * self.BLOCK - 1]) if number else 0
        start = int(self.ends[index - 1]) if index else 0
        return block[start - base : int(self.ends[index]) - base].decode("utf-8", "surrogatepass")

    def check(self) -> None:
        """Raise ValueError unless every block decompresses to the texts its ends say."""
        ends = self.ends
        blocks = (len(ends) + self.BLOCK - 1) // self.BLOCK
        if ends.ndim != 1 or len(self.block_ends) != blocks:
            raise ValueError("text blocks do not fit their texts")
        if blocks and int(self.block_ends[-1]) != len(self.blocks):
            raise ValueError("text blocks do not fit their buffer")
        if len(ends) and (int(ends[0]) < 0 or bool((np.diff(ends) < 0).any())):
            raise ValueError("text ends are out of order")
        for number in range(blocks):
            start = int(self.block_ends[number - 1]) if number else 0
            stop = int(self.block_ends[number])
            if stop < start:
                raise ValueError("text blocks are out of order")
            unpack = zlib.decompressobj()
            try:
                block = unpack.decompress(self.blocks[start:stop]) + unpack.flush()
            except zlib.error as error:
                raise ValueError(f"a text block does not decompress ({error})") from error
            if unpack.unused_data or not unpack.eof:
                raise ValueError("a text block is not one whole compressed block")
            first = int(ends[number * self.BLOCK - 1]) if number else 0
            texts = ends[number * self.BLOCK : (number + 1) * self.BLOCK]
            if len(block) != int(texts[-1]) - first:
                raise ValueError("a text block is not as long as its texts")
            check_utf8(block, texts - first)

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, index: int) -> str:
        number = index // self.BLOCK
        return self._from(self._block(number), number, index)

    def many(self, indexes: Iterable[int]) -> list[str]:
        """Return the texts at these indexes, each block decompressed once."""
        blocks: dict[int, bytes] = {}
        found = []
        for index in indexes:
            number = index // self.BLOCK
            if number not in blocks:
                blocks[number] = self._block(number)
            found.append(self._from(blocks[number], number, index))
        return found

    def strings(self) -> list[str]:
        return self.many(range(len(self)))

    @property
    def nbytes(self) -> int:
        return len(self.blocks) + self.block_ends.nbytes + self.ends.nbytes


class CodedText:
    """A text column: a code per item (-1 for none, read as "") into packed distinct texts."""

    __slots__ = ("codes", "texts")

    def __init__(self, codes: np.ndarray, texts: PackedText | BlockText) -> None:
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
        wanted = list(positions)
        if len(wanted) <= FEW:
            codes = [int(self.codes[position]) for position in wanted]
        else:
            codes = self.codes[np.array(wanted, dtype=np.int64)].tolist()
        texts = iter(self.texts.many(code for code in codes if code >= 0))
        return [next(texts) if code >= 0 else "" for code in codes]

    @property
    def nbytes(self) -> int:
        return int(self.codes.nbytes) + self.texts.nbytes
