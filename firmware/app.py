"""The firmware: one asyncio task per sensor, all waiting on the board clock, none blocking another.

    import app; app.main(board)     # board from hal/esp32.py or hal/host.py

The board wakes 4 times a second (once per accelerometer FIFO drain: one FIFO_SRC read and one burst
read; the UARTs are drained on the same wake), the SCD41 task every 5 s and the Wi-Fi task every 15 s:
few clock requests per simulated second on the host link. Every second: accelerometer FIFO ->
roughness features (+ pothole events), GNSS state -> one TRACK entry; every 10 s (or when full) the block is sealed and appended to the flash log (durable).
PMS5003 and SCD41 are averaged into AIR / CO2 records every 30 s, the modem is polled for coverage
every 60 s, a HEALTH record is written every 10 min, and at a visible depot SSID the log is uploaded.
At boot a BOOT record (firmware version, reset cause) is written alone in the boot's first block.

HEALTH counter order (mirrored in ingest/records/decode.py HEALTH_COUNTERS): nmea clean, crc fail,
garbage, unsupported; pms frames, bad checksum, resync; scd reads, crc fail, errors; acc samples,
overruns, errors; modem replies, errors, timeouts; potholes, log syncs, upload chunks, failures.
"""

import asyncio
import gc
import sys
from array import array

from drivers.lis3dh import LIS3DH
from drivers.modem import Modem
from drivers.nmea import NMEA
from drivers.pms5003 import PMS5003
from drivers.scd41 import SCD41
from features import RoadFeatures
from flashlog import FlashLog
from micropython import const
from records import BlockWriter
from version import VERSION

_BLOCK_MS = const(10000)
_TICK_MS = const(250)  # one wake per LIS3DH FIFO drain (32 samples = 320 ms at 100 Hz)
_TICKS_PER_S = const(4)  # every 4th wake is the second tick
_CO2_POLL_MS = const(5000)
_TIME_MS = const(600000)
_WIFI_MS = const(15000)
_ACC_CAP = const(128)  # samples per second buffer (100 Hz + slack)


def reset_cause():
    """machine.reset_cause() on a board; 255 (unknown) where there is none (the unix port)."""
    try:
        import machine

        return machine.reset_cause()
    except (ImportError, AttributeError):
        return 255


def load_provision(path):
    """(device_id, key, depot ssids) from the provisioning JSON, or None when unusable."""
    import json
    from binascii import unhexlify

    try:
        with open(path) as f:
            doc = json.load(f)
        dev = doc["device_id"]
        key = unhexlify(doc["key_hex"])
        if not 1 <= len(dev) <= 32 or len(key) != 32:
            return None
        return dev, key, [s.encode() for s in doc.get("depot_ssids", ())]
    except (OSError, ValueError, KeyError, TypeError):
        return None


class Firmware:
    def __init__(self, board, prov=None):
        self.board = board
        self.clock = board.clock
        self.prov = prov
        self.gps = NMEA()
        self.pm = PMS5003()
        self.feat = RoadFeatures()
        self.xs = array("h", bytes(2 * _ACC_CAP))
        self.zs = array("h", bytes(2 * _ACC_CAP))
        self.nacc = 0
        self.phase = 0
        self.acc = None
        self.scd = None
        self.modem = Modem(board.modem) if board.modem is not None else None
        self.log = FlashLog(board.flash_root + "/log")
        seq = self.log.recover()
        self.w = BlockWriter(
            self.log.boot_count & 0xFFFF, seq, capacity=480, block_ms=_BLOCK_MS, sink=self._append
        )
        self.up = None
        self.up_chunks = 0
        self.up_failures = 0
        self.co2 = [0, 0, 0, 0]  # n, sum ppm, sum t, sum rh
        self.scd_polls = 0
        self.synced_at = None
        self.init_errors = 0
        self.task_errors = 0
        self.blocks = 0
        self.nbytes = 0
        self.seconds = 0
        self.min_free = 1 << 30
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
        # The BOOT record (firmware version, reset cause) in a block of its own, first of the boot.
        self.w.boot(self.clock.now(), self.log.boot_count, reset_cause(), VERSION)
        self.seal()

    def _append(self, block):
        if block is not None:
            self.log.append(block)
            self.blocks += 1
            self.nbytes += len(block)

    def seal(self):
        self._append(self.w.seal())

    def counters(self):
        g = self.gps
        p = self.pm
        z = (0, 0, 0)
        return (
            (g.clean, g.crc_fails, g.garbage, g.unsupported, p.frames, p.bad_checksum, p.resync)
            + (self.scd.counters() if self.scd else z)
            + (self.acc.counters() if self.acc else z)
            + (self.modem.counters() if self.modem else z)
            + (self.feat.events, self.log.syncs, self.up_chunks, self.up_failures)
        )

    async def every(self, period, fn, phase):
        clock = self.clock
        t = clock.now() + phase
        while not clock.ended and not self.stop:
            t += period
            try:
                await clock.sleep_until(t)
                if clock.ended:
                    break
                fn(clock.now())
            except Exception as e:  # one failing sensor (or a full heap) must not stop the others
                self.task_errors += 1
                if self.task_errors < 20:
                    self.board.log("task error: %r" % e)
                    print("task error:", repr(e))
                await asyncio.sleep_ms(0)  # never spin without yielding

    def acc_tick(self, now):
        if self.acc is not None:
            self.nacc += self.acc.drain(self.xs, self.zs, self.nacc)

    def tick(self, now):
        """One wake per FIFO drain: every 250 ms the FIFO (25 samples) and the UARTs are drained;
        every 4th wake, on the second, is the second tick (which drains them too)."""
        self.phase += 1
        if self.phase >= _TICKS_PER_S:
            self.phase = 0
            self.second_tick(now)
        else:
            self.acc_tick(now)
            self.uart_tick(now)

    def uart_tick(self, now):
        b = self.board
        for u, p in ((b.gnss, self.gps), (b.pms, self.pm)):
            if u is not None:
                data = u.read()
                while data:
                    p.feed(data)
                    data = u.read()
        m = self.modem
        if m is not None:
            m.poll(now)
            if m.cycle_done:
                m.cycle_done = False
                self.w.coverage(now, m.rat, m.rsrp, m.rsrq, m.sinr, m.plmn)

    def second_tick(self, now):
        """Once a second: features from the accelerometer, one TRACK entry, block sealing."""
        self.acc_tick(now)
        self.uart_tick(now)
        g = self.gps
        w = self.w
        fix = g.fix and g.lat_e6 is not None
        lat = g.lat_e6 if fix else None
        lon = g.lon_e6 if fix else None
        speed = g.speed_cms if fix else None
        f = self.feat
        f.second(self.xs, self.zs, self.nacc, speed)
        self.nacc = 0
        if w.due(now):  # before this second's entry: a block holds exactly 10 seconds, one TRACK
            self.seal()
        w.track_second(now, lat, lon, speed, f.rms_mg, f.norm, f.peak_mg, g.hdop10 if fix else None)
        if f.event is not None:
            w.pothole(now, lat, lon, speed, f.event[0], f.event[1], f.event[2])
        if fix and (self.synced_at is None or now - self.synced_at >= _TIME_MS):
            utc = g.utc_s()
            if utc is not None:
                self.synced_at = now
                w.time_sync(now, utc, g.ms)
        self.seconds += 1
        n = self.seconds
        if n % 30 == 0:  # AIR every 30 s
            win = self.pm.take_window()
            if win is not None:
                w.air(now, win[0], win[1], win[2], win[3])
        if n % 60 == 20 and self.modem is not None:  # a coverage cycle a minute
            self.modem.start_cycle(now)
        if n % 60 == 0:
            gc.collect()
            free = gc.mem_free()
            if free < self.min_free:
                self.min_free = free
            if n % 600 == 0:
                self.health(now, free)
        self.board.feed_watchdog()

    def scd_tick(self, now):
        """SCD41 every 5 s (its measurement period); a CO2 record with the mean every 30 s."""
        s = self.scd
        c = self.co2
        if s is not None and s.ready():
            r = s.read()
            if r is not None:
                c[0] += 1
                c[1] += r[0]
                c[2] += r[1]
                c[3] += r[2]
        self.scd_polls += 1
        n = c[0]
        if self.scd_polls % 6 == 0 and n:
            self.w.co2(now, (c[1] + n // 2) // n, c[2] // n, (c[3] + n // 2) // n)
            c[0] = c[1] = c[2] = c[3] = 0

    def health(self, now, free):
        lg = self.log
        self.w.health(now, lg.boot_count & 0xFFFF, free, lg.used_bytes() // 1024, lg.dropped, self.counters())

    async def upload(self, host, port):
        # Imported at the depot only, and released after: the heap is for the round.
        from upload import Uploader

        prov = self.prov
        if prov is None:
            return 0
        up = Uploader(self.log, prov[0], prov[1])
        self.up = up
        clock = self.clock
        clock.busy += 1  # host clock: small steps while the socket works
        try:
            await up.run_once(host, port)
        finally:
            clock.busy -= 1
            self.up = None
            self.up_chunks += up.chunks
            self.up_failures += up.failures
            retry = up.retry_after
            del up
            sys.modules.pop("upload", None)
            gc.collect()
        return retry

    async def wifi_task(self):
        clock = self.clock
        prov = self.prov
        if prov is None or not prov[2]:
            return
        t = clock.now()
        while not clock.ended and not self.stop:
            t += _WIFI_MS
            await clock.sleep_until(t)
            if clock.ended or self.log.first_unacked() is None and self.w.empty():
                continue
            g = self.gps
            if g.fix and g.speed_cms is not None and g.speed_cms > 200:
                continue  # driving: no depot here, and a scan blocks the radio for a while on a board
            try:
                t += 1000 * await self.depot(prov[2])
            except Exception as e:  # as in every(): a failed visit (or a full heap) is retried, not fatal
                self.task_errors += 1
                if self.task_errors < 20:
                    self.board.log("wifi error: %r" % e)
                    print("wifi error:", repr(e))

    async def depot(self, ssids):
        """Scan; at a depot SSID connect and upload. Returns the seconds the gateway asks to wait."""
        wifi = self.board.wifi
        seen = None
        for ssid, _ in wifi.scan():
            if ssid in ssids:
                seen = ssid
                break
        if seen is None:
            return 0
        ok, host, port = wifi.connect(seen)
        if not ok:
            return 0
        self.seal()  # hand over what we have now
        return await self.upload(host, port)

    async def run(self):
        e = self.every
        tasks = [
            asyncio.create_task(e(_TICK_MS, self.tick, 0)),
            # the SCD41 on a drain wake (phase 250 ms): no wake of its own
            asyncio.create_task(e(_CO2_POLL_MS, self.scd_tick, _TICK_MS)),
            asyncio.create_task(self.wifi_task()),
        ]
        await self.clock.run()
        self.stop = True
        for t in tasks:
            t.cancel()
        self.seal()  # a clean shutdown keeps the partial block
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
    prov = load_provision(board.provision_path)
    if prov is None:
        board.log("provisioning file missing or invalid: no upload")
    gc.collect()
    free_boot = gc.mem_free()
    fw = Firmware(board, prov)
    gc.collect()
    free_init = gc.mem_free()
    asyncio.run(fw.run())
    up = fw.up  # an upload still running when the round ended (its task never resumes) counts too
    if up is not None:
        fw.up_chunks += up.chunks
        fw.up_failures += up.failures
        fw.up = None
    gc.collect()
    print(
        "facteur-stats {"
        + '"seconds": %d, "blocks": %d, "bytes": %d, "min_free": %d, "free_end": %d, "boot_count": %d, '
        % (fw.seconds, fw.blocks, fw.nbytes, fw.min_free, gc.mem_free(), fw.log.boot_count)
        + '"dropped": %d, "uploaded_chunks": %d, "upload_failures": %d, "acked": %d, '
        % (fw.log.dropped, fw.up_chunks, fw.up_failures, fw.log.acked)
        + '"free_boot": %d, "free_init": %d, "init_errors": %d, "task_errors": %d, "counters": %s}'
        % (free_boot, free_init, fw.init_errors, fw.task_errors, list(fw.counters()))
    )
    board.close()
    return fw
