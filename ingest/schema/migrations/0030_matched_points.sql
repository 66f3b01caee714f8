-- Map-matched track: one row per TRACK second of a device, snapped onto road_segments by the
-- matching job (ingest/indicators/matching_job.py). Carries the roughness features of the second,
-- so the indicators read one time-sorted table. Unmatched seconds are kept (matched = false,
-- segment_id NULL) so replay shows gaps honestly.
CREATE TABLE matched_points (
    time       timestamptz NOT NULL,
    device_id  text NOT NULL,
    segment_id bigint,
    "offset"   real,               -- metres from the segment's start
    matched    boolean NOT NULL,
    confidence real NOT NULL,      -- [0, 1], 0 when unmatched
    lat        double precision,   -- the matched point (the raw fix when unmatched)
    lon        double precision,
    speed      real,               -- m/s
    norm       real,               -- speed-normalised roughness of the second (IRI proxy)
    peak       real                -- g
);
SELECT create_hypertable('matched_points', by_range('time', INTERVAL '1 day'), create_default_indexes => false);
CREATE INDEX matched_points_device_time ON matched_points (device_id, time);
CREATE INDEX matched_points_segment_time ON matched_points (segment_id, time);

-- How far each device's track has been matched: the job resumes after matched_until.
CREATE TABLE matching_state (
    device_id     text PRIMARY KEY,
    matched_until timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
