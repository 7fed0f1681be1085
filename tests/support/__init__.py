"""Test-support helpers: a real rotel collector and an in-test OTLP receiver."""
