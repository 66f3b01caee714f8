"""The real board: ESP32-class, pins per the facteur carrier board. Only this file builds hardware.

board = Board()    # UART1 GNSS, UART2 PMS5003, a third UART for the modem (soft pins), I2C0, WLAN
"""

import asyncio
import gc
import json
import time

import machine
import network
from micropython import const

_GNSS_TX = const(17)
_GNSS_RX = const(16)
_PMS_TX = const(4)
_PMS_RX = const(5)
_MODEM_TX = const(25)
_MODEM_RX = const(26)
_SCL = const(22)
_SDA = const(21)


class NonBlockingUART:
    def __init__(self, uart, rxbuf):
        self.u = uart
        self.buf = bytearray(rxbuf)
        self.mv = memoryview(self.buf)

    def read(self):
        if not self.u.any():
            return None
        n = self.u.readinto(self.buf)
        return self.mv[:n] if n else None

    def write(self, data):
        self.u.write(data)


class RealClock:
    """Wall-clock ticks; sleep_until via asyncio on ticks_ms (wraps handled by ticks_diff)."""

    ended = False
    busy = 0  # (the host clock takes small steps while busy; real time needs nothing)

    def now(self):
        return time.ticks_ms()

    async def sleep_until(self, t):
        d = time.ticks_diff(t, time.ticks_ms())
        await asyncio.sleep_ms(d if d > 0 else 0)

    async def sleep_ms(self, ms):
        await asyncio.sleep_ms(ms)

    async def run(self):
        while True:
            await asyncio.sleep_ms(60000)


class BoardWiFi:
    def __init__(self, gateway):
        self.sta = network.WLAN(network.STA_IF)
        self.sta.active(True)
        self.gateway = gateway
        self.password = None

    def scan(self):
        return [(n[0], n[3]) for n in self.sta.scan()]

    def connect(self, ssid):
        self.sta.connect(ssid, self.password) if self.password else self.sta.connect(ssid)
        for _ in range(100):
            if self.sta.isconnected():
                break
            time.sleep_ms(100)
        if not self.sta.isconnected() or not self.gateway:
            return False, None, 0
        host, _, port = self.gateway.rpartition(":")
        return True, host, int(port)

    def isconnected(self):
        return self.sta.isconnected()


class Board:
    def __init__(self, provision_path="/provision.json"):
        self.clock = RealClock()
        self.gnss = NonBlockingUART(machine.UART(1, 9600, tx=_GNSS_TX, rx=_GNSS_RX, rxbuf=1024), 512)
        self.pms = NonBlockingUART(machine.UART(2, 9600, tx=_PMS_TX, rx=_PMS_RX, rxbuf=256), 128)
        # The ESP32 has three UARTs and the modem takes UART0, which also carries the REPL on stock
        # builds: a field build has to disable the UART REPL (not done here; see the issue report).
        self.modem = NonBlockingUART(machine.UART(0, 115200, tx=_MODEM_TX, rx=_MODEM_RX, rxbuf=512), 256)
        self.i2c = machine.I2C(0, scl=machine.Pin(_SCL), sda=machine.Pin(_SDA), freq=400000)
        self.provision_path = provision_path
        try:
            with open(provision_path) as f:
                gateway = json.load(f).get("gateway")
        except (OSError, ValueError):
            gateway = None
        self.wifi = BoardWiFi(gateway)
        self.flash_root = ""  # the littlefs root filesystem (the 2 MiB partition): the log is /log
        self.wdt = machine.WDT(timeout=30000)

    def feed_watchdog(self):
        self.wdt.feed()

    def free_heap(self):
        return gc.mem_free()

    def log(self, msg):
        print(msg)

    def close(self):
        pass
