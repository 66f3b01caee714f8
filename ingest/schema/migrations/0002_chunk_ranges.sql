-- Which (device, seq range) arrived, written in the same transaction as the data of the range.
-- Ranges of one device never overlap: the service trims a chunk to the seqs not yet recorded before
-- storing it (under a per-device advisory lock), so replays are no-ops without a per-row unique index.
CREATE TABLE chunk_ranges (
    device_id   text NOT NULL,
    first_seq   bigint NOT NULL,
    last_seq    bigint NOT NULL,
    gateway_id  text,
    received_at timestamptz NOT NULL DEFAULT now(),
    CHECK (first_seq <= last_seq)
);
CREATE INDEX chunk_ranges_device_first ON chunk_ranges (device_id, first_seq);

-- Every verified block as it arrived, for reprocessing when the decoder improves (replaced by
-- raw_runs in 0004).
-- A hypertable on arrival time, so retention drops whole chunks.
CREATE TABLE raw_blocks (
    received_at timestamptz NOT NULL,
    device_id   text NOT NULL,
    seq         bigint NOT NULL,
    boot_id     integer NOT NULL,
    flags       smallint NOT NULL,
    raw         bytea NOT NULL
);
SELECT create_hypertable('raw_blocks', by_range('received_at', INTERVAL '7 days'), create_default_indexes => false);
CREATE INDEX raw_blocks_device_seq ON raw_blocks (device_id, seq);
