"""Depot upload: unacknowledged blocks -> HMAC-signed chunks -> HTTP/1.1 POST /v1/chunks.

Chunk layout in FORMAT.md. The gateway replies with the highest contiguous seq it stored
durably (`acked_seq`); only that reply moves the log's ack forward, so an interruption at any byte
(connect, headers, body, reply) simply resends the same chunk later: no loss, and duplicates are
the gateway's to ignore by seq.

    up = Uploader(log, device_id, key)
    await up.run_once(host, port)     # uploads until everything is acked or something fails
"""

import asyncio
import hashlib
import json
import struct

from micropython import const

# About an hour of driving per POST (~9.5 B/s): few requests per depot visit, and chunks big enough
# for ingest to verify and COPY efficiently. Streamed from flash, never held in RAM.
_CHUNK_BYTES = const(32768)
_MAGIC = b"FCH1"


class HMACSHA256:
    """HMAC-SHA256 (RFC 2104) on MicroPython's hashlib, streaming."""

    def __init__(self, key):
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        k = bytearray(64)
        k[: len(key)] = key
        self.ipad = bytes(b ^ 0x36 for b in k)
        self.opad = bytes(b ^ 0x5C for b in k)

    def start(self):
        h = hashlib.sha256()
        h.update(self.ipad)
        return h

    def finish(self, inner):
        h = hashlib.sha256()
        h.update(self.opad)
        h.update(inner.digest())
        return h.digest()


class UploadError(Exception):
    pass


def chunk_header(device_id, first, last, nbytes):
    ident = device_id.encode() if isinstance(device_id, str) else device_id
    return _MAGIC + bytes((1, len(ident))) + ident + struct.pack("<III", first, last, nbytes)


def build_chunk(mac, device_id, first, last, blocks):
    """The whole chunk as bytes (tests, small uploads)."""
    head = chunk_header(device_id, first, last, len(blocks))
    h = mac.start()
    h.update(head)
    h.update(blocks)
    return head + bytes(blocks) + mac.finish(h)


def parse_reply(status_line, body):
    """(status, acked_seq or None, error code or None, retry_after s or None)."""
    parts = status_line.split()
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise UploadError("bad_status_line")
    status = int(parts[1])
    acked = None
    err = None
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        if status == 200 and isinstance(doc.get("acked_seq"), int):
            acked = doc["acked_seq"]
        err = doc.get("error")
    if status == 200 and acked is None:
        raise UploadError("bad_reply")
    return status, acked, err


class Uploader:
    def __init__(self, log, device_id, key, chunk_bytes=_CHUNK_BYTES):
        self.log = log
        self.chunk_bytes = chunk_bytes
        self.device_id = device_id
        self.mac = HMACSHA256(key)
        self.chunks = 0
        self.failures = 0
        self.rejected = 0
        self.retry_after = 0
        self.last_error = None

    async def post(self, host, port, first, last, n):
        """Send one chunk (blocks streamed from flash, signed on the way); returns (status, acked, error)."""
        head = chunk_header(self.device_id, first, last, n)
        h = self.mac.start()
        h.update(head)
        length = len(head) + n + 32
        reader, writer = await asyncio.open_connection(host, port)
        try:
            req = (
                "POST /v1/chunks HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/vnd.facteur.chunk\r\n"
                "Content-Length: %d\r\nConnection: close\r\n\r\n" % (host, port, length)
            )
            writer.write(req.encode())
            writer.write(head)
            await writer.drain()
            for piece in self.log.pieces(first, n):
                h.update(piece)
                writer.write(piece)
                await writer.drain()
            writer.write(self.mac.finish(h))
            await writer.drain()
            status_line = await reader.readline()
            clen = 0
            retry = 0
            while True:
                line = await reader.readline()
                if not line or line == b"\r\n":
                    break
                lower = line.lower()
                if lower.startswith(b"content-length:"):
                    clen = int(line[15:].strip())
                elif lower.startswith(b"retry-after:"):
                    try:
                        retry = int(line[12:].strip())
                    except ValueError:
                        retry = 30
            body = await reader.readexactly(clen) if clen else b""
        finally:
            try:
                writer.close()
                await writer.wait_closed()
            except OSError:
                pass
        status, acked, err = parse_reply(status_line, body)
        self.retry_after = retry
        return status, acked, err

    async def run_once(self, host, port):
        """Upload every unacknowledged block, chunk by chunk. Returns the number of chunks acked.

        Stops at the first failure (the caller retries later; nothing is lost or acked early).
        """
        done = 0
        log = self.log
        while True:
            seq = log.first_unacked()
            if seq is None:
                return done
            n, first, last = log.span(seq, self.chunk_bytes)
            if n == 0:
                self.last_error = "block_too_big"
                self.failures += 1
                return done
            try:
                status, acked, err = await self.post(host, port, first, last, n)
            except (OSError, UploadError, ValueError, EOFError) as e:
                self.failures += 1
                self.last_error = repr(e)
                return done
            if status != 200:
                self.failures += 1
                if 400 <= status < 500 and status != 429:
                    self.rejected += 1
                self.last_error = err or status
                return done
            self.chunks += 1
            done += 1
            top = log.next_seq - 1
            if acked >= first:
                log.ack(acked if acked <= top else top)
            elif log.dropped and acked < first - 1:
                # A gap of our own making (drop-oldest): the gateway's contiguous ack can never pass
                # it. A 200 means this chunk is stored, so it counts as acknowledged.
                log.ack(last)
            else:
                self.last_error = "ack_below_sent"
                return done
