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

    A text column must hold values of one length; a single ``bytes`` value stands for a column
    repeating it (a 0-d array: the device id of a chunk). The first column must be 1-d.
    """

    values: npt.NDArray[Any]
    kind: str
    null: npt.NDArray[np.bool_] | None = None


def _prepare(col: Column) -> tuple[npt.NDArray[Any], np.dtype[Any], npt.NDArray[np.bool_] | None]:
    """The values (native byte order: converted to the wire type as they are stored), their wire
    type, and the NULL mask (None when no value is NULL)."""
    v = np.asarray(col.values)
    null = None if col.null is None else np.asarray(col.null, bool)
    if col.kind == "timestamptz":
        missing = ~np.isfinite(v)
        if missing.any():
            null = missing if null is None else null | missing
            v = np.where(missing, PG_EPOCH, v)
        return np.rint((v - PG_EPOCH) * 1e6).astype(np.int64), np.dtype(">i8"), null
    if col.kind == "text":
        data = v.astype(f"S{max(1, v.dtype.itemsize)}", copy=False)
        width = data.dtype.itemsize
        # Fixed-width bytes are NUL-padded: a shorter value ends in NUL (text never holds NUL).
        if data.size and (data.reshape(-1).view(np.uint8).reshape(data.size, width)[:, -1] == 0).any():
            raise ValueError("text columns must hold values of one length")
        return data, data.dtype, null
    if col.kind in ("float8", "float4"):
        nan = np.isnan(v)
        if nan.any():
            null = nan if null is None else null | nan
    return v, np.dtype(_WIRE[col.kind]), null


def copy_body(columns: list[Column], *, framed: bool = True) -> memoryview:
    """A complete binary COPY body (header, rows, trailer) for the given columns; only the rows
    when not ``framed`` (several parts of one COPY, between one :data:`HEADER` and :data:`TRAILER`).

    The rows are written straight into the returned buffer (one structured view per NULL
    pattern), each value converted to its big-endian wire type on the way: no per-row Python and
    no intermediate copy of the body. Every byte of the buffer is written, so it is not zeroed
    first.
    """
    n = len(columns[0].values)
    prepared = [_prepare(c) for c in columns]
    groups: list[tuple[int, npt.NDArray[np.intp] | None]] = []
    if n and any(null is not None and null.any() for _, _, null in prepared):
        # One bit per column: the row's NULL pattern.
        pattern = np.zeros(n, np.int64)
        for j, (_, _, null) in enumerate(prepared):
            if null is not None:
                pattern |= null.astype(np.int64) << j
        patterns = np.unique(pattern)
        for p in patterns.tolist():
            groups.append((p, np.nonzero(pattern == p)[0] if len(patterns) > 1 else None))
    elif n:
        groups.append((0, None))
    layouts = []
    head, tail = (HEADER, TRAILER) if framed else (b"", b"")
    size = len(head) + len(tail)
    for p, rows in groups:
        fields: list[tuple[str, Any]] = [("n", ">i2")]
        for j, (_, wire, _) in enumerate(prepared):
            fields.append((f"l{j}", ">i4"))
            if not (p >> j) & 1:
                fields.append((f"v{j}", wire))
        dtype = np.dtype(fields)
        count = n if rows is None else len(rows)
        layouts.append((p, rows, dtype, count))
        size += count * dtype.itemsize
    body = np.empty(size, np.uint8)
    body[: len(head)] = np.frombuffer(head, np.uint8)
    offset = len(head)
    for p, rows, dtype, count in layouts:
        rows_bytes = body[offset : offset + count * dtype.itemsize]
        out = rows_bytes.view(dtype)
        # The field count and the lengths are the same in every row of the group: one template
        # row, copied as plain bytes over the group (one pass), then the values column by column.
        template = np.zeros(1, dtype)
        template["n"] = len(columns)
        for j, (_, wire, _) in enumerate(prepared):
            template[f"l{j}"] = -1 if (p >> j) & 1 else wire.itemsize
        rows_bytes.reshape(count, dtype.itemsize)[:] = template.view(np.uint8)
        for j, (values, _, _) in enumerate(prepared):
            if not (p >> j) & 1:
                out[f"v{j}"] = values if rows is None or values.ndim == 0 else values[rows]
        offset += count * dtype.itemsize
    body[offset:] = np.frombuffer(tail, np.uint8)
    return body.data
