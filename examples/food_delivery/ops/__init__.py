"""The food-delivery service's operations files, generated from ``ops.yaml``."""
