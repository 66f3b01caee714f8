"""LTE modem answering AT commands on a serial line, from a coverage field at the van's position.

Commands end with CR; replies are ``\\r\\n<line>\\r\\n`` then ``\\r\\nOK\\r\\n`` (or ``ERROR``),
with command echo on by default (``ATE0`` turns it off) as real modems do. Supported: ``AT``,
``ATE0/1``, ``ATI``, ``AT+CSQ``, ``AT+CESQ`` (3GPP TS 27.007: rxlev/ber 99, rscp/ecno 255, then
RSRQ index 0–34 and RSRP index 0–97; 255 when unknown), ``AT+QCSQ`` (Quectel: ``"LTE",rssi,
rsrp,sinr,rsrq`` or ``"NOSERVICE"``), ``AT+COPS?`` (``0,0,"<operator>",7`` or ``0`` without
service). Anything else is ``ERROR``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Radio:
    """What the modem measures: ``rsrp`` dBm, ``rsrq`` dB, ``sinr`` dB; ``None`` = no service."""

    rsrp: float
    rsrq: float
    sinr: float


def rsrp_index(rsrp: float) -> int:
    """TS 27.007 +CESQ <rsrp>: 0 below -140 dBm, 1..96 in 1 dB steps, 97 at -44 dBm or above."""
    return max(0, min(97, math.floor(rsrp + 141)))


def rsrq_index(rsrq: float) -> int:
    """TS 27.007 +CESQ <rsrq>: 0 below -19.5 dB, 1..33 in 0.5 dB steps, 34 at -3 dB or above."""
    return max(0, min(34, math.floor((rsrq + 20.0) * 2)))


def csq_rssi(rssi: float) -> int:
    return max(0, min(31, round((rssi + 113) / 2)))


class Modem:
    def __init__(self, radio: Callable[[float], Radio | None], operator: str = "facteur-net") -> None:
        self.radio = radio
        self.operator = operator
        self.echo = True
        self.now = 0.0
        self._rx = bytearray()
        self._out = bytearray()
        self.commands = 0

    def advance(self, t: float) -> bytes:
        self.now = max(self.now, t)
        out, self._out = bytes(self._out), bytearray()
        return out

    def receive(self, data: bytes) -> None:
        self._rx += data
        while True:
            end = self._rx.find(b"\r")
            if end < 0:
                return
            line = self._rx[:end].decode("ascii", "replace").strip()
            del self._rx[: end + 1]
            if self._rx[:1] == b"\n":
                del self._rx[:1]
            if line:
                self._answer(line)

    def _answer(self, line: str) -> None:
        self.commands += 1
        if self.echo:
            self._out += line.encode() + b"\r"
        cmd = line.upper()
        lines: list[str] = []
        ok = True
        radio = self.radio(self.now)
        if cmd == "AT":
            pass
        elif cmd in ("ATE0", "ATE1"):
            self.echo = cmd == "ATE1"
        elif cmd == "ATI":
            lines = ["facteur", "SIM-LTE", "Revision: 1.0"]
        elif cmd == "AT+CSQ":
            lines = [f"+CSQ: {csq_rssi(radio.rsrp + 30) if radio else 99},99"]
        elif cmd == "AT+CESQ":
            if radio is None:
                lines = ["+CESQ: 99,99,255,255,255,255"]
            else:
                lines = [f"+CESQ: 99,99,255,255,{rsrq_index(radio.rsrq)},{rsrp_index(radio.rsrp)}"]
        elif cmd == "AT+QCSQ":
            if radio is None:
                lines = ['+QCSQ: "NOSERVICE"']
            else:
                rssi = round(radio.rsrp + 30)
                sinr = max(0, min(250, round((radio.sinr + 20) * 5)))
                lines = [f'+QCSQ: "LTE",{rssi},{round(radio.rsrp)},{sinr},{round(radio.rsrq)}']
        elif cmd == "AT+COPS?":
            lines = [f'+COPS: 0,0,"{self.operator}",7' if radio else "+COPS: 0"]
        else:
            ok = False
        for reply in lines:
            self._out += b"\r\n" + reply.encode() + b"\r\n"
        self._out += b"\r\nOK\r\n" if ok else b"\r\nERROR\r\n"
