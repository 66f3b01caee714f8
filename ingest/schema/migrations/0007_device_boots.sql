-- One row per boot of a device, from its BOOT record (firmware/FORMAT.md, kind 0x80): the firmware
-- version it ran and why it (re)started. A plain table (a row per boot, a few a day per van);
-- /v1/fleet/devices reports the latest row as the device's firmware version.
CREATE TABLE device_boots (
    device_id        text NOT NULL,
    seq              bigint NOT NULL,       -- the block that carried the record (its boot's first)
    boot_id          integer NOT NULL,
    ticks            bigint NOT NULL,
    boot_count       integer NOT NULL,
    reset_cause      smallint NOT NULL,     -- machine.reset_cause(); 255 = unknown
    firmware_version text NOT NULL,
    time             timestamptz,           -- UTC of the boot, null until its time anchor is known
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, seq)
);
CREATE INDEX device_boots_device_received ON device_boots (device_id, received_at DESC, seq DESC);
