"""Pattern lifecycle and governance: versions, curation, approval, audit, export/import."""
