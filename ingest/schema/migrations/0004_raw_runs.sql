-- The raw archive keeps one row per stored run of blocks (a trimmed chunk) instead of one per
-- block: the same bytes, keyed by (device_id, first_seq..last_seq), an order of magnitude fewer
-- rows to write. `ingest.records.envelope.parse_blocks(blocks)` gives the blocks back.
DROP TABLE raw_blocks;
CREATE TABLE raw_runs (
    received_at timestamptz NOT NULL,
    device_id   text NOT NULL,
    first_seq   bigint NOT NULL,
    last_seq    bigint NOT NULL,
    blocks      bytea NOT NULL
);
SELECT create_hypertable('raw_runs', by_range('received_at', INTERVAL '7 days'), create_default_indexes => false);
CREATE INDEX raw_runs_device_seq ON raw_runs (device_id, first_seq);
