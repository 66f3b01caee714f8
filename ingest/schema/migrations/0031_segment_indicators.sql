-- Per-segment indicators (ingest/indicators). The Apache TimescaleDB build has no continuous
-- aggregates, so the job does its own rollups: passes first (one row per van traversal of a
-- segment, the unit every indicator is built from), then indicators per segment and period.

-- One traversal of a directed segment by one van: a time-contiguous run of matched points.
CREATE TABLE segment_passes (
    start_time    timestamptz NOT NULL,
    end_time      timestamptz NOT NULL,
    device_id     text NOT NULL,
    segment_id    bigint NOT NULL,
    n_points      integer NOT NULL,
    n_rough       integer NOT NULL,  -- seconds with a roughness value (moving)
    iri           real,              -- m/km, NULL without rough seconds
    pm25          real,              -- µg/m³, mean of the readings taken during the pass
    pm10          real,
    co2           real,              -- ppm
    temperature   real,              -- °C
    n_coverage    integer NOT NULL DEFAULT 0,
    rsrp          real,              -- dBm, median of the pass's readings
    rsrq          real,
    sinr          real,
    n_unusable    integer NOT NULL DEFAULT 0,  -- readings below the usable thresholds
    n_no_service  integer NOT NULL DEFAULT 0
);
SELECT create_hypertable('segment_passes', by_range('start_time', INTERVAL '30 days'), create_default_indexes => false);
CREATE INDEX segment_passes_segment_time ON segment_passes (segment_id, start_time);
CREATE INDEX segment_passes_device_time ON segment_passes (device_id, start_time);

-- Pothole events snapped onto segments, and their clusters (confirmed with >= 2 passes).
CREATE TABLE pothole_events (
    time       timestamptz NOT NULL,
    device_id  text NOT NULL,
    segment_id bigint NOT NULL,
    "offset"   real NOT NULL,
    severity   smallint NOT NULL,
    lat        double precision,
    lon        double precision,
    pass_start timestamptz NOT NULL   -- the pass that saw it (with device_id: its identity)
);
SELECT create_hypertable('pothole_events', by_range('time', INTERVAL '30 days'), create_default_indexes => false);
CREATE INDEX pothole_events_segment_time ON pothole_events (segment_id, time);
CREATE INDEX pothole_events_device_time ON pothole_events (device_id, time);

CREATE TABLE segment_indicators (
    segment_id      bigint NOT NULL,
    period          text NOT NULL CHECK (period IN ('day', 'week', 'month')),
    period_start    date NOT NULL,
    passes          integer NOT NULL,
    days            integer NOT NULL,          -- distinct days with a pass
    last_measured   timestamptz NOT NULL,
    iri             real,                      -- m/km
    iri_confidence  real,                      -- [0, 1]
    potholes        integer NOT NULL DEFAULT 0,  -- confirmed clusters
    pothole_events  integer NOT NULL DEFAULT 0,
    air_days        integer NOT NULL DEFAULT 0,  -- distinct days with an air reading
    pm25            real,                      -- NULL until air_days >= 4
    pm10            real,
    co2             real,
    temperature     real,
    rsrp            real,
    rsrq            real,
    sinr            real,
    unusable_share  real,
    dead_spots      integer NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (segment_id, period, period_start)
);
CREATE INDEX segment_indicators_period ON segment_indicators (period, period_start);

CREATE TABLE pothole_clusters (
    segment_id   bigint NOT NULL,
    period       text NOT NULL,
    period_start date NOT NULL,
    "offset"     real NOT NULL,
    lat          double precision,
    lon          double precision,
    events       integer NOT NULL,
    passes       integer NOT NULL,
    severity     smallint NOT NULL,
    confirmed    boolean NOT NULL,
    last_seen    timestamptz NOT NULL
);
CREATE INDEX pothole_clusters_segment ON pothole_clusters (segment_id, period, period_start);

-- How far each device's passes have been cut: the job resumes from that day.
CREATE TABLE indicator_state (
    device_id    text PRIMARY KEY,
    passes_until timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
