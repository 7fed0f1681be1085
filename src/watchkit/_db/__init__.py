"""Database client telemetry: the query analyser, the one record path, the DB-API wrapper."""
