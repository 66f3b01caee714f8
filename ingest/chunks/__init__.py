"""Chunks on the ingest side: batch framing, range de-duplication and storage."""
