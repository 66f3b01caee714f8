"""The depot Wi-Fi between a van and the real gateway: a loopback TCP relay that records uploads.

Every request the van sends is read whole, recorded (``bodies``: what the firmware uploaded, an
independent copy to compare the database with), then relayed to the gateway and its reply relayed
back. A plan of faults, one per connection, models the radio dropping mid upload:
``("cut_request", k)`` closes both sides after k bytes of the request (the gateway never sees it),
``("cut_reply", k)`` lets the gateway store the chunk but passes only k bytes of its reply back
(the van must resend; the gateway and ingest must not store it twice).

    tap = UplinkTap(("127.0.0.1", gateway_port), plan=[("cut_request", 300)])
    van.wifi.gateway = f"127.0.0.1:{tap.port}"
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field


@dataclass
class TapCounts:
    connections: int = 0
    relayed: int = 0
    cut_requests: int = 0
    cut_replies: int = 0
    upstream_errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


def _read_http(sock: socket.socket, limit: int | None = None) -> tuple[bytes, bytes, bool]:
    """(head, body, complete) of one HTTP message; stops after ``limit`` bytes when given."""
    data = b""
    while b"\r\n\r\n" not in data:
        if limit is not None and len(data) >= limit:
            return data, b"", False
        more = sock.recv(1 if limit is not None else 65536)
        if not more:
            return data, b"", False
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        if limit is not None and len(head) + 4 + len(body) >= limit:
            return head, body, False
        want = 1 if limit is not None else length - len(body)
        more = sock.recv(want)
        if not more:
            return head, body, False
        body += more
    return head, body, True


class UplinkTap:
    def __init__(self, upstream: tuple[str, int], plan: list[tuple[str, int]] | None = None) -> None:
        self.upstream = upstream
        self.plan = list(plan or [])
        self.bodies: list[bytes] = []
        self.counts = TapCounts()
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])
        self.thread = threading.Thread(target=self._serve, daemon=True, name="uplink-tap")
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                self._relay(conn)

    def _relay(self, conn: socket.socket) -> None:
        conn.settimeout(60)
        with self.lock:
            self.counts.connections += 1
            action, at = self.plan.pop(0) if self.plan else ("ok", 0)
        if action == "cut_request":
            head, body, complete = _read_http(conn, limit=at)
            if not complete:
                with self.lock:
                    self.counts.cut_requests += 1
                return
        else:
            head, body, complete = _read_http(conn)
            if not complete:
                return
        with self.lock:
            self.bodies.append(body)
        try:
            with socket.create_connection(self.upstream, timeout=60) as up:
                up.sendall(head + b"\r\n\r\n" + body)
                rhead, rbody, _ = _read_http(up)
        except OSError:
            with self.lock:
                self.counts.upstream_errors += 1
            return
        status = int(rhead.split(b" ", 2)[1]) if rhead.startswith(b"HTTP/") else 0
        reply = rhead + b"\r\n\r\n" + rbody
        with self.lock:
            self.counts.statuses[status] = self.counts.statuses.get(status, 0) + 1
            if action == "cut_reply" and at < len(reply):
                self.counts.cut_replies += 1
            else:
                self.counts.relayed += 1
        conn.sendall(reply[:at] if action == "cut_reply" else reply)

    def close(self) -> None:
        self.sock.close()
