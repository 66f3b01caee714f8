"""Batches of chunks, as a gateway forwards them to ingest in one HTTP body.

A batch is ``b"FBT1"`` followed by, for each chunk, its length as u32 little-endian and its bytes
(each chunk exactly as the van uploaded it, HMAC included, so ingest verifies it end to end).

    >>> split_batch(join_batch([b"abc", b"de"]))
    [b'abc', b'de']
"""

from __future__ import annotations

import struct

BATCH_MAGIC = b"FBT1"
BATCH_MEDIA_TYPE = "application/vnd.facteur.chunk-batch"
CHUNK_MEDIA_TYPE = "application/vnd.facteur.chunk"
_LEN = struct.Struct("<I")


class BatchError(ValueError):
    """A malformed batch; ``reason`` is a short stable code, ``detail`` for humans."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def join_batch(chunks: list[bytes]) -> bytes:
    parts = [BATCH_MAGIC]
    for chunk in chunks:
        parts.append(_LEN.pack(len(chunk)))
        parts.append(chunk)
    return b"".join(parts)


def split_batch(body: bytes) -> list[bytes]:
    """The chunks of a batch body; raises :class:`BatchError` if the framing is broken."""
    if body[:4] != BATCH_MAGIC:
        raise BatchError("bad_magic", f"batch starts with {body[:4]!r}, expected {BATCH_MAGIC!r}")
    chunks: list[bytes] = []
    pos = 4
    while pos < len(body):
        if pos + 4 > len(body):
            raise BatchError("truncated", f"chunk length at offset {pos} is cut short")
        (n,) = _LEN.unpack_from(body, pos)
        pos += 4
        if n == 0 or pos + n > len(body):
            raise BatchError(
                "bad_length", f"chunk at offset {pos} declares {n} bytes, {len(body) - pos} left"
            )
        chunks.append(body[pos : pos + n])
        pos += n
    if not chunks:
        raise BatchError("empty", "a batch holds at least one chunk")
    return chunks
