"""Synthetic van data in the firmware's format, for tests, the benchmark and the demo stack.

A van's boot drives north-east at ~10 m/s: one TRACK record of 10 one-second entries per block,
a TIME anchor in the boot's first block, and an AIR reading every sixth block.

    blocks = synthetic_blocks(first_seq=0, count=360, boot_id=1, start_utc=DEFAULT_START_UTC)
    body = build_chunk("van-0001", key, blocks)
"""

from __future__ import annotations

import struct
import time

from ingest.records.decode import EPOCH_2000, K_AIR, K_TIME, K_TRACK, TRACK_HEADER
from ingest.records.envelope import FLAG_FIRST_AFTER_BOOT, build_block

_TIME = struct.Struct("<BIIH")
_AIR = struct.Struct("<BIBHHH")
EPOCHS_PER_BLOCK = 10
#: Yesterday 00:00 UTC: recent enough for retention, old enough for the future-date filter.
DEFAULT_START_UTC = float((int(time.time()) // 86400 - 1) * 86400)
#: A point in Monaco (the committed road network), 1e-6 degree.
START_LAT_E6 = 43_738_000
START_LON_E6 = 7_420_000


def block_payload(index: int, boot_start_ticks: int, start_utc: float, *, with_time: bool) -> bytes:
    """Records of the ``index``-th block of a boot."""
    t0 = boot_start_ticks + index * EPOCHS_PER_BLOCK * 1000
    parts = []
    if with_time:
        parts.append(_TIME.pack(K_TIME, boot_start_ticks, int(start_utc) - EPOCH_2000, 0))
    step = index * EPOCHS_PER_BLOCK
    parts.append(
        TRACK_HEADER.pack(
            K_TRACK,
            EPOCHS_PER_BLOCK,
            t0 % (1 << 32),
            9,
            4,
            START_LAT_E6 + step * 60,
            START_LON_E6 + step * 60,
        )
    )
    for i in range(EPOCHS_PER_BLOCK):
        parts.append(bytes([6 if i else 0, 6 if i else 0, 40, (index + i) % 60, (3 * i) % 200]))
    if index % 6 == 5:
        parts.append(_AIR.pack(K_AIR, (t0 + 9000) % (1 << 32), 9, 4, 7, 11))
    return b"".join(parts)


def synthetic_blocks(
    first_seq: int, count: int, *, boot_id: int = 1, start_utc: float = DEFAULT_START_UTC, boot_block: int = 0
) -> list[bytes]:
    """``count`` blocks from ``first_seq``; the boot's first block (``boot_block``) carries the anchor.

    Block ``first_seq + k`` is the ``boot_block + k``-th block of the boot, so consecutive calls
    with ``boot_block`` advanced continue one boot's drive.
    """
    out = []
    for k in range(count):
        index = boot_block + k
        flags = FLAG_FIRST_AFTER_BOOT if index == 0 else 0
        payload = block_payload(index, 5_000, start_utc, with_time=index == 0)
        out.append(build_block(seq=first_seq + k, boot_id=boot_id, payload=payload, flags=flags))
    return out


def readings_per_block() -> float:
    """Track epochs + air readings per block, on average."""
    return EPOCHS_PER_BLOCK + 1 / 6
