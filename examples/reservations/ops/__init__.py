"""The reservations service's operations files, generated from ``ops.yaml``."""
