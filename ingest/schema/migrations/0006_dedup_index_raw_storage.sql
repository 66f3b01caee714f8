-- De-duplication looks up the ranges of a van that end at or after the first seq of what arrives:
-- with this index that is the short tail of the van's history, not all of it.
CREATE INDEX chunk_ranges_device_last ON chunk_ranges (device_id, last_seq);

-- Raw blocks are CRC-framed binary that compresses poorly: store them out of line without
-- spending CPU on pglz at every insert.
ALTER TABLE raw_runs ALTER COLUMN blocks SET STORAGE EXTERNAL;
