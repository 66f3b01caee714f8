"""Serial devices on pseudo-terminals: the simulator writes to the master, the firmware (or any
``pyserial`` program) opens the slave path like a UART.

The slave is put in raw mode (no echo, no CR/LF translation). The master is non-blocking: when
the reader does not keep up and the tty buffer is full, bytes wait in a bounded backlog and the
oldest are dropped beyond it, as a real UART's receive FIFO overruns; ``dropped`` counts them.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tty


class PtySerial:
    def __init__(self, backlog_limit: int = 64 * 1024) -> None:
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self._slave)
        self.backlog = bytearray()
        self.backlog_limit = backlog_limit
        self.dropped = 0
        self.written = 0

    def write(self, data: bytes) -> None:
        self.backlog += data
        if len(self.backlog) > self.backlog_limit:
            excess = len(self.backlog) - self.backlog_limit
            del self.backlog[:excess]
            self.dropped += excess
        self.flush()

    def flush(self) -> None:
        while self.backlog:
            try:
                n = os.write(self.master, self.backlog)
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                    return
                raise
            self.written += n
            del self.backlog[:n]

    def read(self) -> bytes:
        """Whatever the other side wrote (e.g. AT commands), without waiting."""
        chunks = []
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError as e:
                if e.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EIO):
                    break
                raise
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)

    def close(self) -> None:
        for fd in (self.master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
