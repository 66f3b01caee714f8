-- Per-van hourly rollup of the track (readings, fixes, roughness sums and counts, worst peak):
-- what fleet health and quick maps read instead of scanning raw seconds. Sums and counts rather
-- than means, so rollups add up across hours and vans.
-- With the Timescale License build it is a continuous aggregate refreshed by a policy; with the
-- Apache build (ours) it is a table the ingest service keeps up to date in the same transaction
-- as the rows it adds (ingest.chunks.rollup).
DO $$
BEGIN
    IF current_setting('timescaledb.license', true) = 'timescale' THEN
        EXECUTE $v$
            CREATE MATERIALIZED VIEW track_hourly WITH (timescaledb.continuous) AS
            SELECT device_id, time_bucket(INTERVAL '1 hour', time) AS hour,
                   count(*) AS readings, count(*) FILTER (WHERE fix) AS fixes,
                   sum(rms)::float8 AS rms_sum, count(rms) AS rms_n,
                   sum(norm)::float8 AS norm_sum, count(norm) AS norm_n, max(peak) AS peak_max
            FROM track GROUP BY device_id, time_bucket(INTERVAL '1 hour', time)
            WITH NO DATA
        $v$;
        PERFORM add_continuous_aggregate_policy('track_hourly', start_offset => INTERVAL '30 days',
            end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes');
    ELSE
        CREATE TABLE track_hourly (
            device_id text NOT NULL,
            hour      timestamptz NOT NULL,
            readings  bigint NOT NULL,
            fixes     bigint NOT NULL,
            rms_sum   double precision NOT NULL,
            rms_n     bigint NOT NULL,
            norm_sum  double precision NOT NULL,
            norm_n    bigint NOT NULL,
            peak_max  real,
            PRIMARY KEY (device_id, hour)
        );
    END IF;
END
$$;
