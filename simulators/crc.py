"""Checksums the simulated chips put on the wire: Sensirion CRC-8 and PMS5003's byte sum."""

from __future__ import annotations


def sensirion_crc8(data: bytes) -> int:
    """CRC-8, polynomial 0x31, init 0xFF, no reflection, no final XOR (SCD4x datasheet)."""
    crc = 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def sum16(data: bytes) -> int:
    return sum(data) & 0xFFFF
