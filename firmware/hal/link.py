"""Client side of the host link (HOSTLINK.md): one TCP connection, one request in flight.

Frames: request `op u8 | len u16 LE | payload`, reply `status u8 | len u16 LE | payload`.
Buffers are preallocated; replies are read into `self.rx` and returned as a memoryview that is
valid until the next request.
"""

import socket
import struct

from micropython import const

OP_HELLO = const(0x01)
OP_NOW = const(0x02)
OP_SLEEP_UNTIL = const(0x03)
OP_I2C_WRITE = const(0x10)
OP_I2C_READ = const(0x11)
OP_I2C_READ_MEM = const(0x12)
OP_I2C_WRITE_MEM = const(0x13)
OP_WIFI_SCAN = const(0x20)
OP_WIFI_CONNECT = const(0x21)
OP_WIFI_STATUS = const(0x22)
OP_LOG = const(0x30)

ST_OK = const(0)
ST_NACK = const(1)
ST_END = const(2)


class LinkError(OSError):
    def __init__(self, status, reason):
        super().__init__(status, reason)
        self.status = status
        self.reason = reason


class Link:
    def __init__(self, host, port):
        self.sock = socket.socket()
        self.sock.connect(socket.getaddrinfo(host, port)[0][-1])
        self.tx = bytearray(512)
        self.rx = bytearray(1024)
        self.txv = memoryview(self.tx)
        self.rxv = memoryview(self.rx)
        self.hdr = bytearray(3)
        self.requests = 0

    def request(self, op, payload_len):
        """Send op with tx[3:3+payload_len] as payload; returns (status, memoryview of reply)."""
        tx = self.tx
        tx[0] = op
        tx[1] = payload_len & 0xFF
        tx[2] = payload_len >> 8
        self._send(self.txv[: 3 + payload_len])
        self._recv_into(memoryview(self.hdr))
        status = self.hdr[0]
        n = self.hdr[1] | self.hdr[2] << 8
        if n > len(self.rx):
            raise LinkError(255, "reply too long")
        body = self.rxv[:n]
        if n:
            self._recv_into(body)
        self.requests += 1
        return status, body

    def _send(self, mv):
        s = self.sock
        sent = 0
        while sent < len(mv):
            k = s.write(mv[sent:])
            if not k:
                raise LinkError(255, "link closed")
            sent += k

    def _recv_into(self, mv):
        got = 0
        s = self.sock
        while got < len(mv):
            k = s.readinto(mv[got:])
            if not k:
                raise LinkError(255, "link closed")
            got += k

    def call(self, op, payload=b""):
        n = len(payload)
        self.tx[3 : 3 + n] = payload
        return self.request(op, n)

    def u32(self, op, value):
        struct.pack_into("<I", self.tx, 3, value & 0xFFFFFFFF)
        return self.request(op, 4)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
