-- The drivable road network as directed segments (ingest/roadnet): one row per direction of travel
-- of an OSM way piece between intersections. segment_id is stable across network reloads.
CREATE TABLE IF NOT EXISTS road_segments (
    segment_id   bigint PRIMARY KEY,
    way_id       bigint NOT NULL,
    from_node    bigint NOT NULL,
    to_node      bigint NOT NULL,
    reverse_id   bigint,
    name         text NOT NULL DEFAULT '',
    road_class   text NOT NULL,
    maxspeed_kmh real NOT NULL,
    length_m     real NOT NULL,
    geom         geometry(LineString, 4326) NOT NULL
);
CREATE INDEX IF NOT EXISTS road_segments_geom_idx ON road_segments USING GIST (geom);
CREATE INDEX IF NOT EXISTS road_segments_way_idx ON road_segments (way_id);
