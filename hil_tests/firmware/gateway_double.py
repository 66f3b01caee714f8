"""A depot gateway double speaking the upload contract (firmware/FORMAT.md, "Upload") on loopback.

It parses and verifies chunks with ``ingest.records``, stores blocks by seq, acks the highest
contiguous seq, and follows a plan of faults, one per connection: ``("cut_request", k)`` closes
after reading k bytes of the request, ``("cut_reply", k)`` stores the chunk and sends only k
bytes of the reply. Used by the upload tests and the whole-round harness.
"""

from __future__ import annotations

import json
import socket
import threading

from ingest.records import ChunkError, parse_chunk

KEY = bytes(range(100, 132))


class Gateway:
    """Stores blocks by seq, acks the highest contiguous one; follows a plan of cuts per connection."""

    def __init__(self, plan: list[tuple[str, int]]) -> None:
        self.plan = list(plan)
        self.blocks: dict[int, bytes] = {}
        self.duplicates = 0
        self.rejected: list[str] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def acked(self) -> int:
        seq = -1
        while seq + 1 in self.blocks:
            seq += 1
        return seq

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self.handle(conn)

    def handle(self, conn: socket.socket) -> None:
        action, at = self.plan.pop(0) if self.plan else ("ok", 0)
        data = b""
        while b"\r\n\r\n" not in data:
            if action == "cut_request" and len(data) >= at:
                return
            more = conn.recv(1 if action == "cut_request" else 4096)
            if not more:
                return
            data += more
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(
            next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1]
        )
        assert head.startswith(b"POST /v1/chunks HTTP/1.1\r\n")
        assert b"content-type: application/vnd.facteur.chunk" in head.lower()
        while len(body) < length:
            if action == "cut_request" and len(head) + 4 + len(body) >= at:
                return
            more = conn.recv(1 if action == "cut_request" else 65536)
            if not more:
                return
            body += more
        try:
            chunk = parse_chunk(body)
        except ChunkError as exc:
            self.rejected.append(exc.reason)
            self.reply(conn, 422, {"error": exc.reason, "detail": exc.detail}, len(body))
            return
        if not chunk.verify(KEY):
            self.rejected.append("bad_mac")
            self.reply(conn, 401, {"error": "bad_mac", "detail": "mac"}, 10_000)
            return
        for b in chunk.blocks:
            if b.seq in self.blocks:
                self.duplicates += 1
                assert self.blocks[b.seq] == b.raw
            self.blocks[b.seq] = b.raw
        cut = at if action == "cut_reply" else 10_000
        self.reply(conn, 200, {"device_id": chunk.device_id, "acked_seq": self.acked()}, cut)

    @staticmethod
    def reply(conn: socket.socket, status: int, doc: dict[str, object], cut: int) -> None:
        body = json.dumps(doc).encode()
        head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        msg = head.encode() + body
        conn.sendall(msg[:cut])

    def close(self) -> None:
        self.sock.close()
