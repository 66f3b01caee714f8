"""The simulated I2C bus: devices by 7-bit address, each a byte-level target.

A device sees what a real target sees: a write transaction (bytes after the address byte) and a
read transaction (``n`` bytes clocked out). ``I2C_READ_MEM`` is a write of the register address
followed by a read; ``I2C_WRITE_MEM`` is one write of the register address and the data. Before
any transaction the bus brings every device up to the current simulated time.
"""

from __future__ import annotations

from typing import Protocol


class I2CTarget(Protocol):
    def advance(self, t: float) -> None: ...

    def write(self, data: bytes) -> None: ...

    def read(self, n: int) -> bytes: ...


class NoDeviceError(OSError):
    """No target acknowledged the address (the link answers NACK)."""


class I2CBus:
    def __init__(self) -> None:
        self.devices: dict[int, I2CTarget] = {}
        self.now = 0.0

    def attach(self, address: int, device: I2CTarget) -> None:
        self.devices[address] = device

    def _target(self, address: int) -> I2CTarget:
        dev = self.devices.get(address)
        if dev is None:
            raise NoDeviceError(f"no device at 0x{address:02x}")
        dev.advance(self.now)
        return dev

    def advance(self, t: float) -> None:
        self.now = t
        for dev in self.devices.values():
            dev.advance(t)

    def write(self, address: int, data: bytes) -> None:
        self._target(address).write(data)

    def read(self, address: int, n: int) -> bytes:
        return self._target(address).read(n)

    def read_mem(self, address: int, reg: int, n: int) -> bytes:
        dev = self._target(address)
        dev.write(bytes([reg]))
        return dev.read(n)

    def write_mem(self, address: int, reg: int, data: bytes) -> None:
        self._target(address).write(bytes([reg]) + data)
