"""The host link server: the simulator side of ``firmware/hal/HOSTLINK.md``, on loopback TCP.

Frames are ``op u8 | length u16 LE | payload`` in, ``status u8 | length u16 LE | payload`` out,
one request in flight per connection. One :class:`LinkServer` serves any number of worlds (one
listening socket each, so every van's wiring file names its own port) from a single thread with
``selectors``: a fleet of vans in lockstep costs one thread, and each van's clock moves only
when its own firmware sleeps.

    >>> server = LinkServer()
    >>> port = server.add(world)            # write the wiring file with 127.0.0.1:port
    >>> link = server.add_unix(world)       # or a Unix socket: "unix:@name" (cheaper per request)
    >>> server.serve(until=lambda: world.finished)
"""

from __future__ import annotations

import itertools
import os
import selectors
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from simulators.world import STATUS_END, World

HEADER = struct.Struct("<BH")
_unix_names = itertools.count()


@dataclass(slots=True)
class _Conn:
    world: World
    sock: socket.socket
    buf: bytearray = field(default_factory=bytearray)
    inbox: bytearray = field(default_factory=lambda: bytearray(65536))


def lockstep_cpu() -> int | None:
    """The CPU to pin a lockstep pair to (the link server's thread and its firmware process), or None
    to leave them to the scheduler (``FACTEUR_LOCKSTEP_PIN=0``, or a single CPU anyway).

    In lockstep one side always waits for the other, so the pair needs one CPU, not two: on the same
    CPU a reply wakes the peer without a cross-CPU wake-up (an inter-processor interrupt and an idle
    CPU's exit latency, ~100 µs a request on this VM) and both sides keep their caches warm. The last
    allowed CPU is taken, so that other work stays on the first."""
    if os.environ.get("FACTEUR_LOCKSTEP_PIN", "1") == "0":
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[-1] if len(cpus) > 1 else None


def pin(cpu: int | None, pid: int = 0) -> None:
    """Pin process ``pid`` (0: the calling thread) to ``cpu``; nothing when ``cpu`` is None."""
    if cpu is not None:
        os.sched_setaffinity(pid, {cpu})


class LinkServer:
    def __init__(self, host: str = "127.0.0.1", *, fast_single: bool = True) -> None:
        self.host = host
        self.fast_single = fast_single
        self.sel = selectors.DefaultSelector()
        self.listeners: dict[int | str, tuple[socket.socket, World]] = {}
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

    def add_unix(self, world: World, name: str | None = None) -> str:
        """Serve ``world`` on a Unix stream socket in the abstract namespace (no file to clean up);
        returns the wiring file's link address, ``unix:@name``. A request costs the two processes
        less kernel time than on loopback TCP."""
        name = name or f"facteur-link-{os.getpid()}-{next(_unix_names)}"
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind("\0" + name)
        lsock.listen(1)
        lsock.setblocking(False)
        self.sel.register(lsock, selectors.EVENT_READ, ("listen", world))
        self.listeners["@" + name] = (lsock, world)
        return "unix:@" + name

    def _accept(self, lsock: socket.socket, world: World) -> None:
        conn, _ = lsock.accept()
        conn.setblocking(True)
        if conn.family == socket.AF_INET:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # a blocking receive that gives up after 0.5 s (the single-van fast path relies on it)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 0, 500_000))
        self.sel.register(conn, selectors.EVENT_READ, ("conn", _Conn(world, conn)))

    def _service(self, c: _Conn, single: bool = False, timeout: float = 0.5) -> bool:
        """Answer every complete request; False when the peer has gone.

        With a single van (``single``) the next request is awaited right here with a blocking
        receive, skipping a selector round trip per request, until a receive times out.
        """
        sock = c.sock
        inbox = c.inbox
        handle = c.world.handle
        while True:
            try:
                n = sock.recv_into(inbox)
            except BlockingIOError:  # SO_RCVTIMEO expired: back to the selector
                return True
            except ConnectionError:
                n = 0
            if not n:
                self._drop(c)
                return False
            if not c.buf and n >= 3 and n == 3 + (inbox[1] | inbox[2] << 8):
                # the usual case: exactly one whole request (the firmware has one in flight)
                status, reply = handle(inbox[0], bytes(inbox[3:n]))
                sock.sendall(HEADER.pack(status, len(reply)) + reply)
            else:
                c.buf += inbox[:n]
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
