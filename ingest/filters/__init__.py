"""Sanity filters for decoded readings: small pure functions, each returning a mask of rejects.

Rows a filter rejects are quarantined with the filter's name as the reason (see
:func:`ingest.filters.pipeline.apply_filters`), never dropped.
"""
