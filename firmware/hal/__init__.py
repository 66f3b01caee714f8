"""Hardware abstraction: one module per target builds the same objects (see HOSTLINK.md).

- hal/esp32.py: the real board (machine.UART, machine.I2C, network.WLAN, littlefs, WDT).
- hal/host.py: the MicroPython unix port, wired to the simulators (ptys, the host link, lockstep clock).

Every board object offers: clock (now(), async sleep_until(t), ended), gnss/pms/modem (read() -> bytes
or None, never blocking; write(b)), i2c (readfrom_mem_into, writeto_mem, writeto, readfrom_into),
wifi (scan(), connect(ssid) -> (ok, host, port), isconnected()), flash_root, provision_path,
feed_watchdog(), free_heap(), log(msg), close().
"""
