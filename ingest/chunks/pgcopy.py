"""PostgreSQL binary COPY bodies built from NumPy columns, without a Python loop over rows.

Each column is a :class:`Column`: values, their PostgreSQL type, and optionally a mask of NULLs
(NaN floats and timestamps are NULL). A row's layout depends on which of its fields are NULL, so
rows are grouped by their NULL pattern (few distinct ones in practice: "no fix", "standing
still", ...) and each group is written as one NumPy structured array. COPY does not care about
row order, so the groups are simply concatenated.

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
    """``kind``: float8, float4, int2, int4, int8, bool, timestamptz (Unix seconds) or text (bytes).

    A text column must hold values of one length (e.g. the device id of a chunk, repeated).
    """

    values: npt.NDArray[Any]
    kind: str
    null: npt.NDArray[np.bool_] | None = None


def _wire(col: Column) -> tuple[npt.NDArray[Any], npt.NDArray[np.bool_]]:
    """The values as big-endian wire values, and the NULL mask."""
    v = np.asarray(col.values)
    null = np.zeros(len(v), bool) if col.null is None else np.asarray(col.null, bool).copy()
    if col.kind == "timestamptz":
        null |= ~np.isfinite(v)
        data = np.rint((np.where(null, PG_EPOCH, v) - PG_EPOCH) * 1e6).astype(">i8")
    elif col.kind == "text":
        data = v.astype(f"S{max(1, v.dtype.itemsize)}")
        if len(data) and (np.char.str_len(data) != data.dtype.itemsize).any():
            raise ValueError("text columns must hold values of one length")
    elif col.kind in ("float8", "float4"):
        null |= np.isnan(v)
        data = v.astype(_WIRE[col.kind])
    else:
        data = v.astype(_WIRE[col.kind])
    return data, null


def copy_body(columns: list[Column]) -> bytes:
    """A complete binary COPY body (header, rows, trailer) for the given columns."""
    n = len(columns[0].values)
    wires = [_wire(c) for c in columns]
    if n == 0:
        return HEADER + TRAILER
    # One bit per column: the row's NULL pattern.
    pattern = np.zeros(n, np.int64)
    for j, (_, null) in enumerate(wires):
        pattern |= null.astype(np.int64) << j
    parts = [HEADER]
    patterns = np.unique(pattern)
    for p in patterns:
        rows = np.nonzero(pattern == p)[0] if len(patterns) > 1 else slice(None)
        fields: list[tuple[str, str]] = [("n", ">i2")]
        for j, (data, _) in enumerate(wires):
            fields.append((f"l{j}", ">i4"))
            if not (p >> j) & 1:
                fields.append((f"v{j}", data.dtype.str))
        count = n if isinstance(rows, slice) else len(rows)
        out = np.empty(count, np.dtype(fields))
        out["n"] = len(columns)
        for j, (data, _) in enumerate(wires):
            if (p >> j) & 1:
                out[f"l{j}"] = -1
            else:
                out[f"l{j}"] = data.dtype.itemsize
                out[f"v{j}"] = data[rows]
        parts.append(out.tobytes())
    parts.append(TRAILER)
    return b"".join(parts)
