"""A lean HTTP/1.1 client for benches: one keep-alive connection, nothing else.

httpx spends about a millisecond of CPU per request on its own (measured against this
client on the same server), as much as the server's whole answer; a lean client (curl, Go's
net/http, this) spends tens of microseconds. The API bench measures with both, so what the
server adds and what the Python client adds are told apart.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any


class LeanHttp:
    """One keep-alive connection to `host:port`; requests go one at a time."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self._headers = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _send(self, method: str, path: str, body: Any | None) -> asyncio.StreamReader:
        # A connection the server closed while idle (uvicorn's keep-alive timeout): a new one.
        if self._writer is None or self._reader is None or self._reader.at_eof():
            if self._writer is not None:
                self._writer.close()
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            self._writer.get_extra_info("socket").setsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
            )
        data = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self._headers}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        self._writer.write(head.encode() + b"\r\n" + data)
        assert self._reader is not None
        return self._reader

    async def _head(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        return int(lines[0].split()[1]), headers

    async def _chunks(
        self, reader: asyncio.StreamReader, headers: dict[str, str]
    ) -> AsyncIterator[bytes]:
        if "content-length" in headers:
            yield await reader.readexactly(int(headers["content-length"]))
            return
        while size := int((await reader.readline()).split(b";")[0], 16):
            yield await reader.readexactly(size)
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")  # the end of the (empty) trailer

    async def request(self, method: str, path: str, body: Any | None = None) -> tuple[int, Any]:
        """The status and the JSON body of one request."""
        reader = await self._send(method, path, body)
        status, headers = await self._head(reader)
        data = b"".join([chunk async for chunk in self._chunks(reader, headers)])
        return status, json.loads(data) if data else None

    async def events(
        self, method: str, path: str, body: Any | None = None
    ) -> AsyncIterator[tuple[str, str]]:
        """Each Server-Sent Event of the answer, as (event, data), as it arrives; the
        stream is read to its end, so the connection serves the next request."""
        reader = await self._send(method, path, body)
        status, headers = await self._head(reader)
        if status != 200:
            raise AssertionError(f"{path}: {status}")
        pending, event, data = b"", "message", ""
        async for chunk in self._chunks(reader, headers):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                line = raw.decode().rstrip("\r")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data = line[5:].strip()
                elif not line and data:
                    yield event, data
                    event, data = "message", ""

    async def aclose(self) -> None:
        if self._writer is not None:
            self._writer.close()
