"""CSV import of doctors, hospitals and shifts (`julia import`, POST /api/v1/import/{kind})."""
