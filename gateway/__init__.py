"""facteur's depot gateway: receives van uploads, spools them durably, forwards them to ingest."""
