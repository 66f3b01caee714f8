"""The host link server: the simulator side of ``firmware/hal/HOSTLINK.md``, on loopback TCP.

Frames are ``op u8 | length u16 LE | payload`` in, ``status u8 | length u16 LE | payload`` out,
one request in flight per connection. One :class:`LinkServer` serves any number of worlds (one
listening socket each, so every van's wiring file names its own port) from a single thread with
``selectors``: a fleet of vans in lockstep costs one thread, and each van's clock moves only
when its own firmware sleeps.

    >>> server = LinkServer()
    >>> port = server.add(world)            # write the wiring file with 127.0.0.1:port
    >>> server.serve(until=lambda: world.finished)
"""

from __future__ import annotations

import selectors
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from simulators.world import STATUS_END, World

HEADER = struct.Struct("<BH")


@dataclass(slots=True)
class _Conn:
    world: World
    sock: socket.socket
    buf: bytearray = field(default_factory=bytearray)


class LinkServer:
    def __init__(self, host: str = "127.0.0.1", *, fast_single: bool = True) -> None:
        self.host = host
        self.fast_single = fast_single
        self.sel = selectors.DefaultSelector()
        self.listeners: dict[int, tuple[socket.socket, World]] = {}
        self.closed_worlds: list[World] = []

    def add(self, world: World, port: int = 0) -> int:
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((self.host, port))
        lsock.listen(1)
        lsock.setblocking(False)
        self.sel.register(lsock, selectors.EVENT_READ, ("listen", world))
        bound = lsock.getsockname()[1]
        self.listeners[bound] = (lsock, world)
        return int(bound)

    def _accept(self, lsock: socket.socket, world: World) -> None:
        conn, _ = lsock.accept()
        conn.setblocking(True)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # a blocking receive that gives up after 0.5 s (the single-van fast path relies on it)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 500_000))
        self.sel.register(conn, selectors.EVENT_READ, ("conn", _Conn(world, conn)))

    def _service(self, c: _Conn, single: bool = False, timeout: float = 0.5) -> bool:
        """Answer every complete request; False when the peer has gone.

        With a single van (``single``) the next request is awaited right here with a blocking
        receive, skipping a selector round trip per request, until a receive times out.
        """
        while True:
            try:
                data = c.sock.recv(65536)
            except BlockingIOError:  # SO_RCVTIMEO expired: back to the selector
                return True
            except ConnectionError:
                data = b""
            if not data:
                self._drop(c)
                return False
            c.buf += data
            self._answer(c)
            if not single:
                return True

    def _answer(self, c: _Conn) -> None:
        out = bytearray()
        while len(c.buf) >= HEADER.size:
            op, n = HEADER.unpack_from(c.buf)
            if len(c.buf) < HEADER.size + n:
                break
            payload = bytes(c.buf[HEADER.size : HEADER.size + n])
            del c.buf[: HEADER.size + n]
            status, reply = c.world.handle(op, payload)
            out += HEADER.pack(status, len(reply)) + reply
            if status == STATUS_END:
                break
        if out:
            c.sock.sendall(out)

    def _drop(self, c: _Conn) -> None:
        self.sel.unregister(c.sock)
        c.sock.close()
        self.closed_worlds.append(c.world)

    def serve(
        self, until: Callable[[], bool], timeout: float = 0.5, idle_limit_s: float | None = None
    ) -> None:
        """Serve requests until ``until()`` is true (checked between events), or nothing happens for
        ``idle_limit_s`` seconds of wall time."""
        last = time.monotonic()
        while not until():
            events = self.sel.select(timeout)
            if events:
                last = time.monotonic()
            elif idle_limit_s is not None and time.monotonic() - last > idle_limit_s:
                return
            for key, _ in events:
                kind, obj = key.data
                if kind == "listen":
                    self._accept(key.fileobj, obj)  # type: ignore[arg-type]
                else:
                    self._service(obj, single=self.fast_single and len(self.listeners) == 1, timeout=timeout)

    def close(self) -> None:
        for key in list(self.sel.get_map().values()):
            self.sel.unregister(key.fileobj)
            key.fileobj.close()  # type: ignore[union-attr]
        self.sel.close()
