from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from hypothesis import given
from hypothesis import strategies as st

from worker.blobs.base import rechunk


async def collect(pieces: list[bytes], size: int) -> list[bytes]:
    async def stream() -> AsyncIterator[bytes]:
        for piece in pieces:
            yield piece

    return [chunk async for chunk in rechunk(stream(), size)]


@given(st.lists(st.binary(max_size=50), max_size=20), st.integers(min_value=1, max_value=17))
def test_rechunking_keeps_every_byte_in_order_in_pieces_of_the_size(
    pieces: list[bytes], size: int
) -> None:
    chunks = asyncio.run(collect(pieces, size))
    assert b"".join(chunks) == b"".join(pieces)
    assert all(len(c) == size for c in chunks[:-1])
    assert all(0 < len(c) <= size for c in chunks)
