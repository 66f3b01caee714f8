"""The facteur record envelope on the CPython side: what the firmware appends to flash and uploads.

- :mod:`ingest.records.envelope` — blocks (CRC-32, sequence numbers) and signed chunks (HMAC-SHA256).
- :mod:`ingest.records.decode` — the block payloads decoded into NumPy columns per record kind.

The byte layout is documented in ``firmware/FORMAT.md``.
"""

from ingest.records.envelope import (
    BLOCK_HEADER_SIZE,
    BLOCK_MAGIC,
    BLOCK_TRAILER_SIZE,
    CHUNK_MAGIC,
    FLAG_FIRST_AFTER_BOOT,
    FORMAT_VERSION,
    MAC_SIZE,
    Block,
    Blocks,
    Chunk,
    ChunkError,
    build_block,
    build_chunk,
    parse_blocks,
    parse_chunk,
)

__all__ = [
    "BLOCK_HEADER_SIZE",
    "BLOCK_MAGIC",
    "BLOCK_TRAILER_SIZE",
    "CHUNK_MAGIC",
    "FLAG_FIRST_AFTER_BOOT",
    "FORMAT_VERSION",
    "MAC_SIZE",
    "Block",
    "Blocks",
    "Chunk",
    "ChunkError",
    "build_block",
    "build_chunk",
    "parse_blocks",
    "parse_chunk",
]
