"""A lean HTTP/1.1 POST for the benches' load generators: one request per connection, on asyncio.

A bench measures a service on the same two cores as the client that loads it, so the client's own
CPU is taken from the service. httpx costs ~0.25 µs of client CPU per reading forwarded to ingest
(~7 ms per 236 KB batch: h11 and anyio around every read and write); this costs about a tenth of
that. It speaks just what a gateway's forwarder needs: a POST with a body, ``Connection: close``,
the status, the headers and a body delimited by ``Content-Length`` or by the end of the
connection. The server sees ordinary HTTP/1.1.

    reply = await post("127.0.0.1", 8400, "/v1/chunks", body, {"Content-Type": "..."}, timeout=120)
    reply.status, reply.headers["retry-after"], reply.json()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Any


class HttpError(Exception):
    """The server's reply is not HTTP/1.1 this client understands, or it timed out."""


@dataclass(frozen=True)
class Reply:
    status: int
    #: Header names in lower case.
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def post(
    host: str, port: int, path: str, body: bytes, headers: dict[str, str], *, timeout: float
) -> Reply:
    """POST ``body`` to ``http://host:port/path`` on a new connection and read the whole reply."""
    try:
        async with asyncio.timeout(timeout):
            return await _post(host, port, path, body, headers)
    except TimeoutError:
        raise HttpError(f"no reply from {host}:{port}{path} within {timeout} s") from None


async def _post(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> Reply:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = "".join(
            [
                f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n",
                f"Content-Length: {len(body)}\r\n",
                *(f"{name}: {value}\r\n" for name, value in headers.items()),
                "\r\n",
            ]
        )
        writer.write(head.encode("latin-1"))
        writer.write(body)
        await writer.drain()
        status_line = await reader.readline()
        version, _, rest = status_line.decode("latin-1").partition(" ")
        code = rest.split(" ", 1)[0]
        if not version.startswith("HTTP/1.") or not code.isdigit():
            raise HttpError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
        reply_headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            reply_headers[name.strip().lower()] = value.strip()
        if reply_headers.get("transfer-encoding", "").lower() == "chunked":
            raise HttpError("chunked replies are not read by this client")
        length = reply_headers.get("content-length")
        data = await (reader.readexactly(int(length)) if length is not None else reader.read())
        return Reply(int(code), reply_headers, data)
    finally:
        writer.close()
        with contextlib.suppress(OSError):  # the server closes too (Connection: close)
            await writer.wait_closed()
