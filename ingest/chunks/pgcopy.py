"""PostgreSQL binary COPY bodies built from NumPy columns, without a Python loop over rows.

Each column is a :class:`Column`: values, their PostgreSQL type, and optionally a mask of NULLs
(NaN floats are NULL by default). Rows have different widths when some fields are NULL, so the
body is laid out with offsets computed by ``cumsum`` and each column scattered into place.

    body = copy_body([Column(np.array([1.5, np.nan]), "float8"), Column(np.array([1, 2]), "int4")])
    async with cur.copy("COPY t (a, b) FROM STDIN (FORMAT BINARY)") as copy:
        await copy.write(body)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
#: Unix seconds of the PostgreSQL epoch (2000-01-01T00:00:00Z).
PG_EPOCH = 946_684_800

_WIRE = {"float8": ">f8", "float4": ">f4", "int2": ">i2", "int4": ">i4", "int8": ">i8", "bool": "u1"}


@dataclass(frozen=True)
class Column:
    """``kind``: float8, float4, int2, int4, int8, bool, timestamptz (Unix seconds) or text (bytes)."""

    values: npt.NDArray[Any]
    kind: str
    null: npt.NDArray[np.bool_] | None = None


def _wire(col: Column) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.bool_]]:
    """(n × width) big-endian bytes of the values, and the NULL mask."""
    v = col.values
    null = np.zeros(len(v), bool) if col.null is None else col.null.copy()
    if col.kind == "timestamptz":
        null |= ~np.isfinite(v)
        micros = np.rint((np.where(null, PG_EPOCH, v) - PG_EPOCH) * 1e6).astype(">i8")
        data = micros
    elif col.kind == "text":
        data = np.asarray(v, dtype=f"S{max(1, np.asarray(v).dtype.itemsize)}")
    elif col.kind in ("float8", "float4"):
        null |= np.isnan(v)
        data = np.asarray(v).astype(_WIRE[col.kind])
    else:
        data = np.asarray(v).astype(_WIRE[col.kind])
    width = data.dtype.itemsize
    return np.ascontiguousarray(data).view(np.uint8).reshape(len(v), width), null


def copy_body(columns: list[Column]) -> bytes:
    """A complete binary COPY body (header, rows, trailer) for the given columns."""
    n = len(columns[0].values)
    wires = [_wire(c) for c in columns]
    # Per-row width: 2 (field count) + per field 4 (length) + the value unless NULL.
    field_widths = [np.where(null, 0, data.shape[1]) + 4 for data, null in wires]
    row_width = 2 + np.sum(field_widths, axis=0, dtype=np.int64) if n else np.zeros(0, np.int64)
    row_start = np.cumsum(row_width) - row_width
    out = np.empty(int(row_width.sum()), np.uint8)
    out_rows = row_start[:, None] + np.arange(2)[None, :]
    out[out_rows] = np.frombuffer(struct.pack(">h", len(columns)), np.uint8)[None, :]
    cursor = row_start + 2
    for (data, null), width in zip(wires, field_widths, strict=True):
        length = np.where(null, -1, data.shape[1]).astype(">i4").view(np.uint8).reshape(n, 4)
        out[cursor[:, None] + np.arange(4)[None, :]] = length
        present = ~null
        if data.shape[1] and present.any():
            at = cursor[present] + 4
            out[at[:, None] + np.arange(data.shape[1])[None, :]] = data[present]
        cursor = cursor + width
    return HEADER + out.tobytes() + TRAILER
