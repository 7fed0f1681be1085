"""The bookings service's operations files, generated from ``ops.yaml``."""
