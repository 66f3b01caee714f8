"""The gateway's durable spool: every accepted chunk, fsynced before the van is acknowledged.

SQLite in WAL mode with ``synchronous=FULL``: a commit returns only once the WAL is on disk, so a
power cut after the reply cannot lose the chunk. The spool also holds each van's acknowledged seq,
what the forwarder has sent, and the cache of device keys synced from ingest.

    spool = Spool(Path("spool"))
    outcome = spool.put(chunk, body, newest_utc=None)   # -> PutOutcome(acked_seq=..., stored=True)
    batch = spool.pending(max_chunks=64, max_bytes=4 << 20)
    spool.mark_forwarded([c.id for c in batch])

One connection guarded by a lock: callers in an event loop run these methods in a thread.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ingest.records.envelope import Chunk

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    id           INTEGER PRIMARY KEY,
    device_id    TEXT NOT NULL,
    first_seq    INTEGER NOT NULL,
    last_seq     INTEGER NOT NULL,
    blocks       INTEGER NOT NULL,
    body         BLOB NOT NULL,
    received_at  REAL NOT NULL,
    forwarded_at REAL,
    rejected     TEXT
);
CREATE INDEX IF NOT EXISTS chunks_pending ON chunks (id) WHERE forwarded_at IS NULL AND rejected IS NULL;
CREATE INDEX IF NOT EXISTS chunks_forwarded ON chunks (forwarded_at) WHERE forwarded_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS vans (
    device_id   TEXT PRIMARY KEY,
    acked_seq   INTEGER NOT NULL,
    last_seen   REAL NOT NULL,
    newest_utc  REAL,
    last_sync   REAL
);
CREATE TABLE IF NOT EXISTS van_ranges (
    device_id TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL,
    PRIMARY KEY (device_id, first_seq)
);
CREATE TABLE IF NOT EXISTS device_keys (
    device_id TEXT PRIMARY KEY,
    key       BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS boot_anchors (
    device_id TEXT NOT NULL,
    boot_id   INTEGER NOT NULL,
    ticks     INTEGER NOT NULL,
    utc       REAL NOT NULL,
    PRIMARY KEY (device_id, boot_id)
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class PutOutcome:
    acked_seq: int
    #: False for a retransmission: every block of the chunk was already held.
    stored: bool


@dataclass(frozen=True)
class Spooled:
    id: int
    device_id: str
    first_seq: int
    last_seq: int
    body: bytes


@dataclass(frozen=True)
class VanStatus:
    device_id: str
    acked_seq: int
    last_seen: float
    newest_reading_utc: float | None
    last_sync: float | None
    backlog_chunks: int
    backlog_blocks: int
    rejected_chunks: int


class Spool:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "spool.sqlite3"
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- uploads ------------------------------------------------------------------------------

    def put(self, chunk: Chunk, body: bytes, newest_utc: float | None) -> PutOutcome:
        """Store a verified chunk durably, or recognise a retransmission.

        ``acked_seq`` is the end of the contiguous run of seqs held for the van that contains the
        chunk: at least ``last_seq``, more if later blocks are already here. A chunk that starts
        after a gap is stored too (the van may have uploaded the blocks in between at another
        depot, or dropped its oldest blocks when its flash filled up).
        """
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                ranges = [
                    (int(lo), int(hi))
                    for lo, hi in self._db.execute(
                        "SELECT first_seq, last_seq FROM van_ranges WHERE device_id = ? ORDER BY first_seq",
                        (chunk.device_id,),
                    )
                ]
                covering = next(
                    (r for r in ranges if r[0] <= chunk.first_seq and chunk.last_seq <= r[1]), None
                )
                if covering is not None:
                    acked, stored = covering[1], False
                else:
                    self._db.execute(
                        "INSERT INTO chunks (device_id, first_seq, last_seq, blocks, body, received_at) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (chunk.device_id, chunk.first_seq, chunk.last_seq, len(chunk.blocks), body, now),
                    )
                    merged = merge_range(ranges, (chunk.first_seq, chunk.last_seq))
                    self._db.execute("DELETE FROM van_ranges WHERE device_id = ?", (chunk.device_id,))
                    self._db.executemany(
                        "INSERT INTO van_ranges (device_id, first_seq, last_seq) VALUES (?, ?, ?)",
                        [(chunk.device_id, lo, hi) for lo, hi in merged],
                    )
                    acked = next(hi for lo, hi in merged if lo <= chunk.last_seq <= hi)
                    stored = True
                self._db.execute(
                    "INSERT INTO vans (device_id, acked_seq, last_seen, newest_utc) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (device_id) DO UPDATE SET acked_seq = max(acked_seq, excluded.acked_seq), "
                    "last_seen = excluded.last_seen, newest_utc = max(coalesce(newest_utc, 0), "
                    "coalesce(excluded.newest_utc, 0))",
                    (chunk.device_id, acked, now, newest_utc if stored else None),
                )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        return PutOutcome(acked, stored=stored)

    # -- time anchors, to date what vans upload (for /status only) ---------------------------

    def anchors(self, device_id: str) -> dict[int, tuple[int, float]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT boot_id, ticks, utc FROM boot_anchors WHERE device_id = ?", (device_id,)
            ).fetchall()
        return {int(b): (int(t), float(u)) for b, t, u in rows}

    def add_anchors(self, device_id: str, anchors: dict[int, tuple[int, float]]) -> None:
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR IGNORE INTO boot_anchors (device_id, boot_id, ticks, utc) VALUES (?, ?, ?, ?)",
                [(device_id, b, t, u) for b, (t, u) in anchors.items()],
            )

    # -- forwarding ---------------------------------------------------------------------------

    def pending(self, max_chunks: int, max_bytes: int) -> list[Spooled]:
        """The oldest chunks not yet forwarded (always at least one if any, whatever its size)."""
        out: list[Spooled] = []
        size = 0
        with self._lock:
            rows = self._db.execute(
                "SELECT id, device_id, first_seq, last_seq, body FROM chunks "
                "WHERE forwarded_at IS NULL AND rejected IS NULL ORDER BY id LIMIT ?",
                (max_chunks,),
            ).fetchall()
        for id_, device_id, first, last, body in rows:
            if out and size + len(body) > max_bytes:
                break
            out.append(Spooled(int(id_), str(device_id), int(first), int(last), bytes(body)))
            size += len(body)
        return out

    def mark_forwarded(self, chunks: list[Spooled]) -> None:
        now = time.time()
        with self._lock, self._db:
            self._db.executemany(
                "UPDATE chunks SET forwarded_at = ? WHERE id = ?", [(now, c.id) for c in chunks]
            )
            self._db.executemany(
                "UPDATE vans SET last_sync = ? WHERE device_id = ?",
                [(now, d) for d in {c.device_id for c in chunks}],
            )

    def mark_rejected(self, chunk: Spooled, reason: str) -> None:
        """Ingest refused this chunk for good (e.g. bad MAC): keep it aside, stop sending it."""
        with self._lock, self._db:
            self._db.execute("UPDATE chunks SET rejected = ? WHERE id = ?", (reason, chunk.id))

    def purge_forwarded(self, older_than_s: float) -> int:
        with self._lock, self._db:
            cur = self._db.execute(
                "DELETE FROM chunks WHERE forwarded_at IS NOT NULL AND forwarded_at < ?",
                (time.time() - older_than_s,),
            )
            return cur.rowcount

    # -- device keys --------------------------------------------------------------------------

    def replace_keys(self, keys: dict[str, bytes]) -> None:
        with self._lock, self._db:
            self._db.execute("DELETE FROM device_keys")
            self._db.executemany("INSERT INTO device_keys (device_id, key) VALUES (?, ?)", list(keys.items()))
            self._db.execute(
                "INSERT INTO meta (name, value) VALUES ('keys_synced_at', ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (str(time.time()),),
            )

    def key(self, device_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT key FROM device_keys WHERE device_id = ?", (device_id,)).fetchone()
        return None if row is None else bytes(row[0])

    def keys_synced_at(self) -> float | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE name = 'keys_synced_at'").fetchone()
        return None if row is None else float(row[0])

    # -- status -------------------------------------------------------------------------------

    def vans(self) -> list[VanStatus]:
        with self._lock:
            rows = self._db.execute(
                "SELECT v.device_id, v.acked_seq, v.last_seen, v.newest_utc, v.last_sync, "
                "  count(c.id) FILTER (WHERE c.forwarded_at IS NULL AND c.rejected IS NULL), "
                "  coalesce(sum(c.blocks) FILTER (WHERE c.forwarded_at IS NULL AND c.rejected IS NULL), 0), "
                "  count(c.id) FILTER (WHERE c.rejected IS NOT NULL) "
                "FROM vans v LEFT JOIN chunks c ON c.device_id = v.device_id "
                "GROUP BY v.device_id ORDER BY v.device_id"
            ).fetchall()
        return [
            VanStatus(str(d), int(a), float(s), _opt(n), _opt(y), int(bc), int(bb), int(rj))
            for d, a, s, n, y, bc, bb, rj in rows
        ]

    def backlog(self) -> tuple[int, int]:
        """(chunks, bytes) waiting to be forwarded."""
        with self._lock:
            row = self._db.execute(
                "SELECT count(*), coalesce(sum(length(body)), 0) FROM chunks "
                "WHERE forwarded_at IS NULL AND rejected IS NULL"
            ).fetchone()
        return int(row[0]), int(row[1])


def _opt(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def merge_range(ranges: list[tuple[int, int]], new: tuple[int, int]) -> list[tuple[int, int]]:
    """``ranges`` (disjoint, inclusive) with ``new`` added, overlapping or adjacent runs merged.

    >>> merge_range([(0, 9), (20, 29)], (10, 19))
    [(0, 29)]
    """
    out: list[tuple[int, int]] = []
    for lo, hi in sorted([*ranges, new]):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out
