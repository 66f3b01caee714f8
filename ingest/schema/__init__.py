"""The ingest database schema: ordered plain SQL migrations in ``migrations/``, applied at start-up."""
