"""facteur's central service: chunk ingest into TimescaleDB, road network, map matching, indicators."""
