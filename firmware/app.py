"""The firmware: one asyncio task per sensor, all waiting on the board clock, none blocking another.

    import app; app.main(board)     # board from hal/esp32.py or hal/host.py

Every second: accelerometer FIFO -> roughness features (+ pothole events), GNSS state -> one TRACK
entry; every 10 s (or when full) the block is sealed and appended to the flash log (durable).
PMS5003 and SCD41 are averaged into AIR / CO2 records every 30 s, the modem is polled for coverage
every 60 s, a HEALTH record is written every 10 min, and at a visible depot SSID the log is uploaded.
"""

import gc
import json
from array import array

try:
    import asyncio
except ImportError:  # pragma: no cover
    asyncio = None

import provision
from drivers.lis3dh import LIS3DH
from drivers.modem import Modem
from drivers.nmea import NMEA
from drivers.pms5003 import PMS5003
from drivers.scd41 import SCD41
from features import RoadFeatures
from flashlog import FlashLog
from micropython import const
from records import BlockWriter
from upload import Uploader

BLOCK_MS = const(10000)
ACC_PERIOD_MS = const(200)  # the LIS3DH FIFO holds 320 ms at 100 Hz
UART_PERIOD_MS = const(250)
AIR_PERIOD_MS = const(30000)
CO2_POLL_MS = const(5000)
CO2_PERIOD_MS = const(30000)
COVERAGE_PERIOD_MS = const(60000)
HEALTH_PERIOD_MS = const(600000)
TIME_PERIOD_MS = const(600000)
WIFI_PERIOD_MS = const(15000)
ACC_CAP = const(256)  # samples per second buffer (>= 200 Hz worth)

# Order of the counters in HEALTH records; mirrored in ingest/records/decode.py.
HEALTH_COUNTERS = (
    "nmea_clean", "nmea_crc_fail", "nmea_garbage", "nmea_unsupported",
    "pms_frames", "pms_bad_checksum", "pms_resync",
    "scd_reads", "scd_crc_fail", "scd_errors",
    "acc_samples", "acc_overruns", "acc_errors",
    "modem_replies", "modem_errors", "modem_timeouts",
    "potholes", "log_syncs", "upload_chunks", "upload_failures",
)  # fmt: skip


class Firmware:
    def __init__(self, board, prov=None):
        self.board = board
        self.clock = board.clock
        self.prov = prov
        self.gps = NMEA()
        self.pms_p = PMS5003()
        self.features = RoadFeatures()
        self.xs = array("h", [0] * ACC_CAP)
        self.zs = array("h", [0] * ACC_CAP)
        self.nacc = 0
        self.acc = None
        self.scd = None
        self.modem = Modem(board.modem) if board.modem is not None else None
        self.log = FlashLog(board.flash_root + "/log")
        seq = self.log.recover()
        self.writer = BlockWriter(self.log.boot_count & 0xFFFF, seq, block_ms=BLOCK_MS)
        self.up = Uploader(self.log, prov["device_id"], prov["key"]) if prov else None
        self.co2_n = 0
        self.co2_sum = 0
        self.t_sum = 0
        self.rh_sum = 0
        self.time_synced_at = None
        self.init_errors = 0
        self.blocks_written = 0
        self.bytes_written = 0
        self.seconds = 0
        self.min_free = 1 << 30
        self.task_errors = 0
        self.stop = False
        try:
            self.acc = LIS3DH(board.i2c)
        except OSError:
            self.init_errors += 1
        try:
            self.scd = SCD41(board.i2c)
            self.scd.start()
        except OSError:
            self.init_errors += 1

    # --- record plumbing --------------------------------------------------------------------

    def _emit(self, ok, retry):
        """Records that did not fit seal the block first, then go in the next one."""
        if not ok:
            self._seal()
            retry()

    def _seal(self):
        block = self.writer.seal()
        if block is not None:
            self.log.append(block)
            self.blocks_written += 1
            self.bytes_written += len(block)

    def counters(self):
        g = self.gps
        p = self.pms_p
        s = self.scd.counters() if self.scd else (0, 0, 0)
        a = self.acc.counters() if self.acc else (0, 0, 0)
        m = self.modem.counters() if self.modem else (0, 0, 0)
        up = self.up
        return (
            g.clean, g.crc_fails, g.garbage, g.unsupported,
            p.frames, p.bad_checksum, p.resync,
            s[0], s[1], s[2],
            a[0], a[1], a[2],
            m[0], m[1], m[2],
            self.features.events, self.log.syncs,
            up.chunks if up else 0, up.failures if up else 0,
        )  # fmt: skip

    # --- tasks ------------------------------------------------------------------------------

    async def every(self, period, fn, phase=0):
        clock = self.clock
        t = clock.now() + phase
        while not clock.ended and not self.stop:
            t += period
            await clock.sleep_until(t)
            if clock.ended:
                break
            try:
                fn(clock.now())
            except Exception as e:  # one failing sensor must not stop the others
                self.task_errors += 1
                if self.task_errors < 20:
                    self.board.log("task error: %r" % e)

    def acc_tick(self, now):
        if self.acc is not None:
            self.nacc += self.acc.drain(self.xs, self.zs, self.nacc)

    def uart_tick(self, now):
        b = self.board
        if b.gnss is not None:
            data = b.gnss.read()
            while data:
                self.gps.feed(data)
                data = b.gnss.read()
        if b.pms is not None:
            data = b.pms.read()
            while data:
                self.pms_p.feed(data)
                data = b.pms.read()
        if self.modem is not None:
            self.modem.poll(now)
            if self.modem.cycle_done:
                m = self.modem
                m.cycle_done = False
                w = self.writer
                self._emit(
                    w.coverage(now, m.rat, m.rsrp, m.rsrq, m.sinr, m.plmn),
                    lambda: w.coverage(now, m.rat, m.rsrp, m.rsrq, m.sinr, m.plmn),
                )

    def second_tick(self, now):
        """Once a second: features from the accelerometer, one TRACK entry, block sealing."""
        self.acc_tick(now)
        self.uart_tick(now)
        g = self.gps
        fix = g.fix and g.lat_e6 is not None
        speed = g.speed_cms if fix else None
        f = self.features
        f.second(self.xs, self.zs, self.nacc, speed)
        self.nacc = 0
        w = self.writer
        lat = g.lat_e6 if fix else None
        lon = g.lon_e6 if fix else None
        if not w.track_second(now, lat, lon, speed, f.rms_mg, f.norm, f.peak_mg, g.hdop10 if fix else None):
            self._seal()
            w.track_second(now, lat, lon, speed, f.rms_mg, f.norm, f.peak_mg, g.hdop10 if fix else None)
        if f.event is not None:
            pk, xz, sev = f.event
            self._emit(
                w.pothole(now, lat, lon, speed, pk, xz, sev),
                lambda: w.pothole(now, lat, lon, speed, pk, xz, sev),
            )
        utc = g.utc_s() if fix else None
        if utc is not None and (self.time_synced_at is None or now - self.time_synced_at >= TIME_PERIOD_MS):
            self.time_synced_at = now
            ms = g.ms
            self._emit(w.time_sync(now, utc, ms), lambda: w.time_sync(now, utc, ms))
        self.seconds += 1
        self.board.feed_watchdog()
        if w.due(now):
            self._seal()

    def air_tick(self, now):
        win = self.pms_p.take_window()
        if win is not None:
            w = self.writer
            self._emit(w.air(now, *win), lambda: w.air(now, *win))

    def co2_poll(self, now):
        s = self.scd
        if s is None or not s.ready():
            return
        r = s.read()
        if r is not None:
            self.co2_n += 1
            self.co2_sum += r[0]
            self.t_sum += r[1]
            self.rh_sum += r[2]

    def co2_tick(self, now):
        n = self.co2_n
        if not n:
            return
        w = self.writer
        args = (now, (self.co2_sum + n // 2) // n, self.t_sum // n, (self.rh_sum + n // 2) // n)
        self.co2_n = self.co2_sum = self.t_sum = self.rh_sum = 0
        self._emit(w.co2(*args), lambda: w.co2(*args))

    def coverage_tick(self, now):
        if self.modem is not None:
            self.modem.start_cycle(now)

    def health_tick(self, now):
        gc.collect()
        w = self.writer
        free = self.board.free_heap()
        if free < self.min_free:
            self.min_free = free
        used_kb = self.log.used_bytes() // 1024
        c = self.counters()
        bc = self.log.boot_count & 0xFFFF
        self._emit(
            w.health(now, bc, free, used_kb, self.log.dropped, c),
            lambda: w.health(now, bc, free, used_kb, self.log.dropped, c),
        )

    async def wifi_task(self):
        clock = self.clock
        prov = self.prov
        if prov is None or not prov["depot_ssids"]:
            return
        t = clock.now()
        while not clock.ended and not self.stop:
            t += WIFI_PERIOD_MS
            await clock.sleep_until(t)
            if clock.ended or self.log.first_unacked() is None and self.writer.empty():
                continue
            wifi = self.board.wifi
            seen = [s for s, _ in wifi.scan() if s in prov["depot_ssids"]]
            if not seen:
                continue
            ok, host, port = wifi.connect(seen[0])
            if not ok:
                continue
            self._seal()  # hand over what we have now
            await self.up.run_once(host, port)
            if self.up.retry_after:
                t += self.up.retry_after * 1000

    async def run(self):
        clock = self.clock
        tasks = [
            asyncio.create_task(self.every(ACC_PERIOD_MS, self.acc_tick, 100)),
            asyncio.create_task(self.every(UART_PERIOD_MS, self.uart_tick, 50)),
            asyncio.create_task(self.every(1000, self.second_tick)),
            asyncio.create_task(self.every(AIR_PERIOD_MS, self.air_tick, 500)),
            asyncio.create_task(self.every(CO2_POLL_MS, self.co2_poll, 300)),
            asyncio.create_task(self.every(CO2_PERIOD_MS, self.co2_tick, 700)),
            asyncio.create_task(self.every(COVERAGE_PERIOD_MS, self.coverage_tick, 200)),
            asyncio.create_task(self.every(HEALTH_PERIOD_MS, self.health_tick, 900)),
            asyncio.create_task(self.wifi_task()),
        ]
        await clock.run()
        self.stop = True
        for t in tasks:
            t.cancel()
        self._seal()  # a clean shutdown keeps the partial block
        self.log.close()


def main(board=None):
    if board is None:
        try:
            from hal.esp32 import Board
        except ImportError:
            from hal.host import Board

            board = Board.from_wiring()
        else:
            board = Board()
    try:
        prov = provision.load(board.provision_path)
    except provision.ProvisionError as e:
        board.log("provisioning: %s" % e)
        prov = None
    fw = Firmware(board, prov)
    asyncio.run(fw.run())
    board.log("shutdown: %d s, %d blocks, %d bytes" % (fw.seconds, fw.blocks_written, fw.bytes_written))
    stats = {
        "seconds": fw.seconds,
        "blocks": fw.blocks_written,
        "bytes": fw.bytes_written,
        "min_free": fw.min_free,
        "boot_count": fw.log.boot_count,
        "dropped": fw.log.dropped,
        "uploaded_chunks": fw.up.chunks if fw.up else 0,
        "upload_failures": fw.up.failures if fw.up else 0,
        "acked": fw.log.acked,
        "counters": fw.counters(),
        "init_errors": fw.init_errors,
        "task_errors": fw.task_errors,
    }
    try:
        import micropython

        stats["mem_peak"] = micropython.mem_peak()
    except (ImportError, AttributeError):
        pass
    print("facteur-stats", json.dumps(stats))
    board.close()
    return fw
