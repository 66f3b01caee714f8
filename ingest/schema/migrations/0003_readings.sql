-- What the vans measured, decoded from block payloads (ingest.records.decode), one hypertable per
-- record kind. Time is UTC from the GNSS time anchor of the reading's boot. Every table is indexed
-- (device_id, time) ascending, the order readings arrive in (a van's day, oldest first).
-- `seq` is the block the reading came from (with the raw archive, enough to reprocess it).

-- One row a second while driving: GNSS fix and the roughness of that second.
CREATE TABLE track (
    time     timestamptz NOT NULL,
    device_id text NOT NULL,
    boot_id  integer NOT NULL,
    seq      bigint NOT NULL,
    ticks    bigint NOT NULL,
    fix      boolean NOT NULL,
    lat      double precision,
    lon      double precision,
    speed    real,          -- m/s
    hdop     real,
    rms      real,          -- vertical acceleration RMS over the second, g
    norm     real,          -- roughness index of the second
    peak     real           -- largest vertical acceleration of the record, g
);
SELECT create_hypertable('track', by_range('time', INTERVAL '1 day'), create_default_indexes => false);
CREATE INDEX track_device_time ON track (device_id, time);
CREATE INDEX track_time ON track (time);

CREATE TABLE potholes (
    time      timestamptz NOT NULL,
    device_id text NOT NULL,
    boot_id   integer NOT NULL,
    seq       bigint NOT NULL,
    ticks     bigint NOT NULL,
    fix       boolean NOT NULL,
    lat       double precision,
    lon       double precision,
    speed     real,
    peak      real,
    xz_ratio  real,
    severity  smallint NOT NULL
);
SELECT create_hypertable('potholes', by_range('time', INTERVAL '30 days'), create_default_indexes => false);
CREATE INDEX potholes_device_time ON potholes (device_id, time);

CREATE TABLE air (
    time      timestamptz NOT NULL,
    device_id text NOT NULL,
    boot_id   integer NOT NULL,
    seq       bigint NOT NULL,
    ticks     bigint NOT NULL,
    frames    smallint NOT NULL,
    pm1       integer NOT NULL,  -- µg/m³
    pm25      integer NOT NULL,
    pm10      integer NOT NULL
);
SELECT create_hypertable('air', by_range('time', INTERVAL '7 days'), create_default_indexes => false);
CREATE INDEX air_device_time ON air (device_id, time);

CREATE TABLE co2 (
    time        timestamptz NOT NULL,
    device_id   text NOT NULL,
    boot_id     integer NOT NULL,
    seq         bigint NOT NULL,
    ticks       bigint NOT NULL,
    co2         integer NOT NULL,  -- ppm
    temperature real,              -- °C
    humidity    real               -- %RH
);
SELECT create_hypertable('co2', by_range('time', INTERVAL '7 days'), create_default_indexes => false);
CREATE INDEX co2_device_time ON co2 (device_id, time);

CREATE TABLE coverage (
    time      timestamptz NOT NULL,
    device_id text NOT NULL,
    boot_id   integer NOT NULL,
    seq       bigint NOT NULL,
    ticks     bigint NOT NULL,
    rat       smallint NOT NULL,
    plmn      bigint NOT NULL,
    rsrp      real,   -- dBm
    rsrq      real,   -- dB
    sinr      real    -- dB
);
SELECT create_hypertable('coverage', by_range('time', INTERVAL '7 days'), create_default_indexes => false);
CREATE INDEX coverage_device_time ON coverage (device_id, time);

CREATE TABLE device_health (
    time           timestamptz NOT NULL,
    device_id      text NOT NULL,
    boot_id        integer NOT NULL,
    seq            bigint NOT NULL,
    ticks          bigint NOT NULL,
    boot_count     integer NOT NULL,
    free_heap      bigint NOT NULL,
    flash_used_kb  integer NOT NULL,
    dropped_blocks bigint NOT NULL,
    counters       integer[] NOT NULL
);
SELECT create_hypertable('device_health', by_range('time', INTERVAL '30 days'), create_default_indexes => false);
CREATE INDEX device_health_device_time ON device_health (device_id, time);

-- The first GNSS time record seen for each boot: UTC for readings of that boot that arrive in a
-- later chunk than the boot's first fix (or before it).
CREATE TABLE boot_anchors (
    device_id text NOT NULL,
    boot_id   integer NOT NULL,
    ticks     bigint NOT NULL,
    utc       double precision NOT NULL,  -- Unix seconds
    PRIMARY KEY (device_id, boot_id)
);

-- Readings a filter refused and records the decoder could not read: kept, counted, explained.
CREATE TABLE quarantine (
    received_at timestamptz NOT NULL,
    device_id   text NOT NULL,
    kind        text NOT NULL,
    reason      text NOT NULL,
    seq         bigint NOT NULL,
    boot_id     integer,
    utc         double precision,
    reading     jsonb NOT NULL
);
SELECT create_hypertable('quarantine', by_range('received_at', INTERVAL '30 days'), create_default_indexes => false);
CREATE INDEX quarantine_device_time ON quarantine (device_id, received_at);

-- With the Timescale License build, compress old chunks (segment by device, ordered by time);
-- the Apache build has no compression and the tables stay as they are.
DO $$
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        ALTER TABLE track SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id',
                               timescaledb.compress_orderby = 'time');
        PERFORM add_compression_policy('track', INTERVAL '7 days');
    END IF;
END
$$;
